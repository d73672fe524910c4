import { resolve } from "node:path";
import type { Command } from "commander";
import { gooseCommand } from "../../command-line.js";
import type { RollbackStepView } from "../../workflows/rollback/index.js";
import { EXIT_FAILED, EXIT_USAGE, UsageError } from "../errors.js";
import { Output, type CliIo } from "../io.js";
import type { SetExitCode } from "../io.js";
import {
  blackoutSourceOption,
  blackoutSources as blackoutSourcesOf,
  jsonOption,
  openStoreFor,
  stageArg,
  storeOption,
} from "../options.js";

interface RollbackFlags {
  to: string;
  offline?: boolean;
  acceptViolations?: boolean;
  reason?: string;
  force?: boolean;
  stack?: string;
  kmsKey?: string;
  policyPack?: string;
  policyPackConfig?: string;
  prometheusUrl?: string;
  grafanaUrl?: string;
  pushgateway?: string;
  metricsDir?: string;
  blackoutSource?: string[];
  staged?: boolean;
  resume?: boolean;
  store?: string;
  json?: boolean;
}

/** `goose rollback <stage> --to <snapshot-id>`. */
export function registerRollback(program: Command, io: CliIo, setExitCode: SetExitCode): void {
  program
    .command("rollback <stage>")
    .description(
      "roll a stage back to a verified snapshot: checks, recovery snapshot, import, refresh, update, health",
    )
    .requiredOption(
      "--to <snapshot-id>",
      "the snapshot to go back to (goose snapshot list <stage>)",
    )
    .option(
      "--offline",
      "use the offline engine (local state file, mocks) instead of the Pulumi CLI",
    )
    .option("--accept-violations", "proceed despite mandatory policy violations (needs --reason)")
    .option("--reason <text>", "why the violations are accepted (recorded as evidence)")
    .option("--force", "import despite integrity issues, as `pulumi stack import --force`")
    .option(
      "--staged",
      "converge component by component (foundation, backup, prometheus, grafana, scanner), each a targeted update checked by policy and health (docs/recovery.md)",
    )
    .option(
      "--resume",
      "continue an interrupted staged rollback from its first incomplete stage (implies --staged)",
    )
    .option("--stack <name>", "the Pulumi stack name (default: the stage)")
    .option("--kms-key <id>", "wrap the recovery snapshot's data key with this AWS KMS key")
    .option("--policy-pack <dir>", "the policy pack (default policy-pack/)")
    .option("--policy-pack-config <file>", "its config (default policy-pack/config/<stage>.json)")
    .option(
      "--prometheus-url <url>",
      "Prometheus base URL for the health check (env GOOSE_PROMETHEUS_URL)",
    )
    .option(
      "--grafana-url <url>",
      "Grafana base URL for health and annotation (env GOOSE_GRAFANA_URL)",
    )
    .option(
      "--pushgateway <url>",
      "the stage's Pushgateway (env GOOSE_PUSHGATEWAY_URL); the default --blackout-source",
    )
    .option(
      "--metrics-dir <dir>",
      "textfile directory for the transition metrics without --pushgateway (default .goose/metrics)",
    )
    .addOption(blackoutSourceOption("the stage's"))
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(async (stageName: string, o: RollbackFlags) => {
      const out = new Output(io, Boolean(o.json));
      const stage = stageArg(stageName);
      // Loaded here, not at the top, so `goose rollback --help` loads none of them.
      const [
        { keySourceFor, snapshotKeyringFor, stageOfId },
        { openEvidenceChain },
        { defaultHolder, openLocks },
        { rollback, RollbackFailedError },
        { hintContext },
      ] = await Promise.all([
        import("../../snapshots/index.js"),
        import("../../evidence/index.js"),
        import("../../locks/index.js"),
        import("../../workflows/rollback/index.js"),
        import("../../gates/hints.js"),
      ]);
      stageOfId(o.to);
      if (o.acceptViolations && !o.reason) {
        throw new UsageError(
          "--accept-violations needs --reason TEXT: the reason is recorded as evidence",
        );
      }
      if (o.reason && !o.acceptViolations) {
        throw new UsageError("--reason goes with --accept-violations");
      }
      const keys = keySourceFor(io.cwd, stage, io.env, o.kmsKey);
      // Trusted for reading the target: the configured keys, and --kms-key when given.
      const trust = snapshotKeyringFor(io.cwd, stage, io.env, o.kmsKey ? [o.kmsKey] : []);
      const store = openStoreFor(io, o.store);
      const evidence = openEvidenceChain(store, io.env);
      const { createEngine, analyzeExport } = await import("../../engine/index.js");
      const { formatPlanHuman } = await import("../../plan/index.js");
      const engine = createEngine(o.offline ? "offline" : "real", { cwd: io.cwd, env: io.env });
      const prometheusUrl = o.prometheusUrl ?? io.env.GOOSE_PROMETHEUS_URL;
      const grafanaUrl = o.grafanaUrl ?? io.env.GOOSE_GRAFANA_URL;
      const pushgatewayUrl = o.pushgateway ?? io.env.GOOSE_PUSHGATEWAY_URL;
      const blackoutSources = blackoutSourcesOf(io, o.blackoutSource, pushgatewayUrl);
      const onStep = (s: RollbackStepView) =>
        out.info(`[${s.status.padEnd(7)}] ${s.step}: ${s.detail.split("\n")[0]}`);
      try {
        const result = await rollback({
          stage,
          to: o.to,
          store,
          engine,
          env: io.env,
          keys,
          trust,
          locks: openLocks(store, { evidence }),
          evidence,
          analyze: analyzeExport,
          repoRoot: io.cwd,
          holder: defaultHolder(io.env),
          ...(o.stack ? { stack: o.stack } : {}),
          ...(o.force ? { force: true } : {}),
          ...(o.staged || o.resume ? { staged: true } : {}),
          ...(o.resume ? { resume: true } : {}),
          onStage: (r) =>
            out.info(
              `  stage ${r.name}: ${r.status === "done" ? `done ${JSON.stringify(r.resourceChanges ?? {})}, policy ${r.policy?.mandatory ?? 0} mandatory, health: ${r.health ?? "—"}` : `FAILED: ${r.detail ?? ""}`}`,
            ),
          ...(o.acceptViolations && o.reason ? { acceptViolations: { reason: o.reason } } : {}),
          ...(o.policyPack ? { policyPackDir: o.policyPack } : {}),
          ...(o.policyPackConfig ? { policyPackConfigFile: o.policyPackConfig } : {}),
          health: {
            ...(prometheusUrl ? { prometheusUrl } : {}),
            ...(grafanaUrl ? { grafanaUrl } : {}),
          },
          grafana: {
            ...(grafanaUrl ? { url: grafanaUrl } : {}),
            ...(io.env.GOOSE_GRAFANA_TOKEN ? { token: io.env.GOOSE_GRAFANA_TOKEN } : {}),
          },
          blackoutSources,
          metrics: {
            ...(pushgatewayUrl ? { pushgatewayUrl } : {}),
            ...(o.metricsDir ? { textfileDir: resolve(io.cwd, o.metricsDir) } : {}),
          },
          onStep,
          onPlan: (p) => {
            out.info(`plan of the rollback of ${stage} to ${o.to}:`);
            for (const l of formatPlanHuman(p)) out.info(l);
          },
        });
        out.line(
          `rolled ${stage} back to ${o.to}${o.offline ? " (simulated: offline engine)" : ""}; recovery snapshot ${result.recoverySnapshotId} (undo: \`${gooseCommand(["rollback", stage, "--to", result.recoverySnapshotId ?? "", ...(o.offline ? ["--offline"] : []), ...hintContext({ offline: Boolean(o.offline), store, env: io.env, cwd: io.cwd }).storeArgs])}\`)`,
        );
        out.result(result);
        setExitCode(0);
      } catch (err) {
        if (err instanceof RollbackFailedError) {
          out.info(err.message);
          out.result(err.result);
          setExitCode(err.causedByInput ? EXIT_USAGE : EXIT_FAILED);
          return;
        }
        throw err;
      }
    });
}

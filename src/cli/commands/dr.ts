import { resolve } from "node:path";
import type { Command } from "commander";
import type { StageConfig } from "../../config/schema.js";
import { InputError } from "../../errors.js";
import { Output, type CliIo } from "../io.js";
import type { SetExitCode } from "../io.js";
import type { ArchiveSource } from "../../workflows/dr/archives.js";
import { jsonOption, openStoreFor, stageArg, storeOption } from "../options.js";

interface DrillFlags {
  archive?: string[];
  fromBackup?: boolean;
  bucket?: string;
  kmsKey?: string;
  backupDir?: string;
  configFile?: string;
  reportDir?: string;
  pushgateway?: string;
  metricsDir?: string;
  keepWorkDir?: boolean;
  store?: string;
  json?: boolean;
}

// The config loader (zod, yaml) and the evidence chain load inside the actions, so `goose dr
// --help` loads neither (tests/cli/lazy-commands.test.ts). config/load.js, not config/index.js:
// the index also re-exports the Pulumi-runtime readers, which load @pulumi/pulumi.
async function loadConfig(io: CliIo, stage: string, file?: string): Promise<StageConfig> {
  const { loadStageConfigFile, stackFileName } = await import("../../config/load.js");
  const cfg = loadStageConfigFile(resolve(io.cwd, file ?? stackFileName(stage as never)));
  if (cfg.stage !== stage) {
    throw new InputError(`${file}: declares stage "${cfg.stage}", not "${stage}"`, {
      fix: `pass --config-file Pulumi.${stage}.yaml`,
    });
  }
  return cfg;
}

/** Where the archives come from: --archive files, or the stage's backup target. */
export function archiveSourceOf(cfg: StageConfig, o: DrillFlags, io: CliIo): ArchiveSource {
  if (o.archive?.length && o.fromBackup) {
    throw new InputError("--archive and --from-backup exclude each other", {
      fix: "pass one of them",
    });
  }
  if (o.archive?.length) {
    return { kind: "sets", dirs: o.archive.map((f) => resolve(io.cwd, f)) };
  }
  if (o.backupDir) return { kind: "volume", dir: resolve(io.cwd, o.backupDir) };
  if (cfg.backup.target === "volume") {
    throw new InputError(
      `stage ${cfg.stage} backs up to its in-cluster volume (golden-goose:backup.target volume)`,
      {
        fix: "pass --backup-dir DIR where that volume is mounted (it holds prometheus/ and grafana/), or --archive <set folder>",
      },
    );
  }
  const bucket = o.bucket ?? io.env.GOOSE_BACKUP_BUCKET;
  if (!bucket) {
    throw new InputError(`stage ${cfg.stage} backs up to S3 but no bucket was named`, {
      fix: `pass --bucket "$(pulumi stack output backupBucket --stack ${cfg.stage})" (or set GOOSE_BACKUP_BUCKET)`,
    });
  }
  const kmsKeyId = o.kmsKey ?? io.env.GOOSE_BACKUP_KMS_KEY;
  return { kind: "s3", bucket, ...(kmsKeyId ? { kmsKeyId } : {}) };
}

/** `goose dr drill <stage>` and `goose dr failover <stage>`. */
export function registerDr(program: Command, io: CliIo, setExitCode: SetExitCode): void {
  const dr = program
    .command("dr")
    .description("disaster-recovery drills: restore the data backups, fail over replicas");

  dr.command("drill <stage>")
    .description(
      "restore the stage's newest backup into a real Prometheus on loopback and check it and Grafana's database against the stage's RPO/RTO objectives",
    )
    .option(
      "--archive <set>",
      "a backup set folder (<root>/<component>/<YYYYMMDDTHHMMSSZ>/, or its manifest.json); give the prometheus and the grafana set",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option("--from-backup", "the newest complete sets of the stage's backup target (the default)")
    .option(
      "--bucket <name>",
      "the stage's backup bucket (S3 target; env GOOSE_BACKUP_BUCKET; pulumi stack output backupBucket)",
    )
    .option(
      "--kms-key <arn>",
      "the KMS key the archives must be encrypted with (env GOOSE_BACKUP_KMS_KEY; pulumi stack output backupKmsKeyArn)",
    )
    .option("--backup-dir <dir>", "where the backup volume is mounted (volume target)")
    .option("--config-file <file>", "the stage's stack file (default Pulumi.<stage>.yaml)")
    .option("--report-dir <dir>", "where the reports go (default load-test/reports/dr)")
    .option(
      "--pushgateway <url>",
      "push the goldengoose_dr_* metrics here (env GOOSE_PUSHGATEWAY_URL); else a textfile",
    )
    .option("--metrics-dir <dir>", "textfile directory for the metrics (default .goose/metrics)")
    .option("--keep-work-dir", "keep the restored data and server logs (their folder is printed)")
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(async (stageName: string, o: DrillFlags) => {
      const out = new Output(io, Boolean(o.json));
      const stage = stageArg(stageName);
      const config = await loadConfig(io, stage, o.configFile);
      const source = archiveSourceOf(config, o, io);
      const store = openStoreFor(io, o.store);
      const pushgatewayUrl = o.pushgateway ?? io.env.GOOSE_PUSHGATEWAY_URL;
      const { runRestoreDrill } = await import("../../workflows/dr/drill.js");
      const { openEvidenceChain } = await import("../../evidence/index.js");
      const report = await runRestoreDrill({
        stage,
        config,
        repoRoot: io.cwd,
        env: io.env,
        source,
        store,
        evidence: openEvidenceChain(store, io.env),
        ...(o.reportDir ? { reportDir: resolve(io.cwd, o.reportDir) } : {}),
        metrics: {
          ...(pushgatewayUrl ? { pushgatewayUrl } : {}),
          textfileDir: resolve(io.cwd, o.metricsDir ?? ".goose/metrics"),
        },
        ...(o.keepWorkDir ? { keepWorkDir: true } : {}),
        onCheck: (c) => out.info(`[${c.ok ? "ok" : "FAILED"}] ${c.name}: ${c.detail}`),
      });
      out.line(
        `restore drill of ${stage}: ${report.result === "pass" ? "PASS" : "FAIL"}; RPO ${report.rpoSeconds ?? "—"} s (objective ${report.objectives.rpoSeconds} s), RTO ${report.rtoSeconds ?? "—"} s (objective ${report.objectives.rtoSeconds} s)`,
      );
      if (report.failures.length > 0) {
        out.line(`failed: ${report.failures.join("\n        ")}`);
      }
      out.line(`report: ${report.reports?.markdown}`);
      if (report.metricsError) out.info(`metrics: ${report.metricsError}`);
      out.result(report);
      setExitCode(report.result === "pass" ? 0 : 1);
    });

  dr.command("failover <stage>")
    .description(
      "start the stage's Prometheus and Alertmanager replicas on loopback (real binaries, its rendered configuration), kill one of each and check every alert is notified exactly once",
    )
    .option("--config-file <file>", "the stage's stack file (default Pulumi.<stage>.yaml)")
    .option(
      "--peer-timeout <duration>",
      "Alertmanager's --cluster.peer-timeout in the drill (default: the stage's, 15s)",
    )
    .option("--group-wait <duration>", "group_wait of every route in the drill (default 1s)")
    .option("--timeout <seconds>", "bound of each wait for an outcome (default 120)")
    .option("--report-dir <dir>", "where the reports go (default load-test/reports/dr)")
    .option(
      "--pushgateway <url>",
      "push the goldengoose_dr_* metrics here (env GOOSE_PUSHGATEWAY_URL); else a textfile",
    )
    .option("--metrics-dir <dir>", "textfile directory for the metrics (default .goose/metrics)")
    .option("--keep-work-dir", "keep the configuration and server logs (their folder is printed)")
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(async (stageName: string, o: FailoverFlags) => {
      const out = new Output(io, Boolean(o.json));
      const stage = stageArg(stageName);
      const config = await loadConfig(io, stage, o.configFile);
      const duration = (flag: string, v: string | undefined) => {
        if (v !== undefined && !/^\d+(ms|s|m)$/.test(v)) {
          throw new InputError(`${flag} ${v}: not a duration`, {
            fix: `pass a duration like 5s or 500ms, e.g. ${flag} 5s`,
          });
        }
        return v;
      };
      const peerTimeout = duration("--peer-timeout", o.peerTimeout);
      const groupWait = duration("--group-wait", o.groupWait);
      const timeout = o.timeout === undefined ? undefined : Number(o.timeout);
      if (timeout !== undefined && !(Number.isFinite(timeout) && timeout > 0)) {
        throw new InputError(`--timeout ${o.timeout}: not a number of seconds`, {
          fix: "pass a positive number of seconds, e.g. --timeout 120",
        });
      }
      const store = openStoreFor(io, o.store);
      const pushgatewayUrl = o.pushgateway ?? io.env.GOOSE_PUSHGATEWAY_URL;
      const { runFailoverDrill } = await import("../../workflows/dr/failover.js");
      const { openEvidenceChain } = await import("../../evidence/index.js");
      const report = await runFailoverDrill({
        stage,
        config,
        repoRoot: io.cwd,
        env: io.env,
        store,
        evidence: openEvidenceChain(store, io.env),
        ...(o.reportDir ? { reportDir: resolve(io.cwd, o.reportDir) } : {}),
        metrics: {
          ...(pushgatewayUrl ? { pushgatewayUrl } : {}),
          textfileDir: resolve(io.cwd, o.metricsDir ?? ".goose/metrics"),
        },
        ...(peerTimeout ? { peerTimeout } : {}),
        ...(groupWait ? { groupWait } : {}),
        ...(timeout ? { timeoutMs: timeout * 1000 } : {}),
        ...(o.keepWorkDir ? { keepWorkDir: true } : {}),
        onCheck: (c) => out.info(`[${c.ok ? "ok" : "FAILED"}] ${c.name}: ${c.detail}`),
      });
      out.line(
        `failover drill of ${stage}: ${report.result === "pass" ? "PASS" : "FAIL"}; ${report.replicas.prometheus} Prometheus + ${report.replicas.alertmanager} Alertmanager replicas, one of each killed; delivery ${report.deliverySeconds ?? "—"} s before, ${report.failoverSeconds ?? "—"} s after the kill (objective ${report.objectives.rtoSeconds} s)`,
      );
      if (report.failures.length > 0) {
        out.line(`failed: ${report.failures.join("\n        ")}`);
      }
      out.line(`report: ${report.reports?.markdown}`);
      if (report.metricsError) out.info(`metrics: ${report.metricsError}`);
      if (report.workDir) out.info(`configuration and server logs kept in ${report.workDir}`);
      out.result(report);
      setExitCode(report.result === "pass" ? 0 : 1);
    });
}

interface FailoverFlags {
  configFile?: string;
  peerTimeout?: string;
  groupWait?: string;
  timeout?: string;
  reportDir?: string;
  pushgateway?: string;
  metricsDir?: string;
  keepWorkDir?: boolean;
  store?: string;
  json?: boolean;
}

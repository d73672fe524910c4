import path from "node:path";
import type { Command } from "commander";
import { gooseCommand } from "../../command-line.js";
import { invocation } from "../invocation.js";
import { defaultHolder, openLocks } from "../../locks/index.js";
import type {
  PromotionEvent,
  PromotionReport,
  PromotionStep,
  StepStatus,
} from "../../workflows/promote/index.js";
import { UsageError } from "../errors.js";
import { Output, type CliIo } from "../io.js";
import { paintVerdict, PLAIN, type Painter, type StyleName } from "../style.js";

const STATUS_STYLE: Partial<Record<StepStatus, StyleName>> = {
  running: "cyan",
  passed: "green",
  warned: "yellow",
  failed: "red",
};
import type { SetExitCode } from "../io.js";
import {
  blackoutSourceOption,
  blackoutSources as blackoutSourcesOf,
  openStoreFor,
  stageArg,
  storeOption,
} from "../options.js";

interface PromoteFlags {
  offline?: boolean;
  target?: string;
  healthUrl?: string;
  store?: string;
  json?: boolean;
  reportDir?: string;
  loadtestConfig?: string;
  baseline?: string;
  scenario?: string;
  backupMetrics?: string;
  scanResults?: string;
  pushgateway?: string;
  blackoutSource?: string[];
  metricsDir?: string;
  runRuleTests?: boolean;
  holder?: string;
  leaseTtl?: string;
  allowDataLoss?: boolean;
  reason?: string;
}

const MARK: Record<StepStatus, string> = {
  pending: " ",
  running: "…",
  passed: "✔",
  warned: "!",
  failed: "✖",
  skipped: "-",
};

/** A live task list on a terminal: the step list redrawn in place on stderr. */
function liveRenderer(io: CliIo, steps: readonly PromotionStep[]) {
  const paint = io.paint?.stderr ?? PLAIN;
  const status = new Map<string, StepStatus>(steps.map((s) => [s, "pending"]));
  const detail = new Map<string, string>();
  let drawn = 0;
  const draw = () => {
    if (drawn) io.stderr.write(`\x1b[${drawn}A\x1b[J`);
    const lines = steps.map((s) => {
      const st = status.get(s) ?? "pending";
      return ` ${paint(STATUS_STYLE[st] ?? "dim", MARK[st])} ${s.padEnd(13)}${detail.get(s) ?? ""}`;
    });
    io.stderr.write(lines.join("\n") + "\n");
    drawn = lines.length;
  };
  return (e: PromotionEvent) => {
    if (e.type === "step" && e.status) status.set(e.step, e.status);
    if (e.type === "gate" && e.gate) {
      const prev = detail.get(e.step) ?? "";
      detail.set(e.step, `${prev} ${e.gate.gate}:${e.gate.verdict}`.trimStart().slice(0, 100));
    }
    draw();
  };
}

function plainRenderer(out: Output) {
  const p = out.paintInfo;
  return (e: PromotionEvent) => {
    if (e.type === "step" && e.status === "running")
      out.info(`[${e.step}] ${paintVerdict(p, "started")}`);
    else if (e.type === "step") out.info(`[${e.step}] ${paintVerdict(p, e.status ?? "")}`);
    else if (e.type === "gate") {
      // "<gate>: <verdict> — <summary>": the verdict in its colour.
      out.info(
        `[${e.step}] gate ${e.message.replace(/^(\S+: )(\w+)/, (_, g: string, v: string) => g + paintVerdict(p, v))}`,
      );
    }
  };
}

function summary(r: PromotionReport, offline: boolean, p: Painter = PLAIN): string[] {
  const lines = [
    r.result === "promoted"
      ? `${p("green", "promoted")} ${r.from} → ${r.to} in ${(r.durationMs / 1000).toFixed(1)} s (${r.id})${offline ? "; the deployment was SIMULATED (offline engine: .goose/offline-state, no cluster or account touched)" : ""}`
      : `promotion ${r.from} → ${r.to} ${paintVerdict(p, r.result)} (${r.id})`,
  ];
  if (r.failure) {
    lines.push(
      `  step ${r.failure.step}${r.failure.gate ? `, gate ${r.failure.gate}` : ""}: ${r.failure.reason}`,
      `  ${p("bold", "fix:")} ${r.failure.fix}`,
      `  ${p("bold", "resume:")} ${r.failure.resume}`,
    );
  }
  if (r.files) lines.push(`  report: ${r.files.json}`, `  summary: ${r.files.markdown}`);
  return lines;
}

/** `goose promote <from> <to>`. */
export function registerPromote(program: Command, io: CliIo, setExitCode: SetExitCode): void {
  program
    .command("promote <from> <to>")
    .description(
      "move a release one stage forward through gates (exit 1 when a gate fails or a lease blocks)",
    )
    .option("--offline", "use the offline engine (no cloud, no Pulumi CLI)")
    .option("--target <url>", "the source stage's service under test (smoke / load test)")
    .option("--health-url <url>", "the target stage's health URL, checked after up")
    .addOption(storeOption())
    .option(
      "--report-dir <dir>",
      "where the JSON and Markdown reports go (default .goose/reports/promotions)",
    )
    .option(
      "--loadtest-config <file>",
      "stress-test config (default load-test/config/stress-test.yaml)",
    )
    .option("--baseline <file>", "load-test baseline (default load-test/baseline/<from>.json)")
    .option(
      "--scenario <name>",
      "load-test scenario (default smoke from sandbox, baseline otherwise)",
    )
    .option(
      "--scan-results <url>",
      "where the source stage's in-cluster scanner results are: file://<copy of its reports volume> or s3://<bucket>/<prefix> (default: GOOSE_SCAN_RESULTS, else the store)",
    )
    .option(
      "--backup-metrics <url>",
      "Pushgateway /metrics with the backup metrics (default: newest snapshot)",
    )
    .option(
      "--pushgateway <url>",
      "push transition metrics here (env GOOSE_PUSHGATEWAY_URL); else a textfile",
    )
    .addOption(blackoutSourceOption("the stages'"))
    .option(
      "--metrics-dir <dir>",
      "textfile directory for transition metrics (default .goose/metrics)",
    )
    .option("--run-rule-tests", "also run the promtool unit tests of the alert rules")
    .option("--holder <name>", "who promotes (default user@host)")
    .option("--lease-ttl <seconds>", "TTL of the promotion leases (default 900, renewed)")
    .option(
      "--allow-data-loss",
      "deploy a plan that deletes or replaces data-bearing resources into compliance or production (needs --reason)",
    )
    .option("--reason <text>", "why data may be lost (recorded in the gate.plan evidence)")
    .option("--json", "print the promotion report as JSON on stdout")
    .action(async (fromText: string, toText: string, o: PromoteFlags, cmd: Command) => {
      const out = new Output(io, Boolean(o.json));
      const from = stageArg(fromText);
      const to = stageArg(toText);
      if (o.allowDataLoss && !o.reason?.trim()) {
        throw new UsageError(
          "--allow-data-loss needs --reason TEXT: the reason is recorded in the evidence",
        );
      }
      if (o.reason !== undefined && !o.allowDataLoss) {
        throw new UsageError("--reason goes with --allow-data-loss");
      }
      const ttl = o.leaseTtl === undefined ? undefined : Number(o.leaseTtl);
      if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 30)) {
        throw new UsageError(`--lease-ttl ${o.leaseTtl}: whole seconds, at least 30`);
      }
      const store = openStoreFor(io, o.store);
      // The engine, the workflow (gates, SBOM, Pulumi SDK) and the evidence chain load only when
      // a promotion runs.
      const [
        { createEngine },
        { promote, PROMOTION_STEPS },
        { formatPlanHuman },
        { openEvidenceChain },
      ] = await Promise.all([
        import("../../engine/index.js"),
        import("../../workflows/promote/index.js"),
        import("../../plan/index.js"),
        import("../../evidence/index.js"),
      ]);
      const evidence = openEvidenceChain(store, io.env);
      const engine = createEngine(o.offline ? "offline" : "real", { cwd: io.cwd, env: io.env });
      const pushgatewayUrl = o.pushgateway ?? io.env.GOOSE_PUSHGATEWAY_URL;
      const blackoutSources = blackoutSourcesOf(io, o.blackoutSource, pushgatewayUrl);
      const resolve = (f: string | undefined) => (f ? path.resolve(io.cwd, f) : undefined);
      const report = await promote({
        from,
        to,
        repoRoot: io.cwd,
        env: io.env,
        store,
        engine,
        evidence,
        locks: openLocks(store, { evidence }),
        holder: o.holder ?? defaultHolder(io.env),
        rerunCommand: gooseCommand(invocation(cmd)),
        target: o.target ?? "",
        ...(o.healthUrl ? { healthUrl: o.healthUrl } : {}),
        loadTest: {
          ...(o.loadtestConfig ? { configPath: resolve(o.loadtestConfig) } : {}),
          ...(o.baseline ? { baselinePath: resolve(o.baseline) } : {}),
          ...(o.scenario ? { scenario: o.scenario } : {}),
        },
        ...(o.backupMetrics ? { backupMetricsUrl: o.backupMetrics } : {}),
        ...((o.scanResults ?? io.env.GOOSE_SCAN_RESULTS)
          ? { scanResults: openStoreFor(io, o.scanResults ?? io.env.GOOSE_SCAN_RESULTS) }
          : {}),
        ...(o.runRuleTests ? { runRuleTests: true } : {}),
        ...(o.reportDir ? { reportDir: resolve(o.reportDir) } : {}),
        blackoutSources,
        metrics: {
          ...(pushgatewayUrl ? { pushgatewayUrl } : {}),
          ...(o.metricsDir ? { textfileDir: resolve(o.metricsDir) } : {}),
        },
        ...(ttl !== undefined ? { leaseTtlSeconds: ttl } : {}),
        ...(o.allowDataLoss && o.reason ? { allowDataLoss: { reason: o.reason } } : {}),
        onPlan: (p) => {
          for (const l of formatPlanHuman(p)) out.info(l);
        },
        onEvent: io.isTty && !o.json ? liveRenderer(io, PROMOTION_STEPS) : plainRenderer(out),
      });
      const paint = report.result === "promoted" ? out.paint : out.paintInfo;
      for (const l of summary(report, Boolean(o.offline), paint)) {
        if (report.result === "promoted") out.line(l);
        else out.info(l);
      }
      out.result(report);
      setExitCode(report.result === "promoted" ? 0 : 1);
    });
}

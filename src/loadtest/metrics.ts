/**
 * Prometheus text-format metrics of a load-test run, for the load-test dashboard (textfile
 * collector or Pushgateway). Names are listed here once; monitoring/ reads them from here.
 * Every series carries `stage` and `scenario`.
 */
import { METRIC_PREFIX } from "../config/metrics.js";
import type { StageName } from "../config/stages.js";
import type { Verdict } from "./compare.js";
import type { RunResult } from "./runner.js";
import { labelText } from "../monitoring/publish.js";

const P = `${METRIC_PREFIX}_loadtest`;

export const LOADTEST_METRICS = {
  /** A summary: quantile = 0.5 … 0.999, plus _sum and _count (mean = _sum / _count), seconds. */
  latency: `${P}_latency_seconds`,
  latencyMax: `${P}_latency_max_seconds`,
  requestsPerSecond: `${P}_requests_per_second`,
  throughput: `${P}_throughput_bytes_per_second`,
  /** Per-run counts are gauges (a new run replaces them), hence no _total suffix. */
  responses: `${P}_responses`,
  errors: `${P}_errors`,
  timeouts: `${P}_timeouts`,
  non2xx: `${P}_non2xx_responses`,
  errorRatio: `${P}_error_ratio`,
  connections: `${P}_connections`,
  duration: `${P}_duration_seconds`,
  score: `${P}_score`,
  /** 1 for the run's verdict (label verdict = pass|warn|fail), 0 for the others. */
  verdict: `${P}_verdict`,
  /** 1 pass, 0.5 warn, 0 fail, per criterion (label criterion). */
  criterionPassed: `${P}_criterion_passed`,
  lastRun: `${P}_last_run_timestamp_seconds`,
} as const;

const QUANTILE_LABELS: Array<[string, "p50" | "p75" | "p90" | "p95" | "p97_5" | "p99" | "p99_9"]> =
  [
    ["0.5", "p50"],
    ["0.75", "p75"],
    ["0.9", "p90"],
    ["0.95", "p95"],
    ["0.975", "p97_5"],
    ["0.99", "p99"],
    ["0.999", "p99_9"],
  ];

/** The run and its verdict in the Prometheus text exposition format (version 0.0.4). */
export function renderPrometheus(stage: StageName, run: RunResult, verdict: Verdict): string {
  const base = { stage, scenario: run.scenario };
  const out: string[] = [];
  const family = (name: string, help: string, samples: Array<[Record<string, string>, number]>) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [labels, value] of samples)
      out.push(`${name}${braced({ ...base, ...labels })} ${num(value)}`);
  };
  const m = run.metrics;
  const lat = LOADTEST_METRICS.latency;
  out.push(
    `# HELP ${lat} Latency of the last load-test run, from every response.`,
    `# TYPE ${lat} summary`,
  );
  for (const [q, k] of QUANTILE_LABELS)
    out.push(`${lat}${braced({ ...base, quantile: q })} ${num(m.latencyMs[k] / 1000)}`);
  out.push(`${lat}_sum${braced(base)} ${num((m.latencyMs.mean * m.requests) / 1000)}`);
  out.push(`${lat}_count${braced(base)} ${num(m.requests)}`);
  family(LOADTEST_METRICS.latencyMax, "Largest latency of the last load-test run.", [
    [{}, m.latencyMs.max / 1000],
  ]);
  family(LOADTEST_METRICS.requestsPerSecond, "Responses per second of the last load-test run.", [
    [{}, m.rps],
  ]);
  family(LOADTEST_METRICS.throughput, "Response bytes per second of the last load-test run.", [
    [{}, m.throughput],
  ]);
  family(LOADTEST_METRICS.responses, "Responses received in the last load-test run.", [
    [{}, m.requests],
  ]);
  family(
    LOADTEST_METRICS.errors,
    "Connection errors (timeouts included) in the last load-test run.",
    [[{}, m.errors]],
  );
  family(LOADTEST_METRICS.timeouts, "Request timeouts in the last load-test run.", [
    [{}, m.timeouts],
  ]);
  family(LOADTEST_METRICS.non2xx, "Responses outside 2xx in the last load-test run.", [
    [{}, m.non2xx],
  ]);
  family(LOADTEST_METRICS.errorRatio, "(errors + non-2xx) / attempts of the last load-test run.", [
    [{}, m.errorRate],
  ]);
  family(LOADTEST_METRICS.connections, "Peak connections of the last load-test run.", [
    [{}, Math.max(...run.parameters.phases.map((p) => p.connections))],
  ]);
  family(LOADTEST_METRICS.duration, "Wall time of the last load-test run.", [
    [{}, m.durationSeconds],
  ]);
  family(LOADTEST_METRICS.score, "Weighted score (0-100) of the last load-test run.", [
    [{}, verdict.score],
  ]);
  family(
    LOADTEST_METRICS.verdict,
    "Verdict of the last load-test run: 1 for the verdict it got.",
    (["pass", "warn", "fail"] as const).map((v) => [{ verdict: v }, verdict.verdict === v ? 1 : 0]),
  );
  family(
    LOADTEST_METRICS.criterionPassed,
    "Each criterion of the last load-test run: 1 pass, 0.5 warn, 0 fail.",
    verdict.criteria.map((c) => [
      { criterion: `${c.kind}: ${c.name}` },
      c.status === "pass" ? 1 : c.status === "warn" ? 0.5 : 0,
    ]),
  );
  family(LOADTEST_METRICS.lastRun, "Unix time the last load-test run finished.", [
    [{}, Date.parse(run.finishedAt) / 1000],
  ]);
  return out.join("\n") + "\n";
}

function braced(labels: Record<string, string>): string {
  return `{${labelText(labels)}}`;
}

function num(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

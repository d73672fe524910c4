/**
 * The two expression grammars of the stress-test config.
 *
 * Absolute thresholds, k6-like: `<metric> <op> <value>`, e.g. `p99 < 500ms`, `p(95) <= 300`,
 * `errors < 1%`, `rps >= 200`, `throughput > 1MB/s`. A bare latency number is milliseconds (as
 * in k6); a ratio is `1%` or `0.01`.
 *
 * Tolerances against a baseline, Keptn-like: `<= +10%` (may grow at most 10%: latency, errors)
 * or `>= -5%` (may shrink at most 5%: rps, throughput). Each has an absolute floor, so a tiny
 * baseline does not turn noise into a regression: the limit is max(b·(1+p), b+floor) for `<=`
 * and min(b·(1−p), b−floor) for `>=`.
 */
import { parseByteRate, parseDurationMs, parseNumber, parseRatio } from "./units.js";

/** Latency metrics, in milliseconds. Percentiles come from every response (see histogram.ts). */
export const LATENCY_METRICS = [
  "p50",
  "p75",
  "p90",
  "p95",
  "p97_5",
  "p99",
  "p99_9",
  "mean",
  "max",
] as const;
export const RATIO_METRICS = ["errors", "non2xx", "timeouts"] as const;
export const METRICS = [
  ...LATENCY_METRICS,
  ...RATIO_METRICS,
  "rps",
  "throughput",
  "requests",
] as const;
export type MetricName = (typeof METRICS)[number];
export type LatencyMetric = (typeof LATENCY_METRICS)[number];

export type MetricKind = "latency" | "ratio" | "rps" | "bytes" | "count";

export function metricKind(m: MetricName): MetricKind {
  if ((LATENCY_METRICS as readonly string[]).includes(m)) return "latency";
  if ((RATIO_METRICS as readonly string[]).includes(m)) return "ratio";
  if (m === "rps") return "rps";
  if (m === "throughput") return "bytes";
  return "count";
}

const ALIASES: Record<string, MetricName> = {
  avg: "mean",
  med: "p50",
  median: "p50",
  error_rate: "errors",
  errorrate: "errors",
  http_req_failed: "errors",
  req_per_sec: "rps",
  reqs: "rps",
  bytes: "throughput",
};

/** Canonical metric name for `p(95)`, `p97.5`, `avg`…; undefined when unknown. */
export function parseMetricName(text: string): MetricName | undefined {
  const t = text.trim().toLowerCase();
  const p = /^p\(?(\d+(?:[._]\d+)?)\)?$/.exec(t);
  const name = p ? `p${p[1]!.replace(".", "_")}` : (ALIASES[t] ?? t);
  return (METRICS as readonly string[]).includes(name) ? (name as MetricName) : undefined;
}

/** Parses a value for a metric of `kind` into its canonical unit (ms, ratio, rps, B/s, count). */
export function parseMetricValue(kind: MetricKind, text: string): number | undefined {
  switch (kind) {
    case "latency":
      return parseDurationMs(text);
    case "ratio": {
      const r = parseRatio(text);
      return r !== undefined && r <= 1 ? r : undefined;
    }
    case "bytes":
      return parseByteRate(text);
    default:
      return parseNumber(text);
  }
}

export const VALUE_HINT: Record<MetricKind, string> = {
  latency: "a duration such as 500ms or 1.5s (a bare number is milliseconds)",
  ratio: "a ratio such as 1% or 0.01",
  rps: "requests per second, a plain number",
  bytes: "a byte rate such as 2MB/s",
  count: "a plain number",
};

export type Op = "<" | "<=" | ">" | ">=" | "==" | "!=";

export interface Threshold {
  /** As written in the config. */
  text: string;
  metric: MetricName;
  op: Op;
  /** In the metric's canonical unit. */
  value: number;
  /** Stop the run as soon as this threshold fails (after `delayAbortEvalMs`). */
  abortOnFail: boolean;
  delayAbortEvalMs: number;
}

export class ExpressionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ExpressionError";
  }
}

/** Parses `p99 < 500ms`; throws ExpressionError saying what a valid one looks like. */
export function parseThreshold(text: string): Omit<Threshold, "abortOnFail" | "delayAbortEvalMs"> {
  const m = /^\s*([A-Za-z_][\w.()]*)\s*(<=|>=|==|!=|<|>)\s*(.+?)\s*$/.exec(text);
  if (!m) {
    throw new ExpressionError(
      `"${text}" is not a threshold; write <metric> <op> <value>, e.g. "p99 < 500ms" or "errors < 1%"`,
    );
  }
  const metric = parseMetricName(m[1]!);
  if (!metric) {
    throw new ExpressionError(
      `unknown metric "${m[1]}" in "${text}"; known: ${METRICS.join(", ")}`,
    );
  }
  const kind = metricKind(metric);
  const value = parseMetricValue(kind, m[3]!);
  if (value === undefined) {
    throw new ExpressionError(`"${m[3]}" in "${text}" is not ${VALUE_HINT[kind]}`);
  }
  return { text: text.trim(), metric, op: m[2] as Op, value };
}

export function compare(actual: number, op: Op, limit: number): boolean {
  switch (op) {
    case "<":
      return actual < limit;
    case "<=":
      return actual <= limit;
    case ">":
      return actual > limit;
    case ">=":
      return actual >= limit;
    case "==":
      return actual === limit;
    case "!=":
      return actual !== limit;
  }
}

/** `<= +10%` → { direction: "lower", ratio: 0.10 }; `>= -5%` → { direction: "higher", ratio: 0.05 }. */
export interface Tolerance {
  text: string;
  /** "lower": smaller is better, the value may grow by `ratio`; "higher": may shrink by it. */
  direction: "lower" | "higher";
  ratio: number;
}

export function parseTolerance(text: string): Tolerance {
  const m = /^\s*(<=|>=)\s*([+-])\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(text);
  if (!m) {
    throw new ExpressionError(
      `"${text}" is not a tolerance; write "<= +10%" (may grow 10%) or ">= -5%" (may shrink 5%)`,
    );
  }
  const direction = m[1] === "<=" ? "lower" : "higher";
  if ((direction === "lower") !== (m[2] === "+")) {
    throw new ExpressionError(
      `"${text}" mixes directions; use "<= +N%" for lower-is-better or ">= -N%" for higher-is-better`,
    );
  }
  return { text: text.trim(), direction, ratio: Number(m[3]) / 100 };
}

/** The allowed limit for `baseline` under a tolerance with an absolute floor (canonical unit). */
export function toleranceLimit(baseline: number, tol: Tolerance, floor: number): number {
  return tol.direction === "lower"
    ? Math.max(baseline * (1 + tol.ratio), baseline + floor)
    : Math.max(0, Math.min(baseline * (1 - tol.ratio), baseline - floor));
}

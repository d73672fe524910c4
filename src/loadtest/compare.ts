/**
 * The verdict of a run: its absolute thresholds (hard limits) plus the stage's tolerances
 * against the baseline, folded into a Keptn-style weighted score.
 *
 * - A tolerance criterion within `pass` scores its weight, within `warn` half of it, else 0.
 * - score = 100 · points / total weight (0..100).
 * - verdict: fail when a threshold failed, a key criterion failed, or the run was aborted;
 *   otherwise pass when score ≥ score.pass, warn when ≥ score.warn, else fail.
 * - Without a baseline for the scenario the verdict is at best `warn` (thresholds only), with a
 *   reason saying how to record one.
 * - A baseline measured with other load parameters is refused (ParameterMismatchError, exit 2).
 */
import type { StagePolicy } from "./config.js";
import { ParameterMismatchError } from "./errors.js";
import { diffParameters, type LoadParameters } from "./parameters.js";
import type { RunMetrics, ThresholdResult } from "./runner.js";
import { metricValue } from "./runner.js";
import { toleranceLimit, type MetricName } from "./thresholds.js";

export type VerdictLevel = "pass" | "warn" | "fail";

export interface CriterionResult {
  /** "threshold": an absolute limit; "tolerance": a comparison with the baseline. */
  kind: "threshold" | "tolerance";
  /** e.g. `p99 < 500ms` or `p99 <= +10% (floor 5)`. */
  name: string;
  metric: MetricName;
  actual: number;
  baseline?: number;
  /** Limit for pass. */
  limit: number;
  /** Limit for warn (tolerances with a warn level). */
  warnLimit?: number;
  status: VerdictLevel;
  weight: number;
  key: boolean;
}

export interface Verdict {
  verdict: VerdictLevel;
  /** Weighted score 0..100 (thresholds only when there is no baseline). */
  score: number;
  criteria: CriterionResult[];
  /** Why the verdict is what it is, one line each. */
  reasons: string[];
  baseline: "compared" | "missing";
}

/** What is compared: a run, or a baseline entry, alike. */
export interface Measured {
  scenario: string;
  parameters: LoadParameters;
  metrics: RunMetrics;
  thresholds?: ThresholdResult[];
  aborted?: { reason: string; atSeconds: number };
}

export interface CompareOptions {
  /** Names the baseline in messages, e.g. its file. */
  baselineLabel?: string;
  /** Names the run in messages (default "this run"); `goose loadtest compare` names both files. */
  runLabel?: string;
}

/**
 * Compares `run` with `baseline` under `policy` (the stage's tolerances). Throws
 * ParameterMismatchError when their load parameters differ.
 */
export function compareToBaseline(
  run: Measured,
  baseline: Measured | undefined,
  policy: StagePolicy,
  opts: CompareOptions = {},
): Verdict {
  const label = opts.baselineLabel ?? "the baseline";
  const runLabel = opts.runLabel ?? "this run";
  const sides = opts.runLabel
    ? {
        baseline: `reference (A, ${label})`,
        run: `candidate (B, ${runLabel})`,
        fix: "compare two runs of the same scenario with the same load parameters",
      }
    : { baseline: "baseline", run: "this run" };
  const reasons: string[] = [];
  const criteria: CriterionResult[] = (run.thresholds ?? []).map((t) => ({
    kind: "threshold",
    name: t.threshold,
    metric: t.metric,
    actual: t.actual,
    limit: t.limit,
    status: t.ok ? "pass" : "fail",
    weight: 0,
    key: true,
  }));
  for (const t of criteria)
    if (t.status === "fail")
      reasons.push(`threshold "${t.name}" failed: actual ${fmt(t.metric, t.actual)}`);
  if (run.aborted)
    reasons.push(`the run was aborted after ${run.aborted.atSeconds}s: ${run.aborted.reason}`);
  // No response at all: nothing was measured, whatever the criteria would compute from zeros.
  const noResponse = run.metrics.requests === 0;
  if (noResponse) {
    const kinds = Object.entries(run.metrics.errorKinds ?? {})
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${n}`)
      .join(", ");
    reasons.unshift(
      `no response from the target: ${run.metrics.errors} connection error(s)${kinds ? ` (${kinds})` : ""}; check --target is up and reachable`,
    );
  }

  if (!baseline) {
    const thresholdsOk = criteria.every((c) => c.status === "pass");
    const score =
      criteria.length === 0
        ? 100
        : (100 * criteria.filter((c) => c.status === "pass").length) / criteria.length;
    reasons.push(
      `no baseline for scenario "${run.scenario}" in ${label}: checked against thresholds only; record one with --save-baseline`,
    );
    return {
      verdict: thresholdsOk && !run.aborted && !noResponse ? "warn" : "fail",
      score: round2(score),
      criteria,
      reasons,
      baseline: "missing",
    };
  }

  if (baseline.scenario !== run.scenario) {
    throw new ParameterMismatchError(
      [{ key: "scenario", baseline: baseline.scenario, run: run.scenario }],
      `${label} and ${runLabel}`,
      sides,
    );
  }
  const diffs = diffParameters(baseline.parameters, run.parameters);
  if (diffs.length > 0)
    throw new ParameterMismatchError(
      diffs,
      `${label} (scenario ${run.scenario}) and ${runLabel}`,
      sides,
    );

  let points = 0;
  let totalWeight = 0;
  for (const c of policy.criteria) {
    const actual = metricValue(run.metrics, c.metric);
    const base = metricValue(baseline.metrics, c.metric);
    const limit = toleranceLimit(base, c.pass, c.floor);
    const warnLimit = c.warn ? toleranceLimit(base, c.warn, c.floor) : undefined;
    const within = (l: number) => (c.pass.direction === "lower" ? actual <= l : actual >= l);
    const status: VerdictLevel = within(limit)
      ? "pass"
      : warnLimit !== undefined && within(warnLimit)
        ? "warn"
        : "fail";
    totalWeight += c.weight;
    points += status === "pass" ? c.weight : status === "warn" ? c.weight / 2 : 0;
    const name = `${c.metric} ${c.pass.text}${c.floor ? ` (floor ${fmt(c.metric, c.floor)})` : ""}`;
    criteria.push({
      kind: "tolerance",
      name,
      metric: c.metric,
      actual,
      baseline: base,
      limit: round6(limit),
      ...(warnLimit !== undefined ? { warnLimit: round6(warnLimit) } : {}),
      status,
      weight: c.weight,
      key: c.key,
    });
    if (status !== "pass") {
      reasons.push(
        `${c.metric} ${fmt(c.metric, actual)} vs baseline ${fmt(c.metric, base)}: beyond ${status === "warn" ? "pass" : "tolerance"} limit ${fmt(c.metric, limit)}${c.key && status === "fail" ? " (key criterion)" : ""}`,
      );
    }
  }
  const score = totalWeight === 0 ? 100 : (100 * points) / totalWeight;
  const hardFail =
    noResponse ||
    run.aborted !== undefined ||
    criteria.some((c) => c.status === "fail" && (c.kind === "threshold" || c.key));
  const verdict: VerdictLevel = hardFail
    ? "fail"
    : score >= policy.score.pass
      ? "pass"
      : score >= policy.score.warn
        ? "warn"
        : "fail";
  reasons.push(`score ${round2(score)} (pass ≥ ${policy.score.pass}, warn ≥ ${policy.score.warn})`);
  return { verdict, score: round2(score), criteria, reasons, baseline: "compared" };
}

/** A value of `metric` for humans: latency in ms, ratios in %, rates plain. */
export function fmt(metric: MetricName, v: number): string {
  if (["errors", "non2xx", "timeouts"].includes(metric)) return `${round6(v * 100)}%`;
  if (metric === "rps") return `${round2(v)} req/s`;
  if (metric === "throughput") return `${round2(v)} B/s`;
  if (metric === "requests") return String(v);
  return `${round6(v)}ms`;
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
function round6(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}

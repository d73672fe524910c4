/**
 * The runner: drives autocannon (programmatic API) through a scenario's phases and measures
 * every response itself, so percentiles (including p95) are exact to 1% and sub-millisecond.
 * No terminal I/O here: progress goes to the `onProgress` callback once a second.
 */
import { createRequire } from "node:module";
import type autocannon from "autocannon";
import { LOAD_LIMITS, type Phase, type RequestSpec, type Scenario } from "./config.js";
import { LoadTestUsageError } from "./errors.js";
import { LatencyHistogram } from "./histogram.js";
import { parametersOf, type LoadParameters } from "./parameters.js";
import {
  compare,
  LATENCY_METRICS,
  metricKind,
  type LatencyMetric,
  type MetricName,
  type Threshold,
} from "./thresholds.js";

export type LatencyFigures = Record<LatencyMetric, number> & { min: number };

/** What one run measured. Latencies in milliseconds; ratios 0..1. */
export interface RunMetrics {
  /** Responses received, any status. */
  requests: number;
  /** Responses per second of wall time. */
  rps: number;
  bytes: number;
  /** Response bytes per second. */
  throughput: number;
  /** Connection errors, timeouts included (autocannon's `errors`). */
  errors: number;
  /** Connection errors by kind (the error's code: ECONNREFUSED, ENOTFOUND, ECONNRESET…). */
  errorKinds?: Record<string, number>;
  timeouts: number;
  /** Responses outside 2xx. */
  non2xx: number;
  /** (errors + non2xx) / (responses + errors). */
  errorRate: number;
  statusCodes: Record<string, number>;
  latencyMs: LatencyFigures;
  durationSeconds: number;
}

/** One second of the run, for the chart and the progress line. */
export interface TimelinePoint {
  /** Seconds since the start, at the end of the interval. */
  t: number;
  connections: number;
  rps: number;
  errors: number;
  p50: number;
  p90: number;
  p99: number;
}

export interface ThresholdResult {
  threshold: string;
  metric: MetricName;
  actual: number;
  limit: number;
  ok: boolean;
}

export interface RunResult {
  scenario: string;
  /** The target without credentials or query. */
  target: string;
  parameters: LoadParameters;
  startedAt: string;
  finishedAt: string;
  metrics: RunMetrics;
  timeline: TimelinePoint[];
  thresholds: ThresholdResult[];
  /** Set when the run stopped early: a failed abortOnFail threshold or the caller's signal. */
  aborted?: { reason: string; atSeconds: number };
  tool: { name: "autocannon"; version: string; node: string };
}

export interface Progress {
  scenario: string;
  phase: number;
  phases: number;
  elapsedSeconds: number;
  /** Planned seconds when every phase has a duration. */
  plannedSeconds?: number;
  requests: number;
  errors: number;
  /** Responses per second in the last interval. */
  rps: number;
  p99Ms: number;
}

export interface RunOptions {
  /** http(s) URL of the service under test; request paths are appended to its path. */
  target: string;
  /** For `${NAME}` references in header values. */
  env?: NodeJS.ProcessEnv;
  onProgress?: (p: Progress) => void;
  /** Stops the run early (e.g. Ctrl-C); the result is kept and marked aborted. */
  signal?: AbortSignal;
  /** Honour thresholds marked abortOnFail (default true). */
  abortOnFail?: boolean;
  /** Interval of timeline points and progress, default 1000 ms. */
  sampleMs?: number;
}

const AUTOCANNON_VERSION = (
  createRequire(import.meta.url)("autocannon/package.json") as { version: string }
).version;

/** Runs `scenario` against `opts.target` and returns what it measured (thresholds evaluated). */
export async function runScenario(scenario: Scenario, opts: RunOptions): Promise<RunResult> {
  const target = parseTarget(opts.target);
  const requests = expandMix(scenario.mix, target.pathname, opts.env ?? {});
  const sampleMs = opts.sampleMs ?? 1000;

  const total = new LatencyHistogram();
  const interval = new LatencyHistogram();
  const statusCodes: Record<string, number> = {};
  let responses = 0;
  let bytes = 0;
  let non2xx = 0;
  let errors = 0;
  const errorKinds: Record<string, number> = {};
  let timeouts = 0;
  let intervalResponses = 0;
  let intervalErrors = 0;
  const timeline: TimelinePoint[] = [];
  let aborted: RunResult["aborted"];
  let current: autocannon.Instance | undefined;
  let phaseIndex = 0;

  const startedAt = new Date();
  const t0 = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - t0) / 1e9;
  let lastSample = 0;
  const planned = scenario.phases.every((p) => p.durationSeconds !== undefined)
    ? scenario.phases.reduce((s, p) => s + (p.durationSeconds ?? 0), 0)
    : undefined;

  const snapshotMetrics = (): RunMetrics =>
    buildMetrics(total, {
      responses,
      bytes,
      errors,
      errorKinds,
      timeouts,
      non2xx,
      statusCodes,
      seconds: elapsed(),
    });

  // A stopped phase ends when autocannon says so, or at the latest STOP_GRACE_MS later.
  let forceEnd: () => void = () => {};
  const forced = new Promise<void>((r) => (forceEnd = r));
  let forceTimer: NodeJS.Timeout | undefined;
  const stop = (reason: string) => {
    if (aborted) return;
    aborted = { reason, atSeconds: round3(elapsed()) };
    current?.stop();
    forceTimer = setTimeout(forceEnd, STOP_GRACE_MS);
  };
  // The hard deadline: the planned duration (or the longest allowed run) plus a small grace.
  const deadlineSeconds = (planned ?? LOAD_LIMITS.durationMs / 1000) + DEADLINE_GRACE_SECONDS;
  const deadline = setTimeout(
    () => stop(`stopped at the hard deadline (${deadlineSeconds}s: planned duration + grace)`),
    deadlineSeconds * 1000,
  );

  const onAbort = () => stop("interrupted by the caller");
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener("abort", onAbort, { once: true });

  const abortable =
    opts.abortOnFail === false ? [] : scenario.thresholds.filter((t) => t.abortOnFail);
  const sample = () => {
    const now = elapsed();
    const dt = Math.max(1e-6, now - lastSample);
    lastSample = now;
    const point: TimelinePoint = {
      t: round3(now),
      connections: scenario.phases[phaseIndex]?.connections ?? 0,
      rps: round3(intervalResponses / dt),
      errors: intervalErrors,
      p50: round3(interval.quantile(0.5)),
      p90: round3(interval.quantile(0.9)),
      p99: round3(interval.quantile(0.99)),
    };
    timeline.push(point);
    total.merge(interval);
    interval.reset();
    intervalResponses = 0;
    intervalErrors = 0;
    opts.onProgress?.({
      scenario: scenario.name,
      phase: phaseIndex + 1,
      phases: scenario.phases.length,
      elapsedSeconds: round3(now),
      ...(planned !== undefined ? { plannedSeconds: planned } : {}),
      requests: responses,
      errors,
      rps: point.rps,
      p99Ms: point.p99,
    });
    if (abortable.length > 0) {
      const m = snapshotMetrics();
      for (const th of abortable) {
        if (now * 1000 < th.delayAbortEvalMs) continue;
        const r = evaluateThreshold(th, m);
        if (!r.ok)
          stop(`threshold "${th.text}" failed (actual ${formatActual(r)}) and has abortOnFail`);
      }
    }
  };
  const timer = setInterval(sample, sampleMs);

  try {
    for (phaseIndex = 0; phaseIndex < scenario.phases.length && !aborted; phaseIndex++) {
      const phase = scenario.phases[phaseIndex]!;
      const result = await Promise.race([
        runPhase(phase, scenario, target, requests, (inst) => {
          current = inst;
          inst.on("response", (_client, statusCode, resBytes, responseTime) => {
            responses++;
            intervalResponses++;
            bytes += resBytes;
            // Only the interval histogram per response; it is merged into the total each sample.
            interval.record(responseTime);
            statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1;
            if (statusCode < 200 || statusCode >= 300) non2xx++;
          });
          inst.on("reqError", (err: unknown) => {
            intervalErrors++;
            const e = err as { code?: unknown; name?: unknown } | undefined;
            const kind =
              typeof e?.code === "string" ? e.code : typeof e?.name === "string" ? e.name : "error";
            errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
          });
        }),
        forced.then(() => ({ errors: 0, timeouts: 0 }) as unknown as autocannon.Result),
      ]);
      current = undefined;
      errors += result.errors;
      timeouts += result.timeouts;
    }
  } finally {
    clearInterval(timer);
    clearTimeout(deadline);
    if (forceTimer) clearTimeout(forceTimer);
    opts.signal?.removeEventListener("abort", onAbort);
  }
  // The last, partial interval: kept unless it is a sliver that would only add noise.
  phaseIndex = Math.min(phaseIndex, scenario.phases.length - 1);
  if (timeline.length === 0 || (elapsed() - lastSample) * 1000 >= sampleMs / 4) sample();
  else {
    total.merge(interval);
    interval.reset();
  }

  const metrics = snapshotMetrics();
  return {
    scenario: scenario.name,
    target: target.origin + target.pathname.replace(/\/$/, ""),
    parameters: parametersOf(scenario),
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    metrics,
    timeline,
    thresholds: scenario.thresholds.map((t) => evaluateThreshold(t, metrics)),
    ...(aborted ? { aborted } : {}),
    tool: { name: "autocannon", version: AUTOCANNON_VERSION, node: process.version },
  };
}

/** After a stop (signal, threshold, deadline), a phase gets this long to wind down. */
const STOP_GRACE_MS = 2000;
/** Seconds past the planned duration before the hard deadline stops a run. */
const DEADLINE_GRACE_SECONDS = 5;

function runPhase(
  phase: Phase,
  scenario: Scenario,
  target: URL,
  requests: autocannon.Request[],
  attach: (inst: autocannon.Instance) => void,
): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const options: autocannon.Options = {
      url: target.origin + target.pathname,
      connections: phase.connections,
      pipelining: scenario.pipelining,
      timeout: scenario.timeoutSeconds,
      requests,
      ...(phase.requests !== undefined
        ? { amount: phase.requests }
        : { duration: phase.durationSeconds ?? 10 }),
      ...(phase.rate !== undefined ? { overallRate: phase.rate } : {}),
    };
    let inst: autocannon.Instance;
    try {
      // Loaded on first run, not at import: `goose loadtest --help` should not pay for it.
      const run = createRequire(import.meta.url)("autocannon") as typeof autocannon;
      inst = run(options, (err: unknown, result: autocannon.Result) => {
        if (err) reject(new LoadTestUsageError(`autocannon refused the scenario: ${String(err)}`));
        else resolve(result);
      });
    } catch (err) {
      reject(new LoadTestUsageError(`autocannon refused the scenario: ${(err as Error).message}`));
      return;
    }
    attach(inst);
  });
}

function parseTarget(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new LoadTestUsageError(
      `--target "${text}" is not a URL; give e.g. http://127.0.0.1:9090`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new LoadTestUsageError(`--target "${text}" must be an http:// or https:// URL`);
  }
  if (url.username || url.password) {
    throw new LoadTestUsageError(
      `--target must not carry credentials; put them in a mix header that reads the environment, e.g. authorization: "Bearer \${TOKEN}"`,
    );
  }
  return url;
}

/**
 * The mix as autocannon's request list: each request repeated in proportion to its weight
 * (reduced by their greatest common divisor), so every connection cycles through the mix with
 * prebuilt request buffers and no per-request work.
 */
export function expandMix(
  mix: RequestSpec[],
  basePath: string,
  env: NodeJS.ProcessEnv,
): autocannon.Request[] {
  const g = mix.reduce((acc, r) => gcd(acc, r.weight), 0) || 1;
  const prefix = basePath.replace(/\/$/, "");
  const out: autocannon.Request[] = [];
  for (const r of mix) {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(r.headers))
      headers[k] = expandEnv(v, env, `header ${k} of ${r.name}`);
    const req: autocannon.Request = {
      method: r.method as autocannon.Request["method"],
      path: prefix + r.path,
      headers,
      ...(r.body !== undefined ? { body: r.body } : {}),
    };
    for (let i = 0; i < r.weight / g; i++) out.push(req);
  }
  return out;
}

function expandEnv(value: string, env: NodeJS.ProcessEnv, where: string): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
    const v = env[name];
    if (v === undefined) {
      throw new LoadTestUsageError(
        `${where} reads \${${name}}, which is not set; export ${name} and run again`,
      );
    }
    return v;
  });
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

const QUANTILES: Record<LatencyMetric, number | undefined> = {
  p50: 0.5,
  p75: 0.75,
  p90: 0.9,
  p95: 0.95,
  p97_5: 0.975,
  p99: 0.99,
  p99_9: 0.999,
  mean: undefined,
  max: undefined,
};

function buildMetrics(
  h: LatencyHistogram,
  c: {
    responses: number;
    bytes: number;
    errors: number;
    errorKinds?: Record<string, number>;
    timeouts: number;
    non2xx: number;
    statusCodes: Record<string, number>;
    seconds: number;
  },
): RunMetrics {
  const latency = {} as LatencyFigures;
  for (const m of LATENCY_METRICS) {
    const q = QUANTILES[m];
    latency[m] = round3(q !== undefined ? h.quantile(q) : m === "mean" ? h.mean() : h.max);
  }
  latency.min = round3(h.count > 0 ? h.min : 0);
  const seconds = Math.max(c.seconds, 1e-6);
  const attempts = c.responses + c.errors;
  return {
    requests: c.responses,
    rps: round3(c.responses / seconds),
    bytes: c.bytes,
    throughput: round3(c.bytes / seconds),
    errors: c.errors,
    ...(c.errorKinds && Object.keys(c.errorKinds).length > 0
      ? { errorKinds: { ...c.errorKinds } }
      : {}),
    timeouts: c.timeouts,
    non2xx: c.non2xx,
    errorRate: attempts === 0 ? 1 : round6((c.errors + c.non2xx) / attempts),
    statusCodes: { ...c.statusCodes },
    latencyMs: latency,
    durationSeconds: round3(c.seconds),
  };
}

/** The value of `metric` in `m`, in the metric's canonical unit. */
export function metricValue(m: RunMetrics, metric: MetricName): number {
  switch (metric) {
    case "errors":
      return m.errorRate;
    case "non2xx":
      return m.requests === 0 ? 0 : m.non2xx / m.requests;
    case "timeouts": {
      const attempts = m.requests + m.errors;
      return attempts === 0 ? 0 : m.timeouts / attempts;
    }
    case "rps":
      return m.rps;
    case "throughput":
      return m.throughput;
    case "requests":
      return m.requests;
    default:
      return m.latencyMs[metric];
  }
}

export function evaluateThreshold(t: Threshold, m: RunMetrics): ThresholdResult {
  const actual = metricValue(m, t.metric);
  return {
    threshold: t.text,
    metric: t.metric,
    actual,
    limit: t.value,
    // With no response there is no latency to judge: a latency threshold cannot pass on nothing.
    ok:
      m.requests === 0 && metricKind(t.metric) === "latency"
        ? false
        : compare(actual, t.op, t.value),
  };
}

/** "ECONNREFUSED 26, ENOTFOUND 3": the connection errors by kind, most frequent first. */
export function describeErrorKinds(m: RunMetrics): string {
  return Object.entries(m.errorKinds ?? {})
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(", ");
}

function formatActual(r: ThresholdResult): string {
  return String(r.actual);
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
function round6(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}

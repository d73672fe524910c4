/**
 * The one step runner of the workflows (promote, rollback). A workflow is a list of named steps,
 * each a small function of a context that holds its ports (engine, store, evidence, locks, clock);
 * `runSteps` runs them in order, times each into a `StepReport`, stops at the first failure and
 * marks the rest skipped. A step fails by throwing: `StepFailed{reason, fix}` (a failed check,
 * exit 1) or any other error, which the runner turns into a `StepFailed` for the report while
 * keeping the original (an `InputError` stays an input error for the caller to rethrow).
 * `waitHealthy` is the one health poller; it runs on a `Clock`, so tests drive it without time.
 */
import { CheckFailedError } from "../errors.js";
import type { StackEngine } from "../engine/types.js";
import type { GateResult } from "../gates/types.js";
import type { Locks } from "../locks/index.js";
import type { ObjectStore } from "../store/types.js";
import type { StageName } from "../config/stages.js";

export type StepStatus = "pending" | "running" | "passed" | "warned" | "failed" | "skipped";

/** What a step did: the same shape for every workflow. */
export interface StepReport<N extends string = string> {
  name: N;
  status: StepStatus;
  startedAt?: string;
  durationMs?: number;
  /** What the step found or did (the failure's reason when it failed). */
  detail?: string;
  /** Gate verdicts this step judged on. */
  gates: GateResult[];
  /** Ids of the evidence records this step appended. */
  evidence: string[];
  notes: string[];
  /** Structured findings of the step (violations, integrity issues, …). */
  data?: Record<string, unknown>;
}

/** A step failed a check: why, and what to do about it (exit 1). */
export class StepFailed extends CheckFailedError {
  declare readonly fix: string;
  /** The gate whose verdict failed the step, when one did. */
  readonly gate: string | undefined;
  readonly data: Record<string, unknown> | undefined;
  constructor(
    readonly reason: string,
    opts: { fix: string; gate?: string; data?: Record<string, unknown>; cause?: unknown },
  ) {
    super(reason, {
      code: "step-failed",
      fix: opts.fix,
      ...(opts.cause === undefined ? {} : { cause: opts.cause }),
    });
    this.gate = opts.gate;
    this.data = opts.data;
  }
}

/** Time for the workflows: the system clock in production, a fake one in tests. */
export interface Clock {
  now(): Date;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => new Date(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/** The system clock, or one reading `now` (the older `now?: () => Date` options). */
export function clockOf(opts: { clock?: Clock; now?: () => Date }): Clock {
  if (opts.clock) return opts.clock;
  return opts.now ? { now: opts.now, sleep: systemClock.sleep } : systemClock;
}

/** An evidence record as the workflows append it. */
export interface EvidenceAppendInput {
  kind: string;
  stage?: StageName;
  subject: Array<{ name: string; digest: Record<string, string> }>;
  data: Record<string, unknown>;
}

/** The evidence port: the chain (src/evidence), or an in-memory list in tests. */
export interface EvidencePort {
  append(input: EvidenceAppendInput): Promise<{ id: string }>;
}

/** The lease operations a workflow uses (src/locks `openLocks`). */
export type LocksPort = Pick<Locks, "acquire" | "release" | "heartbeat" | "assertStageFree">;

/** What every workflow step may reach: nothing else touches the outside world. */
export interface WorkflowPorts {
  engine: StackEngine;
  store: ObjectStore;
  evidence: EvidencePort;
  locks: LocksPort;
  clock: Clock;
}

/** What a step may say when it returns (default: passed, warned when a gate warned). */
export interface StepOutcome {
  status?: "passed" | "warned" | "skipped";
  detail?: string;
  data?: Record<string, unknown>;
}

export interface Step<N extends string, C> {
  name: N;
  run(ctx: C, report: StepReport<N>): Promise<StepOutcome | void>;
}

export interface RunHooks<N extends string> {
  clock?: Clock;
  /** Called when a step starts, when it ends, and for each step skipped after a failure. */
  onStep?(report: StepReport<N>): void;
  /** After a step returned: may throw to fail it (an evidence requirement not met). */
  afterStep?(report: StepReport<N>): Promise<void>;
  /** After a step failed, before the run stops (record the failure as evidence). */
  onFailure?(report: StepReport<N>, failure: StepFailed, error: unknown): Promise<void>;
  /** The failure of an error that is not a StepFailed (default: its message, `defaultFix`). */
  defaultFix?: string;
}

export interface RunResult<N extends string> {
  ok: boolean;
  steps: StepReport<N>[];
  /** The step that failed, its failure and the error as thrown. */
  failed?: { step: StepReport<N>; failure: StepFailed; error: unknown };
}

/** Pending reports for `names`, for a workflow that shows them before they run. */
export function stepReports<N extends string>(names: readonly N[]): StepReport<N>[] {
  return names.map((name) => ({ name, status: "pending", gates: [], evidence: [], notes: [] }));
}

/** The failure an error stands for in a report. */
export function asStepFailed(err: unknown, defaultFix: string): StepFailed {
  if (err instanceof StepFailed) return err;
  const message = err instanceof Error ? err.message : String(err);
  const own = (err as { fix?: unknown } | undefined)?.fix;
  const fix = typeof own === "string" ? own : defaultFix;
  return new StepFailed(message, { fix, cause: err });
}

/**
 * Runs `steps` in order over `ctx`; see the module comment. `reports` (from `stepReports`) lets
 * the caller hold the reports while they fill; by default the runner creates them.
 */
export async function runSteps<N extends string, C>(
  steps: ReadonlyArray<Step<N, C>>,
  ctx: C,
  hooks: RunHooks<N> & { reports?: StepReport<N>[] } = {},
): Promise<RunResult<N>> {
  const clock = hooks.clock ?? systemClock;
  const reports = hooks.reports ?? stepReports(steps.map((s) => s.name));
  const reportOf = (name: N): StepReport<N> => {
    const r = reports.find((x) => x.name === name);
    if (!r) throw new Error(`step ${name} has no report`);
    return r;
  };
  const result: RunResult<N> = { ok: false, steps: reports };
  for (const step of steps) {
    const report = reportOf(step.name);
    report.status = "running";
    const t0 = clock.now();
    report.startedAt = t0.toISOString();
    hooks.onStep?.(report);
    try {
      const outcome = (await step.run(ctx, report)) ?? {};
      if (outcome.detail !== undefined) report.detail = outcome.detail;
      if (outcome.data !== undefined) report.data = outcome.data;
      report.status =
        outcome.status ?? (report.gates.some((g) => g.verdict === "warn") ? "warned" : "passed");
      await hooks.afterStep?.(report);
    } catch (err) {
      const failure = asStepFailed(err, hooks.defaultFix ?? "see the error; rerun when fixed");
      report.status = "failed";
      report.detail = failure.reason;
      if (failure.data !== undefined) report.data = failure.data;
      report.durationMs = clock.now().getTime() - t0.getTime();
      result.failed = { step: report, failure, error: err };
      await hooks.onFailure?.(report, failure, err);
      hooks.onStep?.(report);
      break;
    }
    report.durationMs = clock.now().getTime() - t0.getTime();
    hooks.onStep?.(report);
  }
  for (const r of reports) {
    if (r.status !== "pending") continue;
    r.status = "skipped";
    hooks.onStep?.(r);
  }
  result.ok = result.failed === undefined;
  return result;
}

/** One answer of a health endpoint: its HTTP status, or why there was none. */
export type HealthProbe = (
  url: string,
  timeoutMs: number,
  /** Request headers (a stage's Prometheus asks for basic auth). */
  headers?: Record<string, string>,
) => Promise<{ status: number } | { error: string }>;

/** GET `url` with a timeout; the body is read and dropped. */
export const httpProbe: HealthProbe = async (url, timeoutMs, headers = {}) => {
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return { status: res.status };
  } catch (err) {
    return { error: (err as Error).message };
  }
};

export interface HealthCheck {
  url: string;
  ok: boolean;
  status?: number;
  error?: string;
  /** `<url> → <status>` or `<url>: <error>`. */
  detail: string;
  attempts: number;
}

export interface WaitHealthyOptions {
  /** Give up after this long (measured on `clock`). */
  timeoutMs: number;
  /** Pause between attempts (default 250 ms). */
  intervalMs?: number;
  clock?: Clock;
  probe?: HealthProbe;
  /** Sent with every request (the basic auth of a stage's Prometheus). */
  headers?: Record<string, string>;
}

/** Polls `url` until it answers 2xx or `timeoutMs` passes; the last answer when it never did. */
export async function waitHealthy(url: string, opts: WaitHealthyOptions): Promise<HealthCheck> {
  const clock = opts.clock ?? systemClock;
  const probe = opts.probe ?? httpProbe;
  const deadline = clock.now().getTime() + opts.timeoutMs;
  for (let attempts = 1; ; attempts++) {
    const left = deadline - clock.now().getTime();
    const r = await probe(url, Math.max(500, left), opts.headers);
    const ok = "status" in r && r.status >= 200 && r.status < 300;
    const check: HealthCheck =
      "status" in r
        ? { url, ok, status: r.status, detail: `${url} → ${r.status}`, attempts }
        : { url, ok: false, error: r.error, detail: `${url}: ${r.error}`, attempts };
    if (ok || clock.now().getTime() >= deadline) return check;
    await clock.sleep(opts.intervalMs ?? 250);
  }
}

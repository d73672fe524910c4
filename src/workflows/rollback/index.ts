/**
 * Rollback of a stage to a verified snapshot of the same stage. Pulumi has no rollback
 * (pulumi/pulumi#96) and `stack import` restores state, not infrastructure, so the workflow
 * imports, then refreshes and updates to converge. Steps, in order; it stops at the first
 * failing one, says which, and how to resume or undo:
 *
 *  1. lock          the stage is free (no load test, backup, scan, promotion); hold a `rollback` lease;
 *                   no backup or scan job announces itself running in the stage's cluster on any
 *                   `blackoutSources` Pushgateway (src/locks/cluster.ts), else the rollback is
 *                   blocked (exit 1, a `rollback.blocked` record) and the lease released
 *  2. verify        the snapshot verifies (MAC, key, digests, GCM), is of this stage and stack,
 *                   passes validation; integrity issues refuse unless `force`; its secrets
 *                   provider matches the stack's
 *  3. dependencies  its provider plugins against the versions package.json pins now
 *  4. compliance    its resources through the current policy pack (Analyzer protocol, as
 *                   `pulumi policy analyze --file`); a mandatory violation refuses unless
 *                   `acceptViolations: { reason }`, which is recorded as evidence
 *  5. recovery      a snapshot of the current state (the undo)
 *  6. import        engine.importStack (the snapshot is marked as referenced by this rollback)
 *  7. refresh       engine.refresh
 *  8. update        engine.up, to converge the infrastructure to the imported state; `staged`:
 *                   component by component, each a targeted update followed by the policy
 *                   analysis of the state so far and the health checks, with a checkpoint that
 *                   `resume` continues from (./staged.ts says the order and why)
 *  9. health        Prometheus `/-/ready` and Grafana `/api/health` (skipped without URLs)
 * 10. annotation    a Grafana annotation (skipped without a Grafana URL)
 * 11. evidence      a `rollback` record with every step
 *
 * Like a promotion, a rollback publishes the transition metrics (src/workflows/transition-metrics.ts,
 * kind rollback): in progress once the lease is held, then success, failed or blocked with its
 * duration, so GoldenGooseTransitionDuringBlackout sees rollbacks too.
 *
 * Every step is appended to the evidence chain as `rollback.<step>`, with the target snapshot
 * as subject. All Pulumi work goes through the StackEngine port. The steps are the functions of
 * ./steps.ts over one context of ports (engine, store, evidence, locks, clock), run by the one
 * step runner (src/workflows/steps.ts); the recovery snapshot is taken by `takeSnapshot`.
 */
import path from "node:path";
import { gooseCommand } from "../../command-line.js";
import { hintContext } from "../../gates/hints.js";
import { CheckFailedError, InputError } from "../../errors.js";
import { readManifest, SnapshotNotFoundError, stageOfId } from "../../snapshots/index.js";
import { clockOf, runSteps, stepReports, type StepReport } from "../steps.js";
import { recordTransition } from "../transition-metrics.js";
import { checkpointKey, readCheckpoint } from "./staged.js";
import { subjectOf, type RollbackContext } from "./context.js";
import { ROLLBACK_STEP_FUNCTIONS } from "./steps.js";
import {
  ROLLBACK_STEPS,
  stepView,
  type RollbackOptions,
  type RollbackResult,
  type RollbackStep,
} from "./types.js";

export * from "./types.js";

/** A step failed: a failed check (exit 1) unless the cause was bad input (`causedByInput`). */
export class RollbackFailedError extends CheckFailedError {
  constructor(
    readonly result: RollbackResult,
    /** True when the step failed for an input reason (e.g. a missing key): exit 2. */
    readonly causedByInput = false,
  ) {
    const failed = result.steps.find((s) => s.status === "failed");
    super(
      `rollback of ${result.stage} to ${result.snapshotId} stopped at step "${result.failedStep}": ${failed?.detail ?? ""}\n${result.next ?? ""}`,
    );
    this.name = "RollbackFailedError";
  }
}

/** Rolls `opts.stage` back to `opts.to`; see the module comment. Throws RollbackFailedError. */
export async function rollback(opts: RollbackOptions): Promise<RollbackResult> {
  const clock = clockOf(opts);
  const { stage, store } = opts;
  if (stageOfId(opts.to) !== stage) {
    throw new InputError(
      `snapshot ${opts.to} is of stage ${stageOfId(opts.to)}, not ${stage}: a rollback goes to a snapshot of the same stage (goose snapshot list ${stage})`,
    );
  }
  if (opts.acceptViolations && !opts.acceptViolations.reason.trim()) {
    throw new InputError(
      "--accept-violations needs --reason TEXT: the reason is recorded as evidence",
    );
  }
  const result: RollbackResult = { ok: false, stage, snapshotId: opts.to, steps: [] };
  // Unverified until the verify step; only its digest names the subject of early records.
  const listed = await readManifest(store, opts.to);
  if (!listed) throw new SnapshotNotFoundError(opts.to, store.url);
  const reports = stepReports(ROLLBACK_STEPS);
  const ctx: RollbackContext = {
    opts,
    ports: { engine: opts.engine, store, evidence: opts.evidence, locks: opts.locks, clock },
    stack: opts.stack ?? stage,
    result,
    sink: {
      ...opts.metrics,
      textfileDir: opts.metrics?.textfileDir ?? path.join(opts.repoRoot, ".goose/metrics"),
    },
    reports,
    listed,
    exportText: "",
    current: "",
    recoveryDigest: "",
  };
  if (opts.resume) {
    if (!opts.staged) {
      throw new InputError("--resume continues a staged rollback", {
        fix: `pass --staged with --resume: ${gooseCommand(["rollback", stage, "--to", opts.to, "--staged", "--resume", ...runFlags(opts)])}`,
      });
    }
    const cp = await readCheckpoint(store, stage, opts.to);
    if (!cp) {
      throw new InputError(
        `no staged rollback of ${stage} to ${opts.to} to resume: no checkpoint ${checkpointKey(stage, opts.to)} in ${store.url}`,
        {
          fix: `start one: ${gooseCommand(["rollback", stage, "--to", opts.to, "--staged", ...runFlags(opts)])}`,
        },
      );
    }
    if (cp.completedAt) {
      throw new InputError(
        `the staged rollback of ${stage} to ${opts.to} completed at ${cp.completedAt}: nothing to resume`,
        {
          fix: `see ${gooseCommand(["snapshot", "list", stage, ...runFlags(opts).filter((f) => f !== "--offline")])}; a new rollback runs without --resume`,
        },
      );
    }
    ctx.checkpoint = cp;
    if (cp.recovery) {
      result.recoverySnapshotId = cp.recovery;
      ctx.recoveryDigest = (await readManifest(store, cp.recovery))?.plaintext.sha256 ?? "";
    }
  }
  /** Appends the step's `rollback.<step>` record, then shows it. */
  const record = async (r: StepReport<RollbackStep>): Promise<void> => {
    const view = stepView(r);
    const ev = await opts.evidence.append({
      kind: `rollback.${r.name}`,
      stage,
      subject: subjectOf(ctx),
      data: { status: view.status, detail: view.detail, ...(view.data ?? {}) },
    });
    r.evidence.push(ev.id);
    result.steps.push({ ...view, evidence: ev.id });
    opts.onStep?.({ ...view, evidence: ev.id });
  };

  const started = clock.now();
  try {
    const run = await runSteps(ROLLBACK_STEP_FUNCTIONS, ctx, {
      clock,
      reports,
      afterStep: record,
      onFailure: async (r) => {
        await record(r).catch(() => {
          result.steps.push(stepView(r));
        });
      },
    });
    if (run.failed) {
      result.failedStep = run.failed.step.name;
      result.next = nextAdvice(run.failed.step.name, opts, result.recoverySnapshotId);
      throw new RollbackFailedError(result, run.failed.error instanceof InputError);
    }
    await opts.evidence.append({
      kind: "rollback",
      stage,
      subject: [
        ...subjectOf(ctx),
        ...(result.recoverySnapshotId
          ? [
              {
                name: `snapshot:${result.recoverySnapshotId}`,
                digest: { sha256: ctx.recoveryDigest },
              },
            ]
          : []),
      ],
      data: { to: opts.to, recovery: result.recoverySnapshotId, holder: opts.holder },
    });
    result.ok = true;
    return result;
  } finally {
    // Every rollback that got past its preconditions is a transition: success, failed or blocked.
    try {
      const m = await recordTransition(store, ctx.sink, {
        kind: "rollback",
        stage,
        from: stage,
        result: result.ok ? "success" : result.blocked ? "blocked" : "failed",
        durationSeconds: (clock.now().getTime() - started.getTime()) / 1000,
        at: clock.now(),
      });
      result.metrics = { published: m.published };
    } catch (err) {
      result.metrics = { error: (err as Error).message };
    }
    if (ctx.lease) {
      await opts.locks
        .release(stage, "rollback", { token: ctx.lease.token, missingOk: true })
        .catch(() => {});
    }
  }
}

/** The flags of this run (offline engine, a store other than the default), so hints run as printed. */
function runFlags(opts: RollbackOptions): string[] {
  const ctx = hintContext({
    offline: opts.engine.mode === "offline",
    store: opts.store,
    env: opts.env,
    cwd: opts.repoRoot,
  });
  return [...(ctx.offline ? ["--offline"] : []), ...ctx.storeArgs];
}

function nextAdvice(step: RollbackStep, opts: RollbackOptions, recovery?: string): string {
  const offline = runFlags(opts);
  const staged = opts.staged ? ["--staged", ...(opts.resume ? ["--resume"] : [])] : [];
  const again = gooseCommand(["rollback", opts.stage, "--to", opts.to, ...staged, ...offline]);
  // A staged rollback that got past its import resumes from its checkpoint.
  const resume = opts.staged
    ? gooseCommand(["rollback", opts.stage, "--to", opts.to, "--staged", "--resume", ...offline])
    : again;
  switch (step) {
    case "lock":
      return "Nothing was changed. Wait for the operation holding the stage (a lease, or a backup or scan job running in its cluster), then run the rollback again.";
    case "verify":
    case "dependencies":
    case "compliance":
      return `Nothing was changed. Fix what is named above and run \`${again}\` again, or choose another snapshot.`;
    case "recovery":
      return `Nothing was changed (no recovery snapshot could be taken). Fix it and run \`${again}\` again.`;
    default:
      return (
        `The stack was changed. Resume: fix the cause and run \`${resume}\`${opts.staged ? " (it continues from the first incomplete stage)" : " again"}. ` +
        (recovery
          ? `Undo: \`${gooseCommand(["rollback", opts.stage, "--to", recovery, ...offline])}\` (the recovery snapshot).`
          : "")
      );
  }
}

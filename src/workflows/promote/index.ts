/**
 * PROMOTION: moves a release one stage forward (sandbox → compliance → production) through gates.
 *
 * Steps, in order; each is recorded in the evidence chain and a failure stops the workflow:
 *  1. lock          promotion leases on the source and target stages (blocked → exit 1 naming the lease)
 *  2. validate      the source stage: backup recency, rollback drill on its latest snapshot
 *                   (decrypts, verifies, passes the policy pack), its preview has no mandatory violation
 *  3. readiness     the target's alert rules (promtool) and its preview under its policy enforcement
 *                   (cheap static checks before the snapshot and the load test)
 *  4. snapshot      a snapshot of the source stack (`exportStack` → src/snapshots, with evidence)
 *  5. stage-tests   smoke (from sandbox) or the baseline load test (later stages) against --target
 *  6. supply-chain  SBOM (CycloneDX) and the vulnerability scan against the target's threshold
 *  7. decision      evidence: the gate decision (in the style of an SLSA verification summary)
 *  8. deploy        `up` of the target stack through the StackEngine port (offline or real)
 *  9. verify        the target answers its health URL and its stack holds resources
 * 10. record        evidence: the promotion record; reports (JSON + Markdown) and metrics
 *
 * `promote(opts)` returns a PromotionReport whatever happens (result promoted | failed | blocked);
 * the CLI maps failed and blocked to exit 1. Bad usage (not the next stage, no snapshot key,
 * missing --target) throws a InputError (exit 2) before anything runs. To resume after a failure,
 * fix what the failure names and run the same command again: every gate is re-evaluated (the
 * SBOM and the vulnerability scan come from the cache when nothing changed).
 *
 * Shape: the steps are the functions of ./steps.ts over one context (./context.ts) holding the
 * ports the CLI opened (engine, store, evidence, locks, clock); `runPromotion` runs them with the
 * one step runner (src/workflows/steps.ts) and turns a failure into the report's `failure` and a
 * `promotion.failed` / `promotion.blocked` record. The snapshot is taken by `takeSnapshot`.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { auditedAppender, loadAuditRules, requiredKinds } from "../../audit/index.js";
import { gooseCommand } from "../../command-line.js";
import { hintContext, HINTS } from "../../gates/hints.js";
import { loadStageConfigFile, stackFileName, type StageConfig } from "../../config/index.js";
import { nextStage, STAGES, type StageName } from "../../config/stages.js";
import { InputError } from "../../errors.js";
import { redact } from "../../evidence/index.js";
import { ClusterBlackoutError } from "../../locks/cluster.js";
import { LeaseHeldError } from "../../locks/index.js";
import { keySourceFromEnv } from "../../snapshots/index.js";
import { clockOf, runSteps, StepFailed, stepReports, type Step } from "../steps.js";
import { recordTransition } from "../transition-metrics.js";
import { record, type PromoteContext } from "./context.js";
import { renderPromotionMarkdown } from "./markdown.js";
import type { PromoteOptions } from "./options.js";
import {
  PROMOTION_STEPS,
  type PromotionFailure,
  type PromotionReport,
  type PromotionStep,
} from "./report.js";
import { PROMOTION_STEP_FUNCTIONS } from "./steps.js";

export * from "./report.js";
export type { PromoteEvidence, PromoteOptions } from "./options.js";
export type { PromoteContext } from "./context.js";
export { renderPromotionMarkdown } from "./markdown.js";

/** The one allowed transition from `from` is to its next stage; anything else is bad usage. */
export function checkTransition(from: StageName, to: StageName): void {
  const next = nextStage(from);
  if (to !== next) {
    throw new InputError(
      next
        ? `cannot promote ${from} to ${to}: promotion goes one stage forward only, to ${next} (order: ${STAGES.join(" → ")})`
        : `cannot promote ${from}: it is the last stage (order: ${STAGES.join(" → ")})`,
    );
  }
}

/** Runs the promotion; see the module comment. */
export async function promote(opts: PromoteOptions): Promise<PromotionReport> {
  checkTransition(opts.from, opts.to);
  if (!opts.target) {
    throw new InputError(
      `--target is required: the URL of the ${opts.from} service the stage tests run against`,
    );
  }
  const clock = clockOf(opts);
  const { from, to, repoRoot, env, store, engine } = opts;
  const keys = keySourceFromEnv(env, { kmsKeyFlag: false }); // exit 2 before anything when no snapshot key is configured
  let fromCfg: StageConfig;
  let toCfg: StageConfig;
  try {
    fromCfg = loadStageConfigFile(path.join(repoRoot, stackFileName(from)));
    toCfg = loadStageConfigFile(path.join(repoRoot, stackFileName(to)));
  } catch (err) {
    throw new InputError((err as Error).message);
  }
  // Audit as data: which records each step must produce, and what each record holds (exit 2 when
  // the files are missing or invalid, naming file, line and fix).
  const audit = loadAuditRules(repoRoot, { promotion: PROMOTION_STEPS });
  const started = clock.now();
  const id = `promo-${from}-${to}-${started.toISOString().replace(/[-:.]/g, "")}-${randomBytes(3).toString("hex")}`;
  const evidence = auditedAppender(opts.evidence, audit);
  const ctx: PromoteContext = {
    opts,
    from,
    to,
    id,
    ports: { engine, store, evidence, locks: opts.locks, clock },
    fromCfg,
    toCfg,
    keys,
    security: {
      dbFile: opts.security?.dbFile ?? path.join(repoRoot, "security/vulnerability-db.json"),
      policyFile:
        opts.security?.policyFile ?? path.join(repoRoot, "security/vulnerability-policy.yaml"),
      allowListFile:
        opts.security?.allowListFile ?? path.join(repoRoot, "security/allow-list.yaml"),
      enrichmentFile:
        opts.security?.enrichmentFile ?? path.join(repoRoot, "security/sbom/enrichment.yaml"),
    },
    required: (step) => requiredKinds(audit, "promotion", step),
    auditFile: audit.files.collection,
    report: {
      kind: "goldengoose.promotion.report/v1",
      id,
      from,
      to,
      mode: engine.mode,
      actor: opts.holder,
      startedAt: started.toISOString(),
      finishedAt: "",
      durationMs: 0,
      result: "failed",
      steps: stepReports(PROMOTION_STEPS),
      evidence: { records: 0 },
    },
    emit: (e) => opts.onEvent?.(e),
    sink: {
      ...opts.metrics,
      textfileDir: opts.metrics?.textfileDir ?? path.join(repoRoot, ".goose/metrics"),
    },
    produced: new Map(),
    leases: [],
    snapshotSha: "",
    ...(opts.healthUrl ? { healthUrl: opts.healthUrl } : {}),
  };
  const report = ctx.report;
  await runPromotion(ctx);

  const finished = clock.now();
  report.finishedAt = finished.toISOString();
  report.durationMs = finished.getTime() - started.getTime();
  const head = await opts.evidence.head();
  if (head) report.evidence.head = head;
  try {
    const m = await recordTransition(store, ctx.sink, {
      kind: "promotion",
      stage: to,
      from,
      result: report.result === "promoted" ? "success" : report.result,
      durationSeconds: report.durationMs / 1000,
      at: finished,
    });
    report.metrics = { published: m.published };
  } catch (err) {
    report.metrics = { error: (err as Error).message };
  }
  await writeReports(opts, report);
  return report;
}

/**
 * Runs `steps` (default: all of them) over `ctx` and fills `ctx.report`: result promoted, or
 * the failure with how to resume and its `promotion.failed` / `promotion.blocked` record. Leases
 * are released whatever happens. An input error (a missing key, tool or file) is rethrown.
 */
export async function runPromotion(
  ctx: PromoteContext,
  steps: ReadonlyArray<Step<PromotionStep, PromoteContext>> = PROMOTION_STEP_FUNCTIONS,
): Promise<void> {
  const { report, from, to, opts } = ctx;
  try {
    const run = await runSteps(steps, ctx, {
      clock: ctx.ports.clock,
      reports: report.steps,
      onStep: (s) =>
        ctx.emit({
          type: "step",
          step: s.name,
          status: s.status,
          message: s.status === "running" ? s.name : `${s.name} ${s.status}`,
        }),
      afterStep: async (s) => {
        const have = [...(ctx.produced.get(s.name) ?? [])];
        const missing = ctx.required(s.name).filter((k) => {
          const i = have.indexOf(k);
          if (i < 0) return true;
          have.splice(i, 1);
          return false;
        });
        if (missing.length > 0) {
          throw new StepFailed(
            `step ${s.name} produced no ${missing.join(", ")} evidence, which ${ctx.auditFile} requires of it`,
            {
              fix: `make the step record it, or change workflows.promotion.steps.${s.name} in ${ctx.auditFile} (a reviewed change)`,
            },
          );
        }
      },
    });
    if (!run.failed) {
      report.result = "promoted";
      return;
    }
    const { step, failure, error } = run.failed;
    // A missing prerequisite (key, tool, file): exit 2 with its own message.
    if (error instanceof InputError) throw error;
    let fix = failure.fix;
    // The flags of this run, so the hints run as printed (src/gates/hints.ts).
    const hints = hintContext({
      offline: ctx.ports.engine.mode === "offline",
      store: ctx.ports.store,
      env: opts.env,
      cwd: opts.repoRoot,
    });
    if (error instanceof LeaseHeldError) {
      report.result = "blocked";
      fix = `wait for the ${error.lease.kind} on ${error.lease.stage} to end (${HINTS.lockStatus(error.lease.stage, hints)}), or, if its holder is gone, break it: goose lock release ${error.lease.stage} --kind ${error.lease.kind} --force --reason <why>${hints.storeArgs.length ? ` --store ${hints.storeArgs[1]}` : ""}`;
    } else if (error instanceof ClusterBlackoutError) {
      report.result = "blocked";
      fix = `wait for the ${error.blackouts.map((b) => `${b.kind} job on ${b.stage}`).join(" and ")} to finish`;
    }
    const found: Omit<PromotionFailure, "resume"> = {
      step: step.name,
      ...(failure.gate ? { gate: failure.gate } : {}),
      reason: failure.reason,
      fix,
    };
    report.failure = {
      ...found,
      resume: `fix the cause, then rerun \`${
        opts.rerunCommand ??
        gooseCommand([
          "promote",
          from,
          to,
          ...(ctx.ports.engine.mode === "offline" ? ["--offline"] : []),
          ...(opts.target ? ["--target", opts.target] : []),
          ...hints.storeArgs,
        ])
      }\` (every gate is evaluated again; SBOM and scan come from the cache when unchanged)`,
    };
    try {
      await record(ctx, step, {
        kind: report.result === "blocked" ? "promotion.blocked" : "promotion.failed",
        stage: to,
        subject: [],
        data: { from, to, ...found },
      });
    } catch (e) {
      report.failure.reason += ` (and the failure could not be recorded: ${(e as Error).message})`;
    }
  } finally {
    if (ctx.heartbeat) clearInterval(ctx.heartbeat);
    for (const l of ctx.leases)
      await ctx.ports.locks
        .release(l.stage, "promotion", { token: l.token, missingOk: true })
        .catch(() => undefined);
  }
}

async function writeReports(opts: PromoteOptions, report: PromotionReport): Promise<void> {
  const safe = redact(report, opts.env);
  const dir = opts.reportDir ?? path.join(opts.repoRoot, ".goose/reports/promotions");
  mkdirSync(dir, { recursive: true });
  const json = path.join(dir, `${report.id}.json`);
  const markdown = path.join(dir, `${report.id}.md`);
  report.files = { json, markdown, stored: `promotions/${report.id}.json` };
  safe.files = report.files;
  writeFileSync(json, JSON.stringify(safe, null, 2) + "\n");
  writeFileSync(markdown, renderPromotionMarkdown(safe));
  await opts.store.put(`promotions/${report.id}.json`, JSON.stringify(safe, null, 2) + "\n", {
    contentType: "application/json",
  });
}

/**
 * The steps of a rollback, each a small function of the run's context (its options, its ports
 * and what earlier steps found). `rollback` (./index.ts) runs them with `runSteps`; tests run one
 * with fakes. A step fails by throwing `StepFailed` (the reason names the fix too, as the
 * rollback prints the reason); what it returns is recorded as its `rollback.<step>` evidence.
 */
import { secretsProviderOf } from "../../pulumi-export/index.js";
import { assertNoClusterBlackout, ClusterBlackoutError } from "../../locks/cluster.js";
import {
  checkDependencies,
  pinnedProviderVersions,
  readSnapshotExport,
  referenceSnapshot,
  SnapshotVerifyError,
  toImportable,
  validateExport,
} from "../../snapshots/index.js";
import { planDigest, summaryLine } from "../../plan/index.js";
import { planImport } from "../plan.js";
import { takeSnapshot } from "../snapshot.js";
import { STAGED_CHECKPOINT_KIND, writeCheckpoint } from "./staged.js";
import { stagedUpdate } from "./staged-update.js";
import { prometheusUnauthorizedHint } from "../../monitoring/prometheus-credentials.js";
import { healthTargets, subjectOf, waitStageHealthy, type RollbackContext } from "./context.js";
import { StepFailed, type Step, type StepOutcome } from "../steps.js";
import { markTransitionStart } from "../transition-metrics.js";
import { stepView, type RollbackStep } from "./types.js";

type RollbackStepFn = (ctx: RollbackContext) => Promise<StepOutcome>;
const step = (name: RollbackStep, run: RollbackStepFn): Step<RollbackStep, RollbackContext> => ({
  name,
  run,
});

export const lock: RollbackStepFn = async (ctx) => {
  const { opts, ports } = ctx;
  const stage = opts.stage;
  await ports.locks.assertStageFree(stage);
  const lease = await ports.locks.acquire(stage, "rollback", {
    ttlSeconds: opts.ttlSeconds ?? 3600,
    holder: opts.holder,
    reason: `rollback to ${opts.to}`,
  });
  ctx.lease = lease;
  const checked: string[] = [];
  for (const url of opts.blackoutSources ?? []) {
    try {
      await assertNoClusterBlackout(url, [stage], { now: ports.clock.now(), blocked: "rollback" });
    } catch (err) {
      if (err instanceof ClusterBlackoutError) {
        ctx.result.blocked = { source: url, blackouts: err.blackouts, reason: err.message };
        await ports.evidence.append({
          kind: "rollback.blocked",
          stage,
          subject: subjectOf(ctx),
          data: {
            to: opts.to,
            holder: opts.holder,
            step: "lock",
            source: url,
            blackouts: err.blackouts.map((b) => ({ ...b, since: b.since.toISOString() })),
            reason: err.message,
            fix: `wait for the ${err.blackouts.map((b) => `${b.kind} job on ${b.stage}`).join(" and ")} to finish, then run the rollback again`,
          },
        });
      }
      throw err;
    }
    checked.push(url);
  }
  try {
    await markTransitionStart(ports.store, ctx.sink, "rollback", stage);
  } catch (err) {
    ctx.result.metrics = { error: (err as Error).message };
  }
  return {
    detail:
      `stage ${stage} is free; rollback lease held by ${opts.holder} until ${lease.expiresAt}` +
      (checked.length > 0
        ? `; no backup or scan job running on ${stage} (${checked.join(", ")})`
        : ""),
    data: { blackoutSources: checked },
  };
};

export const verify: RollbackStepFn = async (ctx) => {
  const { opts, ports, stack } = ctx;
  let read;
  try {
    read = await readSnapshotExport(ports.store, opts.to, opts.trust ?? opts.env);
  } catch (err) {
    if (err instanceof SnapshotVerifyError) {
      throw new StepFailed(err.message, {
        fix: "choose another snapshot (goose snapshot list)",
        data: { problem: err.report.problem },
      });
    }
    throw err;
  }
  const manifest = read.manifest;
  ctx.manifest = manifest;
  ctx.exportText = read.text;
  if (manifest.stage !== opts.stage) {
    throw new StepFailed(
      `snapshot ${opts.to} was taken of stage ${manifest.stage}, not ${opts.stage}`,
      { fix: `choose a snapshot of ${opts.stage} (goose snapshot list ${opts.stage})` },
    );
  }
  const v = validateExport(ctx.exportText, { stack });
  if (!v.ok) {
    throw new StepFailed(
      `snapshot ${opts.to} is not importable into stack ${stack}: ${v.errors.map((e) => e.message).join("; ")}`,
      { fix: "choose another snapshot", data: { errors: v.errors } },
    );
  }
  if (!v.intact && !opts.force) {
    const fix =
      "Repair the state (pulumi state repair) and take a new snapshot, or pass --force to import it anyway";
    throw new StepFailed(
      `snapshot ${opts.to} fails the integrity checks \`pulumi stack import\` makes:\n` +
        v.integrity.map((i) => `  - ${i.message}`).join("\n") +
        `\n${fix}`,
      { fix, data: { integrity: v.integrity } },
    );
  }
  ctx.current = await ports.engine.exportStack(opts.stage);
  const want = secretsProviderOf(ctx.current);
  const have = v.summary.secretsProvider;
  if (want && have && want !== have) {
    const fix = `Change the stack's secrets provider (pulumi stack change-secrets-provider) to "${have}" first, or pick a snapshot taken with "${want}"`;
    throw new StepFailed(
      `snapshot ${opts.to} uses the "${have}" secrets provider but stack ${stack} uses "${want}": its secrets would not decrypt after the import. ${fix}`,
      { fix },
    );
  }
  return {
    status: v.intact && v.warnings.length === 0 ? "passed" : "warned",
    detail:
      `snapshot ${opts.to} verifies: ${manifest.resourceCount} resources of stack ${stack}` +
      (v.intact ? "" : `; ${v.integrity.length} integrity issue(s) accepted with --force`) +
      (v.summary.pendingOperations.length > 0
        ? `; ${v.summary.pendingOperations.length} pending operation(s) will be dropped`
        : ""),
    data: { integrity: v.integrity, warnings: v.warnings, force: Boolean(opts.force) },
  };
};

export const dependencies: RollbackStepFn = async (ctx) => {
  const plugins = (ctx.manifest ?? ctx.listed).plugins;
  const dep = checkDependencies(plugins, pinnedProviderVersions(ctx.opts.repoRoot));
  if (!dep.ok) {
    throw new StepFailed(
      "provider versions do not match:\n" +
        dep.findings
          .filter((f) => f.severity === "error")
          .map((f) => `  - ${f.message}`)
          .join("\n"),
      {
        fix: "install the provider versions the snapshot was taken with, or choose another snapshot",
        data: { findings: dep.findings },
      },
    );
  }
  return {
    status: dep.findings.length > 0 ? "warned" : "passed",
    detail:
      dep.findings.length > 0
        ? dep.findings.map((f) => f.message).join("; ")
        : `${plugins.length} provider plugin(s) match the pinned versions`,
    data: { findings: dep.findings },
  };
};

export const compliance: RollbackStepFn = async (ctx) => {
  const { opts, ports } = ctx;
  const { violations } = await opts.analyze(JSON.parse(toImportable(ctx.exportText)), opts.stage, {
    ...(opts.policyPackDir ? { policyPackDir: opts.policyPackDir } : {}),
    ...(opts.policyPackConfigFile ? { policyPackConfigFile: opts.policyPackConfigFile } : {}),
    env: opts.env,
  });
  const mandatory = violations.filter((v) => v.enforcementLevel === "mandatory");
  const summary = {
    violations,
    mandatory: mandatory.length,
    advisory: violations.length - mandatory.length,
  };
  if (mandatory.length > 0 && !opts.acceptViolations) {
    const fix =
      "Choose another snapshot, or pass --accept-violations --reason TEXT (recorded as evidence)";
    throw new StepFailed(
      `the snapshot breaks ${mandatory.length} mandatory polic${mandatory.length === 1 ? "y" : "ies"} of the current pack:\n` +
        mandatory
          .map((v) => `  - ${v.policy}${v.urn ? ` on ${v.urn}` : ""}: ${v.message.split("\n")[0]}`)
          .join("\n") +
        `\n${fix}`,
      { fix, data: summary },
    );
  }
  if (mandatory.length > 0 && opts.acceptViolations) {
    await ports.evidence.append({
      kind: "rollback.accept-violations",
      stage: opts.stage,
      subject: subjectOf(ctx),
      data: { reason: opts.acceptViolations.reason, violations: mandatory, holder: opts.holder },
    });
    return {
      status: "warned",
      detail: `${mandatory.length} mandatory violation(s) accepted: ${opts.acceptViolations.reason}`,
      data: summary,
    };
  }
  return {
    status: violations.length > 0 ? "warned" : "passed",
    detail: `no mandatory violations (${summary.advisory} advisory)`,
    data: summary,
  };
};

export const recovery: RollbackStepFn = async (ctx) => {
  const { opts, ports } = ctx;
  if (opts.resume) {
    return {
      status: "skipped",
      detail: `resuming: recovery snapshot ${ctx.result.recoverySnapshotId ?? "(none recorded)"} was taken by the interrupted run`,
      data: { recovery: ctx.result.recoverySnapshotId },
    };
  }
  const { manifest: m } = await takeSnapshot({
    store: ports.store,
    evidence: ports.evidence,
    stage: opts.stage,
    source: ctx.current ? { text: ctx.current } : { engine: ports.engine },
    stack: ctx.stack,
    reason: `recovery before rollback to ${opts.to}`,
    keys: opts.keys,
    env: opts.env,
    repoRoot: opts.repoRoot,
    metrics: ctx.sink,
    now: ports.clock.now(),
  });
  ctx.result.recoverySnapshotId = m.id;
  ctx.recoveryDigest = m.plaintext.sha256;
  return { detail: `recovery snapshot ${m.id} of the current state`, data: { recovery: m.id } };
};

export const importState: RollbackStepFn = async (ctx) => {
  const { opts, ports } = ctx;
  if (opts.resume) {
    const done = ctx.checkpoint?.stages.filter((s) => s.status === "done").map((s) => s.name);
    return {
      status: "skipped",
      detail: `resuming: not imported again (the state holds the completed stages: ${done?.join(", ") || "none"})`,
    };
  }
  await referenceSnapshot(ports.store, opts.to, `rollback-${ports.clock.now().getTime()}`, {
    stage: opts.stage,
    recovery: ctx.result.recoverySnapshotId,
    holder: opts.holder,
  });
  const importable = toImportable(ctx.exportText);
  // What the import changes, shown before it happens (src/plan).
  const plan = planImport(opts.stage, ctx.current, importable);
  opts.onPlan?.(plan);
  const digest = planDigest(plan);
  await ports.engine.importStack(opts.stage, importable);
  if (opts.staged) {
    // From here a crash is resumable: the checkpoint says what the state holds.
    const at = ports.clock.now().toISOString();
    ctx.checkpoint = {
      kind: STAGED_CHECKPOINT_KIND,
      stage: opts.stage,
      to: opts.to,
      ...(ctx.result.recoverySnapshotId ? { recovery: ctx.result.recoverySnapshotId } : {}),
      startedAt: at,
      updatedAt: at,
      stages: [],
    };
    await writeCheckpoint(ports.store, ctx.checkpoint);
  }
  return {
    detail: `imported ${opts.to} into stack ${ctx.stack}; plan: ${summaryLine(plan)}`,
    data: { plan: { digest, summary: plan.summary } },
  };
};

export const refresh: RollbackStepFn = async (ctx) => {
  await ctx.ports.engine.refresh(ctx.opts.stage);
  return { detail: "refreshed the imported state against the infrastructure" };
};

export const update: RollbackStepFn = async (ctx) => {
  if (ctx.opts.staged) return stagedUpdate(ctx);
  const up = await ctx.ports.engine.up(ctx.opts.stage);
  return {
    detail: `update converged: ${JSON.stringify(up.resourceChanges)}`,
    data: { resourceChanges: up.resourceChanges },
  };
};

export const health: RollbackStepFn = async (ctx) => {
  if (healthTargets(ctx).length === 0) {
    return {
      status: "skipped",
      detail: "no Prometheus or Grafana URL given (--prometheus-url, --grafana-url)",
    };
  }
  const results = await waitStageHealthy(ctx);
  const bad = results.filter((r) => !r.ok);
  if (bad.length > 0) {
    // A 401 from Prometheus: goose's password is missing or was rotated, the stage may be fine.
    const refused = ctx.opts.health?.prometheusUrl && bad.some((b) => b.status === 401);
    throw new StepFailed(`not ready: ${bad.map((b) => b.detail).join("; ")}`, {
      fix: refused
        ? `${prometheusUnauthorizedHint(ctx.opts.env, { stage: ctx.opts.stage })}; then resume the rollback`
        : "inspect the stage's Prometheus and Grafana pods, then resume the rollback",
      data: { checks: results },
    });
  }
  return { detail: results.map((r) => r.detail).join("; ") };
};

export const annotation: RollbackStepFn = async (ctx) => {
  const { opts } = ctx;
  const url = opts.grafana?.url ?? opts.health?.grafanaUrl;
  if (!url) return { status: "skipped", detail: "no Grafana URL given" };
  const r = await fetch(`${url.replace(/\/$/, "")}/api/annotations`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(opts.grafana?.token ? { authorization: `Bearer ${opts.grafana.token}` } : {}),
    },
    body: JSON.stringify({
      time: ctx.ports.clock.now().getTime(),
      tags: ["goose", "rollback", opts.stage],
      text: `Rollback of ${opts.stage} to snapshot ${opts.to} (recovery ${ctx.result.recoverySnapshotId}) by ${opts.holder}`,
    }),
  });
  if (!r.ok) {
    throw new StepFailed(`Grafana refused the annotation: ${r.status} ${await r.text()}`, {
      fix: "check --grafana-url and GOOSE_GRAFANA_TOKEN (an editor's token)",
    });
  }
  return { detail: `annotation posted to ${url}` };
};

export const evidence: RollbackStepFn = async (ctx) => ({
  detail: `rollback of ${ctx.opts.stage} to ${ctx.opts.to} complete`,
  data: {
    recovery: ctx.result.recoverySnapshotId,
    steps: ctx.reports
      .filter((r) => r.name !== "evidence" && r.startedAt !== undefined)
      .map(stepView)
      .map((s) => ({ step: s.step, status: s.status, evidence: s.evidence })),
    acceptedViolations: ctx.opts.acceptViolations?.reason,
    force: Boolean(ctx.opts.force),
  },
});

/** The rollback's steps, in order. */
export const ROLLBACK_STEP_FUNCTIONS: ReadonlyArray<Step<RollbackStep, RollbackContext>> = [
  step("lock", lock),
  step("verify", verify),
  step("dependencies", dependencies),
  step("compliance", compliance),
  step("recovery", recovery),
  step("import", importState),
  step("refresh", refresh),
  step("update", update),
  step("health", health),
  step("annotation", annotation),
  step("evidence", evidence),
];

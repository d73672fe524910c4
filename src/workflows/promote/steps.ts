/**
 * The steps of a promotion, each a small function of the run's context (./context.ts): its
 * ports, configs and report. `promote` (./index.ts) runs them with the one step runner; tests
 * run one with fakes. Gate verdicts go through `gate`/`gates` (evidence, then stop on fail).
 */
import { hintContext, HINTS, type HintContext } from "../../gates/hints.js";
import { hostname } from "node:os";
import path from "node:path";
import {
  alertsGate,
  backupGate,
  loadEnrichment,
  loadTestGate,
  policyGate,
  rollbackGate,
  sbomGate,
  stageImages as sbomImages,
  vulnGate,
} from "../../gates/index.js";
import { loadComplianceRules } from "../../audit/index.js";
import type { Lease } from "../../locks/index.js";
import { assertNoClusterBlackout } from "../../locks/cluster.js";
import { snapshotKeyringFor } from "../../snapshots/index.js";
import { gooseCommand } from "../../command-line.js";
import { planDigest, resourceLabel, summaryLine } from "../../plan/index.js";
import { planStageUpdate } from "../plan.js";
import { takeSnapshot } from "../snapshot.js";
import { StepFailed, waitHealthy, type Step } from "../steps.js";
import { markTransitionStart } from "../transition-metrics.js";
import {
  prometheusAuthHeaders,
  prometheusUnauthorizedHint,
} from "../../monitoring/prometheus-credentials.js";
import { gate, gates, record, releaseSubjects, type PromoteContext } from "./context.js";
import type { PromotionStep, StepReport } from "./report.js";

type PromoteStepFn = (ctx: PromoteContext, s: StepReport) => Promise<void>;

/** How long verify waits for the target's health URL to answer 2xx. */
export const VERIFY_HEALTH_TIMEOUT_MS = 5_000;

export const lock: PromoteStepFn = async (ctx, s) => {
  const { from, to, opts, ports } = ctx;
  const ttl = opts.leaseTtlSeconds ?? 900;
  for (const stage of [from, to]) {
    ctx.leases.push(
      await ports.locks.acquire(stage, "promotion", {
        ttlSeconds: ttl,
        holder: opts.holder,
        reason: ctx.id,
      }),
    );
  }
  const heartbeat = setInterval(
    () => {
      for (let i = 0; i < ctx.leases.length; i++) {
        const l = ctx.leases[i] as Lease;
        ports.locks.heartbeat(l).then(
          (n) => (ctx.leases[i] = n),
          (err: unknown) => s.notes.push(`heartbeat failed: ${(err as Error).message}`),
        );
      }
    },
    Math.max(1000, (ttl * 1000) / 3),
  );
  heartbeat.unref();
  ctx.heartbeat = heartbeat;
  s.notes.push(`promotion leases on ${from} and ${to} held by ${opts.holder}`);
  for (const url of opts.blackoutSources ?? []) {
    await assertNoClusterBlackout(url, [from, to], {
      now: ports.clock.now(),
      blocked: "promotion",
    });
    s.notes.push(`no backup or scan job running on ${from} or ${to} (${url})`);
  }
  try {
    await markTransitionStart(ports.store, ctx.sink, "promotion", to);
  } catch (err) {
    s.notes.push(`metrics: ${(err as Error).message}`);
  }
  await record(ctx, s, {
    kind: "promotion.started",
    stage: to,
    subject: [],
    data: { from, to, actor: opts.holder, host: hostname(), mode: ports.engine.mode },
  });
};

/** The flags the hints gates print carry, so each runs as printed (src/gates/hints.ts). */
function hintsOf(ctx: PromoteContext): HintContext {
  return hintContext({
    offline: ctx.ports.engine.mode === "offline",
    store: ctx.ports.store,
    env: ctx.opts.env,
    cwd: ctx.opts.repoRoot,
  });
}

export const validate: PromoteStepFn = async (ctx, s) => {
  const { from, opts, ports } = ctx;
  const hints = hintsOf(ctx);
  await gate(
    ctx,
    s,
    await backupGate({
      stage: from,
      store: ports.store,
      intervalHours: ctx.fromCfg.backup.intervalHours,
      ...(opts.backupMetricsUrl ? { metricsUrl: opts.backupMetricsUrl } : {}),
      now: ports.clock.now(),
      hints,
    }),
    from,
  );
  // Both start a policy-pack process: run them side by side, then judge in order.
  const [drill, preview] = await Promise.all([
    rollbackGate({
      stage: from,
      store: ports.store,
      env: opts.env,
      // "rollback tested" covers the data too: a passing restore drill within the objective.
      restoreDrill: ctx.fromCfg.recovery,
      now: ports.clock.now(),
      trust: snapshotKeyringFor(opts.repoRoot, from, opts.env),
      policyPackDir: path.join(opts.repoRoot, "policy-pack"),
      hints,
      backupTarget: ctx.fromCfg.backup.target,
    }),
    policyGate(ports.engine, from, hints),
  ]);
  await gates(ctx, s, [drill, preview], from);
};

export const readiness: PromoteStepFn = async (ctx, s) => {
  const { to, opts } = ctx;
  const [alerts, preview] = await Promise.all([
    alertsGate({
      stage: to,
      repoRoot: opts.repoRoot,
      ...(opts.runRuleTests ? { runTests: true } : {}),
      // A simulated promotion (the demo) goes on without promtool, with a warning.
      promtoolOptional: ctx.ports.engine.mode === "offline",
    }),
    policyGate(ctx.ports.engine, to, hintsOf(ctx)),
  ]);
  await gates(ctx, s, [alerts, preview], to);
};

export const snapshot: PromoteStepFn = async (ctx, s) => {
  const { from, to, ports } = ctx;
  const { manifest, metrics } = await takeSnapshot({
    store: ports.store,
    evidence: { append: (input) => record(ctx, s, input) },
    stage: from,
    source: { engine: ports.engine },
    reason: `promotion ${ctx.id} (${from} → ${to})`,
    keys: ctx.keys,
    env: ctx.opts.env,
    repoRoot: ctx.opts.repoRoot,
    metrics: ctx.sink,
    now: ports.clock.now(),
  });
  ctx.snapshotSha = manifest.plaintext.sha256;
  ctx.report.snapshot = { id: manifest.id, sha256: manifest.plaintext.sha256 };
  s.notes.push(`snapshot ${manifest.id} (${manifest.resourceCount} resources)`);
  if (metrics?.error) s.notes.push(`snapshot metrics: ${metrics.error}`);
};

export const stageTests: PromoteStepFn = async (ctx, s) => {
  const { from, to, opts } = ctx;
  const scenario = opts.loadTest?.scenario ?? (from === "sandbox" ? "smoke" : "baseline");
  s.notes.push(`${scenario} against ${opts.target}`);
  await gate(
    ctx,
    s,
    await loadTestGate({
      cwd: opts.repoRoot,
      env: opts.env,
      stage: from,
      scenario,
      target: opts.target,
      ...(opts.loadTest?.configPath ? { configPath: opts.loadTest.configPath } : {}),
      ...(opts.loadTest?.baselinePath ? { baselinePath: opts.loadTest.baselinePath } : {}),
      reportDir: opts.loadTest?.reportDir ?? path.join(opts.repoRoot, ".goose/reports/loadtest"),
      requireBaseline: to === "production",
      hints: hintsOf(ctx),
    }),
    from,
  );
};

export const supplyChain: PromoteStepFn = async (ctx, s) => {
  const { to, opts, ports, security: sec } = ctx;
  const out = await sbomGate({
    repoRoot: opts.repoRoot,
    stage: to,
    config: ctx.toCfg,
    enrichment: loadEnrichment(sec.enrichmentFile),
    enrichmentFile: sec.enrichmentFile,
    store: ports.store,
  });
  await gate(ctx, s, out.result, to);
  if (!out.sbom) {
    throw new StepFailed("no SBOM was produced", { gate: "sbom", fix: "see the sbom gate" });
  }
  ctx.report.sbom = { key: out.sbom.key, sha256: out.sbom.digest };
  await gate(
    ctx,
    s,
    await vulnGate({
      store: ports.store,
      stage: to,
      sbom: out.sbom,
      dbFile: sec.dbFile,
      policyFile: sec.policyFile,
      allowListFile: sec.allowListFile,
      repoRoot: opts.repoRoot,
      now: ports.clock.now(),
      // The source stage's in-cluster Trivy results, under the target's compliance rules.
      inCluster: {
        results: opts.scanResults ?? ports.store,
        source: ctx.from,
        target: to,
        images: sbomImages(ctx.fromCfg).map((i) => i.ref),
        rules: loadComplianceRules(opts.repoRoot),
        namespace: ctx.fromCfg.namespace,
        simulated: ports.engine.mode === "offline",
      },
    }),
    to,
  );
};

export const decision: PromoteStepFn = async (ctx, s) => {
  const all = ctx.report.steps.flatMap((x) => x.gates);
  await record(ctx, s, {
    kind: "promotion.decision",
    stage: ctx.to,
    subject: releaseSubjects(ctx),
    data: {
      predicateType: "https://slsa.dev/verification_summary/v1",
      verifier: { id: "goose promote" },
      timeVerified: ctx.ports.clock.now().toISOString(),
      verificationResult: "PASSED",
      gates: all.map((g) => ({ gate: g.gate, verdict: g.verdict, summary: g.summary })),
    },
  });
};

/**
 * The target stage's plan before its deploy (src/plan): shown (`onPlan`, an info event), its digest
 * recorded as `gate.plan` evidence, and a plan that could lose data (deletes or replacements of
 * data-bearing resources) refused into compliance and production unless `allowDataLoss` gives a
 * reason, which is recorded.
 */
async function planBeforeDeploy(ctx: PromoteContext, s: StepReport): Promise<void> {
  const { to, opts } = ctx;
  const p = await planStageUpdate(ctx.ports.engine, to);
  if (!p) {
    s.notes.push(`no plan of ${to}: the engine renders none`);
    return;
  }
  opts.onPlan?.(p);
  ctx.emit({ type: "info", step: "deploy", message: `plan of ${to}: ${summaryLine(p)}` });
  const digest = planDigest(p);
  const losses = p.steps.filter((x) => x.dataLoss);
  const guarded = to !== "sandbox" && losses.length > 0;
  const verdict = guarded ? (opts.allowDataLoss ? "warn" : "fail") : "pass";
  const { dataLoss, create, update, replace, same } = p.summary;
  ctx.report.plan = {
    digest,
    summary: { create, update, replace, delete: p.summary.delete, same, dataLoss },
    ...(guarded && opts.allowDataLoss ? { allowDataLoss: opts.allowDataLoss } : {}),
  };
  s.notes.push(`plan of ${to} (sha256 ${digest.slice(0, 12)}…): ${summaryLine(p)}`);
  await record(ctx, s, {
    kind: "gate.plan",
    stage: to,
    subject: [{ name: `plan:${to}`, digest: { sha256: digest } }],
    data: {
      verdict,
      summary: summaryLine(p),
      details: {
        digest,
        against: p.against,
        counts: p.summary,
        dataLoss: losses.map((x) => ({ urn: x.urn, op: x.op, reason: x.dataLoss?.reason })),
      },
      ...(guarded && opts.allowDataLoss ? { allowDataLoss: opts.allowDataLoss } : {}),
    },
  });
  if (verdict === "fail") {
    const rerun = opts.rerunCommand ?? gooseCommand(["promote", ctx.from, to]);
    throw new StepFailed(
      `the plan of ${to} could lose data in ${losses.length} step(s): ` +
        losses.map((x) => `${x.op} ${resourceLabel(x)}`).join("; "),
      {
        gate: "plan",
        fix: `review the plan (goose preview ${to}${ctx.ports.engine.mode === "offline" ? " --offline" : ""} --diff); to deploy it anyway, rerun with the reason recorded: ${rerun} --allow-data-loss --reason "the data is restored from backup"`,
      },
    );
  }
}

export const deploy: PromoteStepFn = async (ctx, s) => {
  const { to } = ctx;
  await planBeforeDeploy(ctx, s);
  const up = await ctx.ports.engine.up(to, {
    onProgress: (m) => ctx.emit({ type: "info", step: "deploy", message: m }),
  });
  ctx.report.deployed = {
    resourceChanges: up.resourceChanges,
    outputs: Object.keys(up.outputs).sort(),
  };
  s.notes.push(
    `up ${to}: ${Object.entries(up.resourceChanges)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
  );
  if (!ctx.healthUrl && typeof up.outputs.prometheusUrl === "string") {
    ctx.healthUrl = `${up.outputs.prometheusUrl.replace(/\/$/, "")}/-/healthy`;
    // The stage's Prometheus asks for basic auth, health endpoints included (metrics-auth.ts).
    ctx.healthIsPrometheus = true;
  }
};

export const verify: PromoteStepFn = async (ctx, s) => {
  const { to, ports } = ctx;
  const exported = JSON.parse(await ports.engine.exportStack(to)) as {
    deployment?: { resources?: unknown[] };
  };
  const resources = exported.deployment?.resources?.length ?? 0;
  if (resources === 0) {
    throw new StepFailed(`the ${to} stack holds no resources after up`, {
      fix: `check the engine output: ${HINTS.preview(to, hintsOf(ctx))}`,
    });
  }
  const healthUrl = ctx.healthUrl;
  if (!healthUrl) {
    throw new StepFailed(`no health URL for ${to}`, { fix: "pass --health-url" });
  }
  // Prometheus' credentials go only to the Prometheus the stage's outputs name, never to a
  // --health-url of the user's choosing.
  const headers = ctx.healthIsPrometheus ? prometheusAuthHeaders(ctx.opts.env) : {};
  const h = await waitHealthy(healthUrl, {
    timeoutMs: VERIFY_HEALTH_TIMEOUT_MS,
    clock: ports.clock,
    ...(ctx.opts.healthProbe ? { probe: ctx.opts.healthProbe } : {}),
    headers,
  });
  s.notes.push(`${healthUrl}: ${h.status ?? h.error}`);
  await record(ctx, s, {
    kind: "promotion.verify",
    stage: to,
    subject: [],
    data: {
      predicateType: "https://in-toto.io/attestation/test-result/v0.1",
      result: h.ok ? "PASSED" : "FAILED",
      healthUrl,
      status: h.status ?? null,
      error: h.error ?? null,
      resources,
    },
  });
  if (!h.ok && h.status === 401 && ctx.healthIsPrometheus) {
    // Not a broken stage: goose lacks (or holds an outdated, rotated) password.
    throw new StepFailed(
      `${to} is deployed but its Prometheus refused goose's health check ${healthUrl} (HTTP 401)`,
      { fix: prometheusUnauthorizedHint(ctx.opts.env, { namespace: ctx.toCfg.namespace }) },
    );
  }
  if (!h.ok) {
    throw new StepFailed(
      `${to} is deployed but its health check ${healthUrl} answered ${h.status ?? h.error}`,
      {
        fix: rollbackAdvice(to, hintsOf(ctx)),
      },
    );
  }
};

export const recordPromotion: PromoteStepFn = async (ctx, s) => {
  await record(ctx, s, {
    kind: "promotion.completed",
    stage: ctx.to,
    subject: releaseSubjects(ctx),
    data: {
      predicateType: "https://in-toto.io/attestation/promotion-record",
      srcRef: ctx.from,
      dstRef: ctx.to,
      actor: ctx.opts.holder,
      resourceChanges: ctx.report.deployed?.resourceChanges ?? {},
    },
  });
};

const step = (name: PromotionStep, run: PromoteStepFn): Step<PromotionStep, PromoteContext> => ({
  name,
  run: (ctx, s) => run(ctx, s),
});

/** The promotion's steps, in order (PROMOTION_STEPS). */
export const PROMOTION_STEP_FUNCTIONS: ReadonlyArray<Step<PromotionStep, PromoteContext>> = [
  step("lock", lock),
  step("validate", validate),
  step("readiness", readiness),
  step("snapshot", snapshot),
  step("stage-tests", stageTests),
  step("supply-chain", supplyChain),
  step("decision", decision),
  step("deploy", deploy),
  step("verify", verify),
  step("record", recordPromotion),
];

/** After an unhealthy deploy: what to inspect (runs as printed), and the rollback (a template). */
function rollbackAdvice(to: string, hints: HintContext): string {
  const flags = [...(hints.offline ? ["--offline"] : []), ...hints.storeArgs].join(" ");
  return `inspect ${to} (${HINTS.preview(to, hints)}; its Prometheus and Grafana pods); if it stays unhealthy, pick a snapshot (${HINTS.snapshotList(to, hints)}) and roll back: goose rollback ${to} --to <snapshot-id>${flags ? ` ${flags}` : ""}`;
}

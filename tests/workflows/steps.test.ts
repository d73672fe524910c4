/**
 * The step runner and single workflow steps driven with fakes: in-memory evidence, locks and
 * engine, a fake clock (time moves only when a step sleeps) and a fake health probe. No network,
 * no timing: every wait is on the fake clock.
 */
import { afterAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { InputError } from "../../src/errors.js";
import type { StackEngine, UpResult } from "../../src/engine/types.js";
import type { GateResult } from "../../src/gates/types.js";
import { LeaseHeldError, type Lease } from "../../src/locks/index.js";
import type { StageName } from "../../src/config/stages.js";
import { openStore } from "../../src/store/index.js";
import { keySourceFromEnv, readManifest, toImportable } from "../../src/snapshots/index.js";
import {
  runSteps,
  StepFailed,
  stepReports,
  waitHealthy,
  type Clock,
  type EvidenceAppendInput,
  type HealthProbe,
  type LocksPort,
  type Step,
} from "../../src/workflows/steps.js";
import {
  PROMOTION_STEPS,
  runPromotion,
  type PromoteContext,
  type PromotionStep,
} from "../../src/workflows/promote/index.js";
import { gate, gates } from "../../src/workflows/promote/context.js";
import { deploy, verify } from "../../src/workflows/promote/steps.js";
import { health } from "../../src/workflows/rollback/steps.js";
import type { RollbackContext } from "../../src/workflows/rollback/context.js";
import { takeSnapshot, gitCommitOf } from "../../src/workflows/snapshot.js";
import { cleanupTempDirs, fixture, repoRoot, tempDir, TEST_KEY } from "../snapshots/helpers.js";

afterAll(() => cleanupTempDirs());

/** A clock that stands still until something sleeps. */
function fakeClock(start = Date.parse("2026-11-30T03:00:00Z")): Clock & { slept: number[] } {
  let t = start;
  const slept: number[] = [];
  return {
    slept,
    now: () => new Date(t),
    sleep: async (ms) => {
      slept.push(ms);
      t += ms;
    },
  };
}

/** Evidence kept in a list. */
function memoryEvidence() {
  const records: Array<EvidenceAppendInput & { id: string }> = [];
  return {
    records,
    append: async (input: EvidenceAppendInput) => {
      const rec = { ...input, id: `ev-${records.length + 1}` };
      records.push(rec);
      return { id: rec.id };
    },
    head: async () => (records.length ? { seq: records.length, hash: "sha256:fake" } : undefined),
  };
}

function fakeLocks(opts: { held?: boolean } = {}) {
  const released: string[] = [];
  const locks: LocksPort = {
    acquire: async (stage, kind, o) => {
      const lease = {
        stage,
        kind,
        holder: o.holder,
        token: `t-${stage}`,
        generation: 1,
        pid: 1,
        host: "h",
      } as unknown as Lease;
      if (opts.held) throw new LeaseHeldError(lease, `${stage} is held by a load-test lease`);
      return lease;
    },
    release: async (stage, kind) => {
      released.push(`${kind}:${stage}`);
    },
    heartbeat: async (l) => l,
    assertStageFree: async () => undefined,
  };
  return { locks, released };
}

class FakeEngine implements StackEngine {
  readonly mode = "offline" as const;
  ups: string[] = [];
  constructor(
    private readonly behaviour: { up?: () => Promise<UpResult>; exported?: string } = {},
  ) {}
  async preview(): Promise<never> {
    throw new Error("not used");
  }
  async up(stage: StageName): Promise<UpResult> {
    this.ups.push(stage);
    if (this.behaviour.up) return this.behaviour.up();
    return { resourceChanges: { same: 3 }, outputs: {} } as unknown as UpResult;
  }
  async refresh(): Promise<void> {}
  async exportStack(): Promise<string> {
    return this.behaviour.exported ?? JSON.stringify({ deployment: { resources: [{}] } });
  }
  async importStack(): Promise<void> {}
}

const probeAnswering =
  (...answers: Array<number | string>): HealthProbe =>
  async () => {
    const a = answers.length > 1 ? answers.shift()! : answers[0]!;
    return typeof a === "number" ? { status: a } : { error: a };
  };

/** A promotion context over fakes, as `promote` builds it over the real ports. */
function promoteContext(
  over: {
    engine?: FakeEngine;
    held?: boolean;
    probe?: HealthProbe;
    healthUrl?: string;
    env?: NodeJS.ProcessEnv;
  } = {},
) {
  const evidence = memoryEvidence();
  const { locks, released } = fakeLocks({ held: over.held ?? false });
  const engine = over.engine ?? new FakeEngine();
  const clock = fakeClock();
  const events: string[] = [];
  const ctx: PromoteContext = {
    opts: {
      from: "sandbox",
      to: "compliance",
      repoRoot,
      env: over.env ?? {},
      store: openStore(`file://${tempDir()}`, {}),
      engine,
      evidence,
      locks,
      holder: "tester@ci",
      target: "http://127.0.0.1:1",
      ...(over.probe ? { healthProbe: over.probe } : {}),
    },
    from: "sandbox",
    to: "compliance",
    id: "promo-test",
    ports: {
      engine,
      store: openStore(`file://${tempDir()}`, {}),
      evidence,
      locks,
      clock,
    },
    fromCfg: {} as PromoteContext["fromCfg"],
    toCfg: { namespace: "goose-compliance" } as PromoteContext["toCfg"],
    keys: keySourceFromEnv({ GOOSE_SNAPSHOT_KEY: TEST_KEY }),
    security: { dbFile: "", policyFile: "", allowListFile: "", enrichmentFile: "" },
    required: () => [],
    auditFile: "security/audit/collection-rules.yaml",
    report: {
      kind: "goldengoose.promotion.report/v1",
      id: "promo-test",
      from: "sandbox",
      to: "compliance",
      mode: "offline",
      actor: "tester@ci",
      startedAt: clock.now().toISOString(),
      finishedAt: "",
      durationMs: 0,
      result: "failed",
      steps: stepReports(PROMOTION_STEPS),
      evidence: { records: 0 },
    },
    emit: (e) => events.push(`${e.step}:${e.status ?? e.type}`),
    sink: { textfileDir: tempDir() },
    produced: new Map(),
    leases: [],
    snapshotSha: "",
    ...(over.healthUrl ? { healthUrl: over.healthUrl } : {}),
  };
  return { ctx, evidence, released, engine, clock, events };
}

const result = (g: string, verdict: GateResult["verdict"], fix?: string): GateResult =>
  ({
    gate: g,
    verdict,
    summary: `${g} ${verdict}`,
    subjects: [],
    details: {},
    durationMs: 1,
    ...(fix ? { fix } : {}),
  }) as unknown as GateResult;

const only = (
  name: PromotionStep,
  run: Step<PromotionStep, PromoteContext>["run"],
): Step<PromotionStep, PromoteContext> => ({ name, run });

describe("runSteps", () => {
  it("stops at the first failing step with its reason and fix, and never runs the rest", async () => {
    const ran: string[] = [];
    const steps: Array<Step<"a" | "b" | "c", null>> = [
      { name: "a", run: async () => void ran.push("a") },
      {
        name: "b",
        run: async () => {
          ran.push("b");
          throw new StepFailed("b broke", { fix: "mend b", data: { n: 1 } });
        },
      },
      { name: "c", run: async () => void ran.push("c") },
    ];
    const seen: string[] = [];
    const r = await runSteps(steps, null, {
      clock: fakeClock(),
      onStep: (s) => seen.push(`${s.name}:${s.status}`),
    });
    expect(r.ok).toBe(false);
    expect(ran).toEqual(["a", "b"]);
    expect(r.steps.map((s) => [s.name, s.status])).toEqual([
      ["a", "passed"],
      ["b", "failed"],
      ["c", "skipped"],
    ]);
    expect(r.failed?.failure.fix).toBe("mend b");
    expect(r.failed?.step.detail).toBe("b broke");
    expect(r.failed?.step.data).toEqual({ n: 1 });
    expect(seen).toEqual(["a:running", "a:passed", "b:running", "b:failed", "c:skipped"]);
  });

  it("keeps any other error as thrown (an input error stays one) behind a StepFailed", async () => {
    const r = await runSteps(
      [
        {
          name: "x",
          run: async () => {
            throw new InputError("no snapshot key", { fix: "set GOOSE_SNAPSHOT_KEY" });
          },
        },
      ],
      null,
      { defaultFix: "look" },
    );
    expect(r.failed?.error).toBeInstanceOf(InputError);
    expect(r.failed?.failure).toBeInstanceOf(StepFailed);
    expect(r.failed?.failure.fix).toBe("set GOOSE_SNAPSHOT_KEY");
    const plain = await runSteps(
      [{ name: "y", run: async () => Promise.reject(new Error("boom")) }],
      null,
      { defaultFix: "look" },
    );
    expect(plain.failed?.failure.reason).toBe("boom");
    expect(plain.failed?.failure.fix).toBe("look");
  });

  it("marks a step warned when one of its gates warned", async () => {
    const r = await runSteps(
      [{ name: "g", run: async (_c, s) => void s.gates.push(result("alerts", "warn")) }],
      null,
    );
    expect(r.steps[0]?.status).toBe("warned");
  });
});

describe("waitHealthy", () => {
  it("polls on the clock until the deadline and returns the last answer", async () => {
    const clock = fakeClock();
    const h = await waitHealthy("http://prom/-/ready", {
      timeoutMs: 2_000,
      intervalMs: 500,
      clock,
      probe: probeAnswering(503),
    });
    expect(h).toMatchObject({ ok: false, status: 503, detail: "http://prom/-/ready → 503" });
    expect(h.attempts).toBe(5);
    expect(clock.slept).toEqual([500, 500, 500, 500]);
  });

  it("returns as soon as the endpoint answers 2xx", async () => {
    const clock = fakeClock();
    const h = await waitHealthy("http://g/api/health", {
      timeoutMs: 30_000,
      clock,
      probe: probeAnswering("ECONNREFUSED", 503, 200),
    });
    expect(h).toMatchObject({ ok: true, status: 200, attempts: 3 });
  });
});

describe("rollback steps", () => {
  it("health: a stage that never gets ready fails the step after the timeout, on the clock", async () => {
    const clock = fakeClock();
    const ctx = {
      opts: {
        health: {
          prometheusUrl: "http://prom:9090/",
          timeoutMs: 30_000,
          probe: probeAnswering(503),
        },
      },
      ports: { clock },
    } as unknown as RollbackContext;
    const r = await runSteps([{ name: "health", run: health }], ctx, { clock });
    expect(r.failed?.failure.reason).toBe("not ready: http://prom:9090/-/ready → 503");
    expect(r.failed?.failure.fix).toMatch(/resume the rollback/);
    // 30 s passed on the fake clock, 250 ms at a time; none of it in real time.
    expect(clock.slept.reduce((a, b) => a + b, 0)).toBe(30_000);
    expect(r.steps[0]?.durationMs).toBe(30_000);
  });

  it("health: Prometheus' ready check logs in, Grafana's does not; a 401 says how to get the password", async () => {
    const sent = new Map<string, string | undefined>();
    const ctx = {
      opts: {
        stage: "production",
        env: { GOOSE_PROMETHEUS_PASSWORD: "pw-1" },
        health: {
          prometheusUrl: "http://prom:9090",
          grafanaUrl: "http://graf:3000",
          timeoutMs: 1_000,
          probe: (async (url, _t, headers) => {
            sent.set(url, headers?.["authorization"]);
            return { status: url.startsWith("http://prom") ? 401 : 200 };
          }) as HealthProbe,
        },
      },
      ports: { clock: fakeClock() },
    } as unknown as RollbackContext;
    const r = await runSteps([{ name: "health", run: health }], ctx, { clock: fakeClock() });
    expect(sent.get("http://prom:9090/-/ready")).toBe(
      `Basic ${Buffer.from("goose:pw-1").toString("base64")}`,
    );
    expect(sent.get("http://graf:3000/api/health")).toBeUndefined();
    expect(r.failed?.failure.fix).toContain(
      "the password from GOOSE_PROMETHEUS_PASSWORD was refused",
    );
    expect(r.failed?.failure.fix).toContain(`-n "$(pulumi stack output namespace -s production)"`);
    expect(r.failed?.failure.fix).toMatch(/then resume the rollback$/);
  });

  it("health: skipped without URLs", async () => {
    const ctx = { opts: {}, ports: { clock: fakeClock() } } as unknown as RollbackContext;
    const r = await runSteps([{ name: "health", run: health }], ctx);
    expect(r.steps[0]?.status).toBe("skipped");
  });
});

describe("promotion steps", () => {
  it("a failed gate stops the promotion with the gate's fix; every verdict is evidence", async () => {
    const { ctx, evidence, engine, released } = promoteContext();
    ctx.leases.push({ stage: "sandbox", token: "t" } as Lease);
    await runPromotion(ctx, [
      only("readiness", (c, s) =>
        gates(
          c,
          s,
          [result("alerts", "fail", "add a promtool test"), result("policy", "pass")],
          "compliance",
        ),
      ),
      only("deploy", deploy),
    ]);
    expect(ctx.report.result).toBe("failed");
    expect(ctx.report.failure).toMatchObject({
      step: "readiness",
      gate: "alerts",
      reason: "alerts fail",
      fix: "add a promtool test",
    });
    expect(ctx.report.failure?.resume).toMatch(/goose promote sandbox compliance/);
    // The passing verdict is recorded before the failing one, then the failure.
    expect(evidence.records.map((r) => r.kind)).toEqual([
      "gate.policy",
      "gate.alerts",
      "promotion.failed",
    ]);
    expect(evidence.records.every((r) => r.data.promotion === "promo-test")).toBe(true);
    expect(engine.ups).toEqual([]);
    const status = Object.fromEntries(ctx.report.steps.map((s) => [s.name, s.status]));
    expect(status.readiness).toBe("failed");
    expect(status.deploy).toBe("skipped");
    expect(released).toEqual(["promotion:sandbox"]);
  });

  it("a deploy that fails records promotion.failed naming the step and reason", async () => {
    const engine = new FakeEngine({ up: () => Promise.reject(new Error("cluster unreachable")) });
    const { ctx, evidence } = promoteContext({ engine });
    await runPromotion(ctx, [only("deploy", deploy), only("verify", verify)]);
    expect(engine.ups).toEqual(["compliance"]);
    expect(ctx.report.failure).toMatchObject({ step: "deploy", reason: "cluster unreachable" });
    const failed = evidence.records.find((r) => r.kind === "promotion.failed");
    expect(failed?.data).toMatchObject({
      from: "sandbox",
      to: "compliance",
      step: "deploy",
      reason: "cluster unreachable",
    });
    const deployReport = ctx.report.steps.find((s) => s.name === "deploy");
    expect(deployReport?.evidence).toEqual([failed?.id]);
    expect(ctx.report.steps.find((s) => s.name === "verify")?.status).toBe("skipped");
  });

  it("verify: an unhealthy target is a FAILED test result and a failure saying how to roll back", async () => {
    const { ctx, evidence, clock } = promoteContext({
      probe: probeAnswering(503),
      healthUrl: "http://prom/-/healthy",
    });
    await runPromotion(ctx, [only("verify", verify)]);
    expect(ctx.report.failure?.step).toBe("verify");
    expect(ctx.report.failure?.fix).toMatch(/goose rollback compliance --to/);
    expect(evidence.records[0]).toMatchObject({
      kind: "promotion.verify",
      data: { result: "FAILED", status: 503 },
    });
    expect(clock.slept.length).toBeGreaterThan(1);
  });

  it("verify: the deployed Prometheus gets goose's basic auth, a --health-url never; a 401 says how to log in", async () => {
    const sent: Array<[string, string | undefined]> = [];
    const recording =
      (status: number): HealthProbe =>
      async (url, _t, headers) => {
        sent.push([url, headers?.["authorization"]]);
        return { status };
      };
    const env = { GOOSE_PROMETHEUS_PASSWORD: "s3cret-pw" };
    const basic = `Basic ${Buffer.from("goose:s3cret-pw").toString("base64")}`;
    const prometheusUp = () =>
      new FakeEngine({
        up: async () =>
          ({
            resourceChanges: { same: 3 },
            outputs: { prometheusUrl: "http://prometheus.goose-compliance.svc:9090" },
          }) as unknown as UpResult,
      });
    // The health URL from the stage's outputs: its Prometheus, with the credentials.
    const ok = promoteContext({ engine: prometheusUp(), probe: recording(200), env });
    await runPromotion(ok.ctx, [only("deploy", deploy), only("verify", verify)]);
    expect(ok.ctx.report.failure).toBeUndefined();
    expect(sent).toEqual([["http://prometheus.goose-compliance.svc:9090/-/healthy", basic]]);
    // A health URL of the user's choosing gets no Prometheus password.
    sent.length = 0;
    const own = promoteContext({ probe: recording(200), env, healthUrl: "http://svc/healthz" });
    await runPromotion(own.ctx, [only("deploy", deploy), only("verify", verify)]);
    expect(sent).toEqual([["http://svc/healthz", undefined]]);
    // Refused (no password, or one read before a rotation): not "roll back", but how to log in.
    const refused = promoteContext({ engine: prometheusUp(), probe: recording(401) });
    await runPromotion(refused.ctx, [only("deploy", deploy), only("verify", verify)]);
    expect(refused.ctx.report.failure?.reason).toMatch(
      /refused goose's health check .* \(HTTP 401\)/,
    );
    expect(refused.ctx.report.failure?.fix).toContain("goose sent no credentials");
    expect(refused.ctx.report.failure?.fix).toContain(
      "kubectl get secret prometheus-basic-auth -n goose-compliance -o jsonpath='{.data.password}' | base64 -d > ~/.goose-prometheus && export GOOSE_PROMETHEUS_PASSWORD_FILE=~/.goose-prometheus",
    );
    expect(JSON.stringify(refused.ctx.report)).not.toContain("s3cret-pw");
    expect(JSON.stringify(ok.evidence.records)).not.toContain("s3cret-pw");
  });

  it("a held lease blocks the promotion (promotion.blocked) with how to wait or break it", async () => {
    const { ctx, evidence } = promoteContext({ held: true });
    const { lock } = await import("../../src/workflows/promote/steps.js");
    await runPromotion(ctx, [only("lock", lock)]);
    expect(ctx.report.result).toBe("blocked");
    expect(ctx.report.failure?.fix).toMatch(/goose lock release/);
    expect(evidence.records.map((r) => r.kind)).toEqual(["promotion.blocked"]);
  });

  it("an input error (a missing prerequisite) is rethrown, not reported as a failed check", async () => {
    const { ctx, released } = promoteContext();
    ctx.leases.push({ stage: "compliance", token: "t" } as Lease);
    await expect(
      runPromotion(ctx, [
        only("readiness", async () => {
          throw new InputError("promtool is not installed");
        }),
      ]),
    ).rejects.toBeInstanceOf(InputError);
    expect(released).toEqual(["promotion:compliance"]);
  });

  it("gate() passes a passing verdict through and records it", async () => {
    const { ctx, evidence } = promoteContext();
    const s = ctx.report.steps[0]!;
    await expect(gate(ctx, s, result("backup", "pass"), "sandbox")).resolves.toMatchObject({
      verdict: "pass",
    });
    expect(evidence.records.map((r) => r.kind)).toEqual(["gate.backup"]);
    expect(s.evidence).toEqual(["ev-1"]);
  });
});

describe("takeSnapshot", () => {
  it("stores the snapshot with its evidence, the repository's git commit and the stage's metrics", async () => {
    const store = openStore(`file://${tempDir()}`, {});
    const evidence = memoryEvidence();
    const metricsDir = tempDir();
    const text = toImportable(readFileSync(fixture("checkpoint-v4.json"), "utf8"));
    const engine = new FakeEngine({ exported: text });
    const { manifest, metrics } = await takeSnapshot({
      store,
      evidence,
      stage: "sandbox",
      source: { engine },
      reason: "test",
      keys: keySourceFromEnv({ GOOSE_SNAPSHOT_KEY: TEST_KEY }),
      env: {},
      repoRoot,
      metrics: { textfileDir: metricsDir },
    });
    expect(evidence.records.map((r) => r.kind)).toEqual(["snapshot"]);
    expect(manifest.evidence).toBe("ev-1");
    const commit = gitCommitOf(repoRoot);
    expect(commit).toMatch(/^[0-9a-f]{40}$/);
    expect((await readManifest(store, manifest.id))?.gitCommit).toBe(commit);
    expect(metrics?.published).toBe(join(metricsDir, "goldengoose_snapshots_sandbox.prom"));
    expect(readFileSync(metrics!.published!, "utf8")).toMatch(/stage="sandbox"/);
  });
});

describe("promotion deploy: the target's plan first (src/plan)", () => {
  const urn = (type: string, name: string) =>
    `urn:pulumi:compliance::golden-goose::${type}::${name}`;
  const pvc = {
    urn: urn("kubernetes:core/v1:PersistentVolumeClaim", "grafana-data"),
    custom: true,
    type: "kubernetes:core/v1:PersistentVolumeClaim",
    inputs: {
      metadata: { name: "grafana-data" },
      spec: { resources: { requests: { storage: "10Gi" } } },
    },
  };
  const cm = {
    urn: urn("kubernetes:core/v1:ServiceAccount", "sa"),
    custom: true,
    type: "kubernetes:core/v1:ServiceAccount",
    inputs: { metadata: { name: "sa" } },
  };
  const stack = (resources: unknown[]) =>
    ({
      version: 3,
      deployment: { manifest: { time: "", magic: "", version: "" }, resources },
    }) as unknown as import("../../src/pulumi-export/index.js").StackExport;

  /** The state holds a claim the program no longer renders: the plan deletes it. */
  class PlanningEngine extends FakeEngine {
    override async exportStack(): Promise<string> {
      return JSON.stringify(stack([pvc, cm]));
    }
    async renderExport() {
      return stack([cm]);
    }
  }

  it("a plan that loses data into compliance is refused before up, with the fix and gate.plan evidence", async () => {
    const engine = new PlanningEngine();
    const { ctx, evidence } = promoteContext({ engine });
    const plans: unknown[] = [];
    ctx.opts.onPlan = (p) => plans.push(p);
    await runPromotion(ctx, [only("deploy", deploy)]);
    expect(engine.ups).toEqual([]);
    expect(plans).toHaveLength(1);
    expect(ctx.report.failure).toMatchObject({
      step: "deploy",
      gate: "plan",
      reason: expect.stringContaining(
        "delete kubernetes:core/v1:PersistentVolumeClaim: grafana-data",
      ),
      fix: expect.stringContaining(
        'goose promote sandbox compliance --allow-data-loss --reason "the data is restored from backup"',
      ),
    });
    const g = evidence.records.find((r) => r.kind === "gate.plan")!;
    expect(g.data).toMatchObject({
      verdict: "fail",
      details: { counts: { delete: 1, dataLoss: 1 } },
    });
    expect(g.subject).toEqual([
      { name: "plan:compliance", digest: { sha256: ctx.report.plan!.digest } },
    ]);
    expect(evidence.records.map((r) => r.kind)).toEqual(["gate.plan", "promotion.failed"]);
  });

  it("--allow-data-loss with a reason deploys it and records the reason with the plan digest", async () => {
    const engine = new PlanningEngine();
    const { ctx, evidence } = promoteContext({ engine });
    ctx.opts.allowDataLoss = { reason: "grafana data is restored from the nightly backup" };
    await runPromotion(ctx, [only("deploy", deploy)]);
    expect(engine.ups).toEqual(["compliance"]);
    expect(ctx.report.plan).toMatchObject({
      summary: { delete: 1, dataLoss: 1, same: 1 },
      allowDataLoss: { reason: "grafana data is restored from the nightly backup" },
    });
    expect(evidence.records.find((r) => r.kind === "gate.plan")?.data).toMatchObject({
      verdict: "warn",
      allowDataLoss: { reason: "grafana data is restored from the nightly backup" },
    });
  });

  it("into sandbox the same plan deploys (no guard), and an engine without a plan notes it", async () => {
    const engine = new PlanningEngine();
    const { ctx, evidence } = promoteContext({ engine });
    ctx.to = "sandbox";
    await runPromotion(ctx, [only("deploy", deploy)]);
    expect(engine.ups).toEqual(["sandbox"]);
    expect(evidence.records.find((r) => r.kind === "gate.plan")?.data).toMatchObject({
      verdict: "pass",
    });
    const plain = promoteContext();
    await runPromotion(plain.ctx, [only("deploy", deploy)]);
    expect(plain.ctx.report.steps.find((s) => s.name === "deploy")?.notes).toContain(
      "no plan of compliance: the engine renders none",
    );
  });
});

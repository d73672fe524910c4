/**
 * The staged rollback's stages over the real offline engine (targeted updates of its state), a
 * real policy pack over the Analyzer protocol (one pack for every stage), a health endpoint on
 * loopback and a file store for the checkpoint. The program has the platform's component types,
 * each with a workload, and a guard at the stage level (as the namespace and NetworkPolicies are):
 * the pack's mandatory stack policy wants every workload covered by a guard at least as new, as
 * k8s-network-policy-coverage wants every pod covered by a NetworkPolicy.
 */
import { createServer, type Server } from "node:http";
import { mkdtempSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OfflineEngine, type StageProgram } from "../../src/engine/offline/engine.js";
import type { StackExport } from "../../src/engine/offline/state.js";
import { startExportAnalyzer, type ExportAnalyzer } from "../../src/policy/analyze.js";
import { openStore } from "../../src/store/index.js";
import {
  nextStage,
  planStages,
  readCheckpoint,
  runStagedUpdate,
  StageFailed,
  STAGED_CHECKPOINT_KIND,
  type StagedCheckpoint,
} from "../../src/workflows/rollback/staged.js";
import { makePack, removePacks, repoRoot } from "../engine/packs.js";

export const GUARD_PACK = `
import { PolicyPack } from "@pulumi/policy";
new PolicyPack("staged-guard", {
  enforcementLevel: "mandatory",
  policies: [{
    name: "guard-covers-workloads",
    description: "Every workload is covered by a guard at least as new.",
    validateStack: (args, report) => {
      const cms = args.resources.filter((r) => r.type === "kubernetes:core/v1:ConfigMap");
      const guard = Math.max(0, ...cms.filter((r) => r.props.data?.role === "guard").map((r) => Number(r.props.data.v)));
      for (const w of cms.filter((r) => r.props.data?.role === "workload")) {
        if (Number(w.props.data.v) > guard) report(w.name + " v" + w.props.data.v + " runs without a guard of its version (newest guard v" + guard + ")");
      }
    },
  }],
});
`;

export let version = 1;
export function setVersion(v: number) {
  version = v;
}

/** A component of one of the platform's types, holding a workload of the current version. */
class Part extends pulumi.ComponentResource {
  constructor(type: string, name: string, parent: pulumi.Resource) {
    super(type, name, {}, { parent });
    new k8s.core.v1.ConfigMap(
      `${name}-workload`,
      { data: { role: "workload", v: String(version) } },
      { parent: this },
    );
    this.registerOutputs({});
  }
}

export const program: StageProgram = (cfg) => {
  const stage = new (class extends pulumi.ComponentResource {
    constructor() {
      super("goldengoose:platform:Stage", `goose-${cfg.stage}`, {});
    }
  })();
  new k8s.core.v1.ConfigMap(
    "guard",
    { data: { role: "guard", v: String(version) } },
    { parent: stage },
  );
  new Part("goldengoose:backup:Backup", "backup", stage);
  new Part("goldengoose:monitoring:Prometheus", "prometheus", stage);
  new Part("goldengoose:monitoring:Grafana", "grafana", stage);
  new Part("goldengoose:security:Scanner", "scanner", stage);
  return { version };
};

let pack: string;
let analyzer: ExportAnalyzer;
let server: Server;
let base: string;
let healthyAnswers = Infinity;
let healthRequests = 0;

beforeAll(async () => {
  pack = makePack("staged-guard", GUARD_PACK, { "config/sandbox.json": "{}\n" });
  analyzer = await startExportAnalyzer("sandbox", { policyPackDir: pack, env: process.env });
  server = createServer((req, res) => {
    healthRequests++;
    const ok = healthRequests <= healthyAnswers;
    res.writeHead(ok ? 200 : 503).end(ok ? "ok" : "not ready");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 120_000);
afterAll(async () => {
  await analyzer?.close();
  await new Promise((r) => server.close(r));
  removePacks();
});

const engineAt = (stateDir: string) =>
  new OfflineEngine({ cwd: repoRoot, env: process.env, policyPackDir: pack, stateDir, program });
const byName = (text: string) =>
  new Map(
    (JSON.parse(text) as StackExport).deployment.resources!.map((r) => [
      r.urn.split("::").pop()!,
      r,
    ]),
  );
const v = (state: Map<string, { inputs?: Record<string, unknown> }>, name: string) =>
  (state.get(name)!.inputs!["data"] as { v: string }).v;

async function health(): Promise<string> {
  const r = await fetch(`${base}/-/ready`);
  if (!r.ok) throw new Error(`${base}/-/ready → ${r.status}`);
  return `${base}/-/ready → ${r.status}`;
}

function checkpoint(): StagedCheckpoint {
  const t = new Date().toISOString();
  return {
    kind: STAGED_CHECKPOINT_KIND,
    stage: "sandbox",
    to: "sandbox-test",
    startedAt: t,
    updatedAt: t,
    stages: [],
  };
}

describe("staged rollback: targeted stages, policy after each, health, checkpoint and resume", () => {
  it("plans the platform's components in the safe order, the rest in foundation", async () => {
    setVersion(1);
    const e = engineAt(mkdtempSync(join(tmpdir(), "goose-staged-")));
    await e.up("sandbox");
    const plan = planStages(JSON.parse(await e.exportStack("sandbox")) as StackExport);
    expect(plan.map((p) => p.name)).toEqual([
      "foundation",
      "backup",
      "prometheus",
      "grafana",
      "scanner",
      "converge",
    ]);
    const names = (i: number) => plan[i]!.targets!.map((u) => u.split("::").pop()).sort();
    expect(names(0).map((n) => n!.replace(/^default_.*/, "default (provider)"))).toEqual(
      ["default (provider)", "golden-goose-sandbox", "goose-sandbox", "guard"].sort(),
    );
    expect(names(1)).toEqual(["backup", "backup-workload"]);
    expect(names(4)).toEqual(["scanner", "scanner-workload"]);
    expect(plan[0]!.targetDependents).toBe(false);
    expect(plan[1]!.targetDependents).toBe(true);
    expect(plan[5]!.targets).toBeUndefined();
  });

  it("a workload before its guard breaks the mandatory policy: the order is what keeps the state compliant", async () => {
    setVersion(1);
    const e = engineAt(mkdtempSync(join(tmpdir(), "goose-staged-")));
    await e.up("sandbox");
    const plan = planStages(JSON.parse(await e.exportStack("sandbox")) as StackExport);
    setVersion(2);
    await e.up("sandbox", { targets: plan[1]!.targets!, targetDependents: true });
    const { violations } = await analyzer.analyze(JSON.parse(await e.exportStack("sandbox")));
    expect(violations.map((x) => [x.policy, x.enforcementLevel])).toEqual([
      ["guard-covers-workloads", "mandatory"],
    ]);
  });

  it("stops when health fails after a stage (completed stages recorded), then resumes to the state a full update gives", async () => {
    setVersion(1);
    const stateDir = mkdtempSync(join(tmpdir(), "goose-staged-"));
    const e = engineAt(stateDir);
    await e.up("sandbox"); // the imported snapshot's state
    setVersion(2); // the program the rollback converges to
    const store = openStore(`file://${mkdtempSync(join(tmpdir(), "goose-staged-store-"))}`, {});
    const cp = checkpoint();
    healthRequests = 0;
    healthyAnswers = 2; // healthy after foundation and backup, then not
    const run = (c: StagedCheckpoint) =>
      runStagedUpdate({
        stage: "sandbox",
        engine: e,
        store,
        checkpoint: c,
        analyze: (x) => analyzer.analyze(x),
        health: () => health(),
        now: () => new Date(),
      });
    const err = await run(cp).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(StageFailed);
    expect((err as StageFailed).stage).toBe("prometheus");
    expect((err as StageFailed).completed).toEqual(["foundation", "backup"]);
    const saved = (await readCheckpoint(store, "sandbox", "sandbox-test"))!;
    expect(saved.stages.map((s) => [s.name, s.status])).toEqual([
      ["foundation", "done"],
      ["backup", "done"],
      ["prometheus", "failed"],
    ]);
    expect(saved.stages[2]!.detail).toMatch(/→ 503/);
    // Every completed stage changed only its own part, and each state passed the policy.
    expect(saved.stages[0]!.resourceChanges).toMatchObject({ update: 1 });
    expect(saved.stages[1]!.resourceChanges).toMatchObject({ update: 1 });
    expect(saved.stages.every((s) => s.policy?.mandatory === 0)).toBe(true);
    const mid = byName(await e.exportStack("sandbox"));
    expect([
      v(mid, "guard"),
      v(mid, "backup-workload"),
      v(mid, "prometheus-workload"),
      v(mid, "grafana-workload"),
    ]).toEqual(["2", "2", "2", "1"]);
    expect(nextStage(saved)).toBe("prometheus");

    healthyAnswers = Infinity;
    const done = await run(saved);
    expect(done.completedAt).toBeDefined();
    expect(done.stages.map((s) => s.name)).toEqual([
      "foundation",
      "backup",
      "prometheus",
      "grafana",
      "scanner",
      "converge",
    ]);
    expect(done.stages.at(-1)!.resourceChanges).not.toHaveProperty("update");

    // The same program through one full update (an unstaged rollback's update step).
    const full = engineAt(mkdtempSync(join(tmpdir(), "goose-staged-")));
    await full.up("sandbox");
    const a = byName(await e.exportStack("sandbox"));
    const b = byName(await full.exportStack("sandbox"));
    expect([...a.keys()]).toEqual([...b.keys()]);
    for (const [k, r] of b) expect(a.get(k), k).toEqual(r);
  });
});

/**
 * The rollback workflow over real parts: a file store, the evidence chain, leases, the real
 * Analyzer client (analyzeExport) against small policy packs started as the CLI starts them,
 * health and annotation endpoints on loopback, and an engine double that serves the real
 * Pulumi fixtures as the stack's state (import/export/refresh/up recorded).
 */
import type { Plan } from "../../src/plan/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { openStore, type ObjectStore } from "../../src/store/index.js";
import { openEvidenceChain } from "../../src/evidence/index.js";
import { openLocks } from "../../src/locks/index.js";
import { analyzeExport } from "../../src/engine/index.js";
import type { StackEngine, UpResult } from "../../src/engine/types.js";
import type { StageName } from "../../src/config/stages.js";
import {
  createSnapshot,
  keySourceFromEnv,
  snapshotKeys,
  toImportable,
  verifySnapshot,
} from "../../src/snapshots/index.js";
import {
  rollback,
  RollbackFailedError,
  type RollbackOptions,
} from "../../src/workflows/rollback/index.js";
import { makePack, removePacks } from "../engine/packs.js";
import { cleanupTempDirs, fixture, repoRoot, tempDir, TEST_KEY } from "../snapshots/helpers.js";

class FixtureEngine implements StackEngine {
  readonly mode = "offline" as const;
  calls: string[] = [];
  imported: string[] = [];
  constructor(public state: string) {}
  async preview(): Promise<never> {
    throw new Error("preview is not part of a rollback");
  }
  async up(stage: StageName): Promise<UpResult> {
    this.calls.push(`up ${stage}`);
    return { resourceChanges: { same: 30 }, outputs: {} };
  }
  async refresh(stage: StageName): Promise<void> {
    this.calls.push(`refresh ${stage}`);
  }
  async exportStack(stage: StageName): Promise<string> {
    this.calls.push(`export ${stage}`);
    return this.state;
  }
  async importStack(stage: StageName, text: string): Promise<void> {
    this.calls.push(`import ${stage}`);
    this.imported.push(text);
    this.state = text;
  }
}

const CLEAN_PACK = `
import { PolicyPack } from "@pulumi/policy";
new PolicyPack("rollback-clean", {
  enforcementLevel: "mandatory",
  policies: [{
    name: "no-public-bucket",
    description: "Buckets are not public.",
    validateResource: (args, report) => {
      if (args.type === "aws:s3/bucket:Bucket" && args.props.acl === "public-read") report("public bucket");
    },
  }],
});
`;
const STRICT_PACK = `
import { PolicyPack } from "@pulumi/policy";
new PolicyPack("rollback-strict", {
  enforcementLevel: "mandatory",
  policies: [{
    name: "topics-need-display-name",
    description: "SNS topics carry a display name, so alerts say where they come from.",
    validateResource: (args, report) => {
      if (args.type === "aws:sns/topic:Topic" && !args.props.displayName) report("set displayName on the topic");
    },
  }],
});
`;

let cleanPack: string;
let strictPack: string;
let server: Server;
let base: string;
let ready = true;
const annotations: unknown[] = [];

beforeAll(async () => {
  cleanPack = makePack("rollback-clean", CLEAN_PACK, { "config/compliance.json": "{}\n" });
  strictPack = makePack("rollback-strict", STRICT_PACK, { "config/compliance.json": "{}\n" });
  server = createServer((req, res) => {
    if (req.url === "/-/ready" || req.url === "/api/health") {
      res.writeHead(ready ? 200 : 503).end(ready ? "ok" : "not ready");
      return;
    }
    if (req.url === "/api/annotations" && req.method === "POST") {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        annotations.push({ auth: req.headers.authorization, body: JSON.parse(body) });
        res.writeHead(200, { "content-type": "application/json" }).end('{"id":1}');
      });
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  removePacks();
  cleanupTempDirs();
});

interface World {
  store: ObjectStore;
  env: NodeJS.ProcessEnv;
  engine: FixtureEngine;
  target: string;
  opts: (extra?: Partial<RollbackOptions>) => RollbackOptions;
  /** Where the transition metrics textfile goes. */
  metricsDir: string;
}

async function world(
  targetFixture = "checkpoint-secrets.json",
  current = "checkpoint-v4.json",
): Promise<World> {
  const store = openStore(`file://${tempDir()}`, {});
  const env = { GOOSE_SNAPSHOT_KEY: TEST_KEY, GOOSE_EVIDENCE_KEY_FILE: join(tempDir(), "ev.pem") };
  const keys = keySourceFromEnv(env);
  const evidence = openEvidenceChain(store, env);
  const m = await createSnapshot(store, {
    stage: "compliance",
    source: fixture(targetFixture),
    stack: "foo",
    keys,
    evidence,
    reason: "known good",
  });
  const engine = new FixtureEngine(toImportable(readFileSync(fixture(current), "utf8")));
  const metricsDir = tempDir();
  return {
    store,
    env,
    engine,
    target: m.id,
    opts: (extra = {}) => ({
      stage: "compliance",
      to: m.id,
      store,
      engine,
      env,
      keys,
      locks: openLocks(store, { evidence }),
      evidence,
      analyze: analyzeExport,
      repoRoot,
      stack: "foo",
      holder: "tester@ci",
      policyPackDir: cleanPack,
      health: { prometheusUrl: base, grafanaUrl: base, timeoutMs: 1000 },
      grafana: { token: "t0ken" },
      metrics: { textfileDir: metricsDir },
      ...extra,
    }),
    metricsDir,
  };
}

async function failure(p: Promise<unknown>): Promise<RollbackFailedError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RollbackFailedError);
  return err as RollbackFailedError;
}

describe("rollback workflow", () => {
  it("imports, refreshes, updates, checks health, annotates and records every step", async () => {
    const w = await world();
    const plans: Plan[] = [];
    const result = await rollback(w.opts({ force: true, onPlan: (p) => plans.push(p) }));
    expect(result.ok).toBe(true);
    // The rollback's plan was shown before the import: the values that are secrets in the target
    // snapshot change, shown only as [secret]; the import's evidence carries its digest.
    expect(plans).toHaveLength(1);
    expect(plans[0]!.summary).toMatchObject({ create: 0, delete: 0, replace: 0 });
    expect(plans[0]!.summary.update).toBeGreaterThan(0);
    for (const s of plans[0]!.steps.filter((x) => x.op === "update")) {
      for (const d of s.diffs) expect(d).toMatchObject({ old: "[secret]", new: "[secret]" });
    }
    expect(result.steps.find((s) => s.step === "import")?.detail).toMatch(
      /plan: Resources: 0 to create, \d+ to update/,
    );
    // Transition metrics, as promote publishes them (kind rollback, success).
    const prom = readFileSync(join(w.metricsDir, "goldengoose_transitions.prom"), "utf8");
    expect(prom).toMatch(
      /goldengoose_transitions_total\{from="compliance",kind="rollback",result="success",stage="compliance"\} 1/,
    );
    expect(prom).toMatch(
      /goldengoose_transition_in_progress\{kind="rollback",stage="compliance"\} 0/,
    );
    expect(result.metrics?.published).toBe(join(w.metricsDir, "goldengoose_transitions.prom"));
    expect(result.steps.map((s) => [s.step, s.status])).toEqual([
      ["lock", "ok"],
      ["verify", "warning"], // the fixture's children come before their parents: --force
      ["dependencies", "ok"],
      ["compliance", "ok"],
      ["recovery", "ok"],
      ["import", "ok"],
      ["refresh", "ok"],
      ["update", "ok"],
      ["health", "ok"],
      ["annotation", "ok"],
      ["evidence", "ok"],
    ]);
    expect(w.engine.calls).toEqual([
      "export compliance",
      "import compliance",
      "refresh compliance",
      "up compliance",
    ]);
    // The import gets the export envelope built from the checkpoint, byte-identical resources.
    const imported = JSON.parse(w.engine.imported[0]!);
    const original = JSON.parse(readFileSync(fixture("checkpoint-secrets.json"), "utf8"));
    expect(imported.deployment).toEqual(original.checkpoint.latest);
    // The recovery snapshot holds the previous state and verifies.
    const recovery = result.recoverySnapshotId!;
    expect((await verifySnapshot(w.store, recovery, w.env)).ok).toBe(true);
    // Evidence: a record per step, an overall record; the chain verifies.
    const chain = openEvidenceChain(w.store, w.env);
    const kinds = (await chain.list({ stage: "compliance" })).map((r) => r.kind);
    for (const s of result.steps) expect(kinds).toContain(`rollback.${s.step}`);
    expect(kinds).toContain("rollback");
    expect((await chain.verify()).ok).toBe(true);
    // The lease is released; the target is marked as referenced by a rollback.
    expect(await openLocks(w.store).status("compliance")).toEqual([]);
    expect((await w.store.list(`snapshots/compliance/refs/${w.target}/`)).length).toBe(1);
    expect(annotations.at(-1)).toMatchObject({
      auth: "Bearer t0ken",
      body: { tags: ["goose", "rollback", "compliance"] },
    });
  });

  it("refuses a snapshot failing the integrity checks unless forced, naming the resource", async () => {
    const w = await world();
    const err = await failure(rollback(w.opts()));
    expect(err.result.failedStep).toBe("verify");
    expect(err.message).toMatch(
      /urn:pulumi:foo::countdown::aws:sns\/topic:Topic::countDown: its parent/,
    );
    expect(err.message).toMatch(/--force/);
    expect(err.message).toMatch(/Nothing was changed/);
    expect(w.engine.imported).toEqual([]);
    expect(await openLocks(w.store).status("compliance")).toEqual([]);
  });

  it("stops while another operation holds the stage", async () => {
    const w = await world();
    const locks = openLocks(w.store);
    await locks.acquire("compliance", "load-test", {
      ttlSeconds: 600,
      holder: "loadtester@ci",
      reason: "soak",
    });
    const err = await failure(rollback(w.opts({ force: true })));
    expect(err.result.failedStep).toBe("lock");
    expect(err.message).toMatch(/load-test lease of loadtester@ci/);
    expect(w.engine.calls).toEqual([]);
  });

  it("refuses a mandatory violation unless accepted with a reason, which becomes evidence", async () => {
    const w = await world();
    const err = await failure(rollback(w.opts({ force: true, policyPackDir: strictPack })));
    expect(err.result.failedStep).toBe("compliance");
    expect(err.message).toMatch(
      /topics-need-display-name on urn:pulumi:foo::countdown::aws:sns\/topic:Topic/,
    );
    expect(w.engine.imported).toEqual([]);

    const ok = await rollback(
      w.opts({
        force: true,
        policyPackDir: strictPack,
        acceptViolations: { reason: "incident 42: restore first" },
      }),
    );
    expect(ok.ok).toBe(true);
    expect(ok.steps.find((s) => s.step === "compliance")?.status).toBe("warning");
    const accepted = await openEvidenceChain(w.store, w.env).list({
      kind: "rollback.accept-violations",
    });
    expect(accepted).toHaveLength(1);
    expect(accepted[0]!.data.reason).toBe("incident 42: restore first");
  });

  it("refuses a snapshot whose secrets provider differs from the stack's", async () => {
    const w = await world();
    const cur = JSON.parse(w.engine.state);
    cur.deployment.secrets_providers = {
      type: "passphrase",
      state: { salt: "v1:AAAA:v1:BBBB:CCCC" },
    };
    w.engine.state = JSON.stringify(cur);
    const err = await failure(rollback(w.opts({ force: true })));
    expect(err.result.failedStep).toBe("verify");
    expect(err.message).toMatch(/"b64" secrets provider but stack foo uses "passphrase"/);
  });

  it("reports a provider the program no longer pins before anything changes", async () => {
    const doc = JSON.parse(readFileSync(fixture("checkpoint-v3.json"), "utf8"));
    const prov = "urn:pulumi:foo::countdown::pulumi:providers:gcp::default_8_1_0";
    doc.checkpoint.latest.resources.unshift({
      urn: prov,
      custom: true,
      id: "p1",
      type: "pulumi:providers:gcp",
      inputs: { version: "8.1.0" },
    });
    const p = join(tempDir(), "with-gcp.json");
    writeFileSync(p, JSON.stringify(doc, null, 4));
    const w = await world();
    const m = await createSnapshot(w.store, {
      stage: "compliance",
      source: p,
      stack: "foo",
      keys: keySourceFromEnv(w.env),
    });
    const err = await failure(rollback(w.opts({ force: true, to: m.id })));
    expect(err.result.failedStep).toBe("dependencies");
    expect(err.message).toMatch(/no longer pins @pulumi\/gcp/);
  });

  it("after a failure past the import, says how to undo with the recovery snapshot", async () => {
    const w = await world();
    ready = false;
    try {
      const err = await failure(rollback(w.opts({ force: true })));
      expect(err.result.failedStep).toBe("health");
      expect(readFileSync(join(w.metricsDir, "goldengoose_transitions.prom"), "utf8")).toMatch(
        /goldengoose_transitions_total\{from="compliance",kind="rollback",result="failed",stage="compliance"\} 1/,
      );
      expect(err.result.recoverySnapshotId).toBeDefined();
      expect(err.message).toContain(
        `goose rollback compliance --to ${err.result.recoverySnapshotId}`,
      );
      expect(w.engine.calls).toContain("up compliance");
    } finally {
      ready = true;
    }
  });

  it("refuses a tampered snapshot and a snapshot of another stage", async () => {
    const w = await world();
    const key = snapshotKeys.payload(w.target);
    const body = Buffer.from((await w.store.get(key))!.body);
    body[10]! ^= 0xff;
    await w.store.put(key, body);
    const err = await failure(rollback(w.opts({ force: true })));
    expect(err.result.failedStep).toBe("verify");
    expect(err.message).toMatch(/tampered/);
    await expect(rollback(w.opts({ stage: "production" }))).rejects.toThrow(/same stage/);
  });
});

describe("goose rollback (CLI) with the offline engine and the real policy pack", () => {
  async function goose(argv: string[], cwd: string, env: NodeJS.ProcessEnv) {
    const { runGoose } = await import("../helpers/cli.js");
    return runGoose(argv, { cwd, env });
  }

  it("snapshot create --offline, then rollback --offline end to end; usage errors exit 2", async () => {
    const { symlinkSync } = await import("node:fs");
    const { createEngine } = await import("../../src/engine/index.js");
    // A project directory of its own (state and store under it), sharing the repo's files.
    const cwd = tempDir("goose-rollback-e2e-");
    for (const f of [
      "Pulumi.yaml",
      "Pulumi.sandbox.yaml",
      "Pulumi.compliance.yaml",
      "Pulumi.production.yaml",
      "policy-pack",
      "monitoring",
      "package.json",
      "node_modules",
    ]) {
      symlinkSync(join(repoRoot, f), join(cwd, f));
    }
    const env = {
      ...process.env,
      GOOSE_SNAPSHOT_KEY: TEST_KEY,
      GOOSE_EVIDENCE_KEY_FILE: join(cwd, "ev.pem"),
    };
    await createEngine("offline", { cwd, env }).up("sandbox");

    const c = await goose(
      ["snapshot", "create", "sandbox", "--offline", "--reason", "known good", "--json"],
      cwd,
      env,
    );
    expect(c.code, c.stderr).toBe(0);
    const snap = JSON.parse(c.stdout) as { id: string; resourceCount: number; stack: string };
    expect(snap.resourceCount).toBeGreaterThan(10);
    expect(snap.stack).toBe("sandbox");

    expect(
      (await goose(["rollback", "sandbox", "--to", snap.id, "--accept-violations"], cwd, env)).code,
    ).toBe(2);
    expect((await goose(["rollback", "production", "--to", snap.id], cwd, env)).code).toBe(2);

    const r = await goose(
      ["rollback", "sandbox", "--to", snap.id, "--offline", "--json"],
      cwd,
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as {
      ok: boolean;
      steps: Array<{ step: string; status: string }>;
      recoverySnapshotId: string;
    };
    expect(result.ok).toBe(true);
    expect(result.steps.find((s) => s.step === "compliance")?.status).not.toBe("failed");
    expect(result.steps.map((s) => s.step)).toEqual([
      "lock",
      "verify",
      "dependencies",
      "compliance",
      "recovery",
      "import",
      "refresh",
      "update",
      "health",
      "annotation",
      "evidence",
    ]);
    const v = await goose(["evidence", "verify", "--json"], cwd, env);
    expect(v.code, v.stderr).toBe(0);
    const list = JSON.parse(
      (await goose(["snapshot", "list", "sandbox", "--json"], cwd, env)).stdout,
    );
    expect(list.snapshots.map((s: { id: string }) => s.id)).toEqual([
      result.recoverySnapshotId,
      snap.id,
    ]);
  }, 90_000);
});

import { recordDrill } from "../../src/workflows/dr/state.js";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { openEvidenceChain } from "../../src/evidence/index.js";
import { captureIo } from "../evidence/cli-io.js";
import { openStore } from "../../src/store/index.js";
import type { PromotionReport } from "../../src/workflows/promote/index.js";
import { createWorkspace, type Workspace } from "./promote-fixture.js";

/**
 * Every secret value in an offline state file: Pulumi's secret objects carry `plaintext` (JSON) or,
 * with the b64 secrets provider, `ciphertext` (base64 of the JSON). Both forms count.
 */
function secretValues(stateFile: string): string[] {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") {
      const o = v as Record<string, unknown>;
      if (o["4dabf18193072939515e22adb298388d"] === "1b47061264138c4ac30d75fd1eb44270") {
        if (typeof o.plaintext === "string") out.push(String(JSON.parse(o.plaintext)));
        if (typeof o.ciphertext === "string") {
          out.push(
            o.ciphertext,
            String(JSON.parse(Buffer.from(o.ciphertext, "base64").toString("utf8"))),
          );
        }
      }
      Object.values(o).forEach(walk);
    }
  };
  walk(JSON.parse(readFileSync(stateFile, "utf8")));
  return out.filter((s) => s.length >= 6);
}

describe("goose promote sandbox compliance --offline, end to end", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await createWorkspace();
  });
  afterAll(async () => {
    await ws?.close();
  });

  it("refuses anything but the next stage with exit 2", async () => {
    const r = await ws.run(["promote", "sandbox", "production", "--offline", "--target", ws.url]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/one stage forward only, to compliance/);
    expect(
      (await ws.run(["promote", "compliance", "sandbox", "--offline", "--target", ws.url])).code,
    ).toBe(2);
    expect((await ws.run(["promote", "production", "nowhere", "--offline"])).code).toBe(2);
    // No snapshot key: a missing prerequisite, refused before anything runs.
    const { GOOSE_SNAPSHOT_KEY: _key, ...noKey } = ws.env;
    const io = captureIo(ws.dir, noKey);
    expect(
      await main(["promote", "sandbox", "compliance", "--offline", "--target", ws.url], io),
    ).toBe(2);
    expect(io.err()).toMatch(/GOOSE_SNAPSHOT_KEY/);
    expect(JSON.parse((await ws.run(["lock", "status", "--json"])).out).leases).toEqual([]);
  });

  it("is blocked by a held scan lease, naming it, and records the block", async () => {
    expect(
      (
        await ws.run([
          "lock",
          "acquire",
          "sandbox",
          "--kind",
          "scan",
          "--ttl",
          "300",
          "--holder",
          "trivy-nightly",
        ])
      ).code,
    ).toBe(0);
    const r = await ws.promote();
    expect(r.code).toBe(1);
    const report = JSON.parse(r.out) as PromotionReport;
    expect(report.result).toBe("blocked");
    expect(report.failure?.reason).toMatch(/scan lease of trivy-nightly/);
    expect(r.err).toMatch(/scan lease of trivy-nightly .* since .* expires at/);
    const chain = openEvidenceChain(openStore(ws.storeUrl, ws.env), ws.env);
    expect((await chain.list({ kind: "promotion.blocked" })).length).toBe(1);
    // On a terminal the steps are a live list redrawn in place.
    const io = { ...captureIo(ws.dir, ws.env), isTty: true };
    const code = await main(
      ["promote", "sandbox", "compliance", "--offline", "--target", ws.url],
      io,
    );
    expect(code).toBe(1);
    expect(io.err()).toContain("\x1b[");
    // A terminal gets colour too (src/cli/style.ts): the marks read the same without it.
    expect(io.err()).toContain("\x1b[31m✖\x1b[39m lock");
    const uncoloured = io.err().replace(new RegExp(`${String.fromCharCode(27)}\\[\\d+m`, "g"), "");
    expect(uncoloured).toMatch(/✖ lock/);
    expect(uncoloured).toMatch(/- record/);
    expect(
      (await ws.run(["lock", "release", "sandbox", "--kind", "scan", "--holder", "trivy-nightly"]))
        .code,
    ).toBe(0);
    // The promotion's own leases were withdrawn.
    expect(JSON.parse((await ws.run(["lock", "status", "--json"])).out).leases).toEqual([]);
  });

  it("promotes with every gate clean, records each step, and keeps secrets out", async () => {
    const r = await ws.promote();
    const report = JSON.parse(r.out) as PromotionReport;
    if (r.code !== 0)
      throw new Error(`promotion failed: ${JSON.stringify(report.failure)}\n${r.err}`);
    expect(report.result).toBe("promoted");
    const gates = report.steps.flatMap((s) => s.gates);
    expect(gates.map((g) => g.gate).sort()).toEqual(
      [
        "alerts",
        "backup",
        "load-test",
        "policy",
        "policy",
        "rollback",
        "sbom",
        "vulnerabilities",
      ].sort(),
    );
    expect(gates.filter((g) => g.verdict === "fail")).toEqual([]);
    expect(report.steps.every((s) => s.status === "passed" || s.status === "warned")).toBe(true);
    for (const g of gates)
      expect(g.subjects.length, `${g.gate} names what it looked at`).toBeGreaterThan(0);
    expect(report.deployed?.resourceChanges).toBeDefined();

    // Evidence: one record per gate plus the workflow's own, and the chain verifies.
    const store = openStore(ws.storeUrl, ws.env);
    const chain = openEvidenceChain(store, ws.env);
    const mine = (await chain.list()).filter((rec) => rec.data.promotion === report.id);
    const kinds = mine.map((rec) => rec.kind);
    expect(kinds).toContain("promotion.started");
    expect(kinds).toContain("snapshot");
    expect(kinds).toContain("promotion.decision");
    expect(kinds).toContain("promotion.verify");
    expect(kinds.at(-1)).toBe("promotion.completed");
    // The gates' verdicts, plus the target's plan before deploy (gate.plan, its digest as subject).
    expect(kinds.filter((k) => k.startsWith("gate.") && k !== "gate.plan").length).toBe(
      gates.length,
    );
    const planRecord = mine.find((rec) => rec.kind === "gate.plan");
    expect(planRecord?.data).toMatchObject({ verdict: "pass" });
    expect(planRecord?.subject).toEqual([
      { name: "plan:compliance", digest: { sha256: report.plan?.digest } },
    ]);
    expect((await ws.run(["evidence", "verify"])).code).toBe(0);

    // Reports: JSON, Markdown, a copy in the store; metrics in the textfile.
    const md = readFileSync(report.files?.markdown ?? "", "utf8");
    expect(md).toMatch(/## ✅ Promoted sandbox → compliance/);
    expect(md).toMatch(/\| vulnerabilities \| /);
    expect(await store.head(`promotions/${report.id}.json`)).toBeDefined();
    const prom = readFileSync(
      path.join(ws.dir, ".goose/metrics/goldengoose_transitions.prom"),
      "utf8",
    );
    expect(prom).toMatch(
      /goldengoose_transitions_total\{from="sandbox",kind="promotion",result="success",stage="compliance"\} 1/,
    );
    expect(prom).toMatch(
      /goldengoose_transitions_total\{from="sandbox",kind="promotion",result="blocked",stage="compliance"\} 2/,
    );
    expect(prom).toMatch(
      /goldengoose_transition_in_progress\{kind="promotion",stage="compliance"\} 0/,
    );

    // No secret value anywhere in reports or evidence.
    const secrets = [
      ws.env.GOOSE_EVIDENCE_KEY as string,
      ws.env.GOOSE_SNAPSHOT_KEY as string,
      ...secretValues(path.join(ws.dir, ".goose/offline-state/compliance.json")),
    ];
    expect(secrets.length).toBeGreaterThan(2);
    const reportsDir = path.join(ws.dir, ".goose/reports/promotions");
    const texts = [
      r.out,
      r.err,
      ...readdirSync(reportsDir).map((f) => readFileSync(path.join(reportsDir, f), "utf8")),
      readFileSync(path.join(ws.dir, ".goose/evidence/chain.jsonl"), "utf8"),
    ];
    for (const s of secrets) for (const t of texts) expect(t.includes(s)).toBe(false);
  });

  it("continues compliance → production: baseline load test, snapshot as the backup, production thresholds", async () => {
    // Production needs a compliance baseline (no baseline fails there) and a compliance snapshot.
    const { runLoadTest } = await import("../../src/workflows/loadtest/index.js");
    await runLoadTest({
      cwd: ws.dir,
      env: ws.env,
      stage: "compliance",
      scenario: "baseline",
      target: ws.url,
      configPath: "load-test/config/test.yaml",
      saveBaseline: true,
    });
    await ws.snapshot("compliance");
    // ... and a passing restore drill of compliance's data backups (goose dr drill).
    await recordDrill(ws.store, "compliance", "restore", {
      id: "drill-compliance-seed",
      at: new Date().toISOString(),
      passed: true,
      rpoSeconds: 60,
      rtoSeconds: 10,
      objectives: { rpoSeconds: 1800, rtoSeconds: 1200, drillMaxAgeHours: 168 },
    });
    const r = await ws.run([
      "promote",
      "compliance",
      "production",
      "--offline",
      "--target",
      ws.url,
      "--health-url",
      `${ws.url}/-/healthy`,
      "--loadtest-config",
      "load-test/config/test.yaml",
      "--json",
    ]);
    const report = JSON.parse(r.out) as PromotionReport;
    if (r.code !== 0)
      throw new Error(`promotion failed: ${JSON.stringify(report.failure)}\n${r.err}`);
    const gates = report.steps.flatMap((s) => s.gates);
    expect(gates.find((g) => g.gate === "load-test")?.details).toMatchObject({
      scenario: "baseline",
      baseline: "compared",
    });
    expect(gates.find((g) => g.gate === "backup")?.details).toMatchObject({
      source: expect.stringMatching(/^snapshots in /),
    });
    expect(gates.find((g) => g.gate === "vulnerabilities")?.details).toMatchObject({
      threshold: "MEDIUM",
    });
    expect((await ws.run(["evidence", "verify"])).code).toBe(0);
  });
});

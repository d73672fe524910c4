/**
 * A backup job running in the cluster (announced on the stage's Pushgateway by the job's own
 * shell step) blocks a promotion with exit 1, names the job, and is recorded as evidence.
 */
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blackoutPush } from "../../src/components/blackout.js";
import { openEvidenceChain } from "../../src/evidence/index.js";
import { openStore } from "../../src/store/index.js";
import type { PromotionReport } from "../../src/workflows/promote/index.js";
import { startPushgateway } from "../helpers/pushgateway.js";
import { createWorkspace, type Workspace } from "./promote-fixture.js";

let ws: Workspace;
let pg: { url: string; stop: () => void };
beforeAll(async () => {
  pg = await startPushgateway();
  ws = await createWorkspace();
});
afterAll(async () => {
  pg?.stop();
  await ws?.close();
});

function announce(value: 0 | 1, stage: string) {
  const r = spawnSync("bash", ["-c", blackoutPush("backup", value)], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", PUSHGATEWAY: pg.url, STAGE: stage },
  });
  expect(r.status).toBe(0);
}

describe("promotion and in-cluster blackouts", () => {
  it("is blocked while the target stage's backup job runs, and names it", async () => {
    announce(1, "compliance");
    const r = await ws.promote(["--blackout-source", pg.url]);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.out) as PromotionReport;
    expect(report.result).toBe("blocked");
    expect(report.failure?.reason).toMatch(/a backup job has been running in stage compliance/);
    const chain = openEvidenceChain(openStore(ws.storeUrl, ws.env), ws.env);
    expect((await chain.list({ kind: "promotion.blocked" })).length).toBe(1);
    // The promotion's own leases were withdrawn.
    expect(JSON.parse((await ws.run(["lock", "status", "--json"])).out).leases).toEqual([]);
  });

  it("goes past the lock step once the job has ended", async () => {
    announce(0, "compliance");
    const r = await ws.promote(["--blackout-source", pg.url]);
    const report = JSON.parse(r.out) as PromotionReport;
    const lock = report.steps.find((s) => s.name === "lock");
    expect(lock?.status).toBe("passed");
    expect(lock?.notes.join("\n")).toContain(
      `no backup or scan job running on sandbox or compliance (${pg.url})`,
    );
  });
});

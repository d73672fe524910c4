import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { createWorkspace, type Workspace } from "./promote-fixture.js";
import { expectStopsAt } from "./promote-gate-check.js";

// Gates on the source stage, each failing in turn on one workspace; each test restores its input.
describe("promotion stops at a failing source gate", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await createWorkspace();
  });
  afterAll(async () => {
    await ws?.close();
  });

  it("backup: the last backup is more than twice the interval old", async () => {
    const saved = ws.state.backupAt;
    ws.state.backupAt = Math.floor(Date.now() / 1000) - 3 * 86400;
    try {
      await expectStopsAt(
        ws,
        "validate",
        "backup",
        /last backup of sandbox is .*h old \(interval 12h\): more than twice/,
      );
    } finally {
      ws.state.backupAt = saved;
    }
  });

  it("rollback: the latest snapshot does not verify", async () => {
    const id = await ws.snapshotSandbox();
    const payload = path.join(ws.dir, ".goose/snapshots/sandbox", `${id}.payload`);
    const bytes = readFileSync(payload);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] ?? 0) ^ 0xff;
    writeFileSync(payload, bytes);
    try {
      await expectStopsAt(ws, "validate", "rollback", new RegExp(`snapshot ${id} does not verify`));
    } finally {
      await ws.snapshotSandbox(); // newer and intact
    }
  });

  it("rollback tested: no passing restore drill of the source stage within its objective", async () => {
    const key = path.join(ws.dir, ".goose/dr/sandbox/restore.json");
    const saved = readFileSync(key, "utf8");
    const state = JSON.parse(saved) as { lastPass: { at: string } };
    state.lastPass.at = new Date(Date.now() - 15 * 86400_000).toISOString(); // 360 h > 336 h
    writeFileSync(key, JSON.stringify(state));
    // The shipped sandbox only warns (recovery.drillRequiredToPromote: false); this workspace's
    // sandbox requires the drill, as compliance and production do.
    const stackFile = path.join(ws.dir, "Pulumi.sandbox.yaml");
    const stack = readFileSync(stackFile, "utf8");
    writeFileSync(
      stackFile,
      stack.replace("drillRequiredToPromote: false", "drillRequiredToPromote: true"),
    );
    try {
      await expectStopsAt(
        ws,
        "validate",
        "rollback",
        /the last passing restore drill of sandbox \(drill-sandbox-seed\) is 36\d(\.\d)? h old, more than recovery.drillMaxAgeHours 336 h/,
      );
    } finally {
      writeFileSync(key, saved);
      writeFileSync(stackFile, stack);
    }
  });

  it("load test: the service under test answers errors", async () => {
    ws.state.failing = true;
    try {
      await expectStopsAt(ws, "stage-tests", "load-test", /load test smoke failed/);
    } finally {
      ws.state.failing = false;
    }
  });

  it("verify: the target is deployed but unhealthy", async () => {
    ws.state.unhealthy = true;
    try {
      const report = await expectStopsAt(ws, "verify", undefined, /health check .*answered 503/);
      if (!report.deployed) throw new Error("the target should have been deployed before verify");
    } finally {
      ws.state.unhealthy = false;
    }
  });
});

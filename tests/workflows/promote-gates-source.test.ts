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

/**
 * A backup job running in the stage's cluster (announced on a real Pushgateway by the job's own
 * shell step, src/components/blackout.ts) blocks `goose rollback` right after its lease is taken:
 * exit 1, the job named, a `rollback.blocked` evidence record, the lease released, nothing
 * imported. Flags as promote's: --blackout-source (repeatable), GOOSE_BLACKOUT_SOURCES, default
 * --pushgateway / GOOSE_PUSHGATEWAY_URL.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blackoutPush } from "../../src/components/blackout.js";
import { openEvidenceChain } from "../../src/evidence/index.js";
import { openLocks } from "../../src/locks/index.js";
import { openStore } from "../../src/store/index.js";
import type { RollbackResult } from "../../src/workflows/rollback/index.js";
import { runGoose } from "../helpers/cli.js";
import { freePort, startPushgateway } from "../helpers/pushgateway.js";
import { cleanupTempDirs, fixture, tempDir, TEST_KEY } from "../snapshots/helpers.js";

let pg: { url: string; stop: () => void };
let cwd: string;
let env: NodeJS.ProcessEnv;
let target: string;

beforeAll(async () => {
  pg = await startPushgateway();
  cwd = tempDir();
  env = {
    GOOSE_SNAPSHOT_KEY: TEST_KEY,
    GOOSE_EVIDENCE_KEY_FILE: join(tempDir(), "evidence.pem"),
  };
  const c = await runGoose(
    [
      "snapshot",
      "create",
      "sandbox",
      "--from-file",
      fixture("checkpoint-secrets.json"),
      "--stack",
      "foo",
      "--json",
    ],
    { cwd, env },
  );
  expect(c.code, c.stderr).toBe(0);
  target = (JSON.parse(c.stdout) as { id: string }).id;
});
afterAll(() => {
  pg?.stop();
  cleanupTempDirs();
});

function announce(value: 0 | 1, stage: string): void {
  const r = spawnSync("bash", ["-c", blackoutPush("backup", value)], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", PUSHGATEWAY: pg.url, STAGE: stage },
  });
  expect(r.status, r.stderr.toString()).toBe(0);
}

async function rollbackCli(extra: string[], e: NodeJS.ProcessEnv = env) {
  const r = await runGoose(
    ["rollback", "sandbox", "--to", target, "--offline", "--stack", "foo", "--json", ...extra],
    { cwd, env: e },
  );
  return { ...r, result: r.stdout ? (JSON.parse(r.stdout) as RollbackResult) : undefined };
}

const store = () => openStore("file://.goose", env, { cwd });

describe("rollback and in-cluster blackouts", () => {
  it("is blocked while the stage's backup job runs: exit 1, named, recorded, lease released", async () => {
    announce(1, "sandbox");
    const r = await rollbackCli(["--blackout-source", pg.url]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.result?.failedStep).toBe("lock");
    expect(r.result?.blocked?.source).toBe(pg.url);
    expect(r.result?.blocked?.blackouts).toEqual([
      expect.objectContaining({ stage: "sandbox", kind: "backup" }),
    ]);
    expect(r.stderr).toMatch(/rollback: a backup job has been running in stage sandbox since/);
    expect(r.stderr).toContain("Nothing was changed");
    const chain = openEvidenceChain(store(), env);
    const blocked = await chain.list({ kind: "rollback.blocked" });
    expect(blocked).toHaveLength(1);
    expect(blocked[0]!.data).toMatchObject({ to: target, source: pg.url, step: "lock" });
    expect(blocked[0]!.subject[0]!.name).toBe(`snapshot:${target}`);
    expect((await chain.list({ kind: "rollback.lock" })).at(-1)?.data.status).toBe("failed");
    expect((await chain.verify()).ok).toBe(true);
    // The rollback's lease was released; nothing was referenced or recovered.
    expect(await openLocks(store()).status("sandbox")).toEqual([]);
    expect(await store().list(`snapshots/sandbox/refs/`)).toEqual([]);
  });

  it("takes its sources from GOOSE_BLACKOUT_SOURCES, else --pushgateway / GOOSE_PUSHGATEWAY_URL", async () => {
    const viaList = await rollbackCli([], {
      ...env,
      GOOSE_BLACKOUT_SOURCES: ` ${pg.url} ,`,
    });
    expect(viaList.code).toBe(1);
    expect(viaList.result?.blocked?.source).toBe(pg.url);
    const viaFlag = await rollbackCli(["--pushgateway", pg.url]);
    expect(viaFlag.result?.blocked?.source).toBe(pg.url);
    const viaEnv = await rollbackCli([], { ...env, GOOSE_PUSHGATEWAY_URL: pg.url });
    expect(viaEnv.result?.blocked?.source).toBe(pg.url);
  });

  it("a job on another stage does not block; once the job ends the lock step passes", async () => {
    announce(0, "sandbox");
    announce(1, "compliance");
    const r = await rollbackCli(["--blackout-source", pg.url]);
    const lock = r.result?.steps.find((s) => s.step === "lock");
    expect(lock?.status, r.stderr).toBe("ok");
    expect(lock?.detail).toContain(`no backup or scan job running on sandbox (${pg.url})`);
    expect(r.result?.blocked).toBeUndefined();
    // It goes on to verify (this fixture needs --force, so it stops there, unchanged).
    expect(r.result?.failedStep).toBe("verify");
    expect(await openLocks(store()).status("sandbox")).toEqual([]);
  });

  it("an unreachable Pushgateway is exit 2 naming the flag", async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const r = await rollbackCli(["--blackout-source", closed]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`cannot read in-cluster blackouts from ${closed}/api/v1/metrics`);
    expect(await openLocks(store()).status("sandbox")).toEqual([]);
  });
});

import { afterEach, describe, expect, it } from "vitest";
import { exitCodeOf } from "../../src/cli/errors.js";
import { CheckFailedError } from "../../src/errors.js";
import { leaseKey, openLocks } from "../../src/locks/index.js";
import { parseStressConfig, runScenario, withLoadTestLease } from "../../src/loadtest/index.js";
import { openStore } from "../../src/store/index.js";
import { startServer, tempDir, testConfig, type TestServer } from "./helpers.js";

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function setup(): Promise<{ server: TestServer; dir: string }> {
  const server = await startServer();
  const t = tempDir();
  cleanup.push(() => server.close(), t.cleanup);
  return { server, dir: t.dir };
}

const scenario = (duration: string) =>
  parseStressConfig(testConfig({ duration }), "t.yaml").scenarios.quick!;

describe("the load-test lease over a run", () => {
  it("is renewed by heartbeats beyond its TTL and released at the end", async () => {
    const { server, dir } = await setup();
    const store = openStore("file://store", {}, { cwd: dir });
    const locks = openLocks(store);
    const result = await withLoadTestLease(
      { store, stage: "sandbox", holder: "tester", ttlSeconds: 2 },
      async (signal, first) => {
        const r = await runScenario(scenario("3s"), { target: server.url, signal });
        const [held] = await locks.status("sandbox");
        expect(held).toMatchObject({ kind: "load-test", token: first.token, expired: false });
        expect(Date.parse(held!.heartbeatAt)).toBeGreaterThan(Date.parse(first.heartbeatAt));
        return r;
      },
    );
    expect(result.aborted).toBeUndefined();
    expect(await locks.status("sandbox")).toEqual([]);
  });

  it("a lost lease stops the run, which keeps what it measured", async () => {
    const { server, dir } = await setup();
    const store = openStore("file://store", {}, { cwd: dir });
    const lost: string[] = [];
    const result = await withLoadTestLease(
      {
        store,
        stage: "sandbox",
        holder: "tester",
        ttlSeconds: 3,
        onLost: (e) => lost.push(e.message),
      },
      async (signal) => {
        // Someone breaks the lease behind the run's back.
        setTimeout(() => void store.delete(leaseKey("sandbox", "load-test")), 300);
        return runScenario(scenario("20s"), { target: server.url, signal });
      },
    );
    expect(lost[0]).toContain("lease on sandbox was lost");
    expect(result.aborted?.reason).toBe("interrupted by the caller");
    expect(result.metrics.requests).toBeGreaterThan(0);
  });

  it("a backup on the stage does not block a load test; a rollback does", async () => {
    const { dir } = await setup();
    const store = openStore("file://store", {}, { cwd: dir });
    const locks = openLocks(store);
    await locks.acquire("production", "backup", { ttlSeconds: 60, holder: "backup-cron" });
    await expect(
      withLoadTestLease({ store, stage: "production", holder: "tester" }, async () => "ran"),
    ).resolves.toBe("ran");
    await locks.acquire("compliance", "rollback", { ttlSeconds: 60, holder: "oncall" });
    await expect(
      withLoadTestLease({ store, stage: "compliance", holder: "tester" }, async () => "ran"),
    ).rejects.toThrow("rollback lease of oncall");
    const blocked = await withLoadTestLease(
      { store, stage: "compliance", holder: "tester" },
      async () => "ran",
    ).catch((e: unknown) => e);
    expect(blocked).toBeInstanceOf(CheckFailedError);
    expect(exitCodeOf(blocked)).toBe(1);
  });
});

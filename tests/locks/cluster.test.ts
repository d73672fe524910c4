/**
 * In-cluster blackouts: the backup and scanner jobs' own shell steps announce themselves on a
 * real Pushgateway (Debian's prometheus-pushgateway, on loopback), and goose reads them.
 */
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blackoutPush } from "../../src/components/blackout.js";
import {
  assertNoClusterBlackout,
  ClusterBlackoutError,
  PushgatewayUnreachableError,
  readClusterBlackouts,
} from "../../src/locks/cluster.js";
import { freePort, startPushgateway } from "../helpers/pushgateway.js";
import { exitCodeOf } from "../../src/cli/errors.js";

let pg: { url: string; stop: () => void };
beforeAll(async () => {
  pg = await startPushgateway();
});
afterAll(() => pg?.stop());

/** Runs a job's shell step as the CronJob would, with the stage's environment. */
function runStep(
  shell: string,
  script: string,
  stage: string,
): { status: number | null; stderr: string } {
  const r = spawnSync(shell, ["-c", script], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      PUSHGATEWAY: pg.url,
      STAGE: stage,
      HOME: "/tmp",
    },
    encoding: "utf8",
  });
  return { status: r.status, stderr: r.stderr };
}

describe("blackouts announced by the batch jobs", () => {
  it("a backup announcement blocks transitions on its stage only", async () => {
    expect(runStep("bash", blackoutPush("backup", 1), "sandbox").status).toBe(0);
    const active = await readClusterBlackouts(pg.url);
    expect(active).toEqual([expect.objectContaining({ stage: "sandbox", kind: "backup" })]);
    await expect(assertNoClusterBlackout(pg.url, ["sandbox", "compliance"])).rejects.toThrow(
      /a backup job has been running in stage sandbox since .*expires at .* Wait for it to finish/,
    );
    await expect(
      assertNoClusterBlackout(pg.url, ["compliance", "production"]),
    ).resolves.toBeUndefined();
    expect(runStep("bash", blackoutPush("backup", 0), "sandbox").status).toBe(0);
    // The Pushgateway applies a DELETE asynchronously (202 Accepted): wait until it has.
    let left = await readClusterBlackouts(pg.url);
    for (let i = 0; left.length > 0 && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 50));
      left = await readClusterBlackouts(pg.url);
    }
    expect(left).toEqual([]);
  });

  it("the scanner's push announces a scan and its DELETE withdraws it", async () => {
    expect(runStep("bash", blackoutPush("scan", 1), "production").status).toBe(0);
    const err = await assertNoClusterBlackout(pg.url, ["production"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClusterBlackoutError);
    expect(exitCodeOf(err)).toBe(1);
    expect((err as Error).message).toMatch(/a scan job has been running in stage production/);
    expect(runStep("bash", blackoutPush("scan", 0), "production").status).toBe(0);
    // The Pushgateway applies a DELETE asynchronously (202 Accepted): wait until it has.
    let left = await readClusterBlackouts(pg.url);
    for (let i = 0; left.length > 0 && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 50));
      left = await readClusterBlackouts(pg.url);
    }
    await expect(assertNoClusterBlackout(pg.url, ["production"])).resolves.toBeUndefined();
  });

  it("an announcement past its own expiry counts as a lost job", async () => {
    const deadline = Math.floor(Date.now() / 1000) + 120;
    const push = blackoutPush("backup", 1, { deadline: String(deadline) });
    expect(runStep("bash", push, "compliance").status).toBe(0);
    const [b] = await readClusterBlackouts(pg.url);
    expect(b?.expires?.getTime()).toBe(deadline * 1000);
    // Its expiry counts, not the reader's fallback age: blocked just before, free at it.
    const before = new Date(deadline * 1000 - 1);
    expect(await readClusterBlackouts(pg.url, { now: before, maxAgeSeconds: 1 })).toHaveLength(1);
    expect(await readClusterBlackouts(pg.url, { now: new Date(deadline * 1000) })).toEqual([]);
    expect(runStep("bash", blackoutPush("backup", 0), "compliance").status).toBe(0);
  });

  it("a Pushgateway that does not answer is a missing prerequisite (exit 2)", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const err = await readClusterBlackouts(url, { timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PushgatewayUnreachableError);
    expect(exitCodeOf(err)).toBe(2);
    expect((err as Error).message).toContain("--pushgateway");
  });
});

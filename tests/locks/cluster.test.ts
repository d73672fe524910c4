/**
 * In-cluster blackouts: the backup and scanner jobs' own shell steps announce themselves on a
 * real Pushgateway (Debian's prometheus-pushgateway, on loopback), and goose reads them.
 */
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadStageConfigFile } from "../../src/config/index.js";
import { backupScripts } from "../../src/components/backup.js";
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
  const sandbox = loadStageConfigFile("Pulumi.sandbox.yaml");

  it("the backup job's announce step blocks transitions on its stage only", async () => {
    expect(runStep("bash", backupScripts(sandbox).announce, "sandbox").status).toBe(0);
    const active = await readClusterBlackouts(pg.url);
    expect(active).toEqual([expect.objectContaining({ stage: "sandbox", kind: "backup" })]);
    await expect(assertNoClusterBlackout(pg.url, ["sandbox", "compliance"])).rejects.toThrow(
      /a backup job has been running in stage sandbox since .* Wait for it to finish/,
    );
    await expect(
      assertNoClusterBlackout(pg.url, ["compliance", "production"]),
    ).resolves.toBeUndefined();
  });

  it("the upload step withdraws the blackout when it ends, even when the backup failed", async () => {
    // Nothing was collected in this sandbox, so upload reports both archives as failed…
    const r = runStep(
      "bash",
      backupScripts(sandbox).upload.replaceAll("/work/", "/nonexistent-goose/"),
      "sandbox",
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("backup of prometheus failed");
    // …pushes status 0 for each component, and its exit trap ends the blackout.
    expect(await readClusterBlackouts(pg.url)).toEqual([]);
    const text = await (await fetch(`${pg.url}/metrics`)).text();
    expect(text).toMatch(
      /goldengoose_backup_last_status\{component="prometheus",instance="",job="goldengoose-backup",stage="sandbox"\} 0/,
    );
    await expect(assertNoClusterBlackout(pg.url, ["sandbox"])).resolves.toBeUndefined();
  });

  it("the scanner's busybox-style wget push announces and withdraws a scan", async () => {
    expect(runStep("sh", blackoutPush("scan", 1, "wget"), "production").status).toBe(0);
    const err = await assertNoClusterBlackout(pg.url, ["production"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClusterBlackoutError);
    expect(exitCodeOf(err)).toBe(1);
    expect((err as Error).message).toMatch(/a scan job has been running in stage production/);
    expect(runStep("sh", blackoutPush("scan", 0, "wget"), "production").status).toBe(0);
    await expect(assertNoClusterBlackout(pg.url, ["production"])).resolves.toBeUndefined();
  });

  it("an announcement older than the jobs' deadline counts as a lost job", async () => {
    expect(runStep("bash", blackoutPush("backup", 1, "curl"), "compliance").status).toBe(0);
    expect(await readClusterBlackouts(pg.url)).toHaveLength(1);
    const later = new Date(Date.now() + 3601_000);
    expect(await readClusterBlackouts(pg.url, { now: later })).toEqual([]);
    expect(runStep("bash", blackoutPush("backup", 0, "curl"), "compliance").status).toBe(0);
  });

  it("a Pushgateway that does not answer is a missing prerequisite (exit 2)", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const err = await readClusterBlackouts(url, { timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PushgatewayUnreachableError);
    expect(exitCodeOf(err)).toBe(2);
    expect((err as Error).message).toContain("--pushgateway");
  });
});

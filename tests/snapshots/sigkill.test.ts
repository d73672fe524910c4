import { afterAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openStore } from "../../src/store/index.js";
import {
  createSnapshot,
  keySourceFromEnv,
  listSnapshots,
  verifySnapshot,
} from "../../src/snapshots/index.js";
import { allFiles, cleanupTempDirs, fixture, repoRoot, tempDir, TEST_KEY } from "./helpers.js";

afterAll(cleanupTempDirs);

/** A ~3 MB export built from the v3 fixture (resources repeated under new names). */
function biggerExport(dir: string): string {
  const doc = JSON.parse(readFileSync(fixture("checkpoint-v3.json"), "utf8"));
  const base = doc.checkpoint.latest.resources as Array<Record<string, unknown>>;
  const resources: unknown[] = [];
  for (let i = 0; i < 60; i++) {
    for (const r of base) {
      const urn = `${String(r.urn)}-${i}`;
      resources.push({ ...r, urn, parent: undefined, dependencies: [], propertyDependencies: {} });
    }
  }
  const p = join(dir, "big-export.json");
  writeFileSync(
    p,
    JSON.stringify({ version: 3, deployment: { ...doc.checkpoint.latest, resources } }, null, 2),
  );
  return p;
}

function runAndKill(storeDir: string, exportPath: string, delayMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(repoRoot, "tests/snapshots/create-child.ts"), storeDir, exportPath],
      {
        cwd: repoRoot,
        env: { ...process.env, GOOSE_SNAPSHOT_KEY: TEST_KEY },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.stdout.on("data", (d: Buffer) => {
      if (d.toString().includes("ready")) setTimeout(() => child.kill("SIGKILL"), delayMs);
    });
    child.on("exit", (code, signal) => {
      if (signal === "SIGKILL") resolve();
      else reject(new Error(`child exited with ${code} before it was killed: ${err}`));
    });
  });
}

describe("SIGKILL during create", () => {
  it("leaves no visible partial snapshot; everything listed verifies (24 trials)", async () => {
    const storeDir = tempDir();
    const exportPath = biggerExport(tempDir());
    const env = { GOOSE_SNAPSHOT_KEY: TEST_KEY };
    const trials = 24;
    // One create that completes first: on a loaded machine a create can take longer than every
    // random kill delay, and the checks below must not be vacuous.
    const first = await createSnapshot(openStore(`file://${storeDir}`, {}), {
      stage: "sandbox",
      source: exportPath,
      keys: keySourceFromEnv(env),
    });
    // Four children at a time, all writing to the same store, each killed at a random moment.
    for (let t = 0; t < trials; t += 4) {
      await Promise.all(
        Array.from({ length: 4 }, () =>
          runAndKill(storeDir, exportPath, Math.floor(Math.random() * 1500)),
        ),
      );
    }
    const store = openStore(`file://${storeDir}`, {});
    const listed = await listSnapshots(store, "sandbox");
    expect(listed.map((s) => s.id)).toContain(first.id);
    for (const s of listed) {
      expect(s.readable).toBe(true);
      const r = await verifySnapshot(store, s.id, env);
      expect(r.ok, `${s.id}: ${r.message}`).toBe(true);
    }
    // Every manifest has its payload; leftovers are only invisible temp files or orphan payloads.
    const keys = await store.list("snapshots/");
    for (const k of keys)
      expect(k).toMatch(/^snapshots\/sandbox\/sandbox-[^/]+\.(manifest\.json|payload)$/);
    const files = allFiles(storeDir).map((f) => f.path.slice(storeDir.length + 1));
    for (const f of files) {
      expect(f).toMatch(
        /^snapshots\/sandbox\/(sandbox-[^/]+\.(manifest\.json|payload)|\.goose-tmp-[^/]+)$/,
      );
    }
  }, 600_000); // liveness only: 24 child processes on a loaded 2-core machine can take minutes

  it("two processes creating at once both land, with distinct ids", async () => {
    const storeDir = tempDir();
    const run = () =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(
          process.execPath,
          [
            "--import",
            "tsx",
            join(repoRoot, "tests/snapshots/create-child.ts"),
            storeDir,
            fixture("checkpoint-v3.json"),
            "once",
          ],
          {
            cwd: repoRoot,
            env: { ...process.env, GOOSE_SNAPSHOT_KEY: TEST_KEY },
            stdio: ["ignore", "pipe", "inherit"],
          },
        );
        let out = "";
        // Never leave a child behind, whatever happens to this test.
        const guard = setTimeout(() => child.kill("SIGKILL"), 300_000);
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.on("exit", (code) => {
          clearTimeout(guard);
          const m = /id (\S+)/.exec(out);
          if (code === 0 && m) resolve(m[1]!);
          else reject(new Error(`child exited ${code}: ${out}`));
        });
      });
    const ids = await Promise.all([run(), run()]);
    expect(new Set(ids).size).toBe(2);
    const store = openStore(`file://${storeDir}`, {});
    const listed = (await listSnapshots(store, "sandbox")).map((s) => s.id).sort();
    expect(listed).toEqual([...ids].sort());
    for (const id of ids)
      expect((await verifySnapshot(store, id, { GOOSE_SNAPSHOT_KEY: TEST_KEY })).ok).toBe(true);
  }, 600_000);
});

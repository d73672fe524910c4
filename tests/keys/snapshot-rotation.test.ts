import { cpSync, readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/index.js";
import { runGoose } from "../helpers/cli.js";
import { startCasS3 } from "../store/s3rver.js";
import { harvest } from "../helpers/hints.js";
import { cleanupTempDirs, fixture, FIXTURES, repoRoot, tempDir } from "../snapshots/helpers.js";

const OLD = Buffer.alloc(32, 21).toString("base64");
const NEW = Buffer.alloc(32, 22).toString("base64");
const base = {
  PATH: process.env.PATH,
  USER: "rotator",
  GOOSE_EVIDENCE_KEY: Buffer.alloc(32, 23).toString("base64"),
};

afterAll(cleanupTempDirs);

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/**
 * Rotation end to end on one store: snapshots sealed under OLD are re-wrapped under NEW; every
 * payload stays byte for byte the same object (not re-encrypted); every snapshot verifies and
 * restores byte for byte under NEW; OLD is refused afterwards; a second run finds nothing to do.
 */
async function rotationOn(storeUrl: string, extraEnv: NodeJS.ProcessEnv) {
  const cwd = tempDir("goose-rotate-");
  cpSync(join(repoRoot, "security"), join(cwd, "security"), { recursive: true });
  const env = { ...base, ...extraEnv, GOOSE_HOME: cwd, HOME: cwd };
  const goose = (args: string[], e: NodeJS.ProcessEnv) =>
    runGoose([...args, "--store", storeUrl], { cwd, env: { ...env, ...e } });
  const withOld = { GOOSE_SNAPSHOT_KEY: OLD };
  const made: Array<{ id: string; file: string }> = [];
  for (const [stage, file] of [
    ["sandbox", FIXTURES[0]!],
    ["compliance", FIXTURES[1]!],
    ["production", FIXTURES[2]!],
  ] as const) {
    const c = await goose(
      ["snapshot", "create", stage, "--from-file", fixture(file), "--json"],
      withOld,
    );
    expect(c.code, c.stderr).toBe(0);
    made.push({ id: (JSON.parse(c.stdout) as { id: string }).id, file });
  }
  const store = openStore(storeUrl, { ...env }, { cwd });
  const payloadKey = (id: string) => `snapshots/${id.split("-")[0]}/${id}.payload`;
  const before = new Map<string, string>();
  for (const m of made) before.set(m.id, sha((await store.get(payloadKey(m.id)))!.body));

  // Without the old key: exit 2 naming it.
  const noOld = await goose(["keys", "rotate", "snapshot"], { GOOSE_SNAPSHOT_KEY: NEW });
  expect(noOld.code).toBe(2);
  expect(noOld.stderr).toContain("GOOSE_SNAPSHOT_KEY_OLD");

  const rot = await goose(["keys", "rotate", "snapshot", "--json"], {
    GOOSE_SNAPSHOT_KEY_OLD: OLD,
    GOOSE_SNAPSHOT_KEY: NEW,
  });
  expect(rot.code, rot.stderr).toBe(0);
  const report = JSON.parse(rot.stdout) as {
    kind: string;
    counts: Record<string, number>;
    snapshots: Array<{ id: string; outcome: string }>;
  };
  expect(report.kind).toBe("goldengoose.keys.rotation/v1");
  expect(report.counts).toEqual({ rewrapped: 3, already: 0, failed: 0 });
  expect(rot.stdout + rot.stderr).not.toContain(OLD);
  expect(rot.stdout + rot.stderr).not.toContain(NEW);

  for (const m of made) {
    // The payload object was not rewritten.
    expect(sha((await store.get(payloadKey(m.id)))!.body)).toBe(before.get(m.id));
    const v = await goose(["snapshot", "verify", m.id], { GOOSE_SNAPSHOT_KEY: NEW });
    expect(v.code, v.stderr + v.stdout).toBe(0);
    const out = `restored-${m.id}.json`;
    const r = await goose(["snapshot", "restore", m.id, "--out", out], { GOOSE_SNAPSHOT_KEY: NEW });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(cwd, out)).equals(readFileSync(fixture(m.file)))).toBe(true);
    // The old key is refused now, even when it is the only key configured.
    const old = await goose(["snapshot", "verify", m.id, "--json"], { GOOSE_SNAPSHOT_KEY: OLD });
    expect(old.code).toBe(1);
    expect(JSON.parse(old.stdout)).toMatchObject({ ok: false, problem: "wrong-key" });
    // GOOSE_SNAPSHOT_KEY_OLD is read by the rotation only.
    const sneaky = await goose(["snapshot", "verify", m.id], {
      GOOSE_SNAPSHOT_KEY: Buffer.alloc(32, 99).toString("base64"),
      GOOSE_SNAPSHOT_KEY_OLD: NEW,
    });
    expect(sneaky.code).toBe(1);
  }

  // Resumable and idempotent: a second run re-wraps nothing.
  const again = await goose(["keys", "rotate", "snapshot", "--json"], {
    GOOSE_SNAPSHOT_KEY_OLD: OLD,
    GOOSE_SNAPSHOT_KEY: NEW,
  });
  expect(JSON.parse(again.stdout).counts).toEqual({ rewrapped: 0, already: 3, failed: 0 });

  // A snapshot sealed under some third key cannot be rotated: exit 1, named, left alone.
  const stray = await goose(
    ["snapshot", "create", "sandbox", "--from-file", fixture(FIXTURES[0]!), "--json"],
    { GOOSE_SNAPSHOT_KEY: Buffer.alloc(32, 77).toString("base64") },
  );
  const strayId = (JSON.parse(stray.stdout) as { id: string }).id;
  const partial = await goose(["keys", "rotate", "snapshot", "--json"], {
    GOOSE_SNAPSHOT_KEY_OLD: OLD,
    GOOSE_SNAPSHOT_KEY: NEW,
  });
  expect(partial.code).toBe(1);
  const p = JSON.parse(partial.stdout) as typeof report;
  expect(p.counts).toEqual({ rewrapped: 0, already: 3, failed: 1 });
  expect(p.snapshots.find((s) => s.outcome === "failed")?.id).toBe(strayId);
  // The hint names the snapshot and runs as printed: with its key, the verify it prints passes.
  const text = await goose(["keys", "rotate", "snapshot"], {
    GOOSE_SNAPSHOT_KEY_OLD: OLD,
    GOOSE_SNAPSHOT_KEY: NEW,
  });
  const hints = harvest(text.stdout + text.stderr);
  expect(hints.map((h) => h.slice(0, 2).join(" "))).toEqual(["snapshot verify", "keys rotate"]);
  expect(hints[0]).toContain(strayId);
  const verified = await runGoose(hints[0]!, {
    cwd,
    env: { ...env, GOOSE_SNAPSHOT_KEY: Buffer.alloc(32, 77).toString("base64") },
  });
  expect(verified.code, verified.stderr).toBe(0);

  // The rotation is evidence, and `keys status` dates the snapshot key from it.
  const status = await goose(["keys", "status", "--stage", "production", "--json"], {
    GOOSE_SNAPSHOT_KEY: NEW,
  });
  const st = JSON.parse(status.stdout) as {
    secrets: Array<{ secret: string; status: string; ageDays?: number; source: string }>;
  };
  expect(st.secrets.find((s) => s.secret === "snapshot-key")).toMatchObject({
    status: "ok",
    ageDays: 0,
    source: expect.stringMatching(/key\.rotated/),
  });
}

describe("goose keys rotate snapshot", () => {
  it("re-wraps every snapshot on a file store; payloads untouched; old key refused after", async () => {
    const dir = tempDir("goose-rotate-store-");
    await rotationOn(`file://${dir}`, {});
  });

  it("does the same on an S3 store", async () => {
    const s3 = await startCasS3(); // s3rver behind the proxy that enforces conditional writes
    try {
      await rotationOn(`s3://${s3.bucket}/goose`, s3.env);
    } finally {
      await s3.close();
    }
  });
});

/**
 * The plan's baselines (src/plan/baseline.ts) with real parts: Pulumi's checkpoint fixture moved to
 * stack "sandbox", real snapshots in a file store sealed with a test key, a tampered snapshot, a
 * state file, a checkpoint file, and the errors (exit 2 kinds) naming their fix.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.js";
import { loadBaseline, parseAgainst, type BaselineContext } from "../../src/plan/baseline.js";
import { createSnapshot, keySourceFromEnv, snapshotKeys } from "../../src/snapshots/index.js";
import { openStore } from "../../src/store/index.js";
import { cleanupTempDirs, fixture, tempDir, TEST_KEY } from "../snapshots/helpers.js";

const env = { GOOSE_SNAPSHOT_KEY: TEST_KEY, GOOSE_EVIDENCE_KEY_FILE: join(tempDir(), "e.pem") };
const dir = tempDir("goose-plan-baseline-");
/** Pulumi's checkpoint fixture as an export of stack "sandbox". */
const exportText = (() => {
  const doc = JSON.parse(
    readFileSync(fixture("checkpoint-v3.json"), "utf8").replaceAll(
      "urn:pulumi:foo::",
      "urn:pulumi:sandbox::",
    ),
  ) as { version: number; checkpoint: { latest: unknown } };
  return JSON.stringify({ version: doc.version, deployment: doc.checkpoint.latest });
})();
const exportFile = join(dir, "export.json");
const store = openStore("file://.goose", env, { cwd: dir });
const ids: string[] = [];

function ctx(over: Partial<BaselineContext> = {}): BaselineContext & { notes: string[] } {
  const notes: string[] = [];
  return {
    stage: "sandbox",
    cwd: dir,
    statePath: join(dir, "no-state.json"),
    store: () => store,
    keys: () => env,
    note: (m) => notes.push(m),
    notes,
    ...over,
  };
}

beforeAll(async () => {
  writeFileSync(exportFile, exportText);
  for (const ago of [2, 1]) {
    const m = await createSnapshot(store, {
      stage: "sandbox",
      source: exportFile,
      keys: keySourceFromEnv(env),
      now: new Date(Date.now() - ago * 3_600_000),
    });
    ids.unshift(m.id); // newest first
  }
});
afterAll(cleanupTempDirs);

describe("--against", () => {
  it("parses the four forms and refuses anything else", () => {
    expect(parseAgainst(undefined)).toEqual({ kind: "default" });
    expect(parseAgainst("state")).toEqual({ kind: "state" });
    expect(parseAgainst("latest-snapshot")).toEqual({ kind: "latest-snapshot" });
    expect(parseAgainst("snapshot:sandbox-x")).toEqual({ kind: "snapshot", id: "sandbox-x" });
    expect(parseAgainst("file:a/b.json")).toEqual({ kind: "file", path: "a/b.json" });
    for (const bad of ["snapshot:", "file:", "latest", "State"]) {
      expect(() => parseAgainst(bad)).toThrow(InputError);
    }
  });
});

describe("loading a baseline", () => {
  it("state: the state file; missing, an InputError whose fix deploys or uses a snapshot", async () => {
    await expect(loadBaseline({ kind: "state" }, ctx())).rejects.toMatchObject({
      kind: "input",
      fix: expect.stringContaining("goose deploy sandbox --offline"),
    });
    const statePath = join(dir, "state.json");
    writeFileSync(statePath, exportText);
    const b = await loadBaseline({ kind: "state" }, ctx({ statePath }));
    expect(b.against).toEqual({ kind: "state", ref: statePath });
    expect(b.export?.deployment.resources).toHaveLength(30);
  });

  it("snapshot:<id> decrypts in memory; a snapshot of another stage is refused", async () => {
    const b = await loadBaseline({ kind: "snapshot", id: ids[1]! }, ctx());
    expect(b.against).toEqual({ kind: "snapshot", ref: ids[1] });
    expect(b.export?.deployment.resources).toHaveLength(30);
    const other = ids[1]!.replace(/^sandbox-/, "production-");
    await expect(loadBaseline({ kind: "snapshot", id: other }, ctx())).rejects.toThrow(
      /is of stage production, not sandbox/,
    );
  });

  it("latest-snapshot skips a newest snapshot that fails verification, with a note", async () => {
    const newest = await loadBaseline({ kind: "latest-snapshot" }, ctx());
    expect(newest.against.ref).toBe(ids[0]);
    const payload = join(dir, ".goose", snapshotKeys.payload(ids[0]!));
    const body = readFileSync(payload);
    body.writeUInt8(body.readUInt8(body.length - 5) ^ 0xff, body.length - 5);
    writeFileSync(payload, body);
    const c = ctx();
    const b = await loadBaseline({ kind: "latest-snapshot" }, c);
    expect(b.against).toEqual({ kind: "snapshot", ref: ids[1] });
    expect(c.notes.join("\n")).toContain(`snapshot ${ids[0]} skipped`);
  });

  it("default: the state when there is one, else the latest snapshot, else an empty stack", async () => {
    const statePath = join(dir, "state.json");
    expect((await loadBaseline({ kind: "default" }, ctx({ statePath }))).against.kind).toBe(
      "state",
    );
    expect((await loadBaseline({ kind: "default" }, ctx())).against.kind).toBe("snapshot");
    const emptyDir = tempDir("goose-plan-empty-");
    mkdirSync(join(emptyDir, ".goose"));
    const c = ctx({ store: () => openStore("file://.goose", env, { cwd: emptyDir }) });
    const none = await loadBaseline({ kind: "default" }, c);
    expect(none).toEqual({ export: undefined, against: { kind: "none" } });
    expect(c.notes[0]).toMatch(/planning against an empty stack/);
  });

  it("file: an export or a DIY checkpoint; another stack's export is refused", async () => {
    const cp = join(dir, "checkpoint.json");
    writeFileSync(
      cp,
      readFileSync(fixture("checkpoint-v3.json"), "utf8").replaceAll(
        "urn:pulumi:foo::",
        "urn:pulumi:sandbox::",
      ),
    );
    for (const f of [exportFile, cp]) {
      const b = await loadBaseline({ kind: "file", path: f }, ctx());
      expect(b.export?.deployment.resources).toHaveLength(30);
    }
    await expect(
      loadBaseline({ kind: "file", path: fixture("checkpoint-v3.json") }, ctx()),
    ).rejects.toThrow(/from a different stack \(foo != sandbox\)/);
    await expect(
      loadBaseline({ kind: "latest-snapshot" }, ctx({ stage: "production" })),
    ).rejects.toMatchObject({
      fix: expect.stringContaining("goose snapshot create production --offline"),
    });
  });
});

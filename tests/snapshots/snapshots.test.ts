import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { exitCodeOf } from "../../src/cli/errors.js";
import { openStore, type ObjectStore } from "../../src/store/index.js";
import {
  createSnapshot,
  keySourceFromEnv,
  KeyMissingError,
  listSnapshots,
  restoreSnapshot,
  SnapshotRejectedError,
  snapshotKeys,
  verifySnapshot,
  SnapshotVerifyError,
} from "../../src/snapshots/index.js";
import { startCasS3 as startS3rver, type RunningS3 } from "../store/s3rver.js";
import {
  allFiles,
  cleanupTempDirs,
  fixture,
  FIXTURES,
  fixtureSecrets,
  OTHER_KEY,
  tempDir,
  TEST_KEY,
  UNSUPPORTED,
} from "./helpers.js";

let s3: RunningS3;
beforeAll(async () => {
  s3 = await startS3rver();
});
afterAll(async () => {
  await s3.close();
  cleanupTempDirs();
});

const env = { GOOSE_SNAPSHOT_KEY: TEST_KEY };
let n = 0;
const stores: Array<[string, () => { store: ObjectStore; dir: () => string }]> = [
  [
    "file",
    () => {
      const d = tempDir();
      return { store: openStore(`file://${d}`, {}), dir: () => d };
    },
  ],
  [
    "s3",
    () => ({ store: openStore(`s3://${s3.bucket}/snap${n++}`, s3.env), dir: () => s3.directory }),
  ],
];

describe.each(stores)("%s store", (_name, make) => {
  it("round-trips every fixture byte for byte through create → restore", async () => {
    const { store } = make();
    const out = tempDir();
    for (const f of FIXTURES) {
      const m = await createSnapshot(store, {
        stage: "sandbox",
        source: fixture(f),
        stack: "foo",
        reason: `fixture ${f}`,
        keys: keySourceFromEnv(env),
      });
      expect(m.resourceCount).toBe(30);
      expect(m.stack).toBe("foo");
      expect(m.source.envelope).toBe("checkpoint");
      expect((await verifySnapshot(store, m.id, env)).ok).toBe(true);
      const target = join(out, f);
      await restoreSnapshot(store, m.id, env, target);
      expect(readFileSync(target).equals(readFileSync(fixture(f)))).toBe(true);
    }
    const listed = await listSnapshots(store, "sandbox");
    expect(listed).toHaveLength(3);
    // Newest first.
    expect(listed.map((l) => l.reason)).toEqual(FIXTURES.map((f) => `fixture ${f}`).reverse());
  });

  it("never stores a plaintext secret value from the fixtures", async () => {
    const { store, dir } = make();
    const m = await createSnapshot(store, {
      stage: "compliance",
      source: fixture("checkpoint-secrets.json"),
      keys: keySourceFromEnv(env),
    });
    const files = allFiles(dir());
    expect(files.length).toBeGreaterThan(1);
    const secrets = fixtureSecrets();
    expect(secrets.length).toBeGreaterThan(5);
    for (const f of files) {
      const text = f.body.toString("latin1");
      for (const s of secrets)
        expect(text.includes(s), `${s.slice(0, 12)}… in ${f.path}`).toBe(false);
      expect(text.includes(TEST_KEY)).toBe(false);
    }
    expect((await verifySnapshot(store, m.id, env)).ok).toBe(true);
  });

  it("refuses the v4 export with an unsupported feature and keeps nothing", async () => {
    const { store } = make();
    const err = await createSnapshot(store, {
      stage: "sandbox",
      source: fixture(UNSUPPORTED),
      keys: keySourceFromEnv(env),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SnapshotRejectedError);
    expect((err as Error).message).toMatch(/unsupported-feature/);
    expect(exitCodeOf(err)).toBe(2);
    expect(await store.list("snapshots/")).toEqual([]);
  });

  it("detects tampered ciphertext, a truncated payload, an edited manifest and a wrong key", async () => {
    const { store } = make();
    const take = () =>
      createSnapshot(store, {
        stage: "production",
        source: fixture("checkpoint-v3.json"),
        stack: "foo",
        keys: keySourceFromEnv(env),
      });

    const a = await take();
    const payload = (await store.get(snapshotKeys.payload(a.id)))!.body;
    const flipped = Buffer.from(payload);
    flipped[Math.floor(flipped.length / 2)]! ^= 0x01;
    await store.put(snapshotKeys.payload(a.id), flipped);
    const ra = await verifySnapshot(store, a.id, env);
    expect(ra).toMatchObject({ ok: false, problem: "tampered" });

    const b = await take();
    const pb = (await store.get(snapshotKeys.payload(b.id)))!.body;
    await store.put(snapshotKeys.payload(b.id), pb.subarray(0, pb.length - 100));
    expect(await verifySnapshot(store, b.id, env)).toMatchObject({
      ok: false,
      problem: "truncated",
    });

    const c = await take();
    const mc = JSON.parse((await store.get(snapshotKeys.manifest(c.id)))!.body.toString());
    mc.reason = "edited afterwards";
    await store.put(snapshotKeys.manifest(c.id), JSON.stringify(mc));
    const rc = await verifySnapshot(store, c.id, env);
    expect(rc).toMatchObject({ ok: false, problem: "manifest-edited" });
    expect(rc.message).toMatch(/edited/);

    const d = await take();
    const rd = await verifySnapshot(store, d.id, { GOOSE_SNAPSHOT_KEY: OTHER_KEY });
    expect(rd).toMatchObject({ ok: false, problem: "wrong-key" });
    expect(rd.message).toMatch(/wrong key/);

    // Restore refuses too, and writes nothing to --out.
    const out = join(tempDir(), "out.json");
    await expect(restoreSnapshot(store, a.id, env, out)).rejects.toBeInstanceOf(
      SnapshotVerifyError,
    );
    expect(existsSync(out)).toBe(false);
  });
});

describe("keys", () => {
  it("no key is exit 2 naming the fix; a passphrase works and a wrong one is detected", async () => {
    expect(() => keySourceFromEnv({})).toThrow(KeyMissingError);
    expect(() => keySourceFromEnv({})).toThrow(
      /GOOSE_SNAPSHOT_KEY.*GOOSE_SNAPSHOT_PASSPHRASE.*--kms-key/,
    );
    expect(() => keySourceFromEnv({ GOOSE_SNAPSHOT_KEY: "c2hvcnQ=" })).toThrow(/32 bytes/);
    const store = openStore(`file://${tempDir()}`, {});
    const penv = { GOOSE_SNAPSHOT_PASSPHRASE: "correct horse battery staple" };
    const m = await createSnapshot(store, {
      stage: "sandbox",
      source: fixture("checkpoint-v4.json"),
      keys: keySourceFromEnv(penv),
    });
    expect(m.key.type).toBe("passphrase");
    expect(JSON.stringify(m)).not.toContain("correct horse");
    expect((await verifySnapshot(store, m.id, penv)).ok).toBe(true);
    expect(await verifySnapshot(store, m.id, { GOOSE_SNAPSHOT_PASSPHRASE: "nope" })).toMatchObject({
      ok: false,
      problem: "wrong-key",
    });
    await expect(verifySnapshot(store, m.id, {})).rejects.toBeInstanceOf(KeyMissingError);
  });

  it("two creates at once land with distinct ids", async () => {
    const store = openStore(`file://${tempDir()}`, {});
    const ms = await Promise.all(
      Array.from({ length: 6 }, () =>
        createSnapshot(store, {
          stage: "sandbox",
          source: fixture("checkpoint-v3.json"),
          keys: keySourceFromEnv(env),
        }),
      ),
    );
    expect(new Set(ms.map((m) => m.id)).size).toBe(6);
    expect(await listSnapshots(store, "sandbox")).toHaveLength(6);
  });

  it("reports integrity issues and pending operations in the manifest", async () => {
    const store = openStore(`file://${tempDir()}`, {});
    const doc = JSON.parse(readFileSync(fixture("checkpoint-v3.json"), "utf8"));
    const r0 = doc.checkpoint.latest.resources[0];
    doc.checkpoint.latest.pending_operations = [{ resource: r0, type: "creating" }];
    const p = join(tempDir(), "with-pending.json");
    writeFileSync(p, JSON.stringify(doc));
    const m = await createSnapshot(store, {
      stage: "sandbox",
      source: p,
      keys: keySourceFromEnv(env),
    });
    expect(m.pendingOperations).toBe(1);
    // The fixture lists children before their parents (pulumi stack import refuses it without --force).
    expect(m.integrity.some((i) => i.code === "parent-order")).toBe(true);
  });
});

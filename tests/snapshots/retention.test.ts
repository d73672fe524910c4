import { afterAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/index.js";
import {
  collectEvidenceRefs,
  createSnapshot,
  keySourceFromEnv,
  listSnapshots,
  pinSnapshot,
  pruneSnapshots,
  referenceSnapshot,
  snapshotKeys,
} from "../../src/snapshots/index.js";
import { cleanupTempDirs, fixture, tempDir, TEST_KEY } from "./helpers.js";

afterAll(cleanupTempDirs);
const env = { GOOSE_SNAPSHOT_KEY: TEST_KEY };
const DAY = 86_400_000;

describe("retention", () => {
  it("keeps the last N and young ones, and never the protected kinds", async () => {
    const store = openStore(`file://${tempDir()}`, {});
    const now = new Date("2026-11-21T12:00:00Z");
    const ids: string[] = [];
    // Ten snapshots, one a day, oldest first: 10 … 1 days old.
    for (let i = 10; i >= 1; i--) {
      const m = await createSnapshot(store, {
        stage: "production",
        source: fixture("checkpoint-v3.json"),
        keys: keySourceFromEnv(env),
        now: new Date(now.getTime() - i * DAY),
        reason: `day -${i}`,
      });
      ids.push(m.id);
    }
    const [d10, d9, d8, d7, d6] = ids as [string, string, string, string, string];
    await pinSnapshot(store, d10);
    await referenceSnapshot(store, d9, "rollback-1", { by: "test" });
    const evidenceRefs = collectEvidenceRefs([
      { kind: "snapshot", subject: [{ name: `snapshot:${d7}` }] }, // its own record: not a reference
      { kind: "rollback", subject: [{ name: `snapshot:${d8}` }] },
    ]);
    // The three newest are broken, so the newest *verified* one is d7… no: d4 is the newest intact.
    const newestIntact = ids[6]!; // 4 days old
    for (const broken of ids.slice(7)) {
      const p = (await store.get(snapshotKeys.payload(broken)))!.body;
      await store.put(snapshotKeys.payload(broken), p.subarray(0, 10));
    }
    const policy = { keepLast: 2, maxAgeDays: 2 };
    const dry = await pruneSnapshots(store, "production", {
      policy,
      env,
      evidenceRefs,
      now,
      dryRun: true,
    });
    const kept = new Map(dry.keep.map((k) => [k.id, k.reasons]));
    expect(kept.get(d10)).toContain("pinned");
    expect(kept.get(d9)).toContain("referenced by a rollback");
    expect(kept.get(d8)).toContain("referenced by evidence");
    expect(kept.get(newestIntact)).toContain("newest verified");
    expect(kept.get(ids[9]!)).toEqual(
      expect.arrayContaining(["within keepLast", "younger than maxAgeDays"]),
    );
    expect(dry.remove.map((r) => r.id).sort()).toEqual([d7, d6, ids[5]!, ids[7]!].sort());
    // Dry run removed nothing.
    expect(await listSnapshots(store, "production")).toHaveLength(10);

    const applied = await pruneSnapshots(store, "production", { policy, env, evidenceRefs, now });
    expect(applied.remove).toHaveLength(4);
    const left = (await listSnapshots(store, "production")).map((s) => s.id);
    expect(left).toHaveLength(6);
    for (const id of [d10, d9, d8, newestIntact]) expect(left).toContain(id);
    expect(await store.head(snapshotKeys.payload(d7))).toBeUndefined();
  });

  it("removes orphan payloads of killed creates once they are an hour old", async () => {
    const store = openStore(`file://${tempDir()}`, {});
    await store.put("snapshots/sandbox/sandbox-20261120T000000000Z-0000abcd.payload", "x");
    await store.put(
      `snapshots/sandbox/sandbox-${new Date().toISOString().replace(/[-:]/g, "").replace(".", "")}-0000abce.payload`,
      "x",
    );
    const plan = await pruneSnapshots(store, "sandbox", {
      env,
      policy: { keepLast: 10, maxAgeDays: 14 },
    });
    expect(plan.orphans).toEqual(["sandbox-20261120T000000000Z-0000abcd.payload"]);
    expect(await store.list("snapshots/sandbox/")).toHaveLength(1);
  });
});

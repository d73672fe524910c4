import { describe, expect, it } from "vitest";
import { openEvidenceChain } from "../../src/evidence/index.js";
import {
  LeaseHeldError,
  LeaseLostError,
  LockStoreUnsupportedError,
  openLocks,
} from "../../src/locks/index.js";
import { MemoryStore } from "../evidence/memory-store.js";
import { exitCodeOf } from "../../src/cli/errors.js";

const T0 = Date.parse("2026-11-21T10:00:00Z");

function clock(start = T0) {
  let t = start;
  return { now: () => new Date(t), advance: (s: number) => (t += s * 1000) };
}

describe("operation leases", () => {
  it("grants one lease per stage and kind, naming the holder to the next caller", async () => {
    const c = clock();
    const locks = openLocks(new MemoryStore(), { now: c.now });
    const lease = await locks.acquire("sandbox", "scan", {
      ttlSeconds: 600,
      holder: "alice@ci",
      reason: "nightly",
    });
    expect(lease).toMatchObject({
      stage: "sandbox",
      kind: "scan",
      holder: "alice@ci",
      expiresAt: "2026-11-21T10:10:00.000Z",
    });
    const err = await locks
      .acquire("sandbox", "scan", { ttlSeconds: 60, holder: "bob" })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LeaseHeldError);
    expect((err as Error).message).toMatch(/held by a scan lease of alice@ci/);
    expect((err as Error).message).toMatch(/since 2026-11-21T10:00:00.000Z/);
    expect((err as Error).message).toMatch(/expires at 2026-11-21T10:10:00.000Z \(in 10m\)/);
    expect((err as Error).message).toMatch(
      /goose lock release sandbox --kind scan --force --reason/,
    );
    // Other stages and kinds are independent.
    await locks.acquire("compliance", "scan", { ttlSeconds: 60, holder: "bob" });
    await locks.acquire("sandbox", "backup", { ttlSeconds: 60, holder: "bob" });
  });

  it("lets a stale lease expire and be taken over; the old holder's heartbeat then fails", async () => {
    const c = clock();
    const locks = openLocks(new MemoryStore(), { now: c.now });
    const old = await locks.acquire("sandbox", "backup", { ttlSeconds: 30, holder: "alice" });
    c.advance(20);
    const renewed = await locks.heartbeat(old);
    expect(renewed.expiresAt).toBe("2026-11-21T10:00:50.000Z");
    c.advance(25);
    await expect(
      locks.acquire("sandbox", "backup", { ttlSeconds: 30, holder: "bob" }),
    ).rejects.toThrow(LeaseHeldError);
    c.advance(10);
    expect((await locks.status("sandbox"))[0]).toMatchObject({ expired: true, holder: "alice" });
    await locks.assertStageFree("sandbox");
    const bob = await locks.acquire("sandbox", "backup", { ttlSeconds: 30, holder: "bob" });
    expect(bob.holder).toBe("bob");
    await expect(locks.heartbeat(old)).rejects.toThrow(LeaseLostError);
    await expect(locks.release("sandbox", "backup", { token: old.token })).rejects.toThrow(
      /no longer ours/,
    );
  });

  it("blocks transitions during a blackout and blackouts during a transition", async () => {
    const c = clock();
    const locks = openLocks(new MemoryStore(), { now: c.now });
    await locks.acquire("compliance", "load-test", { ttlSeconds: 300, holder: "perf" });
    const err = await locks.assertStageFree("compliance").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LeaseHeldError);
    expect(exitCodeOf(err)).toBe(1);
    expect((err as Error).message).toMatch(/load-test lease of perf/);
    await expect(
      locks.acquire("compliance", "promotion", { ttlSeconds: 300, holder: "rel" }),
    ).rejects.toThrow(/load-test/);
    // The promotion withdrew its own lease.
    expect((await locks.status("compliance")).map((l) => l.kind)).toEqual(["load-test"]);
    await locks.release("compliance", "load-test", { holder: "perf" });
    const p = await locks.acquire("compliance", "promotion", { ttlSeconds: 300, holder: "rel" });
    await expect(
      locks.acquire("compliance", "scan", { ttlSeconds: 60, holder: "sec" }),
    ).rejects.toThrow(/promotion lease of rel/);
    await locks.assertStageFree("compliance", { ignoreTokens: [p.token] });
    await locks.release("compliance", "promotion", { token: p.token });
    expect(await locks.status()).toEqual([]);
  });

  it("refuses to release another holder's lease unless forced with a reason, and records the force", async () => {
    const store = new MemoryStore();
    const evidence = openEvidenceChain(store, {
      GOOSE_EVIDENCE_KEY: Buffer.alloc(32, 3).toString("base64"),
    });
    const locks = openLocks(store, { evidence });
    await locks.acquire("production", "scan", { ttlSeconds: 600, holder: "alice" });
    await expect(locks.release("production", "scan", { holder: "bob" })).rejects.toThrow(
      /belongs to alice/,
    );
    await expect(locks.release("production", "scan", { force: true })).rejects.toThrow(
      /needs --reason/,
    );
    await locks.release("production", "scan", {
      force: true,
      reason: "scanner pod evicted",
      holder: "bob",
    });
    expect(await locks.status()).toEqual([]);
    const recs = await evidence.list({ kind: "lock.force-release" });
    expect(recs).toHaveLength(1);
    expect(recs[0]?.data).toMatchObject({
      reason: "scanner pod evicted",
      by: "bob",
      lease: { holder: "alice" },
    });
    expect((await evidence.verify()).ok).toBe(true);
    await expect(locks.release("production", "scan")).rejects.toThrow(
      /no scan lease is held on production/,
    );
  });

  it("refuses a store that ignores conditional writes", async () => {
    const locks = openLocks(new MemoryStore(false));
    await expect(locks.acquire("sandbox", "scan", { ttlSeconds: 60, holder: "x" })).rejects.toThrow(
      LockStoreUnsupportedError,
    );
  });

  it("checks TTL and kind", async () => {
    const locks = openLocks(new MemoryStore());
    await expect(locks.acquire("sandbox", "scan", { ttlSeconds: 0, holder: "x" })).rejects.toThrow(
      /whole number of seconds/,
    );
    // @ts-expect-error: a kind outside the list
    await expect(locks.acquire("sandbox", "nap", { ttlSeconds: 5, holder: "x" })).rejects.toThrow(
      /unknown lease kind/,
    );
  });
});

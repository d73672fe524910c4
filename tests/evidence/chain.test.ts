import { generateKeyPairSync } from "node:crypto";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { beforeEach, describe, expect, it } from "vitest";
import { EVIDENCE_KEYS, openEvidenceChain, type EvidenceChain } from "../../src/evidence/index.js";
import { MemoryStore } from "./memory-store.js";

const seed = (byte: number) => Buffer.alloc(32, byte).toString("base64");
const KEY = seed(7);

function chainOf(store: MemoryStore, env: NodeJS.ProcessEnv = { GOOSE_EVIDENCE_KEY: KEY }) {
  return openEvidenceChain(store, env);
}

async function fill(chain: EvidenceChain, n: number) {
  for (let i = 1; i <= n; i++) {
    await chain.append({
      kind: "test.step",
      stage: i % 2 ? "sandbox" : "compliance",
      subject: [{ name: `thing-${i}`, digest: { sha256: "ab".repeat(32) } }],
      data: { i },
    });
  }
}

function lines(store: MemoryStore, key: string = EVIDENCE_KEYS.active): string[] {
  return (store.objects.get(key) ?? Buffer.alloc(0)).toString("utf8").split("\n").filter(Boolean);
}

function setLines(store: MemoryStore, ls: string[], key: string = EVIDENCE_KEYS.active) {
  store.objects.set(key, Buffer.from(ls.map((l) => l + "\n").join("")));
}

describe("evidence chain", () => {
  let store: MemoryStore;
  let chain: EvidenceChain;
  beforeEach(async () => {
    store = new MemoryStore();
    chain = chainOf(store);
    await fill(chain, 5);
  });

  it("appends canonical, chained, signed records that verify", async () => {
    const result = await chain.verify();
    expect(result).toMatchObject({ ok: true, records: 5, head: { seq: 5 } });
    const recs = await chain.list();
    expect(recs.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(recs[0]?.prev).toBe("sha256:" + "0".repeat(64));
    expect(recs[1]?.prev).toBe(recs[0]?.hash);
    expect(recs[4]?.id).toMatch(/^ev-5-[0-9a-f]{12}$/);
    expect(await chain.list({ stage: "compliance" })).toHaveLength(2);
    expect(lines(store)[0]).toBe(JSON.stringify(JSON.parse(lines(store)[0] ?? "")));
    expect(store.objects.has(EVIDENCE_KEYS.publicKey)).toBe(true);
  });

  it("names an edited record", async () => {
    const ls = lines(store);
    setLines(
      store,
      ls.map((l, i) => (i === 2 ? l.replace('"i":3', '"i":30') : l)),
    );
    const r = await chain.verify();
    expect(r.ok).toBe(false);
    expect(r.firstBad).toMatchObject({ seq: 3, line: 3 });
    expect(r.firstBad?.reason).toMatch(/signature does not verify/);
  });

  it("names a record edited into non-canonical JSON", async () => {
    const ls = lines(store);
    setLines(
      store,
      ls.map((l, i) => (i === 1 ? JSON.stringify(JSON.parse(l), null, 1).replace(/\n/g, "") : l)),
    );
    const r = await chain.verify();
    expect(r.firstBad).toMatchObject({ seq: 2 });
    expect(r.firstBad?.reason).toMatch(/canonical/);
  });

  it("names the place of a deleted record", async () => {
    const ls = lines(store);
    setLines(
      store,
      ls.filter((_, i) => i !== 1),
    );
    const r = await chain.verify();
    expect(r.ok).toBe(false);
    expect(r.firstBad).toMatchObject({ line: 2, seq: 3 });
    expect(r.firstBad?.reason).toMatch(/expected record 2/);
  });

  it("names reordered records", async () => {
    const ls = lines(store);
    setLines(store, [ls[0], ls[2], ls[1], ls[3], ls[4]] as string[]);
    const r = await chain.verify();
    expect(r.firstBad).toMatchObject({ line: 2, seq: 3 });
  });

  it("detects a renumbered deletion by the broken prev link", async () => {
    // Delete record 2 and re-sign nothing: even with seq fixed up, prev breaks.
    const ls = lines(store).map((l) => JSON.parse(l) as Record<string, unknown>);
    const kept = [ls[0], { ...ls[2], seq: 2 }].map((r) => JSON.stringify(r));
    setLines(store, kept);
    const r = await chain.verify();
    expect(r.ok).toBe(false);
    expect(r.firstBad?.seq).toBe(2);
  });

  it("detects truncation at the end through the signed head", async () => {
    setLines(store, lines(store).slice(0, 3));
    const r = await chain.verify();
    expect(r.ok).toBe(false);
    expect(r.firstBad).toMatchObject({ seq: 4 });
    expect(r.firstBad?.reason).toMatch(/truncated: head.json records seq 5/);
  });

  it("detects a record cut in the middle of its line", async () => {
    const body = store.objects.get(EVIDENCE_KEYS.active)?.toString("utf8") ?? "";
    store.objects.set(EVIDENCE_KEYS.active, Buffer.from(body.slice(0, body.length - 40)));
    const r = await chain.verify();
    expect(r.firstBad).toMatchObject({ seq: 5, line: 5 });
    expect(r.firstBad?.reason).toMatch(/not JSON/);
  });

  it("detects a wrong key: appending, verifying, and a record signed by another key", async () => {
    const other = chainOf(store, { GOOSE_EVIDENCE_KEY: seed(9) });
    await expect(other.append({ kind: "x", subject: [], data: {} })).rejects.toThrow(
      /wrong evidence key/,
    );
    const r = await other.verify();
    expect(r.ok).toBe(false);
    expect(r.firstBad?.reason).toMatch(/wrong key/);

    // A forger with another key appends a record and swaps the public key file.
    const forged = new MemoryStore();
    for (const [k, v] of store.objects) forged.objects.set(k, v);
    forged.objects.delete(EVIDENCE_KEYS.publicKey);
    forged.objects.delete(EVIDENCE_KEYS.head);
    const forger = chainOf(forged, { GOOSE_EVIDENCE_KEY: seed(9) });
    await forger.append({ kind: "forged", subject: [], data: {} });
    const pinned = openEvidenceChain(forged, {
      GOOSE_EVIDENCE_PUBLIC_KEY: (await chain.publicKey()) ?? "",
    });
    expect((await pinned.verify()).firstBad?.reason).toMatch(/wrong key/);
    // Put the right public key back: the forged record is named.
    forged.objects.set(
      EVIDENCE_KEYS.publicKey,
      store.objects.get(EVIDENCE_KEYS.publicKey) as Buffer,
    );
    const r2 = await openEvidenceChain(forged, {}).verify();
    expect(r2.firstBad).toMatchObject({ seq: 6 });
    expect(r2.firstBad?.reason).toMatch(/signed by ed25519:/);
  });

  it("keeps verifying across archived segments and retention tombstones", async () => {
    const rotated = await chain.rotate();
    expect(rotated.records).toBe(5);
    await fill(chain, 3);
    expect((await chain.list()).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(await chain.verify()).toMatchObject({ ok: true, records: 8 });
    const first = (await chain.list())[5];
    expect(first?.prev).toBe((await chain.list())[4]?.hash);

    // Retention: sandbox 1 day, others 30; records are "now", so a day later sandbox-only
    // segments would go but this one holds compliance records too.
    const later = new Date(Date.now() + 2 * 86_400_000);
    expect(
      (
        await chain.applyRetention({
          days: { sandbox: 1, compliance: 30, production: 30 },
          now: later,
        })
      ).pruned,
    ).toEqual([]);
    const muchLater = new Date(Date.now() + 31 * 86_400_000);
    const { pruned } = await chain.applyRetention({
      days: { sandbox: 1, compliance: 30, production: 30 },
      now: muchLater,
    });
    expect(pruned).toHaveLength(1);
    const v = await chain.verify();
    expect(v).toMatchObject({ ok: true, records: 4 });
    const last = (await chain.list()).at(-1);
    expect(last?.kind).toBe("evidence.retention");

    // Tampering inside an archive is still found.
    await chain.rotate();
    const archive = (await store.list(EVIDENCE_KEYS.archivePrefix)).find((k) =>
      k.endsWith(".jsonl.gz"),
    );
    expect(archive).toBeDefined();
    const archived = gunzipSync(store.objects.get(archive as string) as Buffer).toString("utf8");
    store.objects.set(archive as string, gzipSync(archived.replace('"i":2', '"i":9')));
    const bad = await chain.verify();
    expect(bad.ok).toBe(false);
    expect(bad.firstBad?.segment).toBe(archive);
  });

  it("serialises concurrent appends without losing a record", async () => {
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        chain.append({ kind: "race", subject: [], data: { i } }),
      ),
    );
    const v = await chain.verify();
    expect(v).toMatchObject({ ok: true, records: 25 });
    expect(new Set((await chain.list({ kind: "race" })).map((r) => r.data.i)).size).toBe(20);
  });

  it("redacts secret values and secret fields", async () => {
    const env = {
      GOOSE_EVIDENCE_KEY: KEY,
      GOOSE_SNAPSHOT_PASSPHRASE: "correct horse battery staple",
    };
    const c = openEvidenceChain(store, env);
    await c.append({
      kind: "secret.test",
      subject: [],
      data: {
        note: "passphrase is correct horse battery staple",
        password: "hunter22",
        nested: { apiToken: "t0k3n-value" },
      },
    });
    const all = [...store.objects.values()].map((b) => b.toString("utf8")).join("\n");
    expect(all).not.toContain("correct horse battery staple");
    expect(all).not.toContain("hunter22");
    expect(all).not.toContain("t0k3n-value");
    expect(all).not.toContain(KEY);
  });
});

describe("evidence key", () => {
  it("generates a key file outside the store on first use and reuses it", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "goose-evkey-"));
    const env = { GOOSE_EVIDENCE_KEY_FILE: path.join(dir, "k.pem") };
    const store = new MemoryStore();
    const c = openEvidenceChain(store, env);
    await c.append({ kind: "a", subject: [], data: {} });
    expect(c.signingKey().source).toBe("generated");
    expect(statSync(env.GOOSE_EVIDENCE_KEY_FILE).mode & 0o777).toBe(0o600);
    const pem = readFileSync(env.GOOSE_EVIDENCE_KEY_FILE, "utf8");
    expect(pem).toContain("PRIVATE KEY");
    const stored = [...store.objects.values()].map((b) => b.toString("utf8")).join("\n");
    expect(stored).not.toContain(pem.split("\n")[1] as string);
    const c2 = openEvidenceChain(store, env);
    await c2.append({ kind: "b", subject: [], data: {} });
    expect(c2.signingKey().source).toBe("file");
    expect((await c2.verify()).ok).toBe(true);
  });

  it("a bare environment never falls back to the process owner's home for keys or anchors", async () => {
    // The process's own HOME holds a goose key and nothing else: a chain opened with an environment
    // that names no place (no GOOSE_EVIDENCE_KEY*, XDG_CONFIG_HOME or HOME) must not read it, sign
    // with it or write anchors beside it.
    const home = mkdtempSync(path.join(tmpdir(), "goose-home-"));
    const homeKey = path.join(home, ".config", "goose", "evidence-ed25519.pem");
    mkdirSync(path.dirname(homeKey), { recursive: true });
    writeFileSync(
      homeKey,
      generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }),
    );
    const store = new MemoryStore();
    await fill(chainOf(store), 2);
    const saved = process.env.HOME;
    process.env.HOME = home;
    try {
      const bare = openEvidenceChain(store, {});
      const r = await bare.verify();
      expect(r.ok).toBe(true);
      await expect(bare.append({ kind: "x", subject: [], data: {} })).rejects.toThrow(
        /no evidence signing key.*set HOME, or GOOSE_EVIDENCE_KEY_FILE/,
      );
      expect(readdirSync(path.dirname(homeKey))).toEqual(["evidence-ed25519.pem"]);
    } finally {
      if (saved === undefined) delete process.env.HOME;
      else process.env.HOME = saved;
    }
  });

  it("accepts a PKCS#8 PEM in GOOSE_EVIDENCE_KEY and refuses garbage", async () => {
    const { privateKey } = generateKeyPairSync("ed25519");
    const pem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    const c = openEvidenceChain(new MemoryStore(), { GOOSE_EVIDENCE_KEY: pem });
    await c.append({ kind: "a", subject: [], data: {} });
    expect((await c.verify()).ok).toBe(true);
    const bad = openEvidenceChain(new MemoryStore(), { GOOSE_EVIDENCE_KEY: "c2hvcnQ=" });
    await expect(bad.append({ kind: "a", subject: [], data: {} })).rejects.toThrow(
      /GOOSE_EVIDENCE_KEY is not an Ed25519 private key/,
    );
  });
});

/**
 * Issue 10, items 4, 5 and 6: the evidence trust root comes from configuration (never from the
 * store), no injected line is skipped silently, and truncation below an anchor kept elsewhere
 * (this machine's last head, snapshot manifests, promotion reports, --expect-head) fails.
 */
import { randomBytes } from "node:crypto";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import canonicalize from "canonicalize";
import { describe, expect, it } from "vitest";
import { openEvidenceChain, publicKeyOf } from "./trust-helpers.js";
import { openStore } from "../../src/store/index.js";
import { runGoose } from "../helpers/cli.js";

function setup() {
  const dir = mkdtempSync(path.join(tmpdir(), "goose-evtrust-"));
  const url = pathToFileURL(path.join(dir, "store")).href;
  const writer = {
    XDG_CONFIG_HOME: path.join(dir, "writer-config"),
    GOOSE_EVIDENCE_KEY_FILE: path.join(dir, "writer-key.pem"),
  };
  /** Another machine: no key, no anchors. */
  const stranger = { XDG_CONFIG_HOME: path.join(dir, "stranger-config"), HOME: dir };
  const store = openStore(url, {});
  const chain = openEvidenceChain(store, writer);
  const append = (i: number) =>
    chain.append({
      kind: "test.trust",
      subject: [{ name: `r${i}`, digest: { sha256: "00" } }],
      data: { i },
    });
  const verify = (env: NodeJS.ProcessEnv, extra: string[] = []) =>
    runGoose(["evidence", "verify", "--store", url, ...extra], { cwd: dir, env });
  const evDir = path.join(dir, "store", "evidence");
  return { dir, url, writer, stranger, store, chain, append, verify, evDir };
}

describe("item 4: the trust root is configured, never the store's public-key.pem", () => {
  it("a chain re-signed with an attacker's key fails against the local key file, and the key file counts", async () => {
    const t = setup();
    for (let i = 0; i < 3; i++) await t.append(i);
    expect((await t.verify(t.writer)).code).toBe(0);
    // The attacker rewrites the whole chain with their own key (and public-key.pem with it).
    rmSync(t.evDir, { recursive: true });
    const attacker = openEvidenceChain(t.store, {
      GOOSE_EVIDENCE_KEY: randomBytes(32).toString("base64"),
      XDG_CONFIG_HOME: path.join(t.dir, "attacker-config"),
    });
    for (let i = 0; i < 3; i++) {
      await attacker.append({
        kind: "test.forged",
        subject: [{ name: "f", digest: { sha256: "00" } }],
        data: {},
      });
    }
    // Only the key file is configured (no GOOSE_EVIDENCE_KEY): it is the trust root.
    const r = await t.verify({
      GOOSE_EVIDENCE_KEY_FILE: t.writer.GOOSE_EVIDENCE_KEY_FILE,
      XDG_CONFIG_HOME: t.stranger.XDG_CONFIG_HOME,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/wrong key/);
    expect(r.stderr).toContain(t.writer.GOOSE_EVIDENCE_KEY_FILE);
    // GOOSE_EVIDENCE_PUBLIC_KEY (the writer's public half) is a trust root too.
    const pub = publicKeyOf(readFileSync(t.writer.GOOSE_EVIDENCE_KEY_FILE, "utf8"));
    const r2 = await t.verify({ ...t.stranger, GOOSE_EVIDENCE_PUBLIC_KEY: pub });
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/wrong key/);
  });

  it("with no trust root configured it says so loudly (and names what to set)", async () => {
    const t = setup();
    await t.append(1);
    const r = await t.verify(t.stranger);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^WARNING: no evidence trust root is configured/m);
    expect(r.stderr).toMatch(/GOOSE_EVIDENCE_PUBLIC_KEY/);
    const j = await t.verify(t.stranger, ["--json"]);
    expect(JSON.parse(j.stdout)).toMatchObject({
      kind: "evidence-verify",
      trust: { configured: false },
    });
    const w = await t.verify(t.writer, ["--json"]);
    expect(JSON.parse(w.stdout)).toMatchObject({
      trust: { configured: true, source: t.writer.GOOSE_EVIDENCE_KEY_FILE },
    });
    expect(w.stderr).not.toMatch(/WARNING/);
  });
});

describe("item 5: no injected line is skipped silently", () => {
  it("a line with a seq at or below the current one and no archive fails verify and is never listed", async () => {
    const t = setup();
    for (let i = 0; i < 3; i++) await t.append(i);
    const forged = {
      seq: 2,
      time: new Date().toISOString(),
      kind: "snapshot.pin",
      subject: [{ name: "snapshot-pin:x", digest: { sha256: "00" } }],
      data: { id: "x" },
      prev: "sha256:" + "0".repeat(64),
      keyid: "ed25519:0000000000000000",
      sig: "AAAA",
    };
    appendFileSync(path.join(t.evDir, "chain.jsonl"), canonicalize(forged) + "\n");
    const r = await t.verify(t.writer);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /record 2 is at or below the current seq 3 but is not a copy of an archived record/,
    );
    const show = await runGoose(["evidence", "show", "--store", t.url], {
      cwd: t.dir,
      env: t.writer,
    });
    expect(show.code).toBe(1);
    expect(show.stdout).not.toMatch(/snapshot\.pin/);
    expect(show.stderr).toMatch(/does not verify/);
  });

  it("an identical copy of an archived record (crash between archive and clear) still passes", async () => {
    const t = setup();
    for (let i = 0; i < 3; i++) await t.append(i);
    const before = readFileSync(path.join(t.evDir, "chain.jsonl"), "utf8");
    await t.chain.rotate();
    writeFileSync(path.join(t.evDir, "chain.jsonl"), before);
    const r = await t.verify(t.writer);
    expect(r.code, r.stderr).toBe(0);
    expect((await t.chain.list()).map((x) => x.seq)).toEqual([1, 2, 3]);
  });
});

describe("item 6: truncation below an anchor fails", () => {
  it("deleting the last record and head.json: this machine's anchor catches it", async () => {
    const t = setup();
    for (let i = 0; i < 4; i++) await t.append(i);
    const lines = readFileSync(path.join(t.evDir, "chain.jsonl"), "utf8")
      .split("\n")
      .filter(Boolean);
    writeFileSync(path.join(t.evDir, "chain.jsonl"), lines.slice(0, -1).join("\n") + "\n");
    rmSync(path.join(t.evDir, "head.json"));
    const r = await t.verify(t.writer);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /truncated: the last head this machine saw .* refers to record 4 but the chain ends at seq 3/,
    );
  });

  it("truncating to 10 records and putting back an older signed head", async () => {
    const t = setup();
    let oldHead = "";
    for (let i = 0; i < 14; i++) {
      await t.append(i);
      if (i === 9) oldHead = readFileSync(path.join(t.evDir, "head.json"), "utf8");
    }
    const lines = readFileSync(path.join(t.evDir, "chain.jsonl"), "utf8")
      .split("\n")
      .filter(Boolean);
    writeFileSync(path.join(t.evDir, "chain.jsonl"), lines.slice(0, 10).join("\n") + "\n");
    writeFileSync(path.join(t.evDir, "head.json"), oldHead);
    const r = await t.verify(t.writer);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refers to record 14 but the chain ends at seq 10/);
  });

  it("emptying the chain", async () => {
    const t = setup();
    for (let i = 0; i < 3; i++) await t.append(i);
    rmSync(t.evDir, { recursive: true });
    const r = await t.verify(t.writer);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the chain is empty but the last head this machine saw/);
  });

  it("on another machine: a promotion report or snapshot manifest referring past the end, and --expect-head", async () => {
    const t = setup();
    const recs = [];
    for (let i = 0; i < 5; i++) recs.push(await t.append(i));
    await t.store.put(
      "promotions/p1.json",
      JSON.stringify({ steps: [{ evidence: [recs[4]?.id] }] }),
    );
    await t.store.put(
      "snapshots/sandbox/sandbox-x.manifest.json",
      JSON.stringify({ id: "sandbox-x", evidence: recs[3]?.id }),
    );
    const ok = await t.verify(t.stranger, ["--expect-head", recs[4]?.hash ?? ""]);
    expect(ok.code, ok.stderr).toBe(0);
    const lines = readFileSync(path.join(t.evDir, "chain.jsonl"), "utf8")
      .split("\n")
      .filter(Boolean);
    writeFileSync(path.join(t.evDir, "chain.jsonl"), lines.slice(0, 3).join("\n") + "\n");
    rmSync(path.join(t.evDir, "head.json"));
    const other = { ...t.stranger, XDG_CONFIG_HOME: path.join(t.dir, "third-config") };
    const r = await t.verify(other);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /truncated: (promotions\/p1\.json|snapshots\/sandbox\/sandbox-x\.manifest\.json) \(ev-[45]-/,
    );
    rmSync(path.join(t.dir, "store", "promotions"), { recursive: true });
    rmSync(path.join(t.dir, "store", "snapshots"), { recursive: true });
    const fresh = { ...t.stranger, XDG_CONFIG_HOME: path.join(t.dir, "fourth-config") };
    expect((await t.verify(fresh)).code).toBe(0);
    const e = await t.verify({ ...fresh, XDG_CONFIG_HOME: path.join(t.dir, "fifth") }, [
      "--expect-head",
      recs[4]?.id ?? "",
    ]);
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/--expect-head ev-5-/);
    const bad = await t.verify(fresh, ["--expect-head", "nonsense"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/sha256:<64 hex>/);
  });
});

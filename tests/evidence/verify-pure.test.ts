/**
 * verifyChain is a pure function over what the store holds: records built here with record.ts,
 * no store, no environment.
 */
import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { keyIdOf } from "../../src/evidence/keys.js";
import { EVIDENCE_KEYS } from "../../src/evidence/layout.js";
import {
  canonical,
  GENESIS_PREV,
  recordHash,
  signed,
  type StoredRecord,
} from "../../src/evidence/record.js";
import { verifyChain, type ChainContents } from "../../src/evidence/verify.js";

const { privateKey, publicKey } = generateKeyPairSync("ed25519");
const keyid = keyIdOf(publicKey);
const root = { publicKey, keyid, source: "test key" };

function lines(n: number): string[] {
  const out: string[] = [];
  let prev = GENESIS_PREV;
  for (let seq = 1; seq <= n; seq++) {
    const rec: StoredRecord = signed(privateKey, {
      seq,
      time: "2026-11-30T00:00:00.000Z",
      kind: "test.step",
      subject: [{ name: `s${seq}`, digest: { sha256: "0".repeat(64) } }],
      data: { n: seq },
      prev,
      keyid,
    });
    const line = canonical(rec);
    out.push(line);
    prev = recordHash(line);
  }
  return out;
}

function chainOf(active: string[], headJson?: string): ChainContents {
  return {
    segments: [{ key: EVIDENCE_KEYS.active, kind: "active", lines: active }],
    hasAny: true,
    rotated: false,
    ...(headJson ? { headJson } : {}),
  };
}

describe("verifyChain", () => {
  it("passes a signed chain and names its head", () => {
    const l = lines(3);
    const r = verifyChain(chainOf(l), root, []);
    expect(r).toMatchObject({
      ok: true,
      records: 3,
      keyid,
      head: { seq: 3, hash: recordHash(l[2]!) },
    });
  });

  it("names the first edited, deleted or truncated record", () => {
    const l = lines(3);
    const edited = [...l];
    edited[1] = l[1]!.replace('"n":2', '"n":7');
    expect(verifyChain(chainOf(edited), root, []).firstBad).toMatchObject({
      line: 2,
      seq: 2,
      reason: "record 2 signature does not verify (edited)",
    });
    expect(verifyChain(chainOf([l[0]!, l[2]!]), root, []).firstBad?.reason).toMatch(
      /expected record 2 here but found seq 3/,
    );
    const anchor = { seq: 3, hash: recordHash(l[2]!), source: "a manifest" };
    expect(verifyChain(chainOf(l.slice(0, 2)), root, [anchor]).firstBad?.reason).toMatch(
      /truncated: a manifest refers to record 3 but the chain ends at seq 2/,
    );
  });
});

/**
 * Evidence signing key rotation: a `key.rotated` record (data.rotated = "evidence-signing-key")
 * signed, as every record, by the chain's current key, and countersigned by the new key over
 * its place in the chain (seq, prev) and both key ids. From the next record on, only the new key
 * is accepted: a record signed by the old key after the rotation is rejected by verify, and the
 * old key can no longer append.
 *
 * data: { rotated, rotatedAt, fromKeyid, toKeyid, toPublicKey (base64 of the raw 32 bytes),
 *         countersig (base64 Ed25519 by the new key over rotationStatement(...)) }
 */
import { sign as edSign, verify as edVerify, type KeyObject } from "node:crypto";
import canonicalize from "canonicalize";
import { keyIdOf, parsePublicKey, rawPublicKey, type EvidenceKey } from "./keys.js";

export const EVIDENCE_KEY_ROTATION = "evidence-signing-key";
export const KEY_ROTATED_KIND = "key.rotated";

/** What the new key signs: the rotation's place in the chain and both key ids. */
export function rotationStatement(
  seq: number,
  prev: string,
  fromKeyid: string,
  toKeyid: string,
): string {
  const s = canonicalize({
    type: "goose-evidence-key-rotation/v1",
    seq,
    prev,
    fromKeyid,
    toKeyid,
  });
  if (s === undefined) throw new Error("rotation statement has no JSON form");
  return s;
}

/** The data of a rotation record, countersigned by `to` for position (seq, prev). */
export function rotationData(
  from: EvidenceKey,
  to: EvidenceKey,
  at: { seq: number; prev: string; rotatedAt: string },
): Record<string, unknown> {
  const statement = rotationStatement(at.seq, at.prev, from.keyid, to.keyid);
  return {
    rotated: EVIDENCE_KEY_ROTATION,
    rotatedAt: at.rotatedAt,
    fromKeyid: from.keyid,
    toKeyid: to.keyid,
    toPublicKey: rawPublicKey(to.publicKey).toString("base64"),
    countersig: edSign(null, Buffer.from(statement), to.privateKey).toString("base64"),
  };
}

export function isEvidenceKeyRotation(rec: { kind: string; data: Record<string, unknown> }) {
  return (
    rec.kind === KEY_ROTATED_KIND &&
    rec.data.rotated === EVIDENCE_KEY_ROTATION &&
    rec.data.toKeyid !== undefined
  );
}

/**
 * Checks a rotation record (already verified as signed by `current`): the new key it names,
 * and that the new key countersigned it. Returns the new key, or why the record is bad.
 */
export function checkRotation(
  rec: { seq: number; prev: string; data: Record<string, unknown> },
  currentKeyid: string,
): { key: KeyObject; keyid: string } | { error: string } {
  const d = rec.data;
  if (d.fromKeyid !== currentKeyid)
    return {
      error: `record ${rec.seq} rotates the evidence key from ${String(d.fromKeyid)}, but the chain's key there is ${currentKeyid}`,
    };
  let key: KeyObject;
  try {
    key = parsePublicKey(String(d.toPublicKey ?? ""), `record ${rec.seq} toPublicKey`);
  } catch (err) {
    return { error: (err as Error).message };
  }
  const keyid = keyIdOf(key);
  if (keyid !== d.toKeyid)
    return {
      error: `record ${rec.seq} names new key ${String(d.toKeyid)} but its public key is ${keyid}`,
    };
  if (keyid === currentKeyid)
    return { error: `record ${rec.seq} rotates the evidence key to the same key` };
  let ok = false;
  try {
    ok = edVerify(
      null,
      Buffer.from(rotationStatement(rec.seq, rec.prev, currentKeyid, keyid)),
      key,
      Buffer.from(String(d.countersig ?? ""), "base64"),
    );
  } catch {
    ok = false;
  }
  if (!ok)
    return {
      error: `record ${rec.seq} rotates the evidence key to ${keyid} but is not countersigned by that key`,
    };
  return { key, keyid };
}

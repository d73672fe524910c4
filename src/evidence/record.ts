/**
 * One evidence record: its stored shape, canonical form (RFC 8785), hash, id and Ed25519
 * signature. No store access: the segment layout and appends are chain.ts, checking a whole
 * chain is verify.ts.
 */
import { createHash, sign as edSign, verify as edVerify, type KeyObject } from "node:crypto";
import canonicalize from "canonicalize";
import type { StageName } from "../config/stages.js";

/** `prev` of the first record. */
export const GENESIS_PREV = "sha256:" + "0".repeat(64);

/** What a record is about, in-toto Statement style: a name and its digests ({sha256: hex}). */
export interface EvidenceSubject {
  name: string;
  digest: Record<string, string>;
}

export interface EvidenceInput {
  kind: string;
  stage?: StageName;
  subject: EvidenceSubject[];
  data: Record<string, unknown>;
}

/** One record as stored (one canonical JSON line). */
export interface StoredRecord {
  seq: number;
  time: string;
  kind: string;
  stage?: StageName;
  subject: EvidenceSubject[];
  data: Record<string, unknown>;
  /** `sha256:<hex>` of the previous record's line (GENESIS_PREV for the first). */
  prev: string;
  keyid: string;
  /** base64 Ed25519 signature over the canonical JSON of the record without `sig`. */
  sig: string;
}

/** A record as read back: the stored fields plus its hash and id (derived, not stored). */
export interface EvidenceRecord extends StoredRecord {
  /** `ev-<seq>-<first 12 hex of hash>`. */
  id: string;
  /** `sha256:<hex>` of the record's canonical line. */
  hash: string;
}

export interface ChainHead {
  seq: number;
  hash: string;
}

/** A tombstone that replaces an archived segment removed by retention. */
export interface PrunedSegment {
  firstSeq: number;
  lastSeq: number;
  firstPrev: string;
  lastHash: string;
  prunedAt: string;
  keyid: string;
  sig: string;
}

export function sha256Hex(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The canonical JSON (RFC 8785) of `value`: what is hashed and signed. */
export function canonical(value: unknown): string {
  const s = canonicalize(value);
  if (s === undefined) throw new Error("value has no JSON form");
  return s;
}

/** `sha256:<hex>` of a record's line. */
export function recordHash(line: string): string {
  return "sha256:" + sha256Hex(line);
}

export function recordId(seq: number, hash: string): string {
  return `ev-${seq}-${hash.slice("sha256:".length, "sha256:".length + 12)}`;
}

export function signPayload(privateKey: KeyObject, payload: string): string {
  return edSign(null, Buffer.from(payload), privateKey).toString("base64");
}

export function verifyPayload(publicKey: KeyObject, payload: string, sig: string): boolean {
  try {
    return edVerify(null, Buffer.from(payload), publicKey, Buffer.from(sig, "base64"));
  } catch {
    return false;
  }
}

export function withoutSig<T extends { sig: string }>(value: T): Omit<T, "sig"> {
  const copy: Partial<T> = { ...value };
  delete copy.sig;
  return copy as Omit<T, "sig">;
}

/** Signs `unsigned` (its canonical form) and adds `sig`. */
export function signed<T extends object>(privateKey: KeyObject, unsigned: T): T & { sig: string } {
  return { ...unsigned, sig: signPayload(privateKey, canonical(unsigned)) };
}

/** Whether `value`'s `sig` verifies under `publicKey` over the rest of it. */
export function verifySigned(publicKey: KeyObject, value: { sig: string }): boolean {
  return verifyPayload(publicKey, canonical(withoutSig(value)), value.sig);
}

/** The lines of a segment; a last line without "\n" (a truncated write) is kept. */
export function splitLines(body: Buffer): string[] {
  const text = body.toString("utf8");
  if (text === "") return [];
  const lines = text.split("\n");
  // A well-formed segment ends with "\n"; a last line without it is a truncated write.
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** The record on `line`, or undefined when the line is not JSON. */
export function parseRecordLine(line: string): StoredRecord | undefined {
  try {
    return JSON.parse(line) as StoredRecord;
  } catch {
    return undefined;
  }
}

/** The head a line is: its record's seq and the line's hash. */
export function headOfLine(line: string): ChainHead {
  const rec = JSON.parse(line) as StoredRecord;
  return { seq: rec.seq, hash: recordHash(line) };
}

export function toRecord(stored: StoredRecord, line: string): EvidenceRecord {
  const hash = recordHash(line);
  return { ...stored, id: recordId(stored.seq, hash), hash };
}

import { createHash, sign as edSign, verify as edVerify, type KeyObject } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import canonicalize from "canonicalize";
import { isStageName, STAGES, type StageName } from "../config/stages.js";
import { PreconditionFailedError, type ObjectStore } from "../store/types.js";
import { updateObject } from "../store/cas.js";
import { assertConditionalWrites } from "../store/errors.js";
import {
  describeKeySource,
  EvidenceKeyError,
  wrongKeyFix,
  keyIdOf,
  loadSigningKey,
  parsePublicKey,
  publicKeyPem,
  resolveTrustRoot,
  type EvidenceKey,
} from "./keys.js";
import { redact } from "./redact.js";
import { CheckFailedError, InputError } from "../errors.js";
import {
  parseExpectHead,
  readLocalAnchor,
  saveLocalAnchor,
  storeReferences,
  type Anchor,
} from "./anchors.js";
import {
  checkRotation,
  isEvidenceKeyRotation,
  KEY_ROTATED_KIND,
  rotationData,
} from "./key-rotation.js";

/** Store layout, all under `evidence/`. */
export const EVIDENCE_KEYS = {
  publicKey: "evidence/public-key.pem",
  head: "evidence/head.json",
  active: "evidence/chain.jsonl",
  archivePrefix: "evidence/archive/",
  /** A hint that the signing key was rotated (so appends look for the current key); not trusted. */
  rotations: "evidence/key-rotations.json",
} as const;

/** How long an append keeps retrying lost compare-and-swap races. */
const APPEND_WAIT_MS = 120_000;

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

export interface VerifyProblem {
  /** The store key of the segment (chain.jsonl, an archive, or head.json). */
  segment: string;
  /** 1-based line in the segment, when the problem is one line. */
  line?: number;
  seq?: number;
  id?: string;
  reason: string;
}

export interface VerifyResult {
  ok: boolean;
  /** Records checked (archived, pruned ranges excluded, and active). */
  records: number;
  head?: ChainHead;
  keyid?: string;
  /** The first bad record or file; verification stops there. */
  firstBad?: VerifyProblem;
  /** Notes that do not break the chain (e.g. head.json lagging after a crash). */
  notes: string[];
  /** The key records were checked against: configured (a trust root) or the store's own file. */
  trust?: { configured: true; source: string; keyid: string } | { configured: false };
}

export interface VerifyOptions {
  /** A record hash (`sha256:<hex>`) or id (`ev-<seq>-<hash12>`) the chain must still contain. */
  expectHead?: string;
}

/** A tombstone that replaces an archived segment removed by retention. */
interface PrunedSegment {
  firstSeq: number;
  lastSeq: number;
  firstPrev: string;
  lastHash: string;
  prunedAt: string;
  keyid: string;
  sig: string;
}

/** Default days archived evidence is kept per stage (production: seven years). */
export const DEFAULT_EVIDENCE_RETENTION_DAYS: Record<StageName, number> = {
  sandbox: 90,
  compliance: 400,
  production: 2557,
};

export interface RetentionPolicy {
  /** Days archived evidence of each stage is kept; records without a stage use the longest. */
  days: Record<StageName, number>;
  now?: Date;
}

export interface EvidenceChain {
  append(input: EvidenceInput): Promise<EvidenceRecord>;
  verify(opts?: VerifyOptions): Promise<VerifyResult>;
  list(filter?: { stage?: StageName; kind?: string }): Promise<EvidenceRecord[]>;
  /** The last record's seq and hash (undefined for an empty chain): anchor it elsewhere. */
  head(): Promise<ChainHead | undefined>;
  /** Moves the active segment into a compressed archive segment; the next record chains on. */
  rotate(): Promise<{ archived?: string; records: number }>;
  /** Removes archived segments older than the retention of every stage they hold. */
  applyRetention(policy: RetentionPolicy): Promise<{ pruned: string[] }>;
  /** The public key (SPKI PEM) of the chain, when it has one. */
  publicKey(): Promise<string | undefined>;
  /** Which key signs appends (loads or generates it). */
  signingKey(): EvidenceKey;
  /**
   * Rotates the chain's signing key to `to`: appends a `key.rotated` record signed by the
   * current key and countersigned by `to`; from then on only `to` may sign (see key-rotation.ts).
   */
  rotateKey(to: EvidenceKey, opts?: { reason?: string }): Promise<EvidenceRecord>;
  /** The key id that signs the chain now (after any rotation), undefined for a new chain. */
  currentKeyid(): Promise<string | undefined>;
}

export interface EvidenceOptions {
  /** Archive the active segment once it holds this many records (default 5000). */
  segmentMaxRecords?: number;
  now?: () => Date;
}

/** The chain does not verify, so it is not read (tampering: exit 1). */
export class EvidenceTamperedError extends CheckFailedError {
  constructor(message: string, options: { fix?: string } = {}) {
    super(message, { code: "evidence-tampered", ...options });
  }
}

export class EvidenceWriteError extends InputError {
  constructor(message: string) {
    super(message);
    this.name = "EvidenceWriteError";
  }
}

export function sha256Hex(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

function canonical(value: unknown): string {
  const s = canonicalize(value);
  if (s === undefined) throw new Error("value has no JSON form");
  return s;
}

function recordHash(line: string): string {
  return "sha256:" + sha256Hex(line);
}

function recordId(seq: number, hash: string): string {
  return `ev-${seq}-${hash.slice("sha256:".length, "sha256:".length + 12)}`;
}

function signPayload(privateKey: KeyObject, payload: string): string {
  return edSign(null, Buffer.from(payload), privateKey).toString("base64");
}

function verifyPayload(publicKey: KeyObject, payload: string, sig: string): boolean {
  try {
    return edVerify(null, Buffer.from(payload), publicKey, Buffer.from(sig, "base64"));
  } catch {
    return false;
  }
}

function withoutSig<T extends { sig: string }>(value: T): Omit<T, "sig"> {
  const copy: Partial<T> = { ...value };
  delete copy.sig;
  return copy as Omit<T, "sig">;
}

function splitLines(body: Buffer): string[] {
  const text = body.toString("utf8");
  if (text === "") return [];
  const lines = text.split("\n");
  // A well-formed segment ends with "\n"; a last line without it is a truncated write.
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

function archiveKey(firstSeq: number, lastSeq: number, suffix: string): string {
  const pad = (n: number) => String(n).padStart(12, "0");
  return `${EVIDENCE_KEYS.archivePrefix}${pad(firstSeq)}-${pad(lastSeq)}${suffix}`;
}

const ARCHIVE_RE = /^evidence\/archive\/(\d{12})-(\d{12})\.(jsonl\.gz|pruned\.json)$/;

function toRecord(stored: StoredRecord, line: string): EvidenceRecord {
  const hash = recordHash(line);
  return { ...stored, id: recordId(stored.seq, hash), hash };
}

/**
 * The append-only evidence chain in `store` (see the module doc in index.ts).
 */
export function openEvidenceChain(
  store: ObjectStore,
  env: NodeJS.ProcessEnv,
  opts: EvidenceOptions = {},
): EvidenceChain {
  const now = opts.now ?? (() => new Date());
  const segmentMax = opts.segmentMaxRecords ?? 5000;
  /** The store as the local anchor knows it: an S3 URL names its endpoint too. */
  const anchorId =
    store.url.startsWith("s3://") && env.GOOSE_S3_ENDPOINT
      ? `${store.url} at ${env.GOOSE_S3_ENDPOINT}`
      : store.url;
  let key: EvidenceKey | undefined;
  const signingKey = (): EvidenceKey => (key ??= loadSigningKey(env));

  /** Ensures evidence/public-key.pem exists and matches the signing key. */
  let keyChecked = false;
  async function ensurePublicKey(k: EvidenceKey): Promise<void> {
    if (keyChecked) return;
    await checkPublicKey(k);
    keyChecked = true;
  }
  async function checkPublicKey(k: EvidenceKey): Promise<void> {
    const pem = publicKeyPem(k.publicKey);
    const existing = await store.get(EVIDENCE_KEYS.publicKey);
    if (!existing) {
      try {
        await store.put(EVIDENCE_KEYS.publicKey, pem, {
          ifNoneMatch: true,
          contentType: "application/x-pem-file",
        });
        return;
      } catch (err) {
        if (!(err instanceof PreconditionFailedError)) throw err;
        return checkPublicKey(k);
      }
    }
    const stored = parsePublicKey(
      existing.body.toString("utf8"),
      `${store.url}/${EVIDENCE_KEYS.publicKey}`,
    );
    const current = (await store.head(EVIDENCE_KEYS.rotations))
      ? await currentKeyid(stored)
      : { keyid: keyIdOf(stored), retired: new Map<string, string>() };
    if (current.keyid !== k.keyid && current.retired.has(k.keyid)) {
      throw new EvidenceKeyError(
        `retired evidence key: ${describeKeySource(k)} (${k.keyid}) was rotated out of the chain in ${store.url} ` +
          `by record ${current.retired.get(k.keyid)}; the chain is signed by ${current.keyid} now. ` +
          "Fix: use the new key (GOOSE_EVIDENCE_KEY, or the key file goose keys rotate evidence wrote)",
      );
    }
    if (current.keyid !== k.keyid && keyIdOf(stored) === current.keyid) {
      throw new EvidenceKeyError(
        `wrong evidence key: the chain in ${store.url} is signed by ${keyIdOf(stored)} ` +
          `(${EVIDENCE_KEYS.publicKey}) but the key in use, ${describeKeySource(k)}, is ${k.keyid}. ` +
          `Fix: ${wrongKeyFix(k, keyIdOf(stored), env)}`,
      );
    }
    if (current.keyid !== k.keyid) {
      throw new EvidenceKeyError(
        `wrong evidence key: the chain in ${store.url} is signed by ${current.keyid} since its last key rotation, ` +
          `but the key in use, ${describeKeySource(k)}, is ${k.keyid}. Fix: set GOOSE_EVIDENCE_KEY to the chain's current key`,
      );
    }
  }

  /**
   * The chain's current key id (the genesis key, or the last rotation's) and the retired ones:
   * a raw scan of the segments for rotation records signed by the key of their time and
   * countersigned by the next (whether the whole chain verifies is verify's business).
   */
  async function currentKeyid(
    genesis: KeyObject,
  ): Promise<{ keyid: string; retired: Map<string, string> }> {
    let key = genesis;
    let keyid = keyIdOf(genesis);
    const retired = new Map<string, string>();
    for (const seg of await segments()) {
      if (seg.kind === "pruned") continue;
      for (const line of await segmentLines(seg)) {
        let r: StoredRecord;
        try {
          r = JSON.parse(line) as StoredRecord;
        } catch {
          continue;
        }
        if (!isEvidenceKeyRotation(r) || r.keyid !== keyid) continue;
        if (!verifyPayload(key, canonical(withoutSig(r)), r.sig)) continue;
        const c = checkRotation(r, keyid);
        if ("error" in c) continue;
        retired.set(keyid, recordId(r.seq, recordHash(line)));
        key = c.key;
        keyid = c.keyid;
      }
    }
    return { keyid, retired };
  }

  interface Segment {
    key: string;
    kind: "archive" | "pruned" | "active";
    firstSeq?: number;
    lastSeq?: number;
  }

  async function segments(): Promise<Segment[]> {
    const keys = await store.list(EVIDENCE_KEYS.archivePrefix);
    const out: Segment[] = [];
    for (const k of keys) {
      const m = ARCHIVE_RE.exec(k);
      if (!m) continue;
      out.push({
        key: k,
        kind: m[3] === "pruned.json" ? "pruned" : "archive",
        firstSeq: Number(m[1]),
        lastSeq: Number(m[2]),
      });
    }
    out.sort((a, b) => (a.firstSeq ?? 0) - (b.firstSeq ?? 0) || a.key.localeCompare(b.key));
    out.push({ key: EVIDENCE_KEYS.active, kind: "active" });
    return out;
  }

  async function segmentLines(seg: Segment): Promise<string[]> {
    const obj = await store.get(seg.key);
    if (!obj) return [];
    return splitLines(seg.kind === "archive" ? gunzipSync(obj.body) : obj.body);
  }

  /** Head of everything archived (last record of the last archive or tombstone). */
  async function archivedHead(): Promise<ChainHead | undefined> {
    const segs = (await segments()).filter((s) => s.kind !== "active");
    const last = segs[segs.length - 1];
    if (!last) return undefined;
    if (last.kind === "pruned") {
      const obj = await store.get(last.key);
      if (!obj) return undefined;
      const t = JSON.parse(obj.body.toString("utf8")) as PrunedSegment;
      return { seq: t.lastSeq, hash: t.lastHash };
    }
    const lines = await segmentLines(last);
    const line = lines[lines.length - 1];
    if (line === undefined) return undefined;
    const rec = JSON.parse(line) as StoredRecord;
    return { seq: rec.seq, hash: recordHash(line) };
  }

  async function head(): Promise<ChainHead | undefined> {
    const active = await store.get(EVIDENCE_KEYS.active);
    const lines = active ? splitLines(active.body) : [];
    const line = lines[lines.length - 1];
    if (line !== undefined) {
      const rec = JSON.parse(line) as StoredRecord;
      return { seq: rec.seq, hash: recordHash(line) };
    }
    return archivedHead();
  }

  async function writeHead(k: EvidenceKey, h: ChainHead, resignSameSeq = false): Promise<void> {
    const body = { seq: h.seq, hash: h.hash, time: now().toISOString(), keyid: k.keyid };
    const signed = { ...body, sig: signPayload(k.privateKey, canonical(body)) };
    // head.json may only move forward: compare-and-swap against the one we read.
    await updateObject(
      store,
      EVIDENCE_KEYS.head,
      (cur) => {
        const curHead = cur
          ? (JSON.parse(cur.body.toString("utf8")) as ChainHead & { keyid?: string })
          : undefined;
        // Only forward; the same head is re-signed only by a new key at its rotation record.
        if (
          curHead &&
          (curHead.seq > h.seq ||
            (curHead.seq === h.seq && !(resignSameSeq && curHead.keyid !== k.keyid)))
        ) {
          return { keep: undefined };
        }
        return { write: canonical(signed) + "\n", result: undefined };
      },
      { exhausted: () => undefined },
    );
  }

  async function append(
    input: EvidenceInput,
    extend?: (unsigned: Omit<StoredRecord, "sig">) => Record<string, unknown>,
  ): Promise<EvidenceRecord> {
    if (!input.kind || !/^[a-z][a-z0-9.-]*$/.test(input.kind)) {
      throw new EvidenceWriteError(
        `evidence kind "${input.kind}" must be lower-case words joined by . or -, e.g. "gate.sbom"`,
      );
    }
    if (input.stage !== undefined && !isStageName(input.stage)) {
      throw new EvidenceWriteError(
        `evidence stage "${String(input.stage)}" is not one of ${STAGES.join(", ")}`,
      );
    }
    for (const s of input.subject) {
      if (!s.name || Object.keys(s.digest).length === 0) {
        throw new EvidenceWriteError(
          `evidence subject "${s.name}" needs a name and at least one digest, e.g. {sha256: "<hex>"}`,
        );
      }
    }
    await assertConditionalWrites(store);
    const k = signingKey();
    await ensurePublicKey(k);
    const data = redact(input.data, env);
    // Compare-and-swap until we win: a lost race is retried (never dropped) for up to APPEND_WAIT_MS.
    const { rec, segmentLength } = await updateObject(
      store,
      EVIDENCE_KEYS.active,
      async (cur) => {
        const lines = cur ? splitLines(cur.body) : [];
        const lastLine = lines[lines.length - 1];
        let prevHead: ChainHead | undefined;
        if (lastLine !== undefined) {
          const last = JSON.parse(lastLine) as StoredRecord;
          prevHead = { seq: last.seq, hash: recordHash(lastLine) };
        } else {
          prevHead = await archivedHead();
        }
        const unsigned: Omit<StoredRecord, "sig"> = {
          seq: (prevHead?.seq ?? 0) + 1,
          time: now().toISOString(),
          kind: input.kind,
          ...(input.stage ? { stage: input.stage } : {}),
          subject: input.subject.map((s) => ({ name: s.name, digest: { ...s.digest } })),
          data,
          prev: prevHead?.hash ?? GENESIS_PREV,
          keyid: k.keyid,
        };
        if (extend) unsigned.data = { ...unsigned.data, ...extend(unsigned) };
        const stored: StoredRecord = {
          ...unsigned,
          sig: signPayload(k.privateKey, canonical(unsigned)),
        };
        const line = canonical(stored);
        return {
          write: (cur ? cur.body.toString("utf8") : "") + line + "\n",
          contentType: "application/jsonl",
          result: { rec: toRecord(stored, line), segmentLength: lines.length + 1 },
        };
      },
      {
        attempts: Infinity,
        withinMs: APPEND_WAIT_MS,
        backoff: async (attempt) => {
          const cap = Math.min(10 * 2 ** Math.min(attempt, 4), 160);
          await new Promise((r) => setTimeout(r, 2 + Math.random() * cap));
        },
        exhausted: () => {
          throw new EvidenceWriteError(
            `could not append to ${store.url}/${EVIDENCE_KEYS.active}: other writers kept winning for ` +
              `${APPEND_WAIT_MS / 1000}s; retry`,
          );
        },
      },
    );
    await writeHead(k, { seq: rec.seq, hash: rec.hash });
    saveLocalAnchor(env, anchorId, { seq: rec.seq, hash: rec.hash });
    if (segmentLength >= segmentMax) await rotate();
    return rec;
  }

  async function rotate(): Promise<{ archived?: string; records: number }> {
    return updateObject<{ archived?: string; records: number }>(
      store,
      EVIDENCE_KEYS.active,
      async (cur) => {
        const lines = cur ? splitLines(cur.body) : [];
        const first = lines[0];
        const last = lines[lines.length - 1];
        if (!cur || first === undefined || last === undefined) return { keep: { records: 0 } };
        const firstSeq = (JSON.parse(first) as StoredRecord).seq;
        const lastSeq = (JSON.parse(last) as StoredRecord).seq;
        const key = archiveKey(firstSeq, lastSeq, ".jsonl.gz");
        await store.put(key, gzipSync(cur.body), { contentType: "application/gzip" });
        return {
          write: "",
          contentType: "application/jsonl",
          result: { archived: key, records: lines.length },
          onConflict: () => store.delete(key),
        };
      },
      {
        exhausted: () => {
          throw new EvidenceWriteError(
            "could not rotate the evidence chain: it kept changing; retry",
          );
        },
      },
    );
  }

  async function applyRetention(policy: RetentionPolicy): Promise<{ pruned: string[] }> {
    const at = policy.now ?? now();
    const longest = Math.max(...STAGES.map((s) => policy.days[s]));
    const k = signingKey();
    await ensurePublicKey(k);
    const pruned: string[] = [];
    for (const seg of await segments()) {
      if (seg.kind !== "archive") continue;
      const lines = await segmentLines(seg);
      const recs = lines.map((l) => JSON.parse(l) as StoredRecord);
      // A segment holding an evidence key rotation is kept: verify needs it to follow the key.
      const expired =
        !recs.some((r) => isEvidenceKeyRotation(r)) &&
        recs.every((r) => {
          const days = r.stage ? policy.days[r.stage] : longest;
          return at.getTime() - Date.parse(r.time) > days * 86_400_000;
        });
      const first = recs[0];
      const lastLine = lines[lines.length - 1];
      if (!expired || !first || lastLine === undefined) continue;
      const body = {
        firstSeq: first.seq,
        lastSeq: (JSON.parse(lastLine) as StoredRecord).seq,
        firstPrev: first.prev,
        lastHash: recordHash(lastLine),
        prunedAt: at.toISOString(),
        keyid: k.keyid,
      };
      const tomb: PrunedSegment = { ...body, sig: signPayload(k.privateKey, canonical(body)) };
      const tombKey = archiveKey(body.firstSeq, body.lastSeq, ".pruned.json");
      const obj = await store.get(seg.key);
      await store.put(tombKey, canonical(tomb) + "\n", { contentType: "application/json" });
      await store.delete(seg.key);
      pruned.push(seg.key);
      await append({
        kind: "evidence.retention",
        subject: [{ name: seg.key, digest: { sha256: obj ? sha256Hex(obj.body) : "" } }],
        data: {
          firstSeq: body.firstSeq,
          lastSeq: body.lastSeq,
          lastHash: body.lastHash,
          tombstone: tombKey,
        },
      });
    }
    return { pruned };
  }

  async function verify(vopts: VerifyOptions = {}): Promise<VerifyResult> {
    const notes: string[] = [];
    // What we trust comes from configuration only (resolveTrustRoot), never from the store.
    const root = resolveTrustRoot(env);
    const trust: VerifyResult["trust"] = root.publicKey
      ? { configured: true, source: root.source ?? "", keyid: root.keyid ?? "" }
      : { configured: false };
    let expect: { seq?: number; hash: string } | undefined;
    if (vopts.expectHead !== undefined) {
      expect = parseExpectHead(vopts.expectHead);
      if (!expect) {
        throw new EvidenceWriteError(
          `--expect-head ${vopts.expectHead}: give a record hash (sha256:<64 hex>, as evidence ` +
            "verify prints for the head) or a record id (ev-<seq>-<12 hex>)",
        );
      }
    }
    const anchors = async (): Promise<Anchor[]> => {
      const out: Anchor[] = [];
      const local = readLocalAnchor(env, anchorId);
      if (local) out.push(local);
      if (expect) {
        out.push({
          seq: expect.seq ?? -1,
          hash: expect.hash,
          source: `--expect-head ${vopts.expectHead ?? ""}`,
        });
      }
      out.push(...(await storeReferences(store)));
      return out;
    };
    const pemObj = await store.get(EVIDENCE_KEYS.publicKey);
    const segs = await segments();
    const hasAny =
      segs.length > 1 ||
      (await store.head(EVIDENCE_KEYS.active)) !== undefined ||
      (await store.head(EVIDENCE_KEYS.head)) !== undefined;
    if (!hasAny) {
      // An empty chain is fine only when nothing outside it says records existed.
      const first = (await anchors())[0];
      if (first) {
        return {
          ok: false,
          records: 0,
          notes,
          trust,
          firstBad: {
            segment: EVIDENCE_KEYS.active,
            reason: `truncated: the chain is empty but ${first.source} refers to record ${first.seq >= 0 ? first.seq : first.hash}`,
          },
        };
      }
      if (!pemObj) return { ok: true, records: 0, notes: ["the chain is empty"], trust };
    }
    let storeKey: KeyObject | undefined;
    if (pemObj) {
      try {
        storeKey = parsePublicKey(pemObj.body.toString("utf8"), EVIDENCE_KEYS.publicKey);
      } catch (err) {
        if (!root.publicKey) {
          return {
            ok: false,
            records: 0,
            notes,
            trust,
            firstBad: { segment: EVIDENCE_KEYS.publicKey, reason: (err as Error).message },
          };
        }
        notes.push(`${EVIDENCE_KEYS.publicKey} is not a public key; it is not used`);
      }
    }
    const publicKey = root.publicKey ?? storeKey;
    if (!publicKey) {
      return {
        ok: false,
        records: 0,
        notes,
        trust,
        firstBad: {
          segment: EVIDENCE_KEYS.publicKey,
          reason:
            "the chain's public key is missing and no trust root is configured " +
            "(GOOSE_EVIDENCE_PUBLIC_KEY, GOOSE_EVIDENCE_KEY or the key file)",
        },
      };
    }
    const keyid = keyIdOf(publicKey);
    const fail = (p: VerifyProblem, records: number, h?: ChainHead): VerifyResult => ({
      ok: false,
      records,
      keyid,
      notes,
      trust,
      firstBad: p,
      ...(h ? { head: h } : {}),
    });
    // After a key rotation the walk starts at the chain's first key (the store's public key) and
    // must end at the trust root: each rotation is countersigned by its new key over the chain so far.
    const rotated = (await store.head(EVIDENCE_KEYS.rotations)) !== undefined;
    let startKey = publicKey;
    if (root.publicKey && storeKey && keyIdOf(storeKey) !== keyid && rotated) {
      startKey = storeKey;
    } else if (root.publicKey && storeKey && keyIdOf(storeKey) !== keyid) {
      return fail(
        {
          segment: EVIDENCE_KEYS.publicKey,
          reason:
            `wrong key: the chain's public key is ${keyIdOf(storeKey)} but the trusted key ` +
            `(${root.source}) is ${keyid}`,
        },
        0,
      );
    }
    if (root.publicKey && !storeKey && hasAny) {
      notes.push(
        `${EVIDENCE_KEYS.publicKey} is missing; records are checked against ${root.source}`,
      );
    }
    /** Hash of every record walked, by seq (to check anchors and repeated lines). */
    const hashes = new Map<number, string>();
    const pruned: Array<{ first: number; last: number; lastHash: string }> = [];

    let expectedSeq = 1;
    let prevHash = GENESIS_PREV;
    let count = 0;
    // The key that signs from here on: the genesis key, then each rotation's new key.
    let curKey = startKey;
    let curKeyid = keyIdOf(startKey);
    const keysById = new Map<string, KeyObject>([[curKeyid, startKey]]);
    const retiredAt = new Map<string, number>();
    /** Seq from which each key signs (for the head's signature). */
    const keyFrom: Array<{ seq: number; key: KeyObject; keyid: string }> = [
      { seq: 0, key: startKey, keyid: curKeyid },
    ];
    const tombstones: Array<{ key: string; t: PrunedSegment }> = [];
    for (const seg of segs) {
      if (seg.kind === "pruned") {
        const obj = await store.get(seg.key);
        let t: PrunedSegment;
        try {
          t = JSON.parse(obj?.body.toString("utf8") ?? "") as PrunedSegment;
        } catch {
          return fail({ segment: seg.key, reason: "pruned-segment tombstone is not JSON" }, count);
        }
        // Signed by the key of the chain at prune time, maybe one rotated in later: checked last.
        tombstones.push({ key: seg.key, t });
        if (
          t.firstSeq !== expectedSeq ||
          t.firstPrev !== prevHash ||
          t.firstSeq !== seg.firstSeq ||
          t.lastSeq !== seg.lastSeq
        ) {
          return fail(
            {
              segment: seg.key,
              seq: t.firstSeq,
              reason: `pruned range ${t.firstSeq}-${t.lastSeq} does not follow seq ${expectedSeq - 1}`,
            },
            count,
          );
        }
        expectedSeq = t.lastSeq + 1;
        prevHash = t.lastHash;
        pruned.push({ first: t.firstSeq, last: t.lastSeq, lastHash: t.lastHash });
        continue;
      }
      let lines: string[];
      try {
        lines = await segmentLines(seg);
      } catch (err) {
        return fail(
          { segment: seg.key, reason: `cannot read the segment: ${(err as Error).message}` },
          count,
        );
      }
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i] ?? "";
        const where = { segment: seg.key, line: i + 1 };
        let rec: StoredRecord;
        try {
          rec = JSON.parse(line) as StoredRecord;
        } catch {
          return fail(
            {
              ...where,
              seq: expectedSeq,
              reason: `record ${expectedSeq} is not JSON (edited or truncated)`,
            },
            count,
          );
        }
        const id = typeof rec.seq === "number" ? recordId(rec.seq, recordHash(line)) : undefined;
        const at = { ...where, seq: rec.seq, ...(id ? { id } : {}) };
        // After a crash between archiving and clearing, the active segment may repeat archived
        // records: only a byte-identical copy of the archived record passes; anything else at or
        // below the current seq is injected.
        if (seg.kind === "active" && typeof rec.seq === "number" && rec.seq < expectedSeq) {
          if (hashes.get(rec.seq) === recordHash(line)) {
            notes.push(`${seg.key} line ${i + 1} repeats archived record ${rec.seq}`);
            continue;
          }
          return fail(
            {
              ...at,
              reason:
                `record ${rec.seq} is at or below the current seq ${expectedSeq - 1} but is not a ` +
                "copy of an archived record (injected or edited)",
            },
            count,
          );
        }
        if (rec.seq !== expectedSeq) {
          return fail(
            {
              ...at,
              reason: `expected record ${expectedSeq} here but found seq ${String(rec.seq)} (deleted or reordered)`,
            },
            count,
          );
        }
        if (canonical(rec) !== line) {
          return fail(
            { ...at, reason: `record ${rec.seq} is not in canonical JSON (edited)` },
            count,
          );
        }
        if (rec.prev !== prevHash) {
          return fail(
            {
              ...at,
              reason: `record ${rec.seq} does not chain to the previous record (prev ${rec.prev} ≠ ${prevHash})`,
            },
            count,
          );
        }
        if (rec.keyid !== curKeyid || !verifyPayload(curKey, canonical(withoutSig(rec)), rec.sig)) {
          const retired = retiredAt.get(rec.keyid);
          return fail(
            {
              ...at,
              reason:
                retired !== undefined
                  ? `record ${rec.seq} is signed by ${rec.keyid}, which record ${retired} rotated out; only ${curKeyid} signs after it (old key after rotation)`
                  : rec.keyid !== curKeyid
                    ? `record ${rec.seq} is signed by ${rec.keyid}, not the chain's key ${curKeyid} (wrong key)`
                    : `record ${rec.seq} signature does not verify (edited)`,
            },
            count,
          );
        }
        if (isEvidenceKeyRotation(rec)) {
          const c = checkRotation(rec, curKeyid);
          if ("error" in c) return fail({ ...at, reason: c.error }, count);
          retiredAt.set(curKeyid, rec.seq);
          curKey = c.key;
          curKeyid = c.keyid;
          keysById.set(c.keyid, c.key);
          keyFrom.push({ seq: rec.seq, key: c.key, keyid: c.keyid });
        }
        prevHash = recordHash(line);
        hashes.set(rec.seq, prevHash);
        expectedSeq = rec.seq + 1;
        count++;
      }
    }
    const last: ChainHead | undefined =
      expectedSeq > 1 ? { seq: expectedSeq - 1, hash: prevHash } : undefined;
    for (const { key: segKey, t } of tombstones) {
      const signer = keysById.get(t.keyid);
      if (!signer || !verifyPayload(signer, canonical(withoutSig(t)), t.sig)) {
        return fail(
          { segment: segKey, reason: "pruned-segment tombstone signature does not verify" },
          count,
          last,
        );
      }
    }
    if (root.publicKey && root.keyid !== curKeyid) {
      const retired = retiredAt.get(root.keyid ?? "");
      return fail(
        {
          segment: EVIDENCE_KEYS.publicKey,
          reason:
            retired !== undefined
              ? `wrong key: the trusted key ${root.keyid} (${root.source}) was rotated out by record ${retired}; the chain is signed by ${curKeyid} now (trust that key)`
              : `wrong key: the chain is signed by ${curKeyid} but the trusted key (${root.source}) is ${root.keyid}`,
        },
        count,
        last,
      );
    }
    const headObj = await store.get(EVIDENCE_KEYS.head);
    if (headObj) {
      let h: ChainHead & { sig: string; keyid: string; time: string };
      try {
        h = JSON.parse(headObj.body.toString("utf8")) as typeof h;
      } catch {
        return fail({ segment: EVIDENCE_KEYS.head, reason: "head.json is not JSON" }, count, last);
      }
      // Signed by the key in effect after the head's record (a rotation record's head by the new key).
      const headKey = keyFrom.filter((k) => k.seq <= h.seq).at(-1)?.key ?? startKey;
      if (!verifyPayload(headKey, canonical(withoutSig(h)), h.sig)) {
        return fail(
          { segment: EVIDENCE_KEYS.head, reason: "head.json signature does not verify" },
          count,
          last,
        );
      }
      if (!last || h.seq > last.seq) {
        return fail(
          {
            segment: EVIDENCE_KEYS.active,
            seq: last ? last.seq + 1 : 1,
            reason: `truncated: head.json records seq ${h.seq} but the chain ends at ${last ? `seq ${last.seq}` : "nothing"}`,
          },
          count,
          last,
        );
      }
      if (h.seq === last.seq && h.hash !== last.hash) {
        return fail(
          {
            segment: EVIDENCE_KEYS.active,
            seq: last.seq,
            reason: `record ${last.seq} differs from the signed head`,
          },
          count,
          last,
        );
      }
      if (h.seq < last.seq)
        notes.push(
          `head.json lags the chain (seq ${h.seq} < ${last.seq}): a writer stopped after appending`,
        );
    } else if (last) {
      notes.push("head.json is missing: truncation at the end cannot be ruled out");
    }
    // Truncation below anything kept outside the chain.
    for (const a of await anchors()) {
      const where = { segment: EVIDENCE_KEYS.active };
      if (a.seq < 0) {
        // --expect-head by full hash: some record must have it.
        if (![...hashes.values()].includes(a.hash) && !pruned.some((p) => p.lastHash === a.hash)) {
          return fail(
            {
              ...where,
              reason: `truncated or rewritten: no record has the hash given by ${a.source}`,
            },
            count,
            last,
          );
        }
        continue;
      }
      if (!last || a.seq > last.seq) {
        return fail(
          {
            ...where,
            seq: last ? last.seq + 1 : 1,
            reason:
              `truncated: ${a.source} refers to record ${a.seq} but the chain ends at ` +
              `${last ? `seq ${last.seq}` : "nothing"}`,
          },
          count,
          last,
        );
      }
      const have = hashes.get(a.seq);
      const matches = (h: string) =>
        a.hash.startsWith("sha256:") ? h === a.hash : h.slice(7, 19) === a.hash;
      if (
        have !== undefined
          ? !matches(have)
          : !pruned.some(
              (p) =>
                a.seq >= p.first && a.seq <= p.last && (a.seq !== p.last || matches(p.lastHash)),
            )
      ) {
        return fail(
          {
            ...where,
            seq: a.seq,
            reason: `rewritten: record ${a.seq} is not the one ${a.source} refers to`,
          },
          count,
          last,
        );
      }
    }
    if (last) saveLocalAnchor(env, anchorId, last);
    if (!root.publicKey) {
      notes.unshift(
        "WARNING: no evidence trust root is configured, so records were checked against " +
          `${EVIDENCE_KEYS.publicKey} from the store itself: anyone who can write the store can ` +
          "re-sign the chain. Set GOOSE_EVIDENCE_PUBLIC_KEY to the signer's public key (SPKI PEM " +
          "or base64), or verify where GOOSE_EVIDENCE_KEY / the key file is",
      );
    }
    if (curKeyid !== keyIdOf(startKey))
      notes.push(`signing key rotated: ${keyIdOf(startKey)} → ${curKeyid}`);
    return {
      ok: true,
      records: count,
      keyid: curKeyid,
      notes,
      trust,
      ...(last ? { head: last } : {}),
    };
  }

  async function list(
    filter: { stage?: StageName; kind?: string } = {},
  ): Promise<EvidenceRecord[]> {
    // Only a chain that verifies is read: an injected or edited line is never listed silently.
    const v = await verify();
    if (!v.ok) {
      const b = v.firstBad;
      throw new EvidenceTamperedError(
        `the evidence chain in ${store.url} does not verify (first bad ` +
          `${b?.seq !== undefined ? `record seq ${b.seq}` : "file"} in ${b?.segment ?? "?"}: ` +
          `${b?.reason ?? "?"}); its records are not read`,
        { fix: `goose evidence verify --store ${store.url}` },
      );
    }
    const out: EvidenceRecord[] = [];
    let lastSeq = 0;
    for (const seg of await segments()) {
      if (seg.kind === "pruned") continue;
      for (const line of await segmentLines(seg)) {
        let stored: StoredRecord;
        try {
          stored = JSON.parse(line) as StoredRecord;
        } catch {
          continue;
        }
        // A verified copy of an archived record (crash between archive and clear): once.
        if (stored.seq <= lastSeq) continue;
        lastSeq = stored.seq;
        if (filter.stage && stored.stage !== filter.stage) continue;
        if (
          filter.kind &&
          stored.kind !== filter.kind &&
          !stored.kind.startsWith(filter.kind + ".")
        )
          continue;
        out.push(toRecord(stored, line));
      }
    }
    return out;
  }

  async function rotateKey(to: EvidenceKey, o: { reason?: string } = {}): Promise<EvidenceRecord> {
    const from = signingKey();
    if (from.keyid === to.keyid)
      throw new EvidenceKeyError(
        `the new evidence key is the key in use (${to.keyid}); generate a new one (goose keys rotate evidence does)`,
      );
    const rotatedAt = now().toISOString();
    const rec = await append(
      {
        kind: KEY_ROTATED_KIND,
        subject: [
          {
            name: `evidence-key:${to.keyid}`,
            digest: { sha256: sha256Hex(publicKeyPem(to.publicKey)) },
          },
        ],
        data: { reason: o.reason ?? "" },
      },
      (unsigned) => rotationData(from, to, { seq: unsigned.seq, prev: unsigned.prev, rotatedAt }),
    );
    // From here on the new key signs: the head at the rotation record included.
    key = to;
    keyChecked = false;
    await store.put(
      EVIDENCE_KEYS.rotations,
      canonical({ keyid: to.keyid, record: rec.id, seq: rec.seq }) + "\n",
      { contentType: "application/json" },
    );
    await writeHead(to, { seq: rec.seq, hash: rec.hash }, true);
    return rec;
  }

  return {
    rotateKey,
    async currentKeyid() {
      const pem = await store.get(EVIDENCE_KEYS.publicKey);
      if (!pem) return undefined;
      return (
        await currentKeyid(parsePublicKey(pem.body.toString("utf8"), EVIDENCE_KEYS.publicKey))
      ).keyid;
    },
    append: (input: EvidenceInput) => append(input),
    verify,
    list,
    head,
    rotate,
    applyRetention,
    signingKey,
    async publicKey() {
      return (await store.get(EVIDENCE_KEYS.publicKey))?.body.toString("utf8");
    },
  };
}

/**
 * The evidence chain in a store: reads the segment layout (layout.ts), appends records by
 * compare-and-swap, keeps head.json and the public key beside it, rotates segments and the
 * signing key. Records are record.ts, verification is the pure verify.ts over what this module
 * reads, retention is retention.ts.
 */
import type { KeyObject } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
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
import { archiveKey, EVIDENCE_KEYS, segmentsOf, type Segment } from "./layout.js";
import {
  canonical,
  GENESIS_PREV,
  headOfLine,
  parseRecordLine,
  recordHash,
  recordId,
  sha256Hex,
  signed,
  splitLines,
  toRecord,
  verifySigned,
  type ChainHead,
  type EvidenceInput,
  type EvidenceRecord,
  type PrunedSegment,
  type StoredRecord,
} from "./record.js";
import { applyRetention, type RetentionPolicy } from "./retention.js";
import {
  verifyChain,
  type SegmentContents,
  type VerifyOptions,
  type VerifyResult,
} from "./verify.js";

/** How long an append keeps retrying lost compare-and-swap races. */
const APPEND_WAIT_MS = 120_000;

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
    for await (const { line, record: r } of liveRecords()) {
      if (!r || !isEvidenceKeyRotation(r) || r.keyid !== keyid) continue;
      if (!verifySigned(key, r)) continue;
      const c = checkRotation(r, keyid);
      if ("error" in c) continue;
      retired.set(keyid, recordId(r.seq, recordHash(line)));
      key = c.key;
      keyid = c.keyid;
    }
    return { keyid, retired };
  }

  async function segments(): Promise<Segment[]> {
    return segmentsOf(await store.list(EVIDENCE_KEYS.archivePrefix));
  }

  async function segmentLines(seg: Segment): Promise<string[]> {
    const obj = await store.get(seg.key);
    if (!obj) return [];
    return splitLines(seg.kind === "archive" ? gunzipSync(obj.body) : obj.body);
  }

  /**
   * Every line of the segments that hold records (archives, then the active one), with its
   * record (undefined when the line is not JSON). Lines are not checked: only a chain that
   * verifies is read as evidence (see list).
   */
  async function* liveRecords(): AsyncGenerator<{
    segment: Segment;
    line: string;
    record: StoredRecord | undefined;
  }> {
    for (const segment of await segments()) {
      if (segment.kind === "pruned") continue;
      for (const line of await segmentLines(segment)) {
        yield { segment, line, record: parseRecordLine(line) };
      }
    }
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
    const line = (await segmentLines(last)).at(-1);
    return line === undefined ? undefined : headOfLine(line);
  }

  async function head(): Promise<ChainHead | undefined> {
    const active = await store.get(EVIDENCE_KEYS.active);
    const lines = active ? splitLines(active.body) : [];
    const line = lines[lines.length - 1];
    return line !== undefined ? headOfLine(line) : archivedHead();
  }

  async function writeHead(k: EvidenceKey, h: ChainHead, resignSameSeq = false): Promise<void> {
    const body = { seq: h.seq, hash: h.hash, time: now().toISOString(), keyid: k.keyid };
    const signedHead = signed(k.privateKey, body);
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
        return { write: canonical(signedHead) + "\n", result: undefined };
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
        const prevHead = lastLine !== undefined ? headOfLine(lastLine) : await archivedHead();
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
        const stored: StoredRecord = signed(k.privateKey, unsigned);
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

  async function retain(policy: RetentionPolicy): Promise<{ pruned: string[] }> {
    return applyRetention(
      {
        store,
        now,
        async signingKey() {
          const k = signingKey();
          await ensurePublicKey(k);
          return k;
        },
        async *archives() {
          for (const segment of await segments()) {
            if (segment.kind === "archive") yield { segment, lines: await segmentLines(segment) };
          }
        },
        append: (input) => append(input),
      },
      policy,
    );
  }

  async function verify(vopts: VerifyOptions = {}): Promise<VerifyResult> {
    // What we trust comes from configuration only (resolveTrustRoot), never from the store.
    const root = resolveTrustRoot(env);
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
    const anchors: Anchor[] = [];
    const local = readLocalAnchor(env, anchorId);
    if (local) anchors.push(local);
    if (expect) {
      anchors.push({
        seq: expect.seq ?? -1,
        hash: expect.hash,
        source: `--expect-head ${vopts.expectHead ?? ""}`,
      });
    }
    anchors.push(...(await storeReferences(store)));
    const pemObj = await store.get(EVIDENCE_KEYS.publicKey);
    const segs = await segments();
    const hasAny =
      segs.length > 1 ||
      (await store.head(EVIDENCE_KEYS.active)) !== undefined ||
      (await store.head(EVIDENCE_KEYS.head)) !== undefined;
    const contents: SegmentContents[] = [];
    for (const seg of segs) {
      if (seg.kind === "pruned") {
        const body = (await store.get(seg.key))?.body.toString("utf8");
        contents.push({ ...seg, kind: "pruned", body });
        continue;
      }
      try {
        contents.push({ key: seg.key, kind: seg.kind, lines: await segmentLines(seg) });
      } catch (err) {
        contents.push({ key: seg.key, kind: seg.kind, readError: (err as Error).message });
      }
    }
    const headObj = await store.get(EVIDENCE_KEYS.head);
    const result = verifyChain(
      {
        segments: contents,
        hasAny,
        rotated: (await store.head(EVIDENCE_KEYS.rotations)) !== undefined,
        ...(pemObj ? { publicKeyPem: pemObj.body.toString("utf8") } : {}),
        ...(headObj ? { headJson: headObj.body.toString("utf8") } : {}),
      },
      root,
      anchors,
    );
    if (result.ok && result.head) saveLocalAnchor(env, anchorId, result.head);
    return result;
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
    for await (const { line, record: stored } of liveRecords()) {
      // A verified copy of an archived record (crash between archive and clear): once.
      if (!stored || stored.seq <= lastSeq) continue;
      lastSeq = stored.seq;
      if (filter.stage && stored.stage !== filter.stage) continue;
      if (filter.kind && stored.kind !== filter.kind && !stored.kind.startsWith(filter.kind + "."))
        continue;
      out.push(toRecord(stored, line));
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
    applyRetention: retain,
    signingKey,
    async publicKey() {
      return (await store.get(EVIDENCE_KEYS.publicKey))?.body.toString("utf8");
    },
  };
}

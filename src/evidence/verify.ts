/**
 * Verifying an evidence chain: a pure function over what the store holds (segments, head.json,
 * the store's public key), the configured trust root and the anchors kept outside the chain.
 * It reads nothing and writes nothing; chain.ts gathers the contents and saves the local anchor.
 */
import type { KeyObject } from "node:crypto";
import type { Anchor } from "./anchors.js";
import { checkRotation, isEvidenceKeyRotation } from "./key-rotation.js";
import { keyIdOf, parsePublicKey, type TrustRoot } from "./keys.js";
import { EVIDENCE_KEYS } from "./layout.js";
import {
  canonical,
  GENESIS_PREV,
  recordHash,
  recordId,
  verifySigned,
  type ChainHead,
  type PrunedSegment,
  type StoredRecord,
} from "./record.js";

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

/** One segment as read from the store, in chain order (the active one last). */
export type SegmentContents =
  /** A retention tombstone: its body as stored (undefined when it vanished). */
  | { key: string; kind: "pruned"; firstSeq?: number; lastSeq?: number; body: string | undefined }
  /** An archive (decompressed) or the active segment: its lines, or why it could not be read. */
  | { key: string; kind: "archive" | "active"; lines: string[] }
  | { key: string; kind: "archive" | "active"; readError: string };

/** Everything about a chain that verification looks at, as read from the store. */
export interface ChainContents {
  segments: SegmentContents[];
  /** Whether the store holds any of it: an archive, the active segment or head.json. */
  hasAny: boolean;
  /** The store's `evidence/public-key.pem`, when there is one. */
  publicKeyPem?: string;
  /** `evidence/head.json`, when there is one. */
  headJson?: string;
  /** Whether `evidence/key-rotations.json` exists (the key was rotated). */
  rotated: boolean;
}

/**
 * Checks `chain` against `root` (what the user trusts) and `anchors` (records other places refer
 * to, in the order they are reported) and names the first bad record or file.
 */
export function verifyChain(
  chain: ChainContents,
  root: TrustRoot,
  anchors: Anchor[],
): VerifyResult {
  const notes: string[] = [];
  const trust: VerifyResult["trust"] = root.publicKey
    ? { configured: true, source: root.source ?? "", keyid: root.keyid ?? "" }
    : { configured: false };
  /** A failure before any record was read. */
  const unread = (firstBad: VerifyProblem): VerifyResult => ({
    ok: false,
    records: 0,
    notes,
    trust,
    firstBad,
  });
  if (!chain.hasAny) {
    // An empty chain is fine only when nothing outside it says records existed.
    const first = anchors[0];
    if (first) {
      return unread({
        segment: EVIDENCE_KEYS.active,
        reason: `truncated: the chain is empty but ${first.source} refers to record ${first.seq >= 0 ? first.seq : first.hash}`,
      });
    }
    if (chain.publicKeyPem === undefined)
      return { ok: true, records: 0, notes: ["the chain is empty"], trust };
  }
  let storeKey: KeyObject | undefined;
  if (chain.publicKeyPem !== undefined) {
    try {
      storeKey = parsePublicKey(chain.publicKeyPem, EVIDENCE_KEYS.publicKey);
    } catch (err) {
      if (!root.publicKey) {
        return unread({ segment: EVIDENCE_KEYS.publicKey, reason: (err as Error).message });
      }
      notes.push(`${EVIDENCE_KEYS.publicKey} is not a public key; it is not used`);
    }
  }
  const publicKey = root.publicKey ?? storeKey;
  if (!publicKey) {
    return unread({
      segment: EVIDENCE_KEYS.publicKey,
      reason:
        "the chain's public key is missing and no trust root is configured " +
        "(GOOSE_EVIDENCE_PUBLIC_KEY, GOOSE_EVIDENCE_KEY or the key file)",
    });
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
  const rotated = chain.rotated;
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
  if (root.publicKey && !storeKey && chain.hasAny) {
    notes.push(`${EVIDENCE_KEYS.publicKey} is missing; records are checked against ${root.source}`);
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
  for (const seg of chain.segments) {
    if (seg.kind === "pruned") {
      let t: PrunedSegment;
      try {
        t = JSON.parse(seg.body ?? "") as PrunedSegment;
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
    if ("readError" in seg) {
      return fail({ segment: seg.key, reason: `cannot read the segment: ${seg.readError}` }, count);
    }
    const lines = seg.lines;
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
      if (rec.keyid !== curKeyid || !verifySigned(curKey, rec)) {
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
    if (!signer || !verifySigned(signer, t)) {
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
  if (chain.headJson !== undefined) {
    let h: ChainHead & { sig: string; keyid: string; time: string };
    try {
      h = JSON.parse(chain.headJson) as typeof h;
    } catch {
      return fail({ segment: EVIDENCE_KEYS.head, reason: "head.json is not JSON" }, count, last);
    }
    // Signed by the key in effect after the head's record (a rotation record's head by the new key).
    const headKey = keyFrom.filter((k) => k.seq <= h.seq).at(-1)?.key ?? startKey;
    if (!verifySigned(headKey, h)) {
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
  for (const a of anchors) {
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
            (p) => a.seq >= p.first && a.seq <= p.last && (a.seq !== p.last || matches(p.lastHash)),
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

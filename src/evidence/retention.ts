/**
 * Evidence retention: which archived segments have outlived the retention of every stage they
 * hold, and the signed tombstone that replaces one (so the next segment still chains from its
 * last hash). The walk over the store is `applyRetention`, given the chain's ports.
 */
import { STAGES, type StageName } from "../config/stages.js";
import type { ObjectStore } from "../store/types.js";
import { isEvidenceKeyRotation } from "./key-rotation.js";
import type { EvidenceKey } from "./keys.js";
import { archiveKey, type Segment } from "./layout.js";
import {
  canonical,
  recordHash,
  sha256Hex,
  signed,
  type EvidenceInput,
  type PrunedSegment,
  type StoredRecord,
} from "./record.js";

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

/**
 * Whether an archived segment's records have all expired at `at`. A segment holding an evidence
 * key rotation is kept: verify needs it to follow the key.
 */
export function segmentExpired(recs: StoredRecord[], policy: RetentionPolicy, at: Date): boolean {
  const longest = Math.max(...STAGES.map((s) => policy.days[s]));
  return (
    !recs.some((r) => isEvidenceKeyRotation(r)) &&
    recs.every((r) => {
      const days = r.stage ? policy.days[r.stage] : longest;
      return at.getTime() - Date.parse(r.time) > days * 86_400_000;
    })
  );
}

/** The signed tombstone for an archived segment of `lines` (at least one), pruned at `at`. */
export function tombstoneFor(lines: string[], key: EvidenceKey, at: Date): PrunedSegment {
  const first = JSON.parse(lines[0] ?? "") as StoredRecord;
  const lastLine = lines[lines.length - 1] ?? "";
  return signed(key.privateKey, {
    firstSeq: first.seq,
    lastSeq: (JSON.parse(lastLine) as StoredRecord).seq,
    firstPrev: first.prev,
    lastHash: recordHash(lastLine),
    prunedAt: at.toISOString(),
    keyid: key.keyid,
  });
}

/** What retention needs from the chain. */
export interface RetentionPorts {
  store: ObjectStore;
  /** The signing key, checked against the chain's public key. */
  signingKey(): Promise<EvidenceKey>;
  /** The archived (gzip) segments, oldest first, with their lines. */
  archives(): AsyncIterable<{ segment: Segment; lines: string[] }>;
  append(input: EvidenceInput): Promise<unknown>;
  now(): Date;
}

/**
 * Replaces every expired archived segment with its tombstone and records an
 * `evidence.retention` record for it.
 */
export async function applyRetention(
  ports: RetentionPorts,
  policy: RetentionPolicy,
): Promise<{ pruned: string[] }> {
  const { store } = ports;
  const at = policy.now ?? ports.now();
  const k = await ports.signingKey();
  const pruned: string[] = [];
  for await (const { segment: seg, lines } of ports.archives()) {
    const recs = lines.map((l) => JSON.parse(l) as StoredRecord);
    if (lines.length === 0 || !segmentExpired(recs, policy, at)) continue;
    const tomb = tombstoneFor(lines, k, at);
    const tombKey = archiveKey(tomb.firstSeq, tomb.lastSeq, ".pruned.json");
    const obj = await store.get(seg.key);
    await store.put(tombKey, canonical(tomb) + "\n", { contentType: "application/json" });
    await store.delete(seg.key);
    pruned.push(seg.key);
    await ports.append({
      kind: "evidence.retention",
      subject: [{ name: seg.key, digest: { sha256: obj ? sha256Hex(obj.body) : "" } }],
      data: {
        firstSeq: tomb.firstSeq,
        lastSeq: tomb.lastSeq,
        lastHash: tomb.lastHash,
        tombstone: tombKey,
      },
    });
  }
  return { pruned };
}

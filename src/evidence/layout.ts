/**
 * Where the evidence chain lives in the store: key names only (no store access), shared by
 * chain.ts (reads and writes them), verify.ts (names them in problems) and retention.ts.
 */

/** Store layout, all under `evidence/`. */
export const EVIDENCE_KEYS = {
  publicKey: "evidence/public-key.pem",
  head: "evidence/head.json",
  active: "evidence/chain.jsonl",
  archivePrefix: "evidence/archive/",
  /** A hint that the signing key was rotated (so appends look for the current key); not trusted. */
  rotations: "evidence/key-rotations.json",
} as const;

/** A segment of the chain in the store, oldest first; the active one is last. */
export interface Segment {
  key: string;
  kind: "archive" | "pruned" | "active";
  firstSeq?: number;
  lastSeq?: number;
}

const ARCHIVE_RE = /^evidence\/archive\/(\d{12})-(\d{12})\.(jsonl\.gz|pruned\.json)$/;

/** The key of an archive (`.jsonl.gz`) or tombstone (`.pruned.json`) for seqs first..last. */
export function archiveKey(firstSeq: number, lastSeq: number, suffix: string): string {
  const pad = (n: number) => String(n).padStart(12, "0");
  return `${EVIDENCE_KEYS.archivePrefix}${pad(firstSeq)}-${pad(lastSeq)}${suffix}`;
}

/** The segments named by `keys` (a listing of the archive prefix) in chain order, active last. */
export function segmentsOf(keys: string[]): Segment[] {
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

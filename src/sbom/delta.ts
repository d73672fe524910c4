/**
 * Incremental SBOM storage: a new SBOM of a stage is stored as a delta against the previous one
 * (components kept, added, removed, changed) when that is smaller, else in full; both gzip-
 * compressed. The SBOMs are canonical JSON (RFC 8785, as the sbom gate writes them), so a
 * reconstruction is byte for byte and is checked against the SBOM's SHA-256 on write and read.
 *
 * Store layout (apart from snapshots, with its own retention):
 *   sbom-archive/<stage>/<seq 12 digits>-<sha256>.full.json.gz    the canonical SBOM, gzip
 *   sbom-archive/<stage>/<seq 12 digits>-<sha256>.delta.json.gz   a SbomDelta, gzip
 * A delta's base is the entry just before it; at most MAX_CHAIN deltas follow a full entry.
 */
import { createHash } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import canonicalize from "canonicalize";
import type { StageName } from "../config/stages.js";
import { CheckFailedError } from "../errors.js";
import type { ObjectStore } from "../store/types.js";

export const SBOM_ARCHIVE_PREFIX = "sbom-archive/";
/** A full entry at least every this many entries, so a read never replays a long chain. */
export const MAX_CHAIN = 8;

type Json = Record<string, unknown>;

/** Target components: runs copied from the base (by index) and literal components. */
export type DeltaOp = { copy: [number, number] } | { add: unknown };

export interface SbomDelta {
  format: "goose.sbom-delta/v1";
  /** SHA-256 (hex) of the base SBOM and of the reconstructed one. */
  base: string;
  target: string;
  /** The SBOM without `components`. */
  doc: Json;
  components: DeltaOp[];
  /** For people: what changed. */
  summary: { added: number; removed: number; changed: number; kept: number };
}

const sha256 = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");
const canon = (v: unknown): string => {
  const s = canonicalize(v);
  if (s === undefined) throw new Error("value has no JSON form");
  return s;
};

function identity(c: unknown): string {
  const o = (c ?? {}) as { "bom-ref"?: string; purl?: string; name?: string; group?: string };
  if (o["bom-ref"]) return o["bom-ref"].replace(/@[^@/]*$/, "");
  if (o.purl) return o.purl.replace(/@[^@/]*$/, "");
  return `${o.group ?? ""}/${o.name ?? ""}`;
}

/** The delta that turns canonical SBOM `base` into canonical SBOM `target`. */
export function diffSbom(base: string, target: string): SbomDelta {
  const b = JSON.parse(base) as Json;
  const t = JSON.parse(target) as Json;
  const bc = (Array.isArray(b.components) ? b.components : []) as unknown[];
  const tc = (Array.isArray(t.components) ? t.components : []) as unknown[];
  const index = new Map<string, number>();
  bc.forEach((c, i) => index.set(canon(c), i));
  const baseIds = new Set(bc.map(identity));
  const targetIds = new Set(tc.map(identity));
  const ops: DeltaOp[] = [];
  let added = 0;
  let changed = 0;
  let kept = 0;
  for (const c of tc) {
    const i = index.get(canon(c));
    const last = ops[ops.length - 1];
    if (i !== undefined) {
      kept++;
      if (last && "copy" in last && last.copy[1] === i) last.copy[1] = i + 1;
      else ops.push({ copy: [i, i + 1] });
    } else {
      if (baseIds.has(identity(c))) changed++;
      else added++;
      ops.push({ add: c });
    }
  }
  const removed = [...baseIds].filter((id) => !targetIds.has(id)).length;
  const doc = { ...t };
  delete doc.components;
  return {
    format: "goose.sbom-delta/v1",
    base: sha256(base),
    target: sha256(target),
    doc,
    components: ops,
    summary: { added, removed, changed, kept },
  };
}

/** Rebuilds the target SBOM from its base; CheckFailedError when a digest does not match. */
export function applySbomDelta(base: string, delta: SbomDelta): string {
  if (sha256(base) !== delta.base)
    throw new CheckFailedError(
      `SBOM delta to ${delta.target} expects base ${delta.base}, got ${sha256(base)}`,
      {
        code: "sbom-delta-base",
        fix: "the archive was edited or an entry is missing: goose keeps the SBOM in sbom/<stage>/ too",
      },
    );
  const bc = ((JSON.parse(base) as Json).components ?? []) as unknown[];
  const components: unknown[] = [];
  for (const op of delta.components) {
    if ("copy" in op) components.push(...bc.slice(op.copy[0], op.copy[1]));
    else components.push(op.add);
  }
  const out = canon({ ...delta.doc, components });
  if (sha256(out) !== delta.target)
    throw new CheckFailedError(
      `SBOM ${delta.target} rebuilt from its delta has digest ${sha256(out)}: the delta was edited`,
      { code: "sbom-delta-digest" },
    );
  return out;
}

export interface ArchiveEntry {
  key: string;
  seq: number;
  sha256: string;
  kind: "full" | "delta";
}

const ENTRY_RE = /\/(\d{12})-([0-9a-f]{64})\.(full|delta)\.json\.gz$/;

export async function listSbomArchive(
  store: ObjectStore,
  stage: StageName,
): Promise<ArchiveEntry[]> {
  const out: ArchiveEntry[] = [];
  for (const key of await store.list(`${SBOM_ARCHIVE_PREFIX}${stage}/`)) {
    const m = ENTRY_RE.exec(key);
    if (m) out.push({ key, seq: Number(m[1]), sha256: m[2]!, kind: m[3] as "full" | "delta" });
  }
  return out.sort((a, b) => a.seq - b.seq);
}

/** Reads an archived SBOM (canonical JSON), replaying deltas from the last full entry. */
export async function readArchivedSbom(
  store: ObjectStore,
  stage: StageName,
  sha: string,
): Promise<string | undefined> {
  const entries = await listSbomArchive(store, stage);
  const at = entries.findIndex((e) => e.sha256 === sha);
  if (at < 0) return undefined;
  let start = at;
  while (start > 0 && entries[start]!.kind === "delta") start--;
  let text: string | undefined;
  for (const e of entries.slice(start, at + 1)) {
    const obj = await store.get(e.key);
    if (!obj)
      throw new CheckFailedError(`SBOM archive entry ${e.key} disappeared`, {
        code: "sbom-archive",
      });
    const body = gunzipSync(obj.body).toString("utf8");
    if (e.kind === "full") text = body;
    else text = applySbomDelta(text ?? "", JSON.parse(body) as SbomDelta);
    if (sha256(text) !== e.sha256)
      throw new CheckFailedError(`SBOM archive entry ${e.key} does not match its digest`, {
        code: "sbom-archive-digest",
      });
  }
  return text;
}

/**
 * Archives a canonical SBOM for a stage: a delta against the stage's previous one when its
 * compressed form is smaller (and the chain is short enough), else full. Idempotent by digest.
 */
export async function archiveSbom(
  store: ObjectStore,
  stage: StageName,
  json: string,
): Promise<ArchiveEntry & { bytes: number; plainBytes: number }> {
  const sha = sha256(json);
  const entries = await listSbomArchive(store, stage);
  const existing = entries.find((e) => e.sha256 === sha);
  if (existing) {
    const head = await store.head(existing.key);
    return { ...existing, bytes: head?.size ?? 0, plainBytes: Buffer.byteLength(json) };
  }
  const last = entries[entries.length - 1];
  const seq = (last?.seq ?? 0) + 1;
  const full = gzipSync(json, { level: 9 });
  let body = full;
  let kind: "full" | "delta" = "full";
  let chain = 0;
  for (let i = entries.length - 1; i >= 0 && entries[i]!.kind === "delta"; i--) chain++;
  if (last && chain < MAX_CHAIN) {
    const base = await readArchivedSbom(store, stage, last.sha256);
    if (base !== undefined) {
      const delta = diffSbom(base, json);
      // Proven reconstructable before it replaces the full form.
      if (applySbomDelta(base, delta) === json) {
        const packed = gzipSync(canon(delta), { level: 9 });
        if (packed.length < full.length) {
          body = packed;
          kind = "delta";
        }
      }
    }
  }
  const key = `${SBOM_ARCHIVE_PREFIX}${stage}/${String(seq).padStart(12, "0")}-${sha}.${kind}.json.gz`;
  await store.put(key, body, { ifNoneMatch: true, contentType: "application/gzip" });
  return { key, seq, sha256: sha, kind, bytes: body.length, plainBytes: Buffer.byteLength(json) };
}

/**
 * SBOM archive retention: keeps the newest `keepLast` entries of the stage and every entry a
 * kept delta needs (back to its full entry); removes the rest, oldest first.
 */
export async function pruneSbomArchive(
  store: ObjectStore,
  stage: StageName,
  keepLast: number,
): Promise<string[]> {
  const entries = await listSbomArchive(store, stage);
  let keepFrom = Math.max(0, entries.length - keepLast);
  while (keepFrom > 0 && entries[keepFrom]!.kind === "delta") keepFrom--;
  const removed: string[] = [];
  for (const e of entries.slice(0, keepFrom)) {
    await store.delete(e.key);
    removed.push(e.key);
  }
  return removed;
}

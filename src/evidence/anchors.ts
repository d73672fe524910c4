/**
 * Anchors: evidence of the chain's length kept outside the chain, so truncation below them is
 * detected (Sigstore/in-toto style: a chain proves its own length against anchors kept elsewhere).
 *
 * - the local anchor: the last head this machine saw for a store (after an append or a verify),
 *   in `<config>/goose/anchors/<sha256(store url) 16 hex>.json` (config = XDG_CONFIG_HOME or
 *   ~/.config); it only moves forward;
 * - references in the store: snapshot manifests (`evidence: ev-<seq>-<hash12>`) and promotion
 *   reports (every `ev-…` id and `evidence.head`);
 * - `--expect-head <digest>`: a record hash (`sha256:<hex>`) or id (`ev-<seq>-<hash12>`) the
 *   operator kept, e.g. from a release note or a CI log.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { ObjectStore } from "../store/types.js";
import { configDir } from "../keys/paths.js";

/** Something outside the chain that says a record exists: a seq and its hash or hash prefix. */
export interface Anchor {
  seq: number;
  /** `sha256:<hex>` (full) or the 12-hex prefix of an id. */
  hash: string;
  /** Where the anchor comes from, for the message. */
  source: string;
}

/** The local anchor's file; undefined when the environment names no config directory (no HOME). */
export function localAnchorFile(env: NodeJS.ProcessEnv, storeUrl: string): string | undefined {
  const dir = configDir(env);
  if (dir === undefined) return undefined;
  const id = createHash("sha256").update(storeUrl).digest("hex").slice(0, 16);
  return path.join(dir, "anchors", `${id}.json`);
}

export function readLocalAnchor(env: NodeJS.ProcessEnv, storeUrl: string): Anchor | undefined {
  const file = localAnchorFile(env, storeUrl);
  if (file === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return undefined;
  }
  const o = v as { seq?: unknown; hash?: unknown; store?: unknown };
  if (typeof o?.seq !== "number" || typeof o.hash !== "string" || o.store !== storeUrl) {
    return undefined;
  }
  return { seq: o.seq, hash: o.hash, source: `the last head this machine saw (${file})` };
}

/** Moves the local anchor forward to `head` (never back). Best effort: a failure is ignored. */
export function saveLocalAnchor(
  env: NodeJS.ProcessEnv,
  storeUrl: string,
  head: { seq: number; hash: string },
): void {
  const cur = readLocalAnchor(env, storeUrl);
  if (cur && cur.seq >= head.seq) return;
  const file = localAnchorFile(env, storeUrl);
  if (file === undefined) return;
  try {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${randomBytes(4).toString("hex")}.tmp`;
    writeFileSync(
      tmp,
      JSON.stringify({
        store: storeUrl,
        seq: head.seq,
        hash: head.hash,
        seen: new Date().toISOString(),
      }) + "\n",
      { mode: 0o600 },
    );
    renameSync(tmp, file);
  } catch {
    // An anchor we cannot write only weakens later checks; the append itself succeeded.
  }
}

const ID_RE = /^ev-(\d+)-([0-9a-f]{12})$/;

/** Parses `--expect-head`: `sha256:<64 hex>` or `ev-<seq>-<12 hex>`; undefined when neither. */
export function parseExpectHead(text: string): { seq?: number; hash: string } | undefined {
  const t = text.trim();
  if (/^sha256:[0-9a-f]{64}$/.test(t)) return { hash: t };
  const m = ID_RE.exec(t);
  if (m) return { seq: Number(m[1]), hash: m[2] ?? "" };
  return undefined;
}

function collectIds(v: unknown, out: Set<string>, depth = 0): void {
  if (depth > 20) return;
  if (typeof v === "string") {
    if (ID_RE.test(v)) out.add(v);
    return;
  }
  if (Array.isArray(v)) {
    for (const x of v) collectIds(x, out, depth + 1);
    return;
  }
  if (v && typeof v === "object") {
    for (const x of Object.values(v as Record<string, unknown>)) collectIds(x, out, depth + 1);
  }
}

/** Evidence records that snapshot manifests and promotion reports in `store` refer to. */
export async function storeReferences(store: ObjectStore): Promise<Anchor[]> {
  const out: Anchor[] = [];
  const keys = [
    ...(await store.list("snapshots/")).filter((k) => k.endsWith(".manifest.json")),
    ...(await store.list("promotions/")).filter((k) => k.endsWith(".json")),
  ];
  for (const key of keys) {
    const obj = await store.get(key);
    if (!obj || obj.body.length > 16 << 20) continue;
    let v: unknown;
    try {
      v = JSON.parse(obj.body.toString("utf8"));
    } catch {
      continue;
    }
    const ids = new Set<string>();
    collectIds(v, ids);
    for (const id of ids) {
      const m = ID_RE.exec(id);
      if (m) out.push({ seq: Number(m[1]), hash: m[2] ?? "", source: `${key} (${id})` });
    }
    const head = (v as { evidence?: { head?: { seq?: unknown; hash?: unknown } } })?.evidence?.head;
    if (typeof head?.seq === "number" && typeof head.hash === "string") {
      out.push({ seq: head.seq, hash: head.hash, source: `${key} (evidence head)` });
    }
  }
  return out;
}

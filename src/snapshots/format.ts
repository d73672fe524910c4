/**
 * The snapshot format: the manifest (`goose.snapshot/v1`), snapshot ids and their store keys, the
 * AAD and MAC that bind a manifest to its id and data key, and the byte meter both directions use.
 * create (snapshot.ts) and open/verify/restore (verify.ts) share it; it reads no store.
 */
import { createHash, randomBytes } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import canonicalizeModule from "canonicalize";
import { gooseCommand, shellQuote } from "../command-line.js";
import { CheckFailedError, InputError } from "../errors.js";
import { isStageName, type StageName } from "../config/stages.js";
import type { ObjectStore } from "../store/types.js";
import { mac, manifestMacKey } from "./crypto.js";
import type { KeyRef } from "./keyring.js";
import type { PluginRef, ValidationIssue, ValidationResult } from "./validate.js";

export const canonicalize = canonicalizeModule as unknown as (v: unknown) => string;

export const MANIFEST_SCHEMA = "goose.snapshot/v1";
/** A manifest is a few KB; anything far larger was not written by goose. */
export const MAX_MANIFEST_BYTES = 1 << 20;
/**
 * gzip level 1: several times faster than 6, for payloads up to about a third larger (gzip -1 vs
 * -6 on checkpoint-v3.json: 7,560 vs 5,604 bytes); creation time is what the benchmark holds.
 */
export const GZIP_LEVEL = 1;
/**
 * Output chunk of the payload's gzip and gunzip streams: 256 KiB instead of zlib's 16 KiB, so a
 * 100 MB export passes the hash, cipher and write stages in ~400 chunks rather than ~6,400.
 */
export const ZLIB_CHUNK = 1 << 18;

export interface SnapshotManifest {
  schema: typeof MANIFEST_SCHEMA;
  id: string;
  stage: StageName;
  /** The Pulumi stack of the export's URNs. */
  stack: string;
  project?: string;
  createdAt: string;
  reason: string;
  source: {
    kind: "file" | "engine" | "diy-history";
    name?: string;
    envelope: "export" | "checkpoint";
  };
  exportVersion: number;
  features: string[];
  resourceCount: number;
  pendingOperations: number;
  secretsProvider?: string;
  engineVersion?: string;
  /** Provider plugins and versions named by the export (dependency check before rollback). */
  plugins: PluginRef[];
  /** Integrity findings (what `pulumi stack import` would refuse without --force). */
  integrity: ValidationIssue[];
  plaintext: { sha256: string; size: number };
  ciphertext: { sha256: string; size: number };
  compression: "gzip";
  cipher: { alg: "AES-256-GCM"; iv: string };
  key: KeyRef;
  /** Id of the evidence record taken with the snapshot. */
  evidence?: string;
  gitCommit?: string;
  /** HMAC-SHA256 of the canonical manifest without `mac`, keyed from the data key. */
  mac: string;
}

/** The export was refused by validation: exit 2, listing what is wrong. */
export class SnapshotRejectedError extends InputError {
  constructor(
    readonly validation: ValidationResult,
    what: string,
  ) {
    const lines = validation.errors.map((e) => `  - ${e.message}`).join("\n");
    super(`${what} is not a valid stack export; nothing was stored:\n${lines}`);
    this.name = "SnapshotRejectedError";
  }
}

export class SnapshotNotFoundError extends CheckFailedError {
  constructor(id: string, store: string) {
    // The id names its stage: the listing command runs as printed, on the same store.
    const stage = ID_RE.exec(id)?.[1];
    const list = stage
      ? `run \`${gooseCommand(["snapshot", "list", stage, "--store", store])}\``
      : `run goose snapshot list <stage> --store ${shellQuote(store)}`;
    super(`snapshot ${id} is not in ${store}: ${list} to see the ids`);
    this.name = "SnapshotNotFoundError";
  }
}

export const ID_RE = /^(sandbox|compliance|production)-(\d{8}T\d{6}\d{3}Z)-([0-9a-f]{8})$/;

export function newSnapshotId(stage: StageName, now: Date): string {
  const ts = now.toISOString().replace(/[-:]/g, "").replace(".", "");
  return `${stage}-${ts}-${randomBytes(4).toString("hex")}`;
}

/** The stage of a snapshot id; InputError when the id is malformed. */
export function stageOfId(id: string): StageName {
  const m = ID_RE.exec(id);
  if (!m || !isStageName(m[1]!)) {
    throw new InputError(
      `"${id}" is not a snapshot id (expected <stage>-<YYYYMMDDTHHMMSSmmmZ>-<8 hex>, as \`goose snapshot list\` prints)`,
    );
  }
  return m[1];
}

export const snapshotKeys = {
  dir: (stage: StageName) => `snapshots/${stage}/`,
  manifest: (id: string) => `snapshots/${stageOfId(id)}/${id}.manifest.json`,
  payload: (id: string) => `snapshots/${stageOfId(id)}/${id}.payload`,
  pin: (id: string) => `snapshots/${stageOfId(id)}/pins/${id}.json`,
  ref: (id: string, what: string) => `snapshots/${stageOfId(id)}/refs/${id}/${what}.json`,
};

export function aadOf(id: string): string {
  return `goose-snapshot:v1:${id}`;
}

export function manifestMac(m: Omit<SnapshotManifest, "mac">, dataKey: Buffer): string {
  return mac(manifestMacKey(dataKey), canonicalize(m));
}

/** Counts and hashes the bytes flowing through. */
export class Meter extends Transform {
  readonly hash = createHash("sha256");
  size = 0;
  constructor(private readonly also?: (chunk: Buffer) => void | Promise<void>) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    let waited: void | Promise<void>;
    try {
      waited = this.also?.(chunk);
    } catch (err) {
      cb(err as Error);
      return;
    }
    if (waited)
      waited.then(
        () => cb(null, chunk),
        (err: Error) => cb(err),
      );
    else cb(null, chunk);
  }
}

/** Reads a manifest without checking it (listing); undefined when absent or unreadable. */
export async function readManifest(
  store: ObjectStore,
  id: string,
): Promise<SnapshotManifest | undefined> {
  const obj = await store.get(snapshotKeys.manifest(id));
  if (!obj) return undefined;
  try {
    return JSON.parse(obj.body.toString("utf8")) as SnapshotManifest;
  } catch {
    return undefined;
  }
}

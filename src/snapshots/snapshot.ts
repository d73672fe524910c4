/**
 * Snapshots made and kept: `createSnapshot` (validate, compress, encrypt, store payload then
 * manifest), listing, pins and references, deletion, and re-wrapping data keys under a new key.
 * The format is format.ts; opening, verifying and restoring are verify.ts.
 */
import { createReadStream } from "node:fs";
import { stat as fsStat } from "node:fs/promises";
import { basename } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { InputError } from "../errors.js";
import type { StageName } from "../config/stages.js";
import type { ObjectStore } from "../store/types.js";
import { assertConditionalWrites } from "../store/errors.js";
import { encryptStream, newDataKey } from "./crypto.js";
import type { KeySource } from "./keyring.js";
import { openStreamValidator } from "./validate-parallel.js";
import {
  aadOf,
  GZIP_LEVEL,
  ID_RE,
  MANIFEST_SCHEMA,
  manifestMac,
  Meter,
  newSnapshotId,
  readManifest,
  SnapshotNotFoundError,
  SnapshotRejectedError,
  snapshotKeys,
  type SnapshotManifest,
  ZLIB_CHUNK,
} from "./format.js";
import { openManifest, type VerifyProblemKind, type VerifyReport } from "./verify.js";

export interface CreateSnapshotOptions {
  stage: StageName;
  /** The export: a file path or a stream of its bytes. */
  source: string | Readable;
  sourceKind?: "file" | "engine" | "diy-history";
  /** The stack the URNs must belong to (default: the stack of the first URN). */
  stack?: string;
  reason?: string;
  keys: KeySource;
  /** Appends a `snapshot` evidence record; its id goes into the manifest. */
  evidence?: {
    append(input: {
      kind: string;
      stage?: StageName;
      subject: Array<{ name: string; digest: Record<string, string> }>;
      data: Record<string, unknown>;
    }): Promise<{ id: string }>;
  };
  gitCommit?: string;
  now?: Date;
  /** Refuse exports larger than this many bytes (default DEFAULT_MAX_EXPORT_BYTES). */
  maxBytes?: number;
  /** Called as the export is read, with the bytes read so far (and the total when known). */
  onProgress?: (bytesRead: number, totalBytes?: number) => void;
}

/** Exports larger than this are refused unless GOOSE_SNAPSHOT_MAX_BYTES says otherwise. */
export const DEFAULT_MAX_EXPORT_BYTES = 2 * 1024 ** 3;

/** The export size bound from GOOSE_SNAPSHOT_MAX_BYTES (bytes), else the default. */
export function snapshotMaxBytes(env: NodeJS.ProcessEnv): number {
  const v = env.GOOSE_SNAPSHOT_MAX_BYTES;
  if (v === undefined || v === "") return DEFAULT_MAX_EXPORT_BYTES;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new InputError(
      `GOOSE_SNAPSHOT_MAX_BYTES=${v}: a whole number of bytes, 1 or more (default ${DEFAULT_MAX_EXPORT_BYTES})`,
    );
  }
  return n;
}

/** The export is over the size bound: exit 2, nothing stored. */
export class ExportTooLargeError extends InputError {
  constructor(what: string, size: number | undefined, max: number) {
    super(
      `${what} is larger than ${max} bytes${size !== undefined ? ` (${size} bytes)` : ""}, the bound on exports (GOOSE_SNAPSHOT_MAX_BYTES); nothing was stored. Raise GOOSE_SNAPSHOT_MAX_BYTES if the export really is that large`,
    );
    this.name = "ExportTooLargeError";
  }
}

/**
 * Validates, compresses, encrypts and stores one export (see index.ts). The payload is written
 * first; the manifest last, with ifNoneMatch, so a snapshot is visible only once complete.
 * On validation failure the payload is deleted and SnapshotRejectedError is thrown.
 */
export async function createSnapshot(
  store: ObjectStore,
  opts: CreateSnapshotOptions,
): Promise<SnapshotManifest> {
  // The manifest is a compare-and-swap write: refuse a store without them before any upload.
  await assertConditionalWrites(store);
  const now = opts.now ?? new Date();
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_EXPORT_BYTES;
  const what = typeof opts.source === "string" ? opts.source : "the export";
  let totalBytes: number | undefined;
  if (typeof opts.source === "string") {
    const st = await fsStat(opts.source).catch(() => undefined);
    if (st && st.size > maxBytes) throw new ExportTooLargeError(what, st.size, maxBytes);
    totalBytes = st?.size;
  }
  const id = newSnapshotId(opts.stage, now);
  const aad = aadOf(id);
  // The next command cleans up after a killed one: temp files of puts whose writer is gone.
  await store.sweepTemporaries?.(snapshotKeys.dir(opts.stage)).catch(() => []);
  const { dataKey, iv } = newDataKey();
  const keyRef = await opts.keys.wrap(dataKey, aad);

  const validator = await openStreamValidator(opts.stack ? { stack: opts.stack } : {});
  const plain = new Meter((chunk) => {
    if (plain.size > maxBytes) throw new ExportTooLargeError(what, undefined, maxBytes);
    opts.onProgress?.(plain.size, totalBytes);
    return validator.push(chunk);
  });
  const cipher = new Meter();
  const tail = new PassThrough({ highWaterMark: 1 << 20 });
  const input =
    typeof opts.source === "string"
      ? createReadStream(opts.source, { highWaterMark: 1 << 20 })
      : opts.source;
  const payloadKey = snapshotKeys.payload(id);
  const flow = pipeline(
    input,
    plain,
    createGzip({ level: GZIP_LEVEL, chunkSize: ZLIB_CHUNK }),
    encryptStream(dataKey, iv, aad),
    cipher,
    tail,
  );
  const [flowResult, putResult] = await Promise.allSettled([flow, store.put(payloadKey, tail)]);
  if (flowResult.status === "rejected" || putResult.status === "rejected") {
    tail.destroy();
    validator.abort();
    await store.delete(payloadKey).catch(() => {});
    const err =
      flowResult.status === "rejected"
        ? flowResult.reason
        : (putResult as PromiseRejectedResult).reason;
    if (typeof opts.source === "string" && (err as { code?: string }).code === "ENOENT") {
      throw new InputError(`--from-file ${opts.source}: no such file`);
    }
    throw err;
  }
  const validation = await validator.finish();
  if (!validation.ok) {
    await store.delete(payloadKey).catch(() => {});
    throw new SnapshotRejectedError(validation, what);
  }
  const s = validation.summary;
  const sources = {
    kind: opts.sourceKind ?? (typeof opts.source === "string" ? "file" : "engine"),
    ...(typeof opts.source === "string" ? { name: basename(opts.source) } : {}),
    envelope: s.envelope,
  } as SnapshotManifest["source"];
  const ptSha = plain.hash.digest("hex");
  const ctSha = cipher.hash.digest("hex");
  let evidenceId: string | undefined;
  if (opts.evidence) {
    // A failed evidence append leaves no orphan payload behind (the manifest is not written).
    const rec = await opts.evidence
      .append({
        kind: "snapshot",
        stage: opts.stage,
        subject: [
          { name: `snapshot:${id}`, digest: { sha256: ptSha } },
          { name: `snapshot-payload:${id}`, digest: { sha256: ctSha } },
        ],
        data: {
          action: "create",
          id,
          stack: s.stack ?? opts.stack ?? opts.stage,
          reason: opts.reason ?? "",
          resourceCount: s.resourceCount,
          keyType: keyRef.type,
          store: store.url,
        },
      })
      .catch(async (err: unknown) => {
        await store.delete(payloadKey).catch(() => {});
        throw err;
      });
    evidenceId = rec.id;
  }
  const body: Omit<SnapshotManifest, "mac"> = {
    schema: MANIFEST_SCHEMA,
    id,
    stage: opts.stage,
    stack: s.stack ?? opts.stack ?? opts.stage,
    ...(s.project ? { project: s.project } : {}),
    createdAt: now.toISOString(),
    reason: opts.reason ?? "",
    source: sources,
    exportVersion: s.version,
    features: s.features,
    resourceCount: s.resourceCount,
    pendingOperations: s.pendingOperations.length,
    ...(s.secretsProvider ? { secretsProvider: s.secretsProvider } : {}),
    ...(s.engineVersion ? { engineVersion: s.engineVersion } : {}),
    plugins: s.plugins,
    integrity: validation.integrity,
    plaintext: { sha256: ptSha, size: plain.size },
    ciphertext: { sha256: ctSha, size: cipher.size },
    compression: "gzip",
    cipher: { alg: "AES-256-GCM", iv: iv.toString("base64") },
    key: keyRef,
    ...(evidenceId ? { evidence: evidenceId } : {}),
    ...(opts.gitCommit ? { gitCommit: opts.gitCommit } : {}),
  };
  const manifest: SnapshotManifest = { ...body, mac: manifestMac(body, dataKey) };
  await store
    .put(snapshotKeys.manifest(id), JSON.stringify(manifest, null, 2) + "\n", {
      ifNoneMatch: true,
      contentType: "application/json",
    })
    .catch(async (err: unknown) => {
      await store.delete(payloadKey).catch(() => {});
      throw err;
    });
  return manifest;
}

export interface SnapshotListing {
  id: string;
  stage: StageName;
  createdAt: string;
  reason: string;
  resourceCount: number;
  pinned: boolean;
  /** False when the manifest cannot be read (shown, never trusted). */
  readable: boolean;
  manifest?: SnapshotManifest;
}

/** Snapshots of a stage, newest first (by id, which starts with the creation time). */
export async function listSnapshots(
  store: ObjectStore,
  stage: StageName,
): Promise<SnapshotListing[]> {
  const keys = await store.list(snapshotKeys.dir(stage));
  const pins = new Set(
    keys
      .filter((k) => k.startsWith(`snapshots/${stage}/pins/`))
      .map((k) => basename(k).replace(/\.json$/, "")),
  );
  const ids = keys
    .filter((k) => /^snapshots\/[a-z]+\/[^/]+\.manifest\.json$/.test(k))
    .map((k) => basename(k).replace(/\.manifest\.json$/, ""))
    .filter((id) => ID_RE.test(id))
    .sort()
    .reverse();
  const out: SnapshotListing[] = [];
  for (const id of ids) {
    const m = await readManifest(store, id);
    out.push({
      id,
      stage,
      createdAt: m?.createdAt ?? "",
      reason: m?.reason ?? "",
      resourceCount: m?.resourceCount ?? 0,
      pinned: pins.has(id),
      readable: m !== undefined,
      ...(m ? { manifest: m } : {}),
    });
  }
  return out;
}

/** Pins a snapshot: retention never removes it. */
export async function pinSnapshot(
  store: ObjectStore,
  id: string,
  opts: { reason?: string; by?: string; now?: Date } = {},
): Promise<void> {
  if (!(await store.head(snapshotKeys.manifest(id))))
    throw new SnapshotNotFoundError(id, store.url);
  await store.put(
    snapshotKeys.pin(id),
    JSON.stringify({
      id,
      pinnedAt: (opts.now ?? new Date()).toISOString(),
      reason: opts.reason ?? "",
      by: opts.by ?? "",
    }) + "\n",
  );
}

export async function unpinSnapshot(store: ObjectStore, id: string): Promise<void> {
  await store.delete(snapshotKeys.pin(id));
}

/** Records that a workflow (e.g. a rollback) refers to a snapshot: retention keeps it. */
export async function referenceSnapshot(
  store: ObjectStore,
  id: string,
  what: string,
  data: Record<string, unknown>,
): Promise<void> {
  await store.put(snapshotKeys.ref(id, what), JSON.stringify({ id, ...data }) + "\n");
}

/** Deletes a snapshot: manifest first (it disappears from listings), then the payload. */
export async function deleteSnapshot(store: ObjectStore, id: string): Promise<void> {
  await store.delete(snapshotKeys.manifest(id));
  await store.delete(snapshotKeys.payload(id));
}

/** What `rewrapSnapshot` did to one snapshot. */
export interface RewrapResult {
  id: string;
  outcome: "rewrapped" | "already" | "failed";
  /** On failure: why (the snapshot is left as it was). */
  message?: string;
  problem?: VerifyProblemKind;
}

/**
 * Key rotation of one snapshot: its data key is unwrapped with the old key (`oldEnv`, after the
 * manifest's MAC is checked under it), wrapped again by `newKeys`, and the manifest rewritten
 * (new `key`, new MAC) by compare-and-swap. The payload is not touched: it stays sealed under the
 * same data key. A snapshot that already opens with `newEnv` is left alone (rotation resumes).
 */
export async function rewrapSnapshot(
  store: ObjectStore,
  id: string,
  keys: { oldEnv: NodeJS.ProcessEnv; newEnv: NodeJS.ProcessEnv; newKeys: KeySource },
): Promise<RewrapResult> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const head = await store.head(snapshotKeys.manifest(id));
    const asNew: VerifyReport = { id, ok: true, checks: [] };
    if (await openManifest(store, id, keys.newEnv, asNew).catch(() => undefined))
      return { id, outcome: "already" };
    const report: VerifyReport = { id, ok: true, checks: [] };
    const opened = await openManifest(store, id, keys.oldEnv, report);
    if (!opened || !head)
      return {
        id,
        outcome: "failed",
        ...(report.problem ? { problem: report.problem } : {}),
        message: report.message ?? `snapshot ${id} has no manifest`,
      };
    const { mac: _old, ...rest } = opened.manifest;
    void _old;
    const body: Omit<SnapshotManifest, "mac"> = {
      ...rest,
      key: await keys.newKeys.wrap(opened.dataKey, aadOf(id)),
    };
    const manifest: SnapshotManifest = { ...body, mac: manifestMac(body, opened.dataKey) };
    try {
      await store.put(snapshotKeys.manifest(id), JSON.stringify(manifest, null, 2) + "\n", {
        ifMatch: head.etag,
        contentType: "application/json",
      });
      return { id, outcome: "rewrapped" };
    } catch (err) {
      if ((err as Error).name !== "PreconditionFailedError") throw err;
    }
  }
  return { id, outcome: "failed", message: `the manifest of ${id} kept changing during rotation` };
}

import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat as fsStat } from "node:fs/promises";
import { basename } from "node:path";
import { PassThrough, Transform, type Readable, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip, createGunzip } from "node:zlib";
import canonicalizeModule from "canonicalize";
import { gooseCommand, shellQuote } from "../command-line.js";
import { CheckFailedError, InputError } from "../errors.js";
import { isStageName, type StageName } from "../config/stages.js";
import { checkOutPath, writeAuthenticated } from "./restore-file.js";
import type { ObjectStore } from "../store/types.js";
import { assertConditionalWrites } from "../store/errors.js";
import {
  AuthenticationError,
  decryptStream,
  encryptStream,
  mac,
  macEqual,
  manifestMacKey,
  newDataKey,
} from "./crypto.js";
import {
  keyringOf,
  ManifestEditedError,
  WrongKeyError,
  type KeyRef,
  type KeyringLike,
  type KeySource,
} from "./keyring.js";
import type { PluginRef, ValidationIssue, ValidationResult } from "./validate.js";
import { openStreamValidator } from "./validate-parallel.js";

const canonicalize = canonicalizeModule as unknown as (v: unknown) => string;

export const MANIFEST_SCHEMA = "goose.snapshot/v1";
/** A manifest is a few KB; anything far larger was not written by goose. */
const MAX_MANIFEST_BYTES = 1 << 20;
/**
 * gzip level 1: several times faster than 6, for payloads up to about a third larger (gzip -1 vs
 * -6 on checkpoint-v3.json: 7,560 vs 5,604 bytes); creation time is what the benchmark holds.
 */
export const GZIP_LEVEL = 1;

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
    const stage = /^(sandbox|compliance|production)-/.exec(id)?.[1];
    const list = stage
      ? `run \`${gooseCommand(["snapshot", "list", stage, "--store", store])}\``
      : `run goose snapshot list <stage> --store ${shellQuote(store)}`;
    super(`snapshot ${id} is not in ${store}: ${list} to see the ids`);
    this.name = "SnapshotNotFoundError";
  }
}

const ID_RE = /^(sandbox|compliance|production)-(\d{8}T\d{6}\d{3}Z)-([0-9a-f]{8})$/;

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

function aadOf(id: string): string {
  return `goose-snapshot:v1:${id}`;
}

function manifestMac(m: Omit<SnapshotManifest, "mac">, dataKey: Buffer): string {
  return mac(manifestMacKey(dataKey), canonicalize(m));
}

/** Counts and hashes the bytes flowing through. */
class Meter extends Transform {
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
    createGzip({ level: GZIP_LEVEL }),
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

export type VerifyProblemKind =
  | "manifest-missing"
  | "manifest-unreadable"
  | "manifest-edited"
  | "wrong-key"
  | "payload-missing"
  | "truncated"
  | "tampered"
  | "plaintext-mismatch";

export interface VerifyReport {
  id: string;
  ok: boolean;
  problem?: VerifyProblemKind;
  /** What is wrong and what to do, when not ok. */
  message?: string;
  checks: Array<{ name: string; ok: boolean }>;
  manifest?: SnapshotManifest;
}

interface Opened {
  manifest: SnapshotManifest;
  dataKey: Buffer;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Reads the manifest, unwraps the data key with a configured key (keyring.ts) and checks the
 * manifest's MAC. Every way a manifest can be edited ends as a named problem in the report
 * (manifest-unreadable, manifest-edited, wrong-key), never as a TypeError; the MAC makes every
 * field trustworthy once it verifies, and the fields the payload check reads are checked for
 * type before that.
 */
async function openManifest(
  store: ObjectStore,
  id: string,
  keys: KeyringLike,
  report: VerifyReport,
): Promise<Opened | undefined> {
  const obj = await store.get(snapshotKeys.manifest(id));
  const fail = (problem: VerifyProblemKind, message: string): undefined => {
    report.ok = false;
    report.problem = problem;
    report.message = message;
    return undefined;
  };
  if (!obj) return fail("manifest-missing", `snapshot ${id} has no manifest in ${store.url}`);
  if (obj.body.length > MAX_MANIFEST_BYTES) {
    return fail(
      "manifest-edited",
      `the manifest of ${id} is ${obj.body.length} bytes, more than a manifest can be (${MAX_MANIFEST_BYTES}): it was edited`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(obj.body.toString("utf8"));
  } catch {
    return fail(
      "manifest-unreadable",
      `the manifest of ${id} is not JSON: it was edited or damaged`,
    );
  }
  if (!isObject(parsed)) {
    return fail(
      "manifest-unreadable",
      `the manifest of ${id} is not a JSON object: it was edited or damaged`,
    );
  }
  const manifest = parsed as unknown as SnapshotManifest;
  report.manifest = manifest;
  report.checks.push({ name: "manifest readable", ok: true });
  if (manifest.id !== id || manifest.schema !== MANIFEST_SCHEMA) {
    return fail(
      "manifest-edited",
      `the manifest of ${id} names another id or schema: it was edited`,
    );
  }
  let dataKey: Buffer;
  try {
    dataKey = await keyringOf(keys).unwrap(manifest.key, aadOf(id));
  } catch (err) {
    if (err instanceof ManifestEditedError) {
      report.checks.push({ name: "key reference", ok: false });
      return fail("manifest-edited", `the manifest of ${id} was edited: ${err.message}`);
    }
    if (err instanceof WrongKeyError) {
      report.checks.push({ name: "data key unwrapped", ok: false });
      return fail("wrong-key", `${id}: ${err.message}`);
    }
    throw err;
  }
  report.checks.push({ name: "data key unwrapped", ok: true });
  const { mac: stored, ...rest } = manifest;
  if (typeof stored !== "string" || !macEqual(stored, manifestMac(rest, dataKey))) {
    report.checks.push({ name: "manifest MAC", ok: false });
    return fail(
      "manifest-edited",
      `the manifest of ${id} was edited after the snapshot was taken (its MAC does not match); do not trust it`,
    );
  }
  report.checks.push({ name: "manifest MAC", ok: true });
  const shapeOk =
    isObject(manifest.cipher) &&
    typeof manifest.cipher.iv === "string" &&
    isObject(manifest.ciphertext) &&
    Number.isSafeInteger(manifest.ciphertext.size) &&
    typeof manifest.ciphertext.sha256 === "string" &&
    isObject(manifest.plaintext) &&
    Number.isSafeInteger(manifest.plaintext.size) &&
    typeof manifest.plaintext.sha256 === "string";
  if (!shapeOk) {
    return fail(
      "manifest-edited",
      `the manifest of ${id} lacks its cipher, ciphertext or plaintext fields: it was edited`,
    );
  }
  return { manifest, dataKey };
}

/**
 * Streams the payload through decryption and decompression; `sink` receives the plaintext
 * (null to discard). Checks size, ciphertext digest, the GCM tag and the plaintext digest.
 */
async function checkPayload(
  store: ObjectStore,
  opened: Opened,
  report: VerifyReport,
  sink: NodeJS.WritableStream | null,
): Promise<boolean> {
  const { manifest, dataKey } = opened;
  const id = manifest.id;
  const fail = (problem: VerifyProblemKind, message: string): false => {
    report.ok = false;
    report.problem = problem;
    report.message = message;
    return false;
  };
  const head = await store.head(snapshotKeys.payload(id));
  if (!head) return fail("payload-missing", `the payload of ${id} is missing from ${store.url}`);
  // S3 reports the size; the file store too. A short object is a truncated upload or copy.
  if (head.size < manifest.ciphertext.size) {
    report.checks.push({ name: "payload size", ok: false });
    return fail(
      "truncated",
      `the payload of ${id} is truncated: ${head.size} bytes stored, ${manifest.ciphertext.size} expected`,
    );
  }
  if (head.size > manifest.ciphertext.size) {
    report.checks.push({ name: "payload size", ok: false });
    return fail(
      "tampered",
      `the payload of ${id} has ${head.size - manifest.ciphertext.size} extra bytes: it was changed`,
    );
  }
  report.checks.push({ name: "payload size", ok: true });
  const stream = await store.getStream(snapshotKeys.payload(id));
  if (!stream) return fail("payload-missing", `the payload of ${id} is missing from ${store.url}`);
  const ct = new Meter();
  const pt = new Meter();
  const sinkStream =
    sink ??
    new (class extends Transform {
      override _transform(_c: Buffer, _e: BufferEncoding, cb: TransformCallback) {
        cb();
      }
    })();
  try {
    await pipeline(
      stream,
      ct,
      decryptStream(dataKey, Buffer.from(manifest.cipher.iv, "base64"), aadOf(id)),
      createGunzip(),
      pt,
      sinkStream as NodeJS.WritableStream,
    );
  } catch (err) {
    const ctOk =
      ct.size === manifest.ciphertext.size &&
      ct.hash.copy().digest("hex") === manifest.ciphertext.sha256;
    report.checks.push({ name: "ciphertext digest", ok: false });
    if (err instanceof AuthenticationError || !ctOk) {
      return fail(
        "tampered",
        `the payload of ${id} was changed after it was stored (ciphertext digest and AES-GCM tag do not match)`,
      );
    }
    throw err;
  }
  const ctSha = ct.hash.digest("hex");
  if (ctSha !== manifest.ciphertext.sha256) {
    report.checks.push({ name: "ciphertext digest", ok: false });
    return fail("tampered", `the payload of ${id} does not match the manifest's ciphertext digest`);
  }
  report.checks.push({ name: "ciphertext digest", ok: true }, { name: "AES-GCM tag", ok: true });
  const ptSha = pt.hash.digest("hex");
  if (ptSha !== manifest.plaintext.sha256 || pt.size !== manifest.plaintext.size) {
    report.checks.push({ name: "plaintext digest", ok: false });
    return fail(
      "plaintext-mismatch",
      `the decrypted export of ${id} does not match the manifest's plaintext digest`,
    );
  }
  report.checks.push({ name: "plaintext digest", ok: true });
  return true;
}

/** Verifies a snapshot end to end without writing plaintext anywhere. */
export async function verifySnapshot(
  store: ObjectStore,
  id: string,
  keys: KeyringLike,
): Promise<VerifyReport> {
  stageOfId(id);
  const report: VerifyReport = { id, ok: true, checks: [] };
  const opened = await openManifest(store, id, keys, report);
  if (!opened) return report;
  await checkPayload(store, opened, report, null);
  return report;
}

/** A verification failure as an error (exit 1), for restore and rollback. */
export class SnapshotVerifyError extends CheckFailedError {
  constructor(readonly report: VerifyReport) {
    super(`snapshot ${report.id} failed verification (${report.problem}): ${report.message}`);
    this.name = "SnapshotVerifyError";
  }
}

/**
 * Writes the export exactly as it was taken to `outPath`, and only once the payload
 * authenticated: the plaintext goes to an anonymous file that is named only after every check
 * passed (restore-file.ts), so no partial or unauthenticated plaintext is ever left on disk,
 * even by a SIGKILL. `--out` naming a directory or a missing one is an InputError (exit 2).
 * Throws SnapshotVerifyError and leaves nothing at `outPath` otherwise.
 */
export async function restoreSnapshot(
  store: ObjectStore,
  id: string,
  keys: KeyringLike,
  outPath: string,
): Promise<VerifyReport> {
  stageOfId(id);
  await checkOutPath(outPath);
  const report: VerifyReport = { id, ok: true, checks: [] };
  const opened = await openManifest(store, id, keys, report);
  if (!opened) throw new SnapshotVerifyError(report);
  let pass = 0;
  const ok = await writeAuthenticated(outPath, async (sink) => {
    // The first pass fills the report; a second one (the fallback's write pass) re-checks.
    const r: VerifyReport = pass++ === 0 ? report : { id, ok: true, checks: [] };
    const passed = await checkPayload(store, opened, r, sink);
    if (!passed && r !== report) {
      report.ok = false;
      report.problem = r.problem;
      report.message = r.message;
    }
    return passed;
  });
  if (!ok) throw new SnapshotVerifyError(report);
  return report;
}

/** The verified export in memory (for rollback, which hands it to the engine). */
export async function readSnapshotExport(
  store: ObjectStore,
  id: string,
  keys: KeyringLike,
): Promise<{ text: string; manifest: SnapshotManifest; report: VerifyReport }> {
  stageOfId(id);
  const report: VerifyReport = { id, ok: true, checks: [] };
  const opened = await openManifest(store, id, keys, report);
  if (!opened) throw new SnapshotVerifyError(report);
  const chunks: Buffer[] = [];
  const sink = new (class extends Transform {
    override _transform(c: Buffer, _e: BufferEncoding, cb: TransformCallback) {
      chunks.push(c);
      cb();
    }
  })();
  const ok = await checkPayload(store, opened, report, sink);
  if (!ok) throw new SnapshotVerifyError(report);
  return { text: Buffer.concat(chunks).toString("utf8"), manifest: opened.manifest, report };
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

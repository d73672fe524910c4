/**
 * Opening a snapshot: the manifest read and authenticated with a configured key (keyring.ts), the
 * payload decrypted, decompressed and checked against the manifest's digests, and the two uses of
 * that: `verifySnapshot` (report only) and `restoreSnapshot` / `readSnapshotExport` (the export).
 */
import { Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { CheckFailedError } from "../errors.js";
import { checkOutPath, writeAuthenticated } from "./restore-file.js";
import type { ObjectStore } from "../store/types.js";
import { AuthenticationError, decryptStream, macEqual } from "./crypto.js";
import { keyringOf, ManifestEditedError, WrongKeyError, type KeyringLike } from "./keyring.js";
import {
  aadOf,
  MANIFEST_SCHEMA,
  MAX_MANIFEST_BYTES,
  manifestMac,
  Meter,
  snapshotKeys,
  stageOfId,
  type SnapshotManifest,
  ZLIB_CHUNK,
} from "./format.js";

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

export interface Opened {
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
export async function openManifest(
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
export async function checkPayload(
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
      createGunzip({ chunkSize: ZLIB_CHUNK }),
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

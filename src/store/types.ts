import type { Readable } from "node:stream";

/**
 * The storage port under snapshots, evidence and locks. Two adapters: a directory
 * (`file://DIR`) and an S3 bucket prefix (`s3://BUCKET/PREFIX`, any S3-compatible endpoint via
 * GOOSE_S3_ENDPOINT). Keys are `/`-separated relative paths, e.g. `snapshots/sandbox/<id>.json`.
 *
 * Contract every adapter keeps:
 * - `put` is atomic: a reader sees the old object or the complete new one, never a part
 *   (file: temp file, fsync, rename; S3: a single PUT or a completed multipart upload).
 * - `put` with `ifNoneMatch: true` fails with PreconditionFailedError when the key exists;
 *   with `ifMatch: etag` it fails unless the current object has that etag (compare-and-swap).
 * - `list(prefix)` returns every key under the prefix, sorted ascending.
 */
export interface ObjectStore {
  /** The store as the user named it, e.g. `file:///abs/.goose` or `s3://bucket/prefix`. */
  readonly url: string;
  put(key: string, body: Buffer | string | Readable, opts?: PutOptions): Promise<PutResult>;
  get(key: string): Promise<StoredObject | undefined>;
  getStream(key: string): Promise<Readable | undefined>;
  head(key: string): Promise<{ etag: string; size: number } | undefined>;
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
  /**
   * True when the backend really enforces ifNoneMatch/ifMatch. Lock code must refuse to run
   * on a store that does not (see ../shared/notes/s3.md: s3rver ignores conditional writes).
   */
  supportsConditionalWrites(): Promise<boolean>;
  /**
   * Removes the adapter's own temp files under a folder key whose writer is gone (a put killed
   * mid-way), where the adapter has such files (the file store); returns their names.
   */
  sweepTemporaries?(prefix: string): Promise<string[]>;
  /** True when the user accepted a store without conditional writes (--unsafe-store). */
  readonly unsafeConditionalWrites?: boolean;
}

export interface PutOptions {
  ifNoneMatch?: boolean;
  ifMatch?: string;
  contentType?: string;
}

export interface PutResult {
  etag: string;
}

export interface StoredObject {
  body: Buffer;
  etag: string;
}

export class PreconditionFailedError extends Error {
  constructor(public readonly key: string) {
    super(`precondition failed for ${key}: it was created or changed by someone else`);
    this.name = "PreconditionFailedError";
  }
}

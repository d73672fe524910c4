/**
 * Opening a store from its URL (DESIGN.md, "Store and keys"):
 *
 * - `file://DIR`: a directory; relative DIRs (`file://.goose`) resolve against `opts.cwd`
 *   (default `process.cwd()`); `file:///abs/dir` is absolute.
 * - `s3://BUCKET/PREFIX`: a bucket and optional key prefix; `GOOSE_S3_ENDPOINT` for any
 *   S3-compatible endpoint (path-style, checksums WHEN_REQUIRED).
 *
 * The default store is `file://.goose` (DEFAULT_STORE_URL). Anything else is a InputError
 * (exit 2) naming the accepted forms.
 */
import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { InputError } from "../errors.js";
import { FileObjectStore } from "./file.js";
import { S3ObjectStore, s3ClientConfig, s3Sdk } from "./s3.js";
import type { ObjectStore } from "./types.js";

export * from "./types.js";
export { FileObjectStore } from "./file.js";
export { S3ObjectStore, s3ClientConfig, MULTIPART_PART_SIZE, type S3StoreOptions } from "./s3.js";
export {
  StoreError,
  ConditionalWritesUnsupportedError,
  assertConditionalWrites,
  translateStoreError,
} from "./errors.js";

export const DEFAULT_STORE_URL = "file://.goose";

export interface OpenStoreOptions {
  cwd?: string;
  /** --unsafe-store: allow compare-and-swap users on an S3 endpoint without conditional writes. */
  unsafeStore?: boolean;
  /** Where the store's warnings go (stderr in the CLI). */
  warn?: (message: string) => void;
}

export function openStore(
  url: string,
  env: NodeJS.ProcessEnv,
  opts: OpenStoreOptions = {},
): ObjectStore {
  const cwd = opts.cwd ?? process.cwd();
  if (url.startsWith("file://")) {
    const rest = url.slice("file://".length);
    if (rest === "") throw badUrl(url, "the directory is missing");
    // file:///abs → absolute path; file://rel/dir → relative to cwd.
    const dir = rest.startsWith("/") ? fileURLToPath(url) : resolve(cwd, decodeURIComponent(rest));
    return new FileObjectStore(isAbsolute(dir) ? dir : resolve(cwd, dir));
  }
  if (url.startsWith("s3://")) {
    const rest = url.slice("s3://".length);
    const slash = rest.indexOf("/");
    const bucket = slash >= 0 ? rest.slice(0, slash) : rest;
    let prefix = slash >= 0 ? rest.slice(slash + 1) : "";
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      throw badUrl(url, `"${bucket}" is not a valid bucket name`);
    }
    prefix = prefix.replace(/^\/+|\/+$/g, "");
    if (prefix !== "") prefix += "/";
    return new S3ObjectStore(new (s3Sdk().S3Client)(s3ClientConfig(env)), bucket, prefix, {
      ...(env.GOOSE_S3_ENDPOINT ? { endpoint: env.GOOSE_S3_ENDPOINT } : {}),
      ...(opts.unsafeStore ? { unsafe: true } : {}),
      ...(opts.warn ? { warn: opts.warn } : {}),
    });
  }
  throw badUrl(url, "unknown scheme");
}

function badUrl(url: string, why: string): InputError {
  return new InputError(
    `--store "${url}": ${why}; use file://DIR (e.g. ${DEFAULT_STORE_URL}) or s3://BUCKET/PREFIX ` +
      `(set GOOSE_S3_ENDPOINT for an S3-compatible endpoint)`,
  );
}

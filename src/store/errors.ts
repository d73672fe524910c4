/**
 * Store errors a user can act on, and the one translation of raw backend errors into them.
 *
 * Every error here is exit 2 (a missing prerequisite or bad configuration) and names the store
 * URL, the flag or variable that chose it (--store / GOOSE_STORE, GOOSE_S3_ENDPOINT, AWS_*), and
 * the fix. `translateStoreError` is the only place that maps SDK/network errors (ECONNREFUSED,
 * ENOTFOUND, NoSuchBucket, credentials, access denied) to these messages.
 */

import { InputError } from "../errors.js";

/** A store that cannot be used as configured: an InputError (exit 2) with its fix. */
export class StoreError extends InputError {
  constructor(message: string, fix: string, code = "store-unusable") {
    super(`${message}. Fix: ${fix}`, { code, fix });
  }
}

/**
 * The store does not enforce conditional writes (`If-None-Match: *`, `If-Match: <etag>`), so a
 * compare-and-swap user (lease, evidence append, snapshot manifest, head) would silently lose
 * mutual exclusion or records. Refused unless the user passed --unsafe-store.
 */
export class ConditionalWritesUnsupportedError extends StoreError {
  constructor(readonly url: string) {
    super(
      `the store ${url} does not enforce conditional writes, so leases, evidence appends and ` +
        "snapshot manifests there would not exclude each other (records could be lost and a " +
        "lease could have two holders). It must refuse PutObject with `If-None-Match: *` on an " +
        "existing key (412) and honour `If-Match: <etag>` on PutObject, as AWS S3 does (s3rver " +
        "does not)",
      "use such an endpoint (GOOSE_S3_ENDPOINT, or unset it for AWS S3), or a file:// store with " +
        "--store; only if you alone write to this store, pass --unsafe-store to accept the risk",
      "store-without-conditional-writes",
    );
  }
}

function codeOf(err: unknown): string | undefined {
  const e = err as { code?: unknown; name?: unknown; Code?: unknown; cause?: unknown };
  if (typeof e?.code === "string") return e.code;
  if (e?.cause) return codeOf(e.cause);
  return undefined;
}

function nameOf(err: unknown): string | undefined {
  const e = err as { name?: unknown; Code?: unknown };
  if (typeof e?.Code === "string") return e.Code;
  return typeof e?.name === "string" ? e.name : undefined;
}

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_SOCKET",
]);

const CREDENTIAL_NAMES = new Set([
  "CredentialsProviderError",
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "ExpiredToken",
  "InvalidToken",
  "TokenRefreshRequired",
]);

/**
 * The store error a raw backend error means, or the error itself when it is not one we can
 * explain (callers rethrow the result). `where` says what the store is: its URL, and for S3 the
 * bucket and endpoint (undefined endpoint = AWS S3).
 */
export function translateStoreError(
  err: unknown,
  where: { url: string; bucket?: string; endpoint?: string },
): unknown {
  if (err instanceof StoreError) return err;
  const code = codeOf(err);
  const name = nameOf(err);
  const status = statusOf(err);
  const endpoint = where.endpoint ?? "AWS S3 (no GOOSE_S3_ENDPOINT set)";
  const raw = (err as Error)?.message ?? String(err);
  if (where.bucket === undefined) {
    // file:// stores
    if (code === "EACCES" || code === "EPERM" || code === "EROFS") {
      return new StoreError(
        `cannot write the store ${where.url} (${code}: ${raw})`,
        "give this user write access to that directory, or choose another with --store file://DIR (or GOOSE_STORE)",
      );
    }
    if (code === "ENOTDIR" || code === "EISDIR") {
      return new StoreError(
        `the store ${where.url} is not a directory tree goose can use (${code}: ${raw})`,
        "point --store (or GOOSE_STORE) at a directory, e.g. --store file://.goose",
      );
    }
    return err;
  }
  if ((code && NETWORK_CODES.has(code)) || (name && NETWORK_CODES.has(name))) {
    return new StoreError(
      `cannot reach the S3 endpoint ${endpoint} of the store ${where.url} (${code ?? name})`,
      "check GOOSE_S3_ENDPOINT (unset it for AWS S3) and that the endpoint is up and reachable " +
        "from here; or choose another store with --store (or GOOSE_STORE)",
    );
  }
  if (name === "NoSuchBucket") {
    return new StoreError(
      `the bucket "${where.bucket}" of the store ${where.url} does not exist at ${endpoint}`,
      `create it (aws s3 mb s3://${where.bucket}${where.endpoint ? ` --endpoint-url ${where.endpoint}` : ""}) ` +
        "or fix the bucket in --store (or GOOSE_STORE)",
    );
  }
  if (name && CREDENTIAL_NAMES.has(name)) {
    return new StoreError(
      `no valid AWS credentials for the store ${where.url} at ${endpoint} (${name})`,
      "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary " +
        "credentials) or AWS_PROFILE to credentials that may use this bucket",
    );
  }
  if (name === "AccessDenied" || name === "Forbidden" || status === 403) {
    return new StoreError(
      `access denied to the store ${where.url} at ${endpoint} (${name ?? "HTTP 403"})`,
      `grant the credentials in AWS_ACCESS_KEY_ID / AWS_PROFILE s3:GetObject, s3:PutObject, ` +
        `s3:DeleteObject and s3:ListBucket on ${where.bucket}, or use other credentials`,
    );
  }
  return err;
}

/**
 * Refuses (ConditionalWritesUnsupportedError, exit 2) a store that does not enforce conditional
 * writes, unless it was opened with --unsafe-store. Every compare-and-swap user calls this before
 * its first write (the S3 adapter also checks on every conditional put).
 */
export async function assertConditionalWrites(store: {
  url: string;
  supportsConditionalWrites(): Promise<boolean>;
  readonly unsafeConditionalWrites?: boolean;
}): Promise<void> {
  if (await store.supportsConditionalWrites()) return;
  if (store.unsafeConditionalWrites === true) return;
  throw new ConditionalWritesUnsupportedError(store.url);
}

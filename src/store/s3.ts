import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import type { Readable } from "node:stream";
import type { S3Client, S3ClientConfig } from "@aws-sdk/client-s3";
import type * as S3Sdk from "@aws-sdk/client-s3";
import type * as LibStorage from "@aws-sdk/lib-storage";
import {
  PreconditionFailedError,
  type ObjectStore,
  type PutOptions,
  type PutResult,
  type StoredObject,
} from "./types.js";
import { validateKey } from "./keys.js";
import { readAll } from "./file.js";
import { ConditionalWritesUnsupportedError, translateStoreError } from "./errors.js";

// The AWS SDK is loaded on first use (both packages are CommonJS), not when this module is
// imported: every goose command imports the store, few of them talk to S3, and the SDK costs
// ~0.3 s to load (issue 18: `goose <command> --help` loads no heavy module).
const require = createRequire(import.meta.url);
let sdk: typeof S3Sdk | undefined;
/** @aws-sdk/client-s3, loaded on first use. */
export function s3Sdk(): typeof S3Sdk {
  return (sdk ??= require("@aws-sdk/client-s3") as typeof S3Sdk);
}
let storage: typeof LibStorage | undefined;
function libStorage(): typeof LibStorage {
  return (storage ??= require("@aws-sdk/lib-storage") as typeof LibStorage);
}

export interface S3StoreOptions {
  /** The endpoint the client talks to (GOOSE_S3_ENDPOINT), for messages; undefined = AWS S3. */
  endpoint?: string;
  /**
   * --unsafe-store: allow conditional puts on an endpoint that does not enforce them (they are
   * sent, but exclusion is not guaranteed). `warn` is told once.
   */
  unsafe?: boolean;
  warn?: (message: string) => void;
}

/** Part size of multipart uploads of streamed bodies (S3's minimum is 5 MiB). */
export const MULTIPART_PART_SIZE = 8 * 1024 * 1024;

/**
 * The client configuration for an S3 store: `GOOSE_S3_ENDPOINT` points at any S3-compatible
 * endpoint (path-style addressing); checksums only WHEN_REQUIRED, because streamed bodies sent
 * `aws-chunked` with trailing checksums are stored with their framing by some servers
 * (../shared/notes/s3.md). Region from AWS_REGION / AWS_DEFAULT_REGION, else us-east-1;
 * credentials from the SDK's default chain (AWS_ACCESS_KEY_ID…).
 */
export function s3ClientConfig(env: NodeJS.ProcessEnv): S3ClientConfig {
  const cfg: S3ClientConfig = {
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1",
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  };
  const endpoint = env.GOOSE_S3_ENDPOINT;
  if (endpoint) {
    cfg.endpoint = endpoint;
    cfg.forcePathStyle = true;
  }
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    cfg.credentials = {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
    };
  }
  return cfg;
}

/**
 * The `s3://BUCKET/PREFIX` adapter. Buffers go up in one PutObject; streams through
 * lib-storage's Upload (multipart above one part), which S3 makes visible only when complete.
 * Conditional puts send If-None-Match: * / If-Match; whether the endpoint honours them is
 * probed once by `supportsConditionalWrites()`.
 */
export class S3ObjectStore implements ObjectStore {
  readonly url: string;
  private probe: Promise<boolean> | undefined;
  private warned = false;

  constructor(
    readonly client: S3Client,
    readonly bucket: string,
    readonly prefix: string,
    readonly options: S3StoreOptions = {},
  ) {
    this.url = `s3://${bucket}${prefix ? "/" + prefix.replace(/\/$/, "") : ""}`;
  }

  /** True when opened with --unsafe-store (see assertConditionalWrites). */
  get unsafeConditionalWrites(): boolean {
    return this.options.unsafe === true;
  }

  /** Every request goes through here: raw network/bucket/credential errors become StoreErrors. */
  private async send<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw translateStoreError(err, {
        url: this.url,
        bucket: this.bucket,
        ...(this.options.endpoint ? { endpoint: this.options.endpoint } : {}),
      });
    }
  }

  /**
   * Compare-and-swap users (leases, evidence, manifests, heads) need an endpoint that enforces
   * conditional writes: refused (exit 2) when it does not, unless the store was opened unsafe.
   */
  private async requireConditionalWrites(): Promise<void> {
    if (await this.supportsConditionalWrites()) return;
    if (!this.options.unsafe) throw new ConditionalWritesUnsupportedError(this.url);
    if (!this.warned) {
      this.warned = true;
      this.options.warn?.(
        `warning: --unsafe-store: ${this.url} does not enforce conditional writes; concurrent ` +
          "writers can lose evidence records and hold one lease together",
      );
    }
  }

  private k(key: string): string {
    validateKey(key);
    return this.prefix + key;
  }

  async put(
    key: string,
    body: Buffer | string | Readable,
    opts: PutOptions = {},
  ): Promise<PutResult> {
    const Key = this.k(key);
    const conditional = opts.ifNoneMatch === true || opts.ifMatch !== undefined;
    if (conditional) await this.requireConditionalWrites();
    try {
      if (typeof body === "string" || Buffer.isBuffer(body) || conditional) {
        // Conditional objects (locks, evidence heads) are small: send them in one request.
        const buf =
          typeof body === "string"
            ? Buffer.from(body, "utf8")
            : Buffer.isBuffer(body)
              ? body
              : await readAll(body);
        const r = await this.client.send(
          new (s3Sdk().PutObjectCommand)({
            Bucket: this.bucket,
            Key,
            Body: buf,
            ContentLength: buf.length,
            ContentType: opts.contentType ?? "application/octet-stream",
            ...(opts.ifNoneMatch ? { IfNoneMatch: "*" } : {}),
            ...(opts.ifMatch !== undefined ? { IfMatch: opts.ifMatch } : {}),
          }),
        );
        // An If-Match on a key that is gone is a lost race too (AWS answers 404 NoSuchKey).
        return { etag: r.ETag ?? "" };
      }
      const upload = new (libStorage().Upload)({
        client: this.client,
        params: {
          Bucket: this.bucket,
          Key,
          Body: body,
          ContentType: opts.contentType ?? "application/octet-stream",
        },
        partSize: MULTIPART_PART_SIZE,
        queueSize: 2,
        leavePartsOnError: false,
      });
      const r = await upload.done();
      return { etag: r.ETag ?? "" };
    } catch (err) {
      if (isPreconditionFailure(err)) throw new PreconditionFailedError(key);
      if (opts.ifMatch !== undefined && isNotFound(err)) throw new PreconditionFailedError(key);
      throw translateStoreError(err, {
        url: this.url,
        bucket: this.bucket,
        ...(this.options.endpoint ? { endpoint: this.options.endpoint } : {}),
      });
    }
  }

  async get(key: string): Promise<StoredObject | undefined> {
    try {
      const r = await this.client.send(
        new (s3Sdk().GetObjectCommand)({ Bucket: this.bucket, Key: this.k(key) }),
      );
      if (!r.Body) return { body: Buffer.alloc(0), etag: r.ETag ?? "" };
      const bytes = await r.Body.transformToByteArray();
      return { body: Buffer.from(bytes), etag: r.ETag ?? "" };
    } catch (err) {
      if (isNotFound(err) && nameOf(err) !== "NoSuchBucket") return undefined;
      throw translateStoreError(err, {
        url: this.url,
        bucket: this.bucket,
        ...(this.options.endpoint ? { endpoint: this.options.endpoint } : {}),
      });
    }
  }

  async getStream(key: string): Promise<Readable | undefined> {
    try {
      const r = await this.client.send(
        new (s3Sdk().GetObjectCommand)({ Bucket: this.bucket, Key: this.k(key) }),
      );
      return r.Body as Readable | undefined;
    } catch (err) {
      if (isNotFound(err) && nameOf(err) !== "NoSuchBucket") return undefined;
      throw translateStoreError(err, {
        url: this.url,
        bucket: this.bucket,
        ...(this.options.endpoint ? { endpoint: this.options.endpoint } : {}),
      });
    }
  }

  async head(key: string): Promise<{ etag: string; size: number } | undefined> {
    try {
      const r = await this.client.send(
        new (s3Sdk().HeadObjectCommand)({ Bucket: this.bucket, Key: this.k(key) }),
      );
      return { etag: r.ETag ?? "", size: r.ContentLength ?? 0 };
    } catch (err) {
      if (isNotFound(err) && nameOf(err) !== "NoSuchBucket") return undefined;
      throw translateStoreError(err, {
        url: this.url,
        bucket: this.bucket,
        ...(this.options.endpoint ? { endpoint: this.options.endpoint } : {}),
      });
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const r = await this.send(() =>
        this.client.send(
          new (s3Sdk().ListObjectsV2Command)({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            ContinuationToken: token,
          }),
        ),
      );
      for (const o of r.Contents ?? []) {
        if (!o.Key || !o.Key.startsWith(this.prefix)) continue;
        const key = o.Key.slice(this.prefix.length);
        if (key.split("/").some((seg) => seg.startsWith(".goose-"))) continue;
        out.push(key);
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out.sort();
  }

  async delete(key: string): Promise<void> {
    const Key = this.k(key);
    await this.send(() =>
      this.client.send(new (s3Sdk().DeleteObjectCommand)({ Bucket: this.bucket, Key })),
    );
  }

  supportsConditionalWrites(): Promise<boolean> {
    this.probe ??= this.send(() => this.probeConditionalWrites());
    return this.probe;
  }

  /** Writes a probe key twice with If-None-Match: *; the second must be refused. */
  private async probeConditionalWrites(): Promise<boolean> {
    const Key = `${this.prefix}.goose-probe/${randomBytes(8).toString("hex")}`;
    const put = () =>
      this.client.send(
        new (s3Sdk().PutObjectCommand)({
          Bucket: this.bucket,
          Key,
          Body: "probe",
          IfNoneMatch: "*",
        }),
      );
    try {
      await put();
      try {
        await put();
        return false;
      } catch (err) {
        if (isPreconditionFailure(err)) return true;
        throw err;
      }
    } catch (err) {
      if (isNotImplemented(err)) return false;
      throw err;
    } finally {
      await this.client
        .send(new (s3Sdk().DeleteObjectCommand)({ Bucket: this.bucket, Key }))
        .catch(() => {});
    }
  }
}

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

function nameOf(err: unknown): string | undefined {
  return (err as { name?: string })?.name;
}

function isNotFound(err: unknown): boolean {
  return statusOf(err) === 404 || nameOf(err) === "NoSuchKey" || nameOf(err) === "NotFound";
}

function isPreconditionFailure(err: unknown): boolean {
  const s = statusOf(err);
  return (
    s === 412 ||
    nameOf(err) === "PreconditionFailed" ||
    // S3 answers 409 when a conditional write races another one.
    (s === 409 && nameOf(err) === "ConditionalRequestConflict")
  );
}

function isNotImplemented(err: unknown): boolean {
  return statusOf(err) === 501 || nameOf(err) === "NotImplemented";
}

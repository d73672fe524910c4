/**
 * Snapshot encryption: a fresh 32-byte data key per snapshot; the export is gzip-compressed
 * then sealed with AES-256-GCM (streamed; the 16-byte tag is appended to the ciphertext).
 * The data key is wrapped by a key-encryption key:
 *
 * - `GOOSE_SNAPSHOT_KEY`: 32 bytes, base64 (wrap: AES-256-GCM; `kid` = sha256 fingerprint), or the
 *   same in the key file `goose keys init` writes (GOOSE_SNAPSHOT_KEY_FILE, default
 *   ~/.config/goose/snapshot.key), read when no variable names a key;
 * - `GOOSE_SNAPSHOT_PASSPHRASE`: scrypt(N=2^15, r=8, p=1) with a random salt kept in the
 *   manifest, then as above;
 * - AWS KMS (`--kms-key`): KMS Encrypt/Decrypt with the snapshot id as encryption context
 *   (`GOOSE_KMS_ENDPOINT` for a KMS-compatible endpoint).
 *
 * The manifest records only the wrapped key and how to unwrap it (KeyRef), never a key. A MAC
 * over the canonical manifest (HMAC-SHA256 under a key derived from the data key) makes any
 * edit of the manifest visible.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  hkdfSync,
  randomBytes,
  scryptSync,
  timingSafeEqual,
} from "node:crypto";
import { readFileSync } from "node:fs";
import { Transform, type TransformCallback } from "node:stream";
import type { KMSClient } from "@aws-sdk/client-kms";
import { InputError } from "../errors.js";
import { snapshotKeyFile } from "../keys/paths.js";

export const TAG_BYTES = 16;
const SCRYPT = { N: 1 << 15, r: 8, p: 1 } as const;

export interface WrappedKey {
  iv: string;
  ct: string;
}

export type KeyRef =
  | { type: "raw"; kid: string; wrapped: WrappedKey }
  | {
      type: "passphrase";
      kdf: "scrypt";
      salt: string;
      N: number;
      r: number;
      p: number;
      kid: string;
      wrapped: WrappedKey;
    }
  | { type: "kms"; keyId: string; wrapped: string };

/** Where data keys are wrapped on create: chosen from flags and env. */
export interface KeySource {
  readonly type: KeyRef["type"];
  /** Human description without secrets, e.g. `GOOSE_SNAPSHOT_KEY (kid 3f2a…)`. */
  describe(): string;
  wrap(dataKey: Buffer, aad: string): Promise<KeyRef>;
}

/** The key the snapshot needs is not configured: exit 2 with the fix. */
export class KeyMissingError extends InputError {
  constructor(message: string) {
    super(message);
    this.name = "KeyMissingError";
  }
}

/** The configured key does not unwrap the data key. */
export class WrongKeyError extends Error {
  readonly exitCode = 1;
  constructor(message: string) {
    super(message);
    this.name = "WrongKeyError";
  }
}

/** How to provide a snapshot key; `--kms-key` only where the command has that flag. */
function noKeyHelp(kmsKeyFlag: boolean): string {
  return (
    "run `npx goose keys init` (creates ~/.config/goose/snapshot.key), or set GOOSE_SNAPSHOT_KEY " +
    "(32 random bytes, base64: `openssl rand -base64 32`), or GOOSE_SNAPSHOT_PASSPHRASE" +
    (kmsKeyFlag ? ", or pass --kms-key <KMS key id or ARN>" : "")
  );
}

/** A raw snapshot key and where it came from: "GOOSE_SNAPSHOT_KEY" or the key file's path. */
interface RawKey {
  key: Buffer;
  origin: string;
}

function rawKeyFromEnv(env: NodeJS.ProcessEnv): RawKey | undefined {
  const v = env.GOOSE_SNAPSHOT_KEY;
  if (v === undefined || v === "") return undefined;
  const key = Buffer.from(v.trim(), "base64");
  if (key.length !== 32) {
    throw new InputError(
      `GOOSE_SNAPSHOT_KEY must be 32 bytes in base64 (it decodes to ${key.length} bytes); generate one with \`openssl rand -base64 32\``,
    );
  }
  return { key, origin: "GOOSE_SNAPSHOT_KEY" };
}

/** The key file (GOOSE_SNAPSHOT_KEY_FILE, default ~/.config/goose/snapshot.key), when it exists. */
function rawKeyFromFile(env: NodeJS.ProcessEnv): RawKey | undefined {
  const file = snapshotKeyFile(env);
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new InputError(
      `cannot read the snapshot key file ${file} (${(err as Error).message}); fix its permissions, or set GOOSE_SNAPSHOT_KEY_FILE to another file`,
    );
  }
  const key = Buffer.from(text.trim(), "base64");
  if (key.length !== 32) {
    throw new InputError(
      `the snapshot key file ${file} must hold 32 bytes in base64 (it decodes to ${key.length} bytes); copy the key back from your secret manager, or point GOOSE_SNAPSHOT_KEY_FILE at the right file`,
    );
  }
  return { key, origin: file };
}

function describeOrigin(origin: string): string {
  return origin === "GOOSE_SNAPSHOT_KEY" ? origin : `the key file ${origin}`;
}

/** The kid of the key file, or undefined when it is missing or unreadable (for hints only). */
function safeKidOfFile(env: NodeJS.ProcessEnv): string | undefined {
  try {
    const k = rawKeyFromFile(env);
    return k ? fingerprint(k.key) : undefined;
  } catch {
    return undefined;
  }
}

/** The kid of a raw snapshot key (what manifests record), for `goose keys`. */
export function snapshotKeyId(key: Buffer): string {
  return fingerprint(key);
}

function fingerprint(kek: Buffer): string {
  return createHash("sha256").update("goose-snapshot-kek:").update(kek).digest("hex").slice(0, 16);
}

function gcmWrap(kek: Buffer, dataKey: Buffer, aad: string): WrappedKey {
  const iv = randomBytes(12);
  const c = createCipheriv("aes-256-gcm", kek, iv);
  c.setAAD(Buffer.from(aad));
  const ct = Buffer.concat([c.update(dataKey), c.final(), c.getAuthTag()]);
  return { iv: iv.toString("base64"), ct: ct.toString("base64") };
}

function gcmUnwrap(kek: Buffer, w: WrappedKey, aad: string): Buffer | undefined {
  try {
    const all = Buffer.from(w.ct, "base64");
    const d = createDecipheriv("aes-256-gcm", kek, Buffer.from(w.iv, "base64"));
    d.setAAD(Buffer.from(aad));
    d.setAuthTag(all.subarray(all.length - TAG_BYTES));
    return Buffer.concat([d.update(all.subarray(0, all.length - TAG_BYTES)), d.final()]);
  } catch {
    return undefined;
  }
}

function scryptKek(passphrase: string, salt: Buffer, N: number, r: number, p: number): Buffer {
  return scryptSync(passphrase, salt, 32, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 });
}

/**
 * The KMS SDK is loaded only when a KMS key is used (it costs ~15 MB of memory). Credentials
 * come from the environment goose was given (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN) when set there, else from the SDK's default chain (profiles, SSO, web
 * identity, container and instance roles).
 */
async function kmsClient(env: NodeJS.ProcessEnv): Promise<{
  client: KMSClient;
  kms: typeof import("@aws-sdk/client-kms");
}> {
  const kms = await import("@aws-sdk/client-kms");
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  const client = new kms.KMSClient({
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1",
    ...(env.GOOSE_KMS_ENDPOINT ? { endpoint: env.GOOSE_KMS_ENDPOINT } : {}),
    ...(accessKeyId && secretAccessKey
      ? {
          credentials: {
            accessKeyId,
            secretAccessKey,
            ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
          },
        }
      : {}),
  });
  return { client, kms };
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);

/**
 * A KMS failure that is a missing prerequisite (credentials, endpoint, a key that does not
 * exist on create): KeyMissingError / InputError, exit 2, naming the fix. Undefined for the
 * rest (the caller decides).
 */
function kmsPrerequisiteError(
  err: unknown,
  keyId: string,
  env: NodeJS.ProcessEnv,
  action: "wrap" | "unwrap",
): InputError | undefined {
  const e = err as { name?: string; code?: string; message?: string };
  const name = e.name ?? "";
  const where = env.GOOSE_KMS_ENDPOINT
    ? `the KMS endpoint ${env.GOOSE_KMS_ENDPOINT} (GOOSE_KMS_ENDPOINT)`
    : `AWS KMS in ${env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1"} (AWS_REGION)`;
  const what =
    action === "wrap"
      ? `cannot wrap the data key with KMS key ${keyId}`
      : `this snapshot's data key is wrapped by AWS KMS key ${keyId}`;
  if (name === "CredentialsProviderError") {
    return new KeyMissingError(
      `${what}: no AWS credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and AWS_REGION`,
    );
  }
  if (
    name === "UnrecognizedClientException" ||
    name === "InvalidSignatureException" ||
    name === "ExpiredTokenException" ||
    name === "AccessDeniedException"
  ) {
    return new KeyMissingError(
      `${what}: ${where} refused the AWS credentials (${name}); check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (or AWS_PROFILE) and that they may use the key`,
    );
  }
  const code = e.code ?? /\b(E[A-Z_]+)\b/.exec(e.message ?? "")?.[1] ?? "";
  if (NETWORK_CODES.has(code) || name === "TimeoutError") {
    return new KeyMissingError(
      `${what}: cannot reach ${where} (${code || name}); set GOOSE_KMS_ENDPOINT to a reachable KMS-compatible endpoint, or unset it and set AWS_REGION for AWS KMS`,
    );
  }
  if (action === "wrap" && name === "NotFoundException") {
    return new InputError(
      `${what}: ${where} has no such key (NotFoundException); check --kms-key (a key id, key ARN or alias/NAME)`,
    );
  }
  return undefined;
}

/** Why KMS would not unwrap a data key, in words: the verification report's message. */
function kmsUnwrapFailure(err: unknown, keyId: string): WrongKeyError {
  const name = (err as { name?: string }).name ?? "";
  switch (name) {
    case "IncorrectKeyException":
      return new WrongKeyError(
        `wrong key: the data key was not wrapped by KMS key ${keyId} (IncorrectKeyException); the manifest's key id was edited, or the snapshot was sealed under another key`,
      );
    case "InvalidCiphertextException":
      return new WrongKeyError(
        "KMS refused the wrapped data key (InvalidCiphertextException): the manifest's wrapped key or the snapshot id (its encryption context) was edited",
      );
    case "NotFoundException":
      return new WrongKeyError(
        `KMS key ${keyId} does not exist there (NotFoundException): point GOOSE_KMS_ENDPOINT/AWS_REGION at the KMS holding it, or the manifest's key id was edited`,
      );
    case "DisabledException":
    case "KMSInvalidStateException":
      return new WrongKeyError(`KMS key ${keyId} cannot decrypt now (${name}): enable the key`);
    default:
      return new WrongKeyError(
        `AWS KMS could not unwrap the data key with ${keyId}: ${name ? `${name}: ` : ""}${(err as Error).message}`,
      );
  }
}

/**
 * The key source for new snapshots: `--kms-key` first, then GOOSE_SNAPSHOT_KEY, then
 * GOOSE_SNAPSHOT_PASSPHRASE. None: KeyMissingError (exit 2).
 */
export function keySourceFromEnv(
  env: NodeJS.ProcessEnv,
  opts: {
    kmsKeyId?: string;
    /** Whether the command offers --kms-key (named in the no-key help); default true. */
    kmsKeyFlag?: boolean;
  } = {},
): KeySource {
  if (opts.kmsKeyId) {
    const keyId = opts.kmsKeyId;
    return {
      type: "kms",
      describe: () => `AWS KMS key ${keyId}`,
      async wrap(dataKey, aad) {
        const { client, kms } = await kmsClient(env);
        try {
          const r = await client.send(
            new kms.EncryptCommand({
              KeyId: keyId,
              Plaintext: dataKey,
              EncryptionContext: { "goose-snapshot": aad },
            }),
          );
          if (!r.CiphertextBlob) throw new Error("KMS Encrypt returned no ciphertext");
          return { type: "kms", keyId, wrapped: Buffer.from(r.CiphertextBlob).toString("base64") };
        } catch (err) {
          const usage = kmsPrerequisiteError(err, keyId, env, "wrap");
          if (usage) throw usage;
          const name = (err as { name?: string }).name;
          throw new Error(
            `KMS Encrypt with key ${keyId} failed: ${name ? `${name}: ` : ""}${(err as Error).message}`,
          );
        } finally {
          client.destroy();
        }
      },
    };
  }
  const fromEnv = rawKeyFromEnv(env);
  const pass = env.GOOSE_SNAPSHOT_PASSPHRASE;
  const raw = fromEnv ?? (pass ? undefined : rawKeyFromFile(env));
  if (raw) {
    const kid = fingerprint(raw.key);
    return {
      type: "raw",
      describe: () => `${describeOrigin(raw.origin)} (kid ${kid})`,
      wrap: async (dataKey, aad) => ({
        type: "raw",
        kid,
        wrapped: gcmWrap(raw.key, dataKey, aad),
      }),
    };
  }
  if (pass) {
    return {
      type: "passphrase",
      describe: () => "GOOSE_SNAPSHOT_PASSPHRASE (scrypt)",
      async wrap(dataKey, aad) {
        const salt = randomBytes(16);
        const kek = scryptKek(pass, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p);
        return {
          type: "passphrase",
          kdf: "scrypt",
          salt: salt.toString("base64"),
          ...SCRYPT,
          kid: fingerprint(kek),
          wrapped: gcmWrap(kek, dataKey, aad),
        };
      },
    };
  }
  throw new KeyMissingError(`no snapshot key: ${noKeyHelp(opts.kmsKeyFlag ?? true)}`);
}

/**
 * Unwraps a snapshot's data key. KeyMissingError (exit 2) when the key the snapshot names is
 * not configured; WrongKeyError when the configured key is not the one it was wrapped with.
 */
export async function unwrapDataKey(
  ref: KeyRef,
  env: NodeJS.ProcessEnv,
  aad: string,
): Promise<Buffer> {
  switch (ref.type) {
    case "raw": {
      const fromEnv = rawKeyFromEnv(env);
      const fromFile = fromEnv ? undefined : rawKeyFromFile(env);
      const raw = fromEnv ?? fromFile;
      const file = snapshotKeyFile(env) ?? "~/.config/goose/snapshot.key";
      if (!raw) {
        throw new KeyMissingError(
          `this snapshot was sealed with a snapshot key (kid ${ref.kid}), and none is set: neither GOOSE_SNAPSHOT_KEY nor the key file ${file} exists. ` +
            `Fix: set GOOSE_SNAPSHOT_KEY to the key with kid ${ref.kid} from your secret manager (or write it to ${file})`,
        );
      }
      const kid = fingerprint(raw.key);
      if (kid !== ref.kid) {
        let fix = `set GOOSE_SNAPSHOT_KEY to the key with kid ${ref.kid} from your secret manager`;
        if (fromEnv) {
          const inFile = safeKidOfFile(env);
          if (inFile === ref.kid)
            fix = `unset GOOSE_SNAPSHOT_KEY: the key file ${file} holds kid ${ref.kid}`;
        }
        throw new WrongKeyError(
          `wrong key: the snapshot was sealed with the snapshot key kid ${ref.kid}, but the key in use, ${describeOrigin(raw.origin)}, has kid ${kid}. Fix: ${fix}`,
        );
      }
      const dk = gcmUnwrap(raw.key, ref.wrapped, aad);
      if (!dk) {
        throw new WrongKeyError(
          `the wrapped data key does not open with ${describeOrigin(raw.origin)}: the manifest's key field or id was edited`,
        );
      }
      return dk;
    }
    case "passphrase": {
      const pass = env.GOOSE_SNAPSHOT_PASSPHRASE;
      if (!pass) {
        throw new KeyMissingError(
          "this snapshot's data key is wrapped by a passphrase: set GOOSE_SNAPSHOT_PASSPHRASE",
        );
      }
      const kek = scryptKek(pass, Buffer.from(ref.salt, "base64"), ref.N, ref.r, ref.p);
      if (fingerprint(kek) !== ref.kid) {
        throw new WrongKeyError(
          "wrong key: GOOSE_SNAPSHOT_PASSPHRASE is not the passphrase this snapshot was sealed with",
        );
      }
      const dk = gcmUnwrap(kek, ref.wrapped, aad);
      if (!dk) {
        throw new WrongKeyError(
          "the wrapped data key does not open with GOOSE_SNAPSHOT_PASSPHRASE: the manifest's key field or id was edited",
        );
      }
      return dk;
    }
    case "kms": {
      const { client, kms } = await kmsClient(env);
      try {
        const r = await client.send(
          new kms.DecryptCommand({
            KeyId: ref.keyId,
            CiphertextBlob: Buffer.from(ref.wrapped, "base64"),
            EncryptionContext: { "goose-snapshot": aad },
          }),
        );
        if (!r.Plaintext) throw new WrongKeyError(`KMS key ${ref.keyId} returned no data key`);
        return Buffer.from(r.Plaintext);
      } catch (err) {
        if (err instanceof WrongKeyError) throw err;
        throw (
          kmsPrerequisiteError(err, ref.keyId, env, "unwrap") ?? kmsUnwrapFailure(err, ref.keyId)
        );
      } finally {
        client.destroy();
      }
    }
  }
}

export function newDataKey(): { dataKey: Buffer; iv: Buffer } {
  return { dataKey: randomBytes(32), iv: randomBytes(12) };
}

/** AES-256-GCM sealing transform: ciphertext, then the 16-byte tag at the end. */
export function encryptStream(dataKey: Buffer, iv: Buffer, aad: string): Transform {
  const c = createCipheriv("aes-256-gcm", dataKey, iv);
  c.setAAD(Buffer.from(aad));
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      cb(null, c.update(chunk));
    },
    flush(cb: TransformCallback) {
      try {
        const last = c.final();
        this.push(last);
        this.push(c.getAuthTag());
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
  });
}

/** The GCM tag did not verify: the ciphertext (or iv, or aad) was changed. */
export class AuthenticationError extends Error {
  constructor() {
    super("the payload does not authenticate (AES-GCM tag mismatch): its bytes were changed");
    this.name = "AuthenticationError";
  }
}

/** Opening transform: holds back the last 16 bytes (the tag) until the end. */
export function decryptStream(dataKey: Buffer, iv: Buffer, aad: string): Transform {
  const d = createDecipheriv("aes-256-gcm", dataKey, iv);
  d.setAAD(Buffer.from(aad));
  let tail = Buffer.alloc(0);
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      const all = tail.length > 0 ? Buffer.concat([tail, chunk]) : chunk;
      if (all.length <= TAG_BYTES) {
        tail = Buffer.from(all);
        cb();
        return;
      }
      tail = Buffer.from(all.subarray(all.length - TAG_BYTES));
      cb(null, d.update(all.subarray(0, all.length - TAG_BYTES)));
    },
    flush(cb: TransformCallback) {
      if (tail.length < TAG_BYTES) {
        cb(new AuthenticationError());
        return;
      }
      try {
        d.setAuthTag(tail);
        this.push(d.final());
        cb();
      } catch {
        cb(new AuthenticationError());
      }
    },
  });
}

/** HMAC key for the manifest, derived from the data key. */
export function manifestMacKey(dataKey: Buffer): Buffer {
  return Buffer.from(
    hkdfSync("sha256", dataKey, Buffer.alloc(0), "goose-snapshot-manifest-mac-v1", 32),
  );
}

export function mac(key: Buffer, text: string): string {
  return createHmac("sha256", key).update(text).digest("hex");
}

export function macEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/**
 * Snapshot keys: who may seal a snapshot, and which sealed snapshots goose trusts.
 *
 * Every snapshot has a fresh 32-byte data key. The manifest carries it wrapped (a KeyRef): by
 * `GOOSE_SNAPSHOT_KEY` (AES-256-GCM; `kid` = a sha256 fingerprint of the key), by a key derived
 * from `GOOSE_SNAPSHOT_PASSPHRASE` (scrypt; salt and cost kept in the manifest), or by AWS KMS
 * (Encrypt/Decrypt with the snapshot id as encryption context).
 *
 * Trust comes from configuration only, as a restic or Kopia repository key does: the
 * SnapshotKeyring holds what the user configured (the raw key, the passphrase, and an
 * allow-list of KMS keys from the stage's stack file `golden-goose:snapshots.kmsKeys` or
 * `--kms-key`). A manifest is only a claim about which of those keys wrapped the data key:
 * one that names a key type or KMS key that is not configured is `wrong-key` (exit 1) without
 * asking anyone to unwrap it; a KeyRef that is malformed or asks for out-of-range KDF work is
 * `manifest-edited` (exit 1), decided before anything is allocated from it. Only when nothing at
 * all is configured is it a missing prerequisite (KeyMissingError, exit 2).
 *
 * `SnapshotKeyring.unwrap` is the one place a data key is unwrapped (verify, restore, rollback;
 * key rotation re-wraps through it). `keySourceFromEnv` chooses the key new snapshots are
 * sealed with.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, scryptSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { InputError } from "../errors.js";
import { snapshotKeyFile } from "../keys/paths.js";
import { KeyMissingError, ManifestEditedError, WrongKeyError } from "./key-errors.js";
import { kmsClient, kmsPrerequisiteError, kmsUnwrapFailure } from "./kms.js";

const TAG_BYTES = 16;

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

/** scrypt cost for new snapshots. */
export const SCRYPT = { N: 1 << 15, r: 8, p: 1 } as const;

/**
 * What a manifest may ask scrypt for: N a power of two from 2^14 to 2^17, r 1 to 16, p 1 to 4,
 * at most 128 MiB of memory (128·N·r), a salt of 16 to 64 bytes. Outside: manifest-edited.
 */
export const SCRYPT_BOUNDS = {
  minN: 1 << 14,
  maxN: 1 << 17,
  maxR: 16,
  maxP: 4,
  maxMemory: 128 * 1024 * 1024,
  minSalt: 16,
  maxSalt: 64,
} as const;

/** Where data keys are wrapped on create: chosen from flags and env. */
export interface KeySource {
  readonly type: KeyRef["type"];
  /** Human description without secrets, e.g. `GOOSE_SNAPSHOT_KEY (kid 3f2a…)`. */
  describe(): string;
  wrap(dataKey: Buffer, aad: string): Promise<KeyRef>;
}

export { KeyMissingError, ManifestEditedError, WrongKeyError } from "./key-errors.js";

/** How to provide a snapshot key; `--kms-key` only where the command has that flag. */
function noKeyHelp(kmsKeyFlag: boolean): string {
  return (
    "run `npx goose keys init` (creates ~/.config/goose/snapshot.key), or set GOOSE_SNAPSHOT_KEY " +
    "(32 random bytes, base64: `openssl rand -base64 32`), or GOOSE_SNAPSHOT_PASSPHRASE" +
    (kmsKeyFlag ? ", or pass --kms-key <KMS key id or ARN>" : "")
  );
}

export const NO_KEY_HELP =
  "run `npx goose keys init` (creates ~/.config/goose/snapshot.key), or set GOOSE_SNAPSHOT_KEY " +
  "(32 random bytes, base64: `openssl rand -base64 32`), or " +
  "GOOSE_SNAPSHOT_PASSPHRASE, or pass --kms-key <KMS key ARN> (or list the key's ARN under " +
  "golden-goose:snapshots.kmsKeys in the stage's Pulumi.<stage>.yaml)";

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
  return scryptSync(passphrase, salt, 32, { N, r, p, maxmem: 128 * N * r + 1024 * 1024 });
}

// ---------------------------------------------------------------------------------------------
// Reading a KeyRef from a manifest: shape and bounds, before anything is derived or allocated.

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;
const HEX16 = /^[0-9a-f]{16}$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function b64(v: unknown, what: string, min: number, max: number): Buffer {
  // Checked as text first: a 10 MB field is refused before it is decoded.
  if (typeof v !== "string" || v.length > Math.ceil(max / 3) * 4 || !B64.test(v)) {
    throw new ManifestEditedError(`${what} is not base64 of ${min}–${max} bytes`);
  }
  const buf = Buffer.from(v, "base64");
  if (buf.length < min || buf.length > max) {
    throw new ManifestEditedError(`${what} is ${buf.length} bytes, not ${min}–${max}`);
  }
  return buf;
}

function wrappedOf(v: unknown): WrappedKey {
  if (!isObject(v)) throw new ManifestEditedError("key.wrapped is not a wrapped key");
  b64(v.iv, "key.wrapped.iv", 12, 12);
  b64(v.ct, "key.wrapped.ct", 32 + TAG_BYTES, 32 + TAG_BYTES);
  return { iv: v.iv as string, ct: v.ct as string };
}

/**
 * The manifest's `key` as a KeyRef, or ManifestEditedError: a known type, every field of the
 * right type and size, scrypt parameters within SCRYPT_BOUNDS.
 */
export function parseKeyRef(v: unknown): KeyRef {
  if (!isObject(v)) throw new ManifestEditedError("its `key` is not a key reference");
  switch (v.type) {
    case "raw": {
      if (typeof v.kid !== "string" || !HEX16.test(v.kid)) {
        throw new ManifestEditedError("key.kid is not a key fingerprint");
      }
      return { type: "raw", kid: v.kid, wrapped: wrappedOf(v.wrapped) };
    }
    case "passphrase": {
      if (v.kdf !== "scrypt") {
        throw new ManifestEditedError(`key.kdf ${JSON.stringify(v.kdf)} is not scrypt`);
      }
      const { N, r, p } = v;
      const B = SCRYPT_BOUNDS;
      const int = (x: unknown, lo: number, hi: number) =>
        typeof x === "number" && Number.isInteger(x) && x >= lo && x <= hi;
      if (
        !int(N, B.minN, B.maxN) ||
        ((N as number) & ((N as number) - 1)) !== 0 ||
        !int(r, 1, B.maxR) ||
        !int(p, 1, B.maxP) ||
        128 * (N as number) * (r as number) > B.maxMemory
      ) {
        throw new ManifestEditedError(
          `its scrypt parameters (N=${String(N)}, r=${String(r)}, p=${String(p)}) are outside what goose writes or accepts ` +
            `(N a power of two from 2^14 to 2^17, r 1–${B.maxR}, p 1–${B.maxP}, at most ${B.maxMemory >> 20} MiB)`,
        );
      }
      b64(v.salt, "key.salt (scrypt salt)", B.minSalt, B.maxSalt);
      if (typeof v.kid !== "string" || !HEX16.test(v.kid)) {
        throw new ManifestEditedError("key.kid is not a key fingerprint");
      }
      return {
        type: "passphrase",
        kdf: "scrypt",
        salt: v.salt as string,
        N: N as number,
        r: r as number,
        p: p as number,
        kid: v.kid,
        wrapped: wrappedOf(v.wrapped),
      };
    }
    case "kms": {
      if (typeof v.keyId !== "string" || v.keyId === "" || v.keyId.length > 2048) {
        throw new ManifestEditedError("key.keyId is not a KMS key id");
      }
      b64(v.wrapped, "key.wrapped (KMS ciphertext)", 1, 6144);
      return { type: "kms", keyId: v.keyId, wrapped: v.wrapped as string };
    }
    default:
      throw new ManifestEditedError(
        `its key type ${JSON.stringify(v.type ?? null)} is none goose writes (raw, passphrase, kms)`,
      );
  }
}

// ---------------------------------------------------------------------------------------------
// AWS KMS.

// ---------------------------------------------------------------------------------------------
// Sealing new snapshots.

/**
 * The key source for new snapshots: `--kms-key` first, then GOOSE_SNAPSHOT_KEY, then
 * GOOSE_SNAPSHOT_PASSPHRASE. None: KeyMissingError (exit 2). A KMS-wrapped key records the
 * key ARN KMS reports, so an allow-list of ARNs matches it whatever form --kms-key took.
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
          return {
            type: "kms",
            keyId: r.KeyId ?? keyId,
            wrapped: Buffer.from(r.CiphertextBlob).toString("base64"),
          };
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

// ---------------------------------------------------------------------------------------------
// Trust: the keyring.

/** A KMS key goose trusts, and where that trust was configured (for messages). */
export interface TrustedKmsKey {
  /** A key ARN (stack file), or what `--kms-key` said (key id, ARN or alias). */
  id: string;
  /** e.g. `Pulumi.production.yaml golden-goose:snapshots.kmsKeys` or `--kms-key`. */
  from: string;
}

/** The key id at the end of a key ARN (`arn:…:key/<id>`), else the text itself. */
function bareKeyId(id: string): string {
  const m = /^arn:aws[\w-]*:kms:[^:]*:\d*:key\/(.+)$/.exec(id);
  return m ? m[1]! : id;
}

function isAlias(id: string): boolean {
  return id.startsWith("alias/") || /^arn:aws[\w-]*:kms:[^:]*:\d*:alias\//.test(id);
}

/**
 * The keys goose trusts for reading snapshots, all from configuration: GOOSE_SNAPSHOT_KEY,
 * GOOSE_SNAPSHOT_PASSPHRASE and a KMS allow-list (the stage's stack file and `--kms-key`). The
 * environment also carries the AWS credentials and endpoint KMS calls use.
 */
export class SnapshotKeyring {
  readonly raw: RawKey | undefined;
  readonly passphrase: string | undefined;
  readonly kms: readonly TrustedKmsKey[];

  constructor(
    readonly env: NodeJS.ProcessEnv,
    kms: readonly TrustedKmsKey[] = [],
  ) {
    this.raw = rawKeyFromEnv(env) ?? rawKeyFromFile(env);
    this.passphrase = env.GOOSE_SNAPSHOT_PASSPHRASE || undefined;
    this.kms = kms.filter((k) => k.id !== "");
  }

  /** The keyring of an environment alone (no KMS allow-list). */
  static fromEnv(env: NodeJS.ProcessEnv): SnapshotKeyring {
    return new SnapshotKeyring(env);
  }

  get empty(): boolean {
    return !this.raw && !this.passphrase && this.kms.length === 0;
  }

  /** What is configured, without secrets. */
  describe(): string {
    const parts: string[] = [];
    if (this.raw)
      parts.push(`${describeOrigin(this.raw.origin)} (kid ${fingerprint(this.raw.key)})`);
    if (this.passphrase) parts.push("GOOSE_SNAPSHOT_PASSPHRASE");
    for (const k of this.kms) parts.push(`KMS key ${k.id} (${k.from})`);
    return parts.length > 0 ? parts.join(", ") : "no snapshot key";
  }

  /**
   * The data key of a snapshot, unwrapped with a configured key. `ref` is the manifest's `key`
   * as read (unchecked); `aad` binds the wrap to the snapshot id. ManifestEditedError for a
   * malformed or out-of-range KeyRef; WrongKeyError when the key it names is not configured
   * or does not open it; KeyMissingError (exit 2) only when no key is configured at all or a
   * configured KMS key cannot be reached.
   */
  async unwrap(ref: unknown, aad: string): Promise<Buffer> {
    const key = parseKeyRef(ref);
    if (this.empty) {
      const needs =
        key.type === "raw"
          ? `a GOOSE_SNAPSHOT_KEY (kid ${key.kid})`
          : key.type === "passphrase"
            ? "GOOSE_SNAPSHOT_PASSPHRASE"
            : `AWS KMS key ${key.keyId}`;
      throw new KeyMissingError(
        `this snapshot's data key is wrapped by ${needs}, and no snapshot key is configured: ${NO_KEY_HELP}`,
      );
    }
    const notConfigured = (what: string, fix: string) =>
      new WrongKeyError(
        `wrong key: the manifest says the data key is wrapped by ${what}, which is not a configured key ` +
          `(configured: ${this.describe()}); a snapshot is trusted only under a key goose is configured with. ` +
          `If you took it with that key, ${fix}`,
      );
    switch (key.type) {
      case "raw": {
        if (!this.raw) {
          const file = snapshotKeyFile(this.env) ?? "~/.config/goose/snapshot.key";
          throw notConfigured(
            `a snapshot key (kid ${key.kid})`,
            `set GOOSE_SNAPSHOT_KEY to the key with kid ${key.kid} from your secret manager (or write it to ${file})`,
          );
        }
        const kid = fingerprint(this.raw.key);
        if (kid !== key.kid) {
          let fix = `set GOOSE_SNAPSHOT_KEY to the key with kid ${key.kid} from your secret manager`;
          if (this.raw.origin === "GOOSE_SNAPSHOT_KEY" && safeKidOfFile(this.env) === key.kid) {
            fix = `unset GOOSE_SNAPSHOT_KEY: the key file ${snapshotKeyFile(this.env) ?? ""} holds kid ${key.kid}`;
          }
          throw new WrongKeyError(
            `wrong key: the snapshot was sealed with the snapshot key kid ${key.kid}, but the key in use, ${describeOrigin(this.raw.origin)}, has kid ${kid}. Fix: ${fix}`,
          );
        }
        const dk = gcmUnwrap(this.raw.key, key.wrapped, aad);
        if (!dk) {
          throw new WrongKeyError(
            `the wrapped data key does not open with ${describeOrigin(this.raw.origin)}: the manifest's key field or id was edited`,
          );
        }
        return dk;
      }
      case "passphrase": {
        if (!this.passphrase) {
          throw notConfigured("a passphrase", "set GOOSE_SNAPSHOT_PASSPHRASE to it");
        }
        const kek = scryptKek(
          this.passphrase,
          Buffer.from(key.salt, "base64"),
          key.N,
          key.r,
          key.p,
        );
        if (fingerprint(kek) !== key.kid) {
          throw new WrongKeyError(
            "wrong key: GOOSE_SNAPSHOT_PASSPHRASE is not the passphrase this snapshot was sealed with",
          );
        }
        const dk = gcmUnwrap(kek, key.wrapped, aad);
        if (!dk) {
          throw new WrongKeyError(
            "the wrapped data key does not open with GOOSE_SNAPSHOT_PASSPHRASE: the manifest's key field or id was edited",
          );
        }
        return dk;
      }
      case "kms":
        return this.unwrapKms(key, aad, notConfigured);
    }
  }

  /**
   * KMS: only configured keys are ever asked. Decrypt names the configured key (KeyId), so
   * KMS itself refuses a ciphertext made under any other key (IncorrectKeyException). The
   * manifest's key id only selects which configured key to ask: the same ARN or key id, or a
   * configured alias (which KMS resolves). No match: wrong-key without a KMS call.
   */
  private async unwrapKms(
    key: Extract<KeyRef, { type: "kms" }>,
    aad: string,
    notConfigured: (what: string, fix: string) => WrongKeyError,
  ): Promise<Buffer> {
    const wanted = bareKeyId(key.keyId);
    const candidates = this.kms.filter(
      (k) => k.id === key.keyId || bareKeyId(k.id) === wanted || isAlias(k.id),
    );
    if (candidates.length === 0) {
      throw notConfigured(
        `AWS KMS key ${key.keyId}`,
        "list its ARN under golden-goose:snapshots.kmsKeys in the stage's Pulumi.<stage>.yaml, or pass --kms-key with it",
      );
    }
    const { client, kms } = await kmsClient(this.env);
    let last: WrongKeyError | undefined;
    try {
      for (const trusted of candidates) {
        try {
          const r = await client.send(
            new kms.DecryptCommand({
              KeyId: trusted.id,
              CiphertextBlob: Buffer.from(key.wrapped, "base64"),
              EncryptionContext: { "goose-snapshot": aad },
            }),
          );
          if (!r.Plaintext || r.Plaintext.length !== 32) {
            throw new WrongKeyError(`KMS key ${trusted.id} returned no 32-byte data key`);
          }
          if (r.KeyId && !isAlias(trusted.id) && bareKeyId(r.KeyId) !== bareKeyId(trusted.id)) {
            throw new WrongKeyError(
              `KMS answered for key ${r.KeyId}, not the configured ${trusted.id}: refusing the data key`,
            );
          }
          return Buffer.from(r.Plaintext);
        } catch (err) {
          if (err instanceof WrongKeyError) throw err;
          const prerequisite = kmsPrerequisiteError(err, trusted.id, this.env, "unwrap");
          if (prerequisite) throw prerequisite;
          last = kmsUnwrapFailure(err, key.keyId);
        }
      }
    } finally {
      client.destroy();
    }
    throw last ?? new WrongKeyError(`no configured KMS key unwraps the data key of ${key.keyId}`);
  }
}

/** A keyring, or an environment to build one from (no KMS allow-list then). */
export type KeyringLike = SnapshotKeyring | NodeJS.ProcessEnv;

export function keyringOf(k: KeyringLike): SnapshotKeyring {
  return k instanceof SnapshotKeyring ? k : SnapshotKeyring.fromEnv(k);
}

import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { InputError } from "../errors.js";
import { configDir } from "../keys/paths.js";

/** DER prefix of a PKCS#8 Ed25519 private key; the 32-byte seed follows it. */
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
/** DER prefix of an SPKI Ed25519 public key; the 32 raw bytes follow it. */
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

/** An Ed25519 signing key, where it came from, and its public half. */
export interface EvidenceKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** `ed25519:<first 16 hex of sha256(raw public key)>`. */
  keyid: string;
  /** "env" (GOOSE_EVIDENCE_KEY), "file" (an existing key file) or "generated" (just created). */
  source: "env" | "file" | "generated";
  /** The key file, when the key lives in one. */
  file?: string;
}

export class EvidenceKeyError extends InputError {
  constructor(message: string) {
    super(message);
    this.name = "EvidenceKeyError";
  }
}

/** Raw 32 bytes of an Ed25519 public key. */
export function rawPublicKey(key: KeyObject): Buffer {
  const der = key.export({ format: "der", type: "spki" });
  return der.subarray(der.length - 32);
}

export function keyIdOf(publicKey: KeyObject): string {
  return (
    "ed25519:" + createHash("sha256").update(rawPublicKey(publicKey)).digest("hex").slice(0, 16)
  );
}

export function publicKeyPem(publicKey: KeyObject): string {
  return publicKey.export({ format: "pem", type: "spki" }).toString();
}

/**
 * Parses a private key given as PKCS#8 PEM or as base64 of the 32-byte Ed25519 seed.
 * `origin` names where the text came from, for the error message.
 */
export function parsePrivateKey(text: string, origin: string): KeyObject {
  const trimmed = text.trim();
  try {
    if (trimmed.startsWith("-----BEGIN")) {
      const key = createPrivateKey(trimmed);
      if (key.asymmetricKeyType !== "ed25519")
        throw new Error(`not Ed25519 but ${key.asymmetricKeyType}`);
      return key;
    }
    const seed = Buffer.from(trimmed, "base64");
    if (seed.length !== 32) throw new Error(`base64 decodes to ${seed.length} bytes, not 32`);
    return createPrivateKey({
      key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
      format: "der",
      type: "pkcs8",
    });
  } catch (err) {
    throw new EvidenceKeyError(
      `${origin} is not an Ed25519 private key (${(err as Error).message}); give a PKCS#8 PEM or ` +
        "the base64 of a 32-byte seed, e.g. `openssl rand -base64 32`",
    );
  }
}

/** Parses a public key given as SPKI PEM or as base64 of the raw 32 bytes. */
export function parsePublicKey(text: string, origin: string): KeyObject {
  const trimmed = text.trim();
  try {
    if (trimmed.startsWith("-----BEGIN")) return createPublicKey(trimmed);
    const raw = Buffer.from(trimmed, "base64");
    if (raw.length !== 32) throw new Error(`base64 decodes to ${raw.length} bytes, not 32`);
    return createPublicKey({
      key: Buffer.concat([SPKI_ED25519_PREFIX, raw]),
      format: "der",
      type: "spki",
    });
  } catch (err) {
    throw new EvidenceKeyError(
      `${origin} is not an Ed25519 public key (${(err as Error).message}); give an SPKI PEM or the base64 of 32 raw bytes`,
    );
  }
}

/**
 * Where a generated key is kept when GOOSE_EVIDENCE_KEY is not set: never in the store.
 * Undefined when the environment names no place (no GOOSE_EVIDENCE_KEY_FILE, XDG_CONFIG_HOME or
 * HOME): goose then never falls back to the process owner's home (os.homedir()).
 */
export function defaultKeyFile(env: NodeJS.ProcessEnv): string | undefined {
  if (env.GOOSE_EVIDENCE_KEY_FILE) return path.resolve(env.GOOSE_EVIDENCE_KEY_FILE);
  const dir = configDir(env);
  return dir === undefined ? undefined : path.join(dir, "evidence-ed25519.pem");
}

/** The key file, or an input error naming the variables that give one. */
export function requireKeyFile(env: NodeJS.ProcessEnv): string {
  const file = defaultKeyFile(env);
  if (file === undefined) {
    throw new EvidenceKeyError(
      "no evidence signing key: GOOSE_EVIDENCE_KEY is not set and there is no place for its key file " +
        "(GOOSE_EVIDENCE_KEY_FILE, XDG_CONFIG_HOME and HOME are all unset); set HOME, or GOOSE_EVIDENCE_KEY_FILE to the key file's path",
    );
  }
  return file;
}

/** Reads a key file's text; undefined when there is no file (or no place for one). */
function readKeyFile(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    return undefined;
  }
}

/**
 * The signing key: GOOSE_EVIDENCE_KEY when set; else the key file (GOOSE_EVIDENCE_KEY_FILE, default
 * ~/.config/goose/evidence-ed25519.pem), generated (mode 0600, exclusive create) on first use.
 */
export function loadSigningKey(env: NodeJS.ProcessEnv): EvidenceKey {
  const fromEnv = env.GOOSE_EVIDENCE_KEY;
  if (fromEnv) {
    const privateKey = parsePrivateKey(fromEnv, "GOOSE_EVIDENCE_KEY");
    const publicKey = createPublicKey(privateKey);
    return { privateKey, publicKey, keyid: keyIdOf(publicKey), source: "env" };
  }
  const file = requireKeyFile(env);
  const text = readKeyFile(file);
  if (text !== undefined) {
    const privateKey = parsePrivateKey(text, file);
    const publicKey = createPublicKey(privateKey);
    return { privateKey, publicKey, keyid: keyIdOf(publicKey), source: "file", file };
  }
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, privateKey.export({ format: "pem", type: "pkcs8" }), {
      mode: 0o600,
      flag: "wx",
    });
  } catch (err) {
    // Someone else generated it at the same moment: use theirs.
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return loadSigningKey(env);
    throw err;
  }
  return { privateKey, publicKey, keyid: keyIdOf(publicKey), source: "generated", file };
}

/** Where the key in use came from, for messages: the variable or the file. */
export function describeKeySource(k: EvidenceKey): string {
  if (k.source === "env") return "GOOSE_EVIDENCE_KEY";
  if (k.source === "generated") return `the key file ${k.file} (generated just now: none existed)`;
  return `the key file ${k.file}`;
}

/**
 * The fix when the key in use is not the chain's key (`expected`): unset GOOSE_EVIDENCE_KEY when
 * the key file holds the expected key, else where to get the right one.
 */
export function wrongKeyFix(k: EvidenceKey, expected: string, env: NodeJS.ProcessEnv): string {
  const file = defaultKeyFile(env);
  if (k.source === "env") {
    let inFile: string | undefined;
    try {
      const text = readKeyFile(file);
      inFile =
        file === undefined || text === undefined
          ? undefined
          : keyIdOf(createPublicKey(parsePrivateKey(text, file)));
    } catch {
      inFile = undefined;
    }
    if (inFile === expected) {
      return `unset GOOSE_EVIDENCE_KEY: the key file ${file} holds ${expected}, the key this chain was started with`;
    }
    return (
      `set GOOSE_EVIDENCE_KEY to the key ${expected} this chain was started with (from your secret ` +
      `manager; \`goose keys init\` told where it was kept), or use another --store to start a new chain`
    );
  }
  return (
    `set GOOSE_EVIDENCE_KEY to the key ${expected} this chain was started with (from your secret ` +
    `manager), or copy it to ${file} (GOOSE_EVIDENCE_KEY_FILE), or use another --store to start a new chain`
  );
}

/** What `evidence verify` trusts: a key the user configured, never a file from the store. */
export interface TrustRoot {
  /** The public key records must be signed with; undefined when nothing is configured. */
  publicKey?: KeyObject;
  keyid?: string;
  /** Where it came from: GOOSE_EVIDENCE_PUBLIC_KEY, GOOSE_EVIDENCE_KEY, or the key file's path. */
  source?: string;
}

/**
 * The evidence trust root, in this order: GOOSE_EVIDENCE_PUBLIC_KEY (SPKI PEM or base64 of 32
 * raw bytes); the public half of GOOSE_EVIDENCE_KEY; the public half of the local key file
 * (GOOSE_EVIDENCE_KEY_FILE, default ~/.config/goose/evidence-ed25519.pem) when it exists. Nothing
 * else: the store's `evidence/public-key.pem` is never a trust root. The one place that decides
 * what evidence is trusted (key rotation records build on it).
 */
export function resolveTrustRoot(env: NodeJS.ProcessEnv): TrustRoot {
  const withId = (publicKey: KeyObject, source: string): TrustRoot => ({
    publicKey,
    keyid: keyIdOf(publicKey),
    source,
  });
  if (env.GOOSE_EVIDENCE_PUBLIC_KEY) {
    return withId(
      parsePublicKey(env.GOOSE_EVIDENCE_PUBLIC_KEY, "GOOSE_EVIDENCE_PUBLIC_KEY"),
      "GOOSE_EVIDENCE_PUBLIC_KEY",
    );
  }
  if (env.GOOSE_EVIDENCE_KEY) {
    return withId(
      createPublicKey(parsePrivateKey(env.GOOSE_EVIDENCE_KEY, "GOOSE_EVIDENCE_KEY")),
      "GOOSE_EVIDENCE_KEY",
    );
  }
  const file = defaultKeyFile(env);
  const text = readKeyFile(file);
  if (file === undefined || text === undefined) return {};
  return withId(createPublicKey(parsePrivateKey(text, file)), file);
}

/** Base directory of goose's per-user files: the one definition in keys/paths.ts. */
export { configDir };

/**
 * `goose keys init`: the one documented way to create the two keys goose needs on a workstation,
 * in the config directory (mode 0600, exclusive create, never overwritten), and to learn what to
 * keep in a secret manager. `goose keys rotate|status` (issue 15) build on the same files.
 */
import { createPublicKey, generateKeyPairSync, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import {
  requireKeyFile,
  keyIdOf,
  parsePrivateKey,
  publicKeyPem,
  rawPublicKey,
} from "../evidence/keys.js";
import { InputError } from "../errors.js";
import { snapshotKeyId } from "../snapshots/keyring.js";
import { snapshotKeyFile } from "./paths.js";

export { configDir, snapshotKeyFile } from "./paths.js";

export interface KeyFileInfo {
  /** The key file. */
  file: string;
  /** True when this run created it; false when it existed and was kept. */
  created: boolean;
  /** Octal mode of the file, e.g. "600". */
  mode: string;
  /** The variable that overrides the file when set (and is set now). */
  overriddenBy?: string;
}

export interface KeysInitResult {
  snapshot: KeyFileInfo & { kid: string };
  evidence: KeyFileInfo & { keyid: string; publicKeyPem: string; publicKeyBase64: string };
}

function writeExclusive(file: string, content: string): boolean {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, content, { mode: 0o600, flag: "wx" });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw new InputError(
      `cannot write the key file ${file} (${(err as Error).message}); fix the directory's permissions, or point the key file variable at a writable place`,
    );
  }
}

function modeOf(file: string): string {
  return (statSync(file).mode & 0o777).toString(8);
}

/**
 * Creates whichever of the snapshot key (32 random bytes, base64) and the evidence signing key
 * (Ed25519, PKCS#8 PEM) does not exist yet; existing keys are checked and kept, never replaced.
 */
export function initKeys(env: NodeJS.ProcessEnv): KeysInitResult {
  const snapFile = snapshotKeyFile(env);
  if (snapFile === undefined) {
    throw new InputError(
      "no place for the snapshot key: HOME and XDG_CONFIG_HOME are unset; set GOOSE_SNAPSHOT_KEY_FILE to the file to create",
    );
  }
  const snapCreated = writeExclusive(snapFile, randomBytes(32).toString("base64") + "\n");
  const snapKey = Buffer.from(readFileSync(snapFile, "utf8").trim(), "base64");
  if (snapKey.length !== 32) {
    throw new InputError(
      `the existing snapshot key file ${snapFile} does not hold 32 bytes in base64 (it decodes to ${snapKey.length}); ` +
        "copy the key back from your secret manager, or move the file away and run `npx goose keys init` again (snapshots sealed with the old key then need it)",
    );
  }
  if (snapCreated) chmodSync(snapFile, 0o600);

  const evFile = requireKeyFile(env);
  let evCreated = false;
  if (!existsFile(evFile)) {
    const { privateKey } = generateKeyPairSync("ed25519");
    evCreated = writeExclusive(
      evFile,
      privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    );
  }
  const priv = parsePrivateKey(readFileSync(evFile, "utf8"), evFile);
  const pub = createPublicKey(priv);

  return {
    snapshot: {
      file: snapFile,
      created: snapCreated,
      mode: modeOf(snapFile),
      kid: snapshotKeyId(snapKey),
      ...(env.GOOSE_SNAPSHOT_KEY ? { overriddenBy: "GOOSE_SNAPSHOT_KEY" } : {}),
    },
    evidence: {
      file: evFile,
      created: evCreated,
      mode: modeOf(evFile),
      keyid: keyIdOf(pub),
      publicKeyPem: publicKeyPem(pub),
      publicKeyBase64: rawPublicKey(pub).toString("base64"),
      ...(env.GOOSE_EVIDENCE_KEY ? { overriddenBy: "GOOSE_EVIDENCE_KEY" } : {}),
    },
  };
}

function existsFile(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch {
    return false;
  }
}

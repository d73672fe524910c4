/**
 * `goose keys rotate evidence`: the chain's signing key is replaced by a new Ed25519 key through
 * a `key.rotated` record signed by the old key and countersigned by the new one
 * (src/evidence/key-rotation.ts), so `goose evidence verify` follows the chain across it and
 * rejects any later record signed by the old key.
 *
 * Where the new key goes: `--new-key-file FILE` (used when it exists, else generated there, 0600);
 * without it, when the old key is the default key file, a new key replaces it in place and the
 * old one is kept beside it as `<file>.retired-<keyid>` (destroy it once the rotation is
 * confirmed); when the old key comes from GOOSE_EVIDENCE_KEY, `--new-key-file` is required.
 */
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import {
  keyIdOf,
  loadSigningKey,
  parsePrivateKey,
  rawPublicKey,
  type EvidenceKey,
} from "../evidence/keys.js";
import type { EvidenceChain, EvidenceRecord } from "../evidence/index.js";
import { InputError } from "../errors.js";

export interface EvidenceRotationResult {
  kind: "goldengoose.keys.rotation/v1";
  version: 1;
  rotated: "evidence-signing-key";
  fromKeyid: string;
  toKeyid: string;
  record: string;
  /** Where the new private key is. */
  newKeyFile: string;
  /** The old key file, kept aside, when it was replaced in place. */
  retiredKeyFile?: string;
  /** Base64 of the new public key (pin with GOOSE_EVIDENCE_PUBLIC_KEY). */
  publicKeyBase64: string;
}

function keyFromFile(file: string): EvidenceKey {
  const privateKey = parsePrivateKey(readFileSync(file, "utf8"), file);
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyid: keyIdOf(publicKey), source: "file", file };
}

function generateInto(file: string): EvidenceKey {
  const { privateKey } = generateKeyPairSync("ed25519");
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, privateKey.export({ format: "pem", type: "pkcs8" }), {
    mode: 0o600,
    flag: "wx",
  });
  return keyFromFile(file);
}

export async function rotateEvidenceKey(opts: {
  chain: EvidenceChain;
  env: NodeJS.ProcessEnv;
  newKeyFile?: string;
  reason?: string;
}): Promise<{ result: EvidenceRotationResult; record: EvidenceRecord }> {
  const old = loadSigningKey(opts.env);
  let target = opts.newKeyFile;
  let inPlace = false;
  if (!target) {
    if (old.source === "env" || !old.file) {
      throw new InputError(
        "the evidence key in use comes from GOOSE_EVIDENCE_KEY: say where the new key goes with --new-key-file FILE",
        {
          code: "rotation-new-key-file",
          fix: "goose keys rotate evidence --new-key-file ./evidence-new.pem",
        },
      );
    }
    target = `${old.file}.new`;
    inPlace = true;
  }
  const next = existsSync(target) ? keyFromFile(target) : generateInto(target);
  const record = await opts.chain.rotateKey(next, opts.reason ? { reason: opts.reason } : {});
  let newKeyFile = target;
  let retiredKeyFile: string | undefined;
  if (inPlace && old.file) {
    retiredKeyFile = `${old.file}.retired-${old.keyid.replace(/^ed25519:/, "")}`;
    renameSync(old.file, retiredKeyFile);
    renameSync(target, old.file);
    newKeyFile = old.file;
  }
  return {
    record,
    result: {
      kind: "goldengoose.keys.rotation/v1",
      version: 1,
      rotated: "evidence-signing-key",
      fromKeyid: old.keyid,
      toKeyid: next.keyid,
      record: record.id,
      newKeyFile,
      ...(retiredKeyFile ? { retiredKeyFile } : {}),
      publicKeyBase64: rawPublicKey(next.publicKey).toString("base64"),
    },
  };
}

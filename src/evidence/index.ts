/**
 * Evidence: an append-only, signed hash chain of what every workflow step did.
 *
 * Layout in the store (the same store as the snapshots):
 * - `evidence/chain.jsonl`: the active segment, one record per line in canonical JSON (RFC 8785);
 * - `evidence/archive/<first>-<last>.jsonl.gz`: archived segments (gzip), oldest first; a segment
 *   removed by retention leaves a signed tombstone `<first>-<last>.pruned.json` with its last hash,
 *   so the next segment still chains from the previous head;
 * - `evidence/head.json`: the signed head {seq, hash}, which makes truncation at the end visible;
 * - `evidence/public-key.pem`: the Ed25519 public key beside the chain (SPKI PEM).
 *
 * A record: `{seq, time, kind, stage?, subject: [{name, digest: {sha256}}], data, prev, keyid, sig}`
 * where `prev` is `sha256:<hex>` of the previous record's line and `sig` is Ed25519 (node:crypto)
 * over the canonical record without `sig`. The private key comes from GOOSE_EVIDENCE_KEY
 * (PKCS#8 PEM or base64 of the 32-byte seed) or from a key file outside the store
 * (GOOSE_EVIDENCE_KEY_FILE, default ~/.config/goose/evidence-ed25519.pem), generated on first use.
 * Appends are compare-and-swap writes (`ifMatch`), so concurrent writers never lose a record on a
 * store that enforces conditional writes.
 *
 * Modules: record.ts (one record: canonical form, hash, id, signature), layout.ts (store keys),
 * chain.ts (segments, compare-and-swap appends, head, rotation), verify.ts (a pure check of what
 * chain.ts read), retention.ts (expired archives and their tombstones), keys.ts, key-rotation.ts,
 * anchors.ts (references kept outside the chain), redact.ts.
 *
 * API: `openEvidenceChain(store, env, opts?)` → `{ append, verify, list, head, rotate,
 * applyRetention, publicKey, signingKey }`. `verify()` names the first bad record: edited
 * (signature or canonical form), deleted or reordered (seq, prev), truncated (head.json), wrong key
 * (keyid, or GOOSE_EVIDENCE_PUBLIC_KEY / GOOSE_EVIDENCE_KEY not matching the chain's key).
 */
export {
  EvidenceWriteError,
  EvidenceTamperedError,
  openEvidenceChain,
  type EvidenceChain,
  type EvidenceOptions,
} from "./chain.js";
export { EVIDENCE_KEYS } from "./layout.js";
export {
  GENESIS_PREV,
  sha256Hex,
  type ChainHead,
  type EvidenceInput,
  type EvidenceRecord,
  type EvidenceSubject,
  type StoredRecord,
} from "./record.js";
export { DEFAULT_EVIDENCE_RETENTION_DAYS, type RetentionPolicy } from "./retention.js";
export {
  verifyChain,
  type ChainContents,
  type VerifyProblem,
  type VerifyResult,
  type VerifyOptions,
} from "./verify.js";
export {
  localAnchorFile,
  parseExpectHead,
  readLocalAnchor,
  saveLocalAnchor,
  storeReferences,
  type Anchor,
} from "./anchors.js";
export {
  EvidenceKeyError,
  defaultKeyFile,
  requireKeyFile,
  loadSigningKey,
  resolveTrustRoot,
  type EvidenceKey,
  type TrustRoot,
} from "./keys.js";
export { redact, REDACTED, SECRET_ENV_VARS } from "./redact.js";

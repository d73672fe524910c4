/**
 * Snapshots: encrypted stack exports with manifests, verification and retention.
 *
 * Layout in an ObjectStore (src/store; file:// or s3://):
 *   snapshots/<stage>/<id>.payload         gzip → AES-256-GCM ciphertext ‖ 16-byte tag
 *   snapshots/<stage>/<id>.manifest.json   written last (ifNoneMatch): the snapshot exists once it does
 *   snapshots/<stage>/pins/<id>.json       `goose snapshot pin`
 *   snapshots/<stage>/refs/<id>/<what>.json  references by workflows (rollback): kept by retention
 * Ids: `<stage>-<YYYYMMDDTHHMMSSmmmZ>-<8 hex>`, so sorting by id sorts by time.
 *
 * API:
 * - `createSnapshot(store, { stage, source: path | Readable, stack?, reason?, keys: KeySource,
 *    evidence?, gitCommit?, sourceKind?, now? }): Promise<SnapshotManifest>` — validates while
 *    streaming (validate.ts), stores payload then manifest; SnapshotRejectedError (exit 2) when
 *    the export is invalid (nothing stays in the store).
 * - `verifySnapshot(store, id, env): Promise<VerifyReport>` — `{ok, problem?: manifest-missing |
 *    manifest-edited | wrong-key | payload-missing | truncated | tampered | plaintext-mismatch,
 *    message, checks}`; KeyMissingError (exit 2) when the key it needs is not configured.
 * - `listSnapshots(store, stage): Promise<SnapshotListing[]>` — newest first.
 * - `restoreSnapshot(store, id, env, outPath): Promise<VerifyReport>` — the export byte for byte,
 *    written to outPath only after every check passed; SnapshotVerifyError (exit 1) otherwise.
 * - `readSnapshotExport(store, id, env)` — the verified export in memory (rollback).
 * - `pinSnapshot`, `unpinSnapshot`, `referenceSnapshot`, `deleteSnapshot`.
 * - `retentionPolicyFor(projectDir, stage, overrides?)` — keepLast/maxAgeDays from the stage's
 *    Pulumi.<stage>.yaml (`golden-goose:snapshots`); UsageError (exit 2) naming a missing file.
 * - `pruneSnapshots(store, stage, { policy, env, evidenceRefs?, dryRun?, now? }): Promise<PrunePlan>`.
 * - `publishSnapshotMetrics(store, stage, { pushgatewayUrl?, textfileDir }, { verifiedAt? })` —
 *    SNAPSHOT_METRICS (last created, last verified, count) to a Pushgateway or a textfile.
 * - `checkDependencies(plugins, pinnedProviderVersions(repoRoot))` — provider drift.
 * - `listHistoryCheckpoints(backendDir)` — a DIY backend's history, to import as snapshots.
 * - `keySourceFromEnv(env, { kmsKeyId? })` — the key for new snapshots (exit 2 without one).
 */
/**
 * The SnapshotStore port of DESIGN.md: snapshots live in any ObjectStore (file:// or s3://,
 * src/store), whose atomic put (temp + fsync + rename; one PUT or a completed multipart upload)
 * and ifNoneMatch give "visible only once complete".
 */
export type { ObjectStore as SnapshotStore } from "../store/types.js";
export * from "./snapshot.js";
export {
  GZIP_LEVEL,
  MANIFEST_SCHEMA,
  newSnapshotId,
  readManifest,
  SnapshotNotFoundError,
  SnapshotRejectedError,
  snapshotKeys,
  stageOfId,
  type SnapshotManifest,
} from "./format.js";
export {
  readSnapshotExport,
  restoreSnapshot,
  SnapshotVerifyError,
  verifySnapshot,
  type VerifyProblemKind,
  type VerifyReport,
} from "./verify.js";
export * from "./crypto.js";
export * from "./keyring.js";
export * from "./trust.js";
export { checkOutPath, sweepRestoreTemporaries } from "./restore-file.js";
export * from "./validate.js";
export * from "./retention.js";
export * from "./metrics.js";
export * from "./deps.js";
export * from "./history.js";

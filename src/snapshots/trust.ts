/**
 * Where snapshot trust is configured, gathered into a SnapshotKeyring (keyring.ts): the
 * environment (GOOSE_SNAPSHOT_KEY, GOOSE_SNAPSHOT_PASSPHRASE), the stage's stack file
 * (`golden-goose:snapshots.kmsKeys` in Pulumi.<stage>.yaml, the one place KMS trust is written
 * down for a stage) and `--kms-key` on the command line. Nothing in the store is ever trusted.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadStageConfigFile, stackFileName } from "../config/load.js";
import type { StageName } from "../config/stages.js";
import {
  keySourceFromEnv,
  SnapshotKeyring,
  type KeySource,
  type TrustedKmsKey,
} from "./keyring.js";

/** The KMS keys the stage's stack file trusts (none when there is no stack file). */
export function stackFileKmsKeys(projectDir: string, stage: StageName): TrustedKmsKey[] {
  const file = join(projectDir, stackFileName(stage));
  if (!existsSync(file)) return [];
  const cfg = loadStageConfigFile(file);
  return (cfg.snapshots.kmsKeys ?? []).map((id) => ({
    id,
    from: `${stackFileName(stage)} golden-goose:snapshots.kmsKeys`,
  }));
}

/** The keyring for reading a stage's snapshots: env, `--kms-key` values, the stack file. */
export function snapshotKeyringFor(
  projectDir: string,
  stage: StageName,
  env: NodeJS.ProcessEnv,
  kmsKeyFlags: readonly string[] = [],
): SnapshotKeyring {
  return new SnapshotKeyring(env, [
    ...kmsKeyFlags.map((id) => ({ id, from: "--kms-key" })),
    ...stackFileKmsKeys(projectDir, stage),
  ]);
}

/**
 * The key new snapshots of a stage are sealed with: `--kms-key`, else GOOSE_SNAPSHOT_KEY, else
 * GOOSE_SNAPSHOT_PASSPHRASE, else the first KMS key of the stage's stack file.
 */
export function keySourceFor(
  projectDir: string,
  stage: StageName,
  env: NodeJS.ProcessEnv,
  kmsKeyFlag?: string,
): KeySource {
  if (!kmsKeyFlag && !env.GOOSE_SNAPSHOT_KEY && !env.GOOSE_SNAPSHOT_PASSPHRASE) {
    const first = stackFileKmsKeys(projectDir, stage)[0];
    if (first) return keySourceFromEnv(env, { kmsKeyId: first.id });
  }
  return keySourceFromEnv(env, kmsKeyFlag ? { kmsKeyId: kmsKeyFlag } : {});
}

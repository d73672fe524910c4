/**
 * `goose keys rotate snapshot`: every snapshot's data key is re-wrapped under the new
 * key-encryption key; payloads are not re-encrypted (envelope encryption).
 *
 * The old key is read from GOOSE_SNAPSHOT_KEY_OLD (or GOOSE_SNAPSHOT_PASSPHRASE_OLD), by this
 * command only and only to unwrap; the new one is the ordinary configuration (GOOSE_SNAPSHOT_KEY,
 * GOOSE_SNAPSHOT_PASSPHRASE or --kms-key). Once a snapshot is re-wrapped its manifest names the
 * new key, so the old key is refused for it (wrong-key, exit 1) by every other command. The run
 * is resumable: snapshots that already open under the new key are skipped.
 */
import { STAGES, type StageName } from "../config/stages.js";
import { InputError } from "../errors.js";
import {
  keySourceFromEnv,
  listSnapshots,
  rewrapSnapshot,
  type RewrapResult,
} from "../snapshots/index.js";
import type { ObjectStore } from "../store/types.js";

export interface SnapshotRotationReport {
  kind: "goldengoose.keys.rotation/v1";
  version: 1;
  secret: "snapshot-key";
  ok: boolean;
  /** The new key, described without secrets. */
  newKey: string;
  /** Fingerprint of the new key (raw keys). */
  newKid?: string;
  rotatedAt: string;
  snapshots: Array<RewrapResult & { stage: StageName }>;
  counts: { rewrapped: number; already: number; failed: number };
}

const OLD_VARS = ["GOOSE_SNAPSHOT_KEY_OLD", "GOOSE_SNAPSHOT_PASSPHRASE_OLD"] as const;

/** The environment of the old key only (for unwrap), and of the new key only. */
export function rotationEnvs(env: NodeJS.ProcessEnv): {
  oldEnv: NodeJS.ProcessEnv;
  newEnv: NodeJS.ProcessEnv;
} {
  const oldKey = env.GOOSE_SNAPSHOT_KEY_OLD || undefined;
  const oldPass = env.GOOSE_SNAPSHOT_PASSPHRASE_OLD || undefined;
  if (!oldKey && !oldPass) {
    throw new InputError(
      "a snapshot key rotation needs the old key: set GOOSE_SNAPSHOT_KEY_OLD (or GOOSE_SNAPSHOT_PASSPHRASE_OLD) to the key the snapshots are sealed with now, and GOOSE_SNAPSHOT_KEY to the new one",
      {
        code: "rotation-old-key-missing",
        fix: 'export GOOSE_SNAPSHOT_KEY_OLD="$GOOSE_SNAPSHOT_KEY" GOOSE_SNAPSHOT_KEY="$(openssl rand -base64 32)"',
      },
    );
  }
  if (
    (oldKey && oldKey.trim() === env.GOOSE_SNAPSHOT_KEY?.trim()) ||
    (oldPass && oldPass === env.GOOSE_SNAPSHOT_PASSPHRASE)
  ) {
    throw new InputError(
      "the new snapshot key is the old one: GOOSE_SNAPSHOT_KEY (or _PASSPHRASE) must hold the new key",
      { code: "rotation-same-key", fix: 'export GOOSE_SNAPSHOT_KEY="$(openssl rand -base64 32)"' },
    );
  }
  const base: NodeJS.ProcessEnv = { ...env };
  for (const v of OLD_VARS) delete base[v];
  const oldEnv: NodeJS.ProcessEnv = { ...base };
  delete oldEnv.GOOSE_SNAPSHOT_KEY;
  delete oldEnv.GOOSE_SNAPSHOT_PASSPHRASE;
  if (oldKey) oldEnv.GOOSE_SNAPSHOT_KEY = oldKey;
  if (oldPass) oldEnv.GOOSE_SNAPSHOT_PASSPHRASE = oldPass;
  return { oldEnv, newEnv: base };
}

export async function rotateSnapshotKey(opts: {
  store: ObjectStore;
  env: NodeJS.ProcessEnv;
  kmsKeyId?: string;
  stages?: readonly StageName[];
  now?: Date;
  onSnapshot?: (r: RewrapResult) => void;
}): Promise<SnapshotRotationReport> {
  const { oldEnv, newEnv } = rotationEnvs(opts.env);
  const newKeys = keySourceFromEnv(newEnv, opts.kmsKeyId ? { kmsKeyId: opts.kmsKeyId } : {});
  const probe = await newKeys.wrap(Buffer.alloc(32), "goose-kid-probe");
  const report: SnapshotRotationReport = {
    kind: "goldengoose.keys.rotation/v1",
    version: 1,
    secret: "snapshot-key",
    ok: true,
    newKey: newKeys.describe(),
    ...(probe.type === "raw" ? { newKid: probe.kid } : {}),
    rotatedAt: (opts.now ?? new Date()).toISOString(),
    snapshots: [],
    counts: { rewrapped: 0, already: 0, failed: 0 },
  };
  for (const stage of opts.stages ?? STAGES) {
    for (const s of await listSnapshots(opts.store, stage)) {
      const r = await rewrapSnapshot(opts.store, s.id, { oldEnv, newEnv, newKeys });
      report.snapshots.push({ ...r, stage });
      report.counts[r.outcome]++;
      opts.onSnapshot?.(r);
    }
  }
  report.ok = report.counts.failed === 0;
  return report;
}

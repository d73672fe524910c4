/**
 * `goose keys status`: the age of every secret and key against security/policies/
 * secret-rotation.yaml, per stage.
 *
 * Where an age comes from, in order:
 * 1. the newest `key.rotated` evidence record of the secret (for the stage, or for every stage),
 *    written by `goose keys rotate …` and `goose keys record …`; for the snapshot and evidence
 *    keys only when it rotated *to* the key configured now;
 * 2. snapshot key: the oldest snapshot sealed under the configured key (it was in use since);
 *    evidence key: the first record it signed.
 * No source: the age is unknown, which fails like an overdue secret (a rotation nobody can show
 * did not happen, as far as an audit is concerned).
 */
import { existsSync } from "node:fs";
import { STAGES, type StageName } from "../config/stages.js";
import type { SecretName, SecretRotationPolicy } from "../audit/schemas.js";
import { SECRET_NAMES } from "../audit/schemas.js";
import { defaultKeyFile, loadSigningKey, type EvidenceRecord } from "../evidence/index.js";
import { keySourceFromEnv, listSnapshots } from "../snapshots/index.js";
import type { ObjectStore } from "../store/types.js";

export interface SecretAge {
  secret: SecretName;
  stage: StageName;
  maxAgeDays: number;
  /** Whole days since `since` (undefined when unknown). */
  ageDays?: number;
  /** When the current secret came into use. */
  since?: string;
  /** Where `since` comes from. */
  source: string;
  status: "ok" | "overdue" | "unknown";
  /** What to do when not ok. */
  fix?: string;
}

export interface KeyStatusReport {
  kind: "goldengoose.keys.status/v1";
  version: 1;
  ok: boolean;
  at: string;
  secrets: SecretAge[];
}

/** Fingerprint of the configured raw snapshot key, through a probe wrap (no key leaves crypto). */
async function snapshotKid(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  if (!env.GOOSE_SNAPSHOT_KEY) return undefined;
  const ref = await keySourceFromEnv(env).wrap(Buffer.alloc(32), "goose-kid-probe");
  return ref.type === "raw" ? ref.kid : undefined;
}

function evidenceKeyid(env: NodeJS.ProcessEnv): string | undefined {
  if (!env.GOOSE_EVIDENCE_KEY && !existsSync(defaultKeyFile(env))) return undefined;
  return loadSigningKey(env).keyid;
}

export async function keyStatus(opts: {
  store: ObjectStore;
  env: NodeJS.ProcessEnv;
  policy: SecretRotationPolicy;
  records: EvidenceRecord[];
  stages?: readonly StageName[];
  now?: Date;
}): Promise<KeyStatusReport> {
  const now = opts.now ?? new Date();
  const rotations = opts.records.filter((r) => r.kind === "key.rotated");
  const kid = await snapshotKid(opts.env);
  const keyid = evidenceKeyid(opts.env);

  // Snapshot key in use since: the oldest snapshot sealed under it.
  let snapshotSince: string | undefined;
  if (kid) {
    for (const stage of STAGES) {
      for (const s of await listSnapshots(opts.store, stage)) {
        const ref = s.manifest?.key;
        if (ref?.type === "raw" && ref.kid === kid && s.createdAt) {
          if (!snapshotSince || s.createdAt < snapshotSince) snapshotSince = s.createdAt;
        }
      }
    }
  }
  const firstSigned = keyid ? opts.records.find((r) => r.keyid === keyid)?.time : undefined;

  const rows: SecretAge[] = [];
  for (const stage of opts.stages ?? STAGES) {
    for (const secret of SECRET_NAMES) {
      const rule = opts.policy.secrets[secret];
      if (!rule) continue;
      const maxAgeDays = rule.maxAgeDays[stage];
      const last = rotations
        .filter((r) => r.data.rotated === secret && (!r.data.stage || r.data.stage === stage))
        .filter((r) =>
          secret === "snapshot-key"
            ? r.data.newKid === undefined || r.data.newKid === kid
            : secret === "evidence-signing-key"
              ? r.data.toKeyid === keyid
              : true,
        )
        .at(-1);
      let since: string | undefined;
      let source = "";
      if (last) {
        since = String(last.data.rotatedAt ?? last.time);
        source = `evidence ${last.id} (key.rotated)`;
      } else if (secret === "snapshot-key" && snapshotSince) {
        since = snapshotSince;
        source = `oldest snapshot sealed under GOOSE_SNAPSHOT_KEY kid ${kid}`;
      } else if (secret === "evidence-signing-key" && firstSigned) {
        since = firstSigned;
        source = `first evidence record signed by ${keyid}`;
      }
      const row: SecretAge = { secret, stage, maxAgeDays, source, status: "unknown" };
      if (since) {
        const ageDays = Math.floor((now.getTime() - Date.parse(since)) / 86_400_000);
        row.since = since;
        row.ageDays = ageDays;
        row.status = ageDays > maxAgeDays ? "overdue" : "ok";
        if (row.status === "overdue") row.fix = rule.rotate.replace(/<stage>/g, stage);
      } else {
        row.source = "no rotation on record";
        row.fix = `rotate it (${rule.rotate.replace(/<stage>/g, stage)}); after a rotation outside goose, run: goose keys record ${secret} --stage ${stage}`;
      }
      rows.push(row);
    }
  }
  return {
    kind: "goldengoose.keys.status/v1",
    version: 1,
    ok: rows.every((r) => r.status === "ok"),
    at: now.toISOString(),
    secrets: rows,
  };
}

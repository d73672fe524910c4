/**
 * `goose keys status`: the age of every secret and key against security/policies/
 * secret-rotation.yaml, per stage.
 *
 * A secret's age runs from its last rotation, or from its creation when it was never rotated:
 * 1. the newest `key.rotated` evidence record of the secret (for the stage, or for every stage),
 *    written by `goose keys rotate …` and `goose keys record …`; for the snapshot and evidence
 *    keys only when it rotated *to* the key configured now;
 * 2. never rotated, so its creation:
 *    - snapshot key: the oldest snapshot sealed under the configured key, else the key file's
 *      creation (`goose keys init` or first use);
 *    - evidence key: the first record it signed, else the key file's creation;
 *    - stack secrets (Grafana admin, Prometheus basic auth, receiver credentials, KMS keys): the stage's first deployment
 *      on record (its oldest snapshot, or the first completed promotion into it): the stack created
 *      them then.
 * 3. no trace of it at all (a fresh repository: no snapshot, no record, no key file; a stage never
 *    deployed): status `unused`, which passes: there is nothing to rotate yet, and its age starts
 *    with its first use. Once a stage is deployed, its stack secrets age from then, so a secret
 *    never rotated since the first deployment does become overdue.
 */
import { existsSync, statSync } from "node:fs";
import { STAGES, type StageName } from "../config/stages.js";
import type { SecretName, SecretRotationPolicy } from "../audit/schemas.js";
import { SECRET_NAMES } from "../audit/schemas.js";
import { defaultKeyFile, loadSigningKey, type EvidenceRecord } from "../evidence/index.js";
import { keySourceFromEnv, listSnapshots } from "../snapshots/index.js";
import { snapshotKeyFile } from "./paths.js";
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
  /** `unused`: never created or used as far as goose can see (fresh repository, stage not deployed). */
  status: "ok" | "overdue" | "unused";
  /** The command that rotates it, when overdue: runs as printed (secret-rotation.yaml `rotate`). */
  fix?: string;
  /** What to do or set before running `fix` (secret-rotation.yaml `procedure`), when overdue. */
  procedure?: string;
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
  const file = snapshotKeyFile(env);
  if (!env.GOOSE_SNAPSHOT_KEY && !(file && existsSync(file))) return undefined;
  const ref = await keySourceFromEnv(env).wrap(Buffer.alloc(32), "goose-kid-probe");
  return ref.type === "raw" ? ref.kid : undefined;
}

/** When a key file was created (birth time where the file system keeps it, else last change). */
function fileCreated(file: string | undefined): string | undefined {
  if (!file || !existsSync(file)) return undefined;
  const st = statSync(file);
  const t = st.birthtimeMs > 0 ? st.birthtimeMs : st.mtimeMs;
  return new Date(t).toISOString();
}

function evidenceKeyid(env: NodeJS.ProcessEnv): string | undefined {
  const file = defaultKeyFile(env);
  if (!env.GOOSE_EVIDENCE_KEY && (file === undefined || !existsSync(file))) return undefined;
  return loadSigningKey(env).keyid;
}

/** Secrets the stack creates at a stage's first deployment. */
const STACK_SECRETS: ReadonlySet<SecretName> = new Set([
  "grafana-admin",
  "prometheus-basic-auth",
  "pushgateway-auth",
  "alertmanager-receivers",
  "kms-keys",
]);

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

  // Snapshot key in use since: the oldest snapshot sealed under it. A stage deployed since: its
  // oldest snapshot or the first promotion completed into it.
  let snapshotSince: string | undefined;
  const deployedSince = new Map<StageName, string>();
  const earlier = (stage: StageName, t: string) => {
    const cur = deployedSince.get(stage);
    if (t && (!cur || t < cur)) deployedSince.set(stage, t);
  };
  for (const stage of STAGES) {
    for (const s of await listSnapshots(opts.store, stage)) {
      if (s.createdAt) earlier(stage, s.createdAt);
      const ref = s.manifest?.key;
      if (kid && ref?.type === "raw" && ref.kid === kid && s.createdAt) {
        if (!snapshotSince || s.createdAt < snapshotSince) snapshotSince = s.createdAt;
      }
    }
  }
  for (const r of opts.records) {
    if (r.kind === "promotion.completed" && r.stage) earlier(r.stage, r.time);
  }
  const firstSigned = keyid ? opts.records.find((r) => r.keyid === keyid)?.time : undefined;
  const snapshotKeyCreated =
    kid && !opts.env.GOOSE_SNAPSHOT_KEY ? fileCreated(snapshotKeyFile(opts.env)) : undefined;
  const evidenceKeyCreated =
    keyid && !opts.env.GOOSE_EVIDENCE_KEY ? fileCreated(defaultKeyFile(opts.env)) : undefined;

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
      } else if (secret === "snapshot-key" && snapshotKeyCreated) {
        since = snapshotKeyCreated;
        source = `never rotated: key file ${snapshotKeyFile(opts.env)} created`;
      } else if (secret === "evidence-signing-key" && firstSigned) {
        since = firstSigned;
        source = `first evidence record signed by ${keyid}`;
      } else if (secret === "evidence-signing-key" && evidenceKeyCreated) {
        since = evidenceKeyCreated;
        source = `never rotated: key file ${defaultKeyFile(opts.env)} created`;
      } else if (STACK_SECRETS.has(secret) && deployedSince.has(stage)) {
        since = deployedSince.get(stage);
        source = `never rotated: created with ${stage}'s first deployment on record (oldest snapshot or promotion into it)`;
      }
      const row: SecretAge = { secret, stage, maxAgeDays, source, status: "unused" };
      if (since) {
        const ageDays = Math.floor((now.getTime() - Date.parse(since)) / 86_400_000);
        row.since = since;
        row.ageDays = ageDays;
        row.status = ageDays > maxAgeDays ? "overdue" : "ok";
        if (row.status === "overdue") {
          row.fix = rule.rotate.replace(/<stage>/g, stage);
          if (rule.procedure) row.procedure = rule.procedure.replace(/<stage>/g, stage);
        }
      } else {
        row.source = STACK_SECRETS.has(secret)
          ? `not in use: no deployment of ${stage} on record (no snapshot, no promotion into it)`
          : "not in use: no key configured, nothing sealed or signed under it";
      }
      rows.push(row);
    }
  }
  return {
    kind: "goldengoose.keys.status/v1",
    version: 1,
    ok: rows.every((r) => r.status !== "overdue"),
    at: now.toISOString(),
    secrets: rows,
  };
}

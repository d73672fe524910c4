import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { InputError } from "../errors.js";
import { loadStageConfigFile, stackFileName } from "../config/load.js";
import type { StageName } from "../config/stages.js";
import type { ObjectStore } from "../store/types.js";
import type { KeyringLike } from "./keyring.js";
import { snapshotKeys } from "./format.js";
import { deleteSnapshot, listSnapshots, type SnapshotListing } from "./snapshot.js";
import { verifySnapshot } from "./verify.js";

/** How many snapshots a stage keeps and for how long. */
export interface RetentionPolicy {
  /** Keep at least the newest N snapshots. */
  keepLast: number;
  /** Snapshots older than this (and beyond keepLast) go. */
  maxAgeDays: number;
}

/**
 * The stage's retention policy, from its stack file (`Pulumi.<stage>.yaml` in `projectDir`,
 * `golden-goose:snapshots: { keepLast, maxAgeDays }`; a file without the key gets the stage's
 * defaults from src/config/defaults.ts). That file is the one source of truth; `overrides`
 * (the CLI's --keep-last / --max-age-days) replace single fields. Without the file, both
 * overrides are needed, else a InputError (exit 2) names the missing file.
 */
export function retentionPolicyFor(
  projectDir: string,
  stage: StageName,
  overrides: Partial<RetentionPolicy> = {},
): RetentionPolicy & { source: string } {
  const file = join(projectDir, stackFileName(stage));
  if (overrides.keepLast !== undefined && overrides.maxAgeDays !== undefined) {
    return { keepLast: overrides.keepLast, maxAgeDays: overrides.maxAgeDays, source: "flags" };
  }
  if (!existsSync(file)) {
    throw new InputError(
      `no stack file ${file}: the retention of ${stage} comes from its golden-goose:snapshots ` +
        "(keepLast, maxAgeDays). Run in the project directory (where the Pulumi.<stage>.yaml files " +
        "are), create the file, or pass both --keep-last and --max-age-days",
    );
  }
  const cfg = loadStageConfigFile(file);
  return {
    keepLast: overrides.keepLast ?? cfg.snapshots.keepLast,
    maxAgeDays: overrides.maxAgeDays ?? cfg.snapshots.maxAgeDays,
    source:
      overrides.keepLast !== undefined || overrides.maxAgeDays !== undefined
        ? `${file} + flags`
        : file,
  };
}

export type KeepReason =
  | "within keepLast"
  | "younger than maxAgeDays"
  | "newest verified"
  | "pinned"
  | "referenced by evidence"
  | "referenced by a rollback";

export interface PrunePlan {
  stage: StageName;
  policy: RetentionPolicy;
  keep: Array<{ id: string; reasons: KeepReason[] }>;
  remove: Array<{ id: string; createdAt: string; ageDays: number }>;
  /** Payloads without a manifest older than an hour (a create that was killed). */
  orphans: string[];
  /** The store's temp files of puts whose writer is gone (a create killed mid-write): removed. */
  temporaries: string[];
}

export interface PruneOptions {
  /** From the stage's stack file: retentionPolicyFor(projectDir, stage). */
  policy: RetentionPolicy;
  now?: Date;
  env: KeyringLike;
  /**
   * Snapshot ids referenced by evidence other than their own `snapshot` record (rollbacks,
   * promotions…). The CLI collects them from the evidence chain (collectEvidenceRefs).
   */
  evidenceRefs?: Set<string>;
  dryRun?: boolean;
}

/** Snapshot ids named in evidence subjects (`snapshot:<id>`) by records of other kinds. */
export function collectEvidenceRefs(
  records: Array<{
    kind: string;
    subject: Array<{ name: string }>;
    data?: Record<string, unknown>;
  }>,
): Set<string> {
  const out = new Set<string>();
  for (const r of records) {
    if (r.kind === "snapshot") continue;
    for (const s of r.subject)
      if (s.name.startsWith("snapshot:")) out.add(s.name.slice("snapshot:".length));
  }
  return out;
}

/**
 * Plans (and unless dryRun, applies) retention for a stage: beyond the newest `keepLast` and
 * older than `maxAgeDays` goes, except the newest snapshot that verifies, pinned ones, and ones
 * referenced by evidence or by a rollback.
 */
export async function pruneSnapshots(
  store: ObjectStore,
  stage: StageName,
  opts: PruneOptions,
): Promise<PrunePlan> {
  const policy = { keepLast: opts.policy.keepLast, maxAgeDays: opts.policy.maxAgeDays };
  const now = opts.now ?? new Date();
  const all = await listSnapshots(store, stage);
  const keys = await store.list(snapshotKeys.dir(stage));
  const rollbackRefs = new Set(
    keys.filter((k) => k.startsWith(`snapshots/${stage}/refs/`)).map((k) => k.split("/")[3]!),
  );
  let newestVerified: string | undefined;
  for (const s of all) {
    if (!s.readable) continue;
    const r = await verifySnapshot(store, s.id, opts.env);
    if (r.ok) {
      newestVerified = s.id;
      break;
    }
  }
  const plan: PrunePlan = { stage, policy, keep: [], remove: [], orphans: [], temporaries: [] };
  all.forEach((s: SnapshotListing, index) => {
    const created = Date.parse(s.createdAt || idTime(s.id));
    const ageDays = (now.getTime() - created) / 86_400_000;
    const reasons: KeepReason[] = [];
    if (index < policy.keepLast) reasons.push("within keepLast");
    if (ageDays <= policy.maxAgeDays) reasons.push("younger than maxAgeDays");
    if (s.id === newestVerified) reasons.push("newest verified");
    if (s.pinned) reasons.push("pinned");
    if (opts.evidenceRefs?.has(s.id)) reasons.push("referenced by evidence");
    if (rollbackRefs.has(s.id)) reasons.push("referenced by a rollback");
    if (reasons.length > 0) plan.keep.push({ id: s.id, reasons });
    else plan.remove.push({ id: s.id, createdAt: s.createdAt, ageDays: Math.floor(ageDays) });
  });
  const manifests = new Set(all.map((s) => s.id));
  for (const k of keys) {
    const m = /^snapshots\/[a-z]+\/([^/]+)\.payload$/.exec(k);
    if (!m || manifests.has(m[1]!)) continue;
    const t = Date.parse(idTime(m[1]!));
    if (Number.isFinite(t) && now.getTime() - t > 3_600_000) plan.orphans.push(basename(k));
  }
  if (!opts.dryRun) {
    // Temp files hold ciphertext only, but nothing else would ever remove them.
    plan.temporaries = (await store.sweepTemporaries?.(snapshotKeys.dir(stage))) ?? [];
    for (const r of plan.remove) await deleteSnapshot(store, r.id);
    for (const o of plan.orphans) await store.delete(`snapshots/${stage}/${o}`);
  }
  return plan;
}

/** `<stage>-20261121T233305123Z-…` → ISO time. */
function idTime(id: string): string {
  const m = /-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z-/.exec(id);
  if (!m) return "";
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z`;
}

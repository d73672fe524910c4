/**
 * Taking snapshots, the one way every workflow and `goose snapshot` does it: `takeSnapshot`
 * exports (from the engine, a file or text already exported), stores the encrypted snapshot with
 * its `snapshot` evidence record and the git commit of the repository, then publishes the stage's
 * snapshot metrics (a failure to publish is reported, not thrown: the snapshot is taken and valid).
 * Also the two snapshot operations with a rule of their own: `importHistory` (a DIY backend's
 * checkpoints, skipping those already stored by plaintext digest) and `pinWithEvidence` (the
 * evidence record first, then the pin).
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import type { StageName } from "../config/stages.js";
import type { StackEngine } from "../engine/types.js";
import { InputError } from "../errors.js";
import {
  createSnapshot,
  listHistoryCheckpoints,
  listSnapshots,
  pinSnapshot,
  publishSnapshotMetrics,
  readManifest,
  snapshotKeys,
  snapshotMaxBytes,
  SnapshotNotFoundError,
  unpinSnapshot,
  type KeySource,
  type SnapshotManifest,
  type SnapshotMetricsSink,
} from "../snapshots/index.js";
import type { ObjectStore } from "../store/types.js";
import type { EvidencePort } from "./steps.js";

/** The current git commit of `cwd`, when it is a git checkout. */
export function gitCommitOf(cwd: string): string | undefined {
  try {
    return execFileSync("git", ["rev-parse", "HEAD"], { cwd, stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
  } catch {
    return undefined;
  }
}

export interface TakeSnapshotInput {
  store: ObjectStore;
  evidence: EvidencePort;
  stage: StageName;
  /** Export the stage from the engine, read an export file, or take export text in hand. */
  source: { engine: StackEngine } | { file: string } | { text: string };
  /** The stack the URNs must belong to (default: the stack of the first URN). */
  stack?: string;
  reason: string;
  keys: KeySource;
  /** GOOSE_SNAPSHOT_MAX_BYTES is read from here. */
  env: NodeJS.ProcessEnv;
  /** The repository whose git commit the manifest records (omit for history imports). */
  repoRoot?: string;
  /** Where the stage's snapshot metrics go; omitted: not published. */
  metrics?: SnapshotMetricsSink;
  now?: Date;
  /** Called as the export is read, with the bytes so far (and the total when known). */
  onProgress?: (bytesRead: number, totalBytes?: number) => void;
}

export interface TakenSnapshot {
  manifest: SnapshotManifest;
  /** Where the snapshot metrics were published, or why not (absent without a sink). */
  metrics?: { published?: string; error?: string };
}

/** Takes one snapshot; see the module comment. */
export async function takeSnapshot(input: TakeSnapshotInput): Promise<TakenSnapshot> {
  const { store, stage, source } = input;
  const bytes = (text: string) => Readable.from([Buffer.from(text, "utf8")]);
  const gitCommit = input.repoRoot ? gitCommitOf(input.repoRoot) : undefined;
  const manifest = await createSnapshot(store, {
    stage,
    source:
      "file" in source
        ? source.file
        : bytes("text" in source ? source.text : await source.engine.exportStack(stage)),
    ...("file" in source ? {} : { sourceKind: "engine" as const }),
    ...(input.stack ? { stack: input.stack } : {}),
    reason: input.reason,
    keys: input.keys,
    evidence: input.evidence,
    ...(gitCommit ? { gitCommit } : {}),
    ...(input.now ? { now: input.now } : {}),
    maxBytes: snapshotMaxBytes(input.env),
    ...(input.onProgress ? { onProgress: input.onProgress } : {}),
  });
  if (!input.metrics) return { manifest };
  try {
    const r = await publishSnapshotMetrics(store, stage, input.metrics);
    return { manifest, metrics: { published: r.published } };
  } catch (err) {
    return { manifest, metrics: { error: (err as Error).message } };
  }
}

export interface HistoryImport {
  stage: StageName;
  stack: string;
  imported: Array<{ id: string; from: string }>;
  alreadyPresent: string[];
  refused: Array<{ from: string; error: string }>;
  skipped: string[];
}

/**
 * Takes a DIY backend's history checkpoints of `stack` in as snapshots of `stage`, oldest
 * first; a checkpoint whose plaintext is already stored is left out. A checkpoint that fails
 * (not an export, too large) is refused and the import goes on. None at all: InputError.
 */
export async function importHistory(input: {
  store: ObjectStore;
  evidence: EvidencePort;
  stage: StageName;
  stack: string;
  backendDir: string;
  project?: string;
  keys: KeySource;
  env: NodeJS.ProcessEnv;
  onImported?: (id: string, from: string) => void;
  onRefused?: (from: string, error: string) => void;
}): Promise<HistoryImport> {
  const { store, stage, stack } = input;
  const { checkpoints, skipped } = await listHistoryCheckpoints(input.backendDir, {
    stack,
    ...(input.project ? { project: input.project } : {}),
  });
  if (checkpoints.length === 0) {
    throw new InputError(
      `no history checkpoints of stack ${stack} under ${input.backendDir}/.pulumi/history/<project>/${stack}/; check --backend and --stack`,
    );
  }
  const existing = new Set<string>();
  for (const s of await listSnapshots(store, stage))
    if (s.manifest) existing.add(s.manifest.plaintext.sha256);
  const out: HistoryImport = {
    stage,
    stack,
    imported: [],
    alreadyPresent: [],
    refused: [],
    skipped,
  };
  for (const cp of checkpoints) {
    const digest = await sha256File(cp.path);
    if (existing.has(digest)) {
      out.alreadyPresent.push(cp.path);
      continue;
    }
    try {
      const { manifest } = await takeSnapshot({
        store,
        evidence: input.evidence,
        stage,
        source: { file: cp.path },
        stack,
        reason: `DIY history ${cp.project}/${cp.stack} at ${cp.time.toISOString()}`,
        keys: input.keys,
        env: input.env,
        now: new Date(),
      });
      existing.add(digest);
      out.imported.push({ id: manifest.id, from: cp.path });
      input.onImported?.(manifest.id, cp.path);
    } catch (err) {
      out.refused.push({ from: cp.path, error: (err as Error).message });
      input.onRefused?.(cp.path, (err as Error).message);
    }
  }
  return out;
}

/**
 * Pins `id` against retention, or unpins it with `remove`. The `snapshot.pin` / `snapshot.unpin`
 * evidence record is appended first: the pin changes only once its record is in the chain.
 */
export async function pinWithEvidence(input: {
  store: ObjectStore;
  evidence: EvidencePort;
  stage: StageName;
  id: string;
  remove?: boolean;
  reason?: string;
}): Promise<{ evidence: string }> {
  const { store, id } = input;
  if (!input.remove && !(await store.head(snapshotKeys.manifest(id)))) {
    throw new SnapshotNotFoundError(id, store.url);
  }
  const manifest = await readManifest(store, id);
  const rec = await input.evidence.append({
    kind: input.remove ? "snapshot.unpin" : "snapshot.pin",
    stage: input.stage,
    subject: [{ name: `snapshot-pin:${id}`, digest: { sha256: manifest?.plaintext.sha256 ?? "" } }],
    data: { id, reason: input.reason ?? "" },
  });
  if (input.remove) await unpinSnapshot(store, id);
  else await pinSnapshot(store, id, input.reason !== undefined ? { reason: input.reason } : {});
  return { evidence: rec.id };
}

async function sha256File(file: string): Promise<string> {
  const h = createHash("sha256");
  for await (const c of createReadStream(file)) h.update(c as Buffer);
  return h.digest("hex");
}

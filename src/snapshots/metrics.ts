/**
 * Snapshot metrics for the "Backups and snapshots" dashboard (names in src/config/metrics.ts
 * SNAPSHOT_METRICS), published by src/monitoring/publish.ts: pushed to a Pushgateway when a URL is configured (PUT
 * `<url>/metrics/job/goldengoose-snapshots/stage/<stage>`, the whole group), else written as a
 * node-exporter textfile (`<dir>/goldengoose_snapshots_<stage>.prom`, temp file + rename).
 *
 * Per stage (label `stage`):
 * - goldengoose_snapshot_last_created_timestamp_seconds  gauge, the newest snapshot's createdAt
 * - goldengoose_snapshot_last_verified_timestamp_seconds gauge, the last successful verify
 *   (kept in the store at `metrics/snapshots/<stage>.json`, compare-and-swap, so every publish
 *   carries it; absent until a first verify)
 * - goldengoose_snapshots                                gauge, snapshots of the stage in the store
 */
import { SNAPSHOT_METRICS } from "../config/metrics.js";
import type { StageName } from "../config/stages.js";
import { jsonOf, updateObject } from "../store/cas.js";
import type { ObjectStore } from "../store/types.js";
import { listSnapshots } from "./snapshot.js";
import { publishMetricsText, type MetricsTarget } from "../monitoring/publish.js";

/** The Pushgateway job of the snapshot metrics (grouping: job, stage). */
export const SNAPSHOT_METRICS_JOB = "goldengoose-snapshots";

export interface SnapshotMetricsSink extends MetricsTarget {
  /** Else write a textfile here (the CLI's --metrics-dir, default .goose/metrics). */
  textfileDir: string;
}

export interface SnapshotMetricValues {
  stage: StageName;
  count: number;
  /** Unix seconds, or undefined when the stage has no snapshot. */
  lastCreated?: number;
  /** Unix seconds, or undefined before the first successful verify. */
  lastVerified?: number;
}

const stateKey = (stage: StageName) => `metrics/snapshots/${stage}.json`;
const seconds = (d: Date | string) => Math.round(new Date(d).getTime()) / 1000;

/** Prometheus text exposition of one stage's snapshot metrics. */
export function renderSnapshotMetrics(v: SnapshotMetricValues): string {
  const lines: string[] = [];
  const gauge = (name: string, help: string, value: number | undefined) => {
    if (value === undefined) return;
    lines.push(
      `# HELP ${name} ${help}`,
      `# TYPE ${name} gauge`,
      `${name}{stage="${v.stage}"} ${value}`,
    );
  };
  gauge(
    SNAPSHOT_METRICS.lastCreated,
    "Unix time of the newest snapshot of the stage.",
    v.lastCreated,
  );
  gauge(
    SNAPSHOT_METRICS.lastVerified,
    "Unix time of the last successful goose snapshot verify of the stage.",
    v.lastVerified,
  );
  gauge(SNAPSHOT_METRICS.count, "Snapshots of the stage kept in the store.", v.count);
  return lines.join("\n") + "\n";
}

/** Records a successful verify of a stage's snapshot at `at` (keeps the latest time). */
async function recordVerified(store: ObjectStore, stage: StageName, at: Date): Promise<number> {
  return updateObject(store, stateKey(stage), (cur) => {
    const prev = jsonOf<{ lastVerified?: number }>(cur, {});
    const lastVerified = Math.max(prev.lastVerified ?? 0, seconds(at));
    return { write: JSON.stringify({ lastVerified }), result: lastVerified };
  });
}

/** The current values: the store's listing and the recorded last verify. */
export async function snapshotMetricValues(
  store: ObjectStore,
  stage: StageName,
): Promise<SnapshotMetricValues> {
  const all = await listSnapshots(store, stage);
  const created = all.map((s) => Date.parse(s.createdAt)).filter((t) => Number.isFinite(t));
  const state = await store.get(stateKey(stage));
  const lastVerified = state
    ? (JSON.parse(state.body.toString("utf8")) as { lastVerified?: number }).lastVerified
    : undefined;
  return {
    stage,
    count: all.length,
    ...(created.length > 0 ? { lastCreated: Math.max(...created) / 1000 } : {}),
    ...(lastVerified !== undefined ? { lastVerified } : {}),
  };
}

/**
 * Publishes a stage's snapshot metrics (after create, verify or prune). `verifiedAt` records a
 * successful verify first. Returns where they went (the Pushgateway group URL or the file).
 */
export async function publishSnapshotMetrics(
  store: ObjectStore,
  stage: StageName,
  sink: SnapshotMetricsSink,
  opts: { verifiedAt?: Date } = {},
): Promise<{ published: string; text: string; values: SnapshotMetricValues }> {
  if (opts.verifiedAt) await recordVerified(store, stage, opts.verifiedAt);
  const values = await snapshotMetricValues(store, stage);
  const text = renderSnapshotMetrics(values);
  const published = await publishMetricsText(
    sink,
    {
      job: SNAPSHOT_METRICS_JOB,
      labels: { stage },
      file: `goldengoose_snapshots_${stage}.prom`,
      what: "snapshot metrics",
    },
    text,
  );
  return { published, text, values };
}

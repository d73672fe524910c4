/**
 * Prometheus metrics of stage transitions. Counts and the last duration are kept in the store
 * (`metrics/transitions.json`, compare-and-swap) so they accumulate across runs and machines, then
 * published by src/monitoring/publish.ts: pushed to a Pushgateway when a URL is configured (PUT
 * `<url>/metrics/job/goldengoose-transitions/kind/<kind>/stage/<stage>`), else written as a
 * node-exporter textfile (`<dir>/goldengoose_transitions.prom`, temp file + rename).
 *
 * Metrics (labels kind = promotion | rollback, stage = the stage moved, from, result = success |
 * failed | blocked):
 * - goldengoose_transitions_total                  counter
 * - goldengoose_transition_duration_seconds_sum    counter (with _count = the total above)
 * - goldengoose_transition_last_duration_seconds   gauge
 * - goldengoose_transition_last_timestamp_seconds  gauge
 * - goldengoose_transition_in_progress             gauge (1 while running; TRANSITION_METRICS)
 */
import { TRANSITION_METRICS } from "../config/metrics.js";
import { jsonOf, updateObject } from "../store/cas.js";
import type { ObjectStore } from "../store/types.js";
import { publishMetricsText, type MetricsTarget } from "../monitoring/publish.js";

export const TRANSITION_COUNTERS = {
  total: "goldengoose_transitions_total",
  durationSum: "goldengoose_transition_duration_seconds_sum",
  lastDuration: "goldengoose_transition_last_duration_seconds",
  lastTimestamp: "goldengoose_transition_last_timestamp_seconds",
} as const;

export interface TransitionSample {
  kind: "promotion" | "rollback";
  stage: string;
  from: string;
  result: "success" | "failed" | "blocked";
  durationSeconds: number;
  at: Date;
}

interface Series {
  labels: Record<string, string>;
  count: number;
  durationSum: number;
  lastDuration: number;
  lastTimestamp: number;
}

export type MetricsSink = MetricsTarget;

const KEY = "metrics/transitions.json";

function labelText(labels: Record<string, string>): string {
  return Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`)
    .join(",");
}

/** Prometheus text exposition of all series (plus in_progress for the given stage). */
export function renderTransitionMetrics(
  series: Series[],
  inProgress?: { kind: string; stage: string; value: number },
): string {
  const lines: string[] = [];
  const block = (name: string, type: string, help: string, pick: (s: Series) => number) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const s of series) lines.push(`${name}{${labelText(s.labels)}} ${pick(s)}`);
  };
  block(
    TRANSITION_COUNTERS.total,
    "counter",
    "Stage transitions by kind, stage, source and result.",
    (s) => s.count,
  );
  block(
    TRANSITION_COUNTERS.durationSum,
    "counter",
    "Total seconds spent in stage transitions.",
    (s) => Number(s.durationSum.toFixed(3)),
  );
  block(
    TRANSITION_COUNTERS.lastDuration,
    "gauge",
    "Duration of the last transition, seconds.",
    (s) => Number(s.lastDuration.toFixed(3)),
  );
  block(
    TRANSITION_COUNTERS.lastTimestamp,
    "gauge",
    "Unix time the last transition ended.",
    (s) => s.lastTimestamp,
  );
  if (inProgress) {
    lines.push(
      `# HELP ${TRANSITION_METRICS.inProgress} 1 while a promotion or rollback runs on the stage.`,
      `# TYPE ${TRANSITION_METRICS.inProgress} gauge`,
      `${TRANSITION_METRICS.inProgress}{${labelText({ kind: inProgress.kind, stage: inProgress.stage })}} ${inProgress.value}`,
    );
  }
  return lines.join("\n") + "\n";
}

async function update(store: ObjectStore, sample: TransitionSample): Promise<Series[]> {
  return updateObject(store, KEY, (cur) => {
    const all = jsonOf<Series[]>(cur, []);
    const labels = {
      kind: sample.kind,
      stage: sample.stage,
      from: sample.from,
      result: sample.result,
    };
    let s = all.find((x) => labelText(x.labels) === labelText(labels));
    if (!s) {
      s = { labels, count: 0, durationSum: 0, lastDuration: 0, lastTimestamp: 0 };
      all.push(s);
    }
    s.count += 1;
    s.durationSum += sample.durationSeconds;
    s.lastDuration = sample.durationSeconds;
    s.lastTimestamp = Math.round(sample.at.getTime() / 1000);
    return { write: JSON.stringify(all, null, 2), result: all };
  });
}

async function publish(
  sink: MetricsSink,
  kind: string,
  stage: string,
  text: string,
): Promise<string> {
  return publishMetricsText(
    sink,
    {
      job: "goldengoose-transitions",
      labels: { kind, stage },
      file: "goldengoose_transitions.prom",
      what: "transition metrics",
    },
    text,
  );
}

/** Marks a transition as running (in_progress 1). Returns where it was published. */
export async function markTransitionStart(
  store: ObjectStore,
  sink: MetricsSink,
  kind: "promotion" | "rollback",
  stage: string,
): Promise<string> {
  const cur = await store.get(KEY);
  const all: Series[] = cur ? (JSON.parse(cur.body.toString("utf8")) as Series[]) : [];
  return publish(sink, kind, stage, renderTransitionMetrics(all, { kind, stage, value: 1 }));
}

/** Records a finished transition and publishes the metrics (in_progress back to 0). */
export async function recordTransition(
  store: ObjectStore,
  sink: MetricsSink,
  sample: TransitionSample,
): Promise<{ published: string; text: string }> {
  const all = await update(store, sample);
  const text = renderTransitionMetrics(all, { kind: sample.kind, stage: sample.stage, value: 0 });
  return { published: await publish(sink, sample.kind, sample.stage, text), text };
}

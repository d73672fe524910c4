/**
 * What goose remembers of a stage's drills, in the store (`dr/<stage>/<drill>.json`,
 * compare-and-swap): the last drill and the last PASSING one, so every publish of the metrics
 * carries the last success even after a failure, and the promotion gate can ask whether the
 * source stage has a passing restore drill within its objective. Rendered as `goldengoose_dr_*`.
 */
import { DR_METRICS } from "../../config/metrics.js";
import type { StageName } from "../../config/stages.js";
import { labelText, publishMetricsText, type MetricsTarget } from "../../monitoring/publish.js";
import {
  drillStateKey,
  readDrillState,
  type DrillKind,
  type DrillOutcome,
  type DrillState,
} from "../../gates/restore-drill.js";
import { updateObject } from "../../store/cas.js";
import type { ObjectStore } from "../../store/types.js";

export { drillStateKey, readDrillState, type DrillKind, type DrillOutcome, type DrillState };

/** The Pushgateway job of the DR metrics (grouping: job, stage, drill). */
export const DR_METRICS_JOB = "goldengoose-dr";

/** Records a finished drill (keeps the newest last and lastPass). */
export async function recordDrill(
  store: ObjectStore,
  stage: StageName,
  drill: DrillKind,
  outcome: DrillOutcome,
): Promise<DrillState> {
  return updateObject(store, drillStateKey(stage, drill), (cur) => {
    const state: DrillState = cur
      ? (JSON.parse(cur.body.toString("utf8")) as DrillState)
      : { stage, drill };
    if (!state.last || state.last.at <= outcome.at) state.last = outcome;
    if (outcome.passed && (!state.lastPass || state.lastPass.at <= outcome.at)) {
      state.lastPass = outcome;
    }
    return { write: JSON.stringify(state, null, 2), result: state };
  });
}

/**
 * Records a finished drill and publishes the stage's goldengoose_dr_* metrics. A metrics failure is
 * returned (for the report), never thrown: the drill's verdict and its record stand.
 */
export async function recordAndPublishDrill(
  store: ObjectStore,
  stage: StageName,
  drill: DrillKind,
  outcome: DrillOutcome,
  metrics: MetricsTarget,
): Promise<{ metrics?: string; metricsError?: string }> {
  const state = await recordDrill(store, stage, drill, outcome);
  try {
    return { metrics: (await publishDrillMetrics(metrics, state)).published };
  } catch (err) {
    return { metricsError: (err as Error).message };
  }
}

const secs = (iso: string) => Math.round(Date.parse(iso) / 1000);

/** Prometheus text of one stage's drill state. */
export function renderDrillMetrics(state: DrillState): string {
  const lines: string[] = [];
  const base = { stage: state.stage, drill: state.drill };
  const gauge = (name: string, help: string, rows: Array<[Record<string, string>, number]>) => {
    if (rows.length === 0) return;
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [labels, v] of rows) lines.push(`${name}{${labelText(labels)}} ${v}`);
  };
  const last = state.last;
  const pass = state.lastPass;
  gauge(
    DR_METRICS.lastDrill,
    "Unix time the last disaster-recovery drill of the kind ended.",
    last ? [[base, secs(last.at)]] : [],
  );
  gauge(
    DR_METRICS.lastSuccess,
    "Unix time of the last passing disaster-recovery drill of the kind.",
    pass ? [[base, secs(pass.at)]] : [],
  );
  gauge(
    DR_METRICS.lastResult,
    "1 when the last disaster-recovery drill of the kind passed, 0 when it failed.",
    last ? [[base, last.passed ? 1 : 0]] : [],
  );
  if (state.drill === "restore") {
    gauge(
      DR_METRICS.rpo,
      "Seconds the newest restored sample lay behind the backup time (last restore drill).",
      last?.rpoSeconds !== undefined ? [[base, last.rpoSeconds]] : [],
    );
    gauge(
      DR_METRICS.rto,
      "Seconds from the start of the restore to the first answered query (last restore drill).",
      last?.rtoSeconds !== undefined ? [[base, last.rtoSeconds]] : [],
    );
    gauge(
      DR_METRICS.restoredSeries,
      "Series the restored Prometheus answered for at the newest sample (last restore drill).",
      last?.restoredSeries !== undefined ? [[base, last.restoredSeries]] : [],
    );
  }
  if (state.drill === "failover") {
    gauge(
      DR_METRICS.failover,
      "Seconds from firing after one replica of Prometheus and of Alertmanager was killed to the notification (last failover drill).",
      last?.failoverSeconds !== undefined ? [[base, last.failoverSeconds]] : [],
    );
  }
  const o = last?.objectives;
  gauge(
    DR_METRICS.objective,
    "The stage's disaster-recovery objectives from its stack file, seconds.",
    o
      ? [
          [{ ...base, objective: "rpo" }, o.rpoSeconds],
          [{ ...base, objective: "rto" }, o.rtoSeconds],
          [{ ...base, objective: "drill_max_age" }, o.drillMaxAgeHours * 3600],
        ]
      : [],
  );
  return lines.join("\n") + "\n";
}

/** Publishes a stage's drill metrics (Pushgateway group job/stage/drill, else a textfile). */
export async function publishDrillMetrics(
  target: MetricsTarget,
  state: DrillState,
): Promise<{ published: string; text: string }> {
  const text = renderDrillMetrics(state);
  const published = await publishMetricsText(
    target,
    {
      job: DR_METRICS_JOB,
      labels: { stage: state.stage, drill: state.drill },
      file: `goldengoose_dr_${state.stage}_${state.drill}.prom`,
    },
    text,
  );
  return { published, text };
}

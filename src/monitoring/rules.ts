/**
 * The Prometheus rule files, as pure functions of the shared metric names (src/config/metrics.ts)
 * and the thresholds (monitoring/config/thresholds.yaml):
 *
 * - `recordingGroups()`  → monitoring/prometheus/recording.yaml (same in every stage)
 * - `alertGroups(base)`  → monitoring/prometheus/alerts.yaml (same in every stage; alerts.ts)
 * - `thresholdGroups(stage, t)` → monitoring/prometheus/thresholds/<stage>.yaml
 *
 * Per-stage thresholds reach Prometheus as recording rules with constant values
 * (`stage:goldengoose_*` series, e.g. `stage:goldengoose_backup_max_age:seconds`). The alerts compare
 * against them with `on() group_left()`, so one alerts.yaml serves every stage and one promtool
 * suite tests it; each stage ships its own small thresholds file. A missing thresholds file fires
 * GoldenGooseThresholdsMissing instead of silencing the SLO alerts.
 */
import { stringify } from "yaml";
import { drRecordingGroups, drThresholdGroups } from "./dr-rules.js";
import type { AlertRule, RecordingRule, RuleGroup } from "./rule-types.js";
import type { StageChange, StageThresholds } from "./thresholds.js";
import { maxAgeSeconds, type PushGroups } from "./push-groups.js";
import { leSpellings, severitiesAtOrAbove } from "./thresholds.js";
import {
  BACKUP_METRICS,
  SCANNER_METRICS,
  SCRAPE_JOBS,
  SERVICE_METRICS,
} from "../config/metrics.js";

export type { AlertRule, RecordingRule, RuleGroup } from "./rule-types.js";

/** Prefix every alert name starts with. */
export const ALERT_PREFIX = "GoldenGoose";

/** Windows of the SLO ratios: the burn-rate windows, plus the 30-day SLO period. */
export const BURN_RATE_WINDOWS = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"] as const;
export const SLO_PERIOD = "30d";
export const SLO_WINDOWS = [...BURN_RATE_WINDOWS, SLO_PERIOD] as const;
export type SloWindow = (typeof SLO_WINDOWS)[number];

/**
 * Aggregation of history: windows recorded by groups evaluated once per window (interval 1h, 1d),
 * so a 30-90 day dashboard reads ~2000 points instead of every 15 s sample. Read them with
 * last_over_time(x[<window>]): a sample written once per window is otherwise only visible for
 * the 5-minute lookback after it.
 */
export const HISTORY_WINDOWS = ["1h", "1d"] as const;
export type HistoryWindow = (typeof HISTORY_WINDOWS)[number];

/** Latency quantiles recorded from the duration histogram. */
export const LATENCY_QUANTILES = ["0.5", "0.95", "0.99"] as const;

/**
 * SRE workbook multi-window multi-burn-rate pairs for a 30-day SLO: factor = budget share ×
 * period / long window (0.02 × 720h / 1h = 14.4).
 */
export const BURN_RATE_PAIRS = {
  page: [
    { long: "1h", short: "5m", factor: 14.4 },
    { long: "6h", short: "30m", factor: 6 },
  ],
  ticket: [
    { long: "1d", short: "2h", factor: 3 },
    { long: "3d", short: "6h", factor: 1 },
  ],
} as const;

/** Names of the threshold series the per-stage thresholds file records. */
export const THRESHOLD_SERIES = {
  availabilityObjective: "stage:goldengoose_slo_availability_objective:ratio",
  latencyObjective: "stage:goldengoose_slo_latency_objective:ratio",
  /** Carries the bucket bound as its `le` label, so rules can select the bucket with `and on(le)`. */
  latencyBound: "stage:goldengoose_slo_latency_bound:seconds",
  backupMaxAge: "stage:goldengoose_backup_max_age:seconds",
  scannerMaxAge: "stage:goldengoose_scanner_max_age:seconds",
  /** One series per alerting severity, labelled `vulnerability_severity`. */
  scannerAlertSeverity: "stage:goldengoose_scanner_alert_severity:info",
  /** A new availability objective while it settles (absent otherwise): warning-only alerts. */
  availabilityObjectiveSettling: "stage:goldengoose_slo_availability_objective_settling:ratio",
  latencyObjectiveSettling: "stage:goldengoose_slo_latency_objective_settling:ratio",
  /** Allowed age of a Pushgateway group, labelled `push_job` (monitoring/config/push-groups.yaml). */
  pushGroupMaxAge: "stage:goldengoose_push_group_max_age:seconds",
} as const;

/** Names of the recording rules in recording.yaml that alerts and dashboards use. */
export const RECORDED = {
  requests: (w: SloWindow) => `job:http_requests:rate${w}`,
  errors: (w: SloWindow) => `job:http_request_errors:rate${w}`,
  errorRatio: (w: SloWindow) => `job:http_request_errors_per_requests:ratio_rate${w}`,
  slowRatio: (w: SloWindow) => `job:http_requests_slow_per_requests:ratio_rate${w}`,
  latencyQuantile: (w: SloWindow) =>
    `job_quantile:http_request_duration_seconds:histogram_quantile_rate${w}`,
  availabilityBudgetRemaining: "job:slo_availability_error_budget_remaining:ratio",
  /** History (long-range dashboards): availability and latency SLIs and request counts per 1h / 1d, recorded once per hour / day. */
  availabilityHistory: (w: HistoryWindow) => `job:slo_availability:ratio_rate${w}`,
  latencyHistory: (w: HistoryWindow) => `job:slo_latency:ratio_rate${w}`,
  requestsHistory: (w: HistoryWindow) => `job:http_requests:increase${w}`,
  latencyBudgetRemaining: "job:slo_latency_error_budget_remaining:ratio",
  up: "job:up:avg",
  ruleEvaluationFailures: "job:prometheus_rule_evaluation_failures:rate5m",
  ruleEvaluations: "job:prometheus_rule_evaluations:rate5m",
  compactionsFailed: "job:prometheus_tsdb_compactions_failed:increase3h",
  headSeries: "job:prometheus_tsdb_head_series:sum",
  grafanaRequests: "job:grafana_http_requests:rate5m",
  grafanaErrors: "job:grafana_http_request_errors:rate5m",
  backupAge: "component:goldengoose_backup_last_success_age:seconds",
  backupStatus: "component:goldengoose_backup_last_status:min",
  backupSize: "component:goldengoose_backup_size_bytes:max",
  scannerAge: "stage:goldengoose_scanner_last_success_age:seconds",
  scannerStatus: "stage:goldengoose_scanner_last_status:min",
  vulnerabilities: "vulnerability_severity:goldengoose_scanner_vulnerabilities:sum",
} as const;

const SERVICE = `job="${SCRAPE_JOBS.service}"`;
/** Every aggregation keeps `stage` (an external label, and a target label where present). */
const BY = "stage, job";

export function recordingGroups(): RuleGroup<RecordingRule>[] {
  const slo: RecordingRule[] = [];
  for (const w of SLO_WINDOWS) {
    slo.push(
      {
        record: RECORDED.requests(w),
        expr: `sum by (${BY}) (rate(${SERVICE_METRICS.requests}{${SERVICE}}[${w}]))`,
      },
      {
        // `or ... * 0`: a service without any 5xx yet has an error rate of 0, not no data.
        record: RECORDED.errors(w),
        expr:
          `sum by (${BY}) (rate(${SERVICE_METRICS.requests}{${SERVICE},code=~"5.."}[${w}]))\n` +
          `or\n${RECORDED.requests(w)} * 0`,
      },
      {
        record: RECORDED.errorRatio(w),
        expr: `${RECORDED.errors(w)}\n/\n${RECORDED.requests(w)}`,
      },
      {
        // The bucket at the stage's latency bound is picked with the threshold series' `le`.
        record: RECORDED.slowRatio(w),
        expr:
          `1 - (\n` +
          `  sum by (${BY}) (\n` +
          `    rate(${SERVICE_METRICS.duration}_bucket{${SERVICE}}[${w}])\n` +
          `    and on (le) ${THRESHOLD_SERIES.latencyBound}\n` +
          `  )\n` +
          `  /\n` +
          `  sum by (${BY}) (rate(${SERVICE_METRICS.duration}_count{${SERVICE}}[${w}]))\n` +
          `)`,
      },
    );
  }
  const latency: RecordingRule[] = [];
  for (const w of BURN_RATE_WINDOWS) {
    for (const q of LATENCY_QUANTILES) {
      latency.push({
        record: RECORDED.latencyQuantile(w),
        expr: `histogram_quantile(${q}, sum by (${BY}, le) (rate(${SERVICE_METRICS.duration}_bucket{${SERVICE}}[${w}])))`,
        labels: { quantile: q },
      });
    }
  }
  const budget: RecordingRule[] = [
    {
      record: RECORDED.availabilityBudgetRemaining,
      expr:
        `1 - ${RECORDED.errorRatio(SLO_PERIOD)}\n` +
        `/ on () group_left () (1 - ${THRESHOLD_SERIES.availabilityObjective})`,
    },
    {
      record: RECORDED.latencyBudgetRemaining,
      expr:
        `1 - ${RECORDED.slowRatio(SLO_PERIOD)}\n` +
        `/ on () group_left () (1 - ${THRESHOLD_SERIES.latencyObjective})`,
    },
  ];
  const prometheus: RecordingRule[] = [
    { record: RECORDED.up, expr: `avg by (${BY}) (up)` },
    {
      record: RECORDED.ruleEvaluationFailures,
      expr: `sum by (${BY}) (rate(prometheus_rule_evaluation_failures_total[5m]))`,
    },
    {
      record: RECORDED.ruleEvaluations,
      expr: `sum by (${BY}) (rate(prometheus_rule_evaluations_total[5m]))`,
    },
    {
      record: RECORDED.compactionsFailed,
      expr: `sum by (${BY}) (increase(prometheus_tsdb_compactions_failed_total[3h]))`,
    },
    { record: RECORDED.headSeries, expr: `sum by (${BY}) (prometheus_tsdb_head_series)` },
  ];
  const grafana: RecordingRule[] = [
    {
      record: RECORDED.grafanaRequests,
      expr: `sum by (${BY}) (rate(grafana_http_request_duration_seconds_count{job="${SCRAPE_JOBS.grafana}"}[5m]))`,
    },
    {
      record: RECORDED.grafanaErrors,
      expr:
        `sum by (${BY}) (rate(grafana_http_request_duration_seconds_count{job="${SCRAPE_JOBS.grafana}",status_code=~"5.."}[5m]))\n` +
        `or\n${RECORDED.grafanaRequests} * 0`,
    },
  ];
  const backup: RecordingRule[] = [
    {
      record: RECORDED.backupAge,
      expr: `time() - max by (stage, component) (${BACKUP_METRICS.lastSuccess})`,
    },
    {
      record: RECORDED.backupStatus,
      expr: `min by (stage, component) (${BACKUP_METRICS.lastStatus})`,
    },
    {
      record: RECORDED.backupSize,
      expr: `max by (stage, component) (${BACKUP_METRICS.sizeBytes})`,
    },
  ];
  const scanner: RecordingRule[] = [
    {
      record: RECORDED.scannerAge,
      expr: `time() - max by (stage) (${SCANNER_METRICS.lastSuccess})`,
    },
    { record: RECORDED.scannerStatus, expr: `min by (stage) (${SCANNER_METRICS.lastStatus})` },
    {
      // The scanner's `severity` label is renamed: on an alert, `severity` is the alert's own.
      record: RECORDED.vulnerabilities,
      expr:
        `sum by (stage, vulnerability_severity) (\n` +
        `  label_replace(${SCANNER_METRICS.vulnerabilities}, "vulnerability_severity", "$1", "severity", "(.+)")\n` +
        `)`,
    },
  ];
  const history = (w: HistoryWindow): RuleGroup<RecordingRule> & { interval: string } => ({
    name: `goldengoose-slo-history-${w}.rules`,
    interval: w,
    rules: [
      { record: RECORDED.availabilityHistory(w), expr: `1 - ${RECORDED.errorRatio(w)}` },
      { record: RECORDED.latencyHistory(w), expr: `1 - ${RECORDED.slowRatio(w)}` },
      {
        record: RECORDED.requestsHistory(w),
        expr: `${RECORDED.requests(w)} * ${w === "1h" ? 3600 : 86400}`,
      },
    ],
  });
  return [
    { name: "goldengoose-slo.rules", rules: slo },
    ...HISTORY_WINDOWS.map(history),
    { name: "goldengoose-latency.rules", rules: latency },
    { name: "goldengoose-error-budget.rules", rules: budget },
    { name: "goldengoose-prometheus.rules", rules: prometheus },
    { name: "goldengoose-grafana.rules", rules: grafana },
    { name: "goldengoose-backup.rules", rules: backup },
    { name: "goldengoose-scanner.rules", rules: scanner },
    ...drRecordingGroups(),
  ];
}

/**
 * Age of every Pushgateway group over its job's allowed age. Ephemeral groups whose job has ended
 * (and pushed its end value, `ended` in push-groups.yaml) are left out: they wait for
 * `goose pushgateway prune`, they are not late.
 */
export function pushGroupStaleExpr(pushGroups: PushGroups): string {
  let expr =
    `max without (push_job) (\n` +
    `  time() - label_replace(push_time_seconds, "push_job", "$1", "job", "(.+)")\n` +
    `  > on (push_job) group_left () ${THRESHOLD_SERIES.pushGroupMaxAge}\n)`;
  for (const [job, g] of Object.entries(pushGroups.groups)) {
    if (!g.ended) continue;
    const on = ["job", ...Object.keys(g.labels)].join(", ");
    expr += `\nunless on (${on}) (${g.ended.metric}{job="${job}"} == ${g.ended.value})`;
  }
  return expr;
}

/** The allowed age of each Pushgateway group that has one, as threshold series of a stage. */
export function pushGroupMaxAgeRules(
  stageLabel: string,
  t: StageThresholds,
  pushGroups: PushGroups,
): RecordingRule[] {
  return Object.entries(pushGroups.groups).flatMap(([job, g]) => {
    const max = maxAgeSeconds(g, t);
    return max === undefined
      ? []
      : [
          {
            record: THRESHOLD_SERIES.pushGroupMaxAge,
            expr: `vector(${max})`,
            labels: { stage: stageLabel, push_job: job },
          },
        ];
  });
}

/** The thresholds rule file of one stage (`stageLabel` is the stage name, or a fixture name). */
export function thresholdGroups(
  stageLabel: string,
  t: StageThresholds,
  pushGroups: PushGroups = { groups: {} },
  changes: StageChange[] = [],
): RuleGroup<RecordingRule>[] {
  const labels = (extra: Record<string, string> = {}) => ({ stage: stageLabel, ...extra });
  /** An objective: constant, or while a change is under way, the old value until it is enforced. */
  const objective = (
    threshold: StageChange["threshold"],
    record: string,
    settlingRecord: string,
    value: number,
  ): RecordingRule[] => {
    const c = changes.find((x) => x.threshold === threshold);
    if (!c) return [{ record, expr: `vector(${value})`, labels: labels() }];
    const now = "vector(time())";
    return [
      {
        // before since and while settling: `from`; from enforcedAt on: `to`
        record,
        expr: `(vector(${c.to}) and on () (${now} >= ${c.enforcedAt}))\nor\nvector(${c.from})`,
        labels: labels(),
      },
      {
        // only while settling (since <= time() < enforcedAt): the warning-only alerts use it
        record: settlingRecord,
        expr:
          `vector(${c.to})\nand on () (${now} >= ${c.since})\n` +
          `and on () (${now} < ${c.enforcedAt})`,
        labels: labels(),
      },
    ];
  };
  const rules: RecordingRule[] = [
    ...objective(
      "slo.availabilityObjective",
      THRESHOLD_SERIES.availabilityObjective,
      THRESHOLD_SERIES.availabilityObjectiveSettling,
      t.slo.availabilityObjective,
    ),
    ...objective(
      "slo.latencyObjective",
      THRESHOLD_SERIES.latencyObjective,
      THRESHOLD_SERIES.latencyObjectiveSettling,
      t.slo.latencyObjective,
    ),
    ...leSpellings(t.slo.latencyBoundSeconds).map((le) => ({
      record: THRESHOLD_SERIES.latencyBound,
      expr: `vector(${t.slo.latencyBoundSeconds})`,
      labels: labels({ le }),
    })),
    {
      record: THRESHOLD_SERIES.backupMaxAge,
      expr: `vector(${2 * t.backup.scheduleIntervalHours * 3600})`,
      labels: labels(),
    },
    {
      record: THRESHOLD_SERIES.scannerMaxAge,
      expr: `vector(${2 * t.scanner.scheduleIntervalHours * 3600})`,
      labels: labels(),
    },
    ...severitiesAtOrAbove(t.scanner.severityThreshold).map((s) => ({
      record: THRESHOLD_SERIES.scannerAlertSeverity,
      expr: "vector(1)",
      labels: labels({ vulnerability_severity: s }),
    })),
    ...pushGroupMaxAgeRules(stageLabel, t, pushGroups),
  ];
  return [{ name: "goldengoose-thresholds", rules }, ...drThresholdGroups(stageLabel, t)];
}

/** A rule file as YAML, with the generated-file header. */
export function renderRuleFile(
  groups: RuleGroup<RecordingRule | AlertRule>[],
  header: string,
): string {
  const body = stringify({ groups }, { lineWidth: 0 });
  return `${header}\n${body}`;
}

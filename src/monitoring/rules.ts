/**
 * The Prometheus rule files, as pure functions of the shared metric names (src/config/metrics.ts)
 * and the thresholds (monitoring/config/thresholds.yaml):
 *
 * - `recordingGroups()`  → monitoring/prometheus/recording.yaml (same in every stage)
 * - `alertGroups(base)`  → monitoring/prometheus/alerts.yaml (same in every stage)
 * - `thresholdGroups(stage, t)` → monitoring/prometheus/thresholds/<stage>.yaml
 *
 * Per-stage thresholds reach Prometheus as recording rules with constant values
 * (`stage:goldengoose_*` series, e.g. `stage:goldengoose_backup_max_age:seconds`). The alerts compare
 * against them with `on() group_left()`, so one alerts.yaml serves every stage and one promtool
 * suite tests it; each stage ships its own small thresholds file. A missing thresholds file fires
 * GoldenGooseThresholdsMissing instead of silencing the SLO alerts.
 */
import { BACKUP_COMPONENTS } from "../backup/archive-layout.js";
import { stringify } from "yaml";
import { drAlertGroups, drRecordingGroups, drThresholdGroups } from "./dr-rules.js";
import type { StageChange, StageThresholds } from "./thresholds.js";
import { maxAgeSeconds, type PushGroups } from "./push-groups.js";
import { leSpellings, severitiesAtOrAbove } from "./thresholds.js";
import {
  BACKUP_METRICS,
  SCANNER_METRICS,
  SCRAPE_JOBS,
  SERVICE_METRICS,
  TRANSITION_METRICS,
} from "../config/metrics.js";

export interface RecordingRule {
  record: string;
  expr: string;
  labels?: Record<string, string>;
}

export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: { severity: "critical" | "warning" | "info" } & Record<string, string>;
  annotations: { summary: string; description: string; runbook_url: string };
}

export interface RuleGroup<R> {
  name: string;
  /** Evaluation interval of the group, when not the global one. */
  interval?: string;
  rules: R[];
}

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

type Severity = AlertRule["labels"]["severity"];

function alert(
  base: string,
  name: string,
  spec: {
    expr: string;
    for: string;
    severity: Severity;
    labels?: Record<string, string>;
    summary: string;
    description: string;
  },
): AlertRule {
  const full = `${ALERT_PREFIX}${name}`;
  return {
    alert: full,
    expr: spec.expr,
    for: spec.for,
    labels: { severity: spec.severity, ...spec.labels },
    annotations: {
      summary: spec.summary,
      description: spec.description,
      runbook_url: `${base}${full}.md`,
    },
  };
}

function burnExpr(
  ratio: (w: SloWindow) => string,
  objective: string,
  pairs: readonly { long: SloWindow; short: SloWindow; factor: number }[],
): string {
  const over = (w: SloWindow, f: number) =>
    `${ratio(w)} > on () group_left () (${f} * (1 - ${objective}))`;
  return pairs
    .map((p) => `(\n  ${over(p.long, p.factor)}\nand\n  ${over(p.short, p.factor)}\n)`)
    .join("\nor\n");
}

/** The alert rules; `runbookBaseUrl` ends in `/` and each alert links `<base><AlertName>.md`. */
export function alertGroups(
  runbookBaseUrl: string,
  pushGroups: PushGroups = { groups: {} },
): RuleGroup<AlertRule>[] {
  const a = (name: string, spec: Parameters<typeof alert>[2]) => alert(runbookBaseUrl, name, spec);
  const stage = "{{ $externalLabels.stage }}";
  const slo = (kind: "availability" | "latency") => {
    const ratio = kind === "availability" ? RECORDED.errorRatio : RECORDED.slowRatio;
    const objective =
      kind === "availability"
        ? THRESHOLD_SERIES.availabilityObjective
        : THRESHOLD_SERIES.latencyObjective;
    const Kind = kind === "availability" ? "Availability" : "Latency";
    const what =
      kind === "availability"
        ? "requests fail (5xx)"
        : "requests are slower than the latency bound";
    return [
      a(`${Kind}BudgetFastBurn`, {
        expr: burnExpr(ratio, objective, BURN_RATE_PAIRS.page),
        for: "2m",
        severity: "critical",
        labels: { slo: kind },
        summary: `The service burns its ${kind} error budget fast.`,
        description:
          `In stage ${stage}, {{ $value | humanizePercentage }} of ${what} for {{ $labels.job }} ` +
          `over the last 1h or 6h: at this rate the 30-day ${kind} error budget lasts less than 5 days ` +
          `(burn rate above 6x, confirmed by the 5m and 30m windows).`,
      }),
      a(`${Kind}BudgetSlowBurn`, {
        expr: burnExpr(ratio, objective, BURN_RATE_PAIRS.ticket),
        for: "15m",
        severity: "warning",
        labels: { slo: kind },
        summary: `The service burns its ${kind} error budget faster than it refills.`,
        description:
          `In stage ${stage}, {{ $value | humanizePercentage }} of ${what} for {{ $labels.job }} ` +
          `over the last 1d or 3d: the 30-day ${kind} error budget runs out before the period ends ` +
          `(burn rate above 1x, confirmed by the 2h and 6h windows).`,
      }),
    ];
  };
  const sloAlerts = [...slo("availability"), ...slo("latency")];
  return [
    {
      name: "goldengoose-slo.alerts",
      rules: sloAlerts,
    },
    {
      name: "goldengoose-settling.alerts",
      rules: sloAlerts.map(settlingTwin),
    },
    {
      name: "goldengoose-backup.alerts",
      rules: [
        a("BackupFailed", {
          expr: `${RECORDED.backupStatus} == 0`,
          for: "5m",
          severity: "warning",
          summary: "The last backup failed.",
          description: `In stage ${stage}, the last backup attempt of {{ $labels.component }} failed; the backup job reported status 0.`,
        }),
        a("BackupStale", {
          // absent(): a component that never reported a backup (an agent that never ran, a
          // Pushgateway that lost its metrics) is stale too, with an age of +Inf.
          expr:
            `${RECORDED.backupAge}\n> on () group_left () ${THRESHOLD_SERIES.backupMaxAge}` +
            BACKUP_COMPONENTS.map(
              (c) =>
                `\nor max by (component) (absent(${BACKUP_METRICS.lastSuccess}{job="goldengoose-backup", component="${c}"})) * +Inf`,
            ).join(""),
          for: "10m",
          severity: "critical",
          summary: "No successful backup for more than twice the backup schedule.",
          description: `In stage ${stage}, the last successful backup of {{ $labels.component }} is {{ $value | humanizeDuration }} old (+Inf: none reported at all), more than twice the backup schedule interval.`,
        }),
      ],
    },
    {
      name: "goldengoose-scanner.alerts",
      rules: [
        a("ScannerVulnerabilitiesFound", {
          expr:
            `${RECORDED.vulnerabilities} > 0\n` +
            `and on (vulnerability_severity) ${THRESHOLD_SERIES.scannerAlertSeverity}`,
          for: "5m",
          severity: "warning",
          summary:
            "The security scanner found vulnerabilities at or above the stage's severity threshold.",
          description: `In stage ${stage}, the last scan found {{ $value }} vulnerabilities of severity {{ $labels.vulnerability_severity }}.`,
        }),
        a("ScannerStale", {
          expr: `${RECORDED.scannerAge}\n> on () group_left () ${THRESHOLD_SERIES.scannerMaxAge}`,
          for: "10m",
          severity: "warning",
          summary: "No completed security scan for more than twice the scan schedule.",
          description: `In stage ${stage}, the last completed scan is {{ $value | humanizeDuration }} old, more than twice the scan schedule interval.`,
        }),
      ],
    },
    {
      name: "goldengoose-platform.alerts",
      rules: [
        a("TargetDown", {
          expr: "up == 0",
          for: "10m",
          severity: "warning",
          summary: "A scrape target is down.",
          description: `In stage ${stage}, target {{ $labels.instance }} of job {{ $labels.job }} has been unreachable for 10 minutes.`,
        }),
        a("StageDown", {
          expr: `max by (stage) (up{job!="${SCRAPE_JOBS.prometheus}"}) == 0`,
          for: "5m",
          severity: "critical",
          summary: "Every scrape target of the stage except Prometheus itself is down.",
          description:
            `In stage ${stage}, Prometheus has reached none of the stage's other targets ` +
            `(Alertmanager, Grafana, Pushgateway, the service) for 5 minutes: the stage is down or ` +
            `cut off from Prometheus. Its component alerts are inhibited while this fires.`,
        }),
        a("PrometheusRuleEvaluationFailures", {
          expr: `${RECORDED.ruleEvaluationFailures} > 0`,
          for: "15m",
          severity: "critical",
          summary: "Prometheus fails to evaluate rules; alerts may be silently broken.",
          description: `In stage ${stage}, Prometheus {{ $labels.job }} fails {{ printf "%.2f" $value }} rule evaluations per second.`,
        }),
        a("PrometheusTSDBCompactionsFailing", {
          expr: `${RECORDED.compactionsFailed} > 0`,
          for: "5m",
          severity: "warning",
          summary: "Prometheus TSDB compactions are failing.",
          description: `In stage ${stage}, Prometheus {{ $labels.job }} had {{ $value | humanize }} failed TSDB compactions in the last 3 hours.`,
        }),
        a("GrafanaDown", {
          expr:
            `max by (stage, job) (up{job="${SCRAPE_JOBS.grafana}"}) == 0\n` +
            `or\nabsent(up{job="${SCRAPE_JOBS.grafana}"})`,
          for: "5m",
          severity: "warning",
          summary: "Grafana is down.",
          description: `In stage ${stage}, no Grafana instance has answered a scrape for 5 minutes; dashboards are unavailable.`,
        }),
        a("TransitionDuringBlackout", {
          expr:
            `max by (stage) (${TRANSITION_METRICS.inProgress}) > 0\n` +
            `and on ()\nmax(${TRANSITION_METRICS.blackout}) > 0`,
          for: "1m",
          severity: "critical",
          summary: "A stage transition runs while a blackout lease is held.",
          description: `In stage ${stage}, a promotion or rollback is in progress while a load test, backup or scan holds a blackout lease on the stage.`,
        }),
        a("PushgatewayGroupStale", {
          expr: pushGroupStaleExpr(pushGroups),
          for: "10m",
          severity: "warning",
          summary: "A Pushgateway group is older than its job's schedule allows.",
          description:
            `In stage ${stage}, Pushgateway group job="{{ $labels.job }}" was last pushed ` +
            `{{ $value | humanizeDuration }} ago, longer than its job may take ` +
            `(monitoring/config/push-groups.yaml): the job stopped running, died without cleaning up, ` +
            `or cannot reach the Pushgateway.`,
        }),
        a("ThresholdsMissing", {
          expr:
            `absent(${THRESHOLD_SERIES.availabilityObjective})\n` +
            `or\nabsent(${THRESHOLD_SERIES.backupMaxAge})`,
          for: "10m",
          severity: "warning",
          summary:
            "The stage's thresholds rule file is not loaded; SLO, backup and scanner alerts cannot fire.",
          description: `In stage ${stage}, the threshold series are missing: thresholds.yaml is not among the loaded rule files.`,
        }),
      ],
    },
    ...drAlertGroups(a),
  ];
}

/** Enforced objective series → the series of a new value while it settles. */
const SETTLING: [string, string][] = [
  [THRESHOLD_SERIES.availabilityObjective, THRESHOLD_SERIES.availabilityObjectiveSettling],
  [THRESHOLD_SERIES.latencyObjective, THRESHOLD_SERIES.latencyObjectiveSettling],
];

/**
 * The warning-only twin of an SLO alert: the same condition against the settling objective (a
 * series that exists only while a threshold change settles in the stage), severity warning,
 * labelled threshold_phase="settling". It never pages; once the change is enforced the settling
 * series is gone and the alert itself compares against the new value.
 */
export function settlingTwin(rule: AlertRule): AlertRule {
  let expr = rule.expr;
  for (const [enforced, settling] of SETTLING) expr = expr.replaceAll(enforced, settling);
  return {
    ...rule,
    expr,
    labels: { ...rule.labels, severity: "warning", threshold_phase: "settling" },
    annotations: {
      ...rule.annotations,
      summary: `${rule.annotations.summary.replace(/\.$/, "")} (new threshold settling, warning only).`,
      description:
        `${rule.annotations.description} Measured against the stage's new objective, which is ` +
        `settling: warning only until it is enforced (monitoring/config/thresholds.yaml, changes).`,
    },
  };
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

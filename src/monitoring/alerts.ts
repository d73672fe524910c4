/**
 * The alert rules (monitoring/prometheus/alerts.yaml, the same in every stage) and the
 * warning-only "settling" twin of an SLO alert. Names, windows and threshold series are in
 * rules.ts; alerts compare against the per-stage threshold series with `on() group_left()`.
 */
import { BACKUP_COMPONENTS } from "../backup/archive-layout.js";
import { BACKUP_METRICS, SCRAPE_JOBS, TRANSITION_METRICS } from "../config/metrics.js";
import { drAlertGroups } from "./dr-rules.js";
import type { PushGroups } from "./push-groups.js";
import {
  ALERT_PREFIX,
  BURN_RATE_PAIRS,
  pushGroupStaleExpr,
  RECORDED,
  THRESHOLD_SERIES,
  type AlertRule,
  type RuleGroup,
  type SloWindow,
} from "./rules.js";

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

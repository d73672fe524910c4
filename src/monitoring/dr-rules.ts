/**
 * Rules of the disaster-recovery drills (`goose dr drill|failover` push DR_METRICS), as their own
 * groups in the shared rule files: a recording group in recording.yaml, an alert group in
 * alerts.yaml and a threshold group in each stage's thresholds file.
 *
 * - GoldenGooseRestoreDrillOverdue: the stage's last passing restore drill is older than its
 *   objective (`golden-goose:recovery.drillMaxAgeHours` = thresholds.yaml
 *   `restoreDrill.maxAgeHours`), or it never had one: its backups are not proven restorable.
 * - GoldenGooseRestoreDrillFailed: the last restore drill failed (a check or an objective).
 * - GoldenGooseFailoverDrillOverdue: the stage's last passing failover drill (`goose dr failover`)
 *   is older than thresholds.yaml `failoverDrill.maxAgeHours`, or it never had one. Only stages
 *   with that threshold (those with replicated Alertmanagers) have the series, so a stage without
 *   replicas (sandbox) never fires it.
 * - GoldenGooseFailoverDrillFailed: the last failover drill failed.
 */
import { DR_METRICS } from "../config/metrics.js";
import type { StageThresholds } from "./thresholds.js";
import type { AlertRule, RecordingRule, RuleGroup } from "./rule-types.js";

export const DR_RECORDED = {
  restoreAge: "stage:goldengoose_dr_restore_last_success_age:seconds",
  restoreResult: "stage:goldengoose_dr_restore_last_result:min",
  failoverAge: "stage:goldengoose_dr_failover_last_success_age:seconds",
  failoverResult: "stage:goldengoose_dr_failover_last_result:min",
} as const;

export const DR_THRESHOLD_SERIES = {
  restoreMaxAge: "stage:goldengoose_dr_restore_max_age:seconds",
  failoverMaxAge: "stage:goldengoose_dr_failover_max_age:seconds",
} as const;

const RESTORE = `{drill="restore"}`;
const FAILOVER = `{drill="failover"}`;

export function drRecordingGroups(): RuleGroup<RecordingRule>[] {
  return [
    {
      name: "goldengoose-dr.rules",
      rules: [
        {
          record: DR_RECORDED.restoreAge,
          expr: `time() - max by (stage) (${DR_METRICS.lastSuccess}${RESTORE})`,
        },
        {
          record: DR_RECORDED.restoreResult,
          expr: `min by (stage) (${DR_METRICS.lastResult}${RESTORE})`,
        },
        {
          record: DR_RECORDED.failoverAge,
          expr: `time() - max by (stage) (${DR_METRICS.lastSuccess}${FAILOVER})`,
        },
        {
          record: DR_RECORDED.failoverResult,
          expr: `min by (stage) (${DR_METRICS.lastResult}${FAILOVER})`,
        },
      ],
    },
  ];
}

export function drThresholdGroups(
  stageLabel: string,
  t: StageThresholds,
): RuleGroup<RecordingRule>[] {
  return [
    {
      name: "goldengoose-dr-thresholds",
      rules: [
        {
          record: DR_THRESHOLD_SERIES.restoreMaxAge,
          expr: `vector(${t.restoreDrill.maxAgeHours * 3600})`,
          labels: { stage: stageLabel },
        },
        ...(t.failoverDrill
          ? [
              {
                record: DR_THRESHOLD_SERIES.failoverMaxAge,
                expr: `vector(${t.failoverDrill.maxAgeHours * 3600})`,
                labels: { stage: stageLabel },
              },
            ]
          : []),
      ],
    },
  ];
}

export function drAlertGroups(
  alert: (
    name: string,
    spec: {
      expr: string;
      for: string;
      severity: AlertRule["labels"]["severity"];
      summary: string;
      description: string;
    },
  ) => AlertRule,
): RuleGroup<AlertRule>[] {
  const stage = "{{ $labels.stage }}";
  return [
    {
      name: "goldengoose-dr.alerts",
      rules: [
        alert("RestoreDrillOverdue", {
          // Too old, or never: a stage whose threshold exists but has no passing drill at all.
          expr:
            `${DR_RECORDED.restoreAge}\n> on (stage) group_left () ${DR_THRESHOLD_SERIES.restoreMaxAge}\n` +
            `or on (stage)\n${DR_THRESHOLD_SERIES.restoreMaxAge} unless on (stage) ${DR_RECORDED.restoreAge}`,
          for: "10m",
          severity: "warning",
          summary: "No passing restore drill within the stage's recovery objective.",
          description: `In stage ${stage}, no restore drill (goose dr drill ${stage}) has passed within golden-goose:recovery.drillMaxAgeHours: its backups are not proven restorable, and promotions out of the stage are refused.`,
        }),
        alert("RestoreDrillFailed", {
          expr: `${DR_RECORDED.restoreResult} == 0`,
          for: "5m",
          severity: "warning",
          summary: "The last restore drill failed.",
          description: `In stage ${stage}, the last restore drill failed a check or missed its RPO/RTO objective; see its report in load-test/reports/dr/.`,
        }),
        alert("FailoverDrillOverdue", {
          expr:
            `${DR_RECORDED.failoverAge}\n> on (stage) group_left () ${DR_THRESHOLD_SERIES.failoverMaxAge}\n` +
            `or on (stage)\n${DR_THRESHOLD_SERIES.failoverMaxAge} unless on (stage) ${DR_RECORDED.failoverAge}`,
          for: "10m",
          severity: "warning",
          summary: "No passing failover drill within the stage's objective.",
          description: `In stage ${stage}, no failover drill (goose dr failover ${stage}) has passed within thresholds.yaml failoverDrill.maxAgeHours: that alerts still reach a receiver exactly once after losing one Alertmanager and one Prometheus is not proven for the current configuration.`,
        }),
        alert("FailoverDrillFailed", {
          expr: `${DR_RECORDED.failoverResult} == 0`,
          for: "5m",
          severity: "warning",
          summary: "The last failover drill failed.",
          description: `In stage ${stage}, the last failover drill failed a check (an alert lost, notified twice, a silence not honoured, or failover slower than the objective); see its report in load-test/reports/dr/.`,
        }),
      ],
    },
  ];
}

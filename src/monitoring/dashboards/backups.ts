/**
 * Backups (the backup CronJob's pushed metrics), stack snapshots (goose snapshot) and the
 * disaster-recovery drills (goose dr drill|failover).
 */
import { RowBuilder, type Dashboard } from "@grafana/grafana-foundation-sdk/dashboard";
import { BACKUP_METRICS, DR_METRICS, SNAPSHOT_METRICS } from "../../config/metrics.js";
import { DR_RECORDED, DR_THRESHOLD_SERIES } from "../dr-rules.js";
import { RECORDED, THRESHOLD_SERIES } from "../rules.js";
import { baseDashboard, STAGE, stat, table, timeseries } from "./common.js";

export function backups(): Dashboard {
  return baseDashboard("Golden Goose / Backups and snapshots", "gg-backups", ["backup"])
    .description("Backups of Prometheus and Grafana, and the stack snapshots goose keeps.")
    .time({ from: "now-7d", to: "now" })
    .withRow(new RowBuilder("Backups"))
    .withPanel(
      stat(
        "Last successful backup age",
        "s",
        `${RECORDED.backupAge}{${STAGE}}`,
        "{{component}}",
        [
          [null, "green"],
          [43200, "orange"],
        ],
        { width: 8, description: "Alert GoldenGooseBackupStale fires above twice the schedule." },
      ),
    )
    .withPanel(
      stat(
        "Last attempt status",
        "bool_on_off",
        `${RECORDED.backupStatus}{${STAGE}}`,
        "{{component}}",
        [
          [null, "red"],
          [1, "green"],
        ],
        { width: 8 },
      ),
    )
    .withPanel(
      stat(
        "Last archive size",
        "bytes",
        `${RECORDED.backupSize}{${STAGE}}`,
        "{{component}}",
        [[null, "blue"]],
        { width: 8 },
      ),
    )
    .withPanel(
      timeseries(
        "Backup age against the stale limit",
        "s",
        [
          [`${RECORDED.backupAge}{${STAGE}}`, "{{component}}"],
          [`${THRESHOLD_SERIES.backupMaxAge}{${STAGE}}`, "stale limit"],
        ],
        { min: 0 },
      ),
    )
    .withPanel(
      table("Backup attempts", [
        [`max by (component) (${BACKUP_METRICS.lastAttempt}{${STAGE}}) * 1000`, "last attempt"],
        [`max by (component) (${BACKUP_METRICS.lastSuccess}{${STAGE}}) * 1000`, "last success"],
      ]),
    )
    .withRow(new RowBuilder("Stack snapshots"))
    .withPanel(
      stat(
        "Newest snapshot age",
        "s",
        `time() - max by (stage) (${SNAPSHOT_METRICS.lastCreated}{${STAGE}})`,
        "{{stage}}",
        [[null, "blue"]],
        { width: 8 },
      ),
    )
    .withPanel(
      stat(
        "Last verification age",
        "s",
        `time() - max by (stage) (${SNAPSHOT_METRICS.lastVerified}{${STAGE}})`,
        "{{stage}}",
        [[null, "blue"]],
        { width: 8 },
      ),
    )
    .withPanel(
      stat(
        "Snapshots kept",
        "none",
        `max by (stage) (${SNAPSHOT_METRICS.count}{${STAGE}})`,
        "{{stage}}",
        [[null, "blue"]],
        { width: 8 },
      ),
    )
    .withRow(new RowBuilder("Disaster recovery"))
    .withPanel(
      stat(
        "Last passing restore drill age",
        "s",
        `${DR_RECORDED.restoreAge}{${STAGE}}`,
        "{{stage}}",
        [
          [null, "green"],
          [86400, "orange"],
        ],
        {
          width: 6,
          description:
            "goose dr drill. GoldenGooseRestoreDrillOverdue fires above the stage's recovery.drillMaxAgeHours (or when there was never one).",
        },
      ),
    )
    .withPanel(
      stat(
        "Last drill result",
        "bool_on_off",
        `min by (drill) (${DR_METRICS.lastResult}{${STAGE}})`,
        "{{drill}}",
        [
          [null, "red"],
          [1, "green"],
        ],
        { width: 6, description: "Restore and failover drills: 1 passed, 0 failed." },
      ),
    )
    .withPanel(
      stat(
        "Recovery point (last restore drill)",
        "s",
        `max by (stage) (${DR_METRICS.rpo}{${STAGE}})`,
        "{{stage}}",
        [[null, "blue"]],
        {
          width: 6,
          description: "Seconds the newest restored sample lay behind the backup time (RPO).",
        },
      ),
    )
    .withPanel(
      stat(
        "Recovery time (last restore drill)",
        "s",
        `max by (stage) (${DR_METRICS.rto}{${STAGE}})`,
        "{{stage}}",
        [[null, "blue"]],
        {
          width: 6,
          description:
            "Seconds from the start of the restore to the restored Prometheus answering (RTO).",
        },
      ),
    )
    .withPanel(
      timeseries(
        "Recovery point and time against the objectives",
        "s",
        [
          [`max by (stage) (${DR_METRICS.rpo}{${STAGE}})`, "RPO"],
          [`max by (stage) (${DR_METRICS.rto}{${STAGE}})`, "RTO"],
          [
            `max by (objective) (${DR_METRICS.objective}{${STAGE},objective=~"rpo|rto"})`,
            "{{objective}} objective",
          ],
        ],
        { min: 0 },
      ),
    )
    .withPanel(
      timeseries(
        "Drill ages against their objectives",
        "s",
        [
          [`${DR_RECORDED.restoreAge}{${STAGE}}`, "last passing restore drill"],
          [`${DR_THRESHOLD_SERIES.restoreMaxAge}{${STAGE}}`, "restore objective"],
          [`${DR_RECORDED.failoverAge}{${STAGE}}`, "last passing failover drill"],
          [`${DR_THRESHOLD_SERIES.failoverMaxAge}{${STAGE}}`, "failover objective"],
        ],
        { min: 0 },
      ),
    )
    .build();
}

/** Backups (the backup CronJob's pushed metrics) and stack snapshots (goose snapshot). */
import { RowBuilder, type Dashboard } from "@grafana/grafana-foundation-sdk/dashboard";
import { BACKUP_METRICS, SNAPSHOT_METRICS } from "../../config/metrics.js";
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
    .build();
}

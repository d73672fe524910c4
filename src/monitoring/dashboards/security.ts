/** Security scan findings (the scanner CronJob's pushed metrics). */
import { RowBuilder, type Dashboard } from "@grafana/grafana-foundation-sdk/dashboard";
import { SCANNER_METRICS } from "../../config/metrics.js";
import { RECORDED, THRESHOLD_SERIES } from "../rules.js";
import { baseDashboard, STAGE, stat, table, timeseries } from "./common.js";

export function security(): Dashboard {
  const bySeverity = (s: string) =>
    `sum(${RECORDED.vulnerabilities}{${STAGE}, vulnerability_severity="${s}"})`;
  const sevPanel = (s: string, color: string) =>
    stat(`${s} findings`, "none", bySeverity(s), s, [
      [null, "green"],
      [1, color],
    ]);
  return baseDashboard("Golden Goose / Security scan findings", "gg-security", ["security"])
    .description("Vulnerabilities the scanner found in the running images, by severity and image.")
    .time({ from: "now-7d", to: "now" })
    .withRow(new RowBuilder("Findings of the last scan"))
    .withPanel(sevPanel("CRITICAL", "red"))
    .withPanel(sevPanel("HIGH", "orange"))
    .withPanel(sevPanel("MEDIUM", "yellow"))
    .withPanel(sevPanel("LOW", "blue"))
    .withPanel(
      table(
        "Findings by image",
        [[`sum by (image, severity) (${SCANNER_METRICS.vulnerabilities}{${STAGE}})`, ""]],
        { width: 12 },
      ),
    )
    .withPanel(
      table(
        "Severities that alert in this stage",
        [[`${THRESHOLD_SERIES.scannerAlertSeverity}{${STAGE}}`, ""]],
        {
          width: 12,
          description: "From monitoring/config/thresholds.yaml scanner.severityThreshold.",
        },
      ),
    )
    .withPanel(
      timeseries(
        "Findings over time",
        "none",
        [[`${RECORDED.vulnerabilities}{${STAGE}}`, "{{vulnerability_severity}}"]],
        { min: 0 },
      ),
    )
    .withRow(new RowBuilder("Scanner health"))
    .withPanel(
      timeseries(
        "Last completed scan age against the stale limit",
        "s",
        [
          [`${RECORDED.scannerAge}{${STAGE}}`, "scan age"],
          [`${THRESHOLD_SERIES.scannerMaxAge}{${STAGE}}`, "stale limit"],
        ],
        { min: 0 },
      ),
    )
    .withPanel(
      stat("Last scan status", "bool_on_off", `${RECORDED.scannerStatus}{${STAGE}}`, "{{stage}}", [
        [null, "red"],
        [1, "green"],
      ]),
    )
    .build();
}

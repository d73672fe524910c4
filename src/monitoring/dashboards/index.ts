/**
 * The dashboards, built with @grafana/grafana-foundation-sdk (pinned 0.0.21; schemaVersion 42,
 * Grafana 12). File name → dashboard JSON model; `npm run generate` writes them to
 * monitoring/grafana/dashboards/.
 */
import type { Dashboard } from "@grafana/grafana-foundation-sdk/dashboard";
import { backups } from "./backups.js";
import { loadTest } from "./load-test.js";
import { prometheusSelf } from "./prometheus.js";
import { security } from "./security.js";
import { stageOverview } from "./stage-overview.js";

export function buildDashboards(): Record<string, Dashboard> {
  const dashboards: Record<string, Dashboard> = {
    "stage-overview.json": stageOverview(),
    "load-test.json": loadTest(),
    "backups.json": backups(),
    "security.json": security(),
    "prometheus.json": prometheusSelf(),
  };
  // `id` is null in files: Grafana assigns it; the stable `uid` identifies the dashboard.
  return Object.fromEntries(
    Object.entries(dashboards).map(([file, d]) => [file, { id: null, ...d }]),
  );
}

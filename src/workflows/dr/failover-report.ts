/**
 * The failover drill's report: its JSON shape (`kind` + version) and Markdown page.
 */
import type { StageName } from "../../config/stages.js";
import { cell, type DrillCheck } from "./report.js";

export const FAILOVER_REPORT_KIND = "goldengoose.dr.failover/v1";

export interface Notification {
  /** Milliseconds since the drill started. */
  atMs: number;
  /** The Alertmanager that sent it (its --web.external-url). */
  from: string;
  status: string;
  alertnames: string[];
}

export interface FailoverReport {
  kind: typeof FAILOVER_REPORT_KIND;
  id: string;
  stage: StageName;
  result: "pass" | "fail";
  startedAt: string;
  finishedAt: string;
  replicas: { prometheus: number; alertmanager: number };
  /** How the stage's alerting block reaches the Alertmanagers. */
  alerting: string[];
  peerTimeout: string;
  groupWait: string;
  objectives: { rpoSeconds: number; rtoSeconds: number; drillMaxAgeHours: number };
  killed: { prometheus?: string; alertmanager?: string };
  /** Seconds from firing to the notification, before the kill (the baseline). */
  deliverySeconds?: number;
  /** Seconds from firing to the notification after the kill: the failover time. */
  failoverSeconds?: number;
  notifications: Notification[];
  checks: DrillCheck[];
  failures: string[];
  reports?: { json: string; markdown: string };
  evidence?: string;
  metrics?: string;
  metricsError?: string;
  /** The configuration and server logs, when kept (--keep-work-dir). */
  workDir?: string;
}

export const round3 = (n: number) => Math.round(n * 1000) / 1000;

export function renderFailoverMarkdown(r: FailoverReport): string {
  const lines = [
    `# Failover drill ${r.id}: ${r.result === "pass" ? "PASS" : "FAIL"}`,
    "",
    `Stage **${r.stage}**: ${r.replicas.prometheus} Prometheus and ${r.replicas.alertmanager} Alertmanager replicas on loopback (real binaries, the stage's rendered prometheus.yml, alertmanager.yml and Alertmanager arguments), ${r.startedAt} → ${r.finishedAt}.`,
    "",
    "| | measured | objective |",
    "|---|---|---|",
    `| Delivery before the kill (firing → notification) | ${r.deliverySeconds ?? "—"} s | |`,
    `| Failover time (firing after the kill → notification) | ${r.failoverSeconds ?? "—"} s | ${r.objectives.rtoSeconds} s |`,
    "",
    `Killed (SIGKILL): ${r.killed.alertmanager ?? "—"} (the Alertmanager that had notified) and ${r.killed.prometheus ?? "—"}. Peer timeout ${r.peerTimeout}, group_wait ${r.groupWait} (the drill's; the stage's routing otherwise).`,
    "",
    `Alerting: ${r.alerting.join("; ") || "—"}.`,
    "",
    "## Notifications received",
    "",
    "| at (s) | from | status | alerts |",
    "|---|---|---|---|",
    ...r.notifications.map(
      (n) => `| ${round3(n.atMs / 1000)} | ${n.from} | ${n.status} | ${n.alertnames.join(", ")} |`,
    ),
    "",
    "## Checks",
    "",
    "| check | result | detail |",
    "|---|---|---|",
    ...r.checks.map((c) => `| ${c.name} | ${c.ok ? "ok" : "FAILED"} | ${cell(c.detail)} |`),
    "",
    `Evidence record: ${r.evidence ?? "—"}. Metrics: ${r.metrics ?? "not published"}.`,
    "",
  ];
  return lines.join("\n");
}

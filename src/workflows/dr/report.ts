/**
 * Drill reports: the JSON document (`kind` + version) and a Markdown page for people, written
 * side by side as `<dir>/<id>.json` and `<dir>/<id>.md` (default load-test/reports/dr/, the
 * phase-3 plan's path).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { StageName } from "../../config/stages.js";
import type { FetchedSet } from "./archives.js";
import type { GrafanaCheck } from "./grafana-check.js";

export const DRILL_REPORT_KIND = "goldengoose.dr.drill/v1";

export interface DrillCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface DrillReport {
  kind: typeof DRILL_REPORT_KIND;
  id: string;
  stage: StageName;
  result: "pass" | "fail";
  startedAt: string;
  finishedAt: string;
  source: string;
  objectives: { rpoSeconds: number; rtoSeconds: number; drillMaxAgeHours: number };
  archives: FetchedSet[];
  prometheus?: {
    blocks: number;
    oldestSample?: string;
    newestSample?: string;
    /** Series with a sample in the 5 minutes before the newest sample. */
    series?: number;
    /** Series per `stage` label value. */
    stages?: Record<string, number>;
    fetchSeconds?: number;
    startSeconds?: number;
    firstQuerySeconds?: number;
  };
  grafana?: GrafanaCheck;
  /** Seconds the newest restored sample lies behind the backup time. */
  rpoSeconds?: number;
  /** Seconds from the start of the fetch to the restored Prometheus's first answered query. */
  rtoSeconds?: number;
  checks: DrillCheck[];
  failures: string[];
  reports?: { json: string; markdown: string };
  evidence?: string;
  /** Where the goldengoose_dr_* metrics went, or why they could not be published. */
  metrics?: string;
  metricsError?: string;
}

/** A Markdown table cell: pipes escaped, newlines folded. */
export const cell = (s: unknown) =>
  String(s ?? "")
    .replace(/\|/g, "\\|")
    .replace(/\n/g, " ");

export function renderDrillMarkdown(r: DrillReport): string {
  const lines = [
    `# Restore drill ${r.id}: ${r.result === "pass" ? "PASS" : "FAIL"}`,
    "",
    `Stage **${r.stage}**, from ${r.source}, ${r.startedAt} → ${r.finishedAt}.`,
    "",
    "| | measured | objective |",
    "|---|---|---|",
    `| Recovery point (newest sample behind the backup time) | ${r.rpoSeconds ?? "—"} s | ${r.objectives.rpoSeconds} s |`,
    `| Recovery time (start of restore → first answered query) | ${r.rtoSeconds ?? "—"} s | ${r.objectives.rtoSeconds} s |`,
    "",
  ];
  if (r.prometheus) {
    const p = r.prometheus;
    lines.push(
      "## Prometheus",
      "",
      `- blocks restored: ${p.blocks}`,
      `- series answered at the newest sample: ${p.series ?? "—"}`,
      `- samples from ${p.oldestSample ?? "—"} to ${p.newestSample ?? "—"}`,
      `- stage labels: ${
        p.stages
          ? Object.entries(p.stages)
              .map(([k, v]) => `${k || "(none)"}=${v}`)
              .join(", ")
          : "—"
      }`,
      `- fetch ${p.fetchSeconds ?? "—"} s, server ready after ${p.startSeconds ?? "—"} s (copy + start)`,
      "",
    );
  }
  if (r.grafana) {
    const g = r.grafana;
    lines.push(
      "## Grafana",
      "",
      `- PRAGMA integrity_check: ${g.integrity.join("; ") || "—"}`,
      `- dashboards: ${g.dashboards.expected.length - g.dashboards.missing.length}/${g.dashboards.expected.length} provisioned present${g.dashboards.missing.length ? ` (missing ${g.dashboards.missing.join(", ")})` : ""}`,
      `- datasource: ${g.datasource ? `${g.datasource.uid} (${g.datasource.type}) → ${g.datasource.url}` : "missing"}`,
      "",
    );
  }
  lines.push(
    "## Backup sets",
    "",
    "| component | set | source | files | bytes | captured | SSE |",
    "|---|---|---|---|---|---|---|",
  );
  for (const a of r.archives) {
    const sse = a.sse
      ? [
          ...new Set(
            a.sse.map((o) => `${o.algorithm ?? "none"}${o.kmsKeyId ? ` ${o.kmsKeyId}` : ""}`),
          ),
        ].join(", ")
      : "—";
    lines.push(
      `| ${a.component} | ${a.id} | ${cell(a.source)} | ${a.files} | ${a.bytes} | ${a.backupTime} (${a.backupTimeFrom}) | ${cell(sse)} |`,
    );
  }
  lines.push("", "## Checks", "", "| check | result | detail |", "|---|---|---|");
  for (const c of r.checks)
    lines.push(`| ${c.name} | ${c.ok ? "ok" : "FAILED"} | ${cell(c.detail)} |`);
  lines.push(
    "",
    `Evidence record: ${r.evidence ?? "—"}. Metrics: ${r.metrics ?? "not published"}.`,
    "",
  );
  return lines.join("\n");
}

/** Writes `<id>.json` and `<id>.md`; returns their paths. */
export function writeReportPair(
  dir: string,
  id: string,
  json: unknown,
  markdown: string,
): { json: string; markdown: string } {
  mkdirSync(dir, { recursive: true });
  const jsonFile = path.join(dir, `${id}.json`);
  const mdFile = path.join(dir, `${id}.md`);
  writeFileSync(jsonFile, JSON.stringify(json, null, 2) + "\n");
  writeFileSync(mdFile, markdown);
  return { json: jsonFile, markdown: mdFile };
}

export function writeDrillReports(dir: string, r: DrillReport): { json: string; markdown: string } {
  const files = { json: path.join(dir, `${r.id}.json`), markdown: path.join(dir, `${r.id}.md`) };
  const withPaths = { ...r, reports: files };
  return writeReportPair(dir, r.id, withPaths, renderDrillMarkdown(withPaths));
}

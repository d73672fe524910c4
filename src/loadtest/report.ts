/**
 * Reports of a run: JSON (everything), a self-contained HTML page (inline CSS and SVG charts,
 * no external assets), a Markdown summary and the Prometheus text metrics, written side by side
 * as `<dir>/<stage>-<scenario>-<time>.{json,html,md,prom}`.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { StageName } from "../config/stages.js";
import type { BaselineEntry } from "./baseline.js";
import { fmt, type Verdict } from "./compare.js";
import { renderPrometheus } from "./metrics.js";
import { metricValue, type RunResult, type TimelinePoint } from "./runner.js";
import type { MetricName } from "./thresholds.js";

export const DEFAULT_REPORT_DIR = "load-test/reports";

export interface LoadTestReport {
  kind: "goldengoose.loadtest.report/v1";
  stage: StageName;
  scenario: string;
  description: string;
  config: { file: string; sha256: string };
  baseline?: { file: string; savedAt: string; target: string; metrics: BaselineEntry["metrics"] };
  result: RunResult;
  verdict: Verdict;
}

export interface ReportFiles {
  json: string;
  html: string;
  markdown: string;
  prometheus: string;
}

/** Writes the four report files; returns their paths. */
export function writeReports(dir: string, report: LoadTestReport): ReportFiles {
  mkdirSync(dir, { recursive: true });
  const stamp = report.result.finishedAt.replace(/[:.]/g, "-");
  const base = join(dir, `${report.stage}-${report.scenario}-${stamp}`);
  const files: ReportFiles = {
    json: `${base}.json`,
    html: `${base}.html`,
    markdown: `${base}.md`,
    prometheus: `${base}.prom`,
  };
  writeFileSync(files.json, JSON.stringify(report, null, 2) + "\n");
  writeFileSync(files.html, renderHtml(report));
  writeFileSync(files.markdown, renderMarkdown(report));
  writeFileSync(files.prometheus, renderPrometheus(report.stage, report.result, report.verdict));
  return files;
}

const SUMMARY_METRICS: MetricName[] = [
  "p50",
  "p90",
  "p95",
  "p99",
  "p99_9",
  "mean",
  "max",
  "rps",
  "throughput",
  "requests",
  "errors",
  "non2xx",
  "timeouts",
];

function summaryRows(report: LoadTestReport): Array<[string, string, string, string]> {
  const m = report.result.metrics;
  const b = report.baseline?.metrics;
  return SUMMARY_METRICS.map((k) => {
    const v = metricValue(m, k);
    const bv = b ? metricValue(b, k) : undefined;
    const change =
      bv !== undefined && bv !== 0
        ? `${v >= bv ? "+" : ""}${((100 * (v - bv)) / bv).toFixed(1)}%`
        : "";
    return [k, fmt(k, v), bv !== undefined ? fmt(k, bv) : "", change];
  });
}

// ------------------------------------------------------------------------------- Markdown

export function renderMarkdown(r: LoadTestReport): string {
  const v = r.verdict;
  const lines: string[] = [];
  lines.push(
    `# Load test ${r.scenario} on ${r.stage}: ${v.verdict.toUpperCase()} (score ${v.score})`,
    "",
  );
  lines.push(`- target: ${r.result.target}`);
  lines.push(
    `- run: ${r.result.startedAt} → ${r.result.finishedAt} (${r.result.metrics.durationSeconds}s)`,
  );
  lines.push(
    `- load: ${phaseText(r.result)}; pipelining ${r.result.parameters.pipelining}; timeout ${r.result.parameters.timeoutSeconds}s`,
  );
  lines.push(
    `- baseline: ${r.baseline ? `${r.baseline.file} (saved ${r.baseline.savedAt})` : "none"}`,
  );
  lines.push(`- config: ${r.config.file} (sha256 ${r.config.sha256.slice(0, 12)})`);
  if (r.result.aborted)
    lines.push(`- **aborted** after ${r.result.aborted.atSeconds}s: ${r.result.aborted.reason}`);
  lines.push(
    "",
    "## Figures",
    "",
    "| metric | this run | baseline | change |",
    "|---|---:|---:|---:|",
  );
  for (const row of summaryRows(r)) lines.push(`| ${row.map(md).join(" | ")} |`);
  lines.push(
    "",
    "## Criteria",
    "",
    "| kind | criterion | actual | baseline | pass limit | warn limit | weight | key | status |",
    "|---|---|---:|---:|---:|---:|---:|---|---|",
  );
  for (const c of v.criteria) {
    lines.push(
      `| ${[
        c.kind,
        c.name,
        fmt(c.metric, c.actual),
        c.baseline !== undefined ? fmt(c.metric, c.baseline) : "",
        fmt(c.metric, c.limit),
        c.warnLimit !== undefined ? fmt(c.metric, c.warnLimit) : "",
        String(c.weight),
        c.key ? "yes" : "",
        c.status.toUpperCase(),
      ]
        .map(md)
        .join(" | ")} |`,
    );
  }
  lines.push("", "## Reasons", "");
  for (const reason of v.reasons) lines.push(`- ${md(reason)}`);
  lines.push(
    "",
    `Latency percentiles are computed by goose from every response (1% bucket precision); tool: ${r.result.tool.name} ${r.result.tool.version}, Node ${r.result.tool.node}.`,
    "",
  );
  return lines.join("\n");
}

function md(s: string): string {
  return s.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

function phaseText(run: RunResult): string {
  return run.parameters.phases
    .map(
      (p) =>
        `${p.connections} connections for ${p.durationSeconds !== undefined ? `${p.durationSeconds}s` : `${p.requests} requests`}${p.rate ? ` at ${p.rate} req/s` : ""}`,
    )
    .join(", then ");
}

// ----------------------------------------------------------------------------------- HTML

export function renderHtml(r: LoadTestReport): string {
  const v = r.verdict;
  const colour = v.verdict === "pass" ? "#1a7f37" : v.verdict === "warn" ? "#9a6700" : "#cf222e";
  const rows = summaryRows(r)
    .map(
      (row) =>
        `<tr>${row.map((c, i) => `<td${i ? ' class="n"' : ""}>${esc(c)}</td>`).join("")}</tr>`,
    )
    .join("\n");
  const criteria = v.criteria
    .map(
      (c) =>
        `<tr class="${c.status}"><td>${esc(c.kind)}</td><td>${esc(c.name)}</td><td class="n">${esc(fmt(c.metric, c.actual))}</td>` +
        `<td class="n">${c.baseline !== undefined ? esc(fmt(c.metric, c.baseline)) : ""}</td><td class="n">${esc(fmt(c.metric, c.limit))}</td>` +
        `<td class="n">${c.warnLimit !== undefined ? esc(fmt(c.metric, c.warnLimit)) : ""}</td><td class="n">${c.weight}</td>` +
        `<td>${c.key ? "yes" : ""}</td><td><b>${c.status.toUpperCase()}</b></td></tr>`,
    )
    .join("\n");
  const tl = r.result.timeline;
  const baselineP99 = r.baseline?.metrics.latencyMs.p99;
  const latencyChart = lineChart({
    id: "latency-chart",
    title: "Latency per second (ms)",
    points: tl,
    series: [
      { label: "p50", colour: "#0969da", value: (p) => p.p50 },
      { label: "p90", colour: "#8250df", value: (p) => p.p90 },
      { label: "p99", colour: "#cf222e", value: (p) => p.p99 },
    ],
    ...(baselineP99 !== undefined
      ? { reference: { label: `baseline p99 ${fmt("p99", baselineP99)}`, value: baselineP99 } }
      : {}),
  });
  const rpsChart = lineChart({
    id: "rps-chart",
    title: "Responses per second",
    points: tl,
    series: [{ label: "req/s", colour: "#1a7f37", value: (p) => p.rps }],
  });
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8" />
<title>${esc(`Load test ${r.scenario} on ${r.stage}: ${v.verdict}`)}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 980px; color: #1f2328; }
h1 .verdict { color: ${colour}; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
td, th { border: 1px solid #d0d7de; padding: 3px 8px; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.fail td { background: #ffebe9; } tr.warn td { background: #fff8c5; }
svg text { font: 11px system-ui, sans-serif; fill: #57606a; }
</style>
</head>
<body>
<h1>Load test <code>${esc(r.scenario)}</code> on <code>${esc(r.stage)}</code>: <span class="verdict">${v.verdict.toUpperCase()}</span> (score ${v.score})</h1>
<p>${esc(r.description)}</p>
<ul>
<li>Target: <code>${esc(r.result.target)}</code></li>
<li>Run: ${esc(r.result.startedAt)} → ${esc(r.result.finishedAt)} (${r.result.metrics.durationSeconds}s)</li>
<li>Load: ${esc(phaseText(r.result))}; pipelining ${r.result.parameters.pipelining}; timeout ${r.result.parameters.timeoutSeconds}s</li>
<li>Baseline: ${r.baseline ? `<code>${esc(r.baseline.file)}</code> (saved ${esc(r.baseline.savedAt)}, target <code>${esc(r.baseline.target)}</code>)` : "none"}</li>
<li>Config: <code>${esc(r.config.file)}</code> (sha256 ${esc(r.config.sha256.slice(0, 12))})</li>
${r.result.aborted ? `<li><b>Aborted</b> after ${r.result.aborted.atSeconds}s: ${esc(r.result.aborted.reason)}</li>` : ""}
</ul>
<h2>Latency</h2>
${latencyChart}
<h2>Throughput</h2>
${rpsChart}
<h2>Comparison</h2>
<table id="comparison">
<thead><tr><th>kind</th><th>criterion</th><th>actual</th><th>baseline</th><th>pass limit</th><th>warn limit</th><th>weight</th><th>key</th><th>status</th></tr></thead>
<tbody>
${criteria}
</tbody>
</table>
<h2>Figures</h2>
<table id="figures">
<thead><tr><th>metric</th><th>this run</th><th>baseline</th><th>change</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
<h2>Reasons</h2>
<ul>
${v.reasons.map((x) => `<li>${esc(x)}</li>`).join("\n")}
</ul>
<p><small>Latency percentiles are computed from every response (1% bucket precision). Tool: ${esc(r.result.tool.name)} ${esc(r.result.tool.version)}, Node ${esc(r.result.tool.node)}.</small></p>
</body>
</html>
`;
}

interface ChartSpec {
  id: string;
  title: string;
  points: TimelinePoint[];
  series: Array<{ label: string; colour: string; value: (p: TimelinePoint) => number }>;
  reference?: { label: string; value: number };
}

/** An inline SVG line chart: x = seconds since start, y from 0 to a rounded maximum. */
export function lineChart(spec: ChartSpec): string {
  const W = 760;
  const H = 280;
  const L = 60;
  const R = 130;
  const T = 24;
  const B = 36;
  const pw = W - L - R;
  const ph = H - T - B;
  const xs = spec.points.map((p) => p.t);
  const maxX = Math.max(1, ...xs);
  const ys = spec.points.flatMap((p) => spec.series.map((s) => s.value(p)));
  if (spec.reference) ys.push(spec.reference.value);
  const maxY = niceCeil(Math.max(1e-3, ...ys) * 1.1);
  const x = (t: number) => L + (pw * t) / maxX;
  const y = (v: number) => T + ph - (ph * v) / maxY;
  const parts: string[] = [];
  parts.push(
    `<svg id="${spec.id}" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(spec.title)}">`,
  );
  parts.push(`<title>${esc(spec.title)}</title>`);
  parts.push(
    `<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="#fff" stroke="#d0d7de" />`,
  );
  for (let i = 0; i <= 4; i++) {
    const v = (maxY * i) / 4;
    const yy = y(v).toFixed(1);
    parts.push(`<line x1="${L}" y1="${yy}" x2="${L + pw}" y2="${yy}" stroke="#eaeef2" />`);
    parts.push(
      `<text x="${L - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle">${esc(short(v))}</text>`,
    );
  }
  for (let i = 0; i <= 5; i++) {
    const t = (maxX * i) / 5;
    parts.push(
      `<text x="${x(t).toFixed(1)}" y="${T + ph + 16}" text-anchor="middle">${esc(short(t))}s</text>`,
    );
  }
  parts.push(`<text x="${L}" y="14">${esc(spec.title)}</text>`);
  if (spec.reference) {
    const yy = y(spec.reference.value).toFixed(1);
    parts.push(
      `<line x1="${L}" y1="${yy}" x2="${L + pw}" y2="${yy}" stroke="#57606a" stroke-dasharray="6 4" />`,
    );
  }
  spec.series.forEach((s, i) => {
    const pts = spec.points
      .map((p) => `${x(p.t).toFixed(1)},${y(s.value(p)).toFixed(1)}`)
      .join(" ");
    parts.push(
      `<polyline class="series" data-series="${esc(s.label)}" fill="none" stroke="${s.colour}" stroke-width="2" points="${pts}" />`,
    );
    for (const p of spec.points)
      parts.push(
        `<circle cx="${x(p.t).toFixed(1)}" cy="${y(s.value(p)).toFixed(1)}" r="2" fill="${s.colour}" />`,
      );
    parts.push(
      `<rect x="${L + pw + 12}" y="${T + 6 + i * 18}" width="12" height="3" fill="${s.colour}" />`,
    );
    parts.push(`<text x="${L + pw + 30}" y="${T + 10 + i * 18}">${esc(s.label)}</text>`);
  });
  if (spec.reference) {
    const i = spec.series.length;
    parts.push(
      `<line x1="${L + pw + 12}" y1="${T + 8 + i * 18}" x2="${L + pw + 24}" y2="${T + 8 + i * 18}" stroke="#57606a" stroke-dasharray="3 2" />`,
    );
    parts.push(
      `<text x="${L + pw + 30}" y="${T + 10 + i * 18}">${esc(spec.reference.label)}</text>`,
    );
  }
  parts.push(`</svg>`);
  return parts.join("\n");
}

function niceCeil(v: number): number {
  const exp = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * exp >= v) return m * exp;
  return 10 * exp;
}

function short(v: number): string {
  if (v >= 1000) return `${Math.round(v / 100) / 10}k`;
  if (v >= 10) return String(Math.round(v));
  return String(Math.round(v * 100) / 100);
}

export function esc(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );
}

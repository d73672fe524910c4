/**
 * RESTORE DRILL (`goose dr drill <stage>`): proves the stage's data backups restore.
 *
 * Steps; a failed check is recorded and the drill goes on with what is independent of it, so one
 * run names every problem:
 *  1. fetch       the newest archive of each component (--archive files, the backup volume's
 *                 folder, or the S3 bucket through the SDK), its sha256; S3: the object's
 *                 SSE-KMS header (and key, when known)
 *  2. integrity   each archive lists completely with tar (a truncated archive fails here) and
 *                 holds what the layout says (src/backup/archive-layout.ts)
 *  3. prometheus  extract; start the real `prometheus` on a copy, on loopback; the first answered
 *                 query ends the recovery time (RTO, from the start of step 1); series count,
 *                 newest sample (RPO = backup time − newest sample), the `stage` label of the
 *                 series (an archive of another stage fails), the self-scrape series present
 *  4. grafana     extract; PRAGMA integrity_check; the provisioned dashboards and datasource
 *  5. objectives  RPO and RTO within the stage's `recovery` objectives (Pulumi.<stage>.yaml)
 *  6. record      JSON + Markdown report (load-test/reports/dr/), evidence record `dr.drill`,
 *                 drill state in the store (for the promotion gate) and `goldengoose_dr_*` metrics
 *
 * Missing backup sets or binaries throw InputError (exit 2) before anything is judged.
 */
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { GRAFANA_DB_PATH, PROMETHEUS_SNAPSHOT_DIR } from "../../backup/archive-layout.js";
import { serviceUrl } from "../../components/names.js";
import type { StageConfig } from "../../config/schema.js";
import type { StageName } from "../../config/stages.js";
import { MONITORING_PATHS } from "../../monitoring/files.js";
import type { MetricsTarget } from "../../monitoring/publish.js";
import type { ObjectStore } from "../../store/types.js";
import { checkSet, describeSource, fetchSets, type ArchiveSource } from "./archives.js";
import { checkGrafanaDb } from "./grafana-check.js";
import { findBinary } from "./processes.js";
import { instantQuery, readBlocks, startRestoredPrometheus } from "./prometheus-restore.js";
import {
  DRILL_REPORT_KIND,
  writeDrillReports,
  type DrillCheck,
  type DrillReport,
} from "./report.js";

export { DRILL_REPORT_KIND, type DrillCheck, type DrillReport } from "./report.js";
import { recordAndPublishDrill, type DrillOutcome } from "./state.js";

export interface DrillEvidence {
  append(input: {
    kind: string;
    stage?: StageName;
    subject: Array<{ name: string; digest: Record<string, string> }>;
    data: Record<string, unknown>;
  }): Promise<{ id: string }>;
}

export interface DrillOptions {
  stage: StageName;
  /** The stage's validated config (objectives, namespace for the datasource URL). */
  config: StageConfig;
  /** The repository: monitoring/grafana/dashboards (the expected dashboards). */
  repoRoot: string;
  env: NodeJS.ProcessEnv;
  source: ArchiveSource;
  store: ObjectStore;
  evidence: DrillEvidence;
  /** Where the JSON and Markdown reports go (default <repoRoot>/load-test/reports/dr). */
  reportDir?: string;
  metrics: MetricsTarget;
  /** Scratch folder (default a new temp folder, removed afterwards unless keepWorkDir). */
  workDir?: string;
  keepWorkDir?: boolean;
  /** How long the restored Prometheus may take to become ready (default: the RTO objective). */
  startTimeoutMs?: number;
  onCheck?: (c: DrillCheck) => void;
  now?: () => Date;
}

const round = (n: number) => Math.round(n * 1000) / 1000;

/** Dashboard uids the stage provisions (monitoring/grafana/dashboards/*.json). */
export function provisionedDashboardUids(repoRoot: string): string[] {
  const dir = path.join(repoRoot, MONITORING_PATHS.dashboards);
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => (JSON.parse(readFileSync(path.join(dir, f), "utf8")) as { uid?: string }).uid)
    .filter((u): u is string => typeof u === "string")
    .sort();
}

export async function runRestoreDrill(opts: DrillOptions): Promise<DrillReport> {
  const now = opts.now ?? (() => new Date());
  const { stage, config } = opts;
  const objectives = { ...config.recovery };
  // Prerequisites first: a missing binary is exit 2 before anything is fetched.
  const promBin = findBinary("prometheus", opts.env);
  const expectedDashboards = provisionedDashboardUids(opts.repoRoot);

  const started = now();
  const id = `drill-${stage}-${started
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z")}-${randomBytes(3).toString("hex")}`;
  const workDir = opts.workDir ?? mkdtempSync(path.join(os.tmpdir(), "goose-dr-"));
  mkdirSync(workDir, { recursive: true });
  const report: DrillReport = {
    kind: DRILL_REPORT_KIND,
    id,
    stage,
    result: "fail",
    startedAt: started.toISOString(),
    finishedAt: started.toISOString(),
    source: describeSource(opts.source),
    objectives,
    archives: [],
    checks: [],
    failures: [],
  };
  const check = (name: string, ok: boolean, detail: string) => {
    const c = { name, ok, detail };
    report.checks.push(c);
    if (!ok) report.failures.push(`${name}: ${detail}`);
    opts.onCheck?.(c);
    return ok;
  };

  const servers: Array<{ stop(): Promise<void> }> = [];
  try {
    // 1. fetch
    const t0 = performance.now();
    report.archives = await fetchSets(opts.source, opts.env, workDir);
    const fetchSeconds = (performance.now() - t0) / 1000;
    for (const a of report.archives) {
      check(
        `fetch:${a.component}`,
        true,
        `set ${a.id} from ${a.source} (${a.files} files, ${a.bytes} bytes)`,
      );
      if (opts.source.kind === "s3") {
        const objects = a.sse ?? [];
        const plain = objects.filter((o) => o.algorithm !== "aws:kms");
        const want = opts.source.kmsKeyId;
        const otherKey = want
          ? objects.filter((o) => o.algorithm === "aws:kms" && o.kmsKeyId !== want)
          : [];
        check(
          `sse-kms:${a.component}`,
          objects.length > 0 && plain.length === 0 && otherKey.length === 0,
          plain.length > 0
            ? `${plain.length} of ${objects.length} object(s) are stored ${plain[0]!.algorithm ? `with server-side encryption ${plain[0]!.algorithm}` : "with no server-side encryption header"}, not aws:kms (first: s3://${opts.source.bucket}/${plain[0]!.key}): the bucket's default encryption or the agent's --sse aws:kms is missing`
            : otherKey.length > 0
              ? `${otherKey.length} object(s) are encrypted with KMS key ${otherKey[0]!.kmsKeyId ?? "(none reported)"}, not the stage's ${want}`
              : `${objects.length} object(s), all aws:kms${want ? ` with ${want}` : ""}`,
        );
      }
    }
    const byComponent = new Map(report.archives.map((a) => [a.component, a]));

    // 2. integrity: the manifest, every file's size and SHA-256, component and stage
    const intact = new Map<string, boolean>();
    for (const a of report.archives) {
      const c = await checkSet(a, stage);
      intact.set(a.component, c.problems.length === 0);
      check(
        `integrity:${a.component}`,
        c.problems.length === 0,
        c.problems.length === 0
          ? `${c.manifest!.files.length} files match the manifest (stage ${c.manifest!.stage}, captured ${c.manifest!.createdAt})`
          : `${a.source}: ${c.problems.slice(0, 5).join("; ")}${c.problems.length > 5 ? `; and ${c.problems.length - 5} more` : ""}`,
      );
    }

    // 3. prometheus
    const prom = byComponent.get("prometheus");
    if (prom && intact.get("prometheus")) {
      const restored = path.join(prom.dir, PROMETHEUS_SNAPSHOT_DIR);
      const blocks = readBlocks(restored);
      report.prometheus = { blocks: blocks.length, fetchSeconds: round(fetchSeconds) };
      if (
        check("prometheus-blocks", blocks.length > 0, `${blocks.length} TSDB block(s) restored`)
      ) {
        const newestMs = Math.max(...blocks.map((b) => b.maxTime)) - 1;
        const oldestMs = Math.min(...blocks.map((b) => b.minTime));
        report.prometheus.oldestSample = new Date(oldestMs).toISOString();
        let started: Awaited<ReturnType<typeof startRestoredPrometheus>> | undefined;
        try {
          started = await startRestoredPrometheus({
            bin: promBin,
            restoredDir: restored,
            dataDir: path.join(workDir, "prometheus-data"),
            workDir,
            blocks,
            now: now(),
            timeoutMs: opts.startTimeoutMs ?? objectives.rtoSeconds * 1000,
          });
          servers.push(started.server);
          check("prometheus-start", true, `ready at ${started.server.url}`);
        } catch (err) {
          check("prometheus-start", false, (err as Error).message);
        }
        if (started) {
          const url = started.server.url;
          const at = newestMs / 1000;
          const counted = await instantQuery(url, 'count({__name__=~".+"})', at);
          const rto = (performance.now() - t0) / 1000;
          report.rtoSeconds = round(rto);
          report.prometheus.startSeconds = round(started.startSeconds);
          report.prometheus.firstQuerySeconds = round(rto);
          const series = counted[0]?.value ?? 0;
          report.prometheus.series = series;
          check(
            "prometheus-series",
            series > 0,
            `${series} series answered at the newest block's end`,
          );
          // timestamp() drops the metric name; keep it in a label so series stay distinct.
          const newest = await instantQuery(
            url,
            'max(timestamp(label_replace({__name__=~".+"}, "goose_metric", "$1", "__name__", "(.+)")))',
            at,
          );
          const newestSec = newest[0]?.value;
          if (newestSec !== undefined && Number.isFinite(newestSec)) {
            report.prometheus.newestSample = new Date(newestSec * 1000).toISOString();
            report.rpoSeconds = round(Math.max(0, Date.parse(prom.backupTime) / 1000 - newestSec));
          }
          const stages = await instantQuery(url, 'count by (stage) ({__name__=~".+"})', at);
          report.prometheus.stages = Object.fromEntries(
            stages.map((s) => [s.metric["stage"] ?? "", s.value]),
          );
          const others = Object.keys(report.prometheus.stages).filter((s) => s !== stage);
          check(
            "prometheus-stage",
            (report.prometheus.stages[stage] ?? 0) > 0 && others.length === 0,
            others.length === 0 && report.prometheus.stages[stage]
              ? `every series carries stage="${stage}"`
              : `the archive holds series of stage ${others.map((s) => (s ? `"${s}"` : "(no stage label)")).join(", ")}${report.prometheus.stages[stage] ? ` besides ${stage}` : `, not ${stage}`}: an archive of another stage`,
          );
          const self = await instantQuery(url, `count(up{job="prometheus",stage="${stage}"})`, at);
          check(
            "prometheus-self-scrape",
            (self[0]?.value ?? 0) > 0,
            (self[0]?.value ?? 0) > 0
              ? `up{job="prometheus",stage="${stage}"} restored`
              : `up{job="prometheus",stage="${stage}"} is not in the restored data`,
          );
        }
      }
    } else if (prom) {
      report.prometheus = { blocks: 0 };
    }

    // 4. grafana
    const graf = byComponent.get("grafana");
    if (graf && intact.get("grafana")) {
      // SQLite may write beside the file even read-only (journal): check a copy.
      const dir = path.join(workDir, "grafana-restored");
      mkdirSync(dir, { recursive: true });
      copyFileSync(
        path.join(graf.dir, ...GRAFANA_DB_PATH.split("/")),
        path.join(dir, "grafana.db"),
      );
      const g = await checkGrafanaDb(path.join(dir, "grafana.db"), {
        dashboards: expectedDashboards,
        datasourceUrl: serviceUrl(config, "prometheus"),
      });
      report.grafana = g;
      check(
        "grafana-integrity",
        g.integrity.length === 1 && g.integrity[0] === "ok",
        `PRAGMA integrity_check: ${g.integrity.slice(0, 3).join("; ") || g.problems[0]}`,
      );
      if (g.integrity[0] === "ok") {
        check(
          "grafana-dashboards",
          g.dashboards.missing.length === 0 && !g.problems.some((p) => p.includes("dashboard")),
          g.dashboards.missing.length === 0
            ? `${g.dashboards.expected.length} provisioned dashboard(s) present`
            : `missing: ${g.dashboards.missing.join(", ")}`,
        );
        const dsProblems = g.problems.filter((p) => /datasource|data_source/.test(p));
        check(
          "grafana-datasource",
          dsProblems.length === 0,
          dsProblems.length === 0
            ? `datasource prometheus → ${g.datasource?.url}`
            : dsProblems.join("; "),
        );
      }
    }

    // 5. objectives
    if (report.rpoSeconds !== undefined) {
      check(
        "rpo",
        report.rpoSeconds <= objectives.rpoSeconds,
        `${report.rpoSeconds} s behind the backup time (objective ${objectives.rpoSeconds} s, golden-goose:recovery.rpoSeconds)`,
      );
    }
    if (report.rtoSeconds !== undefined) {
      check(
        "rto",
        report.rtoSeconds <= objectives.rtoSeconds,
        `${report.rtoSeconds} s from the start of the restore to the first answered query (objective ${objectives.rtoSeconds} s, golden-goose:recovery.rtoSeconds)`,
      );
    }
    if (report.rpoSeconds === undefined && report.failures.length === 0) {
      check("rpo", false, "no recovery point could be measured");
    }
  } finally {
    for (const s of servers) await s.stop().catch(() => undefined);
    if (!opts.keepWorkDir && !opts.workDir) rmSync(workDir, { recursive: true, force: true });
  }

  // 6. record
  report.result = report.failures.length === 0 ? "pass" : "fail";
  report.finishedAt = now().toISOString();
  const ev = await opts.evidence.append({
    kind: "dr.drill",
    stage,
    subject: report.archives
      .filter((a) => a.manifestSha256)
      .map((a) => ({
        name: `backup:${a.component}/${a.id}/manifest.json`,
        digest: { sha256: a.manifestSha256! },
      })),
    data: {
      id,
      result: report.result,
      rpoSeconds: report.rpoSeconds,
      rtoSeconds: report.rtoSeconds,
      series: report.prometheus?.series,
      objectives,
      failures: report.failures,
    },
  });
  report.evidence = ev.id;
  const outcome: DrillOutcome = {
    id,
    at: report.finishedAt,
    passed: report.result === "pass",
    objectives,
    evidence: ev.id,
    ...(report.rpoSeconds !== undefined ? { rpoSeconds: report.rpoSeconds } : {}),
    ...(report.rtoSeconds !== undefined ? { rtoSeconds: report.rtoSeconds } : {}),
    ...(report.prometheus?.series !== undefined
      ? { restoredSeries: report.prometheus.series }
      : {}),
  };
  Object.assign(
    report,
    await recordAndPublishDrill(opts.store, stage, "restore", outcome, opts.metrics),
  );
  report.reports = writeDrillReports(
    opts.reportDir ?? path.join(opts.repoRoot, "load-test/reports/dr"),
    report,
  );
  return report;
}

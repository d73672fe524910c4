/**
 * `goose dr drill` end to end with real parts: a TSDB snapshot of a real Prometheus, archived as
 * the backup job archives it, restored into a fresh real Prometheus on loopback; Grafana's SQLite
 * database checked with SQLite; the S3 path through the SDK against s3rver (behind a proxy that
 * keeps the SSE headers, as S3 does), uploaded with the real `aws` CLI exactly as the job does.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, statSync, truncateSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { archiveKey, formatArchiveTimestamp } from "../../../src/backup/archive-layout.js";
import { runGoose } from "../../helpers/cli.js";
import { startPushgateway } from "../../helpers/pushgateway.js";
import { startSseProxy } from "../../helpers/s3-sse-proxy.js";
import { startS3rver, type RunningS3 } from "../../store/s3rver.js";
import { runCommand } from "../../../src/workflows/dr/processes.js";
import { archiveAsTheJobDoes, grafanaDb, prometheusSnapshot, REPO_ROOT, tmp } from "./fixtures.js";

interface Report {
  kind: string;
  result: string;
  rpoSeconds?: number;
  rtoSeconds?: number;
  prometheus?: { series?: number; stages?: Record<string, number>; blocks: number };
  grafana?: { integrity: string[]; dashboards: { missing: string[] } };
  checks: Array<{ name: string; ok: boolean; detail: string }>;
  failures: string[];
  reports: { json: string; markdown: string };
  evidence: string;
  metrics: string;
}

let snapshot: { dir: string; takenAt: Date };
let grafanaDir: string;
const work = tmp("dr-drill");
const env = {
  PATH: process.env.PATH,
  GOOSE_EVIDENCE_KEY_FILE: path.join(work, "evidence.pem"),
};
const common = [
  "--store",
  `file://${path.join(work, "store")}`,
  "--report-dir",
  path.join(work, "reports"),
  "--metrics-dir",
  path.join(work, "metrics"),
  "--json",
];

function drill(args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  return runGoose(["dr", "drill", ...args, ...common], {
    cwd: REPO_ROOT,
    env: { ...env, ...extraEnv },
  });
}

function failed(r: Report): string[] {
  return r.checks.filter((c) => !c.ok).map((c) => c.name);
}

beforeAll(async () => {
  snapshot = await prometheusSnapshot("compliance");
  grafanaDir = await grafanaDb("compliance");
}, 60_000);

describe("goose dr drill (restore drill)", () => {
  it("restores the job's archives into a real Prometheus, finds the series and passes", async () => {
    const root = tmp("dr-archives");
    const files = archiveAsTheJobDoes(root, snapshot.dir, grafanaDir, snapshot.takenAt);
    const r = await drill([
      "compliance",
      "--archive",
      files.prometheus,
      "--archive",
      files.grafana,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout) as Report;
    expect(rep.kind).toBe("goldengoose.dr.drill/v1");
    expect(rep.result).toBe("pass");
    expect(rep.prometheus?.series).toBeGreaterThan(10);
    expect(rep.prometheus?.stages).toEqual({ compliance: rep.prometheus?.series });
    expect(rep.checks.find((c) => c.name === "prometheus-self-scrape")?.ok).toBe(true);
    expect(rep.grafana?.integrity).toEqual(["ok"]);
    expect(rep.rpoSeconds).toBeGreaterThanOrEqual(0);
    expect(rep.rpoSeconds).toBeLessThan(1800);
    expect(rep.rtoSeconds).toBeGreaterThan(0);
    // reports, evidence, metrics and the state the promotion gate reads
    expect(JSON.parse(readFileSync(rep.reports.json, "utf8")).id).toBeDefined();
    expect(readFileSync(rep.reports.markdown, "utf8")).toMatch(/^# Restore drill .*: PASS/);
    expect(rep.evidence).toMatch(/^ev-/);
    const prom = readFileSync(rep.metrics, "utf8");
    expect(prom).toMatch(/goldengoose_dr_last_result\{stage="compliance",drill="restore"\} 1/);
    expect(prom).toMatch(/goldengoose_dr_rpo_seconds\{stage="compliance",drill="restore"\} /);
    const check = spawnSync("promtool", ["check", "metrics"], { input: prom });
    expect(check.status, check.stderr.toString() + check.stdout.toString()).toBe(0);
    const state = JSON.parse(
      readFileSync(path.join(work, "store", "dr", "compliance", "restore.json"), "utf8"),
    ) as { lastPass?: { id: string } };
    expect(state.lastPass?.id).toBeDefined();
  }, 120_000);

  it("reads the backup volume's folder (newest archive of each component)", async () => {
    const root = tmp("dr-volume");
    archiveAsTheJobDoes(
      root,
      snapshot.dir,
      grafanaDir,
      new Date(snapshot.takenAt.getTime() - 3600_000),
    );
    const newest = archiveAsTheJobDoes(root, snapshot.dir, grafanaDir, snapshot.takenAt);
    const r = await drill(["compliance", "--backup-dir", root]);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout) as Report & { archives: Array<{ source: string }> };
    expect(rep.archives.map((a) => a.source).sort()).toEqual(
      [newest.grafana, newest.prometheus].sort(),
    );
  }, 120_000);

  it("fails (exit 1) on a truncated archive, naming it and tar's complaint", async () => {
    const root = tmp("dr-trunc");
    const files = archiveAsTheJobDoes(root, snapshot.dir, grafanaDir, snapshot.takenAt);
    truncateSync(files.prometheus, Math.floor(statSync(files.prometheus).size / 2));
    const r = await drill([
      "compliance",
      "--archive",
      files.prometheus,
      "--archive",
      files.grafana,
    ]);
    expect(r.code, r.stderr).toBe(1);
    const rep = JSON.parse(r.stdout) as Report;
    expect(failed(rep)).toEqual(["integrity:prometheus"]);
    expect(rep.failures[0]).toMatch(
      new RegExp(`${files.prometheus} is damaged: .*(Unexpected EOF|unexpected end of file)`),
    );
    expect(readFileSync(rep.metrics, "utf8")).toMatch(/goldengoose_dr_last_result\{[^}]*\} 0/);
  }, 120_000);

  it("fails (exit 1) on an archive of another stage", async () => {
    const root = tmp("dr-other");
    const files = archiveAsTheJobDoes(root, snapshot.dir, grafanaDir, snapshot.takenAt);
    const r = await drill(["sandbox", "--archive", files.prometheus, "--archive", files.grafana]);
    expect(r.code, r.stderr).toBe(1);
    const rep = JSON.parse(r.stdout) as Report;
    expect(failed(rep)).toEqual(
      expect.arrayContaining(["prometheus-stage", "prometheus-self-scrape", "grafana-datasource"]),
    );
    expect(rep.failures.join("\n")).toMatch(
      /prometheus-stage: the archive holds series of stage "compliance", not sandbox: an archive of another stage/,
    );
  }, 120_000);

  it("fails (exit 1) when the recovery point is beyond the stage's objective", async () => {
    const root = tmp("dr-rpo");
    // Backed up two hours after its newest sample: a Prometheus that had stopped ingesting.
    const files = archiveAsTheJobDoes(
      root,
      snapshot.dir,
      grafanaDir,
      new Date(snapshot.takenAt.getTime() + 2 * 3600_000),
    );
    const r = await drill([
      "compliance",
      "--archive",
      files.prometheus,
      "--archive",
      files.grafana,
    ]);
    expect(r.code, r.stderr).toBe(1);
    const rep = JSON.parse(r.stdout) as Report;
    expect(failed(rep)).toEqual(["rpo"]);
    expect(rep.rpoSeconds).toBeGreaterThan(7000);
    expect(rep.failures[0]).toMatch(
      /^rpo: \d+(\.\d+)? s behind the backup time \(objective 1800 s, golden-goose:recovery.rpoSeconds\)/,
    );
  }, 120_000);

  it("fails (exit 1) when a provisioned dashboard is missing from Grafana's database", async () => {
    const root = tmp("dr-dash");
    const g = await grafanaDb("compliance", { dropDashboard: "gg-backups" });
    const files = archiveAsTheJobDoes(root, snapshot.dir, g, snapshot.takenAt);
    const r = await drill([
      "compliance",
      "--archive",
      files.prometheus,
      "--archive",
      files.grafana,
    ]);
    expect(r.code, r.stderr).toBe(1);
    expect(failed(JSON.parse(r.stdout) as Report)).toEqual(["grafana-dashboards"]);
  }, 120_000);

  it("exits 2 naming the fix when an archive or the prometheus binary is missing", async () => {
    const root = tmp("dr-missing");
    const files = archiveAsTheJobDoes(root, snapshot.dir, grafanaDir, snapshot.takenAt);
    const one = await drill(["compliance", "--archive", files.prometheus]);
    expect(one.code).toBe(2);
    expect(one.stderr).toMatch(/no grafana archive given: .*add --archive <dir>\/grafana\//);
    const none = await drill([
      "compliance",
      "--archive",
      path.join(root, "nope.tar.gz"),
      "--archive",
      files.grafana,
    ]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/archive .*nope\.tar\.gz not found/);
    const emptyDir = await drill(["sandbox", "--backup-dir", tmp("dr-empty")]);
    expect(emptyDir.code).toBe(2);
    expect(emptyDir.stderr).toMatch(/no prometheus archive in .*run the backup job first/);
    const noBin = await drill(
      ["compliance", "--archive", files.prometheus, "--archive", files.grafana],
      {
        PATH: "/nonexistent",
      },
    );
    expect(noBin.code).toBe(2);
    expect(noBin.stderr).toMatch(/tar is not installed .*apt-get install -y tar/);
    const tarDir = path.dirname(execFileSync("sh", ["-c", "command -v tar"]).toString().trim());
    const noProm = await drill(
      ["compliance", "--archive", files.prometheus, "--archive", files.grafana],
      {
        PATH: tarDir === "/usr/bin" ? tmpBinWithTar() : tarDir,
      },
    );
    expect(noProm.code).toBe(2);
    expect(noProm.stderr).toMatch(/prometheus is not installed .*apt-get install -y prometheus/);
    const s3 = await drill(["compliance", "--from-backup"]);
    expect(s3.code).toBe(2);
    expect(s3.stderr).toMatch(
      /pass --bucket "\$\(pulumi stack output backupBucket --stack compliance\)"/,
    );
  }, 120_000);
});

/** A PATH holding only tar (a link), for the missing-prometheus case. */
function tmpBinWithTar(): string {
  const dir = tmp("dr-bin");
  execFileSync("ln", [
    "-s",
    execFileSync("sh", ["-c", "command -v tar"]).toString().trim(),
    path.join(dir, "tar"),
  ]);
  return dir;
}

describe("goose dr drill --from-backup (S3 through the SDK)", () => {
  let s3: RunningS3;
  let proxy: { endpoint: string; close: () => Promise<void> };
  const KEY = "arn:aws:kms:eu-west-1:111111111111:key/0b5e1a7e-0000-4000-8000-000000000001";

  beforeAll(async () => {
    s3 = await startS3rver("goose-compliance-backups");
    proxy = await startSseProxy(s3.endpoint);
  });
  afterAll(async () => {
    await proxy?.close();
    await s3?.close();
  });

  /** `aws s3 cp` with the job's own flags (plus the loopback endpoint); async: s3rver runs here. */
  async function awsCp(file: string, key: string, sse: boolean) {
    const r = await runCommand(
      "aws",
      [
        "s3",
        "cp",
        file,
        `s3://${s3.bucket}/${key}`,
        ...(sse ? ["--sse", "aws:kms", "--sse-kms-key-id", KEY] : []),
        "--only-show-errors",
        "--endpoint-url",
        proxy.endpoint,
      ],
      { env: { ...process.env, ...s3.env, AWS_DEFAULT_REGION: "us-east-1" } },
    );
    expect(r.code, r.stderr).toBe(0);
  }

  it("downloads the newest archives, checks SSE-KMS and the key, restores and passes; pushes to a real Pushgateway", async () => {
    const root = tmp("dr-s3");
    const old = archiveAsTheJobDoes(
      root,
      snapshot.dir,
      grafanaDir,
      new Date(snapshot.takenAt.getTime() - 3600_000),
    );
    const files = archiveAsTheJobDoes(root, snapshot.dir, grafanaDir, snapshot.takenAt);
    const ts = formatArchiveTimestamp(snapshot.takenAt);
    const oldTs = formatArchiveTimestamp(new Date(snapshot.takenAt.getTime() - 3600_000));
    await awsCp(old.prometheus, archiveKey("prometheus", oldTs), true);
    await awsCp(old.grafana, archiveKey("grafana", oldTs), true);
    await awsCp(files.prometheus, archiveKey("prometheus", ts), true);
    await awsCp(files.grafana, archiveKey("grafana", ts), true);
    const pg = await startPushgateway();
    try {
      const s3env = { ...s3.env, GOOSE_S3_ENDPOINT: proxy.endpoint };
      const r = await drill(
        [
          "compliance",
          "--from-backup",
          "--bucket",
          s3.bucket,
          "--kms-key",
          KEY,
          "--pushgateway",
          pg.url,
        ],
        s3env,
      );
      expect(r.code, r.stderr).toBe(0);
      const rep = JSON.parse(r.stdout) as Report & {
        archives: Array<{ source: string; sse: unknown }>;
      };
      expect(rep.archives.map((a) => a.source).sort()).toEqual([
        `s3://${s3.bucket}/${archiveKey("grafana", ts)}`,
        `s3://${s3.bucket}/${archiveKey("prometheus", ts)}`,
      ]);
      expect(rep.archives[0]?.sse).toEqual({ algorithm: "aws:kms", kmsKeyId: KEY });
      expect(rep.checks.filter((c) => c.name.startsWith("sse-kms:")).every((c) => c.ok)).toBe(true);
      const scraped = await (await fetch(`${pg.url}/metrics`)).text();
      expect(scraped).toMatch(
        /goldengoose_dr_last_result\{drill="restore",instance="",job="goldengoose-dr",stage="compliance"\} 1/,
      );

      // Another key than the stage's: a failed check naming both.
      const wrong = await drill(
        ["compliance", "--from-backup", "--bucket", s3.bucket, "--kms-key", `${KEY}ff`],
        s3env,
      );
      expect(wrong.code).toBe(1);
      expect((JSON.parse(wrong.stdout) as Report).failures[0]).toMatch(
        /^sse-kms:prometheus: encrypted with KMS key .*, not the stage's .*ff/,
      );

      // A newer archive uploaded without --sse: the drill refuses it.
      const later = new Date(snapshot.takenAt.getTime() + 60_000);
      const plain = archiveAsTheJobDoes(tmp("dr-s3-plain"), snapshot.dir, grafanaDir, later);
      await awsCp(plain.prometheus, archiveKey("prometheus", formatArchiveTimestamp(later)), false);
      await awsCp(plain.grafana, archiveKey("grafana", formatArchiveTimestamp(later)), true);
      const unenc = await drill(["compliance", "--from-backup", "--bucket", s3.bucket], s3env);
      expect(unenc.code).toBe(1);
      expect((JSON.parse(unenc.stdout) as Report).failures).toEqual([
        expect.stringMatching(
          /^sse-kms:prometheus: .* is stored with no server-side encryption header, not aws:kms/,
        ),
      ]);
    } finally {
      pg.stop();
    }
  }, 180_000);
});

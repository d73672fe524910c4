/**
 * `goose dr drill` end to end with real parts: a TSDB snapshot of a real Prometheus, stored as a
 * backup set in the layout the agents write, restored into a fresh real Prometheus on loopback;
 * Grafana's SQLite database checked with SQLite; the S3 path through the SDK against s3rver
 * (behind a proxy that keeps the SSE headers, as S3 does), uploaded with the real `aws` CLI.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, statSync, truncateSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backupSetPrefix, MANIFEST_FILE } from "../../../src/backup/archive-layout.js";
import { runCommand } from "../../../src/workflows/dr/processes.js";
import { runGoose } from "../../helpers/cli.js";
import { startPushgateway } from "../../helpers/pushgateway.js";
import { startSseProxy } from "../../helpers/s3-sse-proxy.js";
import { startS3rver, type RunningS3 } from "../../store/s3rver.js";
import { backupSets, grafanaDb, prometheusSnapshot, REPO_ROOT, tmp } from "./fixtures.js";

interface Report {
  kind: string;
  result: string;
  rpoSeconds?: number;
  rtoSeconds?: number;
  prometheus?: { series?: number; stages?: Record<string, number>; blocks: number };
  grafana?: { integrity: string[]; dashboards: { missing: string[] } };
  archives: Array<{
    source: string;
    id: string;
    sse?: Array<{ algorithm?: string; kmsKeyId?: string }>;
  }>;
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

const failed = (r: Report) => r.checks.filter((c) => !c.ok).map((c) => c.name);
const hoursAgo = (h: number) => new Date(snapshot.takenAt.getTime() - h * 3600_000);

beforeAll(async () => {
  snapshot = await prometheusSnapshot("compliance");
  grafanaDir = await grafanaDb("compliance");
}, 60_000);

describe("goose dr drill (restore drill)", () => {
  it("restores the sets into a real Prometheus, finds the series and passes", async () => {
    const sets = backupSets(tmp("dr-sets"), snapshot.dir, grafanaDir, snapshot.takenAt);
    const r = await drill(["compliance", "--archive", sets.prometheus, "--archive", sets.grafana]);
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
    expect(JSON.parse(readFileSync(rep.reports.json, "utf8")).kind).toBe(rep.kind);
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

  it("takes the newest COMPLETE set of each component from the backup volume's folder", async () => {
    const root = tmp("dr-volume");
    backupSets(root, snapshot.dir, grafanaDir, hoursAgo(1));
    const newest = backupSets(root, snapshot.dir, grafanaDir, snapshot.takenAt);
    // A newer set whose upload never finished (no manifest) is never read.
    const partial = backupSets(tmp("dr-partial"), snapshot.dir, grafanaDir, hoursAgo(-1));
    execFileSync("cp", ["-r", partial.prometheus, path.join(root, "prometheus")]);
    rmSync(path.join(root, backupSetPrefix("prometheus", partial.id), MANIFEST_FILE));
    const r = await drill(["compliance", "--backup-dir", root]);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout) as Report;
    expect(rep.archives.map((a) => a.source).sort()).toEqual(
      [path.resolve(newest.grafana), path.resolve(newest.prometheus)].sort(),
    );
  }, 120_000);

  it("fails (exit 1) on a truncated file, naming it and the manifest's size", async () => {
    const sets = backupSets(tmp("dr-trunc"), snapshot.dir, grafanaDir, snapshot.takenAt);
    const snapDir = path.join(sets.prometheus, "snapshot");
    const block = readdirSync(snapDir).find((n) => /^[0-9A-Z]{26}$/.test(n))!;
    const index = path.join(snapDir, block, "index");
    const size = statSync(index).size;
    truncateSync(index, Math.floor(size / 2));
    const r = await drill(["compliance", "--archive", sets.prometheus, "--archive", sets.grafana]);
    expect(r.code, r.stderr).toBe(1);
    const rep = JSON.parse(r.stdout) as Report;
    expect(failed(rep)).toEqual(["integrity:prometheus"]);
    expect(rep.failures[0]).toContain(
      `snapshot/${block}/index has ${Math.floor(size / 2)} bytes, the manifest says ${size}`,
    );
    expect(readFileSync(rep.metrics, "utf8")).toMatch(/goldengoose_dr_last_result\{[^}]*\} 0/);
  }, 120_000);

  it("fails (exit 1) on sets of another stage: by the manifest, and by the data itself", async () => {
    const sets = backupSets(tmp("dr-other"), snapshot.dir, grafanaDir, snapshot.takenAt);
    const r = await drill(["sandbox", "--archive", sets.prometheus, "--archive", sets.grafana]);
    expect(r.code, r.stderr).toBe(1);
    const rep = JSON.parse(r.stdout) as Report;
    expect(failed(rep)).toEqual(["integrity:prometheus", "integrity:grafana"]);
    expect(rep.failures[0]).toMatch(
      /it was taken in stage compliance, not sandbox: a set of another stage/,
    );
    // A manifest that says sandbox over compliance's data (a misconfigured agent): the series
    // and the datasource give it away.
    const lying = backupSets(
      tmp("dr-lying"),
      snapshot.dir,
      grafanaDir,
      snapshot.takenAt,
      "sandbox",
    );
    const r2 = await drill(["sandbox", "--archive", lying.prometheus, "--archive", lying.grafana]);
    expect(r2.code, r2.stderr).toBe(1);
    const rep2 = JSON.parse(r2.stdout) as Report;
    expect(failed(rep2)).toEqual([
      "prometheus-stage",
      "prometheus-self-scrape",
      "grafana-datasource",
    ]);
    expect(rep2.failures[0]).toMatch(
      /prometheus-stage: the archive holds series of stage "compliance", not sandbox: an archive of another stage/,
    );
  }, 120_000);

  it("fails (exit 1) when the recovery point is beyond the stage's objective", async () => {
    // Captured two hours after its newest sample: a Prometheus that had stopped ingesting.
    const sets = backupSets(tmp("dr-rpo"), snapshot.dir, grafanaDir, hoursAgo(-2));
    const r = await drill(["compliance", "--archive", sets.prometheus, "--archive", sets.grafana]);
    expect(r.code, r.stderr).toBe(1);
    const rep = JSON.parse(r.stdout) as Report;
    expect(failed(rep)).toEqual(["rpo"]);
    expect(rep.rpoSeconds).toBeGreaterThan(7000);
    expect(rep.failures[0]).toMatch(
      /^rpo: \d+(\.\d+)? s behind the backup time \(objective 1800 s, golden-goose:recovery.rpoSeconds\)/,
    );
  }, 120_000);

  it("fails (exit 1) when a provisioned dashboard is missing from Grafana's database", async () => {
    const g = await grafanaDb("compliance", { dropDashboard: "gg-backups" });
    const sets = backupSets(tmp("dr-dash"), snapshot.dir, g, snapshot.takenAt);
    const r = await drill(["compliance", "--archive", sets.prometheus, "--archive", sets.grafana]);
    expect(r.code, r.stderr).toBe(1);
    const rep = JSON.parse(r.stdout) as Report;
    expect(failed(rep)).toEqual(["grafana-dashboards"]);
    expect(rep.failures[0]).toBe("grafana-dashboards: missing: gg-backups");
  }, 120_000);

  it("exits 2 naming the fix when a set or the prometheus binary is missing", async () => {
    const root = tmp("dr-missing");
    const sets = backupSets(root, snapshot.dir, grafanaDir, snapshot.takenAt);
    const one = await drill(["compliance", "--archive", sets.prometheus]);
    expect(one.code).toBe(2);
    expect(one.stderr).toMatch(/no grafana backup set given/);
    expect(one.stderr).toMatch(/add --archive <root>\/grafana\/<YYYYMMDDTHHMMSSZ>\//);
    const none = await drill([
      "compliance",
      "--archive",
      path.join(root, "nope"),
      "--archive",
      sets.grafana,
    ]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/backup set .*nope not found/);
    const emptyDir = await drill(["sandbox", "--backup-dir", tmp("dr-empty")]);
    expect(emptyDir.code).toBe(2);
    expect(emptyDir.stderr).toMatch(
      /no complete prometheus backup set in .*run the backup job first/s,
    );
    const noProm = await drill(
      ["compliance", "--archive", sets.prometheus, "--archive", sets.grafana],
      { PATH: "/nonexistent" },
    );
    expect(noProm.code).toBe(2);
    expect(noProm.stderr).toMatch(/prometheus is not installed .*apt-get install -y prometheus/s);
    const s3 = await drill(["compliance", "--from-backup"]);
    expect(s3.code).toBe(2);
    expect(s3.stderr).toMatch(
      /pass --bucket "\$\(pulumi stack output backupBucket --stack compliance\)"/,
    );
  }, 120_000);
});

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

  /** Uploads a set as an agent does: its files, then the manifest last (async: s3rver runs here). */
  async function upload(setDir: string, prefix: string, sse: boolean) {
    const aws = (args: string[]) =>
      runCommand(
        "aws",
        [
          "s3",
          "cp",
          ...args,
          ...(sse ? ["--sse", "aws:kms", "--sse-kms-key-id", KEY] : []),
          "--only-show-errors",
          "--endpoint-url",
          proxy.endpoint,
        ],
        { env: { ...process.env, ...s3.env, AWS_DEFAULT_REGION: "us-east-1" } },
      );
    const files = await aws([
      "--recursive",
      "--exclude",
      MANIFEST_FILE,
      setDir,
      `s3://${s3.bucket}/${prefix}`,
    ]);
    expect(files.code, files.stderr).toBe(0);
    const m = await aws([
      path.join(setDir, MANIFEST_FILE),
      `s3://${s3.bucket}/${prefix}${MANIFEST_FILE}`,
    ]);
    expect(m.code, m.stderr).toBe(0);
  }

  it("downloads the newest complete sets, checks SSE-KMS and the key, restores and passes; pushes to a real Pushgateway", async () => {
    const old = backupSets(tmp("dr-s3-old"), snapshot.dir, grafanaDir, hoursAgo(1));
    const sets = backupSets(tmp("dr-s3"), snapshot.dir, grafanaDir, snapshot.takenAt);
    for (const s of [old, sets]) {
      await upload(s.prometheus, backupSetPrefix("prometheus", s.id), true);
      await upload(s.grafana, backupSetPrefix("grafana", s.id), true);
    }
    const pg = await startPushgateway();
    try {
      const s3env = { ...s3.env, GOOSE_S3_ENDPOINT: proxy.endpoint };
      const from = ["compliance", "--from-backup", "--bucket", s3.bucket];
      const r = await drill([...from, "--kms-key", KEY, "--pushgateway", pg.url], s3env);
      expect(r.code, r.stderr).toBe(0);
      const rep = JSON.parse(r.stdout) as Report;
      expect(rep.archives.map((a) => a.source).sort()).toEqual([
        `s3://${s3.bucket}/${backupSetPrefix("grafana", sets.id)}`,
        `s3://${s3.bucket}/${backupSetPrefix("prometheus", sets.id)}`,
      ]);
      expect(rep.archives[0]?.sse?.[0]).toMatchObject({ algorithm: "aws:kms", kmsKeyId: KEY });
      expect(rep.checks.filter((c) => c.name.startsWith("sse-kms:")).every((c) => c.ok)).toBe(true);
      const scraped = await (await fetch(`${pg.url}/metrics`)).text();
      expect(scraped).toMatch(
        /goldengoose_dr_last_result\{drill="restore",instance="",job="goldengoose-dr",stage="compliance"\} 1/,
      );

      // Another key than the stage's: a failed check naming both.
      const wrong = await drill([...from, "--kms-key", `${KEY}ff`], s3env);
      expect(wrong.code).toBe(1);
      expect((JSON.parse(wrong.stdout) as Report).failures[0]).toMatch(
        /^sse-kms:prometheus: \d+ object\(s\) are encrypted with KMS key .*, not the stage's .*ff/,
      );

      // A newer prometheus set uploaded without --sse: the drill refuses it.
      const plain = backupSets(tmp("dr-s3-plain"), snapshot.dir, grafanaDir, hoursAgo(-0.01));
      await upload(plain.prometheus, backupSetPrefix("prometheus", plain.id), false);
      await upload(plain.grafana, backupSetPrefix("grafana", plain.id), true);
      const unenc = await drill(from, s3env);
      expect(unenc.code).toBe(1);
      expect((JSON.parse(unenc.stdout) as Report).failures).toEqual([
        expect.stringMatching(
          /^sse-kms:prometheus: \d+ of \d+ object\(s\) are stored with no server-side encryption header, not aws:kms/,
        ),
      ]);
    } finally {
      pg.stop();
    }
  }, 180_000);
});

import { mkdtempSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadMonitoringFiles } from "../../src/monitoring/files.js";
import {
  alertNames,
  alertsGate,
  backupGate,
  judgePreview,
  parseBackupTimestamps,
  testedAlerts,
} from "../../src/gates/index.js";
import { createSnapshot, keySourceFromEnv } from "../../src/snapshots/index.js";
import { openStore } from "../../src/store/index.js";
import type { PreviewResult } from "../../src/engine/types.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const fixtures = path.resolve(repoRoot, "../shared/fixtures");

describe("policy gate judgement", () => {
  const base: PreviewResult = {
    stage: "compliance",
    mode: "offline",
    resources: [{ urn: "urn:pulumi:compliance::golden-goose::k::a", type: "k", name: "a" }],
    violations: [],
    summary: { resources: 1, mandatory: 0, advisory: 0 },
  };
  it("passes a clean preview, warns on advisory, fails on mandatory naming the fix", () => {
    expect(judgePreview(base).verdict).toBe("pass");
    const advisory = judgePreview({
      ...base,
      violations: [{ policy: "p", pack: "gg", enforcementLevel: "advisory", message: "m" }],
    });
    expect(advisory.verdict).toBe("warn");
    const mandatory = judgePreview({
      ...base,
      violations: [
        {
          policy: "grafana-no-anonymous-access",
          pack: "gg",
          enforcementLevel: "mandatory",
          urn: "urn:x",
          message: "anonymous on",
        },
      ],
    });
    expect(mandatory.verdict).toBe("fail");
    expect(mandatory.summary).toMatch(/grafana-no-anonymous-access: anonymous on/);
    expect(mandatory.fix).toMatch(/urn:x .*Pulumi.compliance.yaml/);
    expect(mandatory.subjects[0]?.digest.sha256).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe("backup gate", () => {
  it("reads the oldest component's timestamp of the stage from Pushgateway metrics", () => {
    const text = [
      "# TYPE goldengoose_backup_last_success_timestamp_seconds gauge",
      'goldengoose_backup_last_success_timestamp_seconds{component="grafana",instance="",job="goldengoose-backup",stage="sandbox"} 1.7e+09',
      'goldengoose_backup_last_success_timestamp_seconds{component="prometheus",job="goldengoose-backup",stage="sandbox"} 1700000100',
      'goldengoose_backup_last_success_timestamp_seconds{component="prometheus",stage="production"} 5',
      'goldengoose_backup_last_attempt_timestamp_seconds{component="prometheus",stage="sandbox"} 1800000000',
    ].join("\n");
    const ts = parseBackupTimestamps(
      text,
      "goldengoose_backup_last_success_timestamp_seconds",
      "sandbox",
    );
    expect(Object.fromEntries(ts)).toEqual({ grafana: 1.7e9, prometheus: 1700000100 });
  });

  it("judges recency against the interval: pass, warn past it, fail past twice it, fail with none", async () => {
    const now = Date.parse("2026-11-21T12:00:00Z");
    let backupAt = now / 1000 - 3600;
    const server = createServer((_req, res) => {
      res.end(
        `goldengoose_backup_last_success_timestamp_seconds{component="prometheus",stage="compliance"} ${backupAt}\n`,
      );
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/metrics`;
    const store = openStore(`file://${mkdtempSync(path.join(tmpdir(), "goose-bk-"))}`, {});
    const judge = () =>
      backupGate({
        stage: "compliance",
        store,
        intervalHours: 6,
        metricsUrl: url,
        now: new Date(now),
      });
    try {
      expect((await judge()).verdict).toBe("pass");
      backupAt = now / 1000 - 8 * 3600;
      expect((await judge()).verdict).toBe("warn");
      backupAt = now / 1000 - 13 * 3600;
      const failed = await judge();
      expect(failed.verdict).toBe("fail");
      expect(failed.summary).toMatch(/13h old \(interval 6h\): more than twice/);
      const none = await backupGate({
        stage: "production",
        store,
        intervalHours: 6,
        metricsUrl: url,
      });
      expect(none.verdict).toBe("fail");
      expect(none.fix).toMatch(/goose snapshot create production/);
    } finally {
      server.close();
    }
  });

  it("falls back to the newest snapshot in the store", async () => {
    const env = { GOOSE_SNAPSHOT_KEY: Buffer.alloc(32, 1).toString("base64") };
    const store = openStore(`file://${mkdtempSync(path.join(tmpdir(), "goose-bk-"))}`, env);
    const exportText = JSON.stringify({
      version: 3,
      deployment: (
        JSON.parse(readFileSync(path.join(fixtures, "pulumi/checkpoint-v3.json"), "utf8")) as {
          checkpoint: { latest: unknown };
        }
      ).checkpoint.latest,
    });
    const created = new Date("2026-11-21T10:00:00Z");
    const m = await createSnapshot(store, {
      stage: "sandbox",
      source: Readable.from([Buffer.from(exportText)]),
      keys: keySourceFromEnv(env),
      now: created,
    });
    const r = await backupGate({
      stage: "sandbox",
      store,
      intervalHours: 12,
      now: new Date("2026-11-21T11:00:00Z"),
    });
    expect(r.verdict).toBe("pass");
    expect(r.details).toMatchObject({ snapshot: m.id, ageHours: 1 });
    expect(r.subjects[0]?.name).toBe(`snapshot:${m.id}`);
  });
});

describe("alerts gate", () => {
  it("passes the shipped rules: promtool accepts them and every alert has a unit test", async () => {
    const r = await alertsGate({ stage: "production", repoRoot });
    expect(r.verdict, r.summary).toBe("pass");
    const rules = loadMonitoringFiles("production", repoRoot).rules;
    expect(r.details.alerts).toBe(alertNames(rules).length);
    expect(alertNames(rules).length).toBeGreaterThan(5);
    expect(
      testedAlerts(path.join(repoRoot, "monitoring/prometheus/tests")).names.has(
        "GoldenGooseBackupStale",
      ),
    ).toBe(true);
  });

  it("fails on a rule promtool rejects, naming it", async () => {
    const rules = {
      "broken.yaml":
        "groups:\n  - name: g\n    rules:\n      - alert: Broken\n        expr: rate(x[5m]\n",
    };
    const r = await alertsGate({ stage: "sandbox", repoRoot, rules });
    expect(r.verdict).toBe("fail");
    expect(r.summary).toMatch(/promtool check rules failed/);
    expect(String(r.details.promtool)).toMatch(/broken.yaml/);
  });

  it("says how to install promtool when it is missing", async () => {
    await expect(
      alertsGate({ stage: "sandbox", repoRoot, promtool: "/nonexistent/promtool" }),
    ).rejects.toThrow(/promtool is not installed: apt-get install prometheus/);
  });

  it("offline without promtool: every stage's shipped rules pass goose's own check, with a warning saying so", async () => {
    for (const stage of ["sandbox", "compliance", "production"] as const) {
      const r = await alertsGate({
        stage,
        repoRoot,
        promtool: "/nonexistent/promtool",
        promtoolOptional: true,
      });
      expect(r.verdict, r.summary).toBe("warn");
      expect(r.summary).toMatch(
        /^promtool is not installed: \d+ rule files checked by goose's own parser/,
      );
      expect(r.fix).toBe("install promtool for the full check: apt-get install prometheus");
      expect(r.details).toMatchObject({ checkedBy: "goose", untested: [] });
    }
  });

  it("offline without promtool: goose's check refuses what promtool refuses, naming file, group and rule", async () => {
    const bad = {
      // The rule promtool rejects above (an unclosed call) …
      "broken.yaml":
        "groups:\n  - name: g\n    rules:\n      - alert: Broken\n        expr: rate(x[5m]\n",
      // … and structural mistakes: a misspelt field, a bad duration, a record with `for`.
      "shape.yaml": [
        "groups:",
        "  - name: h",
        "    rules:",
        "      - alert: Typo",
        "        expr: up == 0",
        "        for: 5 minutes",
        "        anotations: { summary: x }",
        "      - record: job:up:sum",
        "        expr: sum by (job) (up)",
        "        for: 5m",
        "",
      ].join("\n"),
    };
    const r = await alertsGate({
      stage: "sandbox",
      repoRoot,
      rules: bad,
      promtool: "/nonexistent/promtool",
      promtoolOptional: true,
    });
    expect(r.verdict).toBe("fail");
    const problems = r.details.problems as string[];
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^broken\.yaml: group g, rule Broken: expr: syntax error/),
        'shape.yaml: group h, rule Typo: for "5 minutes" is not a duration',
        'shape.yaml: group h, rule Typo: unknown field "anotations"',
        'shape.yaml: group h, rule job:up:sum: "for" only applies to alerting rules',
      ]),
    );
    expect(r.summary).toContain("promtool is not installed");
  });
});

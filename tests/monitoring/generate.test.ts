/**
 * The generator: the checked-in files are exactly what it makes, `--check` catches any drift, and
 * the thresholds file is validated with errors that name the field.
 */
import { cpSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import * as prettier from "prettier";
import { describe, expect, it } from "vitest";
import { STAGES } from "../../src/config/stages.js";
import { loadStageConfigFile } from "../../src/config/index.js";
import { diffGenerated, generateMonitoring } from "../../src/monitoring/generate.js";
import {
  loadThresholdsFile,
  parseThresholds,
  ThresholdsError,
} from "../../src/monitoring/thresholds.js";
import { readYaml, REPO_ROOT, run, tempDir } from "./tools.js";

const THRESHOLDS = path.join(REPO_ROOT, "monitoring/config/thresholds.yaml");

function copyMonitoring(): string {
  const dir = tempDir("gen");
  cpSync(path.join(REPO_ROOT, "monitoring"), path.join(dir, "monitoring"), { recursive: true });
  return dir;
}

function runGenerate(args: string[]) {
  return run(process.execPath, ["--import", "tsx", "scripts/generate.ts", ...args]);
}

describe("npm run generate", () => {
  it("matches the checked-in files byte for byte", () => {
    const diff = diffGenerated(REPO_ROOT, generateMonitoring(REPO_ROOT));
    expect(diff).toEqual({ changed: [], missing: [], extra: [] });
  });

  it("--check passes on the repository", async () => {
    const res = await runGenerate(["--check"]);
    expect(res.stderr).toMatch(/files up to date/);
    expect(res.code).toBe(0);
  });

  it("--check exits 1 listing a hand-edited, a missing and a stray file", async () => {
    const root = copyMonitoring();
    const alerts = path.join(root, "monitoring/prometheus/alerts.yaml");
    writeFileSync(alerts, readFileSync(alerts, "utf8").replace("for: 2m", "for: 3m"));
    const dash = path.join(root, "monitoring/grafana/dashboards");
    writeFileSync(path.join(dash, "hand-made.json"), "{}\n");
    rmSync(path.join(dash, "security.json"));
    const res = await runGenerate(["--check", "--root", root]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("changed: monitoring/prometheus/alerts.yaml");
    expect(res.stderr).toContain("missing: monitoring/grafana/dashboards/security.json");
    expect(res.stderr).toContain(
      "not generated (remove it): monitoring/grafana/dashboards/hand-made.json",
    );
    expect(res.stderr).toContain("npm run generate");
  });

  it("regenerates a changed threshold into that stage's rule file only", async () => {
    const root = copyMonitoring();
    const file = path.join(root, "monitoring/config/thresholds.yaml");
    writeFileSync(
      file,
      readFileSync(file, "utf8").replace(
        "availabilityObjective: 0.999",
        "availabilityObjective: 0.9995",
      ),
    );
    const check = await runGenerate(["--check", "--root", root]);
    expect(check.code).toBe(1);
    const changed = check.stderr.split("\n").filter((l) => l.includes("changed:"));
    expect(changed.map((l) => l.trim()).sort()).toEqual([
      "changed: monitoring/prometheus/tests/thresholds-production.test.yaml",
      "changed: monitoring/prometheus/thresholds/production.yaml",
    ]);
    const write = await runGenerate(["--root", root]);
    expect(write.code).toBe(0);
    expect(
      readFileSync(path.join(root, "monitoring/prometheus/thresholds/production.yaml"), "utf8"),
    ).toContain("vector(0.9995)");
    expect((await runGenerate(["--check", "--root", root])).code).toBe(0);
  });

  it("exits 2 naming the field when thresholds.yaml is invalid", async () => {
    const root = copyMonitoring();
    const file = path.join(root, "monitoring/config/thresholds.yaml");
    writeFileSync(
      file,
      readFileSync(file, "utf8").replace("severityThreshold: HIGH", "severityThreshold: SEVERE"),
    );
    const res = await runGenerate(["--check", "--root", root]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("stages.compliance.scanner.severityThreshold");
    expect(res.stderr).toContain(file);
  });

  it("writes rule files Prettier leaves alone (npm run lint checks them)", async () => {
    for (const [rel, content] of generateMonitoring(REPO_ROOT)) {
      if (!rel.endsWith(".yaml")) continue;
      const ok = await prettier.check(content, { filepath: rel, printWidth: 100 });
      expect(ok, `${rel} is not Prettier-formatted`).toBe(true);
    }
  });
});

describe("thresholds.yaml", () => {
  it("loads and covers every stage", () => {
    const t = loadThresholdsFile(THRESHOLDS);
    expect(Object.keys(t.stages).sort()).toEqual([...STAGES].sort());
  });

  it("refuses a 100% objective, an unknown key and a missing stage, naming each field", () => {
    const raw = readYaml<Record<string, unknown>>(THRESHOLDS);
    const stages = raw["stages"] as Record<string, Record<string, Record<string, unknown>>>;
    stages["production"]!["slo"]!["availabilityObjective"] = 1;
    stages["sandbox"]!["slo"]!["latencyBoundSecs"] = 1;
    delete stages["compliance"];
    let err: unknown;
    try {
      parseThresholds(raw, "thresholds.yaml");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ThresholdsError);
    const msg = (err as Error).message;
    expect(msg).toContain("thresholds.yaml is invalid");
    expect(msg).toMatch(/stages\.production\.slo\.availabilityObjective: an objective below 1/);
    expect(msg).toMatch(/stages\.sandbox\.slo.*latencyBoundSecs/);
    expect(msg).toMatch(/stages\.compliance/);
  });

  it("gets stricter from sandbox to production", () => {
    const t = loadThresholdsFile(THRESHOLDS).stages;
    const sev = ["LOW", "MEDIUM", "HIGH", "CRITICAL"];
    for (const [a, b] of [
      ["sandbox", "compliance"],
      ["compliance", "production"],
    ] as const) {
      expect(t[b].slo.availabilityObjective).toBeGreaterThanOrEqual(t[a].slo.availabilityObjective);
      expect(t[b].slo.latencyObjective).toBeGreaterThanOrEqual(t[a].slo.latencyObjective);
      expect(t[b].slo.latencyBoundSeconds).toBeLessThanOrEqual(t[a].slo.latencyBoundSeconds);
      expect(t[b].backup.scheduleIntervalHours).toBeLessThanOrEqual(
        t[a].backup.scheduleIntervalHours,
      );
      expect(sev.indexOf(t[b].scanner.severityThreshold)).toBeLessThanOrEqual(
        sev.indexOf(t[a].scanner.severityThreshold),
      );
      if (t[a].failoverDrill) {
        expect(t[b].failoverDrill?.maxAgeHours, `${b} failoverDrill`).toBeLessThanOrEqual(
          t[a].failoverDrill.maxAgeHours,
        );
      }
    }
  });

  it.each(STAGES)(
    "agrees with Pulumi.%s.yaml (backup interval, scan schedule and severity)",
    (stage) => {
      const cfg = loadStageConfigFile(path.join(REPO_ROOT, `Pulumi.${stage}.yaml`));
      const t = loadThresholdsFile(THRESHOLDS).stages[stage];
      expect(t.backup.scheduleIntervalHours, "backup.intervalHours").toBe(cfg.backup.intervalHours);
      expect(t.restoreDrill.maxAgeHours, "recovery.drillMaxAgeHours").toBe(
        cfg.recovery.drillMaxAgeHours,
      );
      expect(t.scanner.severityThreshold, "scanner.severityThreshold").toBe(
        cfg.scanner.severityThreshold,
      );
      expect(t.scanner.scheduleIntervalHours, `scanner.schedule ${cfg.scanner.schedule}`).toBe(
        cronIntervalHours(cfg.scanner.schedule),
      );
      // A failover objective exactly where there is something to fail over (goose dr failover
      // refuses a stage with one Alertmanager), so GoldenGooseFailoverDrillOverdue can fire
      // for every replicated stage and never for the others.
      expect(
        t.failoverDrill !== undefined,
        `failoverDrill with prometheus.alertmanagerReplicas ${cfg.prometheus.alertmanagerReplicas}`,
      ).toBe(cfg.prometheus.alertmanagerReplicas > 1);
    },
  );
});

/** Hours between runs of a cron schedule that runs every N hours (`*\/N`) or once a day. */
function cronIntervalHours(schedule: string): number {
  const [, hour, dom, month, dow] = schedule.trim().split(/\s+/);
  if (dom !== "*" || month !== "*" || dow !== "*")
    throw new Error(`unsupported schedule ${schedule}`);
  const every = /^\*\/(\d+)$/.exec(hour ?? "");
  if (every) return Number(every[1]);
  if (/^\d+$/.test(hour ?? "")) return 24;
  throw new Error(`unsupported schedule ${schedule}`);
}

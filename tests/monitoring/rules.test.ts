/**
 * The rule files with the real promtool: `check rules` (with lint), the promtool unit tests, and
 * the conventions every alert and recording rule must follow.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { STAGES } from "../../src/config/stages.js";
import { FIXTURE_THRESHOLDS } from "../../src/monitoring/promtool-tests.js";
import { DR_THRESHOLD_SERIES } from "../../src/monitoring/dr-rules.js";
import {
  recordingGroups,
  renderRuleFile,
  THRESHOLD_SERIES,
  thresholdGroups,
} from "../../src/monitoring/rules.js";
import { loadThresholds, stageChanges } from "../../src/monitoring/thresholds.js";
import {
  PROM_DIR,
  readYaml,
  REPO_ROOT,
  run,
  tempDir,
  TESTS_DIR,
  tool,
  type RuleFile,
} from "./tools.js";

const RULE_FILES = [
  "recording.yaml",
  "alerts.yaml",
  ...STAGES.map((s) => `thresholds/${s}.yaml`),
  "tests/thresholds.fixture.yaml",
];
const TEST_FILES = readdirSync(TESTS_DIR).filter((f) => f.endsWith(".test.yaml"));

interface PromtoolTestFile {
  rule_files: string[];
  tests: Array<{
    name?: string;
    alert_rule_test?: Array<{ eval_time: string; alertname: string; exp_alerts?: unknown[] }>;
    promql_expr_test?: Array<{ expr: string }>;
  }>;
}

const alerts = readYaml<RuleFile>(path.join(PROM_DIR, "alerts.yaml")).groups.flatMap(
  (g) => g.rules,
);
const promtoolTests = TEST_FILES.map((f) => readYaml<PromtoolTestFile>(path.join(TESTS_DIR, f)));

function minutes(d: string): number {
  let total = 0;
  for (const [, n, u] of d.matchAll(/(\d+)([smhd])/g)) {
    total += Number(n) * { s: 1 / 60, m: 1, h: 60, d: 1440 }[u as "s" | "m" | "h" | "d"];
  }
  return total;
}

describe("promtool check rules", () => {
  it("accepts every rule file, with lint (no duplicate rules)", async () => {
    const promtool = tool("promtool");
    const res = await run(
      promtool,
      ["check", "rules", "--lint=all", "--lint-fatal", ...RULE_FILES],
      PROM_DIR,
    );
    expect(res.stderr + res.stdout).not.toMatch(/FAILED/);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout.match(/SUCCESS/g)).toHaveLength(RULE_FILES.length);
  });

  it("rejects a broken rule, naming the parse error", async () => {
    const dir = tempDir("badrule");
    const file = path.join(dir, "bad.yaml");
    writeFileSync(
      file,
      "groups:\n- name: x\n  rules:\n  - record: job:x:rate5m\n    expr: sum(rate(x[5m])\n",
    );
    const res = await run(tool("promtool"), ["check", "rules", file]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/unclosed left parenthesis/);
  });
});

describe("promtool test rules", () => {
  it.concurrent.each(TEST_FILES)("%s passes", async (file) => {
    const res = await run(tool("promtool"), ["test", "rules", file], TESTS_DIR);
    expect(res.stdout + res.stderr, `promtool test rules ${file}`).toMatch(/SUCCESS/);
    expect(res.code).toBe(0);
  });

  it("fails when an expected annotation is wrong (the tests compare for real)", async () => {
    const dir = tempDir("mutant");
    const original = readFileSync(path.join(TESTS_DIR, "alerts.test.yaml"), "utf8");
    const mutant = original
      .replace("../recording.yaml", path.join(PROM_DIR, "recording.yaml"))
      .replace("../alerts.yaml", path.join(PROM_DIR, "alerts.yaml"))
      .replace("thresholds.fixture.yaml", path.join(TESTS_DIR, "thresholds.fixture.yaml"))
      .replace(
        "the last backup attempt of grafana failed",
        "the last backup attempt of grafana worked",
      );
    expect(mutant).not.toBe(original);
    writeFileSync(path.join(dir, "mutant.test.yaml"), mutant);
    const res = await run(tool("promtool"), ["test", "rules", "mutant.test.yaml"], dir);
    expect(res.code).toBe(1);
    expect(res.stdout + res.stderr).toMatch(/GoldenGooseBackupFailed/);
  });
});

describe("alert conventions", () => {
  it("has the alerts the platform needs", () => {
    const names = alerts.map((a) => a.alert);
    for (const n of [
      "GoldenGooseAvailabilityBudgetFastBurn",
      "GoldenGooseAvailabilityBudgetSlowBurn",
      "GoldenGooseLatencyBudgetFastBurn",
      "GoldenGooseLatencyBudgetSlowBurn",
      "GoldenGooseBackupFailed",
      "GoldenGooseBackupStale",
      "GoldenGooseScannerVulnerabilitiesFound",
      "GoldenGooseScannerStale",
      "GoldenGooseTargetDown",
      "GoldenGoosePrometheusRuleEvaluationFailures",
      "GoldenGoosePrometheusTSDBCompactionsFailing",
      "GoldenGooseGrafanaDown",
      "GoldenGooseTransitionDuringBlackout",
    ]) {
      expect(names).toContain(n);
    }
    // Names are unique, except the warning-only twins of the SLO alerts (threshold_phase settling).
    const enforced = alerts.filter((a) => a.labels?.["threshold_phase"] === undefined);
    expect(new Set(enforced.map((a) => a.alert)).size).toBe(enforced.length);
    const twins = alerts.filter((a) => a.labels?.["threshold_phase"] === "settling");
    expect(twins.map((a) => a.alert).sort()).toEqual(
      enforced
        .filter((a) => a.labels?.["slo"])
        .map((a) => a.alert)
        .sort(),
    );
    for (const t of twins) expect(t.labels?.["severity"]).toBe("warning");
  });

  it.each(alerts.map((a) => [a.alert!, a] as const))(
    "%s: CamelCase with the shared prefix, severity, summary, description, runbook",
    (name, a) => {
      expect(name).toMatch(/^GoldenGoose(?:[A-Z][a-zA-Z0-9]*)+$/);
      expect(["critical", "warning", "info"]).toContain(a.labels?.["severity"]);
      expect(a.for, `${name} needs a for`).toMatch(/^\d+[smh]$/);
      const ann = a.annotations ?? {};
      expect(ann["summary"]).toMatch(/^[A-Z].*\.$/);
      expect(ann["description"]?.length).toBeGreaterThan(20);
      expect(ann["runbook_url"]).toMatch(new RegExp(`/monitoring/runbooks/${name}\\.md$`));
      const runbook = path.join(REPO_ROOT, "monitoring/runbooks", `${name}.md`);
      expect(existsSync(runbook), `missing runbook ${runbook}`).toBe(true);
      const text = readFileSync(runbook, "utf8");
      expect(text).toMatch(new RegExp(`^# ${name}\\n`));
      expect(text).toMatch(/## Troubleshooting\n\n1\. /);
    },
  );

  it.each(alerts.map((a) => [a.alert!, a] as const))(
    "%s is tested silent one minute before its `for` and firing at it",
    (name, a) => {
      const forMin = minutes(a.for!);
      const pairs = promtoolTests.flatMap((f) =>
        f.tests.map((t) => (t.alert_rule_test ?? []).filter((r) => r.alertname === name)),
      );
      const ok = pairs.some((cases) =>
        cases.some(
          (firing) =>
            (firing.exp_alerts ?? []).length > 0 &&
            cases.some(
              (silent) =>
                (silent.exp_alerts ?? []).length === 0 &&
                minutes(firing.eval_time) - minutes(silent.eval_time) === 1 &&
                minutes(firing.eval_time) >= forMin,
            ),
        ),
      );
      expect(
        ok,
        `${name}: no test group checks it silent at T-1m and firing at T (for ${a.for})`,
      ).toBe(true);
    },
  );

  it("checks expected labels and all three annotations on every firing case", () => {
    for (const f of promtoolTests) {
      for (const t of f.tests) {
        for (const c of t.alert_rule_test ?? []) {
          for (const e of (c.exp_alerts ?? []) as Array<{
            exp_labels?: Record<string, string>;
            exp_annotations?: Record<string, string>;
          }>) {
            expect(e.exp_labels?.["severity"], `${c.alertname} at ${c.eval_time}`).toBeDefined();
            expect(Object.keys(e.exp_annotations ?? {}).sort()).toEqual([
              "description",
              "runbook_url",
              "summary",
            ]);
          }
        }
      }
    }
  });
});

describe("recording rule conventions", () => {
  const recording = readYaml<RuleFile>(path.join(PROM_DIR, "recording.yaml")).groups.flatMap(
    (g) => g.rules,
  );
  const thresholdRules = STAGES.flatMap((s) =>
    readYaml<RuleFile>(path.join(PROM_DIR, `thresholds/${s}.yaml`)).groups.flatMap((g) => g.rules),
  );
  const tested = new Set(
    promtoolTests.flatMap((f) =>
      f.tests.flatMap((t) =>
        (t.promql_expr_test ?? []).flatMap(
          (e) => e.expr.match(/[a-z_]+:[a-z0-9_]+:[a-z0-9_]+/g) ?? [],
        ),
      ),
    ),
  );

  it("names every rule level:metric:operations", () => {
    for (const r of [...recording, ...thresholdRules]) {
      expect(r.record).toMatch(/^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$/);
    }
  });

  it("records the SLO ratios over every burn-rate window", () => {
    const names = new Set(recording.map((r) => r.record));
    for (const w of ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]) {
      for (const m of [
        `job:http_requests:rate${w}`,
        `job:http_request_errors_per_requests:ratio_rate${w}`,
        `job:http_requests_slow_per_requests:ratio_rate${w}`,
        `job_quantile:http_request_duration_seconds:histogram_quantile_rate${w}`,
      ]) {
        expect(names, m).toContain(m);
      }
    }
  });

  it("checks every recording rule with a promql_expr_test", () => {
    const untested = [...new Set([...recording, ...thresholdRules].map((r) => r.record!))].filter(
      (n) => !tested.has(n),
    );
    expect(untested).toEqual([]);
  });

  it("gives every stage all threshold series", () => {
    for (const s of STAGES) {
      const names = new Set(
        readYaml<RuleFile>(path.join(PROM_DIR, `thresholds/${s}.yaml`)).groups.flatMap((g) =>
          g.rules.map((r) => r.record),
        ),
      );
      // The settling series exist only while a threshold change is under way in the stage.
      const settling = new Set<string>([
        THRESHOLD_SERIES.availabilityObjectiveSettling,
        THRESHOLD_SERIES.latencyObjectiveSettling,
      ]);
      const changing = stageChanges(loadThresholds(), s).length > 0;
      // The failover objective exists only for stages with replicated Alertmanagers.
      const failover = loadThresholds().stages[s].failoverDrill !== undefined;
      expect([...names].filter((n) => !settling.has(n!)).sort()).toEqual(
        [...Object.values(THRESHOLD_SERIES), ...Object.values(DR_THRESHOLD_SERIES)]
          .filter((n) => !settling.has(n))
          .filter((n) => failover || n !== DR_THRESHOLD_SERIES.failoverMaxAge)
          .sort(),
      );
      if (!changing) expect([...names].filter((n) => settling.has(n!))).toEqual([]);
    }
  });
});

describe("latency bound spellings", () => {
  it.concurrent.each([
    ["Go", "1"],
    ["Python", "1.0"],
  ])(
    "finds the bucket of a whole-second bound as a %s client labels it (le=%s)",
    async (_c, le) => {
      const dir = tempDir("le");
      const t = {
        ...FIXTURE_THRESHOLDS,
        slo: { ...FIXTURE_THRESHOLDS.slo, latencyBoundSeconds: 1 },
      };
      writeFileSync(path.join(dir, "recording.yaml"), renderRuleFile(recordingGroups(), "# test"));
      writeFileSync(
        path.join(dir, "thresholds.yaml"),
        renderRuleFile(thresholdGroups("x", t), "# test"),
      );
      const series = (l: string, perMinute: number) => ({
        series: `http_request_duration_seconds_bucket{job="service", le="${l}"}`,
        values: `0+${perMinute}x20`,
      });
      const test = {
        rule_files: ["recording.yaml", "thresholds.yaml"],
        evaluation_interval: "1m",
        group_eval_order: ["goldengoose-thresholds", "goldengoose-slo.rules"],
        tests: [
          {
            interval: "1m",
            input_series: [
              series("0.5", 3000), // 50/s within 0.5s
              series(le, 4500), // 75/s within 1s
              series("+Inf", 6000), // 100/s
              { series: 'http_request_duration_seconds_count{job="service"}', values: "0+6000x20" },
            ],
            promql_expr_test: [
              {
                expr: "job:http_requests_slow_per_requests:ratio_rate5m",
                eval_time: "10m",
                // 1 - 75/100 slower than 1s
                exp_samples: [
                  {
                    labels: 'job:http_requests_slow_per_requests:ratio_rate5m{job="service"}',
                    value: 0.25,
                  },
                ],
              },
            ],
          },
        ],
      };
      writeFileSync(path.join(dir, "le.test.yaml"), stringify(test));
      const res = await run(tool("promtool"), ["test", "rules", "le.test.yaml"], dir);
      expect(res.stdout + res.stderr).toContain("SUCCESS");
      expect(res.code).toBe(0);
    },
  );
});

/**
 * Gradual thresholds (monitoring/config/thresholds.yaml `changes`): validation of the lifecycle
 * (one stage at a time, `to` is the stage's value), and the rendered per-stage thresholds file of a
 * stage with a change under way, checked and tested with the real promtool.
 */
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { generateMonitoring } from "../../src/monitoring/generate.js";
import { THRESHOLD_SERIES } from "../../src/monitoring/rules.js";
import {
  instantSeconds,
  parseThresholds,
  stageChanges,
  type Thresholds,
} from "../../src/monitoring/thresholds.js";
import { REPO_ROOT, run, tempDir, tool } from "./tools.js";

const FILE = path.join(REPO_ROOT, "monitoring/config/thresholds.yaml");
const base = () => parse(readFileSync(FILE, "utf8")) as Record<string, unknown> & Thresholds;

/** The checked-in thresholds with the latency objective tightened in the given steps. */
function withChange(
  steps: Record<string, { from: number; to: number; since: string }>,
  settleDays = 14,
) {
  const raw = base();
  for (const [stage, step] of Object.entries(steps)) {
    (raw.stages as Record<string, { slo: { latencyObjective: number } }>)[
      stage
    ]!.slo.latencyObjective = step.to;
  }
  raw.changes = [{ threshold: "slo.latencyObjective", settleDays, stages: steps }];
  return raw;
}

describe("threshold changes: validation", () => {
  it("accepts a change that reaches compliance once sandbox has settled", () => {
    const t = parseThresholds(
      withChange({
        sandbox: { from: 0.95, to: 0.97, since: "2026-12-01" },
        compliance: { from: 0.99, to: 0.995, since: "2026-12-15" },
      }),
    );
    const [c] = stageChanges(t, "compliance");
    expect(c).toEqual({
      threshold: "slo.latencyObjective",
      from: 0.99,
      to: 0.995,
      since: instantSeconds("2026-12-15"),
      enforcedAt: instantSeconds("2026-12-29"),
    });
    expect(stageChanges(t, "production")).toEqual([]);
  });

  it("refuses a stage that takes the change before the previous stage enforces it", () => {
    expect(() =>
      parseThresholds(
        withChange({
          sandbox: { from: 0.95, to: 0.97, since: "2026-12-01" },
          compliance: { from: 0.99, to: 0.995, since: "2026-12-10" },
        }),
      ),
    ).toThrow(
      /changes\.0\.stages\.compliance\.since: 2026-12-10 is before sandbox has settled \(2026-12-15T00:00:00.000Z\)/,
    );
  });

  it("refuses a skipped stage, a `to` that is not the stage's value, and a no-op", () => {
    expect(() =>
      parseThresholds(withChange({ compliance: { from: 0.99, to: 0.995, since: "2026-12-01" } })),
    ).toThrow(/stages\.compliance: a change reaches compliance only after sandbox/);
    const raw = withChange({ sandbox: { from: 0.95, to: 0.97, since: "2026-12-01" } });
    raw.stages.sandbox.slo.latencyObjective = 0.96;
    expect(() => parseThresholds(raw)).toThrow(
      /changes\.0\.stages\.sandbox\.to: 0\.97 is not stages\.sandbox\.slo\.latencyObjective \(0\.96\)/,
    );
    expect(() =>
      parseThresholds(withChange({ sandbox: { from: 0.95, to: 0.95, since: "2026-12-01" } })),
    ).toThrow(/from: equal to `to`/);
  });

  it("only objectives change gradually", () => {
    const raw = withChange({ sandbox: { from: 0.95, to: 0.97, since: "2026-12-01" } });
    (raw.changes as { threshold: string }[])[0]!.threshold = "backup.scheduleIntervalHours";
    expect(() => parseThresholds(raw)).toThrow(/changes\.0\.threshold/);
  });
});

describe("a stage with a change under way, rendered and run through promtool", () => {
  it("renders the old value until enforcement and the settling series, and passes promtool", async () => {
    const root = tempDir("lifecycle");
    cpSync(path.join(REPO_ROOT, "monitoring"), path.join(root, "monitoring"), { recursive: true });
    writeFileSync(
      path.join(root, "monitoring/config/thresholds.yaml"),
      stringify(withChange({ sandbox: { from: 0.95, to: 0.97, since: "2026-12-01" } })),
    );
    const files = generateMonitoring(root);
    const sandbox = files.get("monitoring/prometheus/thresholds/sandbox.yaml")!;
    const enforce = instantSeconds("2026-12-15");
    expect(sandbox).toContain(
      `(vector(0.97) and on () (vector(time()) >= ${enforce}))\n          or\n          vector(0.95)`,
    );
    expect(sandbox).toContain(`record: ${THRESHOLD_SERIES.latencyObjectiveSettling}`);
    expect(files.get("monitoring/prometheus/thresholds/compliance.yaml")).not.toContain(
      THRESHOLD_SERIES.latencyObjectiveSettling,
    );
    for (const [rel, content] of files) writeFileSync(path.join(root, rel), content);
    const promtool = tool("promtool");
    const check = await run(promtool, [
      "check",
      "rules",
      path.join(root, "monitoring/prometheus/thresholds/sandbox.yaml"),
    ]);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    const tests = path.join(root, "monitoring/prometheus/tests");
    const generated = await run(promtool, ["test", "rules", "thresholds-sandbox.test.yaml"], tests);
    expect(generated.code, generated.stdout + generated.stderr).toBe(0);
    // The generated test expects the old value at promtool's 1970 clock: before `since`.
    expect(readFileSync(path.join(tests, "thresholds-sandbox.test.yaml"), "utf8")).toMatch(
      /stage:goldengoose_slo_latency_objective:ratio\{stage="sandbox"\}\n\s+value: 0\.95/,
    );
  });

  it("the lifecycle test shows both phases with the real promtool (and fails if a phase is wrong)", async () => {
    const promtool = tool("promtool");
    const tests = path.join(REPO_ROOT, "monitoring/prometheus/tests");
    const ok = await run(promtool, ["test", "rules", "thresholds-lifecycle.test.yaml"], tests);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    // Swap the phases' expectations: promtool must fail.
    const root = tempDir("lifecycle-neg");
    const dir = path.join(root, "tests");
    cpSync(tests, dir, { recursive: true });
    for (const f of ["recording.yaml", "alerts.yaml"]) {
      cpSync(path.join(REPO_ROOT, "monitoring/prometheus", f), path.join(root, f));
    }
    const file = path.join(dir, "thresholds-lifecycle.test.yaml");
    writeFileSync(
      file,
      readFileSync(file, "utf8").replace(
        "eval_time: 29m # settling: the old",
        "eval_time: 30m # settling: the old",
      ),
    );
    const bad = await run(promtool, ["test", "rules", "thresholds-lifecycle.test.yaml"], dir);
    expect(bad.code).toBe(1);
    expect(bad.stdout + bad.stderr).toMatch(/FAILED/);
  });
});

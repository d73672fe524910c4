/**
 * The alerts-configured gate: the rule files the target stage ships (src/monitoring
 * `loadMonitoringFiles`) pass `promtool check rules`, and every alert in them has a promtool unit
 * test (an `alert_rule_test` naming it in monitoring/prometheus/tests/*.yaml). With `runTests`
 * the unit tests are run too (`promtool test rules`, ~10 s).
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import YAML from "yaml";
import type { StageName } from "../config/stages.js";
import { loadMonitoringFiles } from "../monitoring/files.js";
import { checkRuleFiles } from "../monitoring/rule-check.js";
import { GateInputError, timed, type GateResult } from "./types.js";

const run = promisify(execFile);

export interface AlertsGateInput {
  stage: StageName;
  repoRoot: string;
  /** Where the promtool unit tests are (default monitoring/prometheus/tests). */
  testsDir?: string;
  /** Rule files to check instead of the stage's (file name → content). */
  rules?: Record<string, string>;
  runTests?: boolean;
  promtool?: string;
  /**
   * Without promtool, check the rules with goose's own parser (src/monitoring/rule-check.ts) and
   * warn, instead of stopping with exit 2. For simulated (offline) promotions only — the demo on
   * a machine with nothing but Node; a real promotion needs promtool.
   */
  promtoolOptional?: boolean;
}

/** Alert names defined in rule files. */
export function alertNames(rules: Record<string, string>): string[] {
  const names = new Set<string>();
  for (const text of Object.values(rules)) {
    const doc = YAML.parse(text) as {
      groups?: Array<{ rules?: Array<{ alert?: string }> }>;
    } | null;
    for (const g of doc?.groups ?? [])
      for (const r of g.rules ?? []) if (r.alert) names.add(r.alert);
  }
  return [...names].sort();
}

/** Alert names that unit tests check (alert_rule_test[].alertname). */
export function testedAlerts(testsDir: string): { names: Set<string>; files: string[] } {
  const names = new Set<string>();
  const files = readdirSync(testsDir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  for (const f of files) {
    const doc = YAML.parse(readFileSync(path.join(testsDir, f), "utf8")) as {
      tests?: Array<{ alert_rule_test?: Array<{ alertname?: string }> }>;
    } | null;
    for (const t of doc?.tests ?? [])
      for (const a of t.alert_rule_test ?? []) if (a.alertname) names.add(a.alertname);
  }
  return { names, files };
}

export async function alertsGate(input: AlertsGateInput): Promise<GateResult> {
  return timed("alerts", async () => {
    const promtool = input.promtool ?? "promtool";
    const rules = input.rules ?? loadMonitoringFiles(input.stage, input.repoRoot).rules;
    const testsDir = input.testsDir ?? path.join(input.repoRoot, "monitoring/prometheus/tests");
    const subjects = Object.entries(rules)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, text]) => ({
        name: `rules/${name}`,
        digest: { sha256: createHash("sha256").update(text).digest("hex") },
      }));
    let checkedBy: "promtool" | "goose" = "promtool";
    const dir = mkdtempSync(path.join(tmpdir(), "goose-rules-"));
    try {
      const files = Object.entries(rules).map(([name, text]) => {
        const f = path.join(dir, name);
        writeFileSync(f, text);
        return f;
      });
      try {
        await run(promtool, ["check", "rules", ...files], { timeout: 60_000 });
      } catch (err) {
        const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
        if (e.code === "ENOENT" && input.promtoolOptional) {
          checkedBy = "goose";
          const problems = checkRuleFiles(rules);
          if (problems.length > 0) {
            return {
              verdict: "fail" as const,
              summary: `the ${input.stage} rule files do not pass goose's own rule check (promtool is not installed): ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ""}`,
              fix: "fix the rule named (monitoring/prometheus), regenerate with npm run generate; for promtool's full check: apt-get install prometheus",
              details: { checkedBy, problems },
              subjects,
            };
          }
        } else if (e.code === "ENOENT") {
          throw new GateInputError(
            "promtool is not installed: apt-get install prometheus (it ships promtool)",
          );
        } else {
          const out = `${e.stdout ?? ""}${e.stderr ?? ""}`.replaceAll(dir + path.sep, "");
          return {
            verdict: "fail" as const,
            summary: `promtool check rules failed for the ${input.stage} rule files: ${out.split("\n").find((l) => /FAILED|error|err/i.test(l)) ?? out.slice(0, 200)}`,
            fix: "fix the rule named in the output (monitoring/prometheus), regenerate with npm run generate, and run promtool check rules",
            details: { promtool: out.slice(0, 4000) },
            subjects,
          };
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const alerts = alertNames(rules);
    const tested = testedAlerts(testsDir);
    const untested = alerts.filter((a) => !tested.names.has(a));
    const details: Record<string, unknown> = {
      checkedBy,
      ruleFiles: Object.keys(rules).sort(),
      alerts: alerts.length,
      untested,
      testFiles: tested.files,
    };
    if (untested.length) {
      return {
        verdict: "fail" as const,
        summary: `${untested.length} alert(s) without a promtool unit test: ${untested.join(", ")}`,
        fix: `add an alert_rule_test for each to ${path.relative(input.repoRoot, testsDir)} (silent before its for, firing at it)`,
        details,
        subjects,
      };
    }
    if (checkedBy === "goose") {
      return {
        verdict: "warn" as const,
        summary: `promtool is not installed: ${Object.keys(rules).length} rule files checked by goose's own parser instead (structure and PromQL syntax, not promtool's full check${input.runTests ? "; the unit tests were not run" : ""}); all ${alerts.length} alerts have unit tests`,
        fix: "install promtool for the full check: apt-get install prometheus",
        details,
        subjects,
      };
    }
    if (input.runTests) {
      try {
        await run(promtool, ["test", "rules", ...tested.files], {
          cwd: testsDir,
          timeout: 300_000,
        });
        details.unitTests = "passed";
      } catch (err) {
        const e = err as { stdout?: string; stderr?: string };
        return {
          verdict: "fail" as const,
          summary: "promtool test rules failed",
          fix: `run promtool test rules in ${path.relative(input.repoRoot, testsDir)} and fix the failing test or rule`,
          details: { ...details, promtool: `${e.stdout ?? ""}${e.stderr ?? ""}`.slice(0, 4000) },
          subjects,
        };
      }
    }
    return {
      verdict: "pass" as const,
      summary: `${Object.keys(rules).length} rule files pass promtool check rules; all ${alerts.length} alerts have unit tests${input.runTests ? " (run and passing)" : ""}`,
      details,
      subjects,
    };
  });
}

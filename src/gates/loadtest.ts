/**
 * The load-test gate: a scenario of load-test/config/stress-test.yaml run against the stage's
 * service (src/workflows/loadtest `runLoadTest`) and judged against the stage's baseline. The promotion
 * already holds the stage, so the run takes no load-test lease of its own.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { StageName } from "../config/stages.js";
import { gooseCommand } from "../command-line.js";
import { runLoadTest } from "../workflows/loadtest/index.js";
import { DEFAULT_HINTS, type HintContext } from "./hints.js";
import { timed, type GateResult } from "./types.js";

export interface LoadTestGateInput {
  cwd: string;
  env: NodeJS.ProcessEnv;
  stage: StageName;
  scenario: string;
  target: string;
  configPath?: string;
  baselinePath?: string;
  reportDir?: string;
  /** A missing baseline fails instead of warning (production). */
  requireBaseline?: boolean;
  /** The flags the promotion ran with (its store), so the rerun runs as printed. */
  hints?: HintContext;
}

export async function loadTestGate(input: LoadTestGateInput): Promise<GateResult> {
  return timed("load-test", async () => {
    const out = await runLoadTest({
      cwd: input.cwd,
      env: input.env,
      stage: input.stage,
      scenario: input.scenario,
      target: input.target,
      ...(input.configPath ? { configPath: input.configPath } : {}),
      ...(input.baselinePath ? { baselinePath: input.baselinePath } : {}),
      ...(input.reportDir ? { reportDir: input.reportDir } : {}),
    });
    const v = out.verdict;
    const m = out.result.metrics as unknown as Record<string, unknown>;
    const reportJson = out.files.json;
    const subjects = [
      {
        name: `loadtest:${input.stage}/${out.scenario}`,
        digest: { sha256: createHash("sha256").update(JSON.stringify(out.report)).digest("hex") },
      },
    ];
    try {
      subjects.push({
        name: out.baselineFile,
        digest: {
          sha256: createHash("sha256").update(readFileSync(out.baselineFile)).digest("hex"),
        },
      });
    } catch {
      // no baseline file
    }
    const details = {
      scenario: out.scenario,
      target: out.result.target,
      verdict: v.verdict,
      score: v.score,
      baseline: v.baseline,
      reasons: v.reasons,
      criteria: v.criteria,
      metrics: m,
      report: reportJson,
      ...(out.result.aborted ? { aborted: out.result.aborted } : {}),
    };
    const rerun = gooseCommand([
      "loadtest",
      "run",
      input.stage,
      "--scenario",
      out.scenario,
      "--target",
      out.result.target,
      ...(input.configPath ? ["--config", input.configPath] : []),
      ...(input.baselinePath ? ["--baseline", input.baselinePath] : []),
      // The standalone run takes a load-test lease in the store the promotion used.
      ...(input.hints ?? DEFAULT_HINTS).storeArgs,
    ]);
    if (v.verdict === "fail" || out.result.aborted) {
      return {
        verdict: "fail" as const,
        summary: `load test ${out.scenario} failed (score ${v.score}): ${v.reasons.slice(0, 3).join("; ")}`,
        fix: `find the regression against ${out.baselineFile}, then rerun \`${rerun}\``,
        details,
        subjects,
      };
    }
    if (v.baseline === "missing") {
      return {
        verdict: input.requireBaseline ? ("fail" as const) : ("warn" as const),
        summary: `load test ${out.scenario} met its thresholds but there is no ${input.stage} baseline to compare with`,
        fix: `record one: \`${rerun} --save-baseline\``,
        details,
        subjects,
      };
    }
    return {
      verdict: v.verdict,
      summary: `load test ${out.scenario}: ${v.verdict} (score ${v.score}) against ${out.baselineFile}`,
      ...(v.verdict === "warn" ? { fix: `review ${v.reasons.join("; ")}` } : {}),
      details,
      subjects,
    };
  });
}

/**
 * Baselines: load-test/baseline/<stage>.json holds, per scenario, the figures of one reference
 * run together with the load parameters it ran with, the target and the tool versions.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { z } from "zod";
import type { StageName } from "../config/stages.js";
import { LoadTestUsageError } from "./errors.js";
import { formatProblem, parseYamlFile } from "../config/file.js";
import type { LoadParameters } from "./parameters.js";
import type { RunMetrics, RunResult } from "./runner.js";

export const DEFAULT_BASELINE_DIR = "load-test/baseline";

export function defaultBaselinePath(cwd: string, stage: StageName): string {
  return join(cwd, DEFAULT_BASELINE_DIR, `${stage}.json`);
}

export interface BaselineEntry {
  scenario: string;
  savedAt: string;
  /** Where it was measured (no credentials). */
  target: string;
  parameters: LoadParameters;
  metrics: RunMetrics;
  tool: RunResult["tool"];
  /** sha256 of the stress-test config the run used. */
  configSha256?: string;
  /** Free text: what the target was, why this baseline. */
  note?: string;
}

export interface BaselineFile {
  version: 1;
  stage: StageName;
  scenarios: Record<string, BaselineEntry>;
}

const entrySchema = z.looseObject({
  scenario: z.string(),
  savedAt: z.string(),
  target: z.string(),
  parameters: z.looseObject({
    phases: z.array(z.looseObject({})),
    mix: z.array(z.looseObject({})),
  }),
  metrics: z.looseObject({
    requests: z.number(),
    rps: z.number(),
    errorRate: z.number(),
    latencyMs: z.looseObject({ p50: z.number(), p95: z.number(), p99: z.number() }),
  }),
});
const fileSchema = z.looseObject({
  version: z.literal(1),
  stage: z.string(),
  scenarios: z.record(z.string(), entrySchema),
});

/** Reads a baseline file; undefined when it does not exist. A damaged file is exit 2. */
export function readBaselineFile(path: string): BaselineFile | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new LoadTestUsageError(`cannot read baseline ${path}: ${(err as Error).message}`);
  }
  const fix = "restore it from git or record a new one with --save-baseline";
  return parseYamlFile(fileSchema, path, text, {
    error: (problems) =>
      new LoadTestUsageError(
        problems.map((p) => formatProblem({ ...p, fix: `${p.fix}, or ${fix}` })).join("\n"),
      ),
  }).value as unknown as BaselineFile;
}

/** The entry for `scenario`, or undefined. */
export function baselineFor(
  file: BaselineFile | undefined,
  scenario: string,
): BaselineEntry | undefined {
  return file?.scenarios[scenario];
}

/** The baseline entry a run would become. */
export function entryFromRun(
  run: RunResult,
  extra: { configSha256?: string; note?: string } = {},
): BaselineEntry {
  return {
    scenario: run.scenario,
    savedAt: run.finishedAt,
    target: run.target,
    parameters: run.parameters,
    metrics: run.metrics,
    tool: run.tool,
    ...(extra.configSha256 ? { configSha256: extra.configSha256 } : {}),
    ...(extra.note ? { note: extra.note } : {}),
  };
}

/**
 * Writes `entry` into the stage's baseline file (other scenarios kept), atomically
 * (temp file then rename). Returns the file as written.
 */
export function saveBaseline(path: string, stage: StageName, entry: BaselineEntry): BaselineFile {
  const existing = readBaselineFile(path);
  if (existing && existing.stage !== stage) {
    throw new LoadTestUsageError(
      `baseline ${path} belongs to stage ${existing.stage}, not ${stage}; pass the right --baseline or --stage`,
    );
  }
  const file: BaselineFile = {
    version: 1,
    stage,
    scenarios: { ...(existing?.scenarios ?? {}), [entry.scenario]: entry },
  };
  const sorted: BaselineFile = {
    ...file,
    scenarios: Object.fromEntries(
      Object.entries(file.scenarios).sort(([a], [b]) => a.localeCompare(b)),
    ),
  };
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(sorted, null, 2) + "\n");
  renameSync(tmp, path);
  return sorted;
}

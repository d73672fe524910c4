/**
 * monitoring/config/thresholds.yaml: alert thresholds per stage, validated with zod. Pure apart
 * from `loadThresholdsFile`, which reads the file and names it in every error.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { z } from "zod";
import { STAGES, type StageName } from "../config/stages.js";
import { DEFAULT_REPO_ROOT } from "./files.js";

export const VULNERABILITY_SEVERITIES = ["LOW", "MEDIUM", "HIGH", "CRITICAL"] as const;
export type VulnerabilitySeverity = (typeof VULNERABILITY_SEVERITIES)[number];

const ratio = z
  .number()
  .gt(0.5, "an objective above 0.5, like 0.999")
  .lt(1, "an objective below 1 (a 100% objective leaves no error budget)");

export const stageThresholdsSchema = z.strictObject({
  slo: z.strictObject({
    /** Fraction of requests that must not fail (5xx) over the 30-day SLO period. */
    availabilityObjective: ratio,
    /** Fraction of requests that must finish within `latencyBoundSeconds`. */
    latencyObjective: ratio,
    /** Upper bound (`le`) of one bucket of the service's duration histogram, in seconds. */
    latencyBoundSeconds: z.number().positive(),
  }),
  backup: z.strictObject({
    /** Hours between backup runs; the backup is stale after twice that. */
    scheduleIntervalHours: z.number().positive(),
  }),
  scanner: z.strictObject({
    /** Hours between scans; the scan is stale after twice that. */
    scheduleIntervalHours: z.number().positive(),
    /** Lowest vulnerability severity that alerts. */
    severityThreshold: z.enum(VULNERABILITY_SEVERITIES),
  }),
});

export const thresholdsSchema = z.strictObject({
  /** Base URL of monitoring/runbooks/ as users browse it; alerts link `<base><AlertName>.md`. */
  runbookBaseUrl: z.url().refine((u) => u.endsWith("/"), "a URL ending in /"),
  stages: z.strictObject(
    Object.fromEntries(STAGES.map((s) => [s, stageThresholdsSchema])) as Record<
      StageName,
      typeof stageThresholdsSchema
    >,
  ),
});

export type StageThresholds = z.infer<typeof stageThresholdsSchema>;
export type Thresholds = z.infer<typeof thresholdsSchema>;

export class ThresholdsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ThresholdsError";
  }
}

/** Validates parsed thresholds; errors name `file`, the field path and what is expected. */
export function parseThresholds(
  raw: unknown,
  file = "monitoring/config/thresholds.yaml",
): Thresholds {
  const result = thresholdsSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map(
      (i) => `  ${i.path.length ? i.path.join(".") : "(top level)"}: ${i.message}`,
    );
    throw new ThresholdsError(`${file} is invalid:\n${lines.join("\n")}\nFix the fields above.`);
  }
  return result.data;
}

export function loadThresholdsFile(file: string): Thresholds {
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new ThresholdsError(`${file}: cannot read thresholds: ${(err as Error).message}`);
  }
  return parseThresholds(raw, file);
}

/** Severities at or above `threshold`, lowest first. */
export function severitiesAtOrAbove(threshold: VulnerabilitySeverity): VulnerabilitySeverity[] {
  return VULNERABILITY_SEVERITIES.slice(VULNERABILITY_SEVERITIES.indexOf(threshold));
}

/**
 * The `le` label spellings of a bucket bound: Go clients write 1 as "1", Python clients as
 * "1.0"; both are matched so the latency SLO works whatever the service is written in.
 */
export function leSpellings(boundSeconds: number): string[] {
  const go = String(boundSeconds);
  return Number.isInteger(boundSeconds) ? [go, `${go}.0`] : [go];
}

/** The checked-in thresholds of this repository (monitoring/config/thresholds.yaml). */
export function loadThresholds(repoRoot: string = DEFAULT_REPO_ROOT): Thresholds {
  return loadThresholdsFile(path.join(repoRoot, "monitoring/config/thresholds.yaml"));
}

/**
 * monitoring/config/thresholds.yaml: alert thresholds per stage, validated with zod. Pure apart
 * from `loadThresholdsFile`, which reads the file and names it in every error.
 */
import path from "node:path";
import { z } from "zod";
import { STAGES, type StageName } from "../config/stages.js";
import { DEFAULT_REPO_ROOT } from "./files.js";
import { InputError } from "../errors.js";
import { formatProblem, loadYamlFile } from "../config/file.js";

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
  restoreDrill: z.strictObject({
    /**
     * Hours a passing restore drill stays valid (GoldenGooseRestoreDrillOverdue); equal to
     * golden-goose:recovery.drillMaxAgeHours in Pulumi.<stage>.yaml.
     */
    maxAgeHours: z.number().positive(),
  }),
  /**
   * Hours a passing failover drill (`goose dr failover`) stays valid
   * (GoldenGooseFailoverDrillOverdue). Only for stages with replicated Alertmanagers: a stage
   * without this key has no failover objective and never fires the alert.
   */
  failoverDrill: z.strictObject({ maxAgeHours: z.number().positive() }).optional(),
  scanner: z.strictObject({
    /** Hours between scans; the scan is stale after twice that. */
    scheduleIntervalHours: z.number().positive(),
    /** Lowest vulnerability severity that alerts. */
    severityThreshold: z.enum(VULNERABILITY_SEVERITIES),
  }),
});

/** Thresholds that may change gradually (a change settles as warning-only, then is enforced). */
export const GRADUAL_THRESHOLDS = ["slo.availabilityObjective", "slo.latencyObjective"] as const;
export type GradualThreshold = (typeof GRADUAL_THRESHOLDS)[number];

/** A date (`2026-11-20`, midnight UTC) or a date-time with zone (`2026-11-20T09:00:00Z`). */
const instant = z.union([z.iso.date(), z.iso.datetime({ offset: true })], {
  error: "a date like 2026-11-20 or a date-time like 2026-11-20T09:00:00Z",
});

const changeStepSchema = z.strictObject({
  /** The value enforced before the change is. */
  from: ratio,
  /** The new value: must equal the stage's value under `stages`. */
  to: ratio,
  /** When the new value starts settling (warning-only alerts). */
  since: instant,
});

const changeSchema = z.strictObject({
  threshold: z.enum(GRADUAL_THRESHOLDS),
  /** Days a stage runs the new value as warning-only before it is enforced there. */
  settleDays: z.number().positive(),
  /** One step per stage, sandbox first; a stage starts once the one before has settled. */
  stages: z
    .strictObject({
      sandbox: changeStepSchema.optional(),
      compliance: changeStepSchema.optional(),
      production: changeStepSchema.optional(),
    })
    .refine((s) => Object.keys(s).length > 0, "at least one stage"),
});

export const thresholdsSchema = z
  .strictObject({
    /** Base URL of monitoring/runbooks/ as users browse it; alerts link `<base><AlertName>.md`. */
    runbookBaseUrl: z.url().refine((u) => u.endsWith("/"), "a URL ending in /"),
    stages: z.strictObject(
      Object.fromEntries(STAGES.map((s) => [s, stageThresholdsSchema])) as Record<
        StageName,
        typeof stageThresholdsSchema
      >,
    ),
    /** Threshold changes in progress (see README, "Monitoring": threshold lifecycle). */
    changes: z.array(changeSchema).default([]),
  })
  .superRefine((t, ctx) => {
    const seen = new Set<string>();
    t.changes.forEach((c, i) => {
      const at = (...p: (string | number)[]) => ["changes", i, ...p];
      if (seen.has(c.threshold)) {
        ctx.addIssue({
          code: "custom",
          path: at("threshold"),
          message: `a second change of ${c.threshold}: finish (remove) the first one before starting another`,
        });
      }
      seen.add(c.threshold);
      let previous: { stage: StageName; enforcedAt: number } | undefined;
      STAGES.forEach((stage, si) => {
        const step = c.stages[stage];
        if (!step) {
          previous = undefined;
          return;
        }
        const before = STAGES[si - 1];
        if (before && !c.stages[before]) {
          ctx.addIssue({
            code: "custom",
            path: at("stages", stage),
            message: `a change reaches ${stage} only after ${before}: add the ${before} step first (one stage at a time)`,
          });
        }
        const current = stageValue(t.stages[stage], c.threshold);
        if (step.to !== current) {
          ctx.addIssue({
            code: "custom",
            path: at("stages", stage, "to"),
            message: `${step.to} is not stages.${stage}.${c.threshold} (${current}): set that to the new value`,
          });
        }
        if (step.from === step.to) {
          ctx.addIssue({
            code: "custom",
            path: at("stages", stage, "from"),
            message: "equal to `to`: nothing changes",
          });
        }
        const since = instantSeconds(step.since);
        if (previous && since < previous.enforcedAt) {
          ctx.addIssue({
            code: "custom",
            path: at("stages", stage, "since"),
            message:
              `${step.since} is before ${previous.stage} has settled ` +
              `(${new Date(previous.enforcedAt * 1000).toISOString()}): a stage takes the change once the one before enforces it`,
          });
        }
        previous = { stage, enforcedAt: since + c.settleDays * 86400 };
      });
    });
  });

export type StageThresholds = z.infer<typeof stageThresholdsSchema>;
export type Thresholds = z.infer<typeof thresholdsSchema>;
export type ThresholdChange = z.infer<typeof changeSchema>;

/** Unix seconds of a `since` value (a bare date is midnight UTC). */
export function instantSeconds(since: string): number {
  const iso = /^\d{4}-\d{2}-\d{2}$/.test(since) ? `${since}T00:00:00Z` : since;
  return Date.parse(iso) / 1000;
}

/** The value of a gradual threshold in one stage's thresholds. */
export function stageValue(t: StageThresholds, threshold: GradualThreshold): number {
  return threshold === "slo.availabilityObjective"
    ? t.slo.availabilityObjective
    : t.slo.latencyObjective;
}

/** A change as it applies to one stage: values and the Unix seconds it settles and is enforced. */
export interface StageChange {
  threshold: GradualThreshold;
  from: number;
  to: number;
  since: number;
  enforcedAt: number;
}

/** The changes that have a step in `stage`. */
export function stageChanges(t: Thresholds, stage: StageName): StageChange[] {
  return t.changes.flatMap((c) => {
    const step = c.stages[stage];
    if (!step) return [];
    const since = instantSeconds(step.since);
    return [
      {
        threshold: c.threshold,
        from: step.from,
        to: step.to,
        since,
        enforcedAt: since + c.settleDays * 86400,
      },
    ];
  });
}

export class ThresholdsError extends InputError {
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

/** Reads and validates a thresholds file: every problem at once, with its line. */
export function loadThresholdsFile(file: string): Thresholds {
  return loadYamlFile(thresholdsSchema, file, {
    error: (problems) =>
      new ThresholdsError(`${file} is invalid:\n${problems.map(formatProblem).join("\n")}`),
  }).value;
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

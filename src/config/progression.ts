import type { StageConfig } from "./schema.js";
import { STAGES, type StageName } from "./stages.js";

/** Settings that must never decrease from sandbox to production (safety only grows). */
export const NON_DECREASING: { key: string; of: (c: StageConfig) => number }[] = [
  { key: "prometheus.retentionDays", of: (c) => c.prometheus.retentionDays },
  { key: "prometheus.replicas", of: (c) => c.prometheus.replicas },
  { key: "prometheus.alertmanagerReplicas", of: (c) => c.prometheus.alertmanagerReplicas },
  { key: "grafana.replicas", of: (c) => c.grafana.replicas },
  { key: "backup.retentionDays", of: (c) => c.backup.retentionDays },
  { key: "snapshots.maxAgeDays", of: (c) => c.snapshots.maxAgeDays },
  // A boolean as 0/1: once a stage requires a restore drill to promote, every later one does.
  {
    key: "recovery.drillRequiredToPromote",
    of: (c) => (c.recovery.drillRequiredToPromote ? 1 : 0),
  },
];

/**
 * Settings that must never increase from sandbox to production: the recovery objectives only get
 * tighter (a looser RPO, RTO or drill age toward production would be a weaker promise).
 */
export const NON_INCREASING: { key: string; of: (c: StageConfig) => number }[] = [
  { key: "recovery.rpoSeconds", of: (c) => c.recovery.rpoSeconds },
  { key: "recovery.rtoSeconds", of: (c) => c.recovery.rtoSeconds },
  { key: "recovery.drillMaxAgeHours", of: (c) => c.recovery.drillMaxAgeHours },
  // A cached scan result is reused for at most as long as in the previous stage.
  { key: "scanner.cacheMaxAgeHours", of: (c) => c.scanner.cacheMaxAgeHours },
];

/**
 * Checks the stages against each other: each NON_DECREASING setting of a stage is at least the
 * previous stage's, each NON_INCREASING one at most. Returns one message per violation (empty
 * when the progression holds).
 */
export function checkStageProgression(configs: Partial<Record<StageName, StageConfig>>): string[] {
  const problems: string[] = [];
  const present = STAGES.filter((s) => configs[s] !== undefined);
  for (let i = 1; i < present.length; i++) {
    const lo = present[i - 1] as StageName;
    const hi = present[i] as StageName;
    for (const { key, of } of NON_DECREASING) {
      const a = of(configs[lo] as StageConfig);
      const b = of(configs[hi] as StageConfig);
      if (b < a) {
        problems.push(
          `Pulumi.${hi}.yaml: golden-goose:${key} is ${b} but ${lo} has ${a}; it must not decrease from ${lo} to ${hi}`,
        );
      }
    }
    for (const { key, of } of NON_INCREASING) {
      const a = of(configs[lo] as StageConfig);
      const b = of(configs[hi] as StageConfig);
      if (b > a) {
        problems.push(
          `Pulumi.${hi}.yaml: golden-goose:${key} is ${b} but ${lo} has ${a}; it must not increase from ${lo} to ${hi} (objectives only get tighter toward production)`,
        );
      }
    }
  }
  return problems;
}

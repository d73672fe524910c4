import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  checkStageProgression,
  loadStageConfigFile,
  NON_DECREASING,
  parseStageConfig,
  STAGES,
  type StageConfig,
  type StageName,
} from "../../src/config/index.js";

const shipped = Object.fromEntries(
  STAGES.map((s) => [s, loadStageConfigFile(`Pulumi.${s}.yaml`)]),
) as Record<StageName, StageConfig>;

const ROLE = "arn:aws:iam::123456789012:role/backup";

/** A stage config built through the real parser from generated values. */
function build(
  stage: StageName,
  v: { ret: number; prom: number; graf: number; bret: number },
): StageConfig {
  return parseStageConfig(
    {
      prometheus: { retentionDays: v.ret, replicas: v.prom },
      grafana: { replicas: v.graf },
      backup: {
        retentionDays: Math.max(v.bret, 30),
        ...(stage === "sandbox" ? {} : { roleArn: ROLE }),
      },
    },
    { file: `Pulumi.${stage}.yaml`, stack: stage },
  );
}

describe("stage progression", () => {
  it("the shipped stages never decrease retention, replicas or backup retention", () => {
    expect(checkStageProgression(shipped)).toEqual([]);
  });

  it("property: a problem is reported exactly when some setting decreases, and names it", () => {
    const values = fc.record({
      ret: fc.integer({ min: 1, max: 400 }),
      prom: fc.integer({ min: 1, max: 5 }),
      graf: fc.integer({ min: 1, max: 5 }),
      bret: fc.integer({ min: 30, max: 400 }),
    });
    fc.assert(
      fc.property(values, values, values, (a, b, c) => {
        const configs = {
          sandbox: build("sandbox", a),
          compliance: build("compliance", b),
          production: build("production", c),
        };
        const problems = checkStageProgression(configs);
        const expected: string[] = [];
        for (const [lo, hi] of [
          ["sandbox", "compliance"],
          ["compliance", "production"],
        ] as const) {
          for (const { key, of } of NON_DECREASING) {
            if (of(configs[hi]) < of(configs[lo])) expected.push(`${hi}:${key}`);
          }
        }
        expect(problems).toHaveLength(expected.length);
        for (const e of expected) {
          const [hi, key] = e.split(":");
          expect(
            problems.some((p) => p.startsWith(`Pulumi.${hi}.yaml: golden-goose:${key} `)),
          ).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("property: raising any setting in a later stage never introduces a problem", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 0, max: 3 }),
        (extraDays, extraReplicas) => {
          const raised = {
            ...shipped,
            production: build("production", {
              ret: shipped.production.prometheus.retentionDays + extraDays,
              prom: Math.min(10, shipped.production.prometheus.replicas + extraReplicas),
              graf: Math.min(10, shipped.production.grafana.replicas + extraReplicas),
              bret: shipped.production.backup.retentionDays + extraDays,
            }),
          };
          expect(checkStageProgression(raised)).toEqual([]);
        },
      ),
    );
  });
});

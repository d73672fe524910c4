import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  checkStageProgression,
  loadStageConfigFile,
  NON_DECREASING,
  NON_INCREASING,
  parseStageConfig,
  STAGES,
  type StageConfig,
  type StageName,
} from "../../src/config/index.js";

const shipped = Object.fromEntries(
  STAGES.map((s) => [s, loadStageConfigFile(`Pulumi.${s}.yaml`)]),
) as Record<StageName, StageConfig>;

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
        // A backup volume serves one Prometheus replica; more replicas back up to S3.
        ...(v.prom > 1 ? { target: "s3" } : {}),
      },
      eks: { clusterName: `goose-${stage}` },
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
      // Grafana is a single writer (the schema allows replicas: 1 only).
      graf: fc.constant(1),
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
              graf: 1,
              bret: shipped.production.backup.retentionDays + extraDays,
            }),
          };
          expect(checkStageProgression(raised)).toEqual([]);
        },
      ),
    );
  });
});

describe("recovery objectives", () => {
  const withRecovery = (stage: StageName, recovery: Record<string, number>) =>
    parseStageConfig(
      { recovery, eks: { clusterName: `goose-${stage}` } },
      { file: `Pulumi.${stage}.yaml`, stack: stage },
    );

  it("every shipped stage sets them, tighter or equal toward production", () => {
    for (const key of NON_INCREASING) {
      expect(key.of(shipped.production)).toBeLessThanOrEqual(key.of(shipped.compliance));
      expect(key.of(shipped.compliance)).toBeLessThanOrEqual(key.of(shipped.sandbox));
    }
  });

  it("a looser objective toward production is a problem naming the key; a tighter one is not", () => {
    const loose = {
      ...shipped,
      production: withRecovery("production", {
        rpoSeconds: shipped.compliance.recovery.rpoSeconds + 1,
        rtoSeconds: shipped.production.recovery.rtoSeconds,
        drillMaxAgeHours: shipped.compliance.recovery.drillMaxAgeHours * 2,
      }),
    };
    const problems = checkStageProgression(loose);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(
      /^Pulumi\.production\.yaml: golden-goose:recovery\.rpoSeconds is \d+ but compliance has \d+; it must not increase/,
    );
    expect(problems[1]).toMatch(/golden-goose:recovery\.drillMaxAgeHours/);
    const tight = {
      ...shipped,
      production: withRecovery("production", { rpoSeconds: 1, rtoSeconds: 1, drillMaxAgeHours: 1 }),
    };
    expect(checkStageProgression(tight)).toEqual([]);
  });

  it("a restore drill required to promote stays required toward production", () => {
    expect(shipped.sandbox.recovery.drillRequiredToPromote).toBe(false);
    expect(shipped.compliance.recovery.drillRequiredToPromote).toBe(true);
    expect(shipped.production.recovery.drillRequiredToPromote).toBe(true);
    const { rpoSeconds, rtoSeconds, drillMaxAgeHours } = shipped.production.recovery;
    const dropped = {
      ...shipped,
      production: parseStageConfig(
        {
          recovery: { rpoSeconds, rtoSeconds, drillMaxAgeHours, drillRequiredToPromote: false },
          eks: { clusterName: "goose-production" },
        },
        { file: "Pulumi.production.yaml", stack: "production" },
      ),
    };
    expect(checkStageProgression(dropped)).toEqual([
      expect.stringMatching(
        /^Pulumi\.production\.yaml: golden-goose:recovery\.drillRequiredToPromote is 0 but compliance has 1/,
      ),
    ]);
  });

  it("refuses an unknown or missing objective key, naming it", () => {
    expect(() => withRecovery("sandbox", { rpoSeconds: 60, rtoSecs: 60 })).toThrow(
      /golden-goose:recovery\.rtoSecs: unknown key; did you mean "rtoSeconds"/,
    );
  });
});

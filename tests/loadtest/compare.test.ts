import { describe, expect, it } from "vitest";
import {
  compareToBaseline,
  parametersOf,
  parseStressConfig,
  ParameterMismatchError,
  type Measured,
  type RunMetrics,
} from "../../src/loadtest/index.js";
import { testConfig } from "./helpers.js";
import { exitCodeOf } from "../../src/cli/errors.js";

const cfg = parseStressConfig(testConfig(), "test.yaml");
const scenario = cfg.scenarios.quick!;
const policy = cfg.tolerances.sandbox;

function metrics(
  p: Partial<{ p50: number; p99: number; errorRate: number; rps: number }>,
): RunMetrics {
  const p50 = p.p50 ?? 10;
  const p99 = p.p99 ?? 40;
  return {
    requests: 1000,
    rps: p.rps ?? 1000,
    bytes: 3000,
    throughput: 3000,
    errors: 0,
    timeouts: 0,
    non2xx: Math.round((p.errorRate ?? 0) * 1000),
    errorRate: p.errorRate ?? 0,
    statusCodes: { "200": 1000 },
    latencyMs: {
      p50,
      p75: p50,
      p90: p99,
      p95: p99,
      p97_5: p99,
      p99,
      p99_9: p99,
      mean: p50,
      max: p99,
      min: 1,
    },
    durationSeconds: 1,
  };
}

const measured = (m: RunMetrics, extra: Partial<Measured> = {}): Measured => ({
  scenario: "quick",
  parameters: parametersOf(scenario),
  metrics: m,
  ...extra,
});

describe("compareToBaseline (Keptn-style score)", () => {
  const baseline = measured(metrics({}));

  it("passes an equal run with score 100", () => {
    const v = compareToBaseline(measured(metrics({})), baseline, policy);
    expect(v.verdict).toBe("pass");
    expect(v.score).toBe(100);
    expect(v.criteria.map((c) => c.status)).toEqual(["pass", "pass", "pass"]);
  });

  it("warn level scores half: p50 +40% is a warn (weight 1 of 5 → score 90)", () => {
    const slow = measured(metrics({ p50: 40, p99: 100 }));
    const v = compareToBaseline(measured(metrics({ p50: 55, p99: 100 })), slow, policy);
    expect(v.criteria.find((c) => c.metric === "p50")).toMatchObject({
      status: "warn",
      limit: 50,
      warnLimit: 60,
      baseline: 40,
    });
    expect(v.score).toBe(90);
    expect(v.verdict).toBe("pass");
  });

  it("a failed key criterion fails whatever the score", () => {
    const v = compareToBaseline(measured(metrics({ p99: 80 })), baseline, policy);
    expect(v.criteria.find((c) => c.metric === "p99")).toMatchObject({
      status: "fail",
      key: true,
      limit: 65,
      warnLimit: 65,
    });
    expect(v.verdict).toBe("fail");
    expect(v.reasons.join("\n")).toContain(
      "p99 80ms vs baseline 40ms: beyond tolerance limit 65ms (key criterion)",
    );
  });

  it("the floor absorbs noise on a tiny baseline", () => {
    const tiny = measured(metrics({ p50: 0.2, p99: 0.5 }));
    const v = compareToBaseline(measured(metrics({ p50: 0.6, p99: 1.5 })), tiny, policy);
    expect(v.verdict).toBe("pass");
  });

  it("a failed absolute threshold fails the verdict", () => {
    const run = measured(metrics({}), {
      thresholds: [{ threshold: "p99 < 2s", metric: "p99", actual: 2500, limit: 2000, ok: false }],
    });
    const v = compareToBaseline(run, baseline, policy);
    expect(v.verdict).toBe("fail");
    expect(v.criteria[0]).toMatchObject({ kind: "threshold", status: "fail" });
  });

  it("without a baseline: warn at best, saying how to record one", () => {
    const v = compareToBaseline(measured(metrics({})), undefined, policy, {
      baselineLabel: "b.json",
    });
    expect(v).toMatchObject({ verdict: "warn", baseline: "missing" });
    expect(v.reasons[0]).toContain('no baseline for scenario "quick" in b.json');
    expect(v.reasons[0]).toContain("--save-baseline");
  });

  it("refuses a baseline measured with other parameters, naming each one", () => {
    const other = parseStressConfig(testConfig({ connections: 4, duration: "2s" }), "t.yaml")
      .scenarios.quick!;
    const b = { ...baseline, parameters: parametersOf(other) };
    let err: unknown;
    try {
      compareToBaseline(measured(metrics({})), b, policy, { baselineLabel: "sandbox.json" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ParameterMismatchError);
    expect(exitCodeOf(err)).toBe(2);
    expect((err as Error).message).toContain("phases[0].connections: baseline 4, this run 2");
    expect((err as Error).message).toContain("phases[0].durationSeconds: baseline 2, this run 1");
    expect((err as Error).message).toContain("--save-baseline");
  });
});

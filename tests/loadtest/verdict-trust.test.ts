/**
 * Verdicts a reviewer trusts, with the repository's own tolerances (load-test/config/stress-test.yaml):
 * a service 15x slower than its baseline whose latencies stay under the sandbox floors no longer
 * passes (throughput is a key criterion), and a run with no response at all fails naming the
 * connection errors by kind.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  compareToBaseline,
  evaluateThreshold,
  loadStressConfig,
  parametersOf,
  parseThreshold,
  type Measured,
  type RunMetrics,
} from "../../src/loadtest/index.js";

const cfg = loadStressConfig(
  path.resolve(import.meta.dirname, "../../load-test/config/stress-test.yaml"),
);
const scenario = cfg.scenarios.baseline!;

function run(p50: number, p99: number, rps: number, requests = rps * 30): RunMetrics {
  const lat = {
    p50,
    p75: p50,
    p90: p99,
    p95: p99,
    p97_5: p99,
    p99,
    p99_9: p99,
    mean: p50,
    max: p99,
    min: p50,
  };
  return {
    requests,
    rps,
    bytes: requests * 100,
    throughput: rps * 100,
    errors: 0,
    timeouts: 0,
    non2xx: 0,
    errorRate: 0,
    statusCodes: { "200": requests },
    latencyMs: lat,
    durationSeconds: 30,
  };
}
const measured = (m: RunMetrics): Measured => ({
  scenario: "baseline",
  parameters: parametersOf(scenario),
  metrics: m,
});

describe("verdicts with the stock tolerances", () => {
  it("sandbox: p50 0.17 → 2.5 ms and req/s −93% fails on throughput (key), though the latency floors pass", () => {
    const baseline = measured(run(0.17, 0.9, 30000));
    const slow = measured(run(2.5, 6, 2100));
    const v = compareToBaseline(slow, baseline, cfg.tolerances.sandbox);
    expect(v.criteria.find((c) => c.metric === "p50")?.status).toBe("pass");
    expect(v.criteria.find((c) => c.metric === "rps")).toMatchObject({ status: "fail", key: true });
    expect(v.verdict).toBe("fail");
  });

  it("sandbox: the same service a little slower (−20% req/s) still passes", () => {
    const v = compareToBaseline(
      measured(run(0.2, 1, 24000)),
      measured(run(0.17, 0.9, 30000)),
      cfg.tolerances.sandbox,
    );
    expect(v.verdict).toBe("pass");
  });

  it("no response at all fails, naming the connection errors by kind; latency thresholds do not pass on nothing", () => {
    const none: RunMetrics = {
      ...run(0, 0, 0, 0),
      errors: 26,
      errorKinds: { ENOTFOUND: 26 },
      errorRate: 1,
      statusCodes: {},
    };
    expect(
      evaluateThreshold(
        { ...parseThreshold("p95 < 300ms"), abortOnFail: false, delayAbortEvalMs: 0 },
        none,
      ).ok,
    ).toBe(false);
    const v = compareToBaseline(measured(none), undefined, cfg.tolerances.sandbox);
    expect(v.verdict).toBe("fail");
    expect(v.reasons[0]).toMatch(
      /no response from the target: 26 connection error\(s\) \(ENOTFOUND 26\)/,
    );
  });
});

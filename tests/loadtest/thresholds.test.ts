import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ExpressionError,
  parseThreshold,
  parseTolerance,
  toleranceLimit,
} from "../../src/loadtest/thresholds.js";
import { LatencyHistogram } from "../../src/loadtest/histogram.js";

describe("threshold grammar (k6-like)", () => {
  it("reads latency, ratio, rate and byte values into canonical units", () => {
    expect(parseThreshold("p99 < 500ms")).toMatchObject({ metric: "p99", op: "<", value: 500 });
    expect(parseThreshold("p(95)<=1.5s")).toMatchObject({ metric: "p95", op: "<=", value: 1500 });
    expect(parseThreshold("p(97.5) < 300")).toMatchObject({ metric: "p97_5", value: 300 });
    expect(parseThreshold("avg < 250us")).toMatchObject({ metric: "mean", value: 0.25 });
    expect(parseThreshold("errors < 1%")).toMatchObject({ metric: "errors", value: 0.01 });
    expect(parseThreshold("http_req_failed < 0.02")).toMatchObject({
      metric: "errors",
      value: 0.02,
    });
    expect(parseThreshold("rps >= 200")).toMatchObject({ metric: "rps", op: ">=", value: 200 });
    expect(parseThreshold("throughput > 2MB/s")).toMatchObject({
      metric: "throughput",
      value: 2e6,
    });
  });

  it("refuses what it cannot read, saying what would do", () => {
    expect(() => parseThreshold("p99 500ms")).toThrow(/write <metric> <op> <value>/);
    expect(() => parseThreshold("latency < 5ms")).toThrow(/unknown metric "latency"/);
    expect(() => parseThreshold("errors < 150%")).toThrow(/not a ratio such as 1% or 0.01/);
    expect(() => parseThreshold("p99 < fast")).toThrow(ExpressionError);
  });
});

describe("tolerances with an absolute floor", () => {
  it("lower-is-better: max(b·(1+p), b+floor)", () => {
    const t = parseTolerance("<= +10%");
    expect(t).toMatchObject({ direction: "lower", ratio: 0.1 });
    expect(toleranceLimit(100, t, 5)).toBeCloseTo(110);
    expect(toleranceLimit(1, t, 5)).toBe(6); // the floor wins for a tiny baseline
    expect(toleranceLimit(0, parseTolerance("<= +0%"), 0.01)).toBe(0.01);
  });

  it("higher-is-better: min(b·(1−p), b−floor), never below 0", () => {
    const t = parseTolerance(">= -20%");
    expect(t).toMatchObject({ direction: "higher", ratio: 0.2 });
    expect(toleranceLimit(1000, t, 50)).toBe(800);
    expect(toleranceLimit(100, t, 50)).toBe(50);
    expect(toleranceLimit(10, t, 50)).toBe(0);
  });

  it("rejects mixed directions and other shapes", () => {
    expect(() => parseTolerance(">= +5%")).toThrow(/mixes directions/);
    expect(() => parseTolerance("+10%")).toThrow(/not a tolerance/);
  });
});

describe("latency histogram", () => {
  it("every quantile is within 1% of the exact order statistic", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0.001, max: 60_000, noNaN: true }), {
          minLength: 1,
          maxLength: 400,
        }),
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        (values, q) => {
          const h = new LatencyHistogram();
          for (const v of values) h.record(v);
          const sorted = [...values].sort((a, b) => a - b);
          const exact = sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
          const got = h.quantile(q);
          expect(got).toBeGreaterThanOrEqual(exact * 0.99999);
          expect(got).toBeLessThanOrEqual(exact * 1.01 + 1e-9);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("merges, and keeps exact min, max and mean", () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    [1, 2, 3].forEach((v) => a.record(v));
    [10, 20].forEach((v) => b.record(v));
    a.merge(b);
    expect(a.count).toBe(5);
    expect(a.min).toBe(1);
    expect(a.max).toBe(20);
    expect(a.mean()).toBeCloseTo(7.2);
    expect(a.quantile(1)).toBe(20);
    expect(new LatencyHistogram().quantile(0.99)).toBe(0);
  });
});

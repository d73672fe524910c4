import { afterEach, describe, expect, it } from "vitest";
import { exitCodeOf } from "../../src/cli/errors.js";
import { InputError } from "../../src/errors.js";
import { parseStressConfig, runScenario, type Progress } from "../../src/loadtest/index.js";
import { startServer, testConfig, type TestServer } from "./helpers.js";

const servers: TestServer[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
});
async function server(opts: Parameters<typeof startServer>[0] = {}) {
  const s = await startServer(opts);
  servers.push(s);
  return s;
}

function scenario(yamlScenario: string, extraTop = "") {
  const text = testConfig().replace(
    / {2}quick:\n[\s\S]*?(?=tolerances:)/,
    `  quick:\n${yamlScenario.replace(/^/gm, "    ")}\n`,
  );
  return parseStressConfig(extraTop + text, "test.yaml").scenarios.quick!;
}

describe("runScenario against a loopback server", () => {
  it("measures a fast server: responses, rps, percentiles, no errors, thresholds pass", async () => {
    const s = await server();
    const progress: Progress[] = [];
    const r = await runScenario(scenario("connections: 2\nduration: 1s\nthresholds: [p99 < 2s]"), {
      target: s.url,
      onProgress: (p) => progress.push(p),
    });
    const served = [...s.paths.values()].reduce((a, b) => a + b, 0);
    expect(r.metrics.requests).toBeGreaterThan(50);
    expect(r.metrics.requests).toBeLessThanOrEqual(served);
    expect(r.metrics.statusCodes).toEqual({ "200": r.metrics.requests });
    expect(r.metrics.errorRate).toBe(0);
    expect(
      Math.abs(r.metrics.rps / (r.metrics.requests / r.metrics.durationSeconds) - 1),
    ).toBeLessThan(0.01);
    const l = r.metrics.latencyMs;
    expect(l.p50).toBeGreaterThan(0);
    expect(l.p50).toBeLessThanOrEqual(l.p95);
    expect(l.p95).toBeLessThanOrEqual(l.p99);
    expect(l.p99).toBeLessThanOrEqual(l.max);
    expect(r.thresholds.every((t) => t.ok)).toBe(true);
    expect(r.timeline.length).toBeGreaterThan(0);
    expect(progress.length).toBeGreaterThan(0);
    expect(r.parameters.phases).toEqual([{ connections: 2, durationSeconds: 1 }]);
    expect(r.tool.name).toBe("autocannon");
  });

  it("sees injected latency in every percentile", async () => {
    const s = await server({ delayMs: 40 });
    const r = await runScenario(scenario("connections: 2\nrequests: 20"), { target: s.url });
    expect(r.metrics.requests).toBe(20);
    expect(r.metrics.latencyMs.min).toBeGreaterThanOrEqual(39);
    expect(r.metrics.latencyMs.p50).toBeGreaterThanOrEqual(39);
  });

  it("counts injected errors as non-2xx and fails the error threshold", async () => {
    const s = await server({ errorEvery: 4 });
    const r = await runScenario(scenario("connections: 1\nrequests: 40"), { target: s.url });
    expect(r.metrics.requests).toBe(40);
    expect(r.metrics.non2xx).toBe(10);
    expect(r.metrics.statusCodes).toEqual({ "200": 30, "500": 10 });
    expect(r.metrics.errorRate).toBe(0.25);
    expect(r.thresholds.find((t) => t.metric === "errors")).toMatchObject({
      ok: false,
      actual: 0.25,
    });
  });

  it("counts timeouts as errors", async () => {
    const s = await server({ hang: true });
    const r = await runScenario(scenario("connections: 1\nduration: 2s\ntimeout: 1s"), {
      target: s.url,
    });
    expect(r.metrics.timeouts).toBeGreaterThan(0);
    expect(r.metrics.errors).toBeGreaterThanOrEqual(r.metrics.timeouts);
    expect(r.metrics.errorRate).toBe(1);
  });

  it("stops early on a failed abortOnFail threshold", async () => {
    const s = await server({ errorEvery: 1 });
    const r = await runScenario(
      scenario(
        'connections: 1\nduration: 30s\nthresholds:\n  - { threshold: "non2xx < 50%", abortOnFail: true }',
      ),
      { target: s.url, sampleMs: 200 },
    );
    expect(r.aborted?.reason).toContain('threshold "non2xx < 50%" failed');
    expect(r.metrics.durationSeconds).toBeLessThan(30);
  });

  it("sends the mix in weight proportion, under the target's path, with env-expanded headers", async () => {
    const s = await server();
    const sc = scenario(
      [
        "connections: 2",
        "requests: 400",
        "mix:",
        '  - { method: GET, path: "/q?x=1", weight: 6, headers: { authorization: "Bearer ${LT_TOKEN}" } }',
        "  - { method: POST, path: /ready, weight: 2, body: '{}' }",
      ].join("\n"),
    );
    const r = await runScenario(sc, { target: `${s.url}/base/`, env: { LT_TOKEN: "s3cr3t" } });
    expect(r.metrics.requests).toBe(400);
    expect(s.paths.get("/base/q?x=1")).toBe(300);
    expect(s.paths.get("/base/ready")).toBe(100);
    expect(s.authorization[0]).toBe("Bearer s3cr3t");
    // Header values and bodies never reach the recorded parameters.
    expect(JSON.stringify(r.parameters)).not.toContain("s3cr3t");
    expect(r.parameters.mix[0]!.headers).toEqual(["authorization"]);
    expect(r.parameters.mix[1]!.bodySha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("runs ramp phases one after another", async () => {
    const s = await server();
    const sc = scenario(
      "ramp:\n  - { connections: 1, duration: 500ms }\n  - { connections: 3, duration: 500ms }",
    );
    const r = await runScenario(sc, { target: s.url, sampleMs: 250 });
    expect(r.parameters.phases).toEqual([
      { connections: 1, durationSeconds: 0.5 },
      { connections: 3, durationSeconds: 0.5 },
    ]);
    expect(new Set(r.timeline.map((p) => p.connections))).toEqual(new Set([1, 3]));
  });

  it("refuses a bad target or a missing env var with exit code 2", async () => {
    const sc = scenario(
      "connections: 1\nrequests: 1\nmix:\n  - { path: /, headers: { x-key: '${LT_MISSING}' } }",
    );
    const bad = await runScenario(sc, { target: "ftp://example" }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(InputError);
    expect(exitCodeOf(bad)).toBe(2);
    await expect(runScenario(sc, { target: "http://u:p@127.0.0.1:1" })).rejects.toThrow(
      /must not carry credentials/,
    );
    await expect(runScenario(sc, { target: "http://127.0.0.1:1", env: {} })).rejects.toThrow(
      /reads \$\{LT_MISSING\}, which is not set; export LT_MISSING/,
    );
  });
});

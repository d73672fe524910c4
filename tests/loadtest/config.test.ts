import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { STAGES } from "../../src/config/stages.js";
import {
  LoadTestConfigError,
  loadStressConfig,
  parseStressConfig,
} from "../../src/loadtest/index.js";
import { goose, repoRoot, tempDir, testConfig } from "./helpers.js";

const shipped = join(repoRoot, "load-test/config/stress-test.yaml");

function problems(text: string): string {
  try {
    parseStressConfig(text, "bad.yaml");
  } catch (err) {
    expect(err).toBeInstanceOf(LoadTestConfigError);
    return (err as Error).message;
  }
  throw new Error("expected the config to be refused");
}

describe("the shipped stress-test config", () => {
  it("has the five scenarios, thresholds and tolerances for every stage", () => {
    const cfg = loadStressConfig(shipped);
    expect(Object.keys(cfg.scenarios).sort()).toEqual([
      "baseline",
      "smoke",
      "soak",
      "spike",
      "stress",
    ]);
    expect(cfg.scenarios.smoke!.phases).toEqual([
      { connections: 2, durationSeconds: 10, rate: 50 },
    ]);
    expect(cfg.scenarios.stress!.phases.map((p) => p.connections)).toEqual([10, 50, 100]);
    expect(cfg.scenarios.soak!.phases[0]!.durationSeconds).toBe(600);
    const mixWeights = cfg.scenarios.baseline!.mix.map((r) => r.weight);
    expect(mixWeights).toEqual([1, 3]);
    expect(cfg.scenarios.baseline!.thresholds.find((t) => t.abortOnFail)).toMatchObject({
      metric: "errors",
      value: 0.1,
      delayAbortEvalMs: 5000,
    });
    for (const s of STAGES) expect(cfg.tolerances[s].criteria.length).toBeGreaterThan(0);
    expect(cfg.tolerances.production.score).toEqual({ pass: 90, warn: 75 });
  });
});

describe("a bad config names the file, line and key", () => {
  const base = testConfig();

  it("unknown key, with a suggestion", () => {
    const msg = problems(base.replace("connections: 2", "conections: 2"));
    expect(msg).toMatch(
      /^bad\.yaml:\d+: scenarios\.quick\.conections: unknown key; did you mean "connections"\?/m,
    );
  });

  it("a threshold that does not parse", () => {
    expect(problems(base.replace("p99 < 2s", "p99 < two seconds"))).toContain(
      'scenarios.quick.thresholds[0]: "two seconds" in "p99 < two seconds" is not a duration',
    );
    expect(problems(base.replace("p99 < 2s", "p42x < 2s"))).toContain('unknown metric "p42x"');
  });

  it("both duration and requests, or neither", () => {
    expect(problems(base.replace("duration: 1s", "duration: 1s\n    requests: 100"))).toContain(
      "give exactly one of duration (e.g. 10s) or requests (a count)",
    );
  });

  it("a tolerance in the wrong direction, and a stage left out", () => {
    expect(problems(base.replace('pass: "<= +15%"', 'pass: "<= -15%"'))).toMatch(
      /tolerances\.compliance\.criteria\[0\]\.pass: "<= -15%" mixes directions/,
    );
    const noProd = base.slice(0, base.indexOf("  production:"));
    expect(problems(noProd)).toContain("tolerances.production: required");
  });

  it("a request timeout under autocannon's one second", () => {
    expect(problems(base.replace("timeout: 2s", "timeout: 200ms"))).toContain(
      "defaults.timeout: the request timeout must be at least 1s",
    );
  });

  it("a number where a duration belongs gives its line", () => {
    const text = base.replace("timeout: 2s", "timeout: soon");
    const line = text.split("\n").findIndex((l) => l.includes("timeout: soon")) + 1;
    expect(problems(text)).toContain(`bad.yaml:${line}: defaults.timeout: expected a duration`);
  });

  describe("through the CLI", () => {
    let cleanup = () => {};
    afterEach(() => cleanup());

    it("exits 2 and names the key", async () => {
      const t = tempDir();
      cleanup = t.cleanup;
      writeFileSync(join(t.dir, "cfg.yaml"), testConfig({ connections: 0 }));
      const r = await goose(
        [
          "loadtest",
          "run",
          "sandbox",
          "--scenario",
          "quick",
          "--target",
          "http://127.0.0.1:9",
          "--config",
          "cfg.yaml",
        ],
        t.dir,
      );
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/cfg\.yaml:\d+: scenarios\.quick\.connections: Too small/i);
    });

    it("exits 2 for an unknown scenario, naming the known ones", async () => {
      const t = tempDir();
      cleanup = t.cleanup;
      writeFileSync(join(t.dir, "cfg.yaml"), testConfig());
      const r = await goose(
        [
          "loadtest",
          "run",
          "sandbox",
          "--scenario",
          "quik",
          "--target",
          "http://127.0.0.1:9",
          "--config",
          "cfg.yaml",
        ],
        t.dir,
      );
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(
        'scenarios.quik: no such scenario; known: quick; did you mean "quick"?',
      );
    });

    it("exits 2 for a missing config file, saying what to pass", async () => {
      const t = tempDir();
      cleanup = t.cleanup;
      const r = await goose(
        [
          "loadtest",
          "run",
          "sandbox",
          "--scenario",
          "quick",
          "--target",
          "http://127.0.0.1:9",
          "--config",
          "nope.yaml",
        ],
        t.dir,
      );
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("nope.yaml: (file): no such file; pass --config");
    });
  });
});

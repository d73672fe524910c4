import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { STAGES } from "../../src/config/stages.js";
import {
  diffParameters,
  loadStressConfig,
  parametersOf,
  readBaselineFile,
} from "../../src/loadtest/index.js";
import { repoRoot } from "./helpers.js";

describe("the committed baselines", () => {
  const cfg = loadStressConfig(join(repoRoot, "load-test/config/stress-test.yaml"));

  for (const stage of STAGES) {
    it(`${stage}: a measured baseline per recorded scenario, comparable with the shipped config`, () => {
      const file = readBaselineFile(join(repoRoot, "load-test/baseline", `${stage}.json`));
      expect(file, `load-test/baseline/${stage}.json is missing`).toBeDefined();
      expect(file!.stage).toBe(stage);
      expect(Object.keys(file!.scenarios)).toEqual(expect.arrayContaining(["smoke", "baseline"]));
      for (const [name, entry] of Object.entries(file!.scenarios)) {
        const scenario = cfg.scenarios[name];
        expect(scenario, `baseline for unknown scenario ${name}`).toBeDefined();
        // A config change that alters load parameters must come with re-recorded baselines.
        expect(diffParameters(entry.parameters, parametersOf(scenario!))).toEqual([]);
        expect(entry.metrics.requests).toBeGreaterThan(0);
        expect(entry.metrics.latencyMs.p50).toBeLessThanOrEqual(entry.metrics.latencyMs.p99);
        expect(entry.note).toMatch(/reference server/);
        expect(entry.tool.name).toBe("autocannon");
      }
    });
  }
});

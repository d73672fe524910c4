/**
 * docs/monitoring.md states the per-stage retention and level settings: they must match the data
 * they describe (Pulumi.<stage>.yaml and monitoring/config/metric-levels.yaml).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadStageConfigFile } from "../../src/config/index.js";
import { STAGES } from "../../src/config/stages.js";
import { loadMetricLevels, METRIC_LEVELS } from "../../src/monitoring/levels.js";
import { REPO_ROOT } from "./tools.js";

const doc = readFileSync(path.join(REPO_ROOT, "docs/monitoring.md"), "utf8");
const row = (first: string) =>
  doc
    .split("\n")
    .find((l) => l.startsWith(`| ${first}`))
    ?.split("|")
    .map((c) => c.trim());

describe("docs/monitoring.md", () => {
  it.each(STAGES)("states %s's retention as Pulumi.<stage>.yaml sets it", (stage) => {
    const cfg = loadStageConfigFile(path.join(REPO_ROOT, `Pulumi.${stage}.yaml`));
    expect(row(`${stage} `)?.[2]).toBe(`${cfg.prometheus.retentionDays} days`);
  });

  it("states each level's interval and sample limit per stage as metric-levels.yaml sets them", () => {
    const levels = loadMetricLevels();
    for (const level of METRIC_LEVELS) {
      const cells = row(`\`${level}\``)!;
      STAGES.forEach((stage, i) => {
        const s = levels.stages[stage][level];
        expect(cells[3 + i], `${level} ${stage}`).toBe(
          s.keep ? `${s.scrapeInterval}, ${s.sampleLimit}` : "**dropped**",
        );
      });
    }
  });
});

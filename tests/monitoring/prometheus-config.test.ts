/**
 * `promtool check config` on each stage's rendered prometheus.yml (src/components/prometheus-config),
 * with its rule_files pointed at a temp copy of the rule files that stage ships, so the config and
 * the rules are checked together as deployed.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { renderPrometheusConfig, RULES_DIR } from "../../src/components/prometheus-config.js";
import { loadStageConfigFile } from "../../src/config/index.js";
import { STAGES } from "../../src/config/stages.js";
import { loadMonitoringFiles } from "../../src/monitoring/files.js";
import { REPO_ROOT, run, tempDir, tool } from "./tools.js";

describe("promtool check config", () => {
  it.concurrent.each(STAGES)(
    "accepts the rendered prometheus.yml of %s with its rule files",
    async (stage) => {
      const promtool = tool("promtool");
      const cfg = loadStageConfigFile(path.join(REPO_ROOT, `Pulumi.${stage}.yaml`));
      const rendered = parse(renderPrometheusConfig(cfg)) as Record<string, unknown>;
      expect(rendered["rule_files"]).toEqual([`${RULES_DIR}/*.yaml`]);
      expect((rendered["global"] as Record<string, unknown>)["external_labels"]).toEqual({ stage });

      const dir = tempDir(`promcfg-${stage}`);
      const rules = path.join(dir, "rules");
      mkdirSync(rules);
      const files = loadMonitoringFiles(stage);
      for (const [name, content] of Object.entries(files.rules))
        writeFileSync(path.join(rules, name), content);
      rendered["rule_files"] = [`${rules}/*.yaml`];
      const file = path.join(dir, "prometheus.yml");
      writeFileSync(file, stringify(rendered));

      const res = await run(promtool, ["check", "config", file]);
      expect(res.stdout + res.stderr).toContain("SUCCESS");
      expect(res.code, res.stdout + res.stderr).toBe(0);
      for (const name of Object.keys(files.rules)) {
        expect(res.stdout).toContain(path.join(rules, name));
      }
      expect(res.stdout).not.toMatch(/FAILED/);
    },
  );
});

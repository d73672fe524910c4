/**
 * The policy pack reads the stage's YAML documents with js-yaml's core schema
 * (policy-pack/policies/yaml-once.ts `parseYaml`), for speed; goose writes them with the `yaml`
 * package. Both must read the same values: every document goose renders for a stage's Prometheus
 * (each stage's prometheus.yml, the rule and threshold files) and the YAML features around them.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { renderPrometheusConfig } from "../../src/components/prometheus-config.js";
import { loadStageConfigFile } from "../../src/config/index.js";
import { STAGES } from "../../src/config/stages.js";
import { parseYaml } from "../../policy-pack/policies/yaml-once.js";

const REPO = path.resolve(import.meta.dirname, "../..");

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => path.join(e.parentPath, e.name));
}

describe("the pack's YAML reader", () => {
  it("reads every prometheus.yml and rule file goose renders as the yaml package does", () => {
    const docs: [string, string][] = STAGES.map((s) => [
      `prometheus.yml of ${s}`,
      renderPrometheusConfig(loadStageConfigFile(path.join(REPO, `Pulumi.${s}.yaml`))),
    ]);
    for (const f of yamlFiles(path.join(REPO, "monitoring"))) {
      docs.push([path.relative(REPO, f), readFileSync(f, "utf8")]);
    }
    expect(docs.length).toBeGreaterThan(10);
    for (const [name, text] of docs) expect(parseYaml(text), name).toEqual(parse(text));
  });

  it("agrees on scalars, block scalars, anchors, empty and broken documents", () => {
    const text = [
      "ints: [0, -3, 0o14, 0x1f, 1e3, 1.5, .inf, -.inf]",
      "bools: [true, True, false, FALSE, yes, no, on]",
      "nulls: [~, null, Null, '']",
      "strings: [\"a\\tb\", 'it''s', 5m, 2026-11-30, \"0.95\", 12:30]",
      "block: |",
      "  line one",
      "    indented",
      "folded: >-",
      "  folded",
      "  text",
      "anchor: &a { x: 1 }",
      "alias: *a",
      'expr: sum(rate(x{job=~"a|b"}[5m])) > 0.99',
    ].join("\n");
    expect(parseYaml(text)).toEqual(parse(text));
    expect(parseYaml("")).toBeUndefined();
    expect(parse("")).toBeNull();
    expect(() => parseYaml("a: [1, 2")).toThrow();
    expect(() => parse("a: [1, 2")).toThrow();
    expect(() => parseYaml("a: 1\na: 2\n")).toThrow();
    expect(() => parse("a: 1\na: 2\n")).toThrow();
  });
});

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { DataFileError, loadYamlFile, parseYamlFile } from "../../src/config/file.js";
import { loadAllowList, loadVulnPolicy } from "../../src/gates/vulns.js";
import { loadEnrichment } from "../../src/gates/sbom.js";
import { readBaselineFile } from "../../src/loadtest/baseline.js";
import { parseStressConfig } from "../../src/loadtest/config.js";
import { loadThresholdsFile } from "../../src/monitoring/thresholds.js";
import { testConfig } from "../loadtest/helpers.js";

const schema = z.strictObject({
  name: z.string(),
  limits: z.strictObject({ connections: z.number().int().min(1), timeout: z.number() }),
});

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected the file to be refused");
}

function lineOf(text: string, needle: string): number {
  return text.split("\n").findIndex((l) => l.includes(needle)) + 1;
}

function tempFile(name: string, text: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "goose-file-")), name);
  writeFileSync(file, text);
  return file;
}

describe("loadYamlFile", () => {
  it("reports every problem at once, each with its line, unknown keys with a did-you-mean", () => {
    const text = "name: web\nlimits:\n  conections: 5\n  timeout: soon\n";
    const err = errorOf(() => parseYamlFile(schema, "limits.yaml", text));
    expect(err).toBeInstanceOf(DataFileError);
    const problems = (err as DataFileError).problems;
    expect(problems.map((p) => [p.line, p.field])).toEqual([
      // A missing key is reported where its mapping starts.
      [3, "limits.connections"],
      [lineOf(text, "conections"), "limits.conections"],
      [lineOf(text, "timeout"), "limits.timeout"],
    ]);
    expect(err.message).toContain(
      `limits.yaml:3: limits.conections: unknown key; did you mean "connections"?`,
    );
    expect(err.message).toMatch(/^limits\.yaml:4: limits\.timeout: expected number.*"soon"/m);
    expect(err.message).toMatch(/^limits\.yaml:3: limits\.connections: required/m);
  });

  it("reports every YAML syntax error with its line, and a missing file with its fix", () => {
    const err = errorOf(() => parseYamlFile(schema, "x.yaml", "name: [web\nlimits: {a: 1\n"));
    expect(err.message).toMatch(/^x\.yaml:\d+: \(file\): not valid YAML/m);
    const missing = errorOf(() => loadYamlFile(schema, "/nonexistent/limits.yaml"));
    expect(missing.message).toContain("/nonexistent/limits.yaml:0: (file): no such file");
  });
});

describe("the loaders on it report two problems with their lines", () => {
  it("gates: vulnerability policy, allow-list and SBOM enrichment", () => {
    const allow =
      "entries:\n  - id: GHSA-x\n    reason: ok\n    expires: '2027-01-01'\n" +
      "  - id: GHSA-y\n    reason: ok\n    approver: sec-team\n    expires: soon\n";
    const msg = errorOf(() => loadAllowList(tempFile("allow-list.yaml", allow))).message;
    expect(msg).toMatch(/allow-list\.yaml:2: entries\[0\]\.approver: required/);
    expect(msg).toMatch(/allow-list\.yaml:8: entries\[1\]\.expires: .*2027-05-31/);

    const policyMsg = errorOf(() =>
      loadVulnPolicy(tempFile("policy.yaml", "unknownAs: HIGH\nfailat: {}\n")),
    ).message;
    expect(policyMsg).toMatch(/policy\.yaml:2: failat: unknown key; did you mean "failAt"\?/);
    expect(policyMsg).toMatch(/policy\.yaml:1: failAt: required/);

    const enrich = errorOf(() =>
      loadEnrichment(
        tempFile("enrichment.yaml", "supplier: {}\nrules:\n  - npm: x\n    image: y\n"),
      ),
    ).message;
    expect(enrich).toMatch(/enrichment\.yaml:1: supplier/);
    expect(enrich).toMatch(
      /enrichment\.yaml:3: rules\[0\]: each rule needs exactly one of npm or image/,
    );
  });

  it("load tests: the stress-test config and a baseline", () => {
    const text = testConfig()
      .replace("connections: 2", "conections: 2")
      .replace("timeout: 2s", "timeout: soon");
    const msg = errorOf(() => parseStressConfig(text, "cfg.yaml")).message;
    expect(msg).toContain(
      `cfg.yaml:${lineOf(text, "conections")}: scenarios.quick.conections: unknown key; did you mean "connections"?`,
    );
    expect(msg).toContain(`cfg.yaml:${lineOf(text, "timeout: soon")}: defaults.timeout:`);

    const baseline = tempFile(
      "sandbox.json",
      JSON.stringify({ version: 2, stage: "sandbox", scenarios: { a: { scenario: 1 } } }, null, 2),
    );
    const bmsg = errorOf(() => readBaselineFile(baseline)).message;
    expect(bmsg).toMatch(/sandbox\.json:2: version: /);
    expect(bmsg).toMatch(/sandbox\.json:6: scenarios\.a\.scenario: expected string/);
    expect(bmsg).toContain("record a new one with --save-baseline");
  });

  it("monitoring thresholds", () => {
    const file = tempFile("thresholds.yaml", "stages: {}\nchanges: []\nextra: 1\n");
    const msg = errorOf(() => loadThresholdsFile(file)).message;
    expect(msg).toMatch(/thresholds\.yaml:3: extra: unknown key/);
    expect(msg).toMatch(/thresholds\.yaml:1: stages\.sandbox: required/);
  });
});

describe("loadYamlFile: a file loaded again in one process", () => {
  it("is parsed once per text; each load gets its own copy; an edit or a broken file is read anew", () => {
    const file = tempFile("limits.yaml", "name: web\nlimits:\n  connections: 5\n  timeout: 2\n");
    const a = loadYamlFile(schema, file).value;
    const b = loadYamlFile(schema, file).value;
    expect(b).toEqual(a);
    expect(b).not.toBe(a);
    a.limits.connections = 99;
    expect(loadYamlFile(schema, file).value.limits.connections).toBe(5);
    writeFileSync(file, "name: web\nlimits:\n  connections: 7\n  timeout: 2\n");
    expect(loadYamlFile(schema, file).value.limits.connections).toBe(7);
    writeFileSync(file, "name: web\nlimits:\n  connections: 0\n  timeout: 2\n");
    for (let i = 0; i < 2; i++) {
      expect(errorOf(() => loadYamlFile(schema, file))).toBeInstanceOf(DataFileError);
    }
  });
});

/**
 * Policy-pack config resolution, as the CLI does it before Configure: schema defaults, the pack's
 * levels and initialConfig, the file's `all`, per-policy entries, then ajv validation with
 * CLI-style messages. Pure: works on an AnalyzerInfo value, no pack process.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { AnalyzerInfo } from "../../src/policy/analyzer.js";
import { PolicyPackError } from "../../src/policy/errors.js";
import {
  readPolicyPackConfigFile,
  resolvePolicyPackConfig,
} from "../../src/policy/policy-config.js";
import { exitCodeOf } from "../../src/cli/errors.js";

const info: AnalyzerInfo = {
  name: "golden-goose",
  version: "0.1.0",
  supportsConfig: true,
  initialConfig: { "s3-lifecycle": { enforcementLevel: "advisory", properties: { minDays: 7 } } },
  policies: [
    {
      name: "s3-lifecycle",
      description: "d",
      enforcementLevel: "mandatory",
      configSchema: {
        properties: {
          minDays: { type: "integer", minimum: 1, default: 30 },
          note: { type: "string" },
        },
        required: ["minDays"],
      },
    },
    {
      name: "quota",
      description: "d",
      enforcementLevel: "advisory",
      configSchema: { properties: { max: { type: "integer" } }, required: ["max"] },
    },
    { name: "plain", description: "d", enforcementLevel: "advisory" },
  ],
};

describe("resolvePolicyPackConfig", () => {
  it("applies defaults, initialConfig, `all`, then per-policy entries", () => {
    const r = resolvePolicyPackConfig(info, {
      all: "mandatory",
      "s3-lifecycle": { minDays: 90 },
      quota: { enforcementLevel: "advisory", max: 200 },
      plain: "disabled",
    });
    expect(r).toEqual({
      "s3-lifecycle": { enforcementLevel: "mandatory", properties: { minDays: 90 } },
      quota: { enforcementLevel: "advisory", properties: { max: 200 } },
      plain: { enforcementLevel: "disabled", properties: {} },
    });
  });

  it("without a file, keeps the pack's levels and initialConfig over schema defaults", () => {
    expect(() => resolvePolicyPackConfig(info, undefined)).toThrow(
      /validating policy config: golden-goose 0.1.0 +quota: max is required/,
    );
    const r = resolvePolicyPackConfig(info, { quota: { max: 1 } });
    expect(r["s3-lifecycle"]).toEqual({ enforcementLevel: "advisory", properties: { minDays: 7 } });
  });

  it("rejects a value that breaks the configSchema, naming pack, policy and field", () => {
    expect(() =>
      resolvePolicyPackConfig(
        info,
        { "s3-lifecycle": { minDays: 0 }, quota: { max: 1 } },
        "sandbox.json",
      ),
    ).toThrow(/golden-goose 0.1.0 +s3-lifecycle: minDays must be >= 1 \(fix sandbox.json\)/);
    expect(() => resolvePolicyPackConfig(info, { quota: { max: "lots" } }, "sandbox.json")).toThrow(
      /quota: max must be integer/,
    );
  });

  it("rejects unknown policies and bad levels", () => {
    expect(() => resolvePolicyPackConfig(info, { "s3-lifecylce": "mandatory" }, "c.json")).toThrow(
      /c.json: unknown policy "s3-lifecylce"; the pack golden-goose 0.1.0 has: s3-lifecycle, quota, plain/,
    );
    expect(() => resolvePolicyPackConfig(info, { all: "strict" })).toThrow(/"all" must be one of/);
    expect(() =>
      resolvePolicyPackConfig(info, { quota: { enforcementLevel: "loud", max: 1 } }),
    ).toThrow(/quota: enforcementLevel must be one of advisory, mandatory, remediate, disabled/);
  });

  it("errors are PolicyPackError (exit 2)", () => {
    try {
      resolvePolicyPackConfig(info, { all: "nope" });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(PolicyPackError);
      expect(exitCodeOf(err)).toBe(2);
    }
  });
});

describe("readPolicyPackConfigFile", () => {
  const dir = mkdtempSync(join(tmpdir(), "goose-ppc-"));
  it("reads a JSON object", () => {
    const f = join(dir, "ok.json");
    writeFileSync(f, '{"all":"advisory"}');
    expect(readPolicyPackConfigFile(f)).toEqual({ all: "advisory" });
  });
  it("names the file and the fix for a missing, broken or non-object file", () => {
    expect(() => readPolicyPackConfigFile(join(dir, "missing.json"))).toThrow(
      /missing.json: ENOENT/,
    );
    const bad = join(dir, "bad.json");
    writeFileSync(bad, "{ all: advisory");
    expect(() => readPolicyPackConfigFile(bad)).toThrow(/bad.json is not valid JSON/);
    const arr = join(dir, "arr.json");
    writeFileSync(arr, "[]");
    expect(() => readPolicyPackConfigFile(arr)).toThrow(/must be a JSON object/);
  });
});

/**
 * The offline state against Pulumi's own definitions, using the real files in ../shared/fixtures:
 * an offline `up` validates against Pulumi's JSON Schema of deployments (draft 2020-12); real
 * exports parse and are refused for another stack or an unknown feature as `stack import` does;
 * `analyzeExport` runs a real export with secrets (b64 provider) and archives through a pack.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import formats from "ajv-formats";
import * as k8s from "@pulumi/kubernetes";
import * as random from "@pulumi/random";
import { afterAll, describe, expect, it } from "vitest";
import { analyzeExport } from "../../src/policy/analyze.js";
import { OfflineEngine } from "../../src/engine/offline/engine.js";
import { parseExport } from "../../src/engine/offline/state.js";
import { fixturesDir, makePack, removePacks, repoRoot } from "./packs.js";

afterAll(() => removePacks());

const fixture = (name: string) =>
  JSON.parse(readFileSync(join(fixturesDir, "pulumi", name), "utf8"));
/** A checkpoint turned into the matching `pulumi stack export` file (fixtures README). */
const asExport = (name: string) => {
  const c = fixture(name);
  return {
    version: c.version,
    ...(c.features ? { features: c.features } : {}),
    deployment: c.checkpoint.latest,
  };
};

function deploymentValidator() {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  for (const f of ["property-values.json", "resources.json", "deployments.json"]) {
    // Ajv does not register a `$anchor` on a schema's root; the root of property-values.json is
    // `#property_value`, so this copy refers to it as `#` (same schema, ajv-resolvable).
    const text = readFileSync(join(fixturesDir, "pulumi", "schema", f), "utf8");
    ajv.addSchema(JSON.parse(text.replaceAll('"#property_value"', '"#"')));
  }
  // ajv-formats is CommonJS with `exports.default`: the callable is one level down under ESM.
  (formats as unknown as { default: (a: Ajv2020) => void }).default(ajv);
  // The root schema is the whole export, `{version, deployment}`; version 3 goes to $defs/deploymentV3.
  return ajv.getSchema(
    "https://github.com/pulumi/pulumi/blob/master/sdk/go/common/apitype/deployments.json",
  )!;
}

describe("offline state vs Pulumi's schema and fixtures", () => {
  it("an offline up is a valid deploymentV3 per Pulumi's JSON Schema", async () => {
    const engine = new OfflineEngine({
      cwd: repoRoot,
      env: process.env,
      stateDir: mkdtempSync(join(tmpdir(), "goose-state-")),
      program: () => {
        const pw = new random.RandomPassword("pw", { length: 20 });
        new k8s.core.v1.Secret("s", { stringData: { p: pw.result } }, { protect: true });
        return { pw: pw.result };
      },
    });
    await engine.up("compliance");
    const doc = JSON.parse(await engine.exportStack("compliance"));
    const validate = deploymentValidator();
    const ok = validate(doc);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
    // and the schema is not a rubber stamp: a malformed resource fails
    const broken = structuredClone(doc);
    broken.deployment.resources[1].custom = "yes";
    expect(validate(broken)).toBe(false);
  });

  it("real exports parse; another stack or an unknown feature is refused like `stack import`", () => {
    const v3 = JSON.stringify(asExport("checkpoint-v3.json"));
    expect(parseExport(v3, "foo", "v3").deployment.resources?.length).toBe(30);
    expect(() => parseExport(v3, "sandbox", "checkpoint-v3.json")).toThrow(
      /resource 'urn:pulumi:foo::countdown::.*' is from a different stack \(foo != sandbox\)/,
    );
    expect(parseExport(JSON.stringify(asExport("checkpoint-v4.json")), "foo", "v4").version).toBe(
      4,
    );
    expect(() =>
      parseExport(
        JSON.stringify(asExport("checkpoint-v4-unsupported-feature.json")),
        "foo",
        "f.json",
      ),
    ).toThrow(/needs support for the following features: unsupported-feature/);
  });

  it("analyzeExport: a real export with b64 secrets and archives through a pack", async () => {
    const pack = makePack(
      "seer",
      `import { PolicyPack } from "@pulumi/policy";
new PolicyPack("seer", { policies: [{ name: "see", description: "d", validateResource: (args, report) => {
  if (args.type === "aws:lambda/permission:Permission") report(JSON.stringify(args.props));
}}] });`,
      { "config/sandbox.json": "{}" },
    );
    const { violations } = await analyzeExport(asExport("checkpoint-secrets.json"), "sandbox", {
      policyPackDir: pack,
    });
    const seen = violations.map((v) => ({ urn: v.urn, props: JSON.parse(v.message) }));
    const watcher = seen.find((v) =>
      v.urn?.endsWith("aws:lambda/permission:Permission::countDown_watcher"),
    );
    // b64 ciphertext decoded: the policy sees plain values, as with the CLI
    expect(watcher?.props.action).toBe("lambda:invokeFunction");
    expect(watcher?.props.function).toBe("countDown_watcher-560cf0c8d799e9cd");
    for (const v of seen) expect(JSON.stringify(v.props)).not.toContain("ciphertext");
  });
});

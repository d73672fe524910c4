/**
 * The edits of @pulumi/policy's server.js (src/pulumi-startup-policy.mjs, issue 18: the analyzer):
 * they match the installed SDK exactly or are not applied at all, and with them — and
 * policy-pack/sdk-speed.ts — every Analyzer response is byte-for-byte the unedited SDK's: the
 * golden-goose policies' pass and fail cases of every stage, the bench's synthetic resources, and
 * edge-case policies (asynchronous, returning a value, arrays of validations, not applicable by
 * throwing and by type, unknown values, mandatory/advisory/disabled/remediate levels, a
 * remediation-only policy, stack policies sorting their resources, parents and dependencies, a
 * failing validation, requests without options).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { unknownCheckingProxy, UnknownValueError } from "@pulumi/policy";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PATCHES, patchSource } from "../../src/pulumi-startup.mjs";
import {
  NOT_APPLICABLE_BY_TYPE_KEY,
  POLICY_SDK_VERSION,
  POLICY_SERVER_EDITS,
} from "../../src/pulumi-startup-policy.mjs";
import { policies } from "../../policy-pack/policies/index.js";
import {
  containersOf,
  NOT_APPLICABLE_BY_TYPE,
  WORKLOAD_TYPES,
} from "../../policy-pack/policies/util.js";

const REPO = path.resolve(import.meta.dirname, "../..");
const STARTUP = pathToFileURL(path.join(REPO, "src/pulumi-startup.mjs")).href;
const requireHere = createRequire(path.join(REPO, "policy-pack", "index.ts"));
const SERVER = requireHere.resolve("@pulumi/policy/server.js");
const SERVER_URL = pathToFileURL(SERVER).href;

describe("the server.js edits", () => {
  it("are written for the installed @pulumi/policy, and each text is there exactly once", () => {
    const pkg = JSON.parse(
      readFileSync(requireHere.resolve("@pulumi/policy/package.json"), "utf8"),
    ) as { version: string };
    // An upgrade: re-read server.js's handlers and update src/pulumi-startup-policy.mjs.
    expect(pkg.version).toBe(POLICY_SDK_VERSION);
    const text = readFileSync(SERVER, "utf8");
    for (const [from] of POLICY_SERVER_EDITS) {
      expect(text.split(from).length - 1, from.slice(0, 120)).toBe(1);
    }
    const { source, applied } = patchSource(SERVER_URL, text);
    expect(applied).toBe(POLICY_SERVER_EDITS.length);
    expect(source).toContain("gooseAnalyzeState(req, type)");
    expect(source).toContain(`Symbol.for("${NOT_APPLICABLE_BY_TYPE_KEY}")`);
    expect(PATCHES.some(([suffix]) => SERVER_URL.endsWith(suffix))).toBe(true);
  });

  it("apply all together or not at all: one missing text leaves server.js as it is", async () => {
    const text = readFileSync(SERVER, "utf8");
    const [, [second]] = POLICY_SERVER_EDITS as unknown as [unknown, [string]];
    const changed = text.replace(second, second.replace("getResourceOptions(req)", "other(req)"));
    expect(changed).not.toBe(text);
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on("warning", onWarning);
    try {
      const { source, applied } = patchSource(SERVER_URL, changed);
      expect(applied).toBe(0);
      expect(source).toBe(changed);
      // Warnings are emitted on a later tick.
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings.join("\n")).toMatch(
      /@pulumi\/policy\/server\.js loads unedited \(edit 2 of \d+: text not found\)/,
    );
  });

  it("the pack's symbol is the one the edited server reads", () => {
    expect(NOT_APPLICABLE_BY_TYPE).toBe(Symbol.for(NOT_APPLICABLE_BY_TYPE_KEY));
  });
});

describe("the pack's validations reported not applicable by type", () => {
  const TYPES = [
    ...Object.values(WORKLOAD_TYPES),
    "kubernetes:core/v1:ConfigMap",
    "kubernetes:core/v1:Secret",
    "kubernetes:core/v1:Service",
    "kubernetes:core/v1:ConfigMapList",
    "kubernetes:helm.sh/v3:Release",
    "kubernetes:yaml/v2:ConfigGroup",
    "aws:s3/bucket:Bucket",
    "random:index/randomPassword:RandomPassword",
  ];
  const marked = policies.flatMap((p) => {
    const v = (p as { validateResource?: unknown }).validateResource as
      { [NOT_APPLICABLE_BY_TYPE]?: (type: string) => string | undefined } | undefined;
    const byType = v?.[NOT_APPLICABLE_BY_TYPE];
    return byType ? [[p.name, v as (a: object, r: () => void) => void, byType] as const] : [];
  });

  it("cover the workload, label and monitoring policies", () => {
    expect(marked.length).toBeGreaterThanOrEqual(13);
  });

  it.each(marked)(
    "%s: for each type its test rejects, a call throws that reason before reading anything",
    (_name, validation, byType) => {
      let rejected = 0;
      for (const type of TYPES) {
        const reason = byType(type);
        if (reason === undefined) continue;
        rejected++;
        const read = (what: string) => () => {
          throw new Error(`read ${what}`);
        };
        const args = Object.defineProperties(
          {
            type,
            name: "n",
            urn: `urn:pulumi:s::p::${type}::n`,
            notApplicable: (r?: string): never => {
              throw { notApplicable: r };
            },
          },
          {
            props: { get: read("props") },
            opts: { get: read("opts") },
            getConfig: { get: read("config") },
          },
        );
        expect(() => validation(args, read("report")), type).toThrow(
          expect.objectContaining({ notApplicable: reason }) as never,
        );
      }
      expect(rejected).toBeGreaterThan(0);
    },
  );
});

describe("Analyzer responses with the edits are the SDK's, byte for byte", () => {
  let dir: string;
  let driver: string;
  beforeAll(async () => {
    // The driver runs as plain JavaScript: tsx loads CommonJS files itself, past the preload's
    // load hook, so under tsx the edits would never apply.
    dir = mkdtempSync(path.join(tmpdir(), "goose-policy-server-"));
    symlinkSync(path.join(REPO, "node_modules"), path.join(dir, "node_modules"), "dir");
    driver = path.join(dir, "driver.cjs");
    const source = path.join(REPO, "tests/policy/policy-server-driver.ts");
    await build({
      entryPoints: [source],
      outfile: driver,
      bundle: true,
      packages: "external",
      platform: "node",
      // CommonJS, as the pack's own bundle: the preload makes @pulumi/kubernetes's index lazy
      // (getters), which an ES module's namespace import of it does not see.
      format: "cjs",
      target: "node22",
      logLevel: "silent",
      // Paths the bundled modules compute from their own location stay the sources' paths.
      define: {
        "import.meta.dirname": JSON.stringify(path.dirname(source)),
        "import.meta.url": JSON.stringify(pathToFileURL(source).href),
        // policy-pack/sdk-speed.ts is CommonJS in the pack; it resolves the SDK from its own path.
        __filename: JSON.stringify(path.join(REPO, "policy-pack/sdk-speed.ts")),
      },
    });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function run(mode: "sdk" | "goose"): {
    patched: boolean;
    typedCalls: number;
    wireDecoded: number;
    sdkDecoded: number;
    results: { name: string; bytes?: string; error?: { code?: unknown; details?: string } }[];
  } {
    const out = path.join(dir, `${mode}.json`);
    const r = spawnSync(
      process.execPath,
      [...(mode === "goose" ? ["--import", STARTUP] : []), driver, out, mode],
      { cwd: REPO, encoding: "utf8" },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/GOOSE_SDK_EDIT_SKIPPED|loads unedited/);
    return JSON.parse(readFileSync(out, "utf8")) as ReturnType<typeof run>;
  }

  it("every response and error, with and without the edits", () => {
    const sdk = run("sdk");
    const goose = run("goose");
    expect(sdk.patched).toBe(false);
    expect(goose.patched).toBe(true);
    // The edited server reports onlyForTypes validations of other types without calling them.
    expect(goose.typedCalls).toBeLessThan(sdk.typedCalls);
    expect(goose.typedCalls).toBeGreaterThan(0);
    // With sdk-speed.ts, properties are decoded from the request's bytes; those with secrets or
    // assets (the stages' Secrets, the edge cases) are left to google-protobuf and the SDK.
    expect(sdk.wireDecoded).toBe(0);
    expect(goose.wireDecoded).toBeGreaterThan(500);
    expect(goose.sdkDecoded).toBeGreaterThan(0);
    expect(goose.wireDecoded + goose.sdkDecoded).toBe(sdk.sdkDecoded);
    // An error's details end with its stack trace, whose server.js frames moved with the edits:
    // compare the message above it.
    const message = (s?: string) => s?.split(/\n\s+at /)[0];
    const normal = (rs: typeof sdk.results) =>
      rs.map((r) =>
        r.error ? { ...r, error: { ...r.error, details: message(r.error.details) } } : r,
      );
    expect(goose.results.length).toBeGreaterThan(150);
    // The first request answered differently, by name (the responses are long hex strings).
    const [g, s] = [normal(goose.results), normal(sdk.results)];
    expect(g.find((r, i) => !isDeepStrictEqual(r, s[i]))?.name).toBeUndefined();
    expect(g).toEqual(s);
    // What the cases cover: violations, not-applicable lists and failed requests.
    expect(sdk.results.filter((r) => r.error).map((r) => r.name)).toEqual([
      "raw no properties",
      "raw stack no properties",
      "raw truncated",
      "throws",
      "no options",
      "stack no options",
    ]);
  }, 60_000);
});

describe("containersOf, once per props object", () => {
  const deployment = (image: unknown) => ({
    spec: { template: { spec: { containers: [{ name: "app", image }], initContainers: [] } } },
  });

  it("returns the same list for the same props and type, and finds them again for another", () => {
    const props = unknownCheckingProxy(deployment("quay.io/x:v1"));
    const first = containersOf("kubernetes:apps/v1:Deployment", props);
    expect(first.map((c) => [c.name, c.path])).toEqual([
      ["app", "spec.template.spec.containers[0]"],
    ]);
    expect(containersOf("kubernetes:apps/v1:Deployment", props)).toBe(first);
    // A bare Pod's containers sit elsewhere: none at spec.containers here.
    expect(containersOf("kubernetes:core/v1:Pod", props)).toEqual([]);
    expect(containersOf("kubernetes:apps/v1:Deployment", props)).not.toBe(first);
  });

  it("keeps no result for a read that threw: an unknown list throws for every caller", () => {
    const props = unknownCheckingProxy({
      spec: { template: { spec: { containers: "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2" } } },
    });
    for (let i = 0; i < 2; i++) {
      expect(() => containersOf("kubernetes:apps/v1:Deployment", props)).toThrow(UnknownValueError);
    }
  });
});

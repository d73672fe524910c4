/**
 * src/pulumi-startup.mjs (issue 18): goose and its policy-pack processes load @pulumi/pulumi without
 * its Automation API and closure serializer, which load on first use and still work.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { PATCHES, patchSource } from "../../src/pulumi-startup.mjs";
import { LAZY_INDEXES, lazySubmodules } from "../../src/pulumi-startup-providers.mjs";

const REPO = path.resolve(import.meta.dirname, "../..");
const STARTUP = path.join(REPO, "src/pulumi-startup.mjs");
const HEAVY = /\/node_modules\/(typescript|@npmcli\/arborist)\/|\/@pulumi\/pulumi\/automation\//;

/** In a fresh node (with or without the preload): heavy files loaded by require, then after use. */
function loadPulumi(preload: boolean): { atLoad: string[]; afterUse: string[]; works: boolean } {
  const script = `
    const heavy = () => Object.keys(require.cache).filter((f) => ${HEAVY}.test(f));
    const pulumi = require("@pulumi/pulumi");
    const atLoad = heavy();
    const works =
      typeof pulumi.automation.LocalWorkspace.create === "function" &&
      typeof pulumi.runtime.serializeFunction === "function" &&
      typeof pulumi.runtime.computeCodePaths === "function" &&
      pulumi.runtime.serializeFunction === require("@pulumi/pulumi/runtime/closure/serializeClosure").serializeFunction;
    console.log(JSON.stringify({ atLoad, afterUse: heavy(), works }));
  `;
  const r = spawnSync(
    process.execPath,
    [...(preload ? ["--import", pathToFileURL(STARTUP).href] : []), "-e", script],
    { cwd: REPO, encoding: "utf8" },
  );
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { atLoad: string[]; afterUse: string[]; works: boolean };
}

describe("pulumi-startup preload", () => {
  it("every edit matches the installed @pulumi/pulumi and @pulumi/policy (update the patterns after an SDK upgrade)", () => {
    // From the policy pack's folder: @pulumi/policy is its dependency.
    const require = createRequire(path.join(REPO, "policy-pack", "index.ts"));
    for (const [suffix, edits] of PATCHES) {
      const file = require.resolve(suffix.replace("/node_modules/", ""));
      const { source, applied } = patchSource(pathToFileURL(file).href, readFileSync(file, "utf8"));
      expect(applied, file).toBe(edits.length);
      for (const [from, to] of edits) {
        expect(source.includes(to)).toBe(true);
        if (!to.includes(from)) expect(source.includes(from)).toBe(false);
      }
    }
  });

  it("without it, require('@pulumi/pulumi') loads TypeScript, arborist and the Automation API", () => {
    const plain = loadPulumi(false);
    expect(plain.atLoad.length).toBeGreaterThan(0);
    expect(plain.works).toBe(true);
  }, 30_000);

  it("with it, none of them loads until used, and then the same functions are there", () => {
    const lazy = loadPulumi(true);
    expect(lazy.atLoad).toEqual([]);
    expect(lazy.works).toBe(true);
    expect(lazy.afterUse.some((f) => f.includes("/@pulumi/pulumi/automation/"))).toBe(true);
    expect(lazy.afterUse.some((f) => f.includes("/node_modules/typescript/"))).toBe(true);
  }, 30_000);
});

describe("pulumi-startup: resource promises' stack traces", () => {
  it("are not captured unless PULUMI_DEBUG_PROMISE_LEAKS asks for the leak report's traces", () => {
    const script = `
      let made = 0;
      const Base = Error;
      globalThis.Error = class extends Base { constructor(...a) { super(...a); made++; } };
      const { debuggablePromise } = require("@pulumi/pulumi/runtime/debuggable");
      const p = Promise.resolve(1);
      debuggablePromise(p, "probe");
      globalThis.Error = Base;
      console.log(JSON.stringify({ made, trace: p._debugStackTrace ?? null }));
    `;
    const env = { ...process.env };
    delete env.PULUMI_DEBUG_PROMISE_LEAKS;
    const r = spawnSync(process.execPath, ["--import", pathToFileURL(STARTUP).href, "-e", script], {
      cwd: REPO,
      encoding: "utf8",
      env,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ made: 0, trace: null });
  }, 30_000);

  it("with it, are formatted only when read, and then hold the frames of where the promise was made", () => {
    const script = `
      const { debuggablePromise, promiseDebugString } = require("@pulumi/pulumi/runtime/debuggable");
      let formatted = 0;
      const prepare = Error.prepareStackTrace;
      Error.prepareStackTrace = (e, frames) => { formatted++; return String(e) + "\\n" + frames.map((f) => "    at " + f).join("\\n"); };
      function madeHere() { return Promise.resolve(1); }
      const p = madeHere();
      debuggablePromise(p, "probe");
      const before = formatted;
      const text = promiseDebugString(p);
      Error.prepareStackTrace = prepare;
      console.log(JSON.stringify({ before, after: formatted, text }));
    `;
    const r = spawnSync(process.execPath, ["--import", pathToFileURL(STARTUP).href, "-e", script], {
      cwd: REPO,
      encoding: "utf8",
      env: { ...process.env, PULUMI_DEBUG_PROMISE_LEAKS: "1" },
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { before: number; after: number; text: string };
    expect(out.before).toBe(0);
    expect(out.after).toBe(1);
    expect(out.text).toContain("CONTEXT(");
    expect(out.text).toContain("probe");
    expect(out.text).toMatch(/STACK_TRACE:\nError\n {4}at .*debuggablePromise/);
  }, 30_000);
});

describe("pulumi-startup: provider SDK indexes load their modules on first read", () => {
  it("the edit applies to the installed @pulumi/aws and @pulumi/kubernetes (update the pattern after an SDK upgrade)", () => {
    const require = createRequire(path.join(REPO, "package.json"));
    for (const [pkg, atLeast] of [
      ["@pulumi/aws", 200],
      ["@pulumi/kubernetes", 25],
    ] as const) {
      const file = require.resolve(pkg);
      expect(
        LAZY_INDEXES.some((s) => pathToFileURL(file).href.endsWith(s)),
        file,
      ).toBe(true);
      const { count } = lazySubmodules(readFileSync(file, "utf8"));
      expect(count, file).toBeGreaterThanOrEqual(atLeast);
    }
  });

  it("the same properties in the same order, the same modules when read, fewer files at load", () => {
    const script = `
      const files = (p) => Object.keys(require.cache).filter((f) => f.includes("/node_modules/" + p + "/")).length;
      const aws = require("@pulumi/aws");
      const k8s = require("@pulumi/kubernetes");
      const atLoad = { aws: files("@pulumi/aws"), k8s: files("@pulumi/kubernetes") };
      const same =
        aws.s3 === require("@pulumi/aws/s3") &&
        typeof aws.s3.Bucket === "function" &&
        k8s.apps === require("@pulumi/kubernetes/apps") &&
        typeof k8s.apps.v1.Deployment === "function";
      console.log(JSON.stringify({ keys: [Object.keys(aws), Object.keys(k8s)], atLoad, same }));
    `;
    const run = (preload: boolean) => {
      const r = spawnSync(
        process.execPath,
        [...(preload ? ["--import", pathToFileURL(STARTUP).href] : []), "-e", script],
        { cwd: REPO, encoding: "utf8" },
      );
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as {
        keys: string[][];
        atLoad: { aws: number; k8s: number };
        same: boolean;
      };
    };
    const plain = run(false);
    const lazy = run(true);
    expect(lazy.keys).toEqual(plain.keys);
    expect(plain.same).toBe(true);
    expect(lazy.same).toBe(true);
    // Without the edit the indexes load every service and API group; with it, a handful of files.
    expect(plain.atLoad.aws).toBeGreaterThan(200);
    expect(lazy.atLoad.aws).toBeLessThan(20);
    expect(lazy.atLoad.k8s).toBeLessThan(plain.atLoad.k8s / 2);
  }, 60_000);

  it("an ES module importing the SDKs sees the same named exports (a user's ESM policy pack)", () => {
    // Node derives a CommonJS module's named exports from its text; an edit it cannot read would
    // leave `import * as k8s` without `apps` under goose only (it did, with the first version).
    const dir = mkdtempSync(path.join(tmpdir(), "goose-lazy-esm-"));
    const script = path.join(dir, "pack.mjs");
    const req = (p: string) =>
      JSON.stringify(pathToFileURL(createRequire(path.join(REPO, "package.json")).resolve(p)).href);
    writeFileSync(
      script,
      `import * as pulumi from ${req("@pulumi/pulumi")};\n` +
        `import * as runtime from ${req("@pulumi/pulumi/runtime")};\n` +
        `import * as aws from ${req("@pulumi/aws")};\n` +
        `import * as k8s from ${req("@pulumi/kubernetes")};\n` +
        `import { apps } from ${req("@pulumi/kubernetes")};\n` +
        `console.log(JSON.stringify({ keys: [Object.keys(pulumi), Object.keys(runtime), Object.keys(aws), Object.keys(k8s)], ok: typeof k8s.apps.v1.StatefulSet === "function" && apps === k8s.apps && typeof aws.s3.Bucket === "function" && typeof pulumi.automation.LocalWorkspace === "function" && typeof runtime.serializeFunction === "function" }));\n`,
    );
    try {
      const run = (preload: boolean) => {
        const r = spawnSync(
          process.execPath,
          [...(preload ? ["--import", pathToFileURL(STARTUP).href] : []), script],
          { cwd: REPO, encoding: "utf8" },
        );
        expect(r.status, r.stderr).toBe(0);
        return JSON.parse(r.stdout) as { keys: string[][]; ok: boolean };
      };
      const plain = run(false);
      const lazy = run(true);
      expect(plain.ok).toBe(true);
      expect(lazy.ok).toBe(true);
      expect(lazy.keys).toEqual(plain.keys);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

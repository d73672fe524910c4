/**
 * Issue 18: `goose preview --offline` starts the policy pack before it loads the engine
 * (src/engine/offline/pack-prelaunch.ts). The engine takes that pack only when it was started with
 * the environment the engine would give it, else kills it and starts its own; and a pack goose
 * starts with a JavaScript `main` runs without ts-node (no TypeScript compiler loaded) and writes
 * the compile cache once serving (src/pulumi-startup.mjs).
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as k8s from "@pulumi/kubernetes";
import { afterAll, describe, expect, it } from "vitest";
import { OfflineEngine, type StageProgram } from "../../src/engine/offline/engine.js";
import { prelaunchPack } from "../../src/engine/offline/pack-prelaunch.js";
import { ensurePolicyPackBuilt } from "../../src/policy/pack-build.js";
import { isJavaScriptPack } from "../../src/pulumi-startup.mjs";
import { makePack, removePacks, repoRoot } from "./packs.js";

const temps: string[] = [];
afterAll(() => {
  removePacks();
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

/** Reports, from inside the pack process, who it is and what it loaded. */
const WHOAMI_PACK = `
import * as pulumi from "@pulumi/pulumi";
import { PolicyPack } from "@pulumi/policy";
new PolicyPack("whoami", {
  enforcementLevel: "advisory",
  policies: [
    {
      name: "whoami",
      description: "Reports the pack process.",
      validateStack: (args, report) => {
        report(JSON.stringify({
          pid: process.pid,
          stack: pulumi.getStack(),
          typescript: Object.keys(require.cache).some((f) => f.includes("/node_modules/typescript/")),
          tsNode: Object.keys(require.cache).some((f) => f.includes("/node_modules/ts-node/")),
        }));
      },
    },
  ],
});
`;

const program: StageProgram = (cfg) => {
  new k8s.core.v1.ConfigMap("probe", { data: { stage: cfg.stage } });
  return {};
};

interface WhoAmI {
  pid: number;
  stack: string;
  typescript: boolean;
  tsNode: boolean;
}

describe("policy pack started before the engine", () => {
  const pack = makePack("whoami", WHOAMI_PACK, {
    "config/sandbox.json": "{}",
    "config/compliance.json": "{}",
  });
  const cache = mkdtempSync(join(tmpdir(), "goose-compile-cache-"));
  temps.push(cache);
  const env = { ...process.env, NODE_COMPILE_CACHE: cache };

  const previewWith = async (stage: "sandbox" | "compliance", prelaunchedFor: typeof stage) => {
    await ensurePolicyPackBuilt(pack);
    const pre = prelaunchPack({
      cwd: repoRoot,
      env,
      policyPackDir: pack,
      stages: [prelaunchedFor],
    });
    expect(pre, "a built pack and a readable stack file are prelaunched").toBeDefined();
    const engine = new OfflineEngine({
      cwd: repoRoot,
      env,
      policyPackDir: pack,
      program,
      prelaunched: pre!,
    });
    try {
      const r = await engine.preview(stage);
      const v = r.violations.find((x) => x.policy === "whoami");
      return { who: JSON.parse(v!.message) as WhoAmI, pre: pre! };
    } finally {
      await pre!.launch.close();
    }
  };

  it("the engine uses the prelaunched pack when its environment is the one it needs", async () => {
    const { who, pre } = await previewWith("compliance", "compliance");
    expect(who.pid).toBe(pre.launch.pid);
    expect(who.stack).toBe("compliance");
    // A goose-built pack's main is JavaScript: no ts-node, no TypeScript compiler in the pack.
    expect(who.typescript).toBe(false);
    expect(who.tsNode).toBe(false);
    // The pack wrote the compile cache once it served (goose ends packs with SIGKILL).
    expect(readdirSync(cache).length).toBeGreaterThan(0);
  }, 60_000);

  it("a prelaunched pack of another stack is killed and the engine starts its own", async () => {
    const { who, pre } = await previewWith("compliance", "sandbox");
    expect(who.pid).not.toBe(pre.launch.pid);
    expect(who.stack).toBe("compliance");
    expect(pre.launch.exited).toBeDefined();
  }, 60_000);

  it("no prelaunch without a built pack or a readable stack file", () => {
    const unbuilt = makePack("unbuilt", WHOAMI_PACK);
    expect(prelaunchPack({ cwd: repoRoot, env, policyPackDir: unbuilt, stages: ["sandbox"] })).toBe(
      undefined,
    );
    expect(
      prelaunchPack({
        cwd: repoRoot,
        env,
        policyPackDir: pack,
        stages: ["sandbox"],
        stackConfigFile: "no-such-stack.yaml",
      }),
    ).toBe(undefined);
  });
});

describe("isJavaScriptPack", () => {
  it("is true for a JavaScript main, false for TypeScript or none", () => {
    const js = makePack("js-main", WHOAMI_PACK, { "dist/index.js": "" });
    expect(isJavaScriptPack(".", js)).toBe(true);
    const ts = makePack("ts-main", WHOAMI_PACK, {
      "package.json": JSON.stringify({ name: "ts-main", version: "1.0.0", main: "index.ts" }),
    });
    expect(isJavaScriptPack(".", ts)).toBe(false);
    const none = makePack("no-main", WHOAMI_PACK);
    expect(isJavaScriptPack(".", none)).toBe(false);
  });
});

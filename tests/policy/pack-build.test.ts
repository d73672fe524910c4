/**
 * The pack build: esbuild compiles a TypeScript pack into one CommonJS file on demand, only when
 * dist is missing or older than a source, and a compile error names the file and line.
 */
import { existsSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PolicyPackError } from "../../src/policy/errors.js";
import { ensurePolicyPackBuilt, isPolicyPackBuilt } from "../../src/policy/pack-build.js";
import { makePack, removePacks } from "../engine/packs.js";

afterAll(() => removePacks());

const SRC = `import { PolicyPack } from "@pulumi/policy";
import { rules } from "./policies/rules.js";
new PolicyPack("built", { policies: rules });
`;
const RULES = `import type { ResourceValidationPolicy } from "@pulumi/policy";
export const rules: ResourceValidationPolicy[] = [
  { name: "r", description: "d", validateResource: (_a, _r) => undefined },
];
`;

describe("ensurePolicyPackBuilt", () => {
  it("builds a missing dist, skips a fresh one, rebuilds after a source changes", async () => {
    const dir = makePack("built", SRC, { "policies/rules.ts": RULES });
    expect(isPolicyPackBuilt(dir)).toBe(false);
    expect(await ensurePolicyPackBuilt(dir)).toBe(true);
    const out = join(dir, "dist", "index.js");
    const js = readFileSync(out, "utf8");
    expect(js).toContain('require("@pulumi/policy")');
    expect(js).toContain('name: "r"'); // the policies file is bundled in
    expect(JSON.parse(readFileSync(join(dir, "dist", "package.json"), "utf8"))).toEqual({
      type: "commonjs",
    });
    expect(await ensurePolicyPackBuilt(dir)).toBe(false);
    const later = new Date(statSync(out).mtimeMs + 5_000);
    utimesSync(join(dir, "policies", "rules.ts"), later, later);
    expect(isPolicyPackBuilt(dir)).toBe(false);
    expect(await ensurePolicyPackBuilt(dir)).toBe(true);
  });

  it("rebuilds after a module it bundles from outside the pack changes", async () => {
    const outside = makePack("shared", "export const x = 1;\n");
    const shared = join(outside, "shared.ts");
    writeFileSync(shared, 'export const policyName = "shared-rule";\n');
    const rules = `import type { ResourceValidationPolicy } from "@pulumi/policy";
import { policyName } from ${JSON.stringify(shared.replace(/\.ts$/, ".js"))};
export const rules: ResourceValidationPolicy[] = [
  { name: policyName, description: "d", validateResource: (_a, _r) => undefined },
];
`;
    const dir = makePack("bundles", SRC, { "policies/rules.ts": rules });
    expect(await ensurePolicyPackBuilt(dir)).toBe(true);
    const out = join(dir, "dist", "index.js");
    expect(readFileSync(out, "utf8")).toContain('"shared-rule"');
    expect(await ensurePolicyPackBuilt(dir)).toBe(false);
    const later = new Date(statSync(out).mtimeMs + 5_000);
    utimesSync(shared, later, later);
    expect(isPolicyPackBuilt(dir)).toBe(false);
    expect(await ensurePolicyPackBuilt(dir)).toBe(true);
  });

  it("a syntax error names the file and line", async () => {
    const dir = makePack("broken", SRC, { "policies/rules.ts": "export const rules = [;\n" });
    const err = await ensurePolicyPackBuilt(dir).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PolicyPackError);
    expect((err as Error).message).toMatch(/cannot compile policy pack[\s\S]*rules\.ts:1:/);
    expect(existsSync(join(dir, "dist", "index.js"))).toBe(false);
  });

  it("a folder that is not a pack", async () => {
    const dir = makePack("notapack", SRC);
    writeFileSync(join(dir, "package.json"), "{}");
    const { rmSync } = await import("node:fs");
    rmSync(join(dir, "package.json"));
    await expect(ensurePolicyPackBuilt(dir)).rejects.toThrow(
      /no policy pack at .*expected package.json/,
    );
  });
});

#!/usr/bin/env node
// `npm run build`: compiles policy-pack/ to policy-pack/dist/index.js (CommonJS, esbuild).
// The engine also does this on demand when dist is missing or stale, so this is optional.
import { register } from "tsx/esm/api";
import { fileURLToPath } from "node:url";
import { dirname, resolve } from "node:path";

register();
const { buildPolicyPack } = await import("../src/policy/pack-build.ts");
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const packDir = resolve(repoRoot, process.argv[2] ?? "policy-pack");
const started = performance.now();
try {
  const out = await buildPolicyPack(packDir);
  console.log(`built ${out} in ${Math.round(performance.now() - started)} ms`);
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 2;
}

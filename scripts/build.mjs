#!/usr/bin/env node
// `npm run build` (and npm's `prepare`, so `npm ci` and `npm install` run it): compiles src/ to
// dist/ — one JavaScript file per TypeScript file, same layout and depth, so paths a module
// computes from import.meta.url (the repository root, schema files, the snapshot worker) hold
// in both trees —, the CLI bundled into dist/bundle/ from the same sources (what bin/goose.js runs;
// scripts/bundle-cli.mjs), and the policy pack to policy-pack/dist/index.js.
//
// bin/goose.js runs dist/ only while it is newer than every file under src/ (else it runs the
// sources through tsx), so a forgotten or stale build costs speed, never correctness.
import { cpSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { bundleCli } from "./bundle-cli.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "src");
const started = performance.now();

const files = readdirSync(src, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
const entries = files
  .filter((e) => e.name.endsWith(".ts") && !e.name.endsWith(".d.ts"))
  .map((e) => join(e.parentPath, e.name));
const assets = files.filter((e) => !e.name.endsWith(".ts")).map((e) => join(e.parentPath, e.name));

// Build next to dist and swap, so a goose process starting meanwhile never sees half a tree.
const tmp = join(root, `.dist-${process.pid}`);
rmSync(tmp, { recursive: true, force: true });
try {
  await build({
    entryPoints: entries,
    outdir: tmp,
    outbase: src,
    bundle: false,
    platform: "node",
    format: "esm",
    target: "node22",
    logLevel: "warning",
  });
  for (const a of assets) {
    const to = join(tmp, a.slice(src.length + 1));
    mkdirSync(dirname(to), { recursive: true });
    cpSync(a, to);
  }
  writeFileSync(join(tmp, "package.json"), '{ "type": "module" }\n');
  // What bin/goose.js runs: the CLI bundled (scripts/bundle-cli.mjs), beside the per-file tree
  // whose paths its modules compute.
  await bundleCli({ root, outdir: join(tmp, "bundle"), runsFrom: join(root, "dist", "bundle") });
  // Written last: bin/goose.js compares the sources' modification times with this file's.
  writeFileSync(join(tmp, ".built"), `${new Date().toISOString()}\n`);
  const old = join(root, `.dist-old-${process.pid}`);
  try {
    renameSync(join(root, "dist"), old);
  } catch {
    // no previous build
  }
  renameSync(tmp, join(root, "dist"));
  rmSync(old, { recursive: true, force: true });
} catch (err) {
  rmSync(tmp, { recursive: true, force: true });
  console.error(`build failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(2);
}
const cli = performance.now() - started;

// The policy pack, with the code goose itself uses to rebuild it on demand.
const { buildPolicyPack } = await import(join(root, "dist/policy/pack-build.js"));
try {
  await buildPolicyPack(join(root, process.argv[2] ?? "policy-pack"));
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(2);
}
console.log(
  `built dist/ (${entries.length} modules) in ${Math.round(cli)} ms and policy-pack/dist in ` +
    `${Math.round(performance.now() - started - cli)} ms`,
);

#!/usr/bin/env node
// goose: runs the compiled dist/ (built by `npm ci`/`npm install` through the `prepare` script, or
// `npm run build`) while it is newer than every file under src/; otherwise the TypeScript sources
// through tsx, so an edited source or a missing build is never run stale.
import module from "node:module";
import { existsSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

// Node's on-disk compile cache: later runs skip V8 compilation of goose's modules and of the
// providers it loads (the policy packs goose starts share it: src/policy/pack-launch.ts). It lives
// in this checkout's node_modules/.cache, which belongs to whoever installed it (a shared /tmp
// would let another user plant compiled code); Node keys it by its version and each file's
// content, and where it cannot write there it just compiles as usual.
try {
  module.enableCompileCache?.(
    fileURLToPath(new URL("../node_modules/.cache/goose-compile-cache", import.meta.url)),
  );
} catch {
  // no cache: slower, never wrong
}

/** True when dist/.built is newer than every file and folder under src/ (GOOSE_RUN_SOURCES=1: never). */
function compiledIsFresh() {
  if (process.env.GOOSE_RUN_SOURCES) return false;
  const src = new URL("../src/", import.meta.url);
  let built;
  try {
    built = statSync(new URL("../dist/.built", import.meta.url)).mtimeMs;
  } catch {
    return false;
  }
  if (statSync(src).mtimeMs > built) return false;
  for (const e of readdirSync(src, { recursive: true, withFileTypes: true })) {
    if (statSync(`${e.parentPath}/${e.name}`).mtimeMs > built) return false;
  }
  return true;
}

// `goose … | head` closes the pipe early: that is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err) => {
    if (err.code !== "EPIPE") throw err;
  });
}
// Before anything loads @pulumi/pulumi: its Automation API and closure serializer load on use.
await import("../src/pulumi-startup.mjs");
let main;
if (compiledIsFresh()) {
  // The CLI bundled from the same sources (scripts/bundle-cli.mjs); dist/cli/main.js is the
  // same program file by file (and all a dist/ built before the bundle existed has).
  const bundled = new URL("../dist/bundle/main.js", import.meta.url);
  ({ main } = await import(existsSync(bundled) ? bundled.href : "../dist/cli/main.js"));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import("../src/cli/main.ts"));
}
process.exitCode = await main(process.argv.slice(2));

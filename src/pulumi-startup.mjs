// Loaded first by goose (bin/goose.js) and by the policy-pack processes it starts
// (`node --import <this file>`, src/policy/analyzer.ts): a module-load hook that makes two parts
// of @pulumi/pulumi load on first use instead of at `require("@pulumi/pulumi")`:
//
// - `pulumi.automation` (the Automation API: execa, the workspace…), and
// - the closure serializer behind `pulumi.runtime.serializeFunction[Async]` and
//   `computeCodePaths` (the TypeScript compiler and npm's arborist).
//
// Neither is used by a preview, a policy pack or goose itself (src/engine/real imports
// `@pulumi/pulumi/automation/index.js` directly), and together they are ~75% of the package's
// load time (~0.4 s of CPU per process). The properties stay, as getters that load the same
// modules the first time they are read.
//
// A third edit, in every process: the stack trace @pulumi/pulumi keeps on each resource promise
// (for its leak report at exit) is captured only when PULUMI_DEBUG_PROMISE_LEAKS asks the report
// to print it, and formatted only if the report reads it.
//
// In a policy-pack process goose starts (`run-policy-pack`, src/policy/pack-launch.ts) two more
// things change:
//
// - a pack whose `main` resolves to a JavaScript file is run without ts-node: the runner
//   registers ts-node with type checking for every pack, which loads the TypeScript compiler
//   (~0.35 s of CPU) and does nothing for a JavaScript `main` (a goose-built pack's `main` is
//   always its compiled dist/index.js, pack-build.ts); a TypeScript `main` keeps it;
// - the on-disk compile cache (NODE_COMPILE_CACHE, set by goose) is written as soon as the pack
//   prints its port: Node writes it at exit, and goose ends its packs with SIGKILL as the CLI
//   does, so without this it would never be written;
// - with GOOSE_PACK_EXIT_WITH_PARENT=1 (set by pack-launch.ts, whose stdin pipe to the pack only
//   goose holds) the pack exits when that pipe ends: goose died without closing it (SIGKILL, a
//   crash, OOM), and a pack nobody will ever call must not live on holding its port and memory.
//
// In every process, @pulumi/policy's server.js (the pack's Analyzer handlers) gets the edits of
// src/pulumi-startup-policy.mjs: per-request work done once per request instead of once per policy.
//
// The edits are textual ones on the pinned SDK; when a
// pattern is not found (another SDK version) the file loads unchanged, and
// tests/policy/pulumi-startup.test.ts fails so the patterns get updated. The server.js edits
// apply all together or not at all (with a warning), and only to the version they were written for.
//
// Plain JavaScript, so it runs before any TypeScript loader. Needs module.registerHooks
// (Node >= 22.15); without it nothing changes.
import { readFileSync } from "node:fs";
import module from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { POLICY_SDK_VERSION, POLICY_SERVER_EDITS } from "./pulumi-startup-policy.mjs";
import { LAZY_INDEXES, lazySubmodules } from "./pulumi-startup-providers.mjs";

/**
 * File (suffix of its URL) → [exact text, replacement] edits, and optionally `{ version }`: then
 * the edits apply only all together, each text found once, to that version of the file's package.
 */
export const PATCHES = [
  [
    "/node_modules/@pulumi/pulumi/index.js",
    [
      [
        'const automation = __importStar(require("./automation"));\nexports.automation = automation;',
        // A holder's getter requires; the export's getter has the one form Node's CommonJS export
        // scanner reads (see src/pulumi-startup-providers.mjs), so ES module importers see it.
        'const __gooseLazy_automation = { get automation() { return __importStar(require("./automation")); } };\n' +
          'Object.defineProperty(exports, "automation", { enumerable: true, get() { return __gooseLazy_automation.automation; } });',
      ],
    ],
  ],
  [
    "/node_modules/@pulumi/pulumi/runtime/index.js",
    [
      [
        'var serializeClosure_1 = require("./closure/serializeClosure");\n' +
          "exports.serializeFunctionAsync = serializeClosure_1.serializeFunctionAsync;\n" +
          "exports.serializeFunction = serializeClosure_1.serializeFunction;\n" +
          'var codePaths_1 = require("./closure/codePaths");\n' +
          "exports.computeCodePaths = codePaths_1.computeCodePaths;",
        "const __gooseLazy_closure = {\n" +
          '  get serializeFunctionAsync() { return require("./closure/serializeClosure").serializeFunctionAsync; },\n' +
          '  get serializeFunction() { return require("./closure/serializeClosure").serializeFunction; },\n' +
          '  get computeCodePaths() { return require("./closure/codePaths").computeCodePaths; },\n' +
          "};\n" +
          'Object.defineProperty(exports, "serializeFunctionAsync", { enumerable: true, get() { return __gooseLazy_closure.serializeFunctionAsync; } });\n' +
          'Object.defineProperty(exports, "serializeFunction", { enumerable: true, get() { return __gooseLazy_closure.serializeFunction; } });\n' +
          'Object.defineProperty(exports, "computeCodePaths", { enumerable: true, get() { return __gooseLazy_closure.computeCodePaths; } });',
      ],
    ],
  ],
  [
    // Every promise of a resource registration records where it was made, for the leak report
    // at exit; `new Error().stack` formats the trace at once (~0.1 s of CPU per stage render).
    // Only the report with PULUMI_DEBUG_PROMISE_LEAKS set (`debugPromiseLeaks`) prints it: the
    // trace is captured only then, and formatted only when that report reads it (same frames).
    "/node_modules/@pulumi/pulumi/runtime/debuggable.js",
    [
      [
        'Object.defineProperty(p, "_debugStackTrace", { writable: true, value: new Error().stack });',
        'if (exports.debugPromiseLeaks) { const debugStackError = new Error(); let debugStackTrace; Object.defineProperty(p, "_debugStackTrace", { configurable: true, get() { return (debugStackTrace ??= debugStackError.stack); }, set(v) { debugStackTrace = v; } }); }',
      ],
    ],
  ],
  [
    "/node_modules/@pulumi/pulumi/cmd/run-policy-pack/index.js",
    [
      [
        "typeScript: !process.versions.bun,",
        "typeScript: !process.versions.bun && !globalThis.__gooseJavaScriptPack?.(argv._[0]),",
      ],
    ],
  ],
  ["/node_modules/@pulumi/policy/server.js", POLICY_SERVER_EDITS, { version: POLICY_SDK_VERSION }],
];

/**
 * True when the pack `program` (the runner's argument, relative to the working directory)
 * resolves to a JavaScript file (.js, .cjs, .mjs): such a pack needs no TypeScript compiler.
 */
export function isJavaScriptPack(program, cwd = process.cwd()) {
  try {
    const main = module
      .createRequire(path.join(cwd, "noop.js"))
      .resolve(path.resolve(cwd, program));
    return /\.[cm]?js$/.test(main);
  } catch {
    return false;
  }
}

/** Writes the compile cache (if enabled) right after the first write to stdout (the port). */
function flushCompileCacheAfterFirstWrite() {
  if (!module.flushCompileCache || !module.getCompileCacheDir?.()) return;
  const write = process.stdout.write;
  process.stdout.write = function (...args) {
    process.stdout.write = write;
    const result = write.apply(this, args);
    setImmediate(() => module.flushCompileCache());
    return result;
  };
}

/** Applies the edits for `url` to `source`; returns the text and how many edits matched. */
export function patchSource(url, source) {
  let applied = 0;
  for (const [suffix, edits, whole] of PATCHES) {
    if (!url.endsWith(suffix)) continue;
    if (whole) {
      const mismatch = wholeMismatch(url, source, edits, whole.version);
      if (mismatch) {
        process.emitWarning(
          `${suffix.replace("/node_modules/", "")} loads unedited (${mismatch}); the policy pack runs ` +
            "slower. Update src/pulumi-startup-policy.mjs (tests/policy/policy-server-speed.test.ts).",
          { code: "GOOSE_SDK_EDIT_SKIPPED" },
        );
        continue;
      }
    }
    for (const [from, to] of edits) {
      if (source.includes(from)) {
        source = source.replace(from, () => to);
        applied++;
      }
    }
  }
  return { source, applied };
}

/** Why all-or-nothing edits cannot apply to this file (version, a text missing or repeated). */
function wholeMismatch(url, source, edits, version) {
  try {
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL("./package.json", url)), "utf8"));
    if (pkg.version !== version) return `version ${pkg.version}, edits written for ${version}`;
  } catch (err) {
    return `no readable package.json: ${err instanceof Error ? err.message : String(err)}`;
  }
  for (const [i, [from]] of edits.entries()) {
    const first = source.indexOf(from);
    if (first < 0) return `edit ${i + 1} of ${edits.length}: text not found`;
    if (source.indexOf(from, first + 1) >= 0) return `edit ${i + 1}: text found twice`;
  }
  return undefined;
}

/** Ends this process when its stdin pipe ends: the only writer, goose, is gone. */
function exitWithParent() {
  const end = () => process.exit(0);
  process.stdin.on("end", end);
  process.stdin.on("error", end);
  process.stdin.resume();
  // The watch alone must not keep the pack alive: a pack that failed to load ends as before.
  process.stdin.unref?.();
}

if (
  process.env.GOOSE_PACK_EXIT_WITH_PARENT === "1" &&
  process.argv[1]?.endsWith(`${path.sep}cmd${path.sep}run-policy-pack${path.sep}index.js`) &&
  !globalThis.__gooseExitWithParent
) {
  globalThis.__gooseExitWithParent = true;
  exitWithParent();
}

if (module.registerHooks && !globalThis.__goosePulumiStartup) {
  globalThis.__goosePulumiStartup = true;
  if (process.argv[1]?.endsWith(`${path.sep}cmd${path.sep}run-policy-pack${path.sep}index.js`)) {
    globalThis.__gooseJavaScriptPack = (program) => isJavaScriptPack(program);
    flushCompileCacheAfterFirstWrite();
  }
  module.registerHooks({
    load(url, context, nextLoad) {
      const result = nextLoad(url, context);
      if (result.source != null && LAZY_INDEXES.some((suffix) => url.endsWith(suffix))) {
        const lazy = lazySubmodules(String(result.source));
        return lazy.count > 0 ? { ...result, source: lazy.source } : result;
      }
      if (
        result.source == null ||
        !(url.includes("/@pulumi/pulumi/") || url.endsWith("/@pulumi/policy/server.js"))
      ) {
        return result;
      }
      const { source, applied } = patchSource(url, String(result.source));
      return applied > 0 ? { ...result, source } : result;
    },
  });
}

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
// modules the first time they are read. The edit is a textual one on the pinned SDK; when a
// pattern is not found (another SDK version) the file loads unchanged, and
// tests/policy/pulumi-startup.test.ts fails so the patterns get updated.
//
// Plain JavaScript, so it runs before any TypeScript loader. Needs module.registerHooks
// (Node >= 22.15); without it nothing changes.
import module from "node:module";

/** File (suffix of its URL) → [exact text, replacement] edits. */
export const PATCHES = [
  [
    "/node_modules/@pulumi/pulumi/index.js",
    [
      [
        'const automation = __importStar(require("./automation"));\nexports.automation = automation;',
        'Object.defineProperty(exports, "automation", { enumerable: true, configurable: true, get() { return __importStar(require("./automation")); } });',
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
        'for (const [name, file] of [["serializeFunctionAsync", "./closure/serializeClosure"], ["serializeFunction", "./closure/serializeClosure"], ["computeCodePaths", "./closure/codePaths"]]) Object.defineProperty(exports, name, { enumerable: true, configurable: true, get() { return require(file)[name]; } });',
      ],
    ],
  ],
];

/** Applies the edits for `url` to `source`; returns the text and how many edits matched. */
export function patchSource(url, source) {
  let applied = 0;
  for (const [suffix, edits] of PATCHES) {
    if (!url.endsWith(suffix)) continue;
    for (const [from, to] of edits) {
      if (source.includes(from)) {
        source = source.replace(from, to);
        applied++;
      }
    }
  }
  return { source, applied };
}

if (module.registerHooks && !globalThis.__goosePulumiStartup) {
  globalThis.__goosePulumiStartup = true;
  module.registerHooks({
    load(url, context, nextLoad) {
      const result = nextLoad(url, context);
      if (!url.includes("/@pulumi/pulumi/") || result.source == null) return result;
      const { source, applied } = patchSource(url, String(result.source));
      return applied > 0 ? { ...result, source } : result;
    },
  });
}

// An edit of the provider SDKs' index files (@pulumi/aws, @pulumi/kubernetes) applied at load time
// by src/pulumi-startup.mjs, in goose and in the policy-pack processes it starts (issue 18).
//
// Each index requires every module of its package when it loads — @pulumi/aws its 238 services
// (~0.1 s of a pack's start, which only reads `aws.s3`), @pulumi/kubernetes its API groups and the
// helm and yaml modules with glob — and exports each as a property. With the edit each property is
// a getter that requires its module the first time it is read; the same module object comes back
// (require caches it), and the properties stay enumerable, in the same order.
//
// A module that is never read is never loaded, so its resource types are not registered with
// @pulumi/pulumi; that registration only turns a resource reference that arrives as a value back
// into a live resource, and references to a type arrive only after something made a resource of
// it, through its module. (@pulumi/policy does not use the registrations.)
//
// Textual and exact: a `const x = __importStar(require("./x"));` line directly followed by
// `exports.x = x;`, where `x` is not used anywhere else in the file. Another SDK layout loads
// unchanged (tests/policy/pulumi-startup.test.ts fails so the pattern gets updated).

/** URL suffixes of the index files this edit applies to. */
export const LAZY_INDEXES = [
  "/node_modules/@pulumi/aws/index.js",
  "/node_modules/@pulumi/kubernetes/index.js",
];

const PAIR = /^const (\w+) = __importStar\(require\("(\.\/[\w-]+)"\)\);\nexports\.\1 = \1;$/gm;

/** Rewrites the eager submodule exports of an index's `source`; returns the text and how many. */
export function lazySubmodules(source) {
  let count = 0;
  const out = source.replace(PAIR, (whole, name, spec) => {
    // Used elsewhere (other than `exports.<name>`)? Then it must stay a variable.
    const uses = source.match(new RegExp(`(?<![\\w.$/"'])${name}(?![\\w$])`, "g"))?.length ?? 0;
    if (uses !== 2) return whole;
    count++;
    // Two steps, so that an ES module importing the package still sees the name: Node finds a
    // CommonJS module's named exports by scanning its text (cjs-module-lexer), which accepts a
    // getter `{ enumerable: true, get() { return <id>.<name>; } }` and nothing else (a getter
    // that calls require, or one marked configurable, hides the name). The holder's own getter
    // does the require; an ESM namespace reads every name when built, so an ES module importer
    // loads the whole package as before, and `require` callers load a module on first read.
    const holder = `__gooseLazy_${name}`;
    return (
      `const ${holder} = { get ${name}() { return __importStar(require(${JSON.stringify(spec)})); } };\n` +
      `Object.defineProperty(exports, ${JSON.stringify(name)}, { enumerable: true, get() { return ${holder}.${name}; } });`
    );
  });
  return { source: out, count };
}

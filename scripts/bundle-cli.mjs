// The CLI as a few ES module files (scripts/build.mjs writes them to dist/bundle/, bin/goose.js
// runs dist/bundle/main.js): goose's own modules and the small pure-JavaScript packages it uses
// (BUNDLED) in one module graph of chunks, instead of ~500 files Node resolves and loads one by
// one (a CPU profile of `goose preview --all --offline` spent ~0.2 s of its ~1.9 s in the module
// loader for them). Every dynamic import of src/ stays a separate chunk (esbuild's splitting), so
// `goose --help` still loads no command's module.
//
// Everything else stays an external package, loaded from node_modules as before: the Pulumi SDKs
// (src/pulumi-startup.mjs edits @pulumi/pulumi's files as they load, and the providers load their
// resource modules on demand), gRPC and protobuf (shared with @pulumi/pulumi), the AWS SDK,
// esbuild, tsx and the rest.
//
// `import.meta.url` in a module of src/ is replaced by the URL that module has in `metaTree` (the
// per-file dist/ tree, or src/ itself), so the paths modules compute from it — the repository
// root, schema files, the snapshot worker, `createRequire` — are the same as in that tree.
import { readFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { build } from "esbuild";

/** Packages bundled into the CLI (with what they import); the rest are loaded from node_modules. */
export const BUNDLED = [
  "ajv",
  "ajv-formats",
  "ajv-formats-draft2019",
  "bcryptjs",
  "canonicalize",
  "commander",
  "fastest-levenshtein",
  "semver",
  "yaml",
  "zod",
];

/**
 * CommonJS packages goose imports as ES modules (`import * as pulumi from "@pulumi/pulumi"`) that
 * the bundle loads with `require`: Node builds the namespace of a CommonJS module imported from
 * ESM by scanning its text and every file it re-exports (for @pulumi/pulumi's index, dozens) and
 * reading each export; `require` returns module.exports as it is. The names goose imports are the
 * same either way.
 */
const REQUIRED = /^(@pulumi\/|@grpc\/grpc-js$)/;

/** The package name of a bare import specifier ("@scope/name/x" → "@scope/name"). */
function packageOf(spec) {
  const parts = spec.split("/");
  return spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

/**
 * Bundles `<root>/src/cli/main.ts` into `outdir` (main.js and its chunks). `metaTree`: "dist"
 * (import.meta.url of each module = its file in <root>/dist, .js) or "src" (its source file).
 * `runsFrom`: the folder the files will be run from, when they are moved there after the build.
 */
export async function bundleCli({ root, outdir, metaTree = "dist", runsFrom = outdir }) {
  const src = join(root, "src");
  const nodeModules = `${sep}node_modules${sep}`;
  const plugin = {
    name: "goose-cli",
    setup(b) {
      // A bare import from goose's sources is bundled only for BUNDLED packages; inside a bundled
      // package, its own imports are bundled too (they are its dependencies).
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.path.startsWith("node:")) return { path: args.path, external: true };
        if (args.namespace === "file" && REQUIRED.test(args.path)) {
          return { path: args.path, namespace: "goose-require" };
        }
        const fromPackage = args.importer.includes(nodeModules);
        if (!fromPackage && !BUNDLED.includes(packageOf(args.path))) {
          return { path: args.path, external: true };
        }
        return undefined;
      });
      b.onLoad({ filter: /.*/, namespace: "goose-require" }, (args) => ({
        contents: `module.exports = require(${JSON.stringify(args.path)});`,
        loader: "js",
        resolveDir: root,
      }));
      b.onLoad({ filter: /\.ts$/ }, (args) => {
        let text = readFileSync(args.path, "utf8");
        if (args.path.startsWith(src + sep) && text.includes("import.meta.url")) {
          const file =
            metaTree === "src"
              ? args.path
              : join(root, "dist", relative(src, args.path)).replace(/\.ts$/, ".js");
          const rel = relative(runsFrom, file).split(sep).join("/");
          text = text.replaceAll(
            "import.meta.url",
            `new URL(${JSON.stringify(rel)}, import.meta.url).href`,
          );
        }
        return { contents: text, loader: "ts", resolveDir: dirname(args.path) };
      });
    },
  };
  return build({
    entryPoints: [join(src, "cli", "main.ts")],
    outdir,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node22",
    // Bundled CommonJS packages (ajv…) call require() for Node's modules.
    banner: {
      js: 'import { createRequire as __gooseCreateRequire } from "node:module"; const require = __gooseCreateRequire(import.meta.url);',
    },
    plugins: [plugin],
    logLevel: "warning",
  });
}

/**
 * Builds a TypeScript policy pack into one CommonJS file, `<pack>/dist/index.js`, with esbuild
 * (packages stay external and resolve from node_modules). `run-policy-pack` — what the Pulumi CLI
 * runs — loads a pack with `require(<packDir>)` and registers ts-node with type checking for `.ts`
 * files: ~19 s per start for a TypeScript `main`, ~1.5 s for the compiled file
 * (../shared/notes/pulumi.md, "Measured"). The pack's package.json `main` is `dist/index.js`.
 *
 * The pack may import small dependency-free modules of goose (src/images/ref.ts); esbuild bundles
 * them and `dist/inputs.json` lists them, so a change there rebuilds the pack too.
 *
 * `ensurePolicyPackBuilt` rebuilds only when dist is missing or older than any source, and writes
 * through a temp file and a rename, so parallel processes never load a half-written bundle.
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import { PolicyPackError } from "./errors.js";

/** Newest modification time (ms) of the pack's sources: *.ts outside dist/node_modules, manifests. */
export function newestSourceMtime(packDir: string): number {
  let newest = 0;
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name === "dist" || e.name === "node_modules" || e.name.startsWith(".")) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|mts|cts|js|mjs|cjs|json)$/.test(e.name) || e.name === "PulumiPolicy.yaml") {
        newest = Math.max(newest, statSync(p).mtimeMs);
      }
    }
  };
  walk(packDir);
  return newest;
}

/** The entry point esbuild starts from: index.ts (or index.js for a plain JS pack). */
function entryOf(packDir: string): string | undefined {
  for (const name of ["index.ts", "index.mts", "index.js"]) {
    if (existsSync(join(packDir, name))) return join(packDir, name);
  }
  return undefined;
}

/** Sources outside the pack that the last build bundled (`dist/inputs.json`, e.g. src/images/ref.ts). */
const INPUTS_FILE = "inputs.json";

/** Newest modification time of the outside sources the last build bundled; Infinity if one is gone. */
function newestOutsideMtime(packDir: string): number {
  let files: string[];
  try {
    files = JSON.parse(readFileSync(join(packDir, "dist", INPUTS_FILE), "utf8")) as string[];
  } catch {
    return 0;
  }
  let newest = 0;
  for (const f of files) {
    if (!existsSync(f)) return Infinity;
    newest = Math.max(newest, statSync(f).mtimeMs);
  }
  return newest;
}

/** True when `<pack>/dist/index.js` exists and is newer than every source (bundled ones too). */
export function isPolicyPackBuilt(packDir: string): boolean {
  const out = join(packDir, "dist", "index.js");
  if (!existsSync(out)) return false;
  const built = statSync(out).mtimeMs;
  return built >= newestSourceMtime(packDir) && built >= newestOutsideMtime(packDir);
}

/** Compiles the pack now (always). Returns the output path. */
export async function buildPolicyPack(packDir: string): Promise<string> {
  const entry = entryOf(packDir);
  if (!entry) {
    throw new PolicyPackError(
      `policy pack ${packDir} has no index.ts: a pack needs index.ts that creates the PolicyPack`,
    );
  }
  const distDir = join(packDir, "dist");
  mkdirSync(distDir, { recursive: true });
  const tmp = join(distDir, `.index.${process.pid}.${Date.now()}.js`);
  let inputs: string[] = [];
  try {
    // Loaded here: a preview of a built pack (the usual case) needs no compiler.
    const { build } = await import("esbuild");
    const result = await build({
      entryPoints: [entry],
      outfile: tmp,
      bundle: true,
      packages: "external",
      platform: "node",
      format: "cjs",
      target: "node20",
      sourcemap: "inline",
      logLevel: "silent",
      metafile: true,
    });
    const pack = resolve(packDir) + sep;
    inputs = Object.keys(result.metafile.inputs)
      .map((f) => resolve(f))
      .filter((f) => !f.startsWith(pack) && !f.includes(`${sep}node_modules${sep}`));
  } catch (err) {
    const e = err as {
      errors?: Array<{ text: string; location?: { file: string; line: number } }>;
    };
    const detail = (e.errors ?? [])
      .map((x) => (x.location ? `${x.location.file}:${x.location.line}: ${x.text}` : x.text))
      .join("\n");
    throw new PolicyPackError(
      `cannot compile policy pack ${relative(process.cwd(), packDir) || packDir}:\n${detail || String(err)}`,
    );
  }
  // dist is CommonJS whatever the pack's own package.json says.
  const pkg = join(distDir, "package.json");
  if (!existsSync(pkg)) writeFileSync(pkg, '{ "type": "commonjs" }\n');
  writeFileSync(join(distDir, INPUTS_FILE), JSON.stringify(inputs.sort(), null, 2) + "\n");
  const out = join(distDir, "index.js");
  renameSync(tmp, out);
  return out;
}

/** Throws unless `packDir` looks like a policy pack (package.json there). */
export function assertPolicyPackDir(packDir: string): void {
  if (!existsSync(join(packDir, "package.json"))) {
    throw new PolicyPackError(
      `no policy pack at ${packDir}: expected package.json, PulumiPolicy.yaml and index.ts there`,
    );
  }
}

/** Builds the pack when dist is missing or stale; returns true when it built. */
export async function ensurePolicyPackBuilt(packDir: string): Promise<boolean> {
  assertPolicyPackDir(packDir);
  if (isPolicyPackBuilt(packDir)) return false;
  await buildPolicyPack(packDir);
  return true;
}

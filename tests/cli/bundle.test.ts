/**
 * The bundled CLI (scripts/bundle-cli.mjs; `npm run build` writes it to dist/bundle/, and
 * bin/goose.js runs it) is the same program as the sources: built here from the sources into a
 * temporary folder, with import.meta.url pointing into src/, it prints the same version and the
 * same `preview production --offline --json` as the sources run through tsx, keeps each command's
 * modules out of the main chunk, and loads @pulumi/pulumi with require (no ESM namespace built).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
// @ts-expect-error -- a plain JavaScript build script without type declarations
import { bundleCli } from "../../scripts/bundle-cli.mjs";

const REPO = path.resolve(import.meta.dirname, "../..");
// Inside the repository, so that the bundle's external packages resolve from its node_modules.
const cacheDir = path.join(REPO, "node_modules", ".cache");
mkdirSync(cacheDir, { recursive: true });
const out = mkdtempSync(path.join(cacheDir, "goose-bundle-test-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** Runs the CLI as bin/goose.js does (the startup edits first), from `main` of the given module. */
function run(mainModule: string, args: string[]) {
  const script = `
    await import(${JSON.stringify(pathToFileURL(path.join(REPO, "src/pulumi-startup.mjs")).href)});
    ${mainModule.endsWith(".ts") ? 'const { register } = await import("tsx/esm/api"); register();' : ""}
    const { main } = await import(${JSON.stringify(pathToFileURL(mainModule).href)});
    process.exitCode = await main(process.argv.slice(1));
  `;
  return spawnSync(process.execPath, ["--input-type=module", "-e", script, "--", ...args], {
    cwd: REPO,
    encoding: "utf8",
    env: { ...process.env, NODE_DISABLE_COMPILE_CACHE: "1" },
  });
}

describe("the bundled CLI", () => {
  it("builds, and runs as the sources do", async () => {
    await bundleCli({ root: REPO, outdir: out, metaTree: "src" });
    const bundled = path.join(out, "main.js");
    const sources = path.join(REPO, "src/cli/main.ts");

    const version = run(bundled, ["--version"]);
    expect(version.status, version.stderr).toBe(0);
    const pkg = JSON.parse(readFileSync(path.join(REPO, "package.json"), "utf8")) as {
      version: string;
    };
    expect(version.stdout.trim()).toBe(pkg.version);

    // The main chunk imports no command's implementation, and nothing heavy, statically.
    const mainText = readFileSync(bundled, "utf8");
    expect(mainText).not.toMatch(/from "@pulumi|from "@aws-sdk|from "@grpc/);
    // @pulumi/pulumi is required, never imported as an ES module.
    const chunks = readdirSync(out).map((f) => readFileSync(path.join(out, f), "utf8"));
    expect(chunks.some((t) => t.includes('__require("@pulumi/pulumi")'))).toBe(true);
    expect(chunks.some((t) => /from "@pulumi\/pulumi"/.test(t))).toBe(false);

    const args = ["preview", "production", "--offline", "--json"];
    const a = run(bundled, args);
    const b = run(sources, args);
    expect(a.status, a.stderr).toBe(b.status);
    expect(JSON.parse(a.stdout)).toMatchObject({ kind: expect.any(String) });
    expect(a.stdout).toBe(b.stdout);
  }, 120_000);
});

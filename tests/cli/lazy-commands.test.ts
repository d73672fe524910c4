/**
 * `goose --help` and `goose --version` load no command module, and `goose <command> …` loads only
 * its own (issue 18: help in a blink). The help-only entries in src/cli/commands/index.ts must
 * match what each module registers, so `goose --help` reads the same either way.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { COMMANDS, registerCommands } from "../../src/cli/commands/index.js";
import { processIo } from "../../src/cli/io.js";

const REPO = path.resolve(import.meta.dirname, "../..");

/** The command modules (src/cli/commands/*.ts) a goose run with these arguments loads. */
function commandModulesLoadedBy(args: string[]): string[] {
  // A load hook in the goose process itself records every module URL it loads.
  const script = `
    import { registerHooks } from "node:module";
    const seen = [];
    registerHooks({ load(url, context, next) { seen.push(url); return next(url, context); } });
    process.on("exit", () => process.stderr.write("\\nLOADED " + JSON.stringify(seen) + "\\n"));
    process.argv.splice(1, 0, "goose");
    await import(${JSON.stringify(path.join(REPO, "bin/goose.js"))});
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script, "--", ...args], {
    cwd: REPO,
    encoding: "utf8",
    env: { ...process.env, NODE_DISABLE_COMPILE_CACHE: "1", GOOSE_RUN_SOURCES: "1" },
  });
  const line = r.stderr.split("\n").find((l) => l.startsWith("LOADED "));
  expect(line, r.stderr).toBeDefined();
  const urls = JSON.parse(line!.slice("LOADED ".length)) as string[];
  expect(
    urls.some((u) => u.endsWith("/src/cli/main.ts")),
    "the hook sees goose's modules",
  ).toBe(true);
  return urls
    .filter((u) => u.includes("/src/cli/commands/") && !u.endsWith("/commands/index.ts"))
    .map((u) => path.basename(u));
}

/**
 * Too heavy for printing help: packages that take 0.1–0.5 s each to load (AWS SDK, Pulumi, gRPC,
 * autocannon), and the validation and parsing libraries with goose's modules built on them (a CPU
 * profile of `goose snapshot --help` spent 0.2–0.3 s in the ESM loader over the few hundred
 * modules of zod, ajv, yaml, semver and goose's snapshot, evidence, audit, key, config, workflow,
 * load-test and monitoring modules its command module imported at the top). A command module
 * imports those inside its actions; what help needs (audit/names.ts, config/stages.ts,
 * loadtest/units.ts, the store's URL parsing) stays light.
 */
const HEAVY = new RegExp(
  [
    String.raw`/node_modules/(@aws-sdk|@smithy|@pulumi|@grpc|autocannon/(?!package\.json)|zod/|ajv[^/]*/|yaml/|semver/)`,
    String.raw`/src/(snapshots|evidence|keys|workflows|plan|pulumi-export|engine|policy|gates|monitoring)/`,
    String.raw`/src/config/(?!stages\.ts)`,
    String.raw`/src/audit/(?!names\.ts)`,
    String.raw`/src/loadtest/(?!units\.ts)`,
  ].join("|"),
);

/**
 * For each top-level command, the heavy package files `goose <command> --help` loads, in one
 * process: each command's help runs after the previous one's, so a package is charged to the first
 * command whose help loads it (a later one finds it cached, which can only hide, not invent, one).
 */
function heavyModulesPerHelp(): Record<string, string[]> {
  const script = `
    import { registerHooks } from "node:module";
    const seen = [];
    registerHooks({ load(url, context, next) { seen.push(url); return next(url, context); } });
    const { register } = await import("tsx/esm/api");
    register();
    const { main } = await import(${JSON.stringify(path.join(REPO, "src/cli/main.ts"))});
    const { COMMANDS } = await import(${JSON.stringify(path.join(REPO, "src/cli/commands/index.ts"))});
    const out = {};
    for (const c of COMMANDS) {
      const before = seen.length;
      const code = await main([c.name, "--help"]);
      if (code !== 0) throw new Error(c.name + " --help exited " + code);
      out[c.name] = seen.slice(before);
    }
    process.stderr.write("\\nLOADED " + JSON.stringify(out) + "\\n");
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    cwd: REPO,
    encoding: "utf8",
    env: { ...process.env, NODE_DISABLE_COMPILE_CACHE: "1" },
  });
  const line = r.stderr.split("\n").find((l) => l.startsWith("LOADED "));
  expect(line, r.stderr).toBeDefined();
  const loaded = JSON.parse(line!.slice("LOADED ".length)) as Record<string, string[]>;
  expect(Object.keys(loaded)).toEqual(COMMANDS.map((c) => c.name));
  expect(loaded.preview!.some((u) => u.endsWith("/src/cli/commands/preview.ts"))).toBe(true);
  return Object.fromEntries(
    Object.entries(loaded).map(([name, urls]) => [name, urls.filter((u) => HEAVY.test(u))]),
  );
}

describe("lazy command loading", () => {
  it("goose --help and --version load no command module", () => {
    expect(commandModulesLoadedBy(["--help"])).toEqual([]);
    expect(commandModulesLoadedBy(["--version"])).toEqual([]);
  }, 60_000);

  it("goose preview --help loads preview's module only", () => {
    expect(commandModulesLoadedBy(["preview", "--help"])).toEqual(["preview.ts"]);
    expect(commandModulesLoadedBy(["help", "deploy"])).toEqual(["deploy.ts"]);
  }, 60_000);

  it("goose <command> --help loads no heavy package or implementation module", () => {
    const heavy = heavyModulesPerHelp();
    expect(heavy).toEqual(Object.fromEntries(COMMANDS.map((c) => [c.name, []])));
  }, 60_000);

  it("each help-only entry matches the term and description its module registers", async () => {
    const program = new Command("goose");
    await registerCommands(program, processIo(), () => {}, [], true);
    const help = program.createHelp();
    expect(
      program.commands.map((c) => [c.name(), help.subcommandTerm(c), c.description()]),
    ).toEqual(COMMANDS.map((c) => [c.name, c.term, c.description]));
  }, 60_000);
});

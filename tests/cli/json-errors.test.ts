/**
 * With --json, every command that fails prints exactly one JSON document on stdout:
 * { kind: "goose.error", version, error: { code, message, fix } } — for a usage mistake (an
 * unknown flag), and for bad input the command itself detects (an unknown stage, an unknown
 * evidence kind). The list of commands comes from goose's own help, so a new command is covered.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runGoose } from "../helpers/cli.js";

const REPO = path.resolve(import.meta.dirname, "../..");
const dir = mkdtempSync(path.join(tmpdir(), "goose-json-"));
const env = { PATH: process.env.PATH, HOME: dir, GOOSE_STORE: `file://${path.join(dir, "store")}` };
const goose = (args: string[], cwd = dir) => runGoose(args, { cwd, env });

/** Command names listed under "Commands:" in a help text. */
function commandsIn(help: string): string[] {
  const section = help.split("Commands:\n")[1] ?? "";
  return [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)]
    .map((m) => m[1]!)
    .filter((c) => c !== "help");
}

async function leafCommands(): Promise<string[][]> {
  const leaves: string[][] = [];
  for (const c of commandsIn((await goose(["--help"])).stdout)) {
    const subs = commandsIn((await goose([c, "--help"])).stdout);
    if (subs.length === 0) leaves.push([c]);
    else for (const s of subs) leaves.push([c, s]);
  }
  return leaves;
}

function errorDoc(stdout: string) {
  const doc = JSON.parse(stdout) as {
    kind: string;
    version: number;
    error: { code: string; message: string; fix: string };
  };
  expect(doc.kind).toBe("goose.error");
  expect(doc.version).toBe(1);
  expect(doc.error.code).toMatch(/\S/);
  expect(doc.error.message).toMatch(/\S/);
  expect(doc.error.fix).toMatch(/\S/);
  return doc;
}

describe("--json errors", () => {
  it("every command: an unknown flag is exit 2 and one goose.error document on stdout", async () => {
    const leaves = await leafCommands();
    expect(leaves.length).toBeGreaterThan(15);
    expect(leaves).toContainEqual(["snapshot", "create"]);
    for (const cmd of leaves) {
      const r = await goose([...cmd, "--no-such-flag", "--json"]);
      expect(r.code, cmd.join(" ")).toBe(2);
      const doc = errorDoc(r.stdout);
      expect(doc.error.code, cmd.join(" ")).toMatch(/^usage\./);
    }
  }, 120_000);

  it("bad input found by the command: an unknown stage with a did-you-mean", async () => {
    for (const args of [
      ["preview", "produktion", "--offline"],
      ["snapshot", "list", "produktion"],
      ["promote", "sandbox", "produktion", "--offline"],
      ["rollback", "produktion", "--to", "x", "--offline"],
      ["lock", "status", "produktion"],
    ]) {
      const r = await goose([...args, "--json"], REPO);
      expect(r.code, args.join(" ")).toBe(2);
      expect(errorDoc(r.stdout).error.message).toContain('did you mean "production"');
    }
  }, 120_000);

  it("evidence show --kind nonsense is exit 2 naming the kinds; a real kind or prefix is fine", async () => {
    const bad = await goose(["evidence", "show", "--kind", "nonsense", "--json"], REPO);
    expect(bad.code).toBe(2);
    expect(errorDoc(bad.stdout).error.message).toContain("promotion.started");
    const typo = await goose(["evidence", "show", "--kind", "promotoin"], REPO);
    expect(typo.stderr).toContain('did you mean "promotion"');
    expect((await goose(["evidence", "show", "--kind", "gate"], REPO)).code).toBe(0);
    expect((await goose(["evidence", "show", "--kind", "gate.sbom"], REPO)).code).toBe(0);
  });
});

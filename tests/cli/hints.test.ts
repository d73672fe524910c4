/**
 * Every command goose prints for the user to run (a fix, a resume, an undo) runs as printed: this
 * test drives real failures in a demo workspace (offline engine, real policy pack, real load
 * tests against loopback), harvests each `goose …` command between backticks from what was
 * printed, and runs it. A hint "runs" when goose accepts it: no usage error (exit 2) — it may
 * still report the same failure (exit 1) when the cause is not fixed.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prepareWorkspace, startReferenceService } from "../../src/demo/workspace.js";
import { runGoose } from "../helpers/cli.js";

const REPO = path.resolve(import.meta.dirname, "../..");

/** The `goose …` commands between backticks in `text`, as argv (single quotes honoured). */
export function harvest(text: string): string[][] {
  const out: string[][] = [];
  for (const m of text.matchAll(/`((?:npx )?goose [^`]+)`/g)) {
    const words: string[] = [];
    for (const w of m[1]!.matchAll(/'((?:[^']|'\\'')*)'|(\S+)/g)) {
      words.push(w[1] !== undefined ? w[1].replace(/'\\''/g, "'") : w[2]!);
    }
    if (words[0] === "npx") words.shift();
    out.push(words.slice(1));
  }
  return out;
}

let dir: string;
let env: NodeJS.ProcessEnv;
let service: Awaited<ReturnType<typeof startReferenceService>>;
const goose = (args: string[], e: NodeJS.ProcessEnv = env) => runGoose(args, { cwd: dir, env: e });

async function runsAsPrinted(hints: string[][]): Promise<void> {
  for (const h of hints) {
    const r = await goose(h);
    expect(r.code, `hint \`goose ${h.join(" ")}\`: ${r.stderr}`).not.toBe(2);
    expect(r.stderr).not.toMatch(/unknown option|required option|missing required argument/);
  }
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "goose-hints-"));
  prepareWorkspace(REPO, dir);
  env = {
    PATH: process.env.PATH,
    HOME: dir,
    XDG_CONFIG_HOME: path.join(dir, "config"),
    GOOSE_STORE: `file://${path.join(dir, ".goose")}`,
  };
  service = await startReferenceService();
}, 120_000);

afterAll(async () => {
  service.server.closeAllConnections();
  await new Promise((r) => service.server.close(r));
});

describe("hints run as printed", () => {
  it("harvests quoted commands", () => {
    expect(
      harvest("then rerun `goose loadtest run --stage sandbox --note 'it'\\''s'` now"),
    ).toEqual([["loadtest", "run", "--stage", "sandbox", "--note", "it's"]]);
  });

  it("no snapshot key: promote names `npx goose keys init` (not --kms-key, which it lacks), and it runs", async () => {
    const r = await goose([
      "promote",
      "sandbox",
      "compliance",
      "--offline",
      "--target",
      service.url,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain("--kms-key");
    const hints = harvest(r.stderr);
    expect(hints).toContainEqual(["keys", "init"]);
    await runsAsPrinted(hints);
  }, 120_000);

  it("a failing load-test gate: the rerun and the resume run as printed", async () => {
    expect((await goose(["deploy", "sandbox", "--offline"])).code).toBe(0);
    expect((await goose(["snapshot", "create", "sandbox", "--offline"])).code).toBe(0);
    // Nothing listens on the target: the smoke test gets no response and fails the gate.
    const dead = "http://127.0.0.1:9";
    const r = await goose(["promote", "sandbox", "compliance", "--offline", "--target", dead]);
    expect(r.code, r.stderr).toBe(1);
    const hints = harvest(r.stdout + r.stderr);
    const rerun = hints.find((h) => h[0] === "loadtest");
    expect(rerun, r.stderr).toBeDefined();
    expect(rerun).toEqual(expect.arrayContaining(["--stage", "sandbox", "--target", dead]));
    const resume = hints.find((h) => h[0] === "promote");
    expect(resume).toEqual(["promote", "sandbox", "compliance", "--offline", "--target", dead]);
    await runsAsPrinted(hints);
  }, 300_000);

  it("rollback prints an undo that runs as printed (offline kept)", async () => {
    const list = await goose(["snapshot", "list", "sandbox", "--json"]);
    const ids = (JSON.parse(list.stdout) as { snapshots: { id: string }[] }).snapshots.map(
      (s) => s.id,
    );
    expect(ids.length).toBeGreaterThan(0);
    const r = await goose(["rollback", "sandbox", "--to", ids[ids.length - 1]!, "--offline"]);
    expect(r.code, r.stderr).toBe(0);
    const hints = harvest(r.stdout + r.stderr);
    expect(hints.length).toBeGreaterThan(0);
    expect(hints[0]).toContain("--offline");
    for (const h of hints) {
      const u = await goose(h);
      expect(u.code, u.stderr).toBe(0);
    }
  }, 300_000);
});

/**
 * Every command goose prints for the user to run (a fix, a resume, an undo) runs as printed: this
 * test drives real failures in a demo workspace (offline engine, real policy pack, real load
 * tests against loopback), harvests each `goose …` command between backticks from what was
 * printed (and from the promotion report's gate fixes), and runs it. A hint "runs" when goose
 * accepts it: no usage error (exit 2) — it may still report the same failure (exit 1) when the
 * cause is not fixed. The runs use the offline engine and a store named with --store (no
 * GOOSE_STORE): a hint must carry every flag of the run that its command takes (its --help lists
 * it), or it would reach another stack or store, which a run alone could not notice.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prepareWorkspace, startReferenceService } from "../../src/demo/workspace.js";
import { runGoose } from "../helpers/cli.js";
import { harvest } from "../helpers/hints.js";

const REPO = path.resolve(import.meta.dirname, "../..");

let dir: string;
let env: NodeJS.ProcessEnv;
let storeUrl: string;
let service: Awaited<ReturnType<typeof startReferenceService>>;
const goose = (args: string[], e: NodeJS.ProcessEnv = env) => runGoose(args, { cwd: dir, env: e });
const store = () => ["--store", storeUrl];

/** The options a goose command takes, from its --help (`snapshot create …` → its own help). */
const helpCache = new Map<string, string>();
async function helpOf(hint: string[]): Promise<string> {
  const top = await helpText([hint[0]!]);
  const path = /^Commands:/m.test(top) && hint[1] ? [hint[0]!, hint[1]] : [hint[0]!];
  return helpText(path);
}
async function helpText(path: string[]): Promise<string> {
  const key = path.join(" ");
  if (!helpCache.has(key)) helpCache.set(key, (await goose([...path, "--help"])).stdout);
  return helpCache.get(key)!;
}

/** A hint of this offline run on `storeUrl` names every flag of it that its command takes. */
async function carriesTheRunsFlags(h: string[]): Promise<void> {
  const printed = `\`goose ${h.join(" ")}\``;
  const help = await helpOf(h);
  expect(help, `no help for ${printed}`).toMatch(/^Usage: goose /m);
  if (/^\s+--offline\b/m.test(help)) expect(h, `${printed} lacks --offline`).toContain("--offline");
  if (/^\s+--store\b/m.test(help)) {
    expect(h.join(" "), `${printed} lacks --store ${storeUrl}`).toContain(`--store ${storeUrl}`);
  }
  expect(h.join(" "), `${printed} has a placeholder: not runnable as printed`).not.toMatch(/[<>]/);
}

/**
 * Each hint carries the run's flags and runs without a usage error. `checkOnly` hints are checked
 * but not run (a resumed promotion already run as printed elsewhere in this file: each costs a
 * policy-pack start and the gates again).
 */
async function runsAsPrinted(
  hints: string[][],
  checkOnly: (h: string[]) => boolean = () => false,
): Promise<void> {
  for (const h of hints) {
    await carriesTheRunsFlags(h);
    if (checkOnly(h)) continue;
    const r = await goose(h);
    expect(r.code, `hint \`goose ${h.join(" ")}\`: ${r.stderr}`).not.toBe(2);
    expect(r.stderr).not.toMatch(/unknown option|required option|missing required argument/);
    expect(r.stderr, `hint \`goose ${h.join(" ")}\` uses a deprecated spelling`).not.toMatch(
      /deprecated/,
    );
  }
}

/** Hints of a promotion: what it printed, and every gate's fix in its JSON report (warns too). */
function promotionHints(r: { stdout: string; stderr: string }): string[][] {
  const text = r.stdout + r.stderr;
  const report = /report: (\S+\.json)/.exec(text)?.[1];
  expect(report, text).toBeDefined();
  const json = JSON.parse(readFileSync(report!, "utf8")) as {
    steps: { gates: { fix?: string }[] }[];
  };
  const fixes = json.steps.flatMap((s) => s.gates.map((g) => g.fix ?? ""));
  return harvest([text, ...fixes].join("\n"));
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "goose-hints-"));
  prepareWorkspace(REPO, dir);
  storeUrl = `file://${path.join(dir, "elsewhere")}`;
  env = {
    PATH: process.env.PATH,
    HOME: dir,
    XDG_CONFIG_HOME: path.join(dir, "config"),
  };
  service = await startReferenceService();
}, 120_000);

afterAll(async () => {
  service.server.closeAllConnections();
  await new Promise((r) => service.server.close(r));
});

describe("hints run as printed", () => {
  it("harvests quoted commands", () => {
    expect(harvest("then rerun `goose loadtest run sandbox --note 'it'\\''s'` now")).toEqual([
      ["loadtest", "run", "sandbox", "--note", "it's"],
    ]);
  });

  it("a hint without the run's --offline or --store is refused by the check", async () => {
    const good = ["snapshot", "create", "sandbox", "--offline", ...store()];
    await carriesTheRunsFlags(good);
    await expect(
      carriesTheRunsFlags(["snapshot", "create", "sandbox", ...store()]),
    ).rejects.toThrow(/lacks --offline/);
    await expect(
      carriesTheRunsFlags(["snapshot", "create", "sandbox", "--offline"]),
    ).rejects.toThrow(/lacks --store/);
    await expect(carriesTheRunsFlags(["preview", "sandbox"])).rejects.toThrow(/lacks --offline/);
    await expect(
      carriesTheRunsFlags(["dr", "drill", "sandbox", "--backup-dir", "<dir>", ...store()]),
    ).rejects.toThrow(/placeholder/);
  });

  it("no snapshot key: promote names `npx goose keys init` (not --kms-key, which it lacks), and it runs", async () => {
    const r = await goose([
      "promote",
      "sandbox",
      "compliance",
      "--offline",
      "--target",
      service.url,
      ...store(),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain("--kms-key");
    const hints = harvest(r.stderr);
    expect(hints).toContainEqual(["keys", "init"]);
    await runsAsPrinted(hints);
  }, 120_000);

  it("no backup yet: the backup gate's fix takes the snapshot in the run's store, offline", async () => {
    expect((await goose(["deploy", "sandbox", "--offline"])).code).toBe(0);
    const r = await goose([
      "promote",
      "sandbox",
      "compliance",
      "--offline",
      "--target",
      service.url,
      ...store(),
    ]);
    expect(r.code, r.stderr).toBe(1);
    const hints = promotionHints(r);
    expect(hints).toContainEqual(["snapshot", "create", "sandbox", "--offline", ...store()]);
    // The resume is run as printed in the next test.
    await runsAsPrinted(hints, (h) => h[0] === "promote");
    const list = await goose(["snapshot", "list", "sandbox", "--json", ...store()]);
    expect((JSON.parse(list.stdout) as { snapshots: unknown[] }).snapshots.length).toBeGreaterThan(
      0,
    );
  }, 300_000);

  it("a failing load-test gate: the rerun, the resume and the warnings' fixes run as printed", async () => {
    // Nothing listens on the target: the smoke test gets no response and fails the gate.
    const dead = "http://127.0.0.1:9";
    const r = await goose([
      "promote",
      "sandbox",
      "compliance",
      "--offline",
      "--target",
      dead,
      ...store(),
    ]);
    expect(r.code, r.stderr).toBe(1);
    const hints = promotionHints(r);
    const rerun = hints.find((h) => h[0] === "loadtest");
    expect(rerun, r.stderr).toBeDefined();
    expect(rerun!.slice(0, 3)).toEqual(["loadtest", "run", "sandbox"]);
    expect(rerun).toEqual(expect.arrayContaining(["--target", dead, ...store()]));
    const resume = hints.find((h) => h[0] === "promote");
    expect(resume).toEqual([
      "promote",
      "sandbox",
      "compliance",
      "--offline",
      "--target",
      dead,
      ...store(),
    ]);
    // The advisory preview warning's fix previews offline, as the promotion did.
    expect(hints).toContainEqual(["preview", "sandbox", "--offline", ...store()]);
    await runsAsPrinted(hints);
  }, 300_000);

  it("rollback prints an undo that runs as printed (offline and store kept)", async () => {
    const list = await goose(["snapshot", "list", "sandbox", "--json", ...store()]);
    const ids = (JSON.parse(list.stdout) as { snapshots: { id: string }[] }).snapshots.map(
      (s) => s.id,
    );
    expect(ids.length).toBeGreaterThan(0);
    const r = await goose([
      "rollback",
      "sandbox",
      "--to",
      ids[ids.length - 1]!,
      "--offline",
      ...store(),
    ]);
    expect(r.code, r.stderr).toBe(0);
    const hints = harvest(r.stdout + r.stderr);
    expect(hints.length).toBeGreaterThan(0);
    for (const h of hints) {
      await carriesTheRunsFlags(h);
      const u = await goose(h);
      expect(u.code, u.stderr).toBe(0);
    }
  }, 300_000);
});

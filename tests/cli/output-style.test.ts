/**
 * Colour and progress (src/cli/style.ts, src/cli/progress.ts; docs/output.md): colour only on a
 * terminal, off with NO_COLOR (any non-empty value) or --no-color, on with FORCE_COLOR; never in
 * a --json document. Progress redrawn in place on a terminal; piped, plain lines at a bounded rate.
 */
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { progressReporter } from "../../src/cli/progress.js";
import { colourEnabled, paintVerdict, painter } from "../../src/cli/style.js";

const ESC = String.fromCharCode(27);

async function run(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; tty?: boolean },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (c: Buffer) => (out += c.toString()));
  stderr.on("data", (c: Buffer) => (err += c.toString()));
  const code = await main(args, {
    stdout,
    stderr,
    env: { PATH: process.env.PATH, ...opts.env },
    cwd: process.cwd(),
    isTty: Boolean(opts.tty),
    stdoutIsTty: Boolean(opts.tty),
  });
  return { code, stdout: out, stderr: err };
}

describe("colour", () => {
  it("follows the terminal, NO_COLOR, FORCE_COLOR, TERM=dumb and --no-color, in that order", () => {
    const on = (env: NodeJS.ProcessEnv, isTty: boolean, noColorFlag = false) =>
      colourEnabled({ env, isTty, noColorFlag });
    expect(on({}, true)).toBe(true);
    expect(on({}, false)).toBe(false);
    expect(on({ NO_COLOR: "1" }, true)).toBe(false);
    expect(on({ NO_COLOR: "yes please" }, true)).toBe(false);
    // no-color.org: set to an empty string it does not count.
    expect(on({ NO_COLOR: "" }, true)).toBe(true);
    expect(on({}, true, true)).toBe(false);
    expect(on({ FORCE_COLOR: "1" }, false)).toBe(true);
    expect(on({ FORCE_COLOR: "3" }, false)).toBe(true);
    expect(on({ FORCE_COLOR: "0" }, true)).toBe(false);
    expect(on({ FORCE_COLOR: "false" }, true)).toBe(false);
    expect(on({ FORCE_COLOR: "" }, false)).toBe(false);
    expect(on({ FORCE_COLOR: "1", NO_COLOR: "1" }, true)).toBe(false);
    expect(on({ FORCE_COLOR: "1" }, true, true)).toBe(false);
    expect(on({ TERM: "dumb" }, true)).toBe(false);
  });

  it("paints verdicts by meaning, and nothing when off", () => {
    const p = painter(true);
    expect(paintVerdict(p, "PASS")).toBe(`${ESC}[32mPASS${ESC}[39m`);
    expect(paintVerdict(p, "warn")).toBe(`${ESC}[33mwarn${ESC}[39m`);
    expect(paintVerdict(p, "FAIL")).toContain(`${ESC}[31mFAIL`);
    expect(paintVerdict(p, "whatever")).toBe("whatever");
    expect(paintVerdict(painter(false), "FAIL")).toBe("FAIL");
  });

  it("an error on a terminal is coloured; NO_COLOR, --no-color and a pipe make it plain", async () => {
    const tty = await run(["preview", "produktion", "--offline"], { tty: true });
    expect(tty.code).toBe(2);
    expect(tty.stderr).toContain(`${ESC}[31mgoose:${ESC}[39m unknown stage "produktion"`);
    for (const plain of [
      await run(["preview", "produktion", "--offline"], { tty: true, env: { NO_COLOR: "1" } }),
      await run(["--no-color", "preview", "produktion", "--offline"], { tty: true }),
      await run(["preview", "produktion", "--offline", "--no-color"], { tty: true }),
      await run(["preview", "produktion", "--offline"], {}),
    ]) {
      expect(plain.code).toBe(2);
      expect(plain.stderr).toMatch(/^goose: unknown stage "produktion"/);
      expect(plain.stderr).not.toContain(ESC);
    }
    const forced = await run(["preview", "produktion", "--offline"], { env: { FORCE_COLOR: "1" } });
    expect(forced.stderr).toContain(`${ESC}[31mgoose:`);
  });

  it("a --json document is never coloured, even when forced on a terminal", async () => {
    const r = await run(["preview", "produktion", "--offline", "--json"], {
      tty: true,
      env: { FORCE_COLOR: "1" },
    });
    expect(r.code).toBe(2);
    expect(r.stdout).not.toContain(ESC);
    expect(JSON.parse(r.stdout)).toMatchObject({ kind: "goose.error" });
  });

  it("goose --help names --no-color, NO_COLOR and FORCE_COLOR", async () => {
    const r = await run(["--help"], {});
    expect(r.stdout).toContain("--no-color");
    expect(r.stdout).toMatch(/^ {2}NO_COLOR /m);
    expect(r.stdout).toMatch(/^ {2}FORCE_COLOR /m);
  });
});

describe("progress", () => {
  function capture(isTty: boolean, env: NodeJS.ProcessEnv = {}) {
    const stderr = new PassThrough();
    let text = "";
    stderr.on("data", (c: Buffer) => (text += c.toString()));
    let t = 0;
    const clock = { now: () => t, advance: (ms: number) => (t += ms) };
    return { io: { stderr, isTty, env }, text: () => text, clock };
  }

  it("piped: plain lines, at most one per interval, the first one interval in; the held-back last state at the end", () => {
    const c = capture(false);
    const p = progressReporter(c.io, { now: c.clock.now });
    // 95 updates a second apart (a 95-second load test): lines at 10, 20, … 90 s, then the end.
    for (let s = 1; s <= 95; s++) {
      c.clock.advance(1000);
      p.update(`t=${s}s`);
    }
    p.done();
    expect(c.text().split("\n").filter(Boolean)).toEqual([
      "t=10s",
      "t=20s",
      "t=30s",
      "t=40s",
      "t=50s",
      "t=60s",
      "t=70s",
      "t=80s",
      "t=90s",
      "t=95s",
    ]);
    expect(c.text()).not.toContain("\r");
    expect(c.text()).not.toContain(ESC);
  });

  it("piped: quick work prints nothing; GOOSE_PROGRESS_SECONDS sets the interval", () => {
    const quick = capture(false);
    const q = progressReporter(quick.io, { now: quick.clock.now });
    for (let i = 0; i < 5; i++) {
      quick.clock.advance(1000);
      q.update(`step ${i}`);
    }
    q.done();
    expect(quick.text()).toBe("");
    const every = capture(false, { GOOSE_PROGRESS_SECONDS: "2" });
    const e = progressReporter(every.io, { now: every.clock.now });
    for (let i = 1; i <= 6; i++) {
      every.clock.advance(1000);
      e.update(`s${i}`);
    }
    e.done();
    expect(every.text()).toBe("s2\ns4\ns6\n");
  });

  it("on a terminal: one line redrawn in place, ended by done()", () => {
    const c = capture(true);
    const p = progressReporter(c.io, { now: c.clock.now });
    p.update("a");
    p.update("b");
    p.done();
    expect(c.text()).toBe(`\r${ESC}[2Ka\r${ESC}[2Kb\n`);
  });
});

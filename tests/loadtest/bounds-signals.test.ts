/**
 * Issue 10, item 12: load parameters have sane maxima (errors name file:line, key and fix), a run
 * stops at its hard deadline, and SIGTERM behaves like SIGINT: report written, lease released,
 * exit 143 (130 for SIGINT).
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseStressConfig } from "../../src/loadtest/index.js";
import { openLocks } from "../../src/locks/index.js";
import { openStore } from "../../src/store/index.js";
import { repoRoot, startServer, tempDir, testConfig } from "./helpers.js";

describe("load parameter bounds", () => {
  const cases: Array<[string, string, RegExp]> = [
    [
      "connections: 100000000",
      "connections: 100000000",
      /quick\.connections: at most 10000 connections.*run several generators/,
    ],
    ["duration: 400h", "duration: 400h", /quick\.duration: at most 24h in one run/],
    [
      "rate: 1000000000",
      "duration: 1s\n    rate: 1000000000",
      /quick\.rate: at most 1000000 requests per second/,
    ],
  ];
  for (const [what, replacement, re] of cases) {
    it(`${what} is refused naming file:line, key and fix`, () => {
      const key = what.split(":")[0] ?? "";
      const text = testConfig().replace(
        key === "connections" ? "connections: 2" : "duration: 1s",
        replacement,
      );
      let err: unknown;
      try {
        parseStressConfig(text, "cfg.yaml");
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(/cfg\.yaml:\d+: scenarios\./);
      expect((err as Error).message).toMatch(re);
    });
  }
  it("requests past the maximum are refused", () => {
    const text = testConfig().replace("duration: 1s", "requests: 20000000000");
    expect(() => parseStressConfig(text, "cfg.yaml")).toThrow(
      /quick\.requests: at most 10000000 requests/,
    );
  });
});

function runGooseProcess(args: string[], cwd: string) {
  const child = spawn(process.execPath, [join(repoRoot, "bin/goose.js"), ...args], {
    cwd,
    env: { ...process.env, XDG_CONFIG_HOME: join(cwd, "config") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on("close", (code, signal) => r({ code, signal })),
  );
  return { child, done, out: () => out, err: () => err };
}

describe("signals and the hard deadline", () => {
  for (const [sig, code] of [
    ["SIGTERM", 143],
    ["SIGINT", 130],
  ] as const) {
    it(`${sig} during a run: report written, lease released, exit ${code}`, async () => {
      const server = await startServer({ delayMs: 5 });
      const t = tempDir();
      try {
        writeFileSync(join(t.dir, "cfg.yaml"), testConfig({ duration: "60s" }));
        const store = openStore(`file://${join(t.dir, ".goose")}`, {});
        const p = runGooseProcess(
          [
            "loadtest",
            "run",
            "sandbox",
            "--scenario",
            "quick",
            "--target",
            server.url,
            "--config",
            "cfg.yaml",
            "--report-dir",
            "reports",
          ],
          t.dir,
        );
        // Wait until the run holds its lease, i.e. it is under way.
        for (let i = 0; i < 600; i++) {
          if (
            (await openLocks(store).status("sandbox")).some(
              (l) => l.kind === "load-test" && !l.expired,
            )
          )
            break;
          await new Promise((r) => setTimeout(r, 100));
        }
        await new Promise((r) => setTimeout(r, 500));
        p.child.kill(sig);
        const { code: exit } = await p.done;
        expect(exit, p.err()).toBe(code);
        expect(p.err()).toMatch(new RegExp(`stopped by ${sig}; report written, lease released`));
        expect(p.out()).toMatch(/aborted after .*interrupted by the caller/);
        expect(existsSync(join(t.dir, "reports"))).toBe(true);
        expect(
          readdirSync(join(t.dir, "reports"), { recursive: true }).some((f) =>
            String(f).endsWith(".json"),
          ),
        ).toBe(true);
        expect(await openLocks(store).status("sandbox")).toEqual([]);
      } finally {
        await server.close();
        t.cleanup();
      }
    }, 120_000);
  }
});

/**
 * A server `goose dr drill|failover` starts must not outlive goose. goose stops its servers itself,
 * but a goose killed with SIGKILL (or by the OOM killer) cannot: before this test's fix the
 * Prometheus stayed up for good, holding its port, its TSDB directory and its memory. Now it is
 * started through `setpriv --pdeathsig KILL` (guardedCommand), and the kernel ends it with goose.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { findBinary, guardedCommand } from "../../../src/workflows/dr/processes.js";

const repoRoot = resolve(import.meta.dirname, "../../..");
const dir = mkdtempSync(join(tmpdir(), "goose-dr-orphan-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Alive and not a zombie (a killed child waits for its new parent to reap it). */
const alive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
};

describe("a drill server whose goose was SIGKILLed", () => {
  it("starts through setpriv on Linux, which execs the server itself", () => {
    const [cmd, args] = guardedCommand("/usr/bin/prometheus", ["--version"]);
    expect(
      cmd.endsWith("/setpriv"),
      `setpriv not found on PATH (apt-get install -y util-linux)`,
    ).toBe(true);
    expect(args).toEqual(["--pdeathsig", "KILL", "--", "/usr/bin/prometheus", "--version"]);
    // No setpriv on PATH: the server starts directly rather than not at all.
    expect(guardedCommand("/usr/bin/prometheus", ["x"], { PATH: dir })).toEqual([
      "/usr/bin/prometheus",
      ["x"],
    ]);
  });

  it("a real Prometheus ends with goose; while goose lives it serves", async () => {
    const bin = findBinary("prometheus", process.env);
    writeFileSync(join(dir, "prometheus.yml"), "global: { scrape_interval: 1m }\n");
    // Stands in for goose: starts the server as a drill does, reports its pid once ready, idles.
    const script = join(dir, "holder.mts");
    const processes = pathToFileURL(join(repoRoot, "src/workflows/dr/processes.ts")).href;
    writeFileSync(
      script,
      `import { freePort, startServer, waitUntilReady } from ${JSON.stringify(processes)};\n` +
        `const port = await freePort();\n` +
        `const url = "http://127.0.0.1:" + port;\n` +
        `const s = startServer("prometheus", ${JSON.stringify(bin)}, [\n` +
        `  "--config.file=${join(dir, "prometheus.yml")}",\n` +
        `  "--storage.tsdb.path=${join(dir, "data")}",\n` +
        `  "--web.listen-address=127.0.0.1:" + port,\n` +
        `], url, ${JSON.stringify(join(dir, "prometheus.log"))});\n` +
        `await waitUntilReady(s, url + "/-/ready", 120_000);\n` +
        `process.stdout.write(JSON.stringify({ pid: s.child.pid, url }) + "\\n");\n` +
        `setInterval(() => undefined, 1 << 30);\n`,
    );
    const holder = spawn(process.execPath, ["--import", "tsx", script], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "inherit"],
    });
    const first = await new Promise<string>((ok, fail) => {
      createInterface({ input: holder.stdout! }).once("line", ok);
      holder.once("exit", (code) =>
        fail(new Error(`holder exited (${code}) before Prometheus was ready`)),
      );
    });
    const { pid, url } = JSON.parse(first) as { pid: number; url: string };
    // The pid goose holds is Prometheus itself (setpriv exec'd it), so stop()'s SIGTERM reaches it.
    expect(readFileSync(`/proc/${pid}/comm`, "utf8").trim()).toBe("prometheus");
    expect((await fetch(`${url}/-/ready`)).ok, "Prometheus serves while goose lives").toBe(true);

    holder.kill("SIGKILL");
    // A bounded poll for the outcome, not a timing margin: the kernel signals it when goose dies.
    for (let i = 0; i < 600 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    const left = alive(pid);
    if (left) process.kill(pid, "SIGKILL");
    expect(left, "Prometheus outlived goose").toBe(false);
  }, 180_000);
});

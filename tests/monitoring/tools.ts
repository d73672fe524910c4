/** Helpers of the monitoring tests: the real promtool, amtool, prometheus and alertmanager. */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const PROM_DIR = path.join(REPO_ROOT, "monitoring/prometheus");
export const TESTS_DIR = path.join(PROM_DIR, "tests");

const INSTALL = "apt-get update && apt-get install -y prometheus prometheus-alertmanager";

/** Absolute path of a Debian tool; throws with the install command when it is missing. */
export function tool(name: "promtool" | "amtool" | "prometheus" | "prometheus-alertmanager") {
  for (const dir of (process.env["PATH"] ?? "").split(path.delimiter).concat("/usr/bin")) {
    const p = path.join(dir, name);
    if (dir && existsSync(p)) return p;
  }
  throw new Error(`${name} is not installed: run \`${INSTALL}\``);
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (never throws on a non-zero exit). */
export function run(cmd: string, args: string[], cwd = REPO_ROOT): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `gg-${prefix}-`));
}

export function readYaml<T = unknown>(file: string): T {
  return parse(readFileSync(file, "utf8")) as T;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts a server process and waits until `readyUrl` answers 200; returns it with its log. */
export async function startServer(
  cmd: string,
  args: string[],
  readyUrl: string,
  timeoutMs = 40_000,
): Promise<{ proc: ChildProcess; log: () => string; stop: () => Promise<void> }> {
  const proc = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  proc.stdout?.on("data", (d: Buffer) => (log += d.toString()));
  proc.stderr?.on("data", (d: Buffer) => (log += d.toString()));
  let exited = false;
  proc.once("exit", () => (exited = true));
  const stop = () =>
    new Promise<void>((resolve) => {
      if (exited) return resolve();
      proc.once("exit", () => resolve());
      proc.kill("SIGTERM");
    });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) throw new Error(`${cmd} exited before it was ready:\n${log}`);
    try {
      const res = await fetch(readyUrl);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${cmd} did not become ready at ${readyUrl}:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc, log: () => log, stop };
}

export interface RuleFile {
  groups: Array<{
    name: string;
    rules: Array<{
      record?: string;
      alert?: string;
      expr: string;
      for?: string;
      labels?: Record<string, string>;
      annotations?: Record<string, string>;
    }>;
  }>;
}

/**
 * The real binaries a drill runs on loopback (Debian's `prometheus` and `prometheus-alertmanager`):
 * finding them, free ports, starting a server and waiting until it answers. A missing binary is an
 * InputError (exit 2) naming the package to install.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { InputError } from "../../errors.js";

/** A binary a drill needs, with the install hint and the environment variable that overrides it. */
export const DRILL_BINARIES = {
  prometheus: { names: ["prometheus"], env: "GOOSE_PROMETHEUS_BIN", pkg: "prometheus" },
  alertmanager: {
    names: ["alertmanager", "prometheus-alertmanager"],
    env: "GOOSE_ALERTMANAGER_BIN",
    pkg: "prometheus-alertmanager",
  },
} as const;
export type DrillBinary = keyof typeof DRILL_BINARIES;

/** Absolute path of a binary: `$GOOSE_<X>_BIN`, else the first of its names on PATH. */
export function findBinary(which: DrillBinary, env: NodeJS.ProcessEnv): string {
  const spec = DRILL_BINARIES[which];
  const override = env[spec.env];
  if (override) {
    if (!existsSync(override)) {
      throw new InputError(`${spec.env}=${override}: no such file`, {
        fix: `point ${spec.env} at the ${which} binary, or unset it to search PATH`,
      });
    }
    return override;
  }
  for (const dir of (env.PATH ?? "").split(path.delimiter).filter(Boolean)) {
    for (const name of spec.names) {
      const p = path.join(dir, name);
      if (existsSync(p)) return p;
    }
  }
  throw new InputError(`${spec.names.join(" or ")} is not installed (not on PATH)`, {
    fix: `apt-get install -y ${spec.pkg} (or set ${spec.env} to its path)`,
  });
}

/** A free TCP port on 127.0.0.1 (the kernel's choice; released before the caller binds it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

export interface Server {
  name: string;
  url: string;
  child: ChildProcess;
  /** Where its output goes. */
  logFile: string;
  /** SIGKILL (a crash, for failover drills); resolves when it has exited. */
  kill(): Promise<void>;
  /** SIGTERM, then SIGKILL after 5 s; resolves when it has exited. */
  stop(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/**
 * The command line that starts `bin args` so that it dies with goose. goose stops its servers
 * itself, but a goose killed with SIGKILL (or by the OOM killer) cannot, and a Prometheus left
 * behind holds its port, its TSDB directory and hundreds of MB for good. On Linux, util-linux's
 * `setpriv --pdeathsig KILL` (util-linux is Essential on Debian) asks the kernel to SIGKILL the
 * server when goose ends; it then execs the server, so the pid and signals stay the server's.
 * Without setpriv on PATH the server starts directly (no guard).
 */
export function guardedCommand(
  bin: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): [string, string[]] {
  if (process.platform !== "linux") return [bin, args];
  for (const dir of (env.PATH ?? "").split(path.delimiter).filter(Boolean)) {
    const setpriv = path.join(dir, "setpriv");
    if (existsSync(setpriv)) return [setpriv, ["--pdeathsig", "KILL", "--", bin, ...args]];
  }
  return [bin, args];
}

/**
 * Starts `bin args` with output to `logFile`; `url` is what the caller will probe. The server dies
 * with goose (guardedCommand).
 */
export function startServer(
  name: string,
  bin: string,
  args: string[],
  url: string,
  logFile: string,
): Server {
  const log = createWriteStream(logFile, { flags: "a" });
  const [cmd, argv] = guardedCommand(bin, args);
  const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const done = exited(child);
  return {
    name,
    url,
    child,
    logFile,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await done;
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 5000);
        t.unref();
        await done;
        clearTimeout(t);
      }
    },
  };
}

/**
 * Polls `url` until it answers 2xx. Fails when the process exits first or after `timeoutMs`,
 * naming its log file.
 */
export async function waitUntilReady(
  server: Server,
  readyUrl: string,
  timeoutMs: number,
  headers: Record<string, string> = {},
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (server.child.exitCode !== null || server.child.signalCode !== null) {
      throw new Error(
        `${server.name} exited (${server.child.exitCode ?? server.child.signalCode}) before it was ready; see ${server.logFile}`,
      );
    }
    try {
      const r = await fetch(readyUrl, { headers, signal: AbortSignal.timeout(2000) });
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${server.name} did not answer ${readyUrl} within ${Math.round(timeoutMs / 1000)} s; see ${server.logFile}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs a command to completion; resolves with its exit code and output (never throws on exit). */
export function runCommand(
  bin: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      cwd: opts.cwd,
      stdio: ["ignore", "pipe", "pipe"],
      ...(opts.env ? { env: opts.env } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.once("error", reject);
    child.once("close", (code) =>
      resolve({
        code: code ?? 1,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      }),
    );
  });
}

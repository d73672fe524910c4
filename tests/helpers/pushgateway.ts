import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PUSHGATEWAY_USER, pushgatewayWebConfig } from "../../src/components/pushgateway-auth.js";
import { bcrypt } from "./bcrypt.js";

const BINARY = "prometheus-pushgateway";

/** A free TCP port on loopback. */
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

export interface RunningPushgateway {
  url: string;
  stop: () => void;
  /** With `auth`: the password, a file holding it, the web config file and an Authorization header. */
  auth?: { password: string; passwordFile: string; webConfigFile: string; header: string };
}

/**
 * A real Pushgateway (Debian package prometheus-pushgateway) on loopback. It serves under a random
 * route prefix, so a test can never talk to another test's Pushgateway that happens to hold the
 * port it was given, and keeps its metrics in memory only. With `auth`, it runs with the web
 * config goose renders (pushgateway-auth.ts) for a random password.
 */
export async function startPushgateway(opts: { auth?: boolean } = {}): Promise<RunningPushgateway> {
  if (spawnSync("sh", ["-c", `command -v ${BINARY}`]).status !== 0) {
    throw new Error(
      `${BINARY} is not installed: apt-get update && apt-get install -y prometheus-pushgateway`,
    );
  }
  let auth: RunningPushgateway["auth"];
  let dir: string | undefined;
  if (opts.auth) {
    dir = mkdtempSync(join(tmpdir(), "goose-pgauth-"));
    const password = randomBytes(16).toString("hex");
    const webConfigFile = join(dir, "web.yml");
    const passwordFile = join(dir, "password");
    writeFileSync(webConfigFile, pushgatewayWebConfig(bcrypt(password)));
    writeFileSync(passwordFile, password);
    const header = `Basic ${Buffer.from(`${PUSHGATEWAY_USER}:${password}`).toString("base64")}`;
    auth = { password, passwordFile, webConfigFile, header };
  }
  const port = await freePort();
  const prefix = `/pg-${randomBytes(6).toString("hex")}`;
  const url = `http://127.0.0.1:${port}${prefix}`;
  const child: ChildProcess = spawn(
    BINARY,
    // Debian builds it with a default persistence file shared by every instance: keep memory only.
    [
      `--web.listen-address=127.0.0.1:${port}`,
      `--web.route-prefix=${prefix}`,
      "--persistence.file=",
      ...(auth ? [`--web.config.file=${auth.webConfigFile}`] : []),
    ],
    { stdio: "ignore" },
  );
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const headers: Record<string, string> = auth ? { authorization: auth.header } : {};
      if ((await fetch(`${url}/-/ready`, { headers })).ok) break;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill();
      throw new Error(`${BINARY} did not become ready on ${url}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    stop: () => {
      child.kill();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
    ...(auth ? { auth } : {}),
  };
}

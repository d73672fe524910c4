import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";

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

/**
 * A real Pushgateway (Debian package prometheus-pushgateway) on loopback. It serves under a random
 * route prefix, so a test can never talk to another test's Pushgateway that happens to hold the
 * port it was given, and keeps its metrics in memory only.
 */
export async function startPushgateway(): Promise<{ url: string; stop: () => void }> {
  if (spawnSync("sh", ["-c", `command -v ${BINARY}`]).status !== 0) {
    throw new Error(
      `${BINARY} is not installed: apt-get update && apt-get install -y prometheus-pushgateway`,
    );
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
    ],
    { stdio: "ignore" },
  );
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill();
      throw new Error(`${BINARY} did not become ready on ${url}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, stop: () => child.kill() };
}

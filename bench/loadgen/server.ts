/**
 * The reference HTTP server of the load-test benchmark and of the committed baselines: answers
 * every request with a small JSON body, optionally after a delay or with a 500.
 *
 *   node --import tsx bench/loadgen/server.ts [--port 0] [--delay-ms 0] [--error-every 0]
 *
 * Prints `listening http://127.0.0.1:PORT` on stdout once ready.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";

export interface ReferenceServerOptions {
  port?: number;
  /** Delay before each answer. */
  delayMs?: number;
  /** Every Nth request gets a 500 (0: never). */
  errorEvery?: number;
}

const BODY = JSON.stringify({ status: "success", data: { resultType: "vector", result: [] } });

export function startReferenceServer(
  opts: ReferenceServerOptions = {},
): Promise<{ server: Server; url: string }> {
  let n = 0;
  const server = createServer((req, res) => {
    req.resume();
    n++;
    const fail = opts.errorEvery ? n % opts.errorEvery === 0 : false;
    const answer = () => {
      res.writeHead(fail ? 500 : 200, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(BODY),
      });
      res.end(BODY);
    };
    if (opts.delayMs) setTimeout(answer, opts.delayMs);
    else answer();
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => {
    server.listen(opts.port ?? 0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      resolve({ server, url: `http://127.0.0.1:${port}` });
    });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const { url } = await startReferenceServer({
    port: arg("--port") ?? 0,
    delayMs: arg("--delay-ms") ?? 0,
    errorEvery: arg("--error-every") ?? 0,
  });
  process.stdout.write(`listening ${url}\n`);
}

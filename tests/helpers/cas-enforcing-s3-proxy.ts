/**
 * A test-only HTTP proxy in front of s3rver that enforces S3's conditional writes, because s3rver
 * ignores them (../../../shared/notes/s3.md) and no MinIO is available here. It is not an S3
 * implementation: every request is forwarded unchanged (same headers, so SigV4 still verifies);
 * only these conditions are checked first, as AWS S3 does:
 *
 * - PUT with `If-None-Match: *` on an existing key: 412 PreconditionFailed;
 * - PUT or DELETE with `If-Match: <etag>` when the key is missing (404 NoSuchKey) or its current
 *   ETag differs (412 PreconditionFailed).
 *
 * The check and the forwarded write run under a per-key mutex (every request on a key takes it,
 * reads included), so check-then-write is atomic and reads never see a half-written object, as
 * with S3. Multipart uploads (POST/PUT with uploadId) pass
 * through. `requests` counts what went through, `rejected` what was refused, so tests can prove
 * the conditional path was exercised.
 */
import { createServer, request as httpRequest, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

export interface CasProxy {
  /** http://127.0.0.1:<port>: use as GOOSE_S3_ENDPOINT. */
  endpoint: string;
  stats: { conditional: number; rejected: number };
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

interface Upstream {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function forward(
  upstream: URL,
  method: string,
  path: string,
  headers: IncomingMessage["headers"],
  body?: Buffer,
): Promise<Upstream> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: upstream.hostname, port: upstream.port, method, path, headers },
      (res) => {
        readBody(res).then(
          (b) => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: b }),
          reject,
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

function errorXml(code: string, message: string, resource: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}` +
    `</Message><Resource>${resource}</Resource></Error>`
  );
}

const unquote = (e: string | undefined) => (e ?? "").trim().replace(/^W\//, "").replace(/"/g, "");

export async function startCasEnforcingProxy(upstreamEndpoint: string): Promise<CasProxy> {
  const upstream = new URL(upstreamEndpoint);
  const locks = new Map<string, Promise<void>>();
  const stats = { conditional: 0, rejected: 0 };

  async function withKey<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = locks.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const chained = prev.then(() => mine);
    locks.set(key, chained);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (locks.get(key) === chained) locks.delete(key);
    }
  }

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://proxy");
      const method = req.method ?? "GET";
      const body = await readBody(req);
      const send = (u: Upstream) => {
        res.writeHead(u.status, u.headers);
        res.end(u.body);
      };
      const multipart = url.searchParams.has("uploadId") || url.searchParams.has("uploads");
      if (multipart) {
        send(await forward(upstream, method, req.url ?? "/", req.headers, body));
        return;
      }
      // Reads take the key's mutex too: s3rver writes objects in place, so a GET racing a PUT
      // can see a partial body under the complete object's ETag; S3's reads are atomic.
      await withKey(url.pathname, async () => {
        const ifNoneMatch = req.headers["if-none-match"];
        const ifMatch = req.headers["if-match"];
        if (
          (method === "PUT" || method === "DELETE") &&
          (ifNoneMatch !== undefined || ifMatch !== undefined)
        ) {
          stats.conditional++;
          // The current object, read without auth headers beyond what s3rver needs.
          const head = await forward(upstream, "HEAD", url.pathname, {
            host: req.headers.host ?? upstream.host,
          });
          const exists = head.status === 200;
          const etag = unquote(head.headers.etag as string | undefined);
          let refuse: [number, string] | undefined;
          if (ifNoneMatch !== undefined && ifNoneMatch.trim() === "*" && exists) {
            refuse = [412, "PreconditionFailed"];
          } else if (ifMatch !== undefined && !exists) {
            refuse = [404, "NoSuchKey"];
          } else if (ifMatch !== undefined && unquote(ifMatch) !== etag) {
            refuse = [412, "PreconditionFailed"];
          }
          if (refuse) {
            stats.rejected++;
            const xml = errorXml(
              refuse[1],
              refuse[1] === "NoSuchKey"
                ? "The specified key does not exist."
                : "At least one of the pre-conditions you specified did not hold",
              url.pathname,
            );
            res.writeHead(refuse[0], {
              "content-type": "application/xml",
              "content-length": Buffer.byteLength(xml),
            });
            res.end(xml);
            return;
          }
        }
        send(await forward(upstream, method, req.url ?? "/", req.headers, body));
      });
    })().catch((err: unknown) => {
      res.writeHead(502, { "content-type": "text/plain" });
      res.end(`cas proxy: ${(err as Error).message}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stats,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

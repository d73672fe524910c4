/**
 * An HTTP proxy in front of s3rver that keeps what s3rver drops: the server-side-encryption
 * headers of each object. A PUT (or the CreateMultipartUpload POST) that asks for SSE has them
 * stored per key; HEAD and GET of the key answer with them, as S3 does. Requests are forwarded
 * byte for byte (Host included, so SigV4 signatures still verify).
 */
import { createServer, request, type IncomingHttpHeaders } from "node:http";

const SSE_HEADERS = [
  "x-amz-server-side-encryption",
  "x-amz-server-side-encryption-aws-kms-key-id",
] as const;

export async function startSseProxy(
  upstream: string,
): Promise<{ endpoint: string; close: () => Promise<void> }> {
  const target = new URL(upstream);
  const sse = new Map<string, Record<string, string>>();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const key = decodeURIComponent(url.pathname);
    const method = req.method ?? "GET";
    if (method === "PUT" || (method === "POST" && url.searchParams.has("uploads"))) {
      const h: Record<string, string> = {};
      for (const name of SSE_HEADERS) {
        const v = req.headers[name];
        if (typeof v === "string") h[name] = v;
      }
      if (!url.searchParams.has("partNumber")) sse.set(key, h);
    }
    const up = request(
      {
        host: target.hostname,
        port: target.port,
        method,
        path: req.url,
        // The proxy already answered `Expect: 100-continue` itself.
        headers: Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== "expect")),
      },
      (ur) => {
        const headers: IncomingHttpHeaders = { ...ur.headers };
        if ((method === "GET" || method === "HEAD") && sse.has(key)) {
          Object.assign(headers, sse.get(key));
        }
        res.writeHead(ur.statusCode ?? 502, headers);
        ur.pipe(res);
      },
    );
    up.on("error", (err) => {
      res.writeHead(502);
      res.end(String(err));
    });
    req.pipe(up);
  });
  // botocore sends `Expect: 100-continue`: answer it here, forward the body without it.
  server.on("checkContinue", (req, res) => {
    res.writeContinue();
    server.emit("request", req, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

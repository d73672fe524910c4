/**
 * The failover drill's loopback helpers: the webhook receiver that records every notification,
 * the scrape target that fires the drill's rounds, bounded polls and the Prometheus side of
 * notification counts.
 */
import { createServer, type Server as HttpServer } from "node:http";
import type { Notification } from "./failover-report.js";

export const ROUNDS = ["before-kill", "after-kill", "silenced"] as const;
export type Round = (typeof ROUNDS)[number];
export const DRILL_METRIC = "goldengoose_failover_drill_round";
export const DRILL_JOB = "goldengoose-failover-drill";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function getJson(url: string, headers: Record<string, string> = {}): Promise<unknown> {
  const r = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

/** Polls `probe` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function until<T>(
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) return undefined;
    await sleep(200);
  }
}

/** The loopback webhook receiver: every notification, in order. */
export async function startReceiver(
  t0: number,
  drillId: string,
): Promise<{ url: string; server: HttpServer; got: Notification[] }> {
  const got: Notification[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
          status?: string;
          externalURL?: string;
          alerts?: Array<{ labels?: Record<string, string> }>;
        };
        const ours = (body.alerts ?? []).filter((a) => a.labels?.["drill"] === drillId);
        if (ours.length > 0) {
          got.push({
            atMs: performance.now() - t0,
            from: (body.externalURL ?? "").replace(/\/$/, ""),
            status: body.status ?? "",
            alertnames: [...new Set(ours.map((a) => a.labels?.["alertname"] ?? ""))],
          });
        }
      } catch {
        // not a notification
      }
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return { url: `http://127.0.0.1:${port}/notify`, server, got };
}

/** The drill's scrape target: one series per fired round. */
export async function startTarget(): Promise<{
  address: string;
  server: HttpServer;
  fired: Set<Round>;
}> {
  const fired = new Set<Round>();
  const server = createServer((_req, res) => {
    const lines = [`# TYPE ${DRILL_METRIC} gauge`];
    for (const r of ROUNDS) lines.push(`${DRILL_METRIC}{round="${r}"} ${fired.has(r) ? 1 : 0}`);
    res
      .writeHead(200, { "content-type": "text/plain; version=0.0.4" })
      .end(lines.join("\n") + "\n");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  return {
    address: `127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`,
    server,
    fired,
  };
}

/** Counts of `prometheus_notifications_sent_total` per Alertmanager URL, from a Prometheus. */
export async function sentPerAlertmanager(promUrl: string): Promise<Map<string, number>> {
  const r = await fetch(`${promUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await r.text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(
    /^prometheus_notifications_sent_total\{alertmanager="([^"]+)"\} (\S+)$/gm,
  )) {
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

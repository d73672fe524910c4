/**
 * Restores a TSDB snapshot into a fresh Prometheus (the real binary) on loopback and asks it what
 * came back. The server runs on a COPY of the restored folder (Prometheus writes a WAL and may
 * compact), with no scrape jobs (nothing new is written) and a retention longer than the oldest
 * block (nothing restored is deleted).
 */
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { freePort, startServer, waitUntilReady, type Server } from "./processes.js";

export interface BlockMeta {
  ulid: string;
  minTime: number;
  maxTime: number;
  numSeries: number;
  numSamples: number;
}

/** The blocks of a restored TSDB folder (`<ULID>/meta.json`). */
export function readBlocks(dir: string): BlockMeta[] {
  const out: BlockMeta[] = [];
  for (const name of readdirSync(dir)) {
    const meta = path.join(dir, name, "meta.json");
    if (!/^[0-9A-Z]{26}$/.test(name) || !existsSync(meta)) continue;
    const m = JSON.parse(readFileSync(meta, "utf8")) as {
      ulid: string;
      minTime: number;
      maxTime: number;
      stats?: { numSeries?: number; numSamples?: number };
    };
    out.push({
      ulid: m.ulid,
      minTime: m.minTime,
      maxTime: m.maxTime,
      numSeries: m.stats?.numSeries ?? 0,
      numSamples: m.stats?.numSamples ?? 0,
    });
  }
  return out.sort((a, b) => a.minTime - b.minTime);
}

export interface RestoredPrometheus {
  server: Server;
  /** Seconds from the call to the server's readiness. */
  startSeconds: number;
}

/** Starts Prometheus on a copy of `restoredDir` (copied to `dataDir`). */
export async function startRestoredPrometheus(opts: {
  bin: string;
  restoredDir: string;
  dataDir: string;
  workDir: string;
  blocks: BlockMeta[];
  now: Date;
  timeoutMs: number;
}): Promise<RestoredPrometheus> {
  const t0 = performance.now();
  cpSync(opts.restoredDir, opts.dataDir, { recursive: true });
  const config = path.join(opts.workDir, "restore-prometheus.yml");
  writeFileSync(
    config,
    "# goose dr drill: no scrape jobs, nothing is written into the restored data\nglobal: {}\n",
  );
  const oldest = Math.min(...opts.blocks.map((b) => b.minTime), opts.now.getTime());
  const days = Math.ceil((opts.now.getTime() - oldest) / 86_400_000) + 30;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = startServer(
    "restored prometheus",
    opts.bin,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${opts.dataDir}`,
      `--storage.tsdb.retention.time=${days}d`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    url,
    path.join(opts.workDir, "restore-prometheus.log"),
  );
  try {
    await waitUntilReady(server, `${url}/-/ready`, opts.timeoutMs);
  } catch (err) {
    await server.kill();
    throw err;
  }
  return { server, startSeconds: (performance.now() - t0) / 1000 };
}

export interface Sample {
  metric: Record<string, string>;
  value: number;
}

/** An instant query (POST /api/v1/query) at `time` (Unix seconds). */
export async function instantQuery(url: string, expr: string, time: number): Promise<Sample[]> {
  const r = await fetch(`${url}/api/v1/query`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ query: expr, time: String(time) }).toString(),
    signal: AbortSignal.timeout(60_000),
  });
  const doc = (await r.json()) as {
    status: string;
    error?: string;
    data?: {
      resultType: string;
      result: Array<{ metric: Record<string, string>; value: [number, string] }>;
    };
  };
  if (doc.status !== "success" || !doc.data) {
    throw new Error(`query ${expr} failed: ${doc.error ?? r.status}`);
  }
  return doc.data.result.map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
}

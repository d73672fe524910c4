/**
 * bench/loadgen: goose's load runner (autocannon + per-response histogram) against `wrk`, the
 * reference, on the same loopback server (bench/loadgen/server.ts, its own process), with the
 * same connections, in one command. wrk runs with one thread, like the runner (one event loop).
 * Rounds alternate wrk, the runner and bare autocannon (no goose measuring on top) so drift in
 * the machine hits all alike; the headline is the median of the per-round ratios, robust to a
 * round disturbed by other work on the machine.
 *
 *   npm run bench loadgen        (env: LOADGEN_CONNECTIONS=10 LOADGEN_SECONDS=4 LOADGEN_ROUNDS=5)
 *
 * Goal (issue 7): the runner reaches at least 70% of wrk's requests per second.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { runScenario, type Scenario } from "../../src/loadtest/index.js";

const here = dirname(fileURLToPath(import.meta.url));
const CONNECTIONS = Number(process.env.LOADGEN_CONNECTIONS ?? 10);
const SECONDS = Number(process.env.LOADGEN_SECONDS ?? 4);
const ROUNDS = Number(process.env.LOADGEN_ROUNDS ?? 5);
const GOAL = 0.7;

function requireWrk(): string {
  const r = spawnSync("wrk", ["--version"], { encoding: "utf8" });
  if (r.error) {
    console.error(
      "wrk is missing: apt-get install -y wrk (the reference load generator of this benchmark)",
    );
    process.exit(2);
  }
  return (r.stdout + r.stderr).split("\n")[0]!.trim();
}

async function startServer(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", join(here, "server.ts")], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let buf = "";
    child.stdout!.on("data", (c: Buffer) => {
      buf += c.toString();
      const m = /listening (\S+)/.exec(buf);
      if (m) resolve(m[1]!);
    });
    child.on("exit", (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { child, url };
}

function runWrk(url: string, seconds: number): { rps: number; latency: string } {
  const r = spawnSync("wrk", ["-t1", `-c${CONNECTIONS}`, `-d${seconds}s`, "--latency", `${url}/`], {
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  const p99 = /\s99%\s+(\S+)/.exec(r.stdout);
  if (!rps) throw new Error(`cannot read wrk's output:\n${r.stdout}`);
  return { rps: Number(rps[1]), latency: p99?.[1] ?? "?" };
}

const scenario: Scenario = {
  name: "loadgen",
  description: "benchmark",
  phases: [{ connections: CONNECTIONS, durationSeconds: SECONDS }],
  pipelining: 1,
  timeoutSeconds: 10,
  mix: [{ name: "root", method: "GET", path: "/", headers: {}, weight: 1 }],
  thresholds: [],
};

async function runRunner(url: string, seconds: number): Promise<{ rps: number; p99: number }> {
  const r = await runScenario(
    { ...scenario, phases: [{ connections: CONNECTIONS, durationSeconds: seconds }] },
    { target: url },
  );
  if (r.metrics.errorRate > 0)
    throw new Error(`runner saw errors: ${JSON.stringify(r.metrics.statusCodes)}`);
  return { rps: r.metrics.rps, p99: r.metrics.latencyMs.p99 };
}

async function runBare(url: string, seconds: number): Promise<number> {
  const r = await autocannon({ url: `${url}/`, connections: CONNECTIONS, duration: seconds });
  return r.requests.total / r.duration;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const wrkVersion = requireWrk();
const { child, url } = await startServer();
try {
  console.log(
    `loopback server ${url} (own process); ${CONNECTIONS} connections, ${SECONDS}s per run, ${ROUNDS} rounds; reference: ${wrkVersion}, 1 thread`,
  );
  runWrk(url, 2); // warm-up: JIT of the server and of the runner
  await runRunner(url, 2);
  const wrk: number[] = [];
  const runner: number[] = [];
  const ratios: number[] = [];
  const overhead: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const w = runWrk(url, SECONDS);
    const g = await runRunner(url, SECONDS);
    const bare = await runBare(url, SECONDS);
    wrk.push(w.rps);
    runner.push(g.rps);
    ratios.push(g.rps / w.rps);
    overhead.push(g.rps / bare);
    console.log(
      `round ${i + 1}: wrk ${w.rps.toFixed(0)} req/s (p99 ${w.latency}); goose runner ${g.rps.toFixed(0)} req/s (p99 ${g.p99.toFixed(2)}ms); bare autocannon ${bare.toFixed(0)} req/s; runner/wrk ${(g.rps / w.rps).toFixed(3)}`,
    );
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const ratio = median(ratios);
  console.log(
    `goose runner / wrk requests per second: median of rounds ${ratio.toFixed(3)} (${(ratio * 100).toFixed(1)}% of the reference; goal ≥ ${GOAL * 100}%: ${ratio >= GOAL ? "met" : "MISSED"}); ratio of means ${(mean(runner) / mean(wrk)).toFixed(3)}`,
  );
  console.log(
    `goose runner / bare autocannon (cost of goose's per-response histogram): median ${median(overhead).toFixed(3)}`,
  );
} finally {
  child.kill();
}

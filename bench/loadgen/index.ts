/**
 * bench/loadgen: goose's load runner (autocannon + per-response histogram) against `wrk`, the
 * reference, on the same loopback server (bench/loadgen/server.ts, its own process), with the
 * same connections, in one command. wrk runs with one thread, like the runner (one event loop).
 * Rounds alternate wrk and the runner so drift in the machine hits both alike.
 *
 *   npm run bench loadgen        (env: LOADGEN_CONNECTIONS=10 LOADGEN_SECONDS=5 LOADGEN_ROUNDS=3)
 *
 * Goal (issue 7): the runner reaches at least 70% of wrk's requests per second.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runScenario, type Scenario } from "../../src/loadtest/index.js";

const here = dirname(fileURLToPath(import.meta.url));
const CONNECTIONS = Number(process.env.LOADGEN_CONNECTIONS ?? 10);
const SECONDS = Number(process.env.LOADGEN_SECONDS ?? 5);
const ROUNDS = Number(process.env.LOADGEN_ROUNDS ?? 3);
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
  for (let i = 0; i < ROUNDS; i++) {
    const w = runWrk(url, SECONDS);
    wrk.push(w.rps);
    const g = await runRunner(url, SECONDS);
    runner.push(g.rps);
    console.log(
      `round ${i + 1}: wrk ${w.rps.toFixed(0)} req/s (p99 ${w.latency}); goose runner ${g.rps.toFixed(0)} req/s (p99 ${g.p99.toFixed(2)}ms); ratio ${(g.rps / w.rps).toFixed(3)}`,
    );
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const ratio = mean(runner) / mean(wrk);
  console.log(
    `goose runner / wrk requests per second: ${ratio.toFixed(3)} (${(ratio * 100).toFixed(1)}% of the reference; goal ≥ ${GOAL * 100}%: ${ratio >= GOAL ? "met" : "MISSED"})`,
  );
} finally {
  child.kill();
}

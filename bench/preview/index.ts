/**
 * `npm run bench preview` (issue 18). Every figure is a ratio to a reference measured in the same
 * run, interleaved with it (the machine's load is printed: on a shared machine only ratios mean
 * something).
 *
 * 1. Reference "pack-start": one bare start of the policy pack as the Pulumi CLI starts it
 *    (run-policy-pack, until it prints its port) — the floor of any preview. Beside it, for
 *    comparison, "goose-pack-start": the same pack started as goose starts it (pack-launch.ts).
 *    Against the reference, whole
 *    goose processes (bin/goose.js: dist/ when built and fresh, else tsx):
 *    - `goose preview production --offline` (goal <= 1.3x),
 *    - `goose preview --all --offline` (goal <= 1.6x) and its peak RSS (largest process, goal
 *      <= 300 MB; needs /usr/bin/time),
 *    - growth: production with 10x its scrape targets and dashboards (a temp workspace), as a ratio
 *      to production itself.
 * 2. Growth through the whole preview in this process (OfflineEngine.preview: render under mocks,
 *    pack start, Analyze, AnalyzeStack) of a synthetic stack of 500 resources, as a ratio to the
 *    same with 50.
 * 3. The Analyzer on a synthetic 5,000-resource stack through the real pack, as a ratio to the
 *    reference run "empty-pack": the same 5,000 Analyze calls to a pack with no policies (the gRPC
 *    floor); AnalyzeStack likewise (goals: >= 0.9x the rate, <= 1.2x the time). Run in
 *    interleaved pairs; beside the wall ratios, the pack process's own CPU against the empty
 *    pack's (the client's work, in this process, is the same for both). The pack decodes its
 *    requests' properties itself (policy-pack/wire-decode.ts), faster than the SDK the empty pack
 *    runs; so each pair also runs "empty-pack+decoding", an empty pack with the same SDK speed-ups
 *    (sdk-speed.ts), and the pack's ratios to it are reported (no goal): what the policies cost
 *    on their own.
 * Medians of RUNS runs each (env BENCH_RUNS, default 3). BENCH_PREVIEW_ONLY=1 skips part 3;
 * BENCH_ANALYZER_ONLY=1 runs part 3 only.
 */
import { spawn } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  PolicyPackProcess,
  PULUMI_STARTUP,
  RUN_POLICY_PACK,
  type AnalyzerResourceInput,
} from "../../src/policy/analyzer.js";
import { ensurePolicyPackBuilt } from "../../src/policy/pack-build.js";
import {
  readPolicyPackConfigFile,
  resolvePolicyPackConfig,
} from "../../src/policy/policy-config.js";
import { renderedWorkload, synthetic } from "./synthetic.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const packDir = join(repoRoot, "policy-pack");
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const N = 5000;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function timeProcess(
  args: string[],
  cwd: string,
  untilStdout?: RegExp,
  command = process.execPath,
): Promise<number> {
  return new Promise((res, rej) => {
    const t = performance.now();
    const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stderr.on("data", (d) => (err += String(d)));
    child.stdout.on("data", (d) => {
      out += String(d);
      if (untilStdout && untilStdout.test(out)) {
        const ms = performance.now() - t;
        child.kill("SIGKILL");
        res(ms);
      }
    });
    child.on("exit", (code) => {
      if (untilStdout) {
        if (!untilStdout.test(out)) rej(new Error(`exited ${code} before ready: ${err}`));
        return;
      }
      if (code !== 0) rej(new Error(`${args.join(" ")} exited ${code}: ${err.slice(0, 2000)}`));
      else res(performance.now() - t);
    });
  });
}

/** User + system CPU (ms) a process has used so far (Linux /proc; undefined elsewhere). */
function processCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces): utime and stime are the 12th/13th.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}
/** Linux's USER_HZ, the unit of /proc/<pid>/stat times (100 on every common build). */
const CLOCK_TICKS = 100;

interface AnalyzerRun {
  perSecond: number;
  stackMs: number;
  /** The pack process's CPU during the timed Analyze calls and during AnalyzeStack. */
  analyzeCpuMs?: number;
  stackCpuMs?: number;
}

async function analyzerThroughput(
  dir: string,
  configFile?: string,
  rs: AnalyzerResourceInput[] = synthetic(N),
): Promise<AnalyzerRun> {
  const pack = await PolicyPackProcess.start(dir, {
    rpcTimeoutMs: 120_000,
    startTimeoutMs: 120_000,
  });
  try {
    const info = await pack.getAnalyzerInfo();
    await pack.configure(
      resolvePolicyPackConfig(info, configFile ? readPolicyPackConfigFile(configFile) : undefined),
    );
    await pack.analyzeAll(rs.slice(0, 500)); // warm-up (JIT, connection), not timed
    const c0 = processCpuMs(pack.pid);
    const t = performance.now();
    await pack.analyzeAll(rs);
    const ms = performance.now() - t;
    const c1 = processCpuMs(pack.pid);
    const t2 = performance.now();
    await pack.analyzeStack(rs);
    const stackMs = performance.now() - t2;
    const c2 = processCpuMs(pack.pid);
    const cpu = (a?: number, b?: number) =>
      a !== undefined && b !== undefined ? b - a : undefined;
    return {
      perSecond: (N * 1000) / ms,
      stackMs,
      analyzeCpuMs: cpu(c0, c1),
      stackCpuMs: cpu(c1, c2),
    };
  } finally {
    await pack.close();
  }
}

/**
 * A workspace whose production stage has 10x the scrape targets and dashboards of the repository's:
 * the stack file with ten service targets per one, the dashboards folder with ten copies of each
 * dashboard (distinct uid and title); everything else links to the repository.
 */
function scaledWorkspace(factor: number): string {
  const dir = mkdtempSync(join(tmpdir(), "goose-bench-scaled-"));
  for (const name of readdirSync(repoRoot)) {
    if (["monitoring", ".goose", ".git", "Pulumi.production.yaml"].includes(name)) continue;
    symlinkSync(join(repoRoot, name), join(dir, name));
  }
  cpSync(join(repoRoot, "monitoring"), join(dir, "monitoring"), { recursive: true });
  const dashDir = join(dir, "monitoring/grafana/dashboards");
  for (const file of readdirSync(dashDir).filter((f) => f.endsWith(".json"))) {
    const text = readFileSync(join(dashDir, file), "utf8");
    for (let i = 1; i < factor; i++) {
      const d = JSON.parse(text) as { uid?: string; title?: string };
      if (d.uid) d.uid = `${d.uid}-${i}`.slice(0, 40);
      if (d.title) d.title = `${d.title} ${i}`;
      writeFileSync(join(dashDir, file.replace(/\.json$/, `-${i}.json`)), JSON.stringify(d));
    }
  }
  const stack = readFileSync(join(repoRoot, "Pulumi.production.yaml"), "utf8");
  const scaled = stack.replace(
    /( {4}serviceTargets:\n)((?: {6}- .*\n)+)/,
    (_, head: string, items: string) => {
      const targets = items.trimEnd().split("\n");
      const out: string[] = [];
      for (let i = 0; i < factor; i++) {
        for (const t of targets) out.push(i === 0 ? t : t.replace(/- ([^.:]+)/, `- $1-${i}`));
      }
      return head + out.join("\n") + "\n";
    },
  );
  if (scaled === stack) throw new Error("Pulumi.production.yaml: no serviceTargets list to scale");
  writeFileSync(join(dir, "Pulumi.production.yaml"), scaled);
  return dir;
}

interface Measured {
  ms: number;
  /** User + system CPU of the process and its children (the pack), when /usr/bin/time exists. */
  cpuMs?: number;
  /** Peak RSS of the largest process, MB. */
  rssMb?: number;
}

const TIME = "/usr/bin/time";

/** Runs `node args…` (under /usr/bin/time when present): wall ms, CPU ms and peak RSS. */
async function measure(args: string[], cwd: string): Promise<Measured> {
  if (!existsSync(TIME)) return { ms: await timeProcess(args, cwd) };
  const out = join(tmpdir(), `goose-bench-time-${process.pid}`);
  const ms = await timeProcess(
    ["-f", "%U %S %M", "-o", out, process.execPath, ...args],
    cwd,
    undefined,
    TIME,
  );
  const [user, sys, kb] = readFileSync(out, "utf8")
    .trim()
    .split("\n")
    .pop()!
    .split(" ")
    .map(Number);
  rmSync(out, { force: true });
  return { ms, cpuMs: (user! + sys!) * 1000, rssMb: kb! / 1024 };
}

/**
 * One pack start, run by a small node script that waits for the port, kills the pack and waits
 * for it (so /usr/bin/time counts its CPU). The script's own start (~0.05 s) is included.
 * `bare`: as the Pulumi CLI starts it (the reference of the goals). `goose`: as goose starts it
 * (src/policy/pack-launch.ts: the preload of src/pulumi-startup.mjs — no ts-node for a
 * JavaScript main, lazy Automation API — and goose's compile cache), for comparison.
 */
function packStartScript(how: "bare" | "goose"): string {
  const args = how === "goose" ? ["--import", PULUMI_STARTUP, RUN_POLICY_PACK] : [RUN_POLICY_PACK];
  const env = how === "goose" ? { NODE_COMPILE_CACHE: GOOSE_COMPILE_CACHE } : {};
  return `
  const { spawn } = require("node:child_process");
  const c = spawn(process.execPath, ${JSON.stringify([...args, "127.0.0.1:0", "."])}, { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, ...${JSON.stringify(env)} } });
  let out = "", ready = false;
  c.stdout.on("data", (d) => { out += d; if (!ready && /^\\d+\\n/.test(out)) { ready = true; c.kill("SIGKILL"); } });
  c.on("exit", () => { process.exitCode = ready ? 0 : 1; });
`;
}

/** The compile cache bin/goose.js enables (and hands to the packs it starts). */
const GOOSE_COMPILE_CACHE = join(repoRoot, "node_modules/.cache/goose-compile-cache");

/** A synthetic stage program: n Kubernetes resources (Deployments, Services, ConfigMaps). */
async function syntheticProgram(n: number) {
  const k8s = await import("@pulumi/kubernetes");
  return (cfg: { namespace: string }) => {
    const labels = { "app.kubernetes.io/name": "synthetic", owner: "platform" };
    for (let i = 0; i < n; i++) {
      const name = `synthetic-${i}`;
      const metadata = { name, namespace: cfg.namespace, labels };
      if (i % 3 === 0) {
        new k8s.apps.v1.Deployment(name, {
          metadata,
          spec: {
            replicas: 2,
            selector: { matchLabels: labels },
            template: {
              metadata: { labels },
              spec: {
                securityContext: { runAsNonRoot: true },
                containers: [
                  {
                    name: "app",
                    image: "quay.io/prometheus/prometheus:v3.5.0",
                    resources: {
                      requests: { cpu: "100m", memory: "128Mi" },
                      limits: { cpu: "1", memory: "1Gi" },
                    },
                    securityContext: { allowPrivilegeEscalation: false, privileged: false },
                  },
                ],
              },
            },
          },
        });
      } else if (i % 3 === 1) {
        new k8s.core.v1.Service(name, {
          metadata,
          spec: { selector: labels, ports: [{ port: 8080 }] },
        });
      } else {
        new k8s.core.v1.ConfigMap(name, { metadata, data: { "a.yaml": `x: ${i}\n` } });
      }
    }
    return {};
  };
}

async function inProcessPreview(n: number): Promise<number> {
  const { OfflineEngine } = await import("../../src/engine/offline/engine.js");
  const engine = new OfflineEngine({
    cwd: repoRoot,
    env: process.env,
    program: await syntheticProgram(n),
  });
  const t = performance.now();
  const r = await engine.preview("production");
  const ms = performance.now() - t;
  if (r.summary.resources < n) throw new Error(`synthetic ${n}: ${r.summary.resources} resources`);
  return ms;
}

const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const goal = (ok: boolean) => (ok ? "met" : "NOT met");

async function main() {
  await ensurePolicyPackBuilt(packDir);
  if (process.env.BENCH_ANALYZER_ONLY) {
    console.log(`load average at start: ${loadavg()[0]!.toFixed(1)}`);
    return analyzerBench();
  }
  const goose = join(repoRoot, "bin/goose.js");
  const compiled = existsSync(join(repoRoot, "dist/.built")) && !process.env.GOOSE_RUN_SOURCES;
  console.log(
    `load average at start: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(
        " ",
      )} (2 cores would be quiet below ~1); goose runs ${compiled ? "dist/ (if fresh)" : "the sources through tsx"}`,
  );
  const scaled = scaledWorkspace(10);
  const runs: Record<"pack" | "gpack" | "one" | "all" | "big", Measured[]> = {
    pack: [],
    gpack: [],
    one: [],
    all: [],
    big: [],
  };
  try {
    for (let i = 0; i < RUNS; i++) {
      runs.pack.push(await measure(["-e", packStartScript("bare")], packDir));
      runs.gpack.push(await measure(["-e", packStartScript("goose")], packDir));
      runs.one.push(
        await measure([goose, "preview", "production", "--offline", "--json"], repoRoot),
      );
      runs.all.push(await measure([goose, "preview", "--all", "--offline", "--json"], repoRoot));
      runs.big.push(await measure([goose, "preview", "production", "--offline", "--json"], scaled));
    }
  } finally {
    rmSync(scaled, { recursive: true, force: true });
  }
  const wall = (k: keyof typeof runs) => median(runs[k].map((m) => m.ms));
  const cpu = (k: keyof typeof runs) =>
    runs[k].every((m) => m.cpuMs !== undefined) ? median(runs[k].map((m) => m.cpuMs!)) : undefined;
  const both = (k: keyof typeof runs, ref: keyof typeof runs, goalX?: number) => {
    const w = wall(k) / wall(ref);
    const c = cpu(k) !== undefined && cpu(ref) !== undefined ? cpu(k)! / cpu(ref)! : undefined;
    return (
      `${fmt(wall(k))} = ${w.toFixed(2)}x ${ref === "pack" ? "pack-start" : ref === "gpack" ? "goose-pack-start" : "production"} wall` +
      (goalX ? ` (goal <= ${goalX}x: ${goal(w <= goalX)})` : "") +
      (c !== undefined ? `, CPU ${fmt(cpu(k)!)} = ${c.toFixed(2)}x` : "")
    );
  };
  /** The same case against goose's own way of starting the pack (no goal: for comparison). */
  const vsGoosePack = (k: keyof typeof runs) =>
    `; ${(wall(k) / wall("gpack")).toFixed(2)}x goose-pack-start wall` +
    (cpu(k) !== undefined && cpu("gpack") !== undefined
      ? `, ${(cpu(k)! / cpu("gpack")!).toFixed(2)}x its CPU`
      : "");
  console.log(
    `reference pack-start (run-policy-pack policy-pack, as the Pulumi CLI starts it, until ready): ${fmt(wall("pack"))} wall` +
      (cpu("pack") !== undefined ? `, CPU ${fmt(cpu("pack")!)}` : ""),
  );
  console.log(
    `goose-pack-start (the same pack as goose starts it: preload, no ts-node, compile cache): ${both("gpack", "pack")}`,
  );
  console.log(
    `goose preview production --offline: ${both("one", "pack", 1.3)}${vsGoosePack("one")}`,
  );
  const rss = runs.all.flatMap((m) => (m.rssMb !== undefined ? [m.rssMb] : []));
  console.log(
    `goose preview --all --offline: ${both("all", "pack", 1.6)}${vsGoosePack("all")}` +
      (rss.length
        ? `; peak RSS (largest process) ${Math.max(...rss).toFixed(0)} MB (goal <= 300 MB: ${goal(Math.max(...rss) <= 300)})`
        : "; peak RSS not measured (/usr/bin/time missing: apt-get install -y time)"),
  );
  console.log(
    `growth: production with 10x scrape targets and dashboards: ${both("big", "one")} ` +
      `(${(wall("big") / wall("pack")).toFixed(2)}x pack-start wall)`,
  );
  const small: number[] = [];
  const large: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    small.push(await inProcessPreview(50));
    large.push(await inProcessPreview(500));
  }
  console.log(
    `growth: whole preview (render, pack start, Analyze, AnalyzeStack) of 500 synthetic resources: ` +
      `${fmt(median(large))} = ${(median(large) / median(small)).toFixed(2)}x the same with 50 ` +
      `(${fmt(median(small))}); ${(median(large) / wall("pack")).toFixed(2)}x pack-start`,
  );
  if (process.env.BENCH_PREVIEW_ONLY) return;
  await analyzerBench();
}

/** A pack with no policies in a temp folder; with `speedups`, it installs goose's SDK speed-ups. */
async function emptyPack(speedups: boolean): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "goose-bench-empty-pack-"));
  symlinkSync(join(repoRoot, "node_modules"), join(dir, "node_modules"), "dir");
  writeFileSync(join(dir, "PulumiPolicy.yaml"), "runtime: nodejs\n");
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: "empty", version: "1.0.0", main: "dist/index.js" }),
  );
  writeFileSync(
    join(dir, "index.ts"),
    `import { PolicyPack } from "@pulumi/policy";\n` +
      (speedups
        ? `import { installSdkSpeedups } from ${JSON.stringify(join(packDir, "sdk-speed.ts"))};\ninstallSdkSpeedups();\n`
        : "") +
      `new PolicyPack("empty", { policies: [] });\n`,
  );
  await ensurePolicyPackBuilt(dir);
  return dir;
}

async function analyzerBench() {
  const empty = await emptyPack(false);
  const emptyFast = await emptyPack(true);
  try {
    // Interleaved runs, so all packs see the same load; medians and the spread of the ratios.
    await analyzerPairs(empty, emptyFast, synthetic(N), "policy-pack (production config)", true);
    await analyzerPairs(
      empty,
      undefined,
      await renderedWorkload(N),
      "rendered production stage x75 (reported, no goal)",
      false,
    );
  } finally {
    rmSync(empty, { recursive: true, force: true });
    rmSync(emptyFast, { recursive: true, force: true });
  }
}

async function analyzerPairs(
  empty: string,
  emptyFast: string | undefined,
  rs: AnalyzerResourceInput[],
  label: string,
  goals: boolean,
): Promise<void> {
  {
    const floors: AnalyzerRun[] = [];
    const reals: AnalyzerRun[] = [];
    const fastFloors: AnalyzerRun[] = [];
    for (let i = 0; i < RUNS; i++) {
      floors.push(await analyzerThroughput(empty, undefined, rs));
      reals.push(await analyzerThroughput(packDir, join(packDir, "config", "production.json"), rs));
      if (emptyFast) fastFloors.push(await analyzerThroughput(emptyFast, undefined, rs));
    }
    const med = (runs: AnalyzerRun[], k: keyof AnalyzerRun) => {
      const xs = runs.map((r) => r[k]);
      return xs.every((x) => x !== undefined) ? median(xs as number[]) : undefined;
    };
    const spread = (f: (floor: AnalyzerRun, real: AnalyzerRun) => number) => {
      const xs = floors.map((fl, i) => f(fl, reals[i]!)).sort((a, b) => a - b);
      return `${xs[0]!.toFixed(2)}–${xs[xs.length - 1]!.toFixed(2)}x`;
    };
    const cpuRatio = (k: "analyzeCpuMs" | "stackCpuMs") => {
      const r = med(reals, k);
      const f = med(floors, k);
      return r !== undefined && f !== undefined
        ? `; pack CPU ${(r / 1000).toFixed(2)} s = ${(r / f).toFixed(2)}x empty-pack's ${(f / 1000).toFixed(2)} s`
        : "";
    };
    const floorRate = med(floors, "perSecond")!;
    const floorStack = med(floors, "stackMs")!;
    const realRate = med(reals, "perSecond")!;
    const realStack = med(reals, "stackMs")!;
    console.log(
      `reference empty-pack (${goals ? "synthetic stack" : "rendered stage"}): Analyze ${floorRate.toFixed(0)} resources/s over ${rs.length}, AnalyzeStack ${floorStack.toFixed(0)} ms (medians of ${RUNS})`,
    );
    const rate = realRate / floorRate;
    const stack = realStack / floorStack;
    console.log(
      `${label}: Analyze ${realRate.toFixed(0)} resources/s over ${rs.length} = ` +
        `${rate.toFixed(2)}x empty-pack (${goals ? `goal >= 0.9x: ${goal(rate >= 0.9)}; ` : ""}pairs ${spread((f, r) => r.perSecond / f.perSecond)})` +
        cpuRatio("analyzeCpuMs"),
    );
    console.log(
      `${label}: AnalyzeStack of ${rs.length}: ${realStack.toFixed(0)} ms = ` +
        `${stack.toFixed(2)}x empty-pack (${goals ? `goal <= 1.2x: ${goal(stack <= 1.2)}; ` : ""}pairs ${spread((f, r) => r.stackMs / f.stackMs)})` +
        cpuRatio("stackCpuMs"),
    );
    if (fastFloors.length > 0) {
      const fastRate = med(fastFloors, "perSecond")!;
      const fastStack = med(fastFloors, "stackMs")!;
      const cpuAgainst = (k: "analyzeCpuMs" | "stackCpuMs", what: string) => {
        const r = med(reals, k);
        const f = med(fastFloors, k);
        return r !== undefined && f !== undefined
          ? `; ${what} pack CPU ${(r / 1000).toFixed(2)} s = ${(r / f).toFixed(2)}x its ${(f / 1000).toFixed(2)} s`
          : "";
      };
      const pairs = (f: (fast: AnalyzerRun, real: AnalyzerRun) => number) => {
        const xs = fastFloors.map((fl, i) => f(fl, reals[i]!)).sort((a, b) => a - b);
        return `${xs[0]!.toFixed(2)}–${xs[xs.length - 1]!.toFixed(2)}x`;
      };
      console.log(
        `reference empty-pack+decoding (an empty pack with goose's SDK speed-ups, reported): ` +
          `Analyze ${fastRate.toFixed(0)} resources/s = ${(fastRate / floorRate).toFixed(2)}x empty-pack, ` +
          `AnalyzeStack ${fastStack.toFixed(0)} ms = ${(fastStack / floorStack).toFixed(2)}x empty-pack`,
      );
      console.log(
        `${label} against empty-pack+decoding (the policies' own cost, no goal): ` +
          `Analyze ${(realRate / fastRate).toFixed(2)}x (pairs ${pairs((f, r) => r.perSecond / f.perSecond)}), ` +
          `AnalyzeStack ${(realStack / fastStack).toFixed(2)}x (pairs ${pairs((f, r) => r.stackMs / f.stackMs)})` +
          cpuAgainst("analyzeCpuMs", "Analyze") +
          cpuAgainst("stackCpuMs", "AnalyzeStack"),
      );
    }
  }
}

await main();

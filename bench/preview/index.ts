/**
 * `npm run bench preview`
 *
 * 1. `goose preview --all --offline` wall time (goal < 5 s), as a ratio to the reference run
 *    "pack-start": one start of the policy pack the way the CLI starts it (run-policy-pack, time
 *    until it prints its port) — the floor of any preview.
 * 2. The Analyzer on a synthetic 5,000-resource stack (goal >= 1,000 resources/s) through the
 *    real pack, as a ratio to the reference run "empty-pack": the same 5,000 Analyze calls to a pack
 *    with no policies (the gRPC floor).
 * Medians of RUNS runs each (env BENCH_RUNS, default 3).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  PolicyPackProcess,
  RUN_POLICY_PACK,
  emptyOptions,
  type AnalyzerResourceInput,
} from "../../src/policy/analyzer.js";
import { ensurePolicyPackBuilt } from "../../src/policy/pack-build.js";
import {
  readPolicyPackConfigFile,
  resolvePolicyPackConfig,
} from "../../src/policy/policy-config.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const packDir = join(repoRoot, "policy-pack");
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const N = 5000;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function timeProcess(args: string[], cwd: string, untilStdout?: RegExp): Promise<number> {
  return new Promise((res, rej) => {
    const t = performance.now();
    const child = spawn(process.execPath, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
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

function synthetic(n: number): AnalyzerResourceInput[] {
  const out: AnalyzerResourceInput[] = [];
  for (let i = 0; i < n; i++) {
    const kind = i % 4;
    const name = `r${i}`;
    const container = {
      name: "app",
      image: `quay.io/prometheus/prometheus:v3.5.${i % 10}`,
      resources: {
        requests: { cpu: "100m", memory: "128Mi" },
        limits: { cpu: "1", memory: "1Gi" },
      },
      securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, privileged: false },
      readinessProbe: { httpGet: { path: "/-/ready", port: 9090 } },
      livenessProbe: { httpGet: { path: "/-/healthy", port: 9090 } },
      env: [{ name: "LOG_LEVEL", value: "info" }],
    };
    const labels = { "app.kubernetes.io/name": name, owner: "platform", stage: "production" };
    let type: string;
    let properties: Record<string, unknown>;
    if (kind === 0 || kind === 1) {
      type = kind === 0 ? "kubernetes:apps/v1:Deployment" : "kubernetes:apps/v1:StatefulSet";
      properties = {
        apiVersion: "apps/v1",
        kind: kind === 0 ? "Deployment" : "StatefulSet",
        metadata: { name, namespace: "goose-production", labels },
        spec: {
          replicas: 2,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { securityContext: { runAsNonRoot: true }, containers: [container] },
          },
        },
      };
    } else if (kind === 2) {
      type = "kubernetes:core/v1:ConfigMap";
      properties = {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name, labels },
        data: { "a.yaml": "x: 1\n" },
      };
    } else {
      type = "aws:s3/bucket:Bucket";
      properties = { bucket: name, forceDestroy: false, tags: { owner: "platform" } };
    }
    out.push({
      urn: `urn:pulumi:production::golden-goose::${type}::${name}`,
      type,
      name,
      properties,
      options: emptyOptions(),
      dependencies: [],
      propertyDependencies: {},
    });
  }
  return out;
}

async function analyzerThroughput(
  dir: string,
  configFile?: string,
): Promise<{ perSecond: number; stackMs: number }> {
  const pack = await PolicyPackProcess.start(dir, {
    rpcTimeoutMs: 120_000,
    startTimeoutMs: 120_000,
  });
  try {
    const info = await pack.getAnalyzerInfo();
    await pack.configure(
      resolvePolicyPackConfig(info, configFile ? readPolicyPackConfigFile(configFile) : undefined),
    );
    const rs = synthetic(N);
    await pack.analyzeAll(rs.slice(0, 500)); // warm-up (JIT, connection), not timed
    const t = performance.now();
    await pack.analyzeAll(rs);
    const ms = performance.now() - t;
    const t2 = performance.now();
    await pack.analyzeStack(rs);
    return { perSecond: (N * 1000) / ms, stackMs: performance.now() - t2 };
  } finally {
    await pack.close();
  }
}

async function main() {
  await ensurePolicyPackBuilt(packDir);
  const empty = mkdtempSync(join(tmpdir(), "goose-bench-empty-pack-"));
  symlinkSync(join(repoRoot, "node_modules"), join(empty, "node_modules"), "dir");
  writeFileSync(join(empty, "PulumiPolicy.yaml"), "runtime: nodejs\n");
  writeFileSync(
    join(empty, "package.json"),
    JSON.stringify({ name: "empty", version: "1.0.0", main: "dist/index.js" }),
  );
  writeFileSync(
    join(empty, "index.ts"),
    `import { PolicyPack } from "@pulumi/policy";\nnew PolicyPack("empty", { policies: [] });\n`,
  );
  await ensurePolicyPackBuilt(empty);
  try {
    const packStart: number[] = [];
    const all: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      packStart.push(await timeProcess([RUN_POLICY_PACK, "127.0.0.1:0", "."], packDir, /^\d+\n/));
      all.push(
        await timeProcess(
          [join(repoRoot, "bin/goose.js"), "preview", "--all", "--offline", "--json"],
          repoRoot,
        ),
      );
    }
    const ref = median(packStart);
    const wall = median(all);
    console.log(
      `reference pack-start (run-policy-pack policy-pack, until ready): ${(ref / 1000).toFixed(2)} s`,
    );
    console.log(
      `goose preview --all --offline: ${(wall / 1000).toFixed(2)} s = ${(wall / ref).toFixed(2)}x pack-start ` +
        `(goal < 5 s: ${wall < 5000 ? "met" : "NOT met"})`,
    );

    const floor = await analyzerThroughput(empty);
    const real = await analyzerThroughput(packDir, join(packDir, "config", "production.json"));
    console.log(
      `reference empty-pack: Analyze ${floor.perSecond.toFixed(0)} resources/s over ${N}`,
    );
    console.log(
      `policy-pack (production config): Analyze ${real.perSecond.toFixed(0)} resources/s over ${N} = ` +
        `${(real.perSecond / floor.perSecond).toFixed(2)}x empty-pack (goal >= 1000/s: ` +
        `${real.perSecond >= 1000 ? "met" : "NOT met"}); AnalyzeStack of ${N}: ${real.stackMs.toFixed(0)} ms ` +
        `(${(real.stackMs / floor.stackMs).toFixed(2)}x empty-pack)`,
    );
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
}

await main();

/**
 * bench/policy-pack: what the golden-goose pack costs over the Analyzer protocol, against the
 * floor set by the policy SDK itself.
 *
 * Reference run (same command): a no-op pack with the same number of resource and stack
 * policies (every policy reads one field and reports nothing). The SDK deserializes a resource's
 * properties once per policy, so that floor grows with the policy count whatever the policies do.
 * Both packs are started as the CLI starts them and sent the same synthetic stack (default 5,000
 * resources shaped like the stage's: Deployments, StatefulSets, CronJobs, ConfigMaps, buckets
 * with their companions): `Analyze` for every resource (32 in flight, as the offline engine
 * does), then `AnalyzeStack` once. Median of RUNS runs; figures as ratios to the reference.
 *
 *   npm run bench policy-pack            (BENCH_RESOURCES=5000 BENCH_RUNS=3)
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  packEnv,
  PolicyPackProcess,
  type AnalyzerResourceInput,
} from "../../src/policy/analyzer.js";
import { ensurePolicyPackBuilt } from "../../src/policy/pack-build.js";
import { resolvePolicyPackConfig } from "../../src/policy/policy-config.js";
import { readPolicyPackConfigFile } from "../../src/policy/policy-config.js";
import { policies } from "../../policy-pack/policies/index.js";
import {
  backupCronJob,
  bucketStack,
  grafanaDeployment,
  labels,
  prometheusStatefulSet,
} from "../../tests/policy-pack/fixtures.js";
import { resourceInput } from "../preview/synthetic.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const packDir = join(repoRoot, "policy-pack");
const N = Number(process.env.BENCH_RESOURCES ?? 5000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

/** The synthetic stack: five shapes in turn, each bucket followed by its six companions. */
function syntheticStack(n: number): AnalyzerResourceInput[] {
  const out: AnalyzerResourceInput[] = [];
  const add = (type: string, name: string, properties: Record<string, unknown>) =>
    out.push(resourceInput(type, name, properties));
  for (let i = 0; out.length < n; i++) {
    switch (i % 5) {
      case 0:
        add("kubernetes:apps/v1:Deployment", `grafana-${i}`, grafanaDeployment());
        break;
      case 1:
        add("kubernetes:apps/v1:StatefulSet", `prometheus-${i}`, prometheusStatefulSet());
        break;
      case 2:
        add("kubernetes:batch/v1:CronJob", `backup-${i}`, backupCronJob());
        break;
      case 3:
        add("kubernetes:core/v1:ConfigMap", `config-${i}`, {
          metadata: { labels: labels("config") },
          data: { "a.yaml": "x: 1\n" },
        });
        break;
      default:
        for (const r of bucketStack()) {
          if (!String(r.type).startsWith("aws:")) continue;
          const bucket = { ...r.props, bucket: `bucket-${i}` };
          add(String(r.type), `${r.name}-${i}`, bucket);
        }
    }
  }
  return out.slice(0, n);
}

/** A pack with the same policy names and kinds whose policies do nothing. */
function noopPack(): string {
  const dir = mkdtempSync(join(tmpdir(), "goose-noop-pack-"));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "PulumiPolicy.yaml"), "runtime: nodejs\n");
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: "noop", version: "1.0.0", main: "index.js", type: "commonjs" }),
  );
  const specs = policies.map((p) => ({ name: p.name, stack: "validateStack" in p }));
  writeFileSync(
    join(dir, "index.js"),
    `const { PolicyPack } = require("@pulumi/policy");
const specs = ${JSON.stringify(specs)};
new PolicyPack("noop", { policies: specs.map((s) => s.stack
  ? { name: s.name, description: "no-op stack policy", validateStack: (a) => { void a.resources.length; } }
  : { name: s.name, description: "no-op resource policy", validateResource: (a) => { void a.props.metadata; } }) });
`,
  );
  return dir;
}

interface Figures {
  startMs: number;
  analyzePerSec: number;
  stackMs: number;
  totalPerSec: number;
}

async function measure(
  dir: string,
  config: Record<string, unknown> | undefined,
  stack: AnalyzerResourceInput[],
): Promise<Figures> {
  const env = packEnv(
    { ...process.env, NODE_PATH: join(repoRoot, "node_modules") },
    { project: "golden-goose", stack: "production", dryRun: true, config: {}, secretKeys: [] },
  );
  const t0 = performance.now();
  const pack = await PolicyPackProcess.start(dir, { env, rpcTimeoutMs: 600_000 });
  const t1 = performance.now();
  try {
    await pack.configure(resolvePolicyPackConfig(await pack.getAnalyzerInfo(), config));
    const t2 = performance.now();
    await pack.analyzeAll(stack, 32);
    const t3 = performance.now();
    await pack.analyzeStack(stack);
    const t4 = performance.now();
    return {
      startMs: t1 - t0,
      analyzePerSec: stack.length / ((t3 - t2) / 1000),
      stackMs: t4 - t3,
      totalPerSec: stack.length / ((t4 - t2) / 1000),
    };
  } finally {
    await pack.close();
  }
}

function median(xs: Figures[]): Figures {
  const pick = (k: keyof Figures) => {
    const v = xs.map((x) => x[k]).sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)] ?? 0;
  };
  return {
    startMs: pick("startMs"),
    analyzePerSec: pick("analyzePerSec"),
    stackMs: pick("stackMs"),
    totalPerSec: pick("totalPerSec"),
  };
}

await ensurePolicyPackBuilt(packDir);
const stack = syntheticStack(N);
const noop = noopPack();
const config = readPolicyPackConfigFile(join(packDir, "config", "production.json"));
const ours: Figures[] = [];
const ref: Figures[] = [];
try {
  for (let i = 0; i < RUNS; i++) {
    ref.push(await measure(noop, undefined, stack));
    ours.push(await measure(packDir, config, stack));
  }
} finally {
  rmSync(noop, { recursive: true, force: true });
}
const o = median(ours);
const r = median(ref);
const resourcePolicies = policies.filter((p) => !("validateStack" in p)).length;
console.log(
  `${stack.length} resources, ${resourcePolicies} resource + ${policies.length - resourcePolicies} stack policies, median of ${RUNS}`,
);
console.log("run                          start ms  Analyze res/s  AnalyzeStack ms  overall res/s");
const row = (name: string, f: Figures) =>
  console.log(
    `${name.padEnd(28)}${f.startMs.toFixed(0).padStart(9)}${f.analyzePerSec.toFixed(0).padStart(15)}${f.stackMs.toFixed(0).padStart(17)}${f.totalPerSec.toFixed(0).padStart(15)}`,
  );
row("no-op pack (reference)", r);
row("golden-goose pack", o);
console.log(
  `ratio golden-goose / reference: start ${(o.startMs / r.startMs).toFixed(2)}x, Analyze throughput ` +
    `${(o.analyzePerSec / r.analyzePerSec).toFixed(2)}x, AnalyzeStack time ${(o.stackMs / r.stackMs).toFixed(2)}x, ` +
    `overall throughput ${(o.totalPerSec / r.totalPerSec).toFixed(2)}x`,
);

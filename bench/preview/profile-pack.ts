/**
 * A CPU profile of the policy pack under the analyzer bench's workload (bench/preview, part 3):
 *
 *     node --import tsx bench/preview/profile-pack.ts [analyze|stack|both] [out-dir] [pack-dir]
 *
 * With BENCH_WORKLOAD=rendered, the workload is part 3's second one (the rendered production stage
 * repeated to 5,000 resources) instead of the synthetic stack.
 *
 * Starts policy-pack/ (or pack-dir: e.g. an empty pack, to compare) as goose starts it (src/policy/pack-launch.ts) with `--cpu-prof`, configures
 * it with the production config, sends 500 warm-up and 5,000 timed Analyze calls of the synthetic
 * stack and/or one AnalyzeStack, then exits without killing the pack: the pack sees its stdin pipe
 * end (GOOSE_PACK_EXIT_WITH_PARENT), exits normally and writes `CPU.*.cpuprofile` into out-dir
 * (default: a new temp folder, printed). Open it in Chrome DevTools or speedscope. The warm-up is
 * in the profile too. (bench/preview itself SIGKILLs its packs, so `--cpu-prof` writes nothing
 * there.)
 */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { PolicyPackProcess } from "../../src/policy/analyzer.js";
import { ensurePolicyPackBuilt } from "../../src/policy/pack-build.js";
import {
  readPolicyPackConfigFile,
  resolvePolicyPackConfig,
} from "../../src/policy/policy-config.js";
import { renderedWorkload, synthetic } from "./synthetic.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const packDir = resolve(process.argv[4] ?? join(repoRoot, "policy-pack"));
const what = process.argv[2] ?? "both";
if (!["analyze", "stack", "both"].includes(what)) {
  console.error(
    `usage: node --import tsx bench/preview/profile-pack.ts [analyze|stack|both] [out-dir] [pack-dir]`,
  );
  process.exitCode = 2;
} else {
  const out = resolve(process.argv[3] ?? mkdtempSync(join(tmpdir(), "goose-pack-profile-")));
  await ensurePolicyPackBuilt(packDir);
  const pack = await PolicyPackProcess.start(packDir, {
    rpcTimeoutMs: 120_000,
    startTimeoutMs: 120_000,
    env: { ...process.env, NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${out}` },
  });
  const info = await pack.getAnalyzerInfo();
  const config = join(packDir, "config/production.json");
  await pack.configure(
    resolvePolicyPackConfig(
      info,
      existsSync(config) ? readPolicyPackConfigFile(config) : undefined,
    ),
  );
  const rs =
    process.env.BENCH_WORKLOAD === "rendered" ? await renderedWorkload(5000) : synthetic(5000);
  if (what !== "stack") {
    await pack.analyzeAll(rs.slice(0, 500));
    const t = performance.now();
    const cpu = process.cpuUsage();
    await pack.analyzeAll(rs);
    const client = process.cpuUsage(cpu);
    console.log(`client CPU: ${((client.user + client.system) / 1000).toFixed(0)} ms`);
    console.log(`Analyze: ${((5000 * 1000) / (performance.now() - t)).toFixed(0)} resources/s`);
  }
  if (what !== "analyze") {
    const t = performance.now();
    await pack.analyzeStack(rs);
    console.log(`AnalyzeStack: ${(performance.now() - t).toFixed(0)} ms`);
  }
  console.log(`the pack writes its profile into ${out} as it exits`);
  // Not pack.close(): its SIGKILL would lose the profile. Ending this process ends the pack's
  // stdin pipe, and the pack exits by itself.
  process.exit(0);
}

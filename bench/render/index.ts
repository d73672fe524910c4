/**
 * bench/render: time to render each stage's program under mocks (config load, monitoring
 * files, every resource registered), and a synthetic production stage with 10× the scrape
 * targets. Each case runs in a fresh process, 5 times; the median is reported. Reference: the
 * production render in the same run.
 */
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const RUNS = 5;

function run(args: string[]): { resources: number; targets: number; ms: number } {
  const times: number[] = [];
  let last = { resources: 0, targets: 0, ms: 0 };
  for (let i = 0; i < RUNS; i++) {
    const r = spawnSync(process.execPath, ["--import", "tsx", join(here, "render-one.ts"), ...args], {
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`render ${args.join(" ")} failed:\n${r.stderr}`);
    last = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}");
    times.push(last.ms);
  }
  times.sort((a, b) => a - b);
  return { ...last, ms: times[Math.floor(RUNS / 2)] ?? 0 };
}

const production = run(["production"]);
// 6 scrape targets in production (5 platform jobs + 1 service); 10× = 60, so 55 service targets.
const cases: [string, ReturnType<typeof run>][] = [
  ["sandbox", run(["sandbox"])],
  ["compliance", run(["compliance"])],
  ["production (reference)", production],
  ["production, 10x scrape targets", run(["production", "55"])],
];
console.log("case                              resources  targets   median ms   vs reference");
for (const [name, r] of cases) {
  console.log(
    `${name.padEnd(34)}${String(r.resources).padStart(9)}${String(r.targets).padStart(9)}${r.ms.toFixed(1).padStart(12)}${(r.ms / production.ms).toFixed(2).padStart(14)}x`,
  );
}

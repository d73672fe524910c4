/**
 * bench/render: time to render each stage's program under mocks (config load, monitoring
 * files, every resource registered), and a synthetic production stage with 10× the scrape
 * targets. Each case runs in a fresh process, 5 times; the median is reported. Reference: the
 * production render in the same run. Module loading (@pulumi/* packages) is reported apart.
 */
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const RUNS = 5;

interface Result {
  resources: number;
  targets: number;
  ms: number;
  importMs: number;
}

function run(args: string[]): Result {
  const times: number[] = [];
  const imports: number[] = [];
  let last: Result = { resources: 0, targets: 0, ms: 0, importMs: 0 };
  for (let i = 0; i < RUNS; i++) {
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", join(here, "render-one.ts"), ...args],
      {
        encoding: "utf8",
      },
    );
    if (r.status !== 0) throw new Error(`render ${args.join(" ")} failed:\n${r.stderr}`);
    last = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}");
    times.push(last.ms);
    imports.push(last.importMs);
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  return { ...last, ms: median(times), importMs: median(imports) };
}

const production = run(["production"]);
// 6 scrape targets in production (5 platform jobs + 1 service); 10× = 60, so 55 service targets.
const cases: [string, Result][] = [
  ["sandbox", run(["sandbox"])],
  ["compliance", run(["compliance"])],
  ["production (reference)", production],
  ["production, 10x scrape targets", run(["production", "55"])],
];
console.log(
  "case                              resources  targets  render ms  vs reference  (module load ms)",
);
for (const [name, r] of cases) {
  console.log(
    `${name.padEnd(34)}${String(r.resources).padStart(9)}${String(r.targets).padStart(9)}${r.ms.toFixed(1).padStart(11)}${(r.ms / production.ms).toFixed(2).padStart(13)}x${r.importMs.toFixed(0).padStart(18)}`,
  );
}

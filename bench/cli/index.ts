/**
 * `npm run bench cli` (issue 18): how long goose takes to print its help. Goal: `goose --help`,
 * `goose --version` and every command's `--help` (each command and subcommand `goose --help`
 * lists) <= 0.25 s. Whole processes (`node bin/goose.js …`: dist/ when built and fresh, else tsx),
 * interleaved with the reference "node-start" (`node -e 0`, the floor of any Node CLI) and printed
 * as a ratio to it, with CPU (user + system) read from the child's rusage. Medians of RUNS runs
 * (env BENCH_RUNS, default 5).
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const goose = join(repoRoot, "bin/goose.js");
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const GOAL_S = 0.25;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** One whole process: wall and CPU seconds (rusage of the child, which has exited). */
function once(args: string[]): { wall: number; cpu: number; stdout: string } {
  const childBefore = childCpu();
  const t = performance.now();
  const r = spawnSync(process.execPath, args, { cwd: repoRoot, encoding: "utf8" });
  const wall = (performance.now() - t) / 1000;
  if (r.status !== 0) {
    throw new Error(`node ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  }
  return { wall, cpu: childCpu() - childBefore, stdout: r.stdout };
}

/** CPU seconds of this process's reaped children so far (/proc/self/stat cutime + cstime). */
function childCpu(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After the command name: field 3 is state, so cutime is index 13 and cstime 14 (fields 16, 17).
  const ticks = Number(fields[13]) + Number(fields[14]);
  return ticks / 100; // USER_HZ is 100 on Linux
}

/** The commands a help text lists under "Commands:" (first word of each entry, not `help`). */
function commandsOf(help: string): string[] {
  const at = help.indexOf("\nCommands:\n");
  if (at < 0) return [];
  const out: string[] = [];
  for (const line of help.slice(at + "\nCommands:\n".length).split("\n")) {
    if (line.trim() === "") break;
    const m = /^ {2}([a-z][\w-]*)/.exec(line);
    if (m && m[1] !== "help") out.push(m[1]!);
  }
  return out;
}

// Every help there is: goose's, and each command's and subcommand's.
const top = once([goose, "--help"]).stdout;
const cases: string[][] = [["--help"], ["--version"]];
for (const c of commandsOf(top)) {
  cases.push([c, "--help"]);
  for (const sub of commandsOf(once([goose, c, "--help"]).stdout)) cases.push([c, sub, "--help"]);
}

const [l1, l5] = loadavg();
console.log(
  `load average at start: ${l1!.toFixed(1)} ${l5!.toFixed(1)} (2 cores would be quiet below ~1); goose runs dist/ (if fresh); ${cases.length} help texts, ${RUNS} runs each`,
);
const ref = { wall: [] as number[], cpu: [] as number[] };
const results = cases.map(() => ({ wall: [] as number[], cpu: [] as number[] }));
for (let run = 0; run < RUNS; run++) {
  for (const [i, args] of cases.entries()) {
    const n = once(["-e", "0"]);
    ref.wall.push(n.wall);
    ref.cpu.push(n.cpu);
    const g = once([goose, ...args]);
    results[i]!.wall.push(g.wall);
    results[i]!.cpu.push(g.cpu);
  }
}
const refWall = median(ref.wall);
console.log(
  `reference node-start (node -e 0): ${refWall.toFixed(3)} s wall, CPU ${median(ref.cpu).toFixed(2)} s (median of ${ref.wall.length})`,
);
let worst = { wall: 0, args: [] as string[] };
for (const [i, args] of cases.entries()) {
  const wall = median(results[i]!.wall);
  if (wall > worst.wall) worst = { wall, args };
  console.log(
    `  goose ${args.join(" ")}: ${wall.toFixed(3)} s = ${(wall / refWall).toFixed(2)}x node-start, CPU ${median(results[i]!.cpu).toFixed(2)} s`,
  );
}
console.log(
  `slowest: goose ${worst.args.join(" ")} ${worst.wall.toFixed(3)} s = ${(worst.wall / refWall).toFixed(2)}x node-start (goal <= ${GOAL_S} s for every help: ${worst.wall <= GOAL_S ? "met" : "NOT met"})`,
);

/**
 * bench/plan: the plan of a 5,000-resource stack against a 5,000-resource baseline with 10% of the
 * resources changed (updates, replacements, and as many creates as deletes), as a ratio to reading
 * and parsing the two exports alone (the reference, measured in the same run). Goal: ≤ 1.5×.
 *
 * The exports are real: the compliance stage as the offline engine writes it (54 resources,
 * secrets included), repeated under new names to 5,000 resources, written pretty-printed as the
 * state files are. Runs alternate reference and plan, 9 times each after a warm-up; medians.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { OfflineEngine } from "../../src/engine/offline/engine.js";
import { planExports } from "../../src/plan/index.js";
import type { ExportResource, StackExport } from "../../src/pulumi-export/index.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const N = 5000;
const RUNS = 9;

const dir = mkdtempSync(join(tmpdir(), "goose-bench-plan-"));
const engine = new OfflineEngine({ cwd: ROOT, env: process.env, stateDir: dir });
await engine.up("compliance");
const stage = JSON.parse(readFileSync(engine.statePath("compliance"), "utf8")) as StackExport;
const template = stage.deployment.resources!.filter((r) => r.custom);

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const renamed = (r: ExportResource, i: number): ExportResource => {
  const c = clone(r);
  c.urn = `${r.urn}-${i}`;
  if (c.id) c.id = `${c.id}-${i}`;
  return c;
};

const base: ExportResource[] = [];
for (let i = 0; base.length < N; i++) base.push(renamed(template[i % template.length]!, i));
const next = base.map((r) => clone(r));
// 10% edited: 200 leaf changes, 100 renames (a replacement where the type's table has the name
// field), 100 deletes and 100 creates (still 5,000). The plan's own summary is printed.
const counts = { leaf: 0, rename: 0, delete: 0, create: 0 };
const step = Math.floor(N / 500);
const deleted = new Set<number>();
for (let k = 0; k < 500; k++) {
  const i = k * step + (k % step);
  const r = next[i]!;
  const kind = k % 5;
  if (kind <= 1) {
    r.inputs = { ...r.inputs, benchLabel: `changed-${k}` };
    counts.leaf++;
  } else if (kind === 2) {
    const md = (r.inputs?.metadata as Record<string, unknown> | undefined) ?? {};
    r.inputs = { ...r.inputs, metadata: { ...md, name: `renamed-${k}` } };
    if (!r.type.startsWith("kubernetes:")) r.inputs = { ...r.inputs, name: `renamed-${k}` };
    counts.rename++;
  } else if (kind === 3) {
    deleted.add(i);
    counts.delete++;
  } else {
    counts.create++;
  }
}
const nextResources = next.filter((_, i) => !deleted.has(i));
for (let k = 0; k < counts.create; k++)
  nextResources.push(renamed(template[k % template.length]!, N + k));

const write = (name: string, resources: ExportResource[]) => {
  const f = join(dir, name);
  writeFileSync(
    f,
    JSON.stringify({ ...stage, deployment: { ...stage.deployment, resources } }, null, 4),
  );
  return f;
};
const baseFile = write("baseline.json", base);
const nextFile = write("next.json", nextResources);

function reference(): number {
  const t = process.hrtime.bigint();
  JSON.parse(readFileSync(baseFile, "utf8"));
  JSON.parse(readFileSync(nextFile, "utf8"));
  return Number(process.hrtime.bigint() - t) / 1e6;
}

let lastSummary = "";
function withPlan(): number {
  const t = process.hrtime.bigint();
  const a = JSON.parse(readFileSync(baseFile, "utf8")) as StackExport;
  const b = JSON.parse(readFileSync(nextFile, "utf8")) as StackExport;
  const p = planExports(a, b, { stage: "compliance", against: { kind: "file", ref: baseFile } });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  lastSummary = JSON.stringify(p.summary);
  return ms;
}

reference();
withPlan();
const refs: number[] = [];
const plans: number[] = [];
for (let i = 0; i < RUNS; i++) {
  refs.push(reference());
  plans.push(withPlan());
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const mb = (f: string) => (readFileSync(f).length / 1e6).toFixed(1);
const r = median(refs);
const p = median(plans);
console.log(
  `exports: ${base.length} vs ${nextResources.length} resources (${mb(baseFile)} MB, ${mb(nextFile)} MB); edits: ${JSON.stringify(counts)}`,
);
console.log(`plan summary: ${lastSummary}`);
console.log("case                                   median ms   vs reference");
console.log(
  `${"read + parse both exports (reference)".padEnd(39)}${r.toFixed(1).padStart(9)}${"1.00".padStart(14)}x`,
);
console.log(
  `${"read + parse + plan".padEnd(39)}${p.toFixed(1).padStart(9)}${(p / r).toFixed(2).padStart(14)}x  (goal <= 1.5x)`,
);
rmSync(dir, { recursive: true, force: true });

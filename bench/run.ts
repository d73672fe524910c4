/**
 * `npm run bench [name…]`: runs every benchmark under bench/<name>/index.ts (or the named
 * ones) one after another, each in its own process, and prints their reports.
 */
import { readdirSync, existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const all = readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(here, d.name, "index.ts")))
  .map((d) => d.name)
  .sort();
const unknown = wanted.filter((w) => !all.includes(w));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(", ")}; available: ${all.join(", ")}`);
  process.exit(2);
}
let failed = 0;
for (const name of wanted.length > 0 ? wanted : all) {
  console.log(`\n== bench/${name}`);
  const r = spawnSync(process.execPath, ["--import", "tsx", join(here, name, "index.ts")], {
    stdio: "inherit",
  });
  if (r.status !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);

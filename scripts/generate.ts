/**
 * npm run generate            regenerate monitoring/ (rules, thresholds, promtool tests, dashboards)
 * npm run generate -- --check regenerate in memory; exit 1 listing the files that differ
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { diffGenerated, generateMonitoring } from "../src/monitoring/generate.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const unknown = args.filter((a) => a !== "--check");
if (unknown.length > 0) {
  process.stderr.write(
    `generate: unknown argument(s) ${unknown.join(" ")}; usage: generate [--check]\n`,
  );
  process.exitCode = 2;
} else {
  let generated: Map<string, string> | undefined;
  try {
    generated = generateMonitoring(repoRoot);
  } catch (err) {
    process.stderr.write(`generate: ${(err as Error).message}\n`);
    process.exitCode = 2;
  }
  if (generated) {
    const diff = diffGenerated(repoRoot, generated);
    if (args.includes("--check")) {
      const lines = [
        ...diff.changed.map((f) => `  changed: ${f}`),
        ...diff.missing.map((f) => `  missing: ${f}`),
        ...diff.extra.map((f) => `  not generated (remove it): ${f}`),
      ];
      if (lines.length > 0) {
        process.stderr.write(
          `generate --check: ${lines.length} file(s) differ from what the generator makes:\n` +
            `${lines.join("\n")}\nRun \`npm run generate\` and commit the result.\n`,
        );
        process.exitCode = 1;
      } else {
        process.stderr.write(`generate --check: ${generated.size} files up to date\n`);
      }
    } else {
      for (const [rel, content] of generated) {
        const file = path.join(repoRoot, rel);
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, content);
      }
      for (const rel of diff.extra) rmSync(path.join(repoRoot, rel));
      process.stderr.write(
        `generate: wrote ${generated.size} files` +
          (diff.extra.length ? `, removed ${diff.extra.join(", ")}` : "") +
          "\n",
      );
    }
  }
}

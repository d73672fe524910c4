/**
 * npm run generate            regenerate monitoring/ (rules, thresholds, promtool tests, dashboards)
 *                             and docs/policies.md (from the policy pack and its stage configs)
 * npm run generate -- --check regenerate in memory; exit 1 listing the files that differ
 * --root DIR                  work on another checkout (tests use a temp copy)
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { diffGenerated, generateMonitoring } from "../src/monitoring/generate.js";
import { generatePolicyDoc, POLICY_DOC_PATH } from "./policy-doc.js";

const args = process.argv.slice(2);
let repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const unknown: string[] = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  if (a === "--root" && args[i + 1]) repoRoot = path.resolve(args[++i]!);
  else if (a !== "--check") unknown.push(a);
}
if (unknown.length > 0) {
  process.stderr.write(
    `generate: unknown argument(s) ${unknown.join(" ")}; usage: generate [--check] [--root DIR]\n`,
  );
  process.exitCode = 2;
} else {
  let generated: Map<string, string> | undefined;
  try {
    const files = generateMonitoring(repoRoot);
    // docs/policies.md, when the checkout has the pack (tests run the generator on a copy of monitoring/ alone).
    if (existsSync(path.join(repoRoot, "policy-pack/policies/index.ts"))) {
      files.set(POLICY_DOC_PATH, await generatePolicyDoc(repoRoot));
    }
    generated = files;
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

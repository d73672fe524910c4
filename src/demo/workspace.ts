/**
 * The demo's workspace and reference service: a directory holding a copy of the repository's
 * inputs (stack files, policy pack, monitoring, security, load-test config; never its state,
 * baselines or reports), and a local HTTP service standing in for a stage's service.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";

/** What the demo copies from the repository (relative paths). */
export const DEMO_INPUTS = [
  "Pulumi.yaml",
  "Pulumi.sandbox.yaml",
  "Pulumi.compliance.yaml",
  "Pulumi.production.yaml",
  "package.json",
  "package-lock.json",
  "policy-pack",
  // The pack imports the one image-reference parser (dependency-free) from here.
  "src/images/ref.ts",
  "monitoring",
  "security",
  "load-test/config",
];

/** Demo durations: the smoke and baseline scenarios, shortened so the demo takes about a minute. */
export const DEMO_DURATIONS = { smoke: "3s", baseline: "5s" } as const;

/**
 * Copies the inputs into `dir` (created; must not already hold a workspace), links node_modules,
 * and shortens the smoke and baseline scenarios. Returns the files it changed from the originals.
 */
export function prepareWorkspace(repoRoot: string, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  if (existsSync(path.join(dir, "Pulumi.yaml"))) {
    throw new Error(
      `${dir} already holds a demo workspace; give another --dir, or remove it (rm -rf ${dir})`,
    );
  }
  for (const rel of DEMO_INPUTS) {
    const from = path.join(repoRoot, rel);
    if (!existsSync(from)) continue;
    cpSync(from, path.join(dir, rel), {
      recursive: true,
      filter: (src) => !src.includes(`${path.sep}node_modules`),
    });
  }
  symlinkSync(path.join(repoRoot, "node_modules"), path.join(dir, "node_modules"), "dir");
  const config = path.join(dir, "load-test/config/stress-test.yaml");
  const text = readFileSync(config, "utf8");
  const shortened = shortenScenario(
    shortenScenario(text, "smoke", DEMO_DURATIONS.smoke),
    "baseline",
    DEMO_DURATIONS.baseline,
  );
  writeFileSync(config, shortened);
  return shortened === text ? [] : ["load-test/config/stress-test.yaml"];
}

/** Replaces the first `duration:` inside `scenarios.<name>` (a plain text edit keeps comments). */
export function shortenScenario(yamlText: string, name: string, duration: string): string {
  const lines = yamlText.split("\n");
  const start = lines.findIndex((l) => l === `  ${name}:`);
  if (start < 0) return yamlText;
  for (let i = start + 1; i < lines.length && /^(\s{4}|\s*$)/.test(lines[i]!); i++) {
    if (/^\s{4}duration:/.test(lines[i]!)) {
      lines[i] = `    duration: ${duration}`;
      break;
    }
  }
  return lines.join("\n");
}

/**
 * The reference service: answers every request with a small JSON body (like a Prometheus query
 * API), on 127.0.0.1 and a free port; `/-/healthy` answers too. `delayMs` slows every answer.
 */
export function startReferenceService(
  opts: { delayMs?: number } = {},
): Promise<{ server: Server; url: string }> {
  const body = JSON.stringify({ status: "success", data: { resultType: "vector", result: [] } });
  const server = createServer((req, res) => {
    req.resume();
    const answer = () => {
      res.writeHead(200, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
      });
      res.end(body);
    };
    if (opts.delayMs) setTimeout(answer, opts.delayMs);
    else answer();
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      resolve({ server, url: `http://127.0.0.1:${port}` });
    });
  });
}

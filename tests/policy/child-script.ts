/**
 * Runs a CommonJS script in a fresh Node process under tsx and returns what it printed, parsed as
 * JSON. The policy-pack speed-ups replace exports of the SDK's modules, which would otherwise stay
 * in the test worker's require cache; a child process sees them installed, alone.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { expect } from "vitest";

const REPO = path.resolve(import.meta.dirname, "../..");

export function childScriptJson(script: string, env: NodeJS.ProcessEnv = process.env): unknown {
  const r = spawnSync(process.execPath, ["--import", "tsx", "-e", script], {
    cwd: REPO,
    encoding: "utf8",
    env,
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as unknown;
}

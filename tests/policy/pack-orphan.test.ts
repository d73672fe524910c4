/**
 * A policy pack goose started must not outlive goose. goose ends its packs itself (close(), as the
 * CLI kills its plugins), but a goose killed with SIGKILL (or by the OOM killer) cannot: before
 * this test's fix the pack stayed up for good, holding its port and ~100 MB. Now the pack watches
 * the stdin pipe only goose holds (GOOSE_PACK_EXIT_WITH_PARENT, src/pulumi-startup.mjs) and exits
 * when it ends.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { ensurePolicyPackBuilt } from "../../src/policy/pack-build.js";
import { repoRoot } from "../engine/packs.js";

const dir = mkdtempSync(join(tmpdir(), "goose-pack-orphan-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("a pack whose goose was SIGKILLed", () => {
  it("exits on its own; while goose lives it serves", async () => {
    const packDir = join(repoRoot, "policy-pack");
    await ensurePolicyPackBuilt(packDir);
    // Stands in for goose: launches the pack as goose does, reports its pid, then idles.
    const script = join(dir, "holder.mts");
    writeFileSync(
      script,
      `import { PackLaunch } from ${JSON.stringify(pathToFileURL(join(repoRoot, "src/policy/pack-launch.ts")).href)};\n` +
        `const l = new PackLaunch(${JSON.stringify(packDir)});\n` +
        `const port = await l.port;\n` +
        `process.stdout.write(JSON.stringify({ pid: l.pid, port }) + "\\n");\n` +
        `setInterval(() => undefined, 1 << 30);\n`,
    );
    const holder = spawn(process.execPath, ["--import", "tsx", script], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "inherit"],
    });
    const first = await new Promise<string>((resolve, reject) => {
      createInterface({ input: holder.stdout! }).once("line", resolve);
      holder.once("exit", (code) =>
        reject(new Error(`holder exited (${code}) before the pack started`)),
      );
    });
    const { pid, port } = JSON.parse(first) as { pid: number; port: number };
    expect(port).toBeGreaterThan(0);
    // Its parent alive, the pack keeps serving (the watch does not end it early).
    await new Promise((r) => setTimeout(r, 500));
    expect(alive(pid), "the pack runs while goose lives").toBe(true);

    holder.kill("SIGKILL");
    // A bounded poll for the outcome, not a timing margin: the pack's exit follows the pipe's end.
    for (let i = 0; i < 600 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    const left = alive(pid);
    if (left) process.kill(pid, "SIGKILL");
    expect(left, "the pack outlived goose").toBe(false);
  });
});

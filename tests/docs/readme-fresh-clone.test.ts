/**
 * The README's quick start, as written, in a fresh clone: every command of its "Quick start"
 * section (the preview and the demo) runs and exits 0 with nothing but Node — the PATH holds
 * node, npm, npx and sh only (no promtool, prometheus, aws, sqlite3, git), as the README promises.
 * The clone is of the committed HEAD; HOME is a temporary directory so nothing of the user's is
 * read or written.
 *
 * `npm ci` is stood in for by a link to this checkout's node_modules (same lockfile). Measured on
 * the 2-core CI machine under load: `npm ci --prefer-offline --no-audit --no-fund` from the npm
 * cache took 111 s wall (24 s CPU, 527 MB written) — more than the 60 s this suite can spend on
 * it, on top of the `npm ci` .ci/run already does with the same lockfile.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

const REPO = path.resolve(import.meta.dirname, "../..");

/** The shell commands of the README section `## <title>` (comments and blank lines dropped). */
export function readmeCommands(readme: string, title: string): string[] {
  const section = readme.split(/^## /m).find((s) => s.startsWith(title)) ?? "";
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks
    .flatMap((b) => b.split("\n"))
    .map((l) => l.replace(/\s+#.*$/, "").trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

describe("README quick start in a fresh clone", () => {
  it("runs every command as written and each exits 0", () => {
    const commands = readmeCommands(
      readFileSync(path.join(REPO, "README.md"), "utf8"),
      "Quick start",
    );
    expect(commands).toEqual(["npm ci", "npx goose preview --all --offline", "npx goose demo"]);
    const tmp = mkdtempSync(path.join(tmpdir(), "goose-clone-"));
    const clone = path.join(tmp, "golden-goose");
    execFileSync("git", ["clone", "-q", "--no-hardlinks", REPO, clone]);
    // Nothing but Node: a PATH with node, npm, npx and a shell (README: "with nothing else installed").
    const bin = path.join(tmp, "bin");
    mkdirSync(bin);
    symlinkSync(process.execPath, path.join(bin, "node"));
    for (const tool of ["npm", "npx", "sh"]) {
      const found = spawnSync("sh", ["-c", `command -v ${tool}`], {
        encoding: "utf8",
      }).stdout.trim();
      expect(found, `${tool} is not on the PATH`).not.toBe("");
      symlinkSync(found, path.join(bin, tool));
    }
    const env = {
      PATH: bin,
      HOME: path.join(tmp, "home"),
      npm_config_update_notifier: "false",
    };
    for (const cmd of commands) {
      if (cmd === "npm ci") {
        symlinkSync(path.join(REPO, "node_modules"), path.join(clone, "node_modules"), "dir");
        continue;
      }
      const r = spawnSync("sh", ["-c", cmd], {
        cwd: clone,
        env,
        encoding: "utf8",
        timeout: 400_000,
      });
      expect(r.status, `${cmd}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`).toBe(0);
      if (cmd.endsWith("demo")) {
        expect(r.stdout).toContain("SIMULATED");
        expect(r.stdout).toMatch(/promoted sandbox → compliance .*SIMULATED/);
        expect(r.stdout).toMatch(/evidence chain in .* verifies/);
        expect(r.stdout).toMatch(/load-test report \(HTML\): +\S+\.html/);
        expect(r.stdout).toMatch(/promotion report \(Markdown\): \S+\.md/);
        // No promtool here: the alerts gate used goose's own rule check and said so.
        expect(r.stdout).toMatch(
          /gate alerts: warn — promtool is not installed: \d+ rule files checked by goose's own parser/,
        );
      }
    }
  }, 600_000);
});

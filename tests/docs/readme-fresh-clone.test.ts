/**
 * The README's quick start, as written, in a fresh clone: every command of its "Quick start"
 * section (the preview and the demo) runs and exits 0. The clone is of the committed HEAD;
 * `npm ci` is stood in for by a link to this checkout's node_modules (same lockfile; the test
 * machine may have no registry), and HOME is a temporary directory so nothing of the user's is
 * read or written.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, symlinkSync } from "node:fs";
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
    const env = {
      PATH: process.env.PATH,
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
      }
    }
  }, 600_000);
});

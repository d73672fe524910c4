/**
 * The README's test command on a fresh machine: `npm test` first runs
 * scripts/test-prerequisites.mjs. With the tools present it says nothing and lets the tests run;
 * without them and without a way to install them, it stops at once (exit 2) with the exact
 * command to run.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

const REPO = path.resolve(import.meta.dirname, "../..");
const SCRIPT = path.join(REPO, "scripts/test-prerequisites.mjs");

describe("npm test's prerequisites", () => {
  it("is npm's pretest, and .ci/run runs npm test", () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.pretest).toBe("node scripts/test-prerequisites.mjs");
    expect(readFileSync(path.join(REPO, ".ci/run"), "utf8")).toMatch(/^npm test$/m);
  });

  it("passes quietly when every tool is on PATH", () => {
    const r = spawnSync(process.execPath, [SCRIPT], { encoding: "utf8" });
    expect(r.stderr, "promtool and friends must be installed to run this suite").toBe("");
    expect(r.status).toBe(0);
  });

  it("without the tools and without apt-get: exit 2 with the exact install command", () => {
    const bin = mkdtempSync(path.join(tmpdir(), "goose-nopath-"));
    symlinkSync(process.execPath, path.join(bin, "node"));
    const r = spawnSync(path.join(bin, "node"), [SCRIPT], {
      encoding: "utf8",
      env: { PATH: bin },
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("npm test needs promtool");
    expect(r.stderr).toContain(
      "sudo apt-get update && sudo apt-get install -y -q --no-install-recommends prometheus prometheus-alertmanager prometheus-pushgateway",
    );
  });
});

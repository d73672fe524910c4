import { mkdtempSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import { defineConfig } from "vitest/config";

// Pulumi's runtime keeps its state in a process-wide store, so every test file runs in its own
// forked process (see ../shared/notes/pulumi.md, "vitest").
// goose keeps keys and evidence anchors under $XDG_CONFIG_HOME/goose: the tests get a fresh one per
// run, so nothing they do lands in (or is read from) the user's own ~/.config/goose.
export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    pool: "forks",
    // Most test time is spent waiting on child processes (the policy pack, Prometheus, promtool,
    // goose itself), so two workers overlap that wait even on CI's 2-core machine: a clean-clone
    // run took 406 s with two workers against about 700 s with vitest's default of one (cores - 1).
    maxWorkers: Math.max(2, availableParallelism() - 1),
    testTimeout: 60_000,
    hookTimeout: 120_000,
    env: { XDG_CONFIG_HOME: mkdtempSync(path.join(tmpdir(), "goose-test-config-")) },
  },
});

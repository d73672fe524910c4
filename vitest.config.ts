import { defineConfig } from "vitest/config";

// Pulumi's runtime keeps its state in a process-wide store, so every test file runs in its own
// forked process (see ../shared/notes/pulumi.md, "vitest").
export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});

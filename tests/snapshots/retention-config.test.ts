/**
 * Retention comes from the stage's stack file (`golden-goose:snapshots` in Pulumi.<stage>.yaml,
 * read through src/config): `goose snapshot prune --dry-run` follows its values, flags override
 * single fields, a file without the key gets the stage defaults, and no file is exit 2 naming it.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STAGE_DEFAULTS } from "../../src/config/defaults.js";
import { createSnapshot, keySourceFromEnv, retentionPolicyFor } from "../../src/snapshots/index.js";
import { openStore } from "../../src/store/index.js";
import { runGoose } from "../helpers/cli.js";
import { cleanupTempDirs, fixture, tempDir, TEST_KEY } from "./helpers.js";

const HOUR = 3_600_000;
const cwd = tempDir();
const env = {
  GOOSE_SNAPSHOT_KEY: TEST_KEY,
  GOOSE_EVIDENCE_KEY_FILE: join(tempDir(), "evidence.pem"),
};
/** Snapshot ids, newest first: 1.5, 2.5, 3.5, 4.5 and 5.5 days old. */
const ids: string[] = [];

beforeAll(async () => {
  const store = openStore("file://.goose", env, { cwd });
  for (const days of [5.5, 4.5, 3.5, 2.5, 1.5]) {
    const m = await createSnapshot(store, {
      stage: "sandbox",
      source: fixture("checkpoint-v3.json"),
      keys: keySourceFromEnv(env),
      now: new Date(Date.now() - days * 24 * HOUR),
    });
    ids.unshift(m.id);
  }
});
afterAll(cleanupTempDirs);

function stackFile(snapshots?: { keepLast: number; maxAgeDays: number }): void {
  const lines = ["config:", "  golden-goose:stage: sandbox"];
  if (snapshots) {
    lines.push(
      "  golden-goose:snapshots:",
      `    keepLast: ${snapshots.keepLast}`,
      `    maxAgeDays: ${snapshots.maxAgeDays}`,
    );
  }
  writeFileSync(join(cwd, "Pulumi.sandbox.yaml"), lines.join("\n") + "\n");
}

interface Plan {
  policy: { keepLast: number; maxAgeDays: number };
  policySource: string;
  keep: Array<{ id: string; reasons: string[] }>;
  remove: Array<{ id: string }>;
}

async function prune(...extra: string[]): Promise<Plan> {
  const r = await runGoose(["snapshot", "prune", "sandbox", "--dry-run", "--json", ...extra], {
    cwd,
    env,
  });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Plan;
}

describe("retention from the stage's stack file", () => {
  it("prune --dry-run follows golden-goose:snapshots of Pulumi.sandbox.yaml", async () => {
    stackFile({ keepLast: 1, maxAgeDays: 3 });
    const plan = await prune();
    expect(plan.policy).toEqual({ keepLast: 1, maxAgeDays: 3 });
    expect(plan.policySource).toBe(join(cwd, "Pulumi.sandbox.yaml"));
    expect(plan.remove.map((r) => r.id)).toEqual(ids.slice(2));
    expect(plan.keep.map((k) => k.id)).toEqual(ids.slice(0, 2));
    expect(plan.keep[0]!.reasons).toContain("within keepLast");

    // Another value in the file changes the plan: nothing is older than 10 days.
    stackFile({ keepLast: 1, maxAgeDays: 10 });
    expect((await prune()).remove).toEqual([]);
    stackFile({ keepLast: 1, maxAgeDays: 2 });
    expect((await prune()).remove.map((r) => r.id)).toEqual(ids.slice(1));
  });

  it("--keep-last / --max-age-days override single fields of the file", async () => {
    stackFile({ keepLast: 1, maxAgeDays: 3 });
    const plan = await prune("--keep-last", "4");
    expect(plan.policy).toEqual({ keepLast: 4, maxAgeDays: 3 });
    expect(plan.policySource).toContain("+ flags");
    expect(plan.remove.map((r) => r.id)).toEqual([ids[4]]);
  });

  it("a stack file without the key gets the stage's defaults (src/config/defaults.ts)", () => {
    stackFile();
    const p = retentionPolicyFor(cwd, "sandbox");
    expect({ keepLast: p.keepLast, maxAgeDays: p.maxAgeDays }).toEqual(
      STAGE_DEFAULTS.sandbox.snapshots,
    );
  });

  it("an invalid value in the file is exit 2 naming file and key", async () => {
    stackFile({ keepLast: 0, maxAgeDays: 3 });
    const r = await runGoose(["snapshot", "prune", "sandbox", "--dry-run"], { cwd, env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Pulumi.sandbox.yaml");
    expect(r.stderr).toContain("snapshots.keepLast");
  });

  it("no stack file: exit 2 naming it, unless both flags are given", async () => {
    const elsewhere = tempDir();
    const r = await runGoose(["snapshot", "prune", "compliance", "--dry-run"], {
      cwd: elsewhere,
      env,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`no stack file ${join(elsewhere, "Pulumi.compliance.yaml")}`);
    expect(r.stderr).toContain("--keep-last and --max-age-days");
    const both = await runGoose(
      [
        "snapshot",
        "prune",
        "compliance",
        "--dry-run",
        "--json",
        "--keep-last",
        "3",
        "--max-age-days",
        "7",
      ],
      { cwd: elsewhere, env },
    );
    expect(both.code, both.stderr).toBe(0);
    expect(JSON.parse(both.stdout).policy).toEqual({ keepLast: 3, maxAgeDays: 7 });
  });
});

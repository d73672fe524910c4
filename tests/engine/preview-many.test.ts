/**
 * `goose preview --all --offline` (OfflineEngine.previewMany: one shared pack, renders queued while
 * earlier stages are analysed, policy-config validators and rule-file parses reused between
 * stages) answers exactly what a preview of each stage on its own answers, on the shipped stages,
 * program and policy pack. Two of the three stages (the first and the last), to keep it cheap.
 */
import { describe, expect, it } from "vitest";
import type { StageName } from "../../src/config/stages.js";
import { OfflineEngine } from "../../src/engine/offline/engine.js";
import { repoRoot } from "./packs.js";

describe("previewMany", () => {
  it("equals one preview per stage, resource for resource and violation for violation", async () => {
    const engine = new OfflineEngine({ cwd: repoRoot, env: process.env });
    const stages: StageName[] = ["sandbox", "production"];
    const many = await engine.previewMany(stages);
    const each = [];
    for (const stage of stages) each.push(await engine.preview(stage));
    expect(many.map((r) => r.stage)).toEqual(stages);
    expect(many).toEqual(each);
    // Not vacuous: the stages differ, and sandbox has its advisory.
    expect(many[0]!.violations.map((v) => v.policy)).toContain("alertmanager-receivers-configured");
    expect(many[1]!.violations).toEqual([]);
    expect(many[1]!.resources.length).toBeGreaterThan(40);
  }, 120_000);
});

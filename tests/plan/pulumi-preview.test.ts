/**
 * The mapping from the real Pulumi CLI's preview to our plan (src/plan/pulumi-preview.ts).
 *
 * Honest note on the samples: there is no Pulumi CLI on this machine, so the two recorded samples in
 * tests/fixtures/plan/ were WRITTEN BY HAND for this test, following the documented formats, not
 * captured from a real run:
 * - pulumi-preview-digest.json: `pulumi preview --json`, whose shape is pulumi/pulumi
 *   `sdk/pkg/display/json.go` (PreviewDigest{config, steps, diagnostics, duration, changeSummary};
 *   PreviewStep{op, urn, provider, oldState, newState, diffReasons, replaceReasons, detailedDiff};
 *   PropertyDiff{kind, inputDiff}), filled by `pkg/backend/display/json.go` ShowPreviewDigest from the
 *   resource-pre events, with secrets as "[secret]" (massagePropertyValue);
 * - pulumi-engine-events.json: the engine events of the same preview (apitype EngineEvent with
 *   `resourcePreEvent.metadata`: StepEventMetadata{op, urn, type, old, new, keys, diffs,
 *   detailedDiff: {diffKind, inputDiff}}), as the Automation API's onEvent
 *   (@pulumi/pulumi automation/events.d.ts) and `pulumi preview --event-log` deliver them.
 * A replacement appears as create-replacement, replace and delete-replaced steps of one URN.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { planFromEngineEvents, planFromPreviewDigest } from "../../src/plan/pulumi-preview.js";
import { formatPlanHuman, formatPlanMarkdown, type Plan } from "../../src/plan/index.js";
import { repoRoot } from "../engine/packs.js";

const sample = (name: string): unknown =>
  JSON.parse(readFileSync(join(repoRoot, "tests/fixtures/plan", name), "utf8"));

function checkPlan(p: Plan): void {
  expect(p).toMatchObject({
    kind: "goose.plan",
    version: 1,
    stage: "compliance",
    against: { kind: "pulumi" },
  });
  expect(p.summary).toEqual({
    create: 1,
    update: 2,
    replace: 1,
    delete: 1,
    same: 1,
    dataLoss: 2,
    violations: 0,
  });
  const byName = (n: string) => p.steps.find((s) => s.urn.endsWith(`::${n}`))!;
  const sts = byName("goose-compliance-prometheus-server");
  expect(sts).toMatchObject({
    op: "replace",
    type: "kubernetes:apps/v1:StatefulSet",
    replaceReasons: [
      {
        path: "spec.volumeClaimTemplates[0].spec.resources.requests.storage",
        source: "the provider's diff (pulumi preview)",
      },
    ],
    dataLoss: { reason: expect.stringMatching(/volumeClaimTemplates/) },
  });
  expect(sts.diffs).toEqual([
    {
      path: "spec.template.spec.containers[0].image",
      kind: "changed",
      old: "quay.io/prometheus/prometheus:v3.5.0",
      new: "quay.io/prometheus/prometheus:v3.5.1",
    },
    {
      path: "spec.volumeClaimTemplates[0].spec.resources.requests.storage",
      kind: "changed",
      old: "50Gi",
      new: "40Gi",
    },
  ]);
  expect(byName("goose-compliance-grafana-server")).toMatchObject({
    op: "update",
    diffs: [
      { path: "spec.replicas", kind: "changed", old: 1, new: 2 },
      { path: "spec.minReadySeconds", kind: "added", new: 10 },
    ],
  });
  expect(byName("goose-compliance-grafana-admin").diffs).toEqual([
    { path: "stringData", kind: "changed", old: "[secret]", new: "[secret]", secret: true },
  ]);
  expect(byName("goose-compliance-prometheus-extra")).toMatchObject({ op: "create", diffs: [] });
  expect(byName("goose-compliance-backup-volume-grafana")).toMatchObject({
    op: "delete",
    dataLoss: { reason: expect.stringMatching(/claim's volume/) },
  });
  expect(formatPlanHuman(p).join("\n")).toContain(
    "Resources: 1 to create, 2 to update, 1 to replace, 1 to delete, 1 unchanged; 2 with possible data loss",
  );
  expect(formatPlanMarkdown(p)).toContain("against its Pulumi state (pulumi preview)");
}

describe("pulumi preview to our plan", () => {
  it("`pulumi preview --json` (PreviewDigest): the replacement's three steps are one replace", () => {
    checkPlan(planFromPreviewDigest(sample("pulumi-preview-digest.json"), "compliance"));
  });

  it("the engine events of the same preview give the same plan", () => {
    const fromEvents = planFromEngineEvents(
      sample("pulumi-engine-events.json") as unknown[],
      "compliance",
    );
    checkPlan(fromEvents);
    const fromDigest = planFromPreviewDigest(sample("pulumi-preview-digest.json"), "compliance");
    expect(fromEvents.steps).toEqual(fromDigest.steps);
  });

  it("the offline plan and the mapped one have the same shape", async () => {
    const { planExports } = await import("../../src/plan/index.js");
    const offline = planExports(
      undefined,
      { version: 3, deployment: { manifest: { time: "", magic: "", version: "" }, resources: [] } },
      {
        stage: "compliance",
        against: { kind: "none" },
      },
    );
    const mapped = planFromPreviewDigest(sample("pulumi-preview-digest.json"), "compliance");
    expect(Object.keys(mapped).sort()).toEqual(Object.keys(offline).sort());
    expect(Object.keys(mapped.summary).sort()).toEqual(Object.keys(offline.summary).sort());
  });

  it("refuses a document that is not a preview", () => {
    expect(() => planFromPreviewDigest({ steps: "x" }, "compliance")).toThrow(
      /pulumi preview --json/,
    );
    expect(() => planFromPreviewDigest(null, "compliance")).toThrow(/pulumi preview --json/);
  });
});

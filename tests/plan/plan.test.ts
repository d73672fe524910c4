/**
 * The plan engine (src/plan) on real exports: Pulumi's own checkpoints from
 * ../shared/fixtures/pulumi (30 AWS resources; the same stack with 10 secret values), and the
 * export the offline engine writes for the real compliance stage program. Each operation kind, every
 * field of the replacement table, data-loss flags, and secrets that never reach any rendering.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { OfflineEngine } from "../../src/engine/offline/engine.js";
import type { ExportResource, StackExport } from "../../src/pulumi-export/index.js";
import { SECRET_SIG, SECRET_SIG_KEY } from "../../src/pulumi-export/index.js";
import {
  attachViolations,
  DATA_BEARING,
  formatPlanHuman,
  formatPlanMarkdown,
  parsePath,
  planDigest,
  planExports,
  REPLACE_RULES,
  type Plan,
} from "../../src/plan/index.js";
import { repoRoot } from "../engine/packs.js";

const FIXTURES = join(repoRoot, "..", "shared", "fixtures", "pulumi");

/** A DIY checkpoint as the `pulumi stack export` document it stands for. */
function checkpoint(name: string): StackExport {
  const doc = JSON.parse(readFileSync(join(FIXTURES, name), "utf8")) as {
    version: number;
    checkpoint: { latest: StackExport["deployment"] };
  };
  return { version: doc.version, deployment: doc.checkpoint.latest };
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** A b64 secret in export form, as Pulumi's `b64` secrets provider writes it. */
function b64Secret(value: unknown) {
  return {
    [SECRET_SIG_KEY]: SECRET_SIG,
    ciphertext: Buffer.from(JSON.stringify(value)).toString("base64"),
  };
}

function stackOf(resources: ExportResource[]): StackExport {
  return {
    version: 3,
    deployment: {
      manifest: { time: "2026-01-01T00:00:00Z", magic: "", version: "v3.270.0" },
      secrets_providers: { type: "b64", state: {} },
      resources,
    },
  };
}

const plan = (a: StackExport | undefined, b: StackExport): Plan =>
  planExports(a, b, { stage: "sandbox", against: { kind: "file", ref: "test" } });

/** Every rendering of a plan, as one text. */
function allOutputs(p: Plan): string {
  return [
    JSON.stringify(p),
    formatPlanHuman(p).join("\n"),
    formatPlanHuman(p, { color: true }).join("\n"),
    formatPlanMarkdown(p),
  ].join("\n");
}

describe("plan of Pulumi's own checkpoints", () => {
  const v3 = checkpoint("checkpoint-v3.json");
  const secrets = checkpoint("checkpoint-secrets.json");

  it("a stack against itself: every resource same, no diffs", () => {
    const p = plan(v3, clone(v3));
    expect(p.steps).toHaveLength(30);
    expect(p.summary).toMatchObject({ same: 30, create: 0, update: 0, replace: 0, delete: 0 });
    expect(formatPlanMarkdown(p)).toContain("No changes.");
  });

  it("against an empty stack everything is created; to an empty stack everything deleted", () => {
    expect(plan(undefined, v3).summary.create).toBe(30);
    const gone = plan(v3, stackOf([]));
    expect(gone.summary.delete).toBe(30);
    expect(gone.summary.dataLoss).toBe(0); // SNS, IAM, Lambda: no data-bearing type
  });

  it("values that became secret: one [secret] leaf each, neither plaintext nor ciphertext shown", () => {
    const p = plan(v3, secrets);
    const changed = p.steps.filter((s) => s.op !== "same");
    expect(changed.length).toBeGreaterThan(0);
    for (const s of changed) {
      expect(s.op).toBe("update");
      for (const d of s.diffs) {
        expect(d).toMatchObject({
          kind: "changed",
          old: "[secret]",
          new: "[secret]",
          secret: true,
        });
      }
    }
    const role = changed.find((s) => s.urn.endsWith("::countDown_watcher-iamrole"))!;
    expect(role.diffs.map((d) => d.path)).toEqual(["assumeRolePolicy"]);
    const text = allOutputs(p);
    expect(text).not.toContain("sts:AssumeRole");
    expect(text).not.toContain("lambda:invokeFunction");
    expect(text).not.toContain("IntcIlZlcnNpb25cIjpcIjIwMTItMTAtMTdcIixcIlN0YXRlbWVudFwiOlt7");
  });

  it("the same secrets on both sides are the same, compared by content", () => {
    const p = plan(secrets, clone(secrets));
    expect(p.summary.same).toBe(30);
  });
});

describe("plan of the offline engine's export of the compliance stage", () => {
  let base: StackExport;
  beforeAll(async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "goose-plan-"));
    const engine = new OfflineEngine({ cwd: repoRoot, env: process.env, stateDir });
    await engine.up("compliance");
    base = JSON.parse(readFileSync(engine.statePath("compliance"), "utf8")) as StackExport;
  }, 120_000);

  const find = (e: StackExport, type: string, i = 0): ExportResource =>
    e.deployment.resources!.filter((r) => r.type === type)[i]!;

  it("unchanged: every step same", () => {
    const p = plan(base, clone(base));
    expect(p.summary.same).toBe(base.deployment.resources!.length);
    expect(p.steps.every((s) => s.op === "same")).toBe(true);
  });

  it("create, update, delete with property diffs (added, removed, changed paths)", () => {
    const next = clone(base);
    const dep = find(next, "kubernetes:apps/v1:Deployment");
    const spec = dep.inputs!.spec as Record<string, unknown>;
    spec.replicas = 7;
    spec.minReadySeconds = 5;
    const labels = (dep.inputs!.metadata as { labels: Record<string, unknown> }).labels;
    const firstLabel = Object.keys(labels)[0]!;
    delete labels[firstLabel];
    const sa = find(next, "kubernetes:core/v1:ServiceAccount");
    next.deployment.resources = next.deployment.resources!.filter((r) => r !== sa);
    next.deployment.resources.push({
      urn: "urn:pulumi:sandbox::golden-goose::kubernetes:core/v1:ServiceAccount::extra",
      custom: true,
      type: "kubernetes:core/v1:ServiceAccount",
      inputs: { metadata: { name: "extra" } },
    });
    const p = plan(base, next);
    expect(p.summary).toMatchObject({ create: 1, update: 1, delete: 1, replace: 0, dataLoss: 0 });
    const u = p.steps.find((s) => s.op === "update")!;
    expect(u.urn).toBe(dep.urn);
    const oldReplicas = (
      find(base, "kubernetes:apps/v1:Deployment").inputs!.spec as { replicas: number }
    ).replicas;
    expect(u.diffs).toEqual(
      expect.arrayContaining([
        { path: "spec.replicas", kind: "changed", old: oldReplicas, new: 7 },
        { path: "spec.minReadySeconds", kind: "added", new: 5 },
        expect.objectContaining({
          kind: "removed",
          path: expect.stringContaining("metadata.labels"),
        }),
      ]),
    );
    expect(u.diffs).toHaveLength(3);
    expect(p.steps.find((s) => s.op === "delete")!.urn).toBe(sa.urn);
    const human = formatPlanHuman(p).join("\n");
    expect(human).toMatch(/ {2}~ {2}kubernetes:apps\/v1:Deployment: /);
    expect(human).toMatch(/~ spec\.replicas: \d+ => 7/);
    expect(human).toMatch(/\+ spec\.minReadySeconds: 5/);
    expect(human).toContain("Resources: 1 to create, 1 to update, 0 to replace, 1 to delete");
    expect(human).not.toContain("\u001b[");
    expect(formatPlanHuman(p, { color: true }).join("\n")).toContain("\u001b[33m");
  });

  it("StatefulSet volumeClaimTemplates: replace, with its source and a data-loss flag", () => {
    const next = clone(base);
    const sts = find(next, "kubernetes:apps/v1:StatefulSet");
    const vct = (sts.inputs!.spec as { volumeClaimTemplates: Array<Record<string, unknown>> })
      .volumeClaimTemplates[0]!;
    (
      (vct.spec as Record<string, unknown>).resources as { requests: Record<string, string> }
    ).requests.storage = "999Gi";
    const p = plan(base, next);
    const s = p.steps.find((x) => x.urn === sts.urn)!;
    expect(s.op).toBe("replace");
    expect(s.replaceReasons).toEqual([
      { path: "spec.volumeClaimTemplates", source: expect.stringContaining("pulumi-kubernetes") },
    ]);
    expect(s.dataLoss?.reason).toMatch(/volumeClaimTemplates/);
    expect(p.summary.dataLoss).toBe(1);
    const md = formatPlanMarkdown(p);
    expect(md).toContain("| `+-` replace |");
    expect(md).toContain("**data loss**");
    expect(md).toContain("> [!WARNING]");
  });

  it("deleting a PVC or the bucket is data loss; retainOnDelete is not; a ConfigMap is not", () => {
    const next = clone(base);
    const drop = new Set(
      [
        find(next, "kubernetes:core/v1:PersistentVolumeClaim"),
        find(next, "aws:s3/bucket:Bucket"),
        find(next, "kubernetes:core/v1:ConfigMap"),
      ].map((r) => r.urn),
    );
    next.deployment.resources = next.deployment.resources!.filter((r) => !drop.has(r.urn));
    const p = plan(base, next);
    const deletes = p.steps.filter((s) => s.op === "delete");
    expect(deletes).toHaveLength(3);
    expect(
      deletes
        .filter((s) => s.dataLoss)
        .map((s) => s.type)
        .sort(),
    ).toEqual(["aws:s3/bucket:Bucket", "kubernetes:core/v1:PersistentVolumeClaim"]);
    const retained = clone(base);
    const pvc = find(retained, "kubernetes:core/v1:PersistentVolumeClaim");
    pvc.retainOnDelete = true;
    const p2 = plan(
      retained,
      stackOf(retained.deployment.resources!.filter((r) => r.urn !== pvc.urn)),
    );
    const step = p2.steps.find((s) => s.urn === pvc.urn)!;
    expect(step).toMatchObject({ op: "delete", retainOnDelete: true });
    expect(step.dataLoss).toBeUndefined();
  });

  it("a policy violation on a replaced resource is shown on its step", () => {
    const next = clone(base);
    const bucket = find(next, "aws:s3/bucket:Bucket");
    bucket.inputs!.bucket = "renamed-bucket";
    const p = attachViolations(plan(base, next), [
      {
        urn: bucket.urn,
        policy: "s3-encryption",
        enforcementLevel: "mandatory",
        message: "no SSE",
      },
      {
        urn: find(next, "aws:kms/key:Key").urn,
        policy: "x",
        enforcementLevel: "advisory",
        message: "y",
      },
    ]);
    const s = p.steps.find((x) => x.urn === bucket.urn)!;
    expect(s.op).toBe("replace");
    expect(s.violations).toEqual([
      { policy: "s3-encryption", enforcementLevel: "mandatory", message: "no SSE" },
    ]);
    expect(p.summary.violations).toBe(1); // the key is not replaced: its violation is not on the plan
    expect(formatPlanHuman(p).join("\n")).toContain("policy s3-encryption [mandatory]: no SSE");
  });

  it("the digest is stable for the same changes and differs for other changes", () => {
    const next = clone(base);
    (find(next, "kubernetes:apps/v1:Deployment").inputs!.spec as { replicas: number }).replicas = 9;
    const a = planDigest(plan(base, next));
    expect(planDigest(plan(base, clone(next)))).toBe(a);
    (find(next, "kubernetes:apps/v1:Deployment").inputs!.spec as { replicas: number }).replicas = 8;
    expect(planDigest(plan(base, next))).not.toBe(a);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe("the replacement table", () => {
  /** Sets a value at a table path (`[*]` as element 0) in a fresh object. */
  function withValue(path: string, value: unknown): Record<string, unknown> {
    const segs = parsePath(path)!;
    const root: Record<string, unknown> = {};
    let cur: Record<string, unknown> | unknown[] = root;
    segs.forEach((s, i) => {
      const last = i === segs.length - 1;
      const nextIsList = !last && (segs[i + 1] === "*" || typeof segs[i + 1] === "number");
      const key = s === "*" ? 0 : s;
      const child = last ? value : nextIsList ? [] : {};
      (cur as Record<string | number, unknown>)[key as string] = child;
      cur = child as Record<string, unknown>;
    });
    return root;
  }

  const cases = REPLACE_RULES.flatMap((rule) =>
    rule.fields.map((field) => ({
      type: rule.types[0]!.endsWith("*") ? "kubernetes:core/v1:ConfigMap" : rule.types[0]!,
      field,
      source: rule.source,
    })),
  );

  it("every rule names its source", () => {
    expect(cases.length).toBeGreaterThan(40);
    for (const r of REPLACE_RULES) {
      expect(r.source).toMatch(
        /pulumi-kubernetes .*diff\.go|terraform-provider-aws internal\/service|Kubernetes docs/,
      );
      expect(r.fields.length).toBeGreaterThan(0);
      for (const f of r.fields) expect(parsePath(f.path)).toBeDefined();
    }
    for (const d of DATA_BEARING) expect(d.reason.length).toBeGreaterThan(10);
  });

  it.each(cases)("$type $field.path replaces the resource", ({ type, field, source }) => {
    const urn = `urn:pulumi:sandbox::golden-goose::${type}::r`;
    const decrease = field.when === "decrease";
    const before = withValue(field.path, decrease ? "10Gi" : "a");
    const after = withValue(field.path, decrease ? "5Gi" : "b");
    const p = plan(
      stackOf([{ urn, custom: true, type, inputs: before }]),
      stackOf([{ urn, custom: true, type, inputs: after }]),
    );
    expect(p.steps[0]!.op).toBe("replace");
    expect(p.steps[0]!.replaceReasons).toContainEqual(
      expect.objectContaining({ path: field.path, source }),
    );
    if (decrease) {
      // Growing a claim is an update in place.
      const grow = plan(
        stackOf([{ urn, custom: true, type, inputs: before }]),
        stackOf([{ urn, custom: true, type, inputs: withValue(field.path, "20Gi") }]),
      );
      expect(grow.steps[0]!.op).toBe("update");
    }
  });

  it("a resource's own replaceOnChanges replaces; a field outside it updates", () => {
    const urn = "urn:pulumi:sandbox::golden-goose::test:index:Thing::t";
    const r = (inputs: Record<string, unknown>): ExportResource => ({
      urn,
      custom: true,
      type: "test:index:Thing",
      inputs,
      replaceOnChanges: ["spec.size"],
    });
    const p = plan(
      stackOf([r({ spec: { size: 1, label: "a" } })]),
      stackOf([r({ spec: { size: 2, label: "a" } })]),
    );
    expect(p.steps[0]).toMatchObject({
      op: "replace",
      replaceReasons: [{ path: "spec.size", source: "the resource's replaceOnChanges option" }],
    });
    const q = plan(
      stackOf([r({ spec: { size: 1, label: "a" } })]),
      stackOf([r({ spec: { size: 1, label: "b" } })]),
    );
    expect(q.steps[0]!.op).toBe("update");
  });

  it("a KMS key's spec change: replace with data loss; a resource pending deletion is deleted", () => {
    const urn = "urn:pulumi:sandbox::golden-goose::aws:kms/key:Key::k";
    const key = (spec: string): ExportResource => ({
      urn,
      custom: true,
      type: "aws:kms/key:Key",
      inputs: { customerMasterKeySpec: spec, keyUsage: "ENCRYPT_DECRYPT" },
    });
    const p = plan(stackOf([key("SYMMETRIC_DEFAULT")]), stackOf([key("RSA_2048")]));
    expect(p.steps[0]).toMatchObject({
      op: "replace",
      dataLoss: { reason: expect.stringMatching(/decrypt/) },
    });
    const pending = plan(
      stackOf([key("RSA_2048"), { ...key("SYMMETRIC_DEFAULT"), delete: true }]),
      stackOf([key("RSA_2048")]),
    );
    expect(pending.steps.map((s) => s.op)).toEqual(["same", "delete"]);
  });
});

describe("secrets never printed", () => {
  const KNOWN = "hunter2-correct-horse-battery";
  const urn = "urn:pulumi:sandbox::golden-goose::kubernetes:core/v1:Secret::grafana-admin";
  const secretRes = (password: unknown, extra: Record<string, unknown> = {}): ExportResource => ({
    urn,
    custom: true,
    type: "kubernetes:core/v1:Secret",
    inputs: { metadata: { name: "grafana-admin" }, stringData: { password, ...extra } },
  });

  it("changed, added and removed secrets show [secret] in JSON, human and Markdown", () => {
    const p = plan(
      stackOf([secretRes(b64Secret(KNOWN), { old: b64Secret(`${KNOWN}-old`) })]),
      stackOf([
        secretRes(b64Secret(`${KNOWN}-2`), {
          added: b64Secret(`${KNOWN}-new`),
          nested: { deep: b64Secret(KNOWN) },
        }),
      ]),
    );
    const s = p.steps[0]!;
    expect(s.op).toBe("replace"); // stringData of a Secret replaces (pulumi-kubernetes default)
    expect(s.diffs).toEqual(
      expect.arrayContaining([
        {
          path: "stringData.password",
          kind: "changed",
          old: "[secret]",
          new: "[secret]",
          secret: true,
        },
        { path: "stringData.old", kind: "removed", old: "[secret]", secret: true },
        { path: "stringData.added", kind: "added", new: "[secret]", secret: true },
        { path: "stringData.nested", kind: "added", new: { deep: "[secret]" }, secret: true },
      ]),
    );
    const text = allOutputs(p);
    expect(text).not.toContain(KNOWN);
    expect(text).not.toContain(Buffer.from(JSON.stringify(KNOWN)).toString("base64").slice(0, 12));
    expect(text).toContain("[secret]");
  });

  it("an unchanged secret is same, and a plaintext value that became secret hides the old value", () => {
    expect(
      plan(stackOf([secretRes(b64Secret(KNOWN))]), stackOf([secretRes(b64Secret(KNOWN))])).steps[0]!
        .op,
    ).toBe("same");
    const p = plan(stackOf([secretRes(KNOWN)]), stackOf([secretRes(b64Secret(KNOWN))]));
    expect(p.steps[0]!.diffs).toEqual([
      {
        path: "stringData.password",
        kind: "changed",
        old: "[secret]",
        new: "[secret]",
        secret: true,
      },
    ]);
    expect(allOutputs(p)).not.toContain(KNOWN);
  });
});

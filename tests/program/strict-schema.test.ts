/**
 * Every rendered Kubernetes object of every stage against the Kubernetes schema with unknown
 * fields refused (tests/program/strict-k8s.ts): the three stages rendered and deployed by the
 * offline engine from a workspace copy of the repository, every `kubernetes:` resource's inputs
 * from the state, one type-check. A planted unknown field is refused, naming object and field.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { STAGES } from "../../src/config/stages.js";
import { prepareWorkspace } from "../../src/demo/workspace.js";
import { OfflineEngine } from "../../src/engine/offline/engine.js";
import type { StackExport } from "../../src/engine/offline/state.js";
import { SECRET_SIG_KEY } from "../../src/pulumi-export/index.js";
import { schemaProblems, type K8sObject } from "./strict-k8s.js";

const REPO = path.resolve(import.meta.dirname, "../..");

/** Secrets in their shape: the offline engine's `b64` provider keeps base64 of the JSON value. */
function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (o[SECRET_SIG_KEY] !== undefined) {
      return plain(JSON.parse(Buffer.from(String(o.ciphertext), "base64").toString("utf8")));
    }
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

describe("rendered Kubernetes objects, unknown fields refused", () => {
  it("every object of every stage validates; a planted unknown field does not", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "goose-strict-"));
    prepareWorkspace(REPO, dir);
    const engine = new OfflineEngine({ cwd: dir, env: { PATH: process.env.PATH } });
    const objects: K8sObject[] = [];
    for (const stage of STAGES) {
      await engine.up(stage);
      const state = JSON.parse(
        readFileSync(path.join(dir, `.goose/offline-state/${stage}.json`), "utf8"),
      ) as StackExport;
      for (const r of state.deployment.resources ?? []) {
        if (!r.type.startsWith("kubernetes:") || !r.custom) continue;
        if (r.type.startsWith("pulumi:providers:")) continue;
        const inputs = plain((r as { inputs?: unknown }).inputs) as Record<string, unknown>;
        const name = (inputs.metadata as { name?: string } | undefined)?.name ?? r.urn;
        objects.push({ type: r.type, name: `${stage}/${name}`, object: inputs });
      }
    }
    expect(objects.length).toBeGreaterThan(80);
    // The planted field: a misspelt container field, deep in a pod template.
    const deployment = objects.find((o) => o.type === "kubernetes:apps/v1:Deployment")!;
    const planted = structuredClone(deployment.object) as {
      spec: { template: { spec: { containers: Record<string, unknown>[] } } };
    };
    planted.spec.template.spec.containers[0]!.imagePullPolicyy = "Always";
    const problems = schemaProblems([
      ...objects,
      { type: deployment.type, name: "planted", object: planted },
    ]);
    expect(problems).toEqual([
      expect.stringMatching(
        /^kubernetes:apps\/v1:Deployment planted: .*'"imagePullPolicyy"' does not exist in type/,
      ),
    ]);
  }, 240_000);
});

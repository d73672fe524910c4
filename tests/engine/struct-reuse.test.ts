/**
 * The offline preview sends the policy pack each property bag as the Struct the render received
 * it in (src/policy/struct-cache.ts) instead of converting the plain object back. This holds only
 * while the two are the same bytes on the wire: every bag of a render with nested lists, numbers,
 * booleans, nulls, secrets, unknowns and component outputs is checked against
 * `Struct.fromJavaScript` of the plain object.
 */
import { createRequire } from "node:module";
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { describe, expect, it } from "vitest";
import { renderStage } from "../../src/engine/offline/render.js";
import { rememberedStruct } from "../../src/policy/struct-cache.js";

const fromPulumi = createRequire(createRequire(import.meta.url).resolve("@pulumi/pulumi"));
const { Struct } = fromPulumi("google-protobuf/google/protobuf/struct_pb") as {
  Struct: { fromJavaScript(v: unknown): { serializeBinary(): Uint8Array } };
};

class Box extends pulumi.ComponentResource {
  constructor(name: string) {
    super("test:index:Box", name, { size: 3 }, {});
    const bucket = new aws.s3.Bucket(`${name}-bucket`, { tags: { a: "1" } }, { parent: this });
    const pw = new random.RandomPassword(`${name}-pw`, { length: 24 }, { parent: this });
    new k8s.apps.v1.Deployment(
      `${name}-deploy`,
      {
        metadata: { name, labels: { app: name } },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: name } },
          template: {
            metadata: { labels: { app: name } },
            spec: {
              containers: [
                {
                  name: "app",
                  image: "quay.io/prometheus/prometheus:v3.5.0",
                  args: ["--a", "--b=1.5"],
                  env: [{ name: "PW", value: pw.result }],
                  ports: [{ containerPort: 9090 }],
                  securityContext: { runAsNonRoot: true, readOnlyRootFilesystem: false },
                },
              ],
            },
          },
        },
      },
      { parent: this, dependsOn: [bucket] },
    );
    this.registerOutputs({ arn: bucket.arn, count: 2, none: null, list: [1, "x", true] });
  }
}

describe("render: the Structs handed to the policy run", () => {
  it("serialise to the same bytes as the plain bags they stand for", async () => {
    const rendered = await renderStage({
      stage: "sandbox",
      config: { "golden-goose:x": "1" },
      secretKeys: [],
      dryRun: true,
      program: () => {
        new Box("box");
        new k8s.core.v1.ConfigMap("cm", { data: { "a.yaml": "x: 1\n" } });
        return { secret: pulumi.secret("s") };
      },
    });
    let checked = 0;
    for (const r of rendered.resources) {
      for (const bag of [r.inputs, r.outputs]) {
        const s = rememberedStruct(bag) as { serializeBinary(): Uint8Array } | undefined;
        if (!s) continue;
        expect(Buffer.from(s.serializeBinary())).toEqual(
          Buffer.from(Struct.fromJavaScript(bag).serializeBinary()),
        );
        checked++;
      }
    }
    // Box, bucket, password, deployment, config map: inputs and outputs each.
    expect(checked).toBeGreaterThanOrEqual(10);
    const box = rendered.resources.find((r) => r.type === "test:index:Box")!;
    expect(box.outputs).toMatchObject({ count: 2, list: [1, "x", true] });
  });
});

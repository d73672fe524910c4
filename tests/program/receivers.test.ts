/**
 * Alertmanager receiver credentials set with `pulumi config set --secret` reach a Kubernetes
 * Secret as Pulumi secrets, and nowhere else.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { PROJECT } from "../../src/config/index.js";
import {
  installMocks,
  setStackConfig,
  settle,
  unwrap,
  type Registered,
} from "../helpers/pulumi-mocks.js";

const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const ROUTING_KEY = "routing-key-under-test-7f3a";
const mocks = installMocks("compliance");
setStackConfig("compliance");
pulumi.runtime.setConfig(`${PROJECT}:pagerdutyRoutingKey`, ROUTING_KEY);
let resources: Registered[];

beforeAll(async () => {
  const program = (await import("../../src/program/index.js")) as Record<string, unknown>;
  await unwrap(program["grafanaUrl"] as pulumi.Output<string>);
  await settle();
  resources = mocks.resources;
});

describe("Alertmanager receiver credentials", () => {
  it("land in the alertmanager-receivers Secret, marked secret", () => {
    const secret = resources.find(
      (r) =>
        r.type === "kubernetes:core/v1:Secret" &&
        (r.inputs["metadata"] as { name?: string }).name === "alertmanager-receivers",
    );
    expect(secret).toBeDefined();
    const stringData = secret?.inputs["stringData"] as Record<string, unknown>;
    expect(stringData[SECRET_SIG]).toBeDefined();
    expect((stringData["value"] as Record<string, string>)["pagerduty-routing-key"]).toBe(
      ROUTING_KEY,
    );
  });

  it("appear in no other resource's inputs", () => {
    const leaking = resources.filter(
      (r) =>
        (r.inputs["metadata"] as { name?: string } | undefined)?.name !==
          "alertmanager-receivers" && JSON.stringify(r.inputs).includes(ROUTING_KEY),
    );
    expect(leaking.map((r) => r.name)).toEqual([]);
  });

  it("are mounted read-only into Alertmanager from a required Secret volume", () => {
    const dep = resources.find(
      (r) =>
        r.type === "kubernetes:apps/v1:Deployment" &&
        (r.inputs["metadata"] as { name?: string }).name === "alertmanager",
    );
    const spec = (dep?.inputs["spec"] as { template: { spec: Record<string, unknown> } }).template
      .spec;
    expect(spec["volumes"]).toContainEqual({
      name: "receivers",
      secret: { secretName: "alertmanager-receivers" },
    });
  });
});

import * as k8s from "@pulumi/kubernetes";
import { describe, expect, it } from "vitest";
import {
  k8sSecretFromPulumiSecret,
  noLiteralSecretEnv,
} from "../../policy-pack/policies/secrets.js";
import { SECRET_SIG, SPECIAL_SIG_KEY } from "../../policy-pack/policies/util.js";
import { backupCronJob, grafanaDeployment, secretStack } from "./fixtures.js";
import {
  readPackConfig,
  runResourcePolicy,
  runStackPolicy,
  UNKNOWN,
  type StackResourceInput,
} from "./harness.js";

const production = readPackConfig("production");

describe("no-literal-secret-env", () => {
  it("passes secretKeyRef values and names that only refer to a secret (KMS_KEY_ARN)", async () => {
    for (const input of [
      { type: k8s.apps.v1.Deployment, props: grafanaDeployment() },
      { type: k8s.batch.v1.CronJob, props: backupCronJob() },
    ]) {
      expect((await runResourcePolicy(noLiteralSecretEnv, input, production)).violations).toEqual(
        [],
      );
    }
  });
  it("flags a password, a token and an API key given as literals", async () => {
    const props = grafanaDeployment([
      { name: "GF_SECURITY_ADMIN_PASSWORD", value: "hunter2" },
      { name: "GITHUB_TOKEN", value: "ghp_x" },
      { name: "api_key", value: "k" },
      { name: "MONKEY_BUSINESS", value: "fine" },
      { name: "PWD", value: "/app" },
    ]);
    const r = await runResourcePolicy(
      noLiteralSecretEnv,
      { type: k8s.apps.v1.Deployment, name: "grafana", props },
      production,
    );
    expect(r.violations.map((v) => v.message.split(" (")[0])).toEqual([
      'Deployment "grafana": container "grafana" sets GF_SECURITY_ADMIN_PASSWORD',
      'Deployment "grafana": container "grafana" sets GITHUB_TOKEN',
      'Deployment "grafana": container "grafana" sets api_key',
    ]);
    expect(r.violations[0]?.message).toMatch(
      /env\[3\]\) to a literal value.*valueFrom: \{ secretKeyRef/,
    );
    // The message never repeats the value.
    expect(r.violations.map((v) => v.message).join("\n")).not.toContain("hunter2");
  });
  it("flags a value computed during preview too: it still lands in the pod spec in plain text", async () => {
    const props = grafanaDeployment([{ name: "DB_PASSWORD", value: UNKNOWN }]);
    const r = await runResourcePolicy(
      noLiteralSecretEnv,
      { type: k8s.apps.v1.Deployment, props },
      production,
    );
    expect(r.violations).toHaveLength(1);
  });
  it("honours allowedNames from the config", async () => {
    const props = grafanaDeployment([{ name: "KEY_ROTATION_DAYS", value: "30" }]);
    const input = { type: k8s.apps.v1.Deployment, props };
    expect(
      (await runResourcePolicy(noLiteralSecretEnv, input, production)).violations,
    ).toHaveLength(1);
    const cfg = { ...production, "no-literal-secret-env": { allowedNames: ["KEY_ROTATION_DAYS"] } };
    expect((await runResourcePolicy(noLiteralSecretEnv, input, cfg)).violations).toEqual([]);
  });
});

describe("k8s-secret-from-pulumi-secret", () => {
  it("passes a Secret whose stringData depends on a RandomPassword", async () => {
    const stack = secretStack({ propertyDependencies: { stringData: ["grafana-admin-password"] } });
    expect((await runStackPolicy(k8sSecretFromPulumiSecret, stack, production)).violations).toEqual(
      [],
    );
  });
  it("passes a dependency on any resource with additionalSecretOutputs, or a plain dependency list", async () => {
    const stack = secretStack({ dependencies: ["grafana-admin-password"] });
    expect((await runStackPolicy(k8sSecretFromPulumiSecret, stack, production)).violations).toEqual(
      [],
    );
  });
  it("passes values still secret-marked or unknown during preview", async () => {
    const marked = secretStack(
      { props: { stringData: { [SPECIAL_SIG_KEY]: SECRET_SIG, value: { password: "x" } } } },
      false,
    );
    expect(
      (await runStackPolicy(k8sSecretFromPulumiSecret, marked, production)).violations,
    ).toEqual([]);
    const unknown = secretStack({ props: { stringData: { password: UNKNOWN } } }, false);
    expect(
      (await runStackPolicy(k8sSecretFromPulumiSecret, unknown, production)).violations,
    ).toEqual([]);
  });
  it("flags a Secret filled with literals, naming the keys but never the values", async () => {
    const r = await runStackPolicy(k8sSecretFromPulumiSecret, secretStack({}, false), production);
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0]?.urn).toContain("kubernetes:core/v1:Secret::grafana-admin");
    expect(r.violations[0]?.message).toMatch(/literal values in stringData \("user", "password"\)/);
    expect(r.violations[0]?.message).not.toContain('"x"');
  });
  it("passes a Secret named in configSecretNames (filled from encrypted stack config)", async () => {
    const stack = secretStack(
      { props: { metadata: { name: "alertmanager-receivers" }, stringData: { key: "x" } } },
      false,
    );
    expect((await runStackPolicy(k8sSecretFromPulumiSecret, stack, production)).violations).toEqual(
      [],
    );
    const other = secretStack(
      { props: { metadata: { name: "something-else" }, stringData: { key: "x" } } },
      false,
    );
    expect(
      (await runStackPolicy(k8sSecretFromPulumiSecret, other, production)).violations,
    ).toHaveLength(1);
  });
  it("flags a Secret whose only dependency produces no secrets (the Secret's own options do not count)", async () => {
    const stack: StackResourceInput[] = [
      { type: k8s.core.v1.Namespace, name: "ns", props: {} },
      ...secretStack({ propertyDependencies: { stringData: ["ns"] } }, false),
    ];
    expect(
      (await runStackPolicy(k8sSecretFromPulumiSecret, stack, production)).violations,
    ).toHaveLength(1);
  });
  it("is not applicable without Kubernetes Secrets", async () => {
    const r = await runStackPolicy(
      k8sSecretFromPulumiSecret,
      [{ type: k8s.core.v1.ConfigMap, name: "c", props: {} }],
      production,
    );
    expect(r.notApplicable).toBe(
      "Policy only applies to resources of type 'kubernetes:core/v1:Secret'",
    );
  });
});

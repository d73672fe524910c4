import { describe, expect, it } from "vitest";
import {
  alertmanagerReceiversConfigured,
  imageRepository,
  k8sAllowedRegistries,
  k8sNetworkPolicyCoverage,
  kmsKeyProtected,
  prometheusAdminApiLoopback,
  selects,
} from "../../policy-pack/policies/platform.js";
import { readPackConfig, runResourcePolicy, runStackPolicy } from "./harness.js";
import {
  networkStack,
  protectedBucketStack,
  receiversStack,
  workload,
} from "./platform-fixtures.js";
import { IMAGES } from "../../src/config/defaults.js";

const production = readPackConfig("production");
const sandbox = readPackConfig("sandbox");

describe("k8s-allowed-registries", () => {
  it("knows Docker Hub's implicit parts", () => {
    expect(imageRepository("grafana/grafana:12.1.1")).toBe("docker.io/grafana/grafana");
    expect(imageRepository("busybox")).toBe("docker.io/library/busybox");
    expect(imageRepository("localhost:5000/x/y:1@sha256:" + "a".repeat(64))).toBe(
      "localhost:5000/x/y",
    );
    expect(imageRepository("public.ecr.aws/aws-cli/aws-cli:2.27.60")).toBe(
      "public.ecr.aws/aws-cli/aws-cli",
    );
  });
  it("passes every image the stages ship by default", async () => {
    for (const image of Object.values(IMAGES)) {
      const r = await runResourcePolicy(k8sAllowedRegistries, workload("x", { image }), production);
      expect(r.violations, image).toEqual([]);
    }
  });
  it("flags the Bitnami kubectl image (and a look-alike prefix), mandatory in production", async () => {
    for (const image of [
      "docker.io/bitnami/kubectl:1.33.3",
      "quay.io/prometheus-fork/prometheus:v1",
      "grafana/grafana:12.1.1x",
    ]) {
      const r = await runResourcePolicy(k8sAllowedRegistries, workload("x", { image }), production);
      if (image.startsWith("grafana/")) {
        expect(r.violations).toEqual([]); // docker.io/grafana/ is allowed; the tag is another policy's job
        continue;
      }
      expect(r.violations, image).toHaveLength(1);
      expect(r.violations[0]?.level).toBe("mandatory");
    }
  });
  it("is advisory in sandbox", async () => {
    const r = await runResourcePolicy(
      k8sAllowedRegistries,
      workload("x", { image: "docker.io/bitnami/kubectl:1.33.3" }),
      sandbox,
    );
    expect(r.violations[0]?.level).toBe("advisory");
  });
});

describe("prometheus-admin-api-loopback", () => {
  it("accepts loopback listeners and a Prometheus without the admin API", async () => {
    for (const args of [
      ["--web.enable-admin-api", "--web.listen-address=localhost:9090"],
      ["--web.listen-address=0.0.0.0:9090"],
    ]) {
      expect(
        (await runResourcePolicy(prometheusAdminApiLoopback, workload("p", { args }), production))
          .violations,
      ).toEqual([]);
    }
  });
  it("flags the admin API on every interface, or on any non-loopback listener", async () => {
    for (const args of [
      ["--web.enable-admin-api", "--web.listen-address=0.0.0.0:9090"],
      [
        "--web.enable-admin-api",
        "--web.listen-address=127.0.0.1:9090",
        "--web.listen-address=:9091",
      ],
    ]) {
      const r = await runResourcePolicy(
        prometheusAdminApiLoopback,
        workload("p", { args }),
        production,
      );
      expect(r.violations, args.join(" ")).toHaveLength(1);
    }
  });
});

describe("k8s-network-policy-coverage", () => {
  it("selector semantics", () => {
    const l = { "app.kubernetes.io/name": "grafana", "app.kubernetes.io/part-of": "golden-goose" };
    expect(selects({}, l)).toBe(true);
    expect(selects({ matchLabels: { "app.kubernetes.io/name": "grafana" } }, l)).toBe(true);
    expect(
      selects(
        {
          matchExpressions: [
            { key: "app.kubernetes.io/part-of", operator: "NotIn", values: ["golden-goose"] },
          ],
        },
        l,
      ),
    ).toBe(false);
    expect(selects({ matchExpressions: [{ key: "x", operator: "NotIn", values: ["y"] }] }, l)).toBe(
      true,
    );
    expect(selects({ matchExpressions: [{ key: "x", operator: "Exists" }] }, l)).toBe(false);
  });
  it("passes when a default deny and a policy per workload exist", async () => {
    expect(
      (
        await runStackPolicy(
          k8sNetworkPolicyCoverage,
          networkStack(["prometheus", "grafana"]),
          production,
        )
      ).violations,
    ).toEqual([]);
  });
  it("flags an uncovered workload and a namespace without default deny", async () => {
    const r = await runStackPolicy(
      k8sNetworkPolicyCoverage,
      networkStack(["grafana"], { denyAll: false }),
      production,
    );
    expect(r.violations.map((v) => v.message)).toEqual([
      expect.stringMatching(/goose-production has workloads but no default-deny NetworkPolicy/),
      expect.stringMatching(/Deployment "prometheus" is selected by no NetworkPolicy of its own/),
    ]);
    expect(r.violations[0]?.level).toBe("mandatory");
  });
});

describe("kms-key-protected", () => {
  it("passes a protected key and flags an unprotected one under a protected bucket", async () => {
    expect(
      (await runStackPolicy(kmsKeyProtected, protectedBucketStack(true), production)).violations,
    ).toEqual([]);
    const r = await runStackPolicy(kmsKeyProtected, protectedBucketStack(false), production);
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0]?.urn).toContain("backup-key");
  });
});

describe("alertmanager-receivers-configured", () => {
  it("passes a Secret from the stack or one declared external; flags a missing one", async () => {
    expect(
      (await runStackPolicy(alertmanagerReceiversConfigured, receiversStack("stack"), production))
        .violations,
    ).toEqual([]);
    expect(
      (
        await runStackPolicy(
          alertmanagerReceiversConfigured,
          receiversStack("external"),
          production,
        )
      ).violations,
    ).toEqual([]);
    const p = await runStackPolicy(
      alertmanagerReceiversConfigured,
      receiversStack("missing"),
      production,
    );
    expect(p.violations[0]?.level).toBe("mandatory");
    const s = await runStackPolicy(
      alertmanagerReceiversConfigured,
      receiversStack("missing"),
      sandbox,
    );
    expect(s.violations[0]?.level).toBe("advisory");
  });
});

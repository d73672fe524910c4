import * as k8s from "@pulumi/kubernetes";
import { describe, expect, it } from "vitest";
import {
  k8sImagePinned,
  k8sNoHostNamespaces,
  k8sNoHostPath,
  k8sNoPrivileged,
  k8sNoPrivilegeEscalation,
  k8sProbes,
  k8sRequiredLabels,
  k8sResourcesRequestsLimits,
  k8sRunAsNonRoot,
  parseImage,
} from "../../policy-pack/policies/workloads.js";
import {
  backupCronJob,
  container,
  grafanaDeployment,
  labels,
  prometheusStatefulSet,
} from "./fixtures.js";
import { readPackConfig, runResourcePolicy, UNKNOWN, type ResourceInput } from "./harness.js";

const production = readPackConfig("production");
const sandbox = readPackConfig("sandbox");

const deployment = (props = grafanaDeployment()): ResourceInput => ({
  type: k8s.apps.v1.Deployment,
  name: "grafana",
  props,
});

/** The Grafana Deployment with its first container changed by `edit`. */
function withContainer(edit: (c: Record<string, unknown>) => void): ResourceInput {
  const props = grafanaDeployment();
  const c = (props as { spec: { template: { spec: { containers: Record<string, unknown>[] } } } })
    .spec.template.spec.containers[0];
  if (!c) throw new Error("fixture has no container");
  edit(c);
  return deployment(props);
}

/** The six workload kinds, each compliant, carrying the given container. */
function everyKind(c: Record<string, unknown>): ResourceInput[] {
  const l = labels("w");
  const pod = { securityContext: { runAsNonRoot: true }, containers: [c] };
  const tpl = { metadata: { labels: l }, spec: pod };
  const metadata = { name: "w", labels: l };
  return [
    { type: k8s.apps.v1.Deployment, props: { metadata, spec: { template: tpl } } },
    { type: k8s.apps.v1.StatefulSet, props: { metadata, spec: { template: tpl } } },
    { type: k8s.apps.v1.DaemonSet, props: { metadata, spec: { template: tpl } } },
    { type: k8s.batch.v1.Job, props: { metadata, spec: { template: tpl } } },
    {
      type: k8s.batch.v1.CronJob,
      props: { metadata, spec: { jobTemplate: { spec: { template: tpl } } } },
    },
    { type: k8s.core.v1.Pod, props: { metadata, spec: pod } },
  ];
}

describe("k8s-resources-requests-limits", () => {
  it("passes the shipped workloads", async () => {
    for (const input of [deployment(), { type: k8s.batch.v1.CronJob, props: backupCronJob() }]) {
      expect(
        (await runResourcePolicy(k8sResourcesRequestsLimits, input, production)).violations,
      ).toEqual([]);
    }
  });
  it("flags a container without limits in every workload kind, naming the fields", async () => {
    const c = container("app", "example.com/app:1.0.0", {
      resources: { requests: { cpu: "100m", memory: "64Mi" } },
    });
    for (const input of everyKind(c)) {
      const r = await runResourcePolicy(k8sResourcesRequestsLimits, input, production);
      expect(r.violations, String(input.type)).toHaveLength(1);
      expect(r.violations[0]?.message).toMatch(
        /container "app" \(.*containers\[0\]\) has no resources.limits.memory, resources.limits.cpu/,
      );
    }
  });
  it("checks init containers too", async () => {
    const job = backupCronJob();
    const spec = (
      job as {
        spec: {
          jobTemplate: {
            spec: { template: { spec: { initContainers: Record<string, unknown>[] } } };
          };
        };
      }
    ).spec.jobTemplate.spec.template.spec;
    delete spec.initContainers[0]?.["resources"];
    const r = await runResourcePolicy(
      k8sResourcesRequestsLimits,
      { type: k8s.batch.v1.CronJob, props: job },
      production,
    );
    expect(r.violations[0]?.message).toMatch(
      /container "collect" \(spec.jobTemplate.spec.template.spec.initContainers\[0\]\)/,
    );
  });
  it("is not applicable to a ConfigMap", async () => {
    const r = await runResourcePolicy(
      k8sResourcesRequestsLimits,
      { type: k8s.core.v1.ConfigMap, props: {} },
      production,
    );
    expect(r.notApplicable).toMatch(/only applies to workloads/);
  });
});

describe("k8s-image-pinned", () => {
  it("parses image references", () => {
    expect(parseImage("quay.io/prometheus/prometheus:v3.5.0")).toEqual({
      name: "quay.io/prometheus/prometheus",
      tag: "v3.5.0",
    });
    expect(parseImage("localhost:5000/app")).toEqual({ name: "localhost:5000/app" });
    expect(parseImage(`app@sha256:${"a".repeat(64)}`)).toEqual({
      name: "app",
      digest: `sha256:${"a".repeat(64)}`,
    });
  });
  it("passes exact tags", async () => {
    expect((await runResourcePolicy(k8sImagePinned, deployment(), production)).violations).toEqual(
      [],
    );
  });
  it("flags latest and a missing tag", async () => {
    const latest = await runResourcePolicy(
      k8sImagePinned,
      withContainer((c) => (c["image"] = "grafana/grafana:latest")),
      production,
    );
    expect(latest.violations[0]?.message).toMatch(
      /uses "grafana\/grafana:latest": the tag "latest" moves/,
    );
    const bare = await runResourcePolicy(
      k8sImagePinned,
      withContainer((c) => (c["image"] = "localhost:5000/grafana")),
      production,
    );
    expect(bare.violations[0]?.message).toMatch(/with no tag, which means "latest"/);
  });
  it("requires a digest when the config asks", async () => {
    const cfg = { ...production, "k8s-image-pinned": { requireDigest: true } };
    const r = await runResourcePolicy(k8sImagePinned, deployment(), cfg);
    expect(r.violations[0]?.message).toMatch(/without a digest/);
    const pinned = withContainer(
      (c) => (c["image"] = `docker.io/grafana/grafana:12.1.1@sha256:${"b".repeat(64)}`),
    );
    expect((await runResourcePolicy(k8sImagePinned, pinned, cfg)).violations).toEqual([]);
  });
  it("reports an image unknown during preview as can't-run, not as a violation", async () => {
    const r = await runResourcePolicy(
      k8sImagePinned,
      withContainer((c) => (c["image"] = UNKNOWN)),
      production,
    );
    expect(r.violations).toEqual([]);
    expect(r.unknown).toMatch(
      /string value at .spec.template.spec.containers.0.image can't be known during preview/,
    );
  });
});

describe("k8s-run-as-non-root", () => {
  it("passes runAsNonRoot from the pod or the container", async () => {
    expect((await runResourcePolicy(k8sRunAsNonRoot, deployment(), production)).violations).toEqual(
      [],
    );
  });
  it("flags a container that may run as root, and runAsUser 0", async () => {
    const props = grafanaDeployment();
    const spec = (props as { spec: { template: { spec: Record<string, unknown> } } }).spec.template
      .spec;
    spec["securityContext"] = {};
    (spec["containers"] as Record<string, unknown>[])[0]!["securityContext"] = {
      allowPrivilegeEscalation: false,
    };
    const r = await runResourcePolicy(k8sRunAsNonRoot, deployment(props), production);
    expect(r.violations[0]?.message).toMatch(
      /may run as root. Set runAsNonRoot: true in spec.template.spec.securityContext/,
    );
    const root = await runResourcePolicy(
      k8sRunAsNonRoot,
      withContainer((c) => (c["securityContext"] = { runAsUser: 0 })),
      production,
    );
    expect(root.violations[0]?.message).toMatch(/runs as user 0 \(root\)/);
  });
});

describe("k8s-no-privilege-escalation", () => {
  it("passes allowPrivilegeEscalation: false", async () => {
    expect(
      (await runResourcePolicy(k8sNoPrivilegeEscalation, deployment(), production)).violations,
    ).toEqual([]);
  });
  it("flags it unset", async () => {
    const r = await runResourcePolicy(
      k8sNoPrivilegeEscalation,
      withContainer((c) => (c["securityContext"] = { runAsNonRoot: true })),
      production,
    );
    expect(r.violations[0]?.message).toMatch(
      /spec.template.spec.containers\[0\].securityContext.allowPrivilegeEscalation: false/,
    );
  });
});

describe("k8s-no-privileged", () => {
  it("passes an unprivileged container", async () => {
    expect((await runResourcePolicy(k8sNoPrivileged, deployment(), production)).violations).toEqual(
      [],
    );
  });
  it("flags privileged: true", async () => {
    const r = await runResourcePolicy(
      k8sNoPrivileged,
      withContainer((c) => (c["securityContext"] = { privileged: true })),
      production,
    );
    expect(r.violations[0]?.message).toMatch(/is privileged/);
  });
});

describe("k8s-no-host-path", () => {
  it("passes emptyDir and claims", async () => {
    const r = await runResourcePolicy(
      k8sNoHostPath,
      { type: k8s.batch.v1.CronJob, props: backupCronJob() },
      production,
    );
    expect(r.violations).toEqual([]);
  });
  it("flags a hostPath volume", async () => {
    const props = prometheusStatefulSet();
    (props as { spec: { template: { spec: Record<string, unknown> } } }).spec.template.spec[
      "volumes"
    ] = [{ name: "node", hostPath: { path: "/var/lib" } }];
    const r = await runResourcePolicy(
      k8sNoHostPath,
      { type: k8s.apps.v1.StatefulSet, props },
      production,
    );
    expect(r.violations[0]?.message).toMatch(
      /volume "node" \(spec.template.spec.volumes\[0\]\) is a hostPath/,
    );
  });
});

describe("k8s-no-host-namespaces", () => {
  it("passes a pod in its own namespaces", async () => {
    expect(
      (await runResourcePolicy(k8sNoHostNamespaces, deployment(), production)).violations,
    ).toEqual([]);
  });
  it("flags hostNetwork and hostPID", async () => {
    const props = grafanaDeployment();
    Object.assign(
      (props as { spec: { template: { spec: Record<string, unknown> } } }).spec.template.spec,
      {
        hostNetwork: true,
        hostPID: true,
      },
    );
    const r = await runResourcePolicy(k8sNoHostNamespaces, deployment(props), production);
    expect(r.violations.map((v) => v.message)).toEqual([
      expect.stringMatching(/sets spec.template.spec.hostNetwork: true/),
      expect.stringMatching(/sets spec.template.spec.hostPID: true/),
    ]);
  });
});

describe("k8s-probes", () => {
  it("passes probes on a long-running container", async () => {
    expect((await runResourcePolicy(k8sProbes, deployment(), production)).violations).toEqual([]);
  });
  it("flags a Deployment container without probes", async () => {
    const r = await runResourcePolicy(
      k8sProbes,
      withContainer((c) => {
        delete c["livenessProbe"];
        delete c["readinessProbe"];
      }),
      production,
    );
    expect(r.violations[0]?.message).toMatch(/has no readinessProbe or livenessProbe/);
  });
  it("does not apply to CronJobs or run-to-completion Pods", async () => {
    const cron = await runResourcePolicy(
      k8sProbes,
      { type: k8s.batch.v1.CronJob, props: backupCronJob() },
      production,
    );
    expect(cron.notApplicable).toMatch(/runs to completion/);
    const pod = await runResourcePolicy(
      k8sProbes,
      {
        type: k8s.core.v1.Pod,
        props: { spec: { restartPolicy: "Never", containers: [{ name: "x" }] } },
      },
      production,
    );
    expect(pod.notApplicable).toMatch(/runs to completion/);
  });
});

describe("k8s-required-labels", () => {
  it("passes a labelled workload and a labelled ConfigMap", async () => {
    expect(
      (await runResourcePolicy(k8sRequiredLabels, deployment(), production)).violations,
    ).toEqual([]);
    const cm = {
      type: k8s.core.v1.ConfigMap,
      props: { metadata: { labels: labels("prometheus-rules") } },
    };
    expect((await runResourcePolicy(k8sRequiredLabels, cm, production)).violations).toEqual([]);
  });
  it("flags missing labels on the object and on its pod template", async () => {
    const props = grafanaDeployment();
    const meta = (props as { metadata: { labels: Record<string, string> } }).metadata;
    meta.labels = { "app.kubernetes.io/name": "grafana" };
    const r = await runResourcePolicy(k8sRequiredLabels, deployment(props), production);
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0]?.message).toMatch(
      /has no "app.kubernetes.io\/part-of", .*"goldengoose.io\/compliance-tier" in metadata.labels/,
    );
    const cron = backupCronJob();
    (
      cron as { spec: { jobTemplate: { spec: { template: { metadata: unknown } } } } }
    ).spec.jobTemplate.spec.template.metadata = {};
    const c = await runResourcePolicy(
      k8sRequiredLabels,
      { type: k8s.batch.v1.CronJob, props: cron },
      production,
    );
    expect(c.violations[0]?.message).toMatch(/in spec.jobTemplate.spec.template.metadata.labels/);
  });
  it("flags a stage label that names another stage", async () => {
    const r = await runResourcePolicy(k8sRequiredLabels, deployment(), sandbox);
    expect(r.violations[0]?.message).toMatch(
      /\["goldengoose.io\/stage"\] = "production" but this is stage "sandbox"/,
    );
    expect(r.violations[0]?.level).toBe("advisory");
  });
  it("is not applicable to AWS resources", async () => {
    const r = await runResourcePolicy(
      k8sRequiredLabels,
      { type: "aws:s3/bucket:Bucket", props: {} },
      production,
    );
    expect(r.notApplicable).toBeDefined();
  });
});

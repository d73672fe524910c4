/**
 * The synthetic stack of the analyzer bench (bench/preview, part 3) and of its profile driver
 * (bench/preview/profile-pack.ts): Deployments, StatefulSets, ConfigMaps and S3 buckets in turn.
 */
import { emptyOptions, type AnalyzerResourceInput } from "../../src/policy/analyzer.js";

export function synthetic(n: number): AnalyzerResourceInput[] {
  const out: AnalyzerResourceInput[] = [];
  for (let i = 0; i < n; i++) {
    const kind = i % 4;
    const name = `r${i}`;
    const container = {
      name: "app",
      image: `quay.io/prometheus/prometheus:v3.5.${i % 10}`,
      resources: {
        requests: { cpu: "100m", memory: "128Mi" },
        limits: { cpu: "1", memory: "1Gi" },
      },
      securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, privileged: false },
      readinessProbe: { httpGet: { path: "/-/ready", port: 9090 } },
      livenessProbe: { httpGet: { path: "/-/healthy", port: 9090 } },
      env: [{ name: "LOG_LEVEL", value: "info" }],
    };
    const labels = { "app.kubernetes.io/name": name, owner: "platform", stage: "production" };
    let type: string;
    let properties: Record<string, unknown>;
    if (kind === 0 || kind === 1) {
      type = kind === 0 ? "kubernetes:apps/v1:Deployment" : "kubernetes:apps/v1:StatefulSet";
      properties = {
        apiVersion: "apps/v1",
        kind: kind === 0 ? "Deployment" : "StatefulSet",
        metadata: { name, namespace: "goose-production", labels },
        spec: {
          replicas: 2,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { securityContext: { runAsNonRoot: true }, containers: [container] },
          },
        },
      };
    } else if (kind === 2) {
      type = "kubernetes:core/v1:ConfigMap";
      properties = {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name, labels },
        data: { "a.yaml": "x: 1\n" },
      };
    } else {
      type = "aws:s3/bucket:Bucket";
      properties = { bucket: name, forceDestroy: false, tags: { owner: "platform" } };
    }
    out.push(resourceInput(type, name, properties));
  }
  return out;
}

/** A production-stack resource as the Analyzer gets it: no options, parent or dependencies. */
export function resourceInput(
  type: string,
  name: string,
  properties: Record<string, unknown>,
): AnalyzerResourceInput {
  return {
    urn: `urn:pulumi:production::golden-goose::${type}::${name}`,
    type,
    name,
    properties,
    options: emptyOptions(),
    dependencies: [],
    propertyDependencies: {},
  };
}

/**
 * Inputs for the platform policies (policy-pack/policies/platform.ts): workloads with their
 * NetworkPolicies, a protected bucket with its key, Alertmanager with its receivers Secret.
 */
import type { ResourceInput, StackResourceInput } from "./harness.js";

const NS = "goose-production";

export function workload(
  name: string,
  opts: {
    image?: string;
    args?: string[];
    annotations?: Record<string, string>;
    volumes?: unknown[];
  } = {},
): ResourceInput & { name: string } {
  return {
    type: "kubernetes:apps/v1:Deployment",
    name,
    props: {
      metadata: { name, namespace: NS },
      spec: {
        selector: { matchLabels: { "app.kubernetes.io/name": name } },
        template: {
          metadata: {
            labels: { "app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "golden-goose" },
            ...(opts.annotations ? { annotations: opts.annotations } : {}),
          },
          spec: {
            containers: [
              {
                name,
                image: opts.image ?? "quay.io/prometheus/prometheus:v3.5.0",
                ...(opts.args ? { args: opts.args } : {}),
              },
            ],
            ...(opts.volumes ? { volumes: opts.volumes } : {}),
          },
        },
      },
    },
  };
}

function networkPolicy(
  name: string,
  podSelector: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): StackResourceInput {
  return {
    type: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    name,
    props: { metadata: { name, namespace: NS }, spec: { podSelector, ...extra } },
  };
}

/** Two workloads; `covered` lists those with a NetworkPolicy of their own. */
export function networkStack(
  covered: string[],
  opts: { denyAll?: boolean } = {},
): StackResourceInput[] {
  return [
    workload("prometheus"),
    workload("grafana"),
    ...(opts.denyAll === false
      ? []
      : [networkPolicy("default-deny", {}, { policyTypes: ["Ingress", "Egress"] })]),
    ...covered.map((w) =>
      networkPolicy(
        `np-${w}`,
        { matchLabels: { "app.kubernetes.io/name": w } },
        { policyTypes: ["Ingress"] },
      ),
    ),
  ];
}

/** A protected bucket encrypted with a key that is (or is not) protected. */
export function protectedBucketStack(keyProtected: boolean): StackResourceInput[] {
  return [
    {
      type: "aws:kms/key:Key",
      name: "backup-key",
      props: { arn: "arn:aws:kms:eu-west-1:1:key/k" },
      opts: { protect: keyProtected },
    },
    {
      type: "aws:s3/bucket:Bucket",
      name: "backup-bucket",
      props: { bucket: "goose-production-backups-x" },
      opts: { protect: true },
    },
    {
      type: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
      name: "backup-encryption",
      props: {
        bucket: "goose-production-backups-x",
        rules: [
          {
            applyServerSideEncryptionByDefault: {
              sseAlgorithm: "aws:kms",
              kmsMasterKeyId: "arn:aws:kms:eu-west-1:1:key/k",
            },
          },
        ],
      },
      propertyDependencies: { bucket: ["backup-bucket"], rules: ["backup-key"] },
    },
  ];
}

const receiversVolume = [{ name: "receivers", secret: { secretName: "alertmanager-receivers" } }];

/** Alertmanager mounting the receivers Secret: in the stack, declared external, or missing. */
export function receiversStack(source: "stack" | "external" | "missing"): StackResourceInput[] {
  return [
    workload("alertmanager", {
      image: "quay.io/prometheus/alertmanager:v0.28.1",
      volumes: receiversVolume,
      ...(source === "external"
        ? { annotations: { "goldengoose.io/receivers-secret": "external" } }
        : {}),
    }),
    ...(source === "stack"
      ? [
          {
            type: "kubernetes:core/v1:Secret",
            name: "receivers",
            props: { metadata: { name: "alertmanager-receivers", namespace: NS } },
          },
        ]
      : []),
  ];
}

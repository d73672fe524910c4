/**
 * One passing and one failing input per policy, with the stage whose config applies. The gRPC
 * test sends every case to the real pack process; pack.test.ts checks every policy has a case.
 */
import {
  backupCronJob,
  bucketStack,
  componentStack,
  grafanaDeployment,
  grafanaWith,
  manyResources,
  metricsStack,
  prometheusStatefulSet,
  rulesStack,
  scrapeRulesStack,
  secretStack,
  volumeBackup,
} from "./fixtures.js";
import type { ResourceInput, StackResourceInput } from "./harness.js";
import {
  networkStack,
  protectedBucketStack,
  receiversStack,
  workload,
} from "./platform-fixtures.js";

export type Case =
  | {
      policy: string;
      stage: string;
      kind: "resource";
      pass: ResourceInput;
      fail: ResourceInput;
      expect: RegExp;
    }
  | {
      policy: string;
      stage: string;
      kind: "stack";
      pass: StackResourceInput[];
      fail: StackResourceInput[];
      expect: RegExp;
    };

const grafana: ResourceInput = {
  type: "kubernetes:apps/v1:Deployment",
  name: "grafana",
  props: grafanaDeployment(),
};
const prometheus = (retention: string): ResourceInput => ({
  type: "kubernetes:apps/v1:StatefulSet",
  name: "prometheus",
  props: prometheusStatefulSet(retention),
});

export const productionDropLabels = [
  "password",
  "token",
  "secret",
  "api_key",
  "authorization",
  "email",
  "user",
  "username",
  "client_ip",
];

export const CASES: Case[] = [
  {
    policy: "metrics-endpoints-protected",
    stage: "production",
    kind: "stack",
    pass: metricsStack(productionDropLabels),
    fail: metricsStack(productionDropLabels, { noWebConfig: true }),
    expect: /runs Prometheus without --web.config.file/,
  },
  {
    policy: "s3-bucket-encryption-kms",
    stage: "production",
    kind: "stack",
    pass: bucketStack(),
    fail: bucketStack({ encryption: null }),
    expect: /no server-side encryption configuration/,
  },
  {
    policy: "s3-bucket-versioning",
    stage: "production",
    kind: "stack",
    pass: bucketStack(),
    fail: bucketStack({ versioning: { versioningConfiguration: { status: "Suspended" } } }),
    expect: /"Suspended"/,
  },
  {
    policy: "s3-bucket-public-access-block",
    stage: "production",
    kind: "stack",
    pass: bucketStack(),
    fail: bucketStack({ publicAccess: { ignorePublicAcls: false } }),
    expect: /ignorePublicAcls/,
  },
  {
    policy: "s3-bucket-tls-only",
    stage: "production",
    kind: "stack",
    pass: bucketStack(),
    fail: bucketStack({ policy: null }),
    expect: /no bucket policy/,
  },
  {
    policy: "s3-bucket-lifecycle",
    stage: "production",
    kind: "stack",
    pass: bucketStack(),
    fail: bucketStack({
      lifecycle: { rules: [{ id: "short", status: "Enabled", expiration: { days: 7 } }] },
    }),
    expect: /after 7 days, below the minimum retention of 90 days/,
  },
  {
    policy: "s3-bucket-object-lock",
    stage: "production",
    kind: "stack",
    pass: bucketStack(),
    fail: bucketStack({ objectLock: null }),
    expect: /no object-lock configuration/,
  },
  {
    policy: "s3-bucket-no-force-destroy",
    stage: "compliance",
    kind: "resource",
    pass: { type: "aws:s3/bucket:Bucket", props: { bucketPrefix: "b-" } },
    fail: { type: "aws:s3/bucket:Bucket", props: { bucketPrefix: "b-", forceDestroy: true } },
    expect: /forceDestroy: true/,
  },
  {
    policy: "kms-key-rotation",
    stage: "compliance",
    kind: "resource",
    pass: { type: "aws:kms/key:Key", props: { enableKeyRotation: true } },
    fail: { type: "aws:kms/key:Key", props: { enableKeyRotation: false } },
    expect: /enableKeyRotation: true/,
  },
  {
    policy: "k8s-resources-requests-limits",
    stage: "production",
    kind: "resource",
    pass: grafana,
    fail: grafanaWith((c) => delete c["resources"]),
    expect: /has no resources.requests.cpu/,
  },
  {
    policy: "k8s-image-pinned",
    stage: "production",
    kind: "resource",
    pass: grafana,
    fail: grafanaWith((c) => (c["image"] = "docker.io/grafana/grafana:latest")),
    expect: /"latest"/,
  },
  {
    policy: "k8s-run-as-non-root",
    stage: "production",
    kind: "resource",
    pass: grafana,
    fail: grafanaWith(
      (c) => (c["securityContext"] = { runAsUser: 0, allowPrivilegeEscalation: false }),
    ),
    expect: /runs as user 0/,
  },
  {
    policy: "k8s-no-privilege-escalation",
    stage: "production",
    kind: "resource",
    pass: grafana,
    fail: grafanaWith((c) => (c["securityContext"] = { runAsNonRoot: true })),
    expect: /allows privilege escalation/,
  },
  {
    policy: "k8s-no-privileged",
    stage: "production",
    kind: "resource",
    pass: grafana,
    fail: grafanaWith((c) => (c["securityContext"] = { runAsNonRoot: true, privileged: true })),
    expect: /is privileged/,
  },
  {
    policy: "k8s-no-host-path",
    stage: "production",
    kind: "resource",
    pass: grafana,
    fail: grafanaWith((_c, pod) => (pod["volumes"] = [{ name: "node", hostPath: { path: "/" } }])),
    expect: /is a hostPath/,
  },
  {
    policy: "k8s-no-host-namespaces",
    stage: "production",
    kind: "resource",
    pass: grafana,
    fail: grafanaWith((_c, pod) => (pod["hostPID"] = true)),
    expect: /hostPID: true/,
  },
  {
    policy: "k8s-probes",
    stage: "production",
    kind: "resource",
    pass: grafana,
    fail: grafanaWith((c) => delete c["livenessProbe"]),
    expect: /has no livenessProbe/,
  },
  {
    policy: "k8s-required-labels",
    stage: "production",
    kind: "resource",
    pass: { type: "kubernetes:batch/v1:CronJob", name: "backup", props: backupCronJob() },
    fail: {
      type: "kubernetes:core/v1:ConfigMap",
      name: "loose",
      props: { metadata: { labels: { a: "b" } } },
    },
    expect: /has no "app.kubernetes.io\/name"/,
  },
  {
    policy: "no-literal-secret-env",
    stage: "production",
    kind: "resource",
    pass: grafana,
    fail: {
      type: "kubernetes:apps/v1:Deployment",
      name: "grafana",
      props: grafanaDeployment([{ name: "DB_PASSWORD", value: "p" }]),
    },
    expect: /sets DB_PASSWORD .* to a literal value/,
  },
  {
    policy: "k8s-secret-from-pulumi-secret",
    stage: "production",
    kind: "stack",
    pass: secretStack({ propertyDependencies: { stringData: ["grafana-admin-password"] } }),
    fail: secretStack({}, false),
    expect: /literal values in stringData/,
  },
  {
    policy: "prometheus-retention",
    stage: "production",
    kind: "resource",
    pass: prometheus("90d"),
    fail: prometheus("15d"),
    expect: /below this stage's minimum of 90 days/,
  },
  {
    policy: "grafana-no-anonymous-access",
    stage: "production",
    kind: "resource",
    pass: grafana,
    fail: {
      type: "kubernetes:core/v1:ConfigMap",
      name: "grafana-ini",
      props: { data: { "grafana.ini": "[auth.anonymous]\nenabled = true\n" } },
    },
    expect: /enables \[auth.anonymous\]/,
  },
  {
    policy: "prometheus-rule-files",
    stage: "production",
    kind: "stack",
    pass: rulesStack({ "alerts.yaml": "groups: []\n" }),
    fail: rulesStack({}),
    expect: /has no rule files/,
  },
  {
    policy: "prometheus-keeps-rule-metrics",
    stage: "production",
    kind: "stack",
    pass: scrapeRulesStack("http_.*"),
    fail: scrapeRulesStack("go_.*"),
    expect: /drops http_requests_total, which record job:http_requests:rate5m/,
  },
  {
    policy: "stack-required-components",
    stage: "production",
    kind: "stack",
    pass: componentStack(),
    fail: componentStack(["scanner"]),
    expect: /no goldengoose:security:Scanner component/,
  },
  {
    policy: "stack-backup-encrypted-s3",
    stage: "production",
    kind: "stack",
    pass: bucketStack(),
    fail: volumeBackup(),
    expect: /writes to a volume/,
  },
  {
    policy: "stack-resource-quota",
    stage: "production",
    kind: "stack",
    pass: manyResources(200),
    fail: manyResources(201),
    expect: /over its quota of 200/,
  },
  {
    policy: "k8s-allowed-registries",
    stage: "production",
    kind: "resource",
    pass: workload("grafana", { image: "docker.io/grafana/grafana:12.1.1" }),
    fail: workload("backup", { image: "docker.io/bitnami/kubectl:1.33.3" }),
    expect: /docker.io\/bitnami\/kubectl, which is not an allowed registry/,
  },
  {
    policy: "prometheus-admin-api-loopback",
    stage: "production",
    kind: "resource",
    pass: workload("prometheus", {
      args: ["--web.enable-admin-api", "--web.listen-address=127.0.0.1:9090"],
    }),
    fail: workload("prometheus", { args: ["--web.enable-admin-api"] }),
    expect: /enables the admin API and listens on 0.0.0.0:9090/,
  },
  {
    policy: "k8s-network-policy-coverage",
    stage: "production",
    kind: "stack",
    pass: networkStack(["prometheus", "grafana"]),
    fail: networkStack(["prometheus"]),
    expect: /Deployment "grafana" is selected by no NetworkPolicy of its own/,
  },
  {
    policy: "kms-key-protected",
    stage: "production",
    kind: "stack",
    pass: protectedBucketStack(true),
    fail: protectedBucketStack(false),
    expect: /KMS key "backup-key" encrypts the protected bucket "backup-bucket"/,
  },
  {
    policy: "alertmanager-receivers-configured",
    stage: "production",
    kind: "stack",
    pass: receiversStack("stack"),
    fail: receiversStack("missing"),
    expect: /mounts the Secret "alertmanager-receivers".*pulumi config set --secret/,
  },
];

/**
 * Resources shaped like the ones the stage program creates (src/components), as the analyzer
 * sees their inputs. Each builder returns a compliant resource; tests break one field at a time.
 */
import type { ResourceInput, StackResourceInput } from "./harness.js";

export const STAGE = "production";

export function labels(name = "grafana", stage = STAGE): Record<string, string> {
  return {
    "app.kubernetes.io/name": name,
    "app.kubernetes.io/component": name,
    "app.kubernetes.io/part-of": "golden-goose",
    "app.kubernetes.io/managed-by": "pulumi",
    "goldengoose.io/stage": stage,
    "goldengoose.io/owner": "platform",
    "goldengoose.io/cost-centre": "engineering",
    "goldengoose.io/compliance-tier": "regulated",
  };
}

const hardened = {
  runAsNonRoot: true,
  allowPrivilegeEscalation: false,
  privileged: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"] },
};

const probes = {
  livenessProbe: { httpGet: { path: "/-/healthy", port: 9090 } },
  readinessProbe: { httpGet: { path: "/-/ready", port: 9090 } },
};

export const resources = {
  requests: { cpu: "250m", memory: "512Mi" },
  limits: { cpu: "1", memory: "1Gi" },
};

export function container(name: string, image: string, extra: Record<string, unknown> = {}) {
  return { name, image, resources, securityContext: { ...hardened }, ...probes, ...extra };
}

function podSpec(containers: unknown[], extra: Record<string, unknown> = {}) {
  return {
    securityContext: { runAsNonRoot: true, runAsUser: 472, fsGroup: 472 },
    containers,
    ...extra,
  };
}

export function grafanaDeployment(env: unknown[] = []): Record<string, unknown> {
  const l = labels("grafana");
  return {
    metadata: { name: "grafana", namespace: "goose-production", labels: l },
    spec: {
      replicas: 2,
      selector: { matchLabels: { "app.kubernetes.io/name": "grafana" } },
      template: {
        metadata: { labels: l },
        spec: podSpec([
          container("grafana", "docker.io/grafana/grafana:12.1.1", {
            env: [
              {
                name: "GF_SECURITY_ADMIN_USER",
                valueFrom: { secretKeyRef: { name: "grafana-admin", key: "user" } },
              },
              {
                name: "GF_SECURITY_ADMIN_PASSWORD",
                valueFrom: { secretKeyRef: { name: "grafana-admin", key: "password" } },
              },
              { name: "GF_AUTH_ANONYMOUS_ENABLED", value: "false" },
              ...env,
            ],
          }),
        ]),
      },
    },
  };
}

export function prometheusStatefulSet(retention = "90d"): Record<string, unknown> {
  const l = labels("prometheus");
  return {
    metadata: { name: "prometheus", namespace: "goose-production", labels: l },
    spec: {
      replicas: 2,
      serviceName: "prometheus",
      selector: { matchLabels: { "app.kubernetes.io/name": "prometheus" } },
      template: {
        metadata: { labels: l },
        spec: podSpec([
          container("prometheus", "quay.io/prometheus/prometheus:v3.5.0", {
            args: [
              "--config.file=/etc/prometheus/prometheus.yml",
              "--storage.tsdb.path=/prometheus",
              `--storage.tsdb.retention.time=${retention}`,
            ],
          }),
        ]),
      },
      volumeClaimTemplates: [
        { metadata: { name: "data" }, spec: { resources: { requests: { storage: "200Gi" } } } },
      ],
    },
  };
}

export function backupCronJob(): Record<string, unknown> {
  const l = labels("backup");
  const c = container("upload", "docker.io/amazon/aws-cli:2.27.60", {
    env: [
      { name: "BUCKET", value: "goose-production-backups-abc" },
      { name: "KMS_KEY_ARN", value: "arn:aws:kms:eu-west-1:222222222222:key/1" },
    ],
  });
  delete (c as Record<string, unknown>)["livenessProbe"];
  delete (c as Record<string, unknown>)["readinessProbe"];
  return {
    metadata: { name: "backup", namespace: "goose-production", labels: l },
    spec: {
      schedule: "0 */4 * * *",
      jobTemplate: {
        metadata: { labels: l },
        spec: {
          template: {
            metadata: { labels: l },
            spec: podSpec([c], {
              restartPolicy: "Never",
              initContainers: [container("collect", "docker.io/bitnami/kubectl:1.33.3")],
              volumes: [{ name: "work", emptyDir: {} }],
            }),
          },
        },
      },
    },
  };
}

/** A compliant backup bucket with all its companions, under a Backup component (production shape). */
export function bucketStack(
  overrides: Partial<Record<string, Record<string, unknown> | null>> = {},
): StackResourceInput[] {
  const bucketName = "goose-production-backups-abc";
  const base: Record<string, StackResourceInput> = {
    stage: { type: "goldengoose:platform:Stage", name: "production", props: {} },
    backup: { type: "goldengoose:backup:Backup", name: "backup", parent: "production", props: {} },
    key: {
      type: "aws:kms/key:Key",
      name: "backup-key",
      parent: "backup",
      props: { enableKeyRotation: true, deletionWindowInDays: 30 },
    },
    bucket: {
      type: "aws:s3/bucket:Bucket",
      name: "backup-bucket",
      parent: "backup",
      props: {
        bucket: bucketName,
        bucketPrefix: "goose-production-backups-",
        objectLockEnabled: true,
      },
    },
    versioning: {
      type: "aws:s3/bucketVersioning:BucketVersioning",
      name: "backup-versioning",
      parent: "backup",
      props: { bucket: bucketName, versioningConfiguration: { status: "Enabled" } },
      propertyDependencies: { bucket: ["backup-bucket"] },
    },
    encryption: {
      type: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
      name: "backup-encryption",
      parent: "backup",
      props: {
        bucket: bucketName,
        rules: [
          {
            applyServerSideEncryptionByDefault: {
              sseAlgorithm: "aws:kms",
              kmsMasterKeyId: "arn:aws:kms:eu-west-1:222222222222:key/1",
            },
            bucketKeyEnabled: true,
          },
        ],
      },
      propertyDependencies: { bucket: ["backup-bucket"], rules: ["backup-key"] },
    },
    publicAccess: {
      type: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
      name: "backup-public-access",
      parent: "backup",
      props: {
        bucket: bucketName,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
    },
    policy: {
      type: "aws:s3/bucketPolicy:BucketPolicy",
      name: "backup-tls-only",
      parent: "backup",
      props: {
        bucket: bucketName,
        policy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "DenyInsecureTransport",
              Effect: "Deny",
              Principal: "*",
              Action: "s3:*",
              Resource: [`arn:aws:s3:::${bucketName}`, `arn:aws:s3:::${bucketName}/*`],
              Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
          ],
        }),
      },
    },
    lifecycle: {
      type: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
      name: "backup-lifecycle",
      parent: "backup",
      props: {
        bucket: bucketName,
        rules: [
          {
            id: "expire-backups",
            status: "Enabled",
            filter: {},
            expiration: { days: 90 },
            noncurrentVersionExpiration: { noncurrentDays: 90 },
          },
        ],
      },
    },
    objectLock: {
      type: "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
      name: "backup-object-lock",
      parent: "backup",
      props: {
        bucket: bucketName,
        objectLockEnabled: "Enabled",
        rule: { defaultRetention: { mode: "COMPLIANCE", days: 30 } },
      },
    },
  };
  const out: StackResourceInput[] = [];
  for (const [key, r] of Object.entries(base)) {
    const o = overrides[key];
    if (o === null) continue;
    out.push(o ? { ...r, props: { ...r.props, ...o } } : r);
  }
  return out;
}

/** The Grafana Deployment with its first container changed by `edit`. */
export function grafanaWith(
  edit: (c: Record<string, unknown>, pod: Record<string, unknown>) => void,
): ResourceInput {
  const props = grafanaDeployment();
  const pod = (props as { spec: { template: { spec: Record<string, unknown> } } }).spec.template
    .spec;
  const c = (pod["containers"] as Record<string, unknown>[])[0];
  if (!c) throw new Error("fixture has no container");
  edit(c, pod);
  return { type: "kubernetes:apps/v1:Deployment", name: "grafana", props };
}

/** The Grafana admin Secret as the stage program builds it, optionally with its password resource. */
export function secretStack(
  secret: Partial<StackResourceInput>,
  password = true,
): StackResourceInput[] {
  return [
    ...(password
      ? [
          {
            type: "random:index/randomPassword:RandomPassword",
            name: "grafana-admin-password",
            props: { length: 32, special: false },
            opts: { additionalSecretOutputs: ["bcryptHash", "result"] },
          },
        ]
      : []),
    {
      type: "kubernetes:core/v1:Secret",
      name: "grafana-admin",
      props: {
        metadata: { name: "grafana-admin", labels: labels() },
        stringData: { user: "admin", password: "x" },
      },
      opts: { additionalSecretOutputs: ["data", "stringData"] },
      ...secret,
    },
  ];
}

const COMPONENTS = {
  prometheus: "goldengoose:monitoring:Prometheus",
  grafana: "goldengoose:monitoring:Grafana",
  backup: "goldengoose:backup:Backup",
  scanner: "goldengoose:security:Scanner",
} as const;

/** The Stage with its four components, minus `omit`. */
export function componentStack(omit: string[] = []): StackResourceInput[] {
  return [
    { type: "goldengoose:platform:Stage", name: "production", props: {} },
    ...(Object.keys(COMPONENTS) as (keyof typeof COMPONENTS)[])
      .filter((c) => !omit.includes(c))
      .map((c) => ({ type: COMPONENTS[c], name: c, parent: "production", props: {} })),
  ];
}

/** A sandbox-style backup: a volume claim under the Backup component, no bucket. */
export function volumeBackup(): StackResourceInput[] {
  return [
    { type: "goldengoose:platform:Stage", name: "production", props: {} },
    { type: COMPONENTS.backup, name: "backup", parent: "production", props: {} },
    {
      type: "kubernetes:core/v1:PersistentVolumeClaim",
      name: "backup-volume",
      parent: "backup",
      props: {},
    },
    { type: "kubernetes:batch/v1:CronJob", name: "backup-job", parent: "backup", props: {} },
  ];
}

/** Prometheus with its rules ConfigMap holding `rules` (none when null). */
export function rulesStack(rules: Record<string, unknown> | null): StackResourceInput[] {
  return [
    { type: COMPONENTS.prometheus, name: "prometheus", props: {} },
    ...(rules
      ? [
          {
            type: "kubernetes:core/v1:ConfigMap",
            name: "prometheus-rules",
            parent: "prometheus",
            props: {
              metadata: {
                name: "prometheus-rules",
                labels: {
                  ...labels("prometheus"),
                  "app.kubernetes.io/component": "prometheus-rules",
                },
              },
              data: rules,
            },
          },
        ]
      : []),
  ];
}

/** A stack of `n` ConfigMaps plus the root Stack and a provider (which quotas do not count). */
export function manyResources(n: number): StackResourceInput[] {
  return [
    { type: "pulumi:pulumi:Stack", name: "stack", props: {} },
    { type: "pulumi:providers:kubernetes", name: "default", props: {} },
    ...Array.from({ length: n }, (_, i) => ({
      type: "kubernetes:core/v1:ConfigMap",
      name: `cm-${i}`,
      props: {},
    })),
  ];
}

/**
 * A Prometheus with a prometheus.yml whose one scrape config keeps `keep` (a name regex), and a
 * rules ConfigMap whose recording rule reads http_requests_total.
 */
export function scrapeRulesStack(keep: string): StackResourceInput[] {
  const yml =
    "scrape_configs:\n  - job_name: service-critical\n    static_configs:\n" +
    "      - targets: [service:8080]\n        labels: { job: service, level: critical }\n" +
    `    metric_relabel_configs:\n      - source_labels: [__name__]\n        regex: "${keep}"\n        action: keep\n`;
  const rules =
    "groups:\n  - name: slo\n    rules:\n      - record: job:http_requests:rate5m\n" +
    '        expr: sum by (job) (rate(http_requests_total{job="service"}[5m]))\n';
  return [
    ...rulesStack({ "recording.yaml": rules }),
    {
      type: "kubernetes:core/v1:ConfigMap",
      name: "prometheus-config",
      parent: "prometheus",
      props: { metadata: { name: "prometheus-config" }, data: { "prometheus.yml": yml } },
    },
  ];
}

/**
 * A stage's metrics endpoints as the program builds them: Prometheus with --web.config.file, its
 * web config Secret (bcrypt hash of a password), Grafana with viewer defaults, a ClusterIP
 * Pushgateway Service, and prometheus.yml dropping `dropLabels` in every scrape config. `edit`
 * breaks one of them.
 */
export function metricsStack(
  dropLabels: string[],
  edit: {
    noWebConfig?: boolean;
    plaintextUser?: boolean;
    editorRole?: boolean;
    exposePushgateway?: boolean;
    noPushgatewayWebConfig?: boolean;
    noAlertmanagerWebConfig?: boolean;
    keepLabel?: string;
  } = {},
): StackResourceInput[] {
  const prom = prometheusStatefulSet("90d");
  const c = (prom as { spec: { template: { spec: { containers: Record<string, unknown>[] } } } })
    .spec.template.spec.containers[0]!;
  if (!edit.noWebConfig)
    c["args"] = [...(c["args"] as string[]), "--web.config.file=/etc/prometheus/web/web.yml"];
  const hash = `$2b$10$${"N".repeat(53)}`;
  const grafana = grafanaDeployment([
    { name: "GF_USERS_AUTO_ASSIGN_ORG_ROLE", value: edit.editorRole ? "Editor" : "Viewer" },
    { name: "GF_AUTH_ANONYMOUS_ORG_ROLE", value: "Viewer" },
  ]);
  const regex = dropLabels.filter((l) => l !== edit.keepLabel).join("|");
  const promYml = [
    "scrape_configs:",
    ...["prometheus-critical", "pushgateway-critical"].flatMap((j) => [
      `  - job_name: ${j}`,
      "    static_configs: [{ targets: ['localhost:9090'] }]",
      "    metric_relabel_configs:",
      `      - { action: labeldrop, regex: '${regex}' }`,
      "      - { source_labels: [__name__], regex: 'go_.*', action: drop }",
    ]),
  ].join("\n");
  return [
    { type: "kubernetes:apps/v1:StatefulSet", name: "prometheus", props: prom },
    {
      type: "kubernetes:core/v1:Secret",
      name: "prometheus-web-config",
      props: {
        stringData: {
          "web.yml": `basic_auth_users:\n  goose: ${edit.plaintextUser ? "hunter2-password" : `'${hash}'`}\n`,
        },
      },
    },
    { type: "kubernetes:apps/v1:Deployment", name: "grafana", props: grafana },
    {
      type: "kubernetes:apps/v1:Deployment",
      name: "pushgateway-server",
      props: {
        spec: {
          selector: { matchLabels: { "app.kubernetes.io/name": "pushgateway" } },
          template: {
            metadata: { labels: { "app.kubernetes.io/name": "pushgateway" } },
            spec: {
              containers: [
                {
                  name: "pushgateway",
                  image: "quay.io/prometheus/pushgateway:v1.11.1",
                  ...(edit.noPushgatewayWebConfig
                    ? {}
                    : { args: ["--web.config.file=/etc/pushgateway/web/web.yml"] }),
                },
              ],
            },
          },
        },
      },
    },
    {
      type: "kubernetes:apps/v1:Deployment",
      name: "alertmanager",
      props: {
        spec: {
          template: {
            spec: {
              containers: [
                {
                  name: "alertmanager",
                  image: "quay.io/prometheus/alertmanager:v0.28.1",
                  args: [
                    "--config.file=/etc/alertmanager/alertmanager.yml",
                    ...(edit.noAlertmanagerWebConfig
                      ? []
                      : ["--web.config.file=/etc/alertmanager-web/web.yml"]),
                  ],
                },
              ],
            },
          },
        },
      },
    },
    {
      type: "kubernetes:core/v1:Secret",
      name: "pushgateway-web-config",
      props: { stringData: { "web.yml": `basic_auth_users:\n  goose: '${hash}'\n` } },
    },
    {
      type: "kubernetes:core/v1:Service",
      name: "pushgateway",
      props: {
        spec: {
          type: edit.exposePushgateway ? "LoadBalancer" : "ClusterIP",
          selector: { "app.kubernetes.io/name": "pushgateway" },
          ports: [{ port: 9091 }],
        },
      },
    },
    {
      type: "kubernetes:core/v1:ConfigMap",
      name: "prometheus-config",
      props: { data: { "prometheus.yml": promYml } },
    },
  ];
}

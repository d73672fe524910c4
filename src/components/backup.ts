import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import type { StageConfig } from "../config/schema.js";
import { BACKUP_METRICS } from "../config/metrics.js";
import {
  containerResources,
  containerSecurity,
  meta,
  podSecurity,
  selectorLabels,
} from "./common.js";
import { serviceUrl } from "./names.js";
import { blackoutPush } from "./blackout.js";

export interface BackupArgs {
  /** The validated stage configuration. */
  config: StageConfig;
  /** Namespace the objects go into. */
  namespace: pulumi.Input<string>;
  /** Labels every object carries. */
  labels: Record<string, string>;
  /** Pod name of the Prometheus replica whose TSDB is snapshotted (default `prometheus-0`). */
  prometheusPod?: string;
}

const BACKUP_UID = 1000;

/**
 * The backup job's two steps. `collect` (kubectl) takes a TSDB snapshot through Prometheus's
 * admin API and streams it and Grafana's database out; it never fails the pod, it records a
 * status instead, so that `upload` can report the failure as a metric. `upload` stores the
 * archives (S3 with SSE-KMS, or the backup volume), applies retention on the volume, and pushes
 * the result metrics to the Pushgateway. Exported for testing.
 */
export function backupScripts(cfg: StageConfig, prometheusPod = "prometheus-0") {
  // A backup is a blackout for transitions: announced before collect, withdrawn when upload ends.
  const announce = `${blackoutPush("backup", 1, "curl")}\n`;
  const collect = `set -u
cd /work
fail() { echo "collect: $1" >&2; echo "$1" > /work/failed; exit 0; }
snap=$(kubectl exec -n "$NAMESPACE" ${prometheusPod} -c prometheus -- wget -qO- --post-data='' http://localhost:9090/api/v1/admin/tsdb/snapshot | sed -n 's/.*"name":"\\([^"]*\\)".*/\\1/p') || fail "TSDB snapshot request failed"
[ -n "$snap" ] || fail "TSDB snapshot returned no name"
kubectl exec -n "$NAMESPACE" ${prometheusPod} -c prometheus -- tar -C "/prometheus/snapshots/$snap" -czf - . > prometheus.tar.gz || fail "streaming the TSDB snapshot failed"
kubectl exec -n "$NAMESPACE" ${prometheusPod} -c prometheus -- rm -rf "/prometheus/snapshots/$snap" || true
pod=$(kubectl get pod -n "$NAMESPACE" -l app.kubernetes.io/name=grafana -o jsonpath='{.items[0].metadata.name}') || fail "no Grafana pod"
kubectl exec -n "$NAMESPACE" "$pod" -c grafana -- tar -C /var/lib/grafana -czf - grafana.db > grafana.tar.gz || fail "streaming Grafana's database failed"
`;
  const store =
    cfg.backup.target === "s3"
      ? `aws s3 cp "/work/$c.tar.gz" "s3://$BUCKET/$c/$ts.tar.gz" --sse aws:kms --sse-kms-key-id "$KMS_KEY_ARN" --only-show-errors`
      : `mkdir -p "/backup/$c" && cp "/work/$c.tar.gz" "/backup/$c/$ts.tar.gz" && find "/backup/$c" -name '*.tar.gz' -mtime +${cfg.backup.retentionDays} -delete`;
  const upload = `set -u
end_blackout() { ${blackoutPush("backup", 0, "curl")}; }
trap end_blackout EXIT
ts=$(date -u +%Y%m%dT%H%M%SZ)
now=$(date +%s)
rc=0
push() { # component status size
  {
    echo "# TYPE ${BACKUP_METRICS.lastAttempt} gauge"; echo "${BACKUP_METRICS.lastAttempt} $now"
    echo "# TYPE ${BACKUP_METRICS.lastStatus} gauge"; echo "${BACKUP_METRICS.lastStatus} $2"
    if [ "$2" = 1 ]; then
      echo "# TYPE ${BACKUP_METRICS.lastSuccess} gauge"; echo "${BACKUP_METRICS.lastSuccess} $now"
      echo "# TYPE ${BACKUP_METRICS.sizeBytes} gauge"; echo "${BACKUP_METRICS.sizeBytes} $3"
    fi
  } | curl -fsS --data-binary @- "$PUSHGATEWAY/metrics/job/goldengoose-backup/stage/$STAGE/component/$1" || echo "upload: could not push metrics" >&2
}
for c in prometheus grafana; do
  if [ ! -f /work/failed ] && [ -s "/work/$c.tar.gz" ] && ${store}; then
    push "$c" 1 "$(stat -c %s "/work/$c.tar.gz")"
  else
    echo "upload: backup of $c failed: $(cat /work/failed 2>/dev/null || echo upload error)" >&2
    push "$c" 0 0; rc=1
  fi
done
exit $rc
`;
  return { announce, collect, upload };
}

/** IAM role name from an ARN (`arn:aws:iam::123:role/path/name` → `name`). */
export function roleNameFromArn(arn: string): string {
  return arn.slice(arn.lastIndexOf("/") + 1);
}

/**
 * Backups of Prometheus's TSDB and Grafana's database: a volume in sandbox; elsewhere an S3
 * bucket with SSE-KMS (own key, rotation on), versioning, public access blocked, TLS-only
 * policy, lifecycle expiry and, in production, object lock. A CronJob does the work with
 * credentials from its service-account role (IRSA), never static keys.
 */
export class Backup extends pulumi.ComponentResource {
  /** Bucket name (target s3), else undefined. */
  public readonly bucketName: pulumi.Output<string | undefined>;
  public readonly kmsKeyArn: pulumi.Output<string | undefined>;
  /** Name of the backup CronJob. */
  public readonly cronJobName: pulumi.Output<string>;

  constructor(name: string, args: BackupArgs, opts?: pulumi.ComponentResourceOptions) {
    super("goldengoose:backup:Backup", name, {}, opts);
    const cfg = args.config;
    const b = cfg.backup;
    const ns = args.namespace;
    const child = { parent: this };
    const sel = selectorLabels("backup", "backup");
    const labels = { ...args.labels, ...sel };
    const tags = {
      "goldengoose:stage": cfg.stage,
      "goldengoose:owner": cfg.labels.owner,
      "goldengoose:cost-centre": cfg.labels.costCentre,
    };

    let bucket: aws.s3.Bucket | undefined;
    let key: aws.kms.Key | undefined;
    let volume: k8s.core.v1.PersistentVolumeClaim | undefined;
    if (b.target === "s3") {
      key = new aws.kms.Key(
        `${name}-key`,
        {
          description: `golden-goose ${cfg.stage} backups`,
          enableKeyRotation: true,
          deletionWindowInDays: 30,
          tags,
        },
        child,
      );
      new aws.kms.Alias(
        `${name}-key-alias`,
        { name: `alias/goose-${cfg.stage}-backups`, targetKeyId: key.keyId },
        child,
      );
      bucket = new aws.s3.Bucket(
        `${name}-bucket`,
        {
          bucketPrefix: `goose-${cfg.stage}-backups-`,
          forceDestroy: cfg.stage === "sandbox",
          objectLockEnabled: b.objectLockDays > 0,
          tags,
        },
        { ...child, protect: cfg.stage === "production" },
      );
      const versioning = new aws.s3.BucketVersioning(
        `${name}-versioning`,
        {
          bucket: bucket.id,
          versioningConfiguration: {
            status: b.versioning || b.objectLockDays > 0 ? "Enabled" : "Suspended",
          },
        },
        child,
      );
      new aws.s3.BucketServerSideEncryptionConfiguration(
        `${name}-encryption`,
        {
          bucket: bucket.id,
          rules: [
            {
              applyServerSideEncryptionByDefault: {
                sseAlgorithm: "aws:kms",
                kmsMasterKeyId: key.arn,
              },
              bucketKeyEnabled: true,
            },
          ],
        },
        child,
      );
      const publicAccess = new aws.s3.BucketPublicAccessBlock(
        `${name}-public-access`,
        {
          bucket: bucket.id,
          blockPublicAcls: true,
          blockPublicPolicy: true,
          ignorePublicAcls: true,
          restrictPublicBuckets: true,
        },
        child,
      );
      new aws.s3.BucketPolicy(
        `${name}-tls-only`,
        {
          bucket: bucket.id,
          policy: pulumi.jsonStringify({
            Version: "2012-10-17",
            Statement: [
              {
                Sid: "DenyInsecureTransport",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:*",
                Resource: [bucket.arn, pulumi.interpolate`${bucket.arn}/*`],
                Condition: { Bool: { "aws:SecureTransport": "false" } },
              },
            ],
          }),
        },
        { ...child, dependsOn: [publicAccess] },
      );
      new aws.s3.BucketLifecycleConfiguration(
        `${name}-lifecycle`,
        {
          bucket: bucket.id,
          rules: [
            {
              id: "expire-backups",
              status: "Enabled",
              filter: {},
              expiration: { days: b.retentionDays },
              noncurrentVersionExpiration: { noncurrentDays: b.retentionDays },
              abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
            },
          ],
        },
        { ...child, dependsOn: [versioning] },
      );
      if (b.objectLockDays > 0) {
        new aws.s3.BucketObjectLockConfiguration(
          `${name}-object-lock`,
          {
            bucket: bucket.id,
            objectLockEnabled: "Enabled",
            rule: { defaultRetention: { mode: "COMPLIANCE", days: b.objectLockDays } },
          },
          { ...child, dependsOn: [versioning] },
        );
      }
      // Least privilege for the job's role: write backups with this key, nothing else.
      new aws.iam.RolePolicy(
        `${name}-writer`,
        {
          role: roleNameFromArn(b.roleArn ?? ""),
          policy: pulumi.jsonStringify({
            Version: "2012-10-17",
            Statement: [
              {
                Effect: "Allow",
                Action: ["s3:PutObject", "s3:AbortMultipartUpload"],
                Resource: pulumi.interpolate`${bucket.arn}/*`,
              },
              { Effect: "Allow", Action: ["s3:ListBucket"], Resource: bucket.arn },
              {
                Effect: "Allow",
                Action: ["kms:GenerateDataKey", "kms:Encrypt"],
                Resource: key.arn,
              },
            ],
          }),
        },
        child,
      );
    } else {
      volume = new k8s.core.v1.PersistentVolumeClaim(
        `${name}-volume`,
        {
          metadata: meta("backup-data", ns, labels),
          spec: {
            accessModes: ["ReadWriteOnce"],
            resources: { requests: { storage: b.volumeSize } },
          },
        },
        child,
      );
    }

    const sa = new k8s.core.v1.ServiceAccount(
      `${name}-sa`,
      {
        metadata: meta(
          "backup",
          ns,
          labels,
          b.roleArn ? { annotations: { "eks.amazonaws.com/role-arn": b.roleArn } } : {},
        ),
      },
      child,
    );
    const role = new k8s.rbac.v1.Role(
      `${name}-exec`,
      {
        metadata: meta("backup-exec", ns, labels),
        rules: [
          { apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] },
          { apiGroups: [""], resources: ["pods/exec"], verbs: ["create"] },
        ],
      },
      child,
    );
    new k8s.rbac.v1.RoleBinding(
      `${name}-exec`,
      {
        metadata: meta("backup-exec", ns, labels),
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
        subjects: [{ kind: "ServiceAccount", name: sa.metadata.name, namespace: ns }],
      },
      child,
    );

    const scripts = backupScripts(cfg, args.prometheusPod);
    const env: k8s.types.input.core.v1.EnvVar[] = [
      { name: "STAGE", value: cfg.stage },
      { name: "PUSHGATEWAY", value: serviceUrl(cfg, "pushgateway") },
      { name: "HOME", value: "/tmp" },
      ...(bucket && key
        ? [
            { name: "BUCKET", value: bucket.bucket },
            { name: "KMS_KEY_ARN", value: key.arn },
          ]
        : []),
    ];
    const cron = new k8s.batch.v1.CronJob(
      `${name}-job`,
      {
        metadata: meta("backup", ns, labels),
        spec: {
          schedule: b.schedule,
          concurrencyPolicy: "Forbid",
          successfulJobsHistoryLimit: 3,
          failedJobsHistoryLimit: 3,
          startingDeadlineSeconds: 600,
          jobTemplate: {
            metadata: { labels },
            spec: {
              backoffLimit: 2,
              activeDeadlineSeconds: 3600,
              template: {
                metadata: { labels },
                spec: {
                  serviceAccountName: sa.metadata.name,
                  restartPolicy: "Never",
                  securityContext: podSecurity(BACKUP_UID),
                  initContainers: [
                    {
                      name: "announce",
                      image: b.image,
                      command: ["/bin/bash", "-c", scripts.announce],
                      env,
                      resources: containerResources(b.resources),
                      securityContext: containerSecurity(),
                      volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
                    },
                    {
                      name: "collect",
                      image: b.kubectlImage,
                      command: ["/bin/bash", "-c", scripts.collect],
                      env: [
                        { name: "NAMESPACE", value: cfg.namespace },
                        { name: "HOME", value: "/tmp" },
                      ],
                      resources: containerResources(b.resources),
                      securityContext: containerSecurity(),
                      volumeMounts: [
                        { name: "work", mountPath: "/work" },
                        { name: "tmp", mountPath: "/tmp" },
                      ],
                    },
                  ],
                  containers: [
                    {
                      name: "upload",
                      image: b.image,
                      command: ["/bin/bash", "-c", scripts.upload],
                      env,
                      resources: containerResources(b.resources),
                      securityContext: containerSecurity(),
                      volumeMounts: [
                        { name: "work", mountPath: "/work" },
                        { name: "tmp", mountPath: "/tmp" },
                        ...(volume ? [{ name: "backup", mountPath: "/backup" }] : []),
                      ],
                    },
                  ],
                  volumes: [
                    { name: "work", emptyDir: {} },
                    { name: "tmp", emptyDir: {} },
                    ...(volume
                      ? [
                          {
                            name: "backup",
                            persistentVolumeClaim: { claimName: volume.metadata.name },
                          },
                        ]
                      : []),
                  ],
                },
              },
            },
          },
        },
      },
      child,
    );

    this.bucketName = bucket ? bucket.bucket : pulumi.output(undefined);
    this.kmsKeyArn = key ? key.arn : pulumi.output(undefined);
    this.cronJobName = cron.metadata.name;
    this.registerOutputs({
      bucketName: this.bucketName,
      kmsKeyArn: this.kmsKeyArn,
      cronJobName: this.cronJobName,
    });
  }
}

import { createRequire } from "node:module";
import * as pulumi from "@pulumi/pulumi";
// The four services used, not the package index: @pulumi/aws's index loads all of its ~250
// service modules at start (~0.15 s of CPU, and ESM's scan of their exports).
import * as awsConfig from "@pulumi/aws/config/index.js";
import type * as AwsEks from "@pulumi/aws/eks/index.js";
import type * as Iam from "@pulumi/aws/iam/index.js";
import type * as Kms from "@pulumi/aws/kms/index.js";
import type * as S3 from "@pulumi/aws/s3/index.js";
import type * as K8s from "@pulumi/kubernetes";
import { k8s } from "./k8s.js";
import type { StageConfig } from "../config/schema.js";
import type { BackupComponent } from "../backup/archive-layout.js";
import { containerResources, containerSecurity, meta, selectorLabels } from "./common.js";
import { SCANNER_SERVICE_ACCOUNT, serviceUrl } from "./names.js";
import { AGENT_PATHS, agentEnv, agentProbeCommand, backupAgentScript } from "./backup-agent.js";
import { pushgatewayClient } from "./pushgateway-auth.js";

// The services are loaded with require, not import: each service index defines its resource
// classes as getters that load on first read, and an ESM import of a CommonJS module reads every
// export to build its namespace, loading all ~20-100 classes of each service where a stage uses
// a few (s3 alone: ~50 ms of CPU against ~13 ms; measured with the compile cache warm).
const require = createRequire(import.meta.url);
const awsEks = require("@pulumi/aws/eks/index.js") as typeof AwsEks;
const iam = require("@pulumi/aws/iam/index.js") as typeof Iam;
const kms = require("@pulumi/aws/kms/index.js") as typeof Kms;
const s3 = require("@pulumi/aws/s3/index.js") as typeof S3;

export interface BackupArgs {
  /** The validated stage configuration. */
  config: StageConfig;
  /** Namespace the objects go into. */
  namespace: pulumi.Input<string>;
  /** Labels every object carries. */
  labels: Record<string, string>;
  /** The Secret with the Pushgateway's password (pushgateway-auth.ts), mounted into the agents. */
  pushgatewayAuthSecret?: pulumi.Input<string>;
}

/** ServiceAccounts of the pods the backup agents run in (the role trusts exactly these). */
export const AGENT_SERVICE_ACCOUNTS: Record<BackupComponent, string> = {
  prometheus: "prometheus",
  grafana: "grafana",
};

/** Where the scanner's CronJob uploads its results (target s3): bucket, key and its role. */
export interface ScanUpload {
  bucket: pulumi.Output<string>;
  kmsKeyArn: pulumi.Output<string>;
  roleArn: pulumi.Output<string>;
}

/**
 * The scanner's IAM policy: put objects under `scans/<stage>/` of the backup bucket only (the
 * layout goose's vulnerability gate reads, scanner.ts SCAN_LAYOUT), with SSE-KMS under the
 * stage's key. No read, no list, no delete, nothing outside the prefix. Exported for testing.
 */
export function scanUploadPolicyDocument(bucketArn: string, keyArn: string, stage: string) {
  return writeWithKeyPolicy("WriteScanResults", `${bucketArn}/scans/${stage}/*`, keyArn);
}

/**
 * Put objects (multipart included) under `objects` with SSE-KMS under `keyArn`, and nothing else:
 * what `aws s3 cp` needs; the backup and the scanner roles differ only in where they may write.
 */
function writeWithKeyPolicy(sid: string, objects: string, keyArn: string) {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: sid,
        Effect: "Allow",
        Action: ["s3:PutObject", "s3:AbortMultipartUpload"],
        Resource: objects,
      },
      {
        Sid: "UseTheBackupKey",
        Effect: "Allow",
        Action: ["kms:GenerateDataKey", "kms:Decrypt"],
        Resource: keyArn,
      },
    ],
  };
}

/** What a component needs to run its backup agent: the sidecar, its volumes, its SA annotation. */
export interface BackupAgentSpec {
  container: K8s.types.input.core.v1.Container;
  volumes: K8s.types.input.core.v1.Volume[];
  serviceAccountAnnotations: Record<string, pulumi.Input<string>>;
}

/**
 * The IAM policy of the backup role: exactly what `aws s3 cp` needs to write objects with SSE-KMS
 * under the stage's key, multipart uploads included (above 8 MB): s3:PutObject (which covers
 * CreateMultipartUpload, UploadPart and CompleteMultipartUpload), s3:AbortMultipartUpload (a
 * failed upload cleans up), kms:GenerateDataKey (a data key per object) and kms:Decrypt (S3
 * decrypts the data key to complete a multipart upload). No s3:ListBucket (the agent never
 * lists: it writes a new prefix per run, retention is the bucket's lifecycle rule), no
 * kms:Encrypt (S3 asks for data keys, never encrypts with the key directly). Exported for testing.
 */
export function backupPolicyDocument(bucketArn: string, keyArn: string) {
  return writeWithKeyPolicy("WriteBackupObjects", `${bucketArn}/*`, keyArn);
}

/**
 * The role's trust policy (IRSA): web identities from the cluster's IAM OIDC provider, for the
 * agents' ServiceAccounts in the stage's namespace only. Exported for testing.
 */
export function backupTrustPolicy(
  oidc: { arn: string; issuerHost: string },
  namespace: string,
  serviceAccounts: readonly string[] = Object.values(AGENT_SERVICE_ACCOUNTS),
) {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Federated: oidc.arn },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: {
          StringEquals: {
            [`${oidc.issuerHost}:aud`]: "sts.amazonaws.com",
            [`${oidc.issuerHost}:sub`]: serviceAccounts.map(
              (sa) => `system:serviceaccount:${namespace}:${sa}`,
            ),
          },
        },
      },
    ],
  };
}

/** The oldest EKS version the stage is built for (no default StorageClass, WebSocket exec). */
export const MIN_EKS_VERSION = "1.30";

/**
 * Preflight for IRSA: the EKS cluster named in the stack file and its IAM OIDC provider must
 * exist. Throws an error naming what is missing and how to create it. Exported for testing.
 */
export async function lookUpOidcProvider(
  clusterName: string,
  opts: pulumi.InvokeOptions,
): Promise<{ arn: string; issuerHost: string; version: string }> {
  let cluster: AwsEks.GetClusterResult;
  try {
    cluster = await awsEks.getCluster({ name: clusterName }, opts);
  } catch (err) {
    throw new Error(
      `preflight: EKS cluster "${clusterName}" (golden-goose:eks.clusterName) was not found in ` +
        `this account and region (${(err as Error).message}). Fix eks.clusterName in the stack ` +
        "file or select the right AWS account and region (aws:region).",
    );
  }
  const [major, minor] = (cluster.version ?? "0.0").split(".").map(Number);
  const [wantMajor, wantMinor] = MIN_EKS_VERSION.split(".").map(Number);
  if (
    (major ?? 0) < (wantMajor ?? 0) ||
    ((major ?? 0) === wantMajor && (minor ?? 0) < (wantMinor ?? 0))
  ) {
    throw new Error(
      `preflight: EKS cluster "${clusterName}" runs Kubernetes ${cluster.version}; the stage needs ` +
        `${MIN_EKS_VERSION} or later (docs/platform.md). Upgrade the cluster first.`,
    );
  }
  const issuer = cluster.identities?.[0]?.oidcs?.[0]?.issuer;
  if (!issuer) {
    throw new Error(
      `preflight: EKS cluster "${clusterName}" reports no OIDC issuer; IRSA needs one. Check the ` +
        "cluster with `aws eks describe-cluster --name " +
        clusterName +
        " --query cluster.identity.oidc.issuer`.",
    );
  }
  try {
    const provider = await iam.getOpenIdConnectProvider({ url: issuer }, opts);
    return {
      arn: provider.arn,
      issuerHost: issuer.replace(/^https:\/\//, ""),
      version: cluster.version,
    };
  } catch (err) {
    throw new Error(
      `preflight: the IAM OIDC provider for ${issuer} (EKS cluster "${clusterName}") does not ` +
        `exist (${(err as Error).message}); the backup role (IRSA) needs it. Create it with ` +
        `\`eksctl utils associate-iam-oidc-provider --cluster ${clusterName} --approve\`.`,
    );
  }
}

/**
 * Backups of Prometheus's TSDB and Grafana's database, taken by agents that run as sidecars of
 * those pods (no kubectl exec, no cross-pod access; src/components/backup-agent.ts). This
 * component owns where backups go and who may write them: a volume per component in sandbox;
 * elsewhere an S3 bucket with SSE-KMS (own key, rotation on), versioning, public access blocked,
 * TLS-only policy, lifecycle expiry and, in production, object lock, with the bucket and key
 * protected; and the agents' IAM role (IRSA), created here from the cluster's OIDC provider,
 * with exactly the permissions an SSE-KMS multipart upload needs.
 */
export class Backup extends pulumi.ComponentResource {
  /** Bucket name (target s3), else undefined. */
  public readonly bucketName: pulumi.Output<string | undefined>;
  public readonly kmsKeyArn: pulumi.Output<string | undefined>;
  /** ARN of the agents' IAM role (target s3), else undefined. */
  public readonly roleArn: pulumi.Output<string | undefined>;
  /** The agent sidecar of each component. */
  public readonly agents: Record<BackupComponent, BackupAgentSpec>;
  /** Where the scanner uploads its results (target s3), else undefined (they stay on its volume). */
  public readonly scanUpload: ScanUpload | undefined;

  constructor(name: string, args: BackupArgs, opts?: pulumi.ComponentResourceOptions) {
    super("goldengoose:backup:Backup", name, {}, opts);
    const cfg = args.config;
    const b = cfg.backup;
    const ns = args.namespace;
    const child = { parent: this };
    const labels = { ...args.labels, ...selectorLabels("backup", "backup") };
    const tags = {
      "goldengoose:stage": cfg.stage,
      "goldengoose:owner": cfg.labels.owner,
      "goldengoose:cost-centre": cfg.labels.costCentre,
    };
    const production = cfg.stage === "production";

    let bucket: S3.Bucket | undefined;
    let key: Kms.Key | undefined;
    let role: Iam.Role | undefined;
    let scanUpload: ScanUpload | undefined;
    const volumes: Partial<Record<BackupComponent, K8s.core.v1.PersistentVolumeClaim>> = {};
    if (b.target === "s3") {
      // Protected where the bucket is: deleting the key would make every locked backup unreadable.
      key = new kms.Key(
        `${name}-key`,
        {
          description: `golden-goose ${cfg.stage} backups`,
          enableKeyRotation: true,
          deletionWindowInDays: 30,
          tags,
        },
        { ...child, protect: production },
      );
      new kms.Alias(
        `${name}-key-alias`,
        { name: `alias/goose-${cfg.stage}-backups`, targetKeyId: key.keyId },
        { ...child, protect: production },
      );
      bucket = new s3.Bucket(
        `${name}-bucket`,
        {
          bucketPrefix: `goose-${cfg.stage}-backups-`,
          forceDestroy: cfg.stage === "sandbox",
          objectLockEnabled: b.objectLockDays > 0,
          tags,
        },
        { ...child, protect: cfg.stage === "production" },
      );
      const versioning = new s3.BucketVersioning(
        `${name}-versioning`,
        {
          bucket: bucket.id,
          versioningConfiguration: {
            status: b.versioning || b.objectLockDays > 0 ? "Enabled" : "Suspended",
          },
        },
        child,
      );
      new s3.BucketServerSideEncryptionConfiguration(
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
      const publicAccess = new s3.BucketPublicAccessBlock(
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
      new s3.BucketPolicy(
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
      new s3.BucketLifecycleConfiguration(
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
        new s3.BucketObjectLockConfiguration(
          `${name}-object-lock`,
          {
            bucket: bucket.id,
            objectLockEnabled: "Enabled",
            rule: { defaultRetention: { mode: "COMPLIANCE", days: b.objectLockDays } },
          },
          { ...child, dependsOn: [versioning] },
        );
      }
      // The agents' role (IRSA), trusted by the cluster's OIDC provider for their SAs only.
      const eks = cfg.eks!;
      const oidc = pulumi.output(lookUpOidcProvider(eks.clusterName, { parent: this }));
      role = new iam.Role(
        `${name}-role`,
        {
          name: `goose-${cfg.stage}-backup`,
          description: `golden-goose ${cfg.stage} backup agents (IRSA)`,
          assumeRolePolicy: pulumi
            .all([oidc, ns])
            .apply(([o, n]) => JSON.stringify(backupTrustPolicy(o, n))),
          tags,
        },
        child,
      );
      new iam.RolePolicy(
        `${name}-writer`,
        {
          role: role.name,
          policy: pulumi
            .all([bucket.arn, key.arn])
            .apply(([bucketArn, keyArn]) =>
              JSON.stringify(backupPolicyDocument(bucketArn, keyArn)),
            ),
        },
        child,
      );
      // The scanner's role: its upload container writes scans/<stage>/ and nothing else.
      const scanRole = new iam.Role(
        `${name}-scanner-role`,
        {
          name: `goose-${cfg.stage}-scanner`,
          description: `golden-goose ${cfg.stage} scanner uploads (IRSA)`,
          assumeRolePolicy: pulumi
            .all([oidc, ns])
            .apply(([o, n]) => JSON.stringify(backupTrustPolicy(o, n, [SCANNER_SERVICE_ACCOUNT]))),
          tags,
        },
        child,
      );
      new iam.RolePolicy(
        `${name}-scanner-writer`,
        {
          role: scanRole.name,
          policy: pulumi
            .all([bucket.arn, key.arn])
            .apply(([bucketArn, keyArn]) =>
              JSON.stringify(scanUploadPolicyDocument(bucketArn, keyArn, cfg.stage)),
            ),
        },
        child,
      );
      scanUpload = { bucket: bucket.bucket, kmsKeyArn: key.arn, roleArn: scanRole.arn };
    } else {
      for (const component of ["prometheus", "grafana"] as const) {
        volumes[component] = new k8s.core.v1.PersistentVolumeClaim(
          `${name}-volume-${component}`,
          {
            metadata: meta(`backup-${component}`, ns, labels),
            spec: {
              accessModes: ["ReadWriteOnce"],
              storageClassName: cfg.storageClass,
              resources: { requests: { storage: b.volumeSize } },
            },
          },
          child,
        );
      }
    }

    const pgAuth = args.pushgatewayAuthSecret
      ? pushgatewayClient(args.pushgatewayAuthSecret)
      : undefined;
    const agent = (component: BackupComponent): BackupAgentSpec => {
      const volume = volumes[component];
      const env: K8s.types.input.core.v1.EnvVar[] = [
        ...Object.entries(agentEnv(cfg)).map(([n, value]) => ({ name: n, value })),
        { name: "PUSHGATEWAY", value: serviceUrl(cfg, "pushgateway") },
        ...(pgAuth?.env ?? []),
        { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
        ...(bucket && key
          ? [
              { name: "BUCKET", value: bucket.bucket },
              { name: "KMS_KEY_ARN", value: key.arn },
            ]
          : []),
        ...(bucket && awsConfig.region ? [{ name: "AWS_REGION", value: awsConfig.region }] : []),
      ];
      const dataMount =
        component === "prometheus"
          ? { name: "data", mountPath: AGENT_PATHS.prometheusData }
          : { name: "data", mountPath: "/var/lib/grafana", readOnly: true };
      return {
        container: {
          name: "backup-agent",
          image: b.image,
          command: ["/bin/bash", "-c", backupAgentScript(component)],
          env,
          resources: containerResources(b.resources),
          securityContext: containerSecurity(),
          livenessProbe: { exec: { command: agentProbeCommand() }, periodSeconds: 60 },
          readinessProbe: { exec: { command: agentProbeCommand() }, periodSeconds: 60 },
          volumeMounts: [
            dataMount,
            { name: "backup-tmp", mountPath: "/tmp" },
            ...(volume ? [{ name: "backup", mountPath: AGENT_PATHS.backupRoot }] : []),
            ...(pgAuth ? [pgAuth.mount] : []),
          ],
        },
        volumes: [
          { name: "backup-tmp", emptyDir: {} },
          ...(pgAuth ? [pgAuth.volume] : []),
          ...(volume
            ? [{ name: "backup", persistentVolumeClaim: { claimName: volume.metadata.name } }]
            : []),
        ],
        serviceAccountAnnotations: role ? { "eks.amazonaws.com/role-arn": role.arn } : {},
      };
    };
    this.agents = { prometheus: agent("prometheus"), grafana: agent("grafana") };
    this.scanUpload = scanUpload;

    this.bucketName = bucket ? bucket.bucket : pulumi.output(undefined);
    this.kmsKeyArn = key ? key.arn : pulumi.output(undefined);
    this.roleArn = role ? role.arn : pulumi.output(undefined);
    this.registerOutputs({
      bucketName: this.bucketName,
      kmsKeyArn: this.kmsKeyArn,
      roleArn: this.roleArn,
    });
  }
}

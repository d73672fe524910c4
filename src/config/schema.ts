import { z } from "zod";
import { STAGES } from "./stages.js";
import { IMAGE_REF_PATTERN } from "../images/ref.js";

/**
 * A well-formed container image reference: `registry/repo[:tag][@sha256:<64 hex>]`. Whether it
 * is pinned (an exact tag, no `latest`, a digest where a stage asks) is a compliance rule, enforced
 * by the policy pack (`k8s-image-pinned`): advisory in sandbox, mandatory after it.
 */
export const imageRef = z
  .string()
  .regex(
    IMAGE_REF_PATTERN,
    "an image reference like quay.io/prometheus/prometheus:v3.5.0 (optionally @sha256:<digest>)",
  );

/** An AWS KMS key ARN (not an alias: an alias can be re-pointed). */
const kmsKeyArn = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]{1,128}$/,
    "a KMS key ARN like arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
  );

/** Kubernetes quantity: CPU (`250m`, `1`) or memory/storage (`512Mi`, `10Gi`). */
const quantity = z
  .string()
  .regex(
    /^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/,
    "a Kubernetes quantity like 250m, 1, 512Mi or 10Gi",
  );

/** Five-field cron schedule, as Kubernetes CronJobs take it. */
const cron = z.string().regex(/^(\S+\s+){4}\S+$/, "a five-field cron schedule like '0 */6 * * *'");

const duration = z.string().regex(/^\d+(ms|s|m|h|d)$/, "a Prometheus duration like 15s, 1m or 2h");

const resourceList = z.strictObject({
  /** CPU, e.g. 250m. */
  cpu: quantity,
  /** Memory, e.g. 512Mi. */
  memory: quantity,
});

/**
 * Requests and limits. `limits: null` removes the stage default's limits (a well-formed but
 * non-compliant choice):
 * the policy pack (`k8s-resources`) requires them, advisory in sandbox, mandatory after it.
 */
export const resources = z.strictObject({
  requests: resourceList,
  limits: resourceList.nullable().optional(),
});

const workload = {
  image: imageRef,
  resources,
  replicas: z.number().int().min(1).max(10),
};

export const severity = z.enum(["LOW", "MEDIUM", "HIGH", "CRITICAL"]);

const labelValue = z
  .string()
  .regex(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/, "a Kubernetes label value");

export const stageConfigSchema = z
  .strictObject({
    /** Which stage this stack is; must equal the stack name. */
    stage: z.enum(STAGES),
    /** Kubernetes namespace every object goes into. */
    namespace: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, "a DNS-1123 label (lower case, digits, -)"),
    /** Labels applied to every object, for ownership and cost reporting. */
    labels: z.strictObject({
      owner: labelValue,
      costCentre: labelValue,
      complianceTier: z.enum(["none", "standard", "regulated"]),
    }),
    prometheus: z.strictObject({
      ...workload,
      /** Days of TSDB retention (`--storage.tsdb.retention.time`). */
      retentionDays: z.number().int().min(1).max(3650),
      /** Size of each replica's volume claim. */
      storageSize: quantity,
      /** Keep the volume claims when the StatefulSet is deleted. */
      retainVolumes: z.boolean(),
      /** Global scrape interval. */
      scrapeInterval: duration,
      /** Metric names (regular expressions) dropped at scrape time: sampling control. */
      dropMetrics: z.array(z.string().min(1)),
      /** Alertmanager, deployed beside Prometheus. */
      alertmanagerImage: imageRef,
      /**
       * Alertmanager replicas. More than one form a gossip cluster (`--cluster.peer` through the
       * headless Service alertmanager-peers) that shares silences and the notification log, and
       * every Prometheus replica sends to every one of them: losing one loses no alert and sends
       * none twice (`goose dr failover <stage>` proves it, docs/recovery.md).
       */
      alertmanagerReplicas: z.number().int().min(1).max(5),
      /** Pushgateway the batch jobs (backup, scanner) push their results to. */
      pushgatewayImage: imageRef,
      /**
       * The reverse proxy in front of Prometheus (nginx, unprivileged): Prometheus listens on
       * localhost only, the proxy serves its port and refuses the admin API (/api/v1/admin/).
       */
      proxyImage: imageRef,
      /** The service under test, scraped as job `service`. */
      serviceTargets: z.array(z.string().regex(/^[a-z0-9.-]+:\d+$/, "host:port")).min(1),
    }),
    grafana: z.strictObject({
      ...workload,
      /** Grafana admin login name; its password is generated. */
      adminUser: z.string().min(1),
      /** Anonymous viewer access; must stay off outside a throwaway sandbox. */
      anonymousAccess: z.boolean(),
      /** Allow users to sign themselves up. */
      allowSignUp: z.boolean(),
      /** Hide the basic-auth login form (when an SSO provider is set up out of band). */
      disableLoginForm: z.boolean(),
    }),
    backup: z.strictObject({
      /** `volume` keeps backups on an in-cluster claim (sandbox); `s3` in an encrypted bucket. */
      target: z.enum(["volume", "s3"]),
      /**
       * Hours between backups: the agents (sidecars of Prometheus and Grafana) start a backup at
       * every multiple of it since the epoch (UTC), and it is how stale "stale" is for alerts
       * and gates.
       */
      intervalHours: z.number().int().min(1).max(168),
      /** A backup run ends (and its blackout expires) this many minutes after it starts. */
      timeoutMinutes: z.number().int().min(5).max(720),
      /** Days a backup is kept before the lifecycle rule (or the job) removes it. */
      retentionDays: z.number().int().min(1),
      /** Size of the backup volume (target `volume`). */
      volumeSize: quantity,
      /** Versioning on the bucket (target `s3`). */
      versioning: z.boolean(),
      /** SSE-KMS with a dedicated key (target `s3`). */
      kms: z.boolean(),
      /** Object-lock retention in days, 0 for none (compliance mode; production). */
      objectLockDays: z.number().int().min(0),
      /** The backup agents' image (the aws CLI; bash and coreutils, no kubectl). */
      image: imageRef,
      resources,
    }),
    /**
     * StorageClass of every volume claim of the stage. EKS clusters from 1.30 on have no default
     * StorageClass: it must exist (docs/platform.md), e.g. gp3 of the EBS CSI driver.
     */
    storageClass: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, "a StorageClass name like gp3"),
    /**
     * The EKS cluster the stage runs in (target `s3` needs it): the stack reads its IAM OIDC
     * provider and creates the backup role (IRSA) trusted by it.
     */
    eks: z
      .strictObject({
        /** Name of the EKS cluster (`aws eks describe-cluster --name <it>`). */
        clusterName: z.string().regex(/^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$/, "an EKS cluster name"),
      })
      .optional(),
    /** Where Alertmanager's receiver credentials come from. */
    alerting: z.strictObject({
      /**
       * `stack`: from the stack's encrypted config (pagerdutyRoutingKey, ticketToken), written to
       * the Secret alertmanager-receivers by the stack; a stage without them is reported in
       * preview (policy alertmanager-receivers-configured: advisory in sandbox, mandatory where
       * paging is required). `external`: the Secret comes from your secret store (e.g. External
       * Secrets), created before `pulumi up`; Alertmanager does not start without it.
       */
      receivers: z.enum(["stack", "external"]),
    }),
    scanner: z.strictObject({
      /** Trivy, pinned. */
      image: imageRef,
      /** Incremental scans: images whose digest has a fresh cached result are not rescanned. */
      schedule: cron,
      /** Full scans (every image rescanned), off-peak. */
      fullScanSchedule: cron,
      /** At most this many Trivy scans at once. */
      parallelism: z.number().int().min(1).max(8),
      /**
       * An incremental scan reuses the result of an unchanged digest at most this many hours old;
       * never more toward production. With the incremental interval it bounds how old a result can
       * be, which must stay within compliance-rules.yaml scan.maxResultAgeHours of the stage.
       */
      cacheMaxAgeHours: z.number().int().min(1).max(720),
      /** Lowest severity that counts as a finding. */
      severityThreshold: severity,
      /**
       * A Secret of type kubernetes.io/dockerconfigjson in the stage's namespace with credentials
       * for private registries (digests and Trivy's pulls); created outside the stack.
       */
      registryAuthSecret: z
        .string()
        .regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, "a Kubernetes Secret name")
        .optional(),
      resources,
    }),
    /** Retention of goose's snapshots (stack exports) of this stage. */
    snapshots: z.strictObject({
      /** The newest N snapshots are always kept. */
      keepLast: z.number().int().min(1).max(10000),
      /** Beyond keepLast, snapshots older than this many days are pruned. */
      maxAgeDays: z.number().int().min(1).max(3650),
      /**
       * The AWS KMS keys whose snapshots of this stage goose trusts (key ARNs; see
       * docs/snapshots-and-keys.md). A snapshot wrapped by any other KMS key is wrong-key.
       */
      kmsKeys: z.array(kmsKeyArn).max(20).optional(),
    }),
    /**
     * Disaster-recovery objectives, checked by `goose dr drill` (docs/recovery.md). Never looser
     * toward production (src/config/progression.ts NON_INCREASING).
     */
    recovery: z.strictObject({
      /**
       * Recovery point objective: the most seconds the newest sample restored from a backup may
       * lie behind the backup's time.
       */
      rpoSeconds: z.number().int().min(1).max(604800),
      /**
       * Recovery time objective: the most seconds from the start of a restore (fetching the
       * archive) to the restored Prometheus answering its first query.
       */
      rtoSeconds: z.number().int().min(1).max(86400),
      /**
       * Hours a passing restore drill stays valid: after that GoldenGooseRestoreDrillOverdue
       * fires and promotions out of the stage are refused ("rollback tested" gate).
       */
      drillMaxAgeHours: z.number().positive().max(8760),
      /**
       * Whether a promotion out of the stage needs that passing restore drill (default true). When
       * false the gate reports a missing or stale drill as a warning. Never false after a stage
       * where it is true (src/config/progression.ts).
       */
      drillRequiredToPromote: z.boolean().default(true),
    }),
    secrets: z.strictObject({
      /** Generated secrets are replaced after this many days. */
      rotationDays: z.number().int().min(1).max(365),
    }),
  })
  .superRefine((cfg, ctx) => {
    const issue = (path: (string | number)[], message: string) =>
      ctx.addIssue({ code: "custom", path, message, params: { sentence: true } });
    if (cfg.backup.target === "s3" && !cfg.eks) {
      issue(
        ["eks"],
        "eks.clusterName is required when backup.target is s3: the stack creates the backup " +
          "role (IRSA) from the cluster's IAM OIDC provider (no static keys)",
      );
    }
    if (cfg.backup.target === "volume" && cfg.prometheus.replicas > 1) {
      issue(
        ["backup", "target"],
        "a backup volume (ReadWriteOnce) serves one Prometheus replica; use target s3 with " +
          "prometheus.replicas > 1",
      );
    }
    if (cfg.grafana.replicas !== 1) {
      issue(
        ["grafana", "replicas"],
        "Grafana keeps its state in one SQLite database on a volume (single writer): set " +
          "replicas to 1 (dashboards and the datasource are provisioned from files, so a " +
          "restart loses nothing; see docs/platform.md)",
      );
    }
    if (cfg.backup.target === "volume" && cfg.backup.objectLockDays > 0) {
      issue(
        ["backup", "objectLockDays"],
        "object lock needs backup.target s3; set it to 0 for a volume",
      );
    }
    if (cfg.backup.objectLockDays > cfg.backup.retentionDays) {
      issue(
        ["backup", "objectLockDays"],
        `object lock (${cfg.backup.objectLockDays} days) cannot outlast retentionDays (${cfg.backup.retentionDays})`,
      );
    }
  });

export type StageConfig = z.infer<typeof stageConfigSchema>;

/**
 * Credentials a stack file may hold, only encrypted (`pulumi config set --secret golden-goose:<key>`).
 * They never enter StageConfig: the program reads them as Pulumi secrets and hands them to
 * Kubernetes Secrets. Optional: without them Alertmanager expects the Secret to exist already.
 */
export const SECRET_SETTINGS = {
  /** PagerDuty Events v2 integration key of the pager receiver. */
  pagerdutyRoutingKey: "pagerduty-routing-key",
  /** Bearer token of the ticket receiver's webhook. */
  ticketToken: "ticket-token",
} as const;
export type SecretSetting = keyof typeof SECRET_SETTINGS;
export type ResourcesConfig = z.infer<typeof resources>;
export type Severity = z.infer<typeof severity>;

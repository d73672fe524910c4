/**
 * Stack policies: the stage as a whole. Components are recognised by the type tokens of the stage
 * program's ComponentResources.
 */
import type {
  PolicyResource,
  ReportViolation,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import {
  BUCKET_TYPES,
  companionsOf,
  configWithDefaults,
  isDescendantOf,
  isObject,
  ofCompanionType,
  onlyFor,
  raw,
  notApplicable,
} from "./util.js";

/** Type tokens of the stage program's components. */
export const COMPONENT_TYPES = {
  stage: "goldengoose:platform:Stage",
  prometheus: "goldengoose:monitoring:Prometheus",
  grafana: "goldengoose:monitoring:Grafana",
  backup: "goldengoose:backup:Backup",
  scanner: "goldengoose:security:Scanner",
} as const;

interface ComponentsConfig {
  components: string[];
}
const componentsSchema = {
  properties: {
    components: {
      type: "array",
      items: { type: "string", minLength: 1 },
      default: [
        COMPONENT_TYPES.prometheus,
        COMPONENT_TYPES.grafana,
        COMPONENT_TYPES.backup,
        COMPONENT_TYPES.scanner,
      ],
      description: "Component type tokens every stage must contain.",
    },
  },
} satisfies StackValidationPolicy["configSchema"];

export const stackRequiredComponents: StackValidationPolicy = {
  name: "stack-required-components",
  description: "Every stage has Prometheus, Grafana, a backup and a security scanner.",
  severity: "high",
  configSchema: componentsSchema,
  validateStack: (args, report) => {
    const cfg = configWithDefaults<ComponentsConfig>(componentsSchema, args.getConfig());
    const present = new Set(args.resources.map((r) => r.type));
    const missing = cfg.components.filter((t) => !present.has(t));
    if (missing.length > 0) {
      const stage = args.resources.find((r) => r.type === COMPONENT_TYPES.stage);
      report(
        `The stage has no ${missing.join(", ")} component${missing.length > 1 ? "s" : ""}. The stage ` +
          `program (createStage) must create Prometheus, Grafana, Backup and Scanner; check the stage ` +
          `config does not switch one off.`,
        stage?.urn,
      );
    }
  },
};

const SSE =
  "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration";
const PVC = "kubernetes:core/v1:PersistentVolumeClaim";
const STATEFULSET = "kubernetes:apps/v1:StatefulSet";

/** Does one of the bucket's encryption configurations (among `sses`) use SSE-KMS with a key? */
function kmsEncrypted(bucket: PolicyResource, sses: PolicyResource[]): boolean {
  return companionsOf(bucket, sses).some((sse) => {
    const rules = raw(sse.props)["rules"];
    return (
      Array.isArray(rules) &&
      rules.length > 0 &&
      rules.every((rule: unknown) => {
        const d = isObject(rule) ? rule["applyServerSideEncryptionByDefault"] : undefined;
        return (
          isObject(d) &&
          (d["sseAlgorithm"] === "aws:kms" || d["sseAlgorithm"] === "aws:kms:dsse") &&
          typeof d["kmsMasterKeyId"] === "string" &&
          d["kmsMasterKeyId"] !== ""
        );
      })
    );
  });
}

interface BackupConfig {
  requireEncryptedS3: boolean;
}
const backupSchema = {
  properties: {
    requireEncryptedS3: {
      type: "boolean",
      default: false,
      description:
        "Backups must go to an S3 bucket encrypted with SSE-KMS (compliance and production).",
    },
  },
} satisfies StackValidationPolicy["configSchema"];

export const stackBackupEncryptedS3: StackValidationPolicy = {
  name: "stack-backup-encrypted-s3",
  description:
    "Where the stage requires it, the backup goes to an S3 bucket encrypted with SSE-KMS.",
  severity: "critical",
  configSchema: backupSchema,
  validateStack: onlyFor(
    COMPONENT_TYPES.backup,
    (args: StackValidationArgs, report: ReportViolation) => {
      const cfg = configWithDefaults<BackupConfig>(backupSchema, args.getConfig());
      if (!cfg.requireEncryptedS3) notApplicable(args, "this stage may back up to a volume");
      const backups = args.resources.filter((r) => r.type === COMPONENT_TYPES.backup);
      if (backups.length === 0)
        notApplicable(args, "the stack has no backup component (see stack-required-components)");
      const fix =
        `Set backup.target: s3 and backup.kms: true in Pulumi.<stage>.yaml, so the backup component ` +
        `creates an aws.s3.Bucket with an aws.s3.BucketServerSideEncryptionConfiguration using "aws:kms" ` +
        `and a customer-managed aws.kms.Key.`;
      const allBuckets = args.resources.filter((r) => BUCKET_TYPES.includes(r.type));
      const sses = ofCompanionType(SSE, args.resources);
      for (const backup of backups) {
        const children = args.resources.filter((r) => isDescendantOf(r, backup));
        // Buckets the backup owns, or that its children depend on (a bucket made elsewhere).
        const used = new Set(children.flatMap((c) => (c.dependencies ?? []).map((d) => d.urn)));
        const buckets = allBuckets.filter((r) => isDescendantOf(r, backup) || used.has(r.urn));
        if (buckets.length === 0) {
          const volumes = children.filter(
            (r) =>
              r.type === PVC ||
              (r.type === STATEFULSET &&
                isObject(raw(r.props)["spec"]) &&
                "volumeClaimTemplates" in (raw(r.props)["spec"] as object)),
          );
          report(
            `Backup "${backup.name}" writes to ${volumes.length > 0 ? `a volume (${volumes.map((v) => v.name).join(", ")})` : "no S3 bucket"}, ` +
              `but this stage requires an encrypted S3 bucket. ${fix}`,
            backup.urn,
          );
          continue;
        }
        for (const bucket of buckets) {
          if (!kmsEncrypted(bucket, sses)) {
            report(
              `Backup bucket "${bucket.name}" of "${backup.name}" is not encrypted with SSE-KMS. ${fix}`,
              bucket.urn,
            );
          }
        }
      }
    },
  ),
};

interface QuotaConfig {
  maxResources: number;
}
const quotaSchema = {
  properties: {
    maxResources: {
      type: "integer",
      minimum: 1,
      default: 300,
      description: "Most resources a stage may have (the root Stack and providers not counted).",
    },
  },
} satisfies StackValidationPolicy["configSchema"];

export const stackResourceQuota: StackValidationPolicy = {
  name: "stack-resource-quota",
  description: "A stage stays within its resource-count quota.",
  severity: "low",
  configSchema: quotaSchema,
  validateStack: (args, report) => {
    const cfg = configWithDefaults<QuotaConfig>(quotaSchema, args.getConfig());
    const counted = args.resources.filter(
      (r) => r.type !== "pulumi:pulumi:Stack" && !r.type.startsWith("pulumi:providers:"),
    );
    if (counted.length > cfg.maxResources) {
      report(
        `The stage has ${counted.length} resources, over its quota of ${cfg.maxResources}. Remove ` +
          `resources, or raise stack-resource-quota.maxResources in policy-pack/config/<stage>.json ` +
          `with a reviewer's approval.`,
      );
    }
  },
};

export const stackPolicies = [stackRequiredComponents, stackBackupEncryptedS3, stackResourceQuota];

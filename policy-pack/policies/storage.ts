/**
 * Storage policies: the S3 bucket that holds backups and the KMS key that encrypts it.
 *
 * With @pulumi/aws 7 a bucket's versioning, encryption, public-access block, policy, lifecycle and
 * object lock are separate resources (aws.s3.BucketVersioning, …) that point at the bucket through
 * their `bucket` property. The bucket rules are therefore stack policies: for every aws.s3.Bucket
 * they look for its companion resource and check what it sets. Companions are matched by bucket
 * name or, when the name is not known yet, by dependency.
 */
import * as aws from "@pulumi/aws";
import {
  validateResourceOfType,
  type PolicyResource,
  type ReportViolation,
  type ResourceValidationPolicy,
  type StackValidationArgs,
  type StackValidationPolicy,
} from "@pulumi/policy";
import {
  BUCKET_TYPES,
  companionsOf,
  configWithDefaults,
  isObject,
  ofCompanionType,
  raw,
  typeOf,
  notApplicable,
} from "./util.js";

const T = {
  bucket: typeOf(aws.s3.Bucket),
  sse: typeOf(aws.s3.BucketServerSideEncryptionConfiguration),
  versioning: typeOf(aws.s3.BucketVersioning),
  publicAccessBlock: typeOf(aws.s3.BucketPublicAccessBlock),
  policy: typeOf(aws.s3.BucketPolicy),
  lifecycle: typeOf(aws.s3.BucketLifecycleConfiguration),
  objectLock: typeOf(aws.s3.BucketObjectLockConfiguration),
};

/**
 * A stack policy that runs `check` for every aws.s3.Bucket (and deprecated BucketV2) with its
 * companions of `companionType` (and its deprecated `…V2` alias); not applicable without buckets.
 */
function perBucket<C extends object>(
  companionType: string,
  check: (
    bucket: PolicyResource,
    companions: PolicyResource[],
    report: ReportViolation,
    cfg: C,
    args: StackValidationArgs,
  ) => void,
  schema?: StackValidationPolicy["configSchema"],
): StackValidationPolicy["validateStack"] {
  return (args, report) => {
    const buckets = args.resources.filter((r) => BUCKET_TYPES.includes(r.type));
    if (buckets.length === 0) notApplicable(args, "the stack has no aws.s3.Bucket");
    const cfg = schema ? configWithDefaults<C>(schema, args.getConfig()) : ({} as C);
    const candidates = ofCompanionType(companionType, args.resources);
    for (const bucket of buckets) {
      check(bucket, companionsOf(bucket, candidates), report, cfg, args);
    }
  };
}

export const s3BucketEncryptionKms: StackValidationPolicy = {
  name: "s3-bucket-encryption-kms",
  description: "S3 buckets are encrypted with SSE-KMS under a customer-managed KMS key.",
  severity: "high",
  validateStack: perBucket(T.sse, (bucket, sses, report) => {
    if (sses.length === 0) {
      report(
        `S3 bucket "${bucket.name}" has no server-side encryption configuration. Add an ` +
          `aws.s3.BucketServerSideEncryptionConfiguration with bucket: <this bucket>.id and rules[0]` +
          `.applyServerSideEncryptionByDefault = { sseAlgorithm: "aws:kms", kmsMasterKeyId: <aws.kms.Key>.arn }.`,
        bucket.urn,
      );
      return;
    }
    for (const sse of sses) {
      const rules: unknown[] = Array.isArray(sse.props["rules"]) ? sse.props["rules"] : [];
      if (rules.length === 0) {
        report(
          `Encryption configuration "${sse.name}" of bucket "${bucket.name}" has no rules. Set rules[0]` +
            `.applyServerSideEncryptionByDefault = { sseAlgorithm: "aws:kms", kmsMasterKeyId: <key>.arn }.`,
          sse.urn,
        );
      }
      rules.forEach((rule, i) => {
        const byDefault = isObject(rule) ? rule["applyServerSideEncryptionByDefault"] : undefined;
        const algorithm = isObject(byDefault) ? byDefault["sseAlgorithm"] : undefined;
        const keyId = isObject(byDefault) ? raw(byDefault)["kmsMasterKeyId"] : undefined;
        if (algorithm !== "aws:kms" && algorithm !== "aws:kms:dsse") {
          report(
            `Encryption configuration "${sse.name}" of bucket "${bucket.name}": rules[${i}]` +
              `.applyServerSideEncryptionByDefault.sseAlgorithm is ${JSON.stringify(algorithm ?? null)}. ` +
              `Set it to "aws:kms" and kmsMasterKeyId to a customer-managed aws.kms.Key.`,
            sse.urn,
          );
        } else if (typeof keyId !== "string" || keyId === "") {
          report(
            `Encryption configuration "${sse.name}" of bucket "${bucket.name}": rules[${i}]` +
              `.applyServerSideEncryptionByDefault.kmsMasterKeyId is not set, so the AWS-managed key is ` +
              `used. Set it to the ARN of a customer-managed aws.kms.Key (with rotation on).`,
            sse.urn,
          );
        }
      });
    }
  }),
};

export const s3BucketVersioning: StackValidationPolicy = {
  name: "s3-bucket-versioning",
  description:
    "S3 buckets keep object versions, so an overwritten or deleted backup can be recovered.",
  severity: "medium",
  validateStack: perBucket(T.versioning, (bucket, versionings, report) => {
    if (versionings.length === 0) {
      report(
        `S3 bucket "${bucket.name}" has no versioning. Add an aws.s3.BucketVersioning with ` +
          `bucket: <this bucket>.id and versioningConfiguration: { status: "Enabled" }.`,
        bucket.urn,
      );
      return;
    }
    for (const v of versionings) {
      const status = isObject(v.props["versioningConfiguration"])
        ? v.props["versioningConfiguration"]["status"]
        : undefined;
      if (status !== "Enabled") {
        report(
          `Versioning "${v.name}" of bucket "${bucket.name}" has versioningConfiguration.status ` +
            `${JSON.stringify(status ?? null)}. Set it to "Enabled".`,
          v.urn,
        );
      }
    }
  }),
};

const PUBLIC_ACCESS_FLAGS = [
  "blockPublicAcls",
  "blockPublicPolicy",
  "ignorePublicAcls",
  "restrictPublicBuckets",
] as const;

export const s3BucketPublicAccessBlock: StackValidationPolicy = {
  name: "s3-bucket-public-access-block",
  description: "S3 buckets block every form of public access (all four public-access-block flags).",
  severity: "critical",
  validateStack: perBucket(T.publicAccessBlock, (bucket, blocks, report) => {
    if (blocks.length === 0) {
      report(
        `S3 bucket "${bucket.name}" has no public access block. Add an aws.s3.BucketPublicAccessBlock ` +
          `with bucket: <this bucket>.id and ${PUBLIC_ACCESS_FLAGS.map((f) => `${f}: true`).join(", ")}.`,
        bucket.urn,
      );
      return;
    }
    for (const b of blocks) {
      const off = PUBLIC_ACCESS_FLAGS.filter((f) => b.props[f] !== true);
      if (off.length > 0) {
        report(
          `Public access block "${b.name}" of bucket "${bucket.name}" does not set ` +
            `${off.join(", ")} to true. Set all four flags to true.`,
          b.urn,
        );
      }
    }
  }),
};

/** Does an IAM policy statement deny every request that does not use TLS? */
function isTlsDeny(statement: unknown): boolean {
  if (!isObject(statement) || statement["Effect"] !== "Deny") return false;
  const principal = statement["Principal"];
  const anyone =
    principal === "*" ||
    (isObject(principal) &&
      (principal["AWS"] === "*" ||
        (Array.isArray(principal["AWS"]) && principal["AWS"].includes("*"))));
  const actions = ([] as unknown[]).concat(statement["Action"] ?? []);
  const allActions = actions.includes("s3:*") || actions.includes("*");
  const cond = isObject(statement["Condition"]) ? statement["Condition"]["Bool"] : undefined;
  const secure = isObject(cond) ? cond["aws:SecureTransport"] : undefined;
  const insecureOnly =
    secure === "false" || secure === false || (Array.isArray(secure) && secure.includes("false"));
  return anyone && allActions && insecureOnly;
}

export const s3BucketTlsOnly: StackValidationPolicy = {
  name: "s3-bucket-tls-only",
  description: "S3 bucket policies deny every request that is not made over TLS.",
  severity: "high",
  validateStack: perBucket(T.policy, (bucket, policies, report) => {
    const fix =
      `a statement { Effect: "Deny", Principal: "*", Action: "s3:*", Resource: [<bucket arn>, ` +
      `<bucket arn>/*], Condition: { Bool: { "aws:SecureTransport": "false" } } }`;
    if (policies.length === 0) {
      report(
        `S3 bucket "${bucket.name}" has no bucket policy. Add an aws.s3.BucketPolicy with bucket: ` +
          `<this bucket>.id and ${fix}.`,
        bucket.urn,
      );
      return;
    }
    const ok = policies.some((p) => {
      let doc: unknown = p.props["policy"];
      if (typeof doc === "string") {
        try {
          doc = JSON.parse(doc);
        } catch {
          return false;
        }
      }
      const statements = isObject(doc) ? ([] as unknown[]).concat(doc["Statement"] ?? []) : [];
      return statements.some(isTlsDeny);
    });
    if (!ok) {
      const p = policies[0] as PolicyResource;
      report(
        `Bucket policy "${p.name}" of bucket "${bucket.name}" does not deny plain-HTTP requests. Add ${fix}.`,
        p.urn,
      );
    }
  }),
};

interface LifecycleConfig {
  minRetentionDays: number;
}
const lifecycleSchema = {
  properties: {
    minRetentionDays: {
      type: "integer",
      minimum: 1,
      default: 30,
      description: "No lifecycle rule may expire objects (current or noncurrent) sooner than this.",
    },
  },
} satisfies StackValidationPolicy["configSchema"];

export const s3BucketLifecycle: StackValidationPolicy = {
  name: "s3-bucket-lifecycle",
  description:
    "S3 buckets have a lifecycle configuration that keeps objects at least the stage's minimum retention.",
  severity: "medium",
  configSchema: lifecycleSchema,
  validateStack: perBucket<LifecycleConfig>(
    T.lifecycle,
    (bucket, lifecycles, report, cfg) => {
      const min = cfg.minRetentionDays;
      if (lifecycles.length === 0) {
        report(
          `S3 bucket "${bucket.name}" has no lifecycle configuration. Add an ` +
            `aws.s3.BucketLifecycleConfiguration with bucket: <this bucket>.id and an "Enabled" rule ` +
            `whose expiration.days (and noncurrentVersionExpiration.noncurrentDays) is at least ${min}.`,
          bucket.urn,
        );
        return;
      }
      for (const lc of lifecycles) {
        const rules: unknown[] = Array.isArray(lc.props["rules"]) ? lc.props["rules"] : [];
        const enabled = rules.filter((r) => isObject(r) && r["status"] === "Enabled");
        if (enabled.length === 0) {
          report(
            `Lifecycle configuration "${lc.name}" of bucket "${bucket.name}" has no rule with status ` +
              `"Enabled". Add one whose expiration.days is at least ${min}.`,
            lc.urn,
          );
        }
        for (const rule of enabled) {
          if (!isObject(rule)) continue;
          const id = JSON.stringify(rule["id"] ?? "?");
          const exp = isObject(rule["expiration"]) ? rule["expiration"]["days"] : undefined;
          const nc = isObject(rule["noncurrentVersionExpiration"])
            ? rule["noncurrentVersionExpiration"]["noncurrentDays"]
            : undefined;
          if (typeof exp === "number" && exp < min) {
            report(
              `Lifecycle rule ${id} of bucket "${bucket.name}" expires objects after ${exp} days, below ` +
                `the minimum retention of ${min} days. Set expiration.days to ${min} or more.`,
              lc.urn,
            );
          }
          if (typeof nc === "number" && nc < min) {
            report(
              `Lifecycle rule ${id} of bucket "${bucket.name}" expires noncurrent versions after ${nc} ` +
                `days, below the minimum retention of ${min} days. Set ` +
                `noncurrentVersionExpiration.noncurrentDays to ${min} or more.`,
              lc.urn,
            );
          }
        }
      }
    },
    lifecycleSchema,
  ),
};

interface ObjectLockConfig {
  required: boolean;
  minRetentionDays: number;
  mode: "GOVERNANCE" | "COMPLIANCE";
}
const objectLockSchema = {
  properties: {
    required: {
      type: "boolean",
      default: false,
      description: "Whether every bucket must have object lock (production: true).",
    },
    minRetentionDays: {
      type: "integer",
      minimum: 1,
      default: 1,
      description: "Least default retention of the object lock, in days.",
    },
    mode: {
      type: "string",
      enum: ["GOVERNANCE", "COMPLIANCE"],
      default: "COMPLIANCE",
      description: "Object-lock mode the default retention must use.",
    },
  },
} satisfies StackValidationPolicy["configSchema"];

export const s3BucketObjectLock: StackValidationPolicy = {
  name: "s3-bucket-object-lock",
  description:
    "Where the stage requires it (production), S3 buckets have object lock with a default retention.",
  severity: "high",
  configSchema: objectLockSchema,
  validateStack: perBucket<ObjectLockConfig>(
    T.objectLock,
    (bucket, locks, report, cfg, args) => {
      if (!cfg.required) notApplicable(args, "object lock is not required in this stage");
      const fix =
        `an aws.s3.BucketObjectLockConfiguration with bucket: <this bucket>.id and rule.defaultRetention = ` +
        `{ mode: "${cfg.mode}", days: ${cfg.minRetentionDays} or more }`;
      if (bucket.props["objectLockEnabled"] !== true) {
        report(
          `S3 bucket "${bucket.name}" does not have objectLockEnabled: true (it can only be set when the ` +
            `bucket is created). Set objectLockEnabled: true on the aws.s3.Bucket and add ${fix}.`,
          bucket.urn,
        );
      }
      if (locks.length === 0) {
        report(
          `S3 bucket "${bucket.name}" has no object-lock configuration. Add ${fix}.`,
          bucket.urn,
        );
        return;
      }
      for (const lock of locks) {
        const retention = isObject(lock.props["rule"])
          ? lock.props["rule"]["defaultRetention"]
          : undefined;
        const mode = isObject(retention) ? retention["mode"] : undefined;
        const days = isObject(retention)
          ? (typeof retention["days"] === "number" ? retention["days"] : 0) +
            (typeof retention["years"] === "number" ? retention["years"] * 365 : 0)
          : 0;
        if (mode !== cfg.mode || days < cfg.minRetentionDays) {
          report(
            `Object-lock configuration "${lock.name}" of bucket "${bucket.name}" has default retention ` +
              `mode ${JSON.stringify(mode ?? null)} for ${days} days; required: mode "${cfg.mode}" for at ` +
              `least ${cfg.minRetentionDays} days. Set rule.defaultRetention accordingly.`,
            lock.urn,
          );
        }
      }
    },
    objectLockSchema,
  ),
};

interface ForceDestroyConfig {
  allowForceDestroy: boolean;
}
const forceDestroySchema = {
  properties: {
    allowForceDestroy: {
      type: "boolean",
      default: false,
      description:
        "Allow forceDestroy (deleting a bucket with its objects): only in a throwaway sandbox.",
    },
  },
} satisfies ResourceValidationPolicy["configSchema"];

export const s3BucketNoForceDestroy: ResourceValidationPolicy = {
  name: "s3-bucket-no-force-destroy",
  description:
    "S3 buckets outside the sandbox cannot be deleted together with their objects (no forceDestroy).",
  severity: "high",
  configSchema: forceDestroySchema,
  validateResource: validateResourceOfType(aws.s3.Bucket, (bucket, args, report) => {
    const cfg = configWithDefaults<ForceDestroyConfig>(forceDestroySchema, args.getConfig());
    if (bucket.forceDestroy === true && !cfg.allowForceDestroy) {
      report(
        `S3 bucket "${args.name}" sets forceDestroy: true, so deleting the stack would delete every backup ` +
          `in it. Remove forceDestroy (or set it to false).`,
      );
    }
  }),
};

export const kmsKeyRotation: ResourceValidationPolicy = {
  name: "kms-key-rotation",
  description: "KMS keys rotate their key material automatically.",
  severity: "medium",
  validateResource: validateResourceOfType(aws.kms.Key, (key, args, report) => {
    const spec =
      key.customerMasterKeySpec ?? (raw(args.props) as Record<string, unknown>)["keySpec"];
    if (typeof spec === "string" && spec !== "SYMMETRIC_DEFAULT") {
      notApplicable(args, `key spec ${spec} does not support automatic rotation`);
    }
    if (key.enableKeyRotation !== true) {
      report(
        `KMS key "${args.name}" does not rotate its key material. Set enableKeyRotation: true.`,
      );
    }
  }),
};

export const storagePolicies = [
  s3BucketEncryptionKms,
  s3BucketVersioning,
  s3BucketPublicAccessBlock,
  s3BucketTlsOnly,
  s3BucketLifecycle,
  s3BucketObjectLock,
  s3BucketNoForceDestroy,
  kmsKeyRotation,
];

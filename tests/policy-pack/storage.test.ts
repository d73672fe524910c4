import * as aws from "@pulumi/aws";
import { describe, expect, it } from "vitest";
import {
  kmsKeyRotation,
  s3BucketEncryptionKms,
  s3BucketLifecycle,
  s3BucketNoForceDestroy,
  s3BucketObjectLock,
  s3BucketPublicAccessBlock,
  s3BucketTlsOnly,
  s3BucketVersioning,
} from "../../policy-pack/policies/storage.js";
import { bucketStack } from "./fixtures.js";
import { readPackConfig, runResourcePolicy, runStackPolicy, UNKNOWN } from "./harness.js";

const production = readPackConfig("production");
const compliance = readPackConfig("compliance");
const sandbox = readPackConfig("sandbox");

describe("s3-bucket-encryption-kms", () => {
  it("passes a bucket with SSE-KMS under its own key", async () => {
    expect(
      (await runStackPolicy(s3BucketEncryptionKms, bucketStack(), production)).violations,
    ).toEqual([]);
  });
  it("flags a bucket with no encryption configuration, on the bucket", async () => {
    const r = await runStackPolicy(
      s3BucketEncryptionKms,
      bucketStack({ encryption: null }),
      production,
    );
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0]?.level).toBe("mandatory");
    expect(r.violations[0]?.urn).toContain("aws:s3/bucket:Bucket::backup-bucket");
    expect(r.violations[0]?.message).toMatch(
      /no server-side encryption configuration.*sseAlgorithm: "aws:kms"/,
    );
  });
  it("flags AES256 and a missing key id, naming the field", async () => {
    const aes = await runStackPolicy(
      s3BucketEncryptionKms,
      bucketStack({
        encryption: { rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] },
      }),
      production,
    );
    expect(aes.violations[0]?.message).toMatch(
      /rules\[0\]\.applyServerSideEncryptionByDefault\.sseAlgorithm is "AES256"/,
    );
    const noKey = await runStackPolicy(
      s3BucketEncryptionKms,
      bucketStack({
        encryption: {
          rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms" } }],
        },
      }),
      production,
    );
    expect(noKey.violations[0]?.message).toMatch(/kmsMasterKeyId is not set/);
  });
  it("matches companions by dependency when the bucket name is unknown during preview", async () => {
    const stack = bucketStack().map((r) =>
      r.type === "aws:s3/bucket:Bucket" ||
      (r.props["bucket"] !== undefined && r.name !== "backup-encryption")
        ? { ...r, props: { ...r.props, bucket: UNKNOWN } }
        : r,
    );
    const enc = stack.find((r) => r.name === "backup-encryption");
    if (enc) enc.props["bucket"] = UNKNOWN;
    const r = await runStackPolicy(s3BucketEncryptionKms, stack, production);
    // The encryption config depends on the bucket through `bucket`, so it still belongs to it.
    expect(r.violations).toEqual([]);
  });
  it("does not apply to a stack without buckets", async () => {
    const r = await runStackPolicy(
      s3BucketEncryptionKms,
      [{ type: "aws:kms/key:Key", name: "k", props: {} }],
      sandbox,
    );
    expect(r.notApplicable).toMatch(/no aws.s3.Bucket/);
  });
  it("checks the deprecated BucketV2 and *V2 companions the same way", async () => {
    const v2 = bucketStack().map((r) =>
      r.name === "backup-bucket"
        ? { ...r, type: "aws:s3/bucketV2:BucketV2" }
        : r.name === "backup-encryption"
          ? {
              ...r,
              type: "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
            }
          : r,
    );
    expect((await runStackPolicy(s3BucketEncryptionKms, v2, production)).violations).toEqual([]);
    const bare = v2.filter((r) => r.name !== "backup-encryption");
    const r = await runStackPolicy(s3BucketEncryptionKms, bare, production);
    expect(r.violations[0]?.urn).toContain("aws:s3/bucketV2:BucketV2::backup-bucket");
  });
});

describe("s3-bucket-versioning", () => {
  it("passes Enabled versioning", async () => {
    expect(
      (await runStackPolicy(s3BucketVersioning, bucketStack(), compliance)).violations,
    ).toEqual([]);
  });
  it("flags Suspended versioning and a missing one", async () => {
    const suspended = await runStackPolicy(
      s3BucketVersioning,
      bucketStack({ versioning: { versioningConfiguration: { status: "Suspended" } } }),
      compliance,
    );
    expect(suspended.violations[0]?.message).toMatch(
      /versioningConfiguration.status "Suspended".*"Enabled"/,
    );
    expect(suspended.violations[0]?.urn).toContain("BucketVersioning::backup-versioning");
    const none = await runStackPolicy(
      s3BucketVersioning,
      bucketStack({ versioning: null }),
      compliance,
    );
    expect(none.violations[0]?.message).toMatch(/has no versioning/);
  });
});

describe("s3-bucket-public-access-block", () => {
  it("passes all four flags on", async () => {
    expect(
      (await runStackPolicy(s3BucketPublicAccessBlock, bucketStack(), production)).violations,
    ).toEqual([]);
  });
  it("flags each flag that is off, by name", async () => {
    const r = await runStackPolicy(
      s3BucketPublicAccessBlock,
      bucketStack({ publicAccess: { blockPublicPolicy: false, restrictPublicBuckets: undefined } }),
      production,
    );
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0]?.message).toMatch(
      /does not set blockPublicPolicy, restrictPublicBuckets to true/,
    );
  });
  it("flags a bucket without a public access block", async () => {
    const r = await runStackPolicy(
      s3BucketPublicAccessBlock,
      bucketStack({ publicAccess: null }),
      production,
    );
    expect(r.violations[0]?.message).toMatch(/no public access block/);
  });
});

describe("s3-bucket-tls-only", () => {
  it("passes a policy that denies aws:SecureTransport false", async () => {
    expect((await runStackPolicy(s3BucketTlsOnly, bucketStack(), production)).violations).toEqual(
      [],
    );
  });
  it("accepts the policy as an object too", async () => {
    const doc = JSON.parse(
      String(bucketStack().find((r) => r.name === "backup-tls-only")?.props["policy"]),
    );
    const r = await runStackPolicy(
      s3BucketTlsOnly,
      bucketStack({ policy: { policy: doc } }),
      production,
    );
    expect(r.violations).toEqual([]);
  });
  it("flags a policy without the TLS deny, and a missing policy", async () => {
    const allow = JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: "*" }],
    });
    const r = await runStackPolicy(
      s3BucketTlsOnly,
      bucketStack({ policy: { policy: allow } }),
      production,
    );
    expect(r.violations[0]?.message).toMatch(
      /does not deny plain-HTTP requests.*aws:SecureTransport/,
    );
    const none = await runStackPolicy(s3BucketTlsOnly, bucketStack({ policy: null }), production);
    expect(none.violations[0]?.message).toMatch(/has no bucket policy/);
  });
  it("cannot run on a policy document that is unknown during preview (advisory, like the runtime)", async () => {
    const r = await runStackPolicy(
      s3BucketTlsOnly,
      bucketStack({ policy: { policy: UNKNOWN } }),
      production,
    );
    expect(r.unknown).toMatch(/can't be known during preview/);
  });
});

describe("s3-bucket-lifecycle", () => {
  it("passes expiry at the stage minimum (production 90 days)", async () => {
    expect((await runStackPolicy(s3BucketLifecycle, bucketStack(), production)).violations).toEqual(
      [],
    );
  });
  it("flags expiry below the stage minimum, on both current and noncurrent versions", async () => {
    const short = {
      rules: [
        {
          id: "expire-backups",
          status: "Enabled",
          expiration: { days: 30 },
          noncurrentVersionExpiration: { noncurrentDays: 7 },
        },
      ],
    };
    const prod = await runStackPolicy(
      s3BucketLifecycle,
      bucketStack({ lifecycle: short }),
      production,
    );
    expect(prod.violations.map((v) => v.message)).toEqual([
      expect.stringMatching(
        /after 30 days, below the minimum retention of 90 days.*expiration.days/,
      ),
      expect.stringMatching(/noncurrent versions after 7 days.*noncurrentDays to 90/),
    ]);
    // The same rule meets compliance's 30-day minimum for current versions.
    const comp = await runStackPolicy(
      s3BucketLifecycle,
      bucketStack({ lifecycle: short }),
      compliance,
    );
    expect(comp.violations).toHaveLength(1);
  });
  it("flags a missing lifecycle and one with no enabled rule", async () => {
    const none = await runStackPolicy(
      s3BucketLifecycle,
      bucketStack({ lifecycle: null }),
      production,
    );
    expect(none.violations[0]?.message).toMatch(/no lifecycle configuration.*at least 90/);
    const disabled = await runStackPolicy(
      s3BucketLifecycle,
      bucketStack({
        lifecycle: { rules: [{ id: "x", status: "Disabled", expiration: { days: 365 } }] },
      }),
      production,
    );
    expect(disabled.violations[0]?.message).toMatch(/no rule with status "Enabled"/);
  });
});

describe("s3-bucket-object-lock", () => {
  it("passes COMPLIANCE retention of 30 days in production", async () => {
    expect(
      (await runStackPolicy(s3BucketObjectLock, bucketStack(), production)).violations,
    ).toEqual([]);
  });
  it("flags a production bucket without object lock", async () => {
    const r = await runStackPolicy(
      s3BucketObjectLock,
      bucketStack({ bucket: { objectLockEnabled: false }, objectLock: null }),
      production,
    );
    expect(r.violations.map((v) => v.message)).toEqual([
      expect.stringMatching(/does not have objectLockEnabled: true/),
      expect.stringMatching(/no object-lock configuration/),
    ]);
  });
  it("flags a too-short or GOVERNANCE retention", async () => {
    const r = await runStackPolicy(
      s3BucketObjectLock,
      bucketStack({ objectLock: { rule: { defaultRetention: { mode: "GOVERNANCE", days: 7 } } } }),
      production,
    );
    expect(r.violations[0]?.message).toMatch(
      /mode "GOVERNANCE" for 7 days; required: mode "COMPLIANCE" for at least 30/,
    );
  });
  it("is not applicable in compliance, where object lock is not required", async () => {
    const r = await runStackPolicy(
      s3BucketObjectLock,
      bucketStack({ objectLock: null }),
      compliance,
    );
    expect(r.notApplicable).toMatch(/not required/);
  });
});

describe("s3-bucket-no-force-destroy", () => {
  it("passes a bucket without forceDestroy", async () => {
    const r = await runResourcePolicy(
      s3BucketNoForceDestroy,
      { type: aws.s3.Bucket, props: { bucketPrefix: "b-" } },
      production,
    );
    expect(r.violations).toEqual([]);
  });
  it("flags forceDestroy outside the sandbox and allows it in the sandbox", async () => {
    const input = { type: aws.s3.Bucket, name: "backup-bucket", props: { forceDestroy: true } };
    const prod = await runResourcePolicy(s3BucketNoForceDestroy, input, production);
    expect(prod.violations[0]?.message).toMatch(/sets forceDestroy: true.*Remove forceDestroy/);
    expect(prod.violations[0]?.diagnostic.split("\n")[0]).toBe(s3BucketNoForceDestroy.description);
    expect((await runResourcePolicy(s3BucketNoForceDestroy, input, sandbox)).violations).toEqual(
      [],
    );
  });
  it("is not applicable to other types (validateResourceOfType fast path)", async () => {
    const r = await runResourcePolicy(
      s3BucketNoForceDestroy,
      { type: aws.kms.Key, props: {} },
      production,
    );
    expect(r.notApplicable).toBe("Policy only applies to resources of type 'aws:s3/bucket:Bucket'");
  });
});

describe("kms-key-rotation", () => {
  it("passes a key with rotation on", async () => {
    const r = await runResourcePolicy(
      kmsKeyRotation,
      { type: aws.kms.Key, props: { enableKeyRotation: true } },
      production,
    );
    expect(r.violations).toEqual([]);
  });
  it("flags a key without rotation", async () => {
    const r = await runResourcePolicy(
      kmsKeyRotation,
      { type: aws.kms.Key, name: "backup-key", props: {} },
      production,
    );
    expect(r.violations[0]?.message).toBe(
      'KMS key "backup-key" does not rotate its key material. Set enableKeyRotation: true.',
    );
    expect(r.violations[0]?.level).toBe("mandatory");
  });
  it("does not apply to asymmetric keys, which cannot rotate", async () => {
    const r = await runResourcePolicy(
      kmsKeyRotation,
      { type: aws.kms.Key, props: { customerMasterKeySpec: "RSA_3072", keyUsage: "SIGN_VERIFY" } },
      production,
    );
    expect(r.notApplicable).toMatch(/RSA_3072/);
  });
});

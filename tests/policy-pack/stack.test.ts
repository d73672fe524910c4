import { describe, expect, it } from "vitest";
import {
  stackBackupEncryptedS3,
  stackRequiredComponents,
  stackResourceQuota,
} from "../../policy-pack/policies/stack.js";
import { bucketStack, componentStack, manyResources, volumeBackup } from "./fixtures.js";
import { readPackConfig, runStackPolicy } from "./harness.js";

const production = readPackConfig("production");
const compliance = readPackConfig("compliance");
const sandbox = readPackConfig("sandbox");

describe("stack-required-components", () => {
  it("passes a stage with all four components", async () => {
    expect(
      (await runStackPolicy(stackRequiredComponents, componentStack(), production)).violations,
    ).toEqual([]);
  });
  it("flags missing components, naming them, on the Stage", async () => {
    const r = await runStackPolicy(
      stackRequiredComponents,
      componentStack(["backup", "scanner"]),
      sandbox,
    );
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0]?.message).toMatch(
      /no goldengoose:backup:Backup, goldengoose:security:Scanner components/,
    );
    expect(r.violations[0]?.urn).toContain("goldengoose:platform:Stage::production");
    expect(r.violations[0]?.level).toBe("advisory");
  });
});

describe("stack-backup-encrypted-s3", () => {
  it("passes a backup to a KMS-encrypted bucket", async () => {
    expect(
      (await runStackPolicy(stackBackupEncryptedS3, bucketStack(), production)).violations,
    ).toEqual([]);
  });
  it("flags production backing up to a volume", async () => {
    const r = await runStackPolicy(stackBackupEncryptedS3, volumeBackup(), production);
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0]?.message).toMatch(
      /writes to a volume \(backup-volume\).*Set backup.target: s3 and backup.kms: true/,
    );
    expect(r.violations[0]?.level).toBe("mandatory");
  });
  it("flags a backup bucket without SSE-KMS", async () => {
    const r = await runStackPolicy(
      stackBackupEncryptedS3,
      bucketStack({
        encryption: { rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] },
      }),
      compliance,
    );
    expect(r.violations[0]?.message).toMatch(
      /Backup bucket "backup-bucket" of "backup" is not encrypted with SSE-KMS/,
    );
  });
  it("lets the sandbox back up to a volume", async () => {
    expect(
      (await runStackPolicy(stackBackupEncryptedS3, volumeBackup(), sandbox)).notApplicable,
    ).toMatch(/volume/);
  });
});

describe("stack-resource-quota", () => {
  const many = manyResources;
  it("passes at the quota (the root Stack and providers do not count)", async () => {
    expect((await runStackPolicy(stackResourceQuota, many(200), production)).violations).toEqual(
      [],
    );
  });
  it("flags a stage over its quota", async () => {
    const r = await runStackPolicy(stackResourceQuota, many(201), production);
    expect(r.violations[0]?.message).toMatch(/201 resources, over its quota of 200/);
  });
});

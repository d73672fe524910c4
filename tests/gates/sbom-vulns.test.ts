import { copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import semver from "semver";
import { beforeAll, describe, expect, it } from "vitest";
import { loadStageConfigFile } from "../../src/config/index.js";
import { loadComplianceRules } from "../../src/audit/index.js";
import {
  buildSbom,
  loadEnrichment,
  ociPurl,
  parseImageRef,
  sbomGate,
  validateSbom,
  type SbomBuild,
} from "../../src/gates/sbom.js";
import {
  loadAllowList,
  matchSbom,
  rangeAffects,
  vulnGate,
  loadVulnDb,
} from "../../src/gates/vulns.js";
import { GateInputError } from "../../src/gates/types.js";
import { openStore } from "../../src/store/index.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const security = path.join(repoRoot, "security");
const files = {
  db: path.join(security, "vulnerability-db.json"),
  policy: path.join(security, "vulnerability-policy.yaml"),
  allow: path.join(security, "allow-list.yaml"),
  enrichment: path.join(security, "sbom", "enrichment.yaml"),
};

function tmp(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

describe("SBOM", () => {
  let sbom: SbomBuild;
  beforeAll(() => {
    sbom = buildSbom({
      repoRoot,
      stage: "compliance",
      config: loadStageConfigFile(path.join(repoRoot, "Pulumi.compliance.yaml")),
      enrichment: loadEnrichment(files.enrichment),
    });
  });

  it("describes the npm tree and the stage's images, enriched, and validates as CycloneDX 1.6", async () => {
    const bom = JSON.parse(sbom.json) as {
      components: Array<Record<string, unknown>>;
      dependencies: Array<{ ref: string; dependsOn: string[] }>;
    };
    const semverC = bom.components.find((c) => c.purl === "pkg:npm/semver@7.8.6");
    expect(semverC).toMatchObject({
      type: "library",
      name: "semver",
      licenses: [{ license: { id: "ISC" } }],
    });
    expect((semverC?.hashes as Array<{ alg: string; content: string }>)[0]).toMatchObject({
      alg: "SHA-512",
    });
    const pulumi = bom.components.find((c) => c.group === "@pulumi" && c.name === "pulumi");
    expect(pulumi).toMatchObject({
      purl: "pkg:npm/%40pulumi/pulumi@3.270.0",
      supplier: { name: "Pulumi Corporation" },
    });
    const images = bom.components.filter((c) => c.type === "container");
    expect(images).toHaveLength(7);
    const prom = images.find((c) => String(c.name) === "quay.io/prometheus/prometheus");
    expect(prom?.purl).toMatch(
      /^pkg:oci\/prometheus\?repository_url=quay.io\/prometheus\/prometheus&tag=v/,
    );
    expect(prom).toMatchObject({
      supplier: { name: "Prometheus Authors" },
      licenses: [{ license: { id: "Apache-2.0" } }],
    });
    // No dev dependencies (vitest is one).
    expect(bom.components.some((c) => c.name === "vitest")).toBe(false);
    const root = bom.dependencies.find((d) => d.ref === "pkg:npm/golden-goose@0.1.0");
    expect(root?.dependsOn).toContain("pkg:npm/semver@7.8.6");
    expect(await validateSbom(sbom.json)).toEqual([]);
  });

  it("is deterministic: the same inputs give the same digest", () => {
    const again = buildSbom({
      repoRoot,
      stage: "compliance",
      config: loadStageConfigFile(path.join(repoRoot, "Pulumi.compliance.yaml")),
      enrichment: loadEnrichment(files.enrichment),
    });
    expect(again.digest).toBe(sbom.digest);
  });

  it("reports schema errors of a broken SBOM", async () => {
    const bom = JSON.parse(sbom.json) as { components: Array<Record<string, unknown>> };
    delete bom.components[0]?.type;
    const errors = await validateSbom(JSON.stringify(bom));
    expect(errors[0]).toMatch(/\/components\/0: must have required property 'type'/);
  });

  it("builds pkg:oci purls with digest, repository and tag", () => {
    const img = parseImageRef(`quay.io/prometheus/prometheus:v3.5.0@sha256:${"a".repeat(64)}`);
    expect(ociPurl(img)).toBe(
      `pkg:oci/prometheus@sha256%3A${"a".repeat(64)}?repository_url=quay.io/prometheus/prometheus&tag=v3.5.0`,
    );
  });

  it("the gate stores the SBOM apart from snapshots and reports unpinned images as a warning", async () => {
    const dir = tmp("goose-sbom-");
    const store = openStore(`file://${dir}`, {});
    const { result, sbom: out } = await sbomGate({
      repoRoot,
      stage: "compliance",
      config: loadStageConfigFile(path.join(repoRoot, "Pulumi.compliance.yaml")),
      enrichment: loadEnrichment(files.enrichment),
      enrichmentFile: files.enrichment,
      store,
    });
    expect(result.verdict).toBe("warn");
    expect(result.summary).toMatch(/7 image\(s\) pinned by tag/);
    expect(out?.key).toBe(`sbom/compliance/${out?.digest}.cdx.json`);
    expect((await store.get(out?.key ?? ""))?.body.toString()).toBe(out?.json);
    expect(result.subjects[0]?.digest.sha256).toBe(out?.digest);
  });

  it("names the file and field of a bad enrichment rule", () => {
    const f = path.join(tmp("goose-enrich-"), "enrichment.yaml");
    writeFileSync(f, "supplier: {name: x}\nrules:\n  - npm: a\n    image: b\n");
    expect(() => loadEnrichment(f)).toThrow(
      /enrichment\.yaml:3: rules\[0\]: each rule needs exactly one of npm or image/,
    );
  });
});

describe("OSV evaluation", () => {
  it("follows introduced / fixed / last_affected / limit", () => {
    const n: string[] = [];
    const r = (events: object[]) => ({ type: "ECOSYSTEM", events });
    expect(rangeAffects("7.5.1", r([{ introduced: "7.0.0" }, { fixed: "7.5.2" }]), n)).toBe(true);
    expect(rangeAffects("7.5.2", r([{ introduced: "7.0.0" }, { fixed: "7.5.2" }]), n)).toBe(false);
    expect(rangeAffects("6.9.0", r([{ introduced: "7.0.0" }, { fixed: "7.5.2" }]), n)).toBe(false);
    expect(rangeAffects("1.2.3", r([{ introduced: "0" }, { last_affected: "1.2.3" }]), n)).toBe(
      true,
    );
    expect(rangeAffects("1.2.4", r([{ introduced: "0" }, { last_affected: "1.2.3" }]), n)).toBe(
      false,
    );
    // Two introduced/fixed pairs in one range.
    const two = r([
      { introduced: "1.0.0" },
      { fixed: "1.1.0" },
      { introduced: "2.0.0" },
      { fixed: "2.0.5" },
    ]);
    expect(
      [0, 1, 2, 3].map((i) =>
        rangeAffects(["1.0.5", "1.5.0", "2.0.1", "2.0.5"][i] as string, two, n),
      ),
    ).toEqual([true, false, true, false]);
    expect(rangeAffects("3.0.0", r([{ introduced: "0" }, { limit: "2.0.0" }]), n)).toBe(false);
    expect(rangeAffects("1.0.0", r([{ introduced: "0" }, { limit: "2.0.0" }]), n)).toBe(true);
    expect(rangeAffects("1.0.0-rc.1", r([{ introduced: "0" }, { fixed: "1.0.0" }]), n)).toBe(true);
    expect(rangeAffects("1.0.0", { type: "GIT", events: [{ introduced: "0" }] }, n)).toBe(false);
    expect(n).toEqual([]);
  });

  it("matches [introduced, fixed) exactly like a semver range (property)", () => {
    const v = fc.tuple(fc.nat(5), fc.nat(5), fc.nat(5)).map(([a, b, c]) => `${a}.${b}.${c}`);
    fc.assert(
      fc.property(v, v, v, (version, lo, hi) => {
        fc.pre(semver.lt(lo, hi)); // OSV ranges list introduced before fixed
        const got = rangeAffects(
          version,
          { type: "SEMVER", events: [{ introduced: lo }, { fixed: hi }] },
          [],
        );
        return got === semver.satisfies(version, `>=${lo} <${hi}`);
      }),
      { numRuns: 500 },
    );
  });

  it("counts a record with a non-SemVer event as affected and says why", () => {
    const db = loadVulnDb(files.db);
    const findings = matchSbom(
      {
        components: [
          { purl: "pkg:npm/brace-expansion@5.0.13", name: "brace-expansion", version: "5.0.13" },
        ],
      },
      db.vulns,
    );
    expect(findings).toHaveLength(1);
    expect(findings[0]?.notes[0]).toMatch(/"2.0.2, 3.0.1, 4.0.1" are not SemVer/);
  });
});

describe("vulnerability gate", () => {
  const oldTree = {
    components: [
      { type: "library", name: "semver", version: "7.5.1", purl: "pkg:npm/semver@7.5.1" },
      { type: "library", name: "form-data", version: "4.0.0", purl: "pkg:npm/form-data@4.0.0" },
      {
        type: "library",
        group: "@grpc",
        name: "grpc-js",
        version: "1.14.7",
        purl: "pkg:npm/%40grpc/grpc-js@1.14.7",
      },
    ],
  };
  const sbomOf = (bom: object) => {
    const json = JSON.stringify(bom);
    return { json, digest: String(json.length) + "a".repeat(60) };
  };

  it("passes the shipped tree with the shipped allow-list, then answers from the cache", async () => {
    const store = openStore(`file://${tmp("goose-vuln-")}`, {});
    const sbom = buildSbom({
      repoRoot,
      stage: "production",
      config: loadStageConfigFile(path.join(repoRoot, "Pulumi.production.yaml")),
      enrichment: loadEnrichment(files.enrichment),
    });
    const input = {
      store,
      stage: "production" as const,
      sbom,
      dbFile: files.db,
      policyFile: files.policy,
      allowListFile: files.allow,
      repoRoot,
      now: new Date("2026-11-21T00:00:00Z"),
    };
    const first = await vulnGate(input);
    expect(first.verdict).toBe("pass");
    expect(first.details).toMatchObject({ cached: false, counts: { blocking: 0, allowed: 1 } });
    const second = await vulnGate(input);
    expect(second.details).toMatchObject({ cached: true });
    expect(second.subjects.map((s) => s.name)).toEqual([
      `sbom:${sbom.digest.slice(0, 12)}`,
      "security/vulnerability-db.json",
      "security/allow-list.yaml",
    ]);
  });

  it("combines the OSV match with the source stage's in-cluster Trivy results", async () => {
    const store = openStore(`file://${tmp("goose-vuln-")}`, {});
    const sbom = buildSbom({
      repoRoot,
      stage: "production",
      config: loadStageConfigFile(path.join(repoRoot, "Pulumi.production.yaml")),
      enrichment: loadEnrichment(files.enrichment),
    });
    const now = new Date("2026-11-21T00:00:00Z");
    const rules = loadComplianceRules(repoRoot);
    const image = "registry.example/app:1.0";
    const input = {
      store,
      stage: "production" as const,
      sbom,
      dbFile: files.db,
      policyFile: files.policy,
      allowListFile: files.allow,
      repoRoot,
      now,
    };
    const inCluster = {
      results: store,
      source: "compliance" as const,
      target: "production" as const,
      images: [image],
      rules,
    };
    // No results at all from a simulated source: a warning; from a real one: missing, which fails
    // production (mandatory).
    const simulated = await vulnGate({ ...input, inCluster: { ...inCluster, simulated: true } });
    expect(simulated.verdict).toBe("warn");
    expect(simulated.summary).toMatch(/no in-cluster scan results for compliance/);
    const missing = await vulnGate({ ...input, inCluster });
    expect(missing.verdict).toBe("fail");
    expect(missing.fix).toContain("create job --from=cronjob/scanner-full");
    // A result of the scanner's layout with a HIGH finding (production fails at HIGH).
    const key = "a".repeat(64);
    await store.put(
      "scans/compliance/latest.json",
      JSON.stringify({
        kind: "goldengoose.scan.run/v1",
        mode: "full",
        images: [{ image, digest: `sha256:${key}`, key, result: "scanned" }],
      }),
    );
    await store.put(
      `scans/compliance/results/${key}.json`,
      JSON.stringify({
        scannedAt: Math.floor(now.getTime() / 1000) - 3600,
        depth: [...rules.stages.production.scan.depth].sort().join("+"),
      }),
    );
    await store.put(
      `scans/compliance/reports/${key}.trivy.json`,
      JSON.stringify({
        SchemaVersion: 2,
        ArtifactName: image,
        Results: [
          {
            Target: "app",
            Vulnerabilities: [
              { VulnerabilityID: "CVE-2026-1111", PkgName: "openssl", Severity: "HIGH" },
            ],
            Secrets: [{ RuleID: "aws-access-key-id", Severity: "CRITICAL" }],
          },
        ],
      }),
    );
    const found = await vulnGate({ ...input, inCluster });
    expect(found.verdict).toBe("fail");
    expect(found.summary).toMatch(
      /in-cluster scans of compliance: registry\.example\/app:1\.0: CVE-2026-1111 in openssl \(HIGH\), aws-access-key-id in app \(CRITICAL\)/,
    );
    expect(found.details).toMatchObject({ inCluster: { failOn: "HIGH", lastRunMode: "full" } });
    expect(found.subjects.map((s) => s.name)).toContain(`trivy:${image}`);
  });

  it("fails on a finding at the stage threshold, passes once allow-listed, fails again when the entry expires", async () => {
    const store = openStore(`file://${tmp("goose-vuln-")}`, {});
    const dir = tmp("goose-allow-");
    const allow = path.join(dir, "allow-list.yaml");
    copyFileSync(files.allow, allow);
    const base = {
      store,
      stage: "compliance" as const,
      sbom: sbomOf(oldTree),
      dbFile: files.db,
      policyFile: files.policy,
      allowListFile: allow,
      repoRoot,
    };
    const failed = await vulnGate({ ...base, now: new Date("2026-11-21T00:00:00Z") });
    expect(failed.verdict).toBe("fail");
    expect(failed.summary).toMatch(/GHSA-fjxv-7rqg-78g4 in form-data@4.0.0 \(CRITICAL\)/);
    expect(failed.summary).not.toMatch(/semver/); // MEDIUM, below compliance's HIGH
    expect(failed.fix).toMatch(/upgrade form-data to a fixed version \(2.5.4 \/ 3.0.4 \/ 4.0.4\)/);
    // Sandbox fails only at CRITICAL, production at MEDIUM.
    expect(
      (await vulnGate({ ...base, stage: "production", now: new Date("2026-11-21") })).summary,
    ).toMatch(/semver@7.5.1 \(MEDIUM\)/);

    writeFileSync(
      allow,
      `entries:\n  - id: CVE-2025-7783\n    package: form-data\n    reason: boundary values never carry user input here\n    approver: sec-lead@example.org\n    expires: "2026-12-31"\n`,
    );
    const allowed = await vulnGate({ ...base, now: new Date("2026-12-31T23:00:00Z") });
    expect(allowed.verdict).toBe("warn"); // semver below threshold
    expect(allowed.details).toMatchObject({
      cached: true,
      counts: { blocking: 0, allowed: 1, belowThreshold: 1 },
    });
    const expired = await vulnGate({ ...base, now: new Date("2027-01-01T00:00:00Z") });
    expect(expired.verdict).toBe("fail");
    expect(expired.details).toMatchObject({
      expiredAllowListEntries: [{ id: "CVE-2025-7783", expires: "2026-12-31" }],
    });
  });

  it("refuses allow-list entries without an approver or expiry, naming file and field", () => {
    const f = path.join(tmp("goose-allow-"), "allow-list.yaml");
    writeFileSync(
      f,
      "entries:\n  - id: GHSA-x\n    reason: because we said so\n    expires: '2027-01-01'\n",
    );
    expect(() => loadAllowList(f)).toThrow(GateInputError);
    expect(() => loadAllowList(f)).toThrow(/allow-list\.yaml:2: entries\[0\]\.approver: required/);
  });
});

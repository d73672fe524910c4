/**
 * The pack as a whole: its files, policy metadata, and the three stage config files checked the
 * way the CLI checks `--policy-pack-config` (every entry a policy, properties declared in the
 * policy's configSchema and valid against it).
 */
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import type { Policy } from "@pulumi/policy";
import { PACK_NAME, policies, policyNames } from "../../policy-pack/policies/index.js";
import { COMPONENT_TYPES } from "../../policy-pack/policies/stack.js";
import { WORKLOAD_TYPES, typeOf } from "../../policy-pack/policies/util.js";
import { loadStageConfigFile } from "../../src/config/index.js";
import { packDir, readPackConfig, repoRoot, resolvePolicyConfig } from "./harness.js";

const STAGES = ["sandbox", "compliance", "production"] as const;

function policyByName(name: string): Policy {
  const p = (policies as Policy[]).find((x) => x.name === name);
  if (!p) throw new Error(`no policy ${name}`);
  return p;
}

describe("pack files", () => {
  it("has a versioned CommonJS package whose main is the built pack", () => {
    const pkg = JSON.parse(readFileSync(path.join(packDir, "package.json"), "utf8")) as Record<
      string,
      unknown
    >;
    expect(pkg["version"]).toMatch(/^\d+\.\d+\.\d+$/);
    expect(pkg["type"]).toBe("commonjs");
    expect(pkg["main"]).toBe("dist/index.js");
    expect(pkg["scripts"]).toBeUndefined();
  });
  it("declares the nodejs runtime", () => {
    const doc = parseYaml(readFileSync(path.join(packDir, "PulumiPolicy.yaml"), "utf8")) as Record<
      string,
      unknown
    >;
    expect(doc["runtime"]).toBe("nodejs");
  });
  it("index.ts only constructs the PolicyPack from ./policies (after the SDK speed-up)", () => {
    const src = readFileSync(path.join(packDir, "index.ts"), "utf8");
    const code = src.replace(/\/\*[\s\S]*?\*\//g, "").trim();
    expect(code.match(/new PolicyPack\(/g)).toHaveLength(1);
    const imports = [...code.matchAll(/from "([^"]+)"/g)].map((m) => m[1]);
    expect(imports).toEqual(["@pulumi/policy", "./policies/index.js", "./sdk-speed.js"]);
    expect(code.match(/^installSdkSpeedups\(\);$/gm)).toHaveLength(1);
    expect(PACK_NAME).toMatch(/^[a-zA-Z0-9-_.]{1,100}$/);
  });
});

describe("policies", () => {
  it("have unique kebab-case names, descriptions and severities", () => {
    expect(new Set(policyNames).size).toBe(policyNames.length);
    for (const p of policies as Policy[]) {
      expect(p.name).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(p.name).not.toBe("all");
      expect(p.description.length).toBeGreaterThan(20);
      expect(p.severity).toBeDefined();
    }
  });
  it("cover every domain the issue asks for", () => {
    expect(policyNames).toEqual(
      expect.arrayContaining([
        "s3-bucket-encryption-kms",
        "s3-bucket-versioning",
        "s3-bucket-public-access-block",
        "s3-bucket-tls-only",
        "s3-bucket-lifecycle",
        "s3-bucket-object-lock",
        "s3-bucket-no-force-destroy",
        "kms-key-rotation",
        "k8s-resources-requests-limits",
        "k8s-image-pinned",
        "k8s-run-as-non-root",
        "k8s-no-privilege-escalation",
        "k8s-no-privileged",
        "k8s-no-host-path",
        "k8s-no-host-namespaces",
        "k8s-required-labels",
        "k8s-probes",
        "no-literal-secret-env",
        "k8s-secret-from-pulumi-secret",
        "prometheus-retention",
        "grafana-no-anonymous-access",
        "prometheus-rule-files",
        "stack-required-components",
        "stack-backup-encrypted-s3",
        "stack-resource-quota",
      ]),
    );
  });
  it("declare every config property with a type, a default and a description, never enforcementLevel", () => {
    for (const p of policies as Policy[]) {
      if (!p.configSchema) continue;
      expect(Object.keys(p.configSchema.properties)).not.toContain("enforcementLevel");
      expect(p.configSchema.required ?? []).not.toContain("enforcementLevel");
      for (const [key, prop] of Object.entries(p.configSchema.properties)) {
        expect(prop.type, `${p.name}.${key}`).toBeDefined();
        expect(prop.default, `${p.name}.${key}`).toBeDefined();
        expect(prop.description, `${p.name}.${key}`).toBeTruthy();
        // The default itself validates against the schema.
        expect(() => resolvePolicyConfig(p, { [p.name]: { [key]: prop.default } })).not.toThrow();
      }
    }
  });
  it("use the type tokens of the resource classes and of the stage program's components", () => {
    expect(Object.values(WORKLOAD_TYPES).sort()).toEqual(
      [
        k8s.apps.v1.Deployment,
        k8s.apps.v1.StatefulSet,
        k8s.apps.v1.DaemonSet,
        k8s.batch.v1.Job,
        k8s.batch.v1.CronJob,
        k8s.core.v1.Pod,
      ]
        .map(typeOf)
        .sort(),
    );
    expect(typeOf(aws.s3.Bucket)).toBe("aws:s3/bucket:Bucket");
    const components = ["stage", "prometheus", "grafana", "backup", "scanner"]
      .map((f) => readFileSync(path.join(repoRoot, "src/components", `${f}.ts`), "utf8"))
      .join("\n");
    for (const token of Object.values(COMPONENT_TYPES)) expect(components).toContain(`"${token}"`);
  });
  it("keep stack policies and resource policies apart", () => {
    const stack = (policies as Policy[]).filter((p) => "validateStack" in p).map((p) => p.name);
    expect(stack).toEqual(
      expect.arrayContaining([
        "s3-bucket-encryption-kms",
        "k8s-secret-from-pulumi-secret",
        "stack-resource-quota",
      ]),
    );
  });
});

describe("stage config files", () => {
  it.each(STAGES)(
    "%s: the enforcement level is advisory in sandbox, mandatory elsewhere",
    (stage) => {
      const cfg = readPackConfig(stage);
      expect(cfg["all"]).toBe(stage === "sandbox" ? "advisory" : "mandatory");
      for (const p of policies as Policy[]) {
        expect(resolvePolicyConfig(p, cfg).enforcementLevel).toBe(cfg["all"]);
      }
    },
  );
  it.each(STAGES)("%s: every entry names a policy and only declared, valid properties", (stage) => {
    const cfg = readPackConfig(stage);
    const byName = new Map((policies as Policy[]).map((p) => [p.name, p]));
    for (const [key, value] of Object.entries(cfg)) {
      if (key === "all") continue;
      const policy = byName.get(key);
      expect(policy, `${stage}.json: "${key}" is not a policy of the pack`).toBeDefined();
      if (!policy || typeof value !== "object" || value === null) continue;
      const declared = Object.keys(policy.configSchema?.properties ?? {});
      for (const prop of Object.keys(value)) {
        if (prop !== "enforcementLevel")
          expect(declared, `${stage}.json: ${key}.${prop}`).toContain(prop);
      }
      expect(() => resolvePolicyConfig(policy, cfg)).not.toThrow();
    }
  });
  it("names the stage in the required-labels config and tightens retention stage by stage", () => {
    const days = STAGES.map((s) => {
      const cfg = readPackConfig(s);
      expect((cfg["k8s-required-labels"] as Record<string, unknown>)["stage"]).toBe(s);
      return (cfg["prometheus-retention"] as { minRetentionDays: number }).minRetentionDays;
    });
    expect(days).toEqual([...days].sort((a, b) => a - b));
    expect(
      (readPackConfig("production")["s3-bucket-object-lock"] as Record<string, unknown>)[
        "required"
      ],
    ).toBe(true);
  });
  it.each(STAGES)("%s: the shipped stack file meets the pack's minimums", (stage) => {
    // The stage config as the program reads it (defaults folded in, validated).
    const stageCfg = loadStageConfigFile(path.join(repoRoot, `Pulumi.${stage}.yaml`));
    const cfg = readPackConfig(stage);
    const prop = <T>(policy: string, key: string): T =>
      resolvePolicyConfig(policyByName(policy), cfg).properties[key] as T;
    expect(prop<number>("prometheus-retention", "minRetentionDays")).toBeLessThanOrEqual(
      stageCfg.prometheus.retentionDays,
    );
    expect(prop<string>("k8s-required-labels", "stage")).toBe(stageCfg.stage);
    const needsS3 = prop<boolean>("stack-backup-encrypted-s3", "requireEncryptedS3");
    if (needsS3) {
      expect(stageCfg.backup.target).toBe("s3");
      expect(stageCfg.backup.kms).toBe(true);
    }
    if (stageCfg.backup.target === "s3") {
      expect(prop<number>("s3-bucket-lifecycle", "minRetentionDays")).toBeLessThanOrEqual(
        stageCfg.backup.retentionDays,
      );
      expect(stageCfg.backup.versioning).toBe(true);
    }
    if (prop<boolean>("s3-bucket-object-lock", "required")) {
      expect(stageCfg.backup.objectLockDays).toBeGreaterThanOrEqual(
        prop<number>("s3-bucket-object-lock", "minRetentionDays"),
      );
    }
    if (!prop<boolean>("grafana-no-anonymous-access", "allowAnonymous")) {
      expect(stageCfg.grafana.anonymousAccess).toBe(false);
    }
  });
  it("are rejected with the policy named when a property has the wrong type", () => {
    const policy = (policies as Policy[]).find((p) => p.name === "prometheus-retention") as Policy;
    expect(() =>
      resolvePolicyConfig(policy, { "prometheus-retention": { minRetentionDays: "ninety" } }),
    ).toThrow(/prometheus-retention: \/minRetentionDays must be integer/);
  });
});

import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  AUDIT_FILES,
  DataFileError,
  collectionRulesSchema,
  complianceRulesSchema,
  evidenceTemplateSchema,
  loadAuditRules,
  loadComplianceRules,
  loadSecretRotation,
  parseYamlData,
  retentionDays,
  secretRotationSchema,
} from "../../src/audit/index.js";
import { PROMOTION_STEPS } from "../../src/workflows/promote/index.js";
import { ROLLBACK_STEPS } from "../../src/workflows/rollback/index.js";

const repoRoot = path.resolve(import.meta.dirname, "../..");
const read = (f: string) => readFileSync(path.join(repoRoot, f), "utf8");

function problemsOf(fn: () => unknown) {
  try {
    fn();
  } catch (err) {
    if (err instanceof DataFileError) return err;
    throw err;
  }
  throw new Error("expected a DataFileError");
}

/** A copy of the repository's security/ directory with one file replaced. */
function repoWith(file: string, text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), "goose-audit-"));
  cpSync(path.join(repoRoot, "security"), path.join(dir, "security"), { recursive: true });
  writeFileSync(path.join(dir, file), text);
  return dir;
}

describe("security data files", () => {
  it("the repository's four files validate, and the rules cover every workflow step", () => {
    const rules = loadAuditRules(repoRoot, {
      promotion: PROMOTION_STEPS,
      rollback: ROLLBACK_STEPS,
    });
    expect(Object.keys(rules.collection.workflows.promotion.steps)).toEqual([...PROMOTION_STEPS]);
    expect(Object.keys(rules.collection.workflows.rollback.steps)).toEqual([...ROLLBACK_STEPS]);
    expect(retentionDays(rules)).toEqual({ sandbox: 90, compliance: 400, production: 2557 });
    expect(Object.keys(loadSecretRotation(repoRoot).secrets).sort()).toEqual([
      "alertmanager-receivers",
      "evidence-signing-key",
      "grafana-admin",
      "kms-keys",
      "prometheus-basic-auth",
      "pushgateway-auth",
      "snapshot-key",
    ]);
    expect(loadComplianceRules(repoRoot).stages.production.scan.depth).toContain("vuln-library");
  });

  it("names file, line, field and a did-you-mean fix for an unknown field", () => {
    const text = read(AUDIT_FILES.template).replace(
      "    required: [promotion, from, to, actor, mode]",
      "    requierd: [promotion, from, to, actor, mode]",
    );
    const line = text.split("\n").findIndex((l) => l.includes("requierd")) + 1;
    const err = problemsOf(() => parseYamlData(evidenceTemplateSchema, AUDIT_FILES.template, text));
    const unknown = err.problems.find((p) => p.message.includes("requierd"));
    expect(unknown).toMatchObject({
      file: "security/audit/evidence-template.yaml",
      line,
      field: "kinds.promotion.started.requierd",
    });
    expect(unknown?.fix).toContain('did you mean "required"');
    // The missing field is reported too, at the kind's line (every problem at once).
    expect(err.problems.some((p) => p.field === "kinds.promotion.started.required")).toBe(true);
    expect(err.message).toMatch(/^security\/audit\/evidence-template\.yaml:\d+: kinds\./m);
  });

  it("refuses retention that shortens toward production, naming the line and the fix", () => {
    const text = read(AUDIT_FILES.collection).replace(
      "production: { days: 2557 }",
      "production: { days: 30 }",
    );
    const line = text.split("\n").findIndex((l) => l.includes("production: { days: 30 }")) + 1;
    const err = problemsOf(() => parseYamlData(collectionRulesSchema, "c.yaml", text));
    expect(err.problems).toEqual([
      {
        file: "c.yaml",
        line,
        field: "retention.production.days",
        message: "production keeps evidence 30 days, shorter than compliance (400)",
        fix: "raise production.days to at least 400: retention never shortens toward production",
      },
    ]);
  });

  it("refuses a step the workflow does not have and a kind the template does not define", () => {
    const text = read(AUDIT_FILES.collection)
      .replace("      stage-tests: [gate.load-test]", "      stage-test: [gate.load-test]")
      .replace("      decision: [promotion.decision]", "      decision: [promotion.decisoin]");
    const dir = repoWith(AUDIT_FILES.collection, text);
    const err = problemsOf(() =>
      loadAuditRules(dir, { promotion: PROMOTION_STEPS, rollback: ROLLBACK_STEPS }),
    );
    const msgs = err.problems.map((p) => `${p.line} ${p.field}: ${p.message}; ${p.fix}`);
    const lineOf = (s: string) => text.split("\n").findIndex((l) => l.includes(s)) + 1;
    expect(msgs).toContainEqual(
      expect.stringContaining(
        `${lineOf("stage-test:")} workflows.promotion.steps.stage-test: the promotion workflow has no step "stage-test"`,
      ),
    );
    expect(msgs).toContainEqual(expect.stringContaining('did you mean "stage-tests"'));
    expect(msgs).toContainEqual(
      expect.stringContaining(`step "stage-tests" of the promotion workflow has no rule`),
    );
    expect(msgs).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^${lineOf("promotion.decisoin")} workflows\\.promotion\\.steps\\.decision\\[0\\]: "promotion\\.decisoin" is not an evidence kind.*did you mean "promotion\\.decision"`,
        ),
      ),
    );
  });

  it("refuses rotation and compliance rules that loosen toward production", () => {
    const rot = read(AUDIT_FILES.rotation).replace(
      "maxAgeDays: { sandbox: 90, compliance: 60, production: 30 }",
      "maxAgeDays: { sandbox: 90, compliance: 60, production: 120 }",
    );
    const e1 = problemsOf(() => parseYamlData(secretRotationSchema, "r.yaml", rot));
    expect(e1.problems[0]).toMatchObject({
      field: "secrets.grafana-admin.maxAgeDays.production",
      fix: "lower production to at most 60: rotation never loosens toward production",
    });
    const comp = read(AUDIT_FILES.compliance).replace(
      "depth: [vuln-os, vuln-library, secret, misconfig]",
      "depth: [vuln-os]",
    );
    const e2 = problemsOf(() => parseYamlData(complianceRulesSchema, "c.yaml", comp));
    expect(e2.problems[0]).toMatchObject({
      field: "stages.production.scan.depth",
      message: "production scans less than compliance (missing vuln-library, secret)",
    });
    const prodDepth = comp.split("\n").findLastIndex((l) => l.trim() === "depth: [vuln-os]") + 1;
    expect(e2.problems[0]?.line).toBe(prodDepth);
  });

  it("a missing secret rule, bad YAML and a missing file are each named with a fix", () => {
    const rot = read(AUDIT_FILES.rotation).replace(/ {2}kms-keys:[\s\S]*$/, "");
    const e1 = problemsOf(() => parseYamlData(secretRotationSchema, "r.yaml", rot));
    expect(e1.problems.map((p) => p.message)).toContain('secret "kms-keys" has no rotation rule');
    const e2 = problemsOf(() =>
      parseYamlData(secretRotationSchema, "r.yaml", "version: 1\nsecrets: [\n"),
    );
    expect(e2.problems[0]?.message).toMatch(/^not valid YAML/);
    expect(e2.problems[0]?.line).toBeGreaterThan(0);
    const e3 = problemsOf(() =>
      loadSecretRotation(mkdtempSync(path.join(tmpdir(), "goose-empty-"))),
    );
    expect(e3.kind).toBe("input"); // exit 2
    expect(e3.message).toContain("security/policies/secret-rotation.yaml:0: (file): no such file");
  });
});

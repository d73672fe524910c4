import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadAuditRules, templateProblems } from "../../src/audit/index.js";

const repoRoot = path.resolve(import.meta.dirname, "../..");
const digest = { sha256: "a".repeat(64) };
const gateRecord = (verdict: string, subject: { name: string; digest: { sha256: string } }[]) => ({
  kind: "gate.backup",
  data: { promotion: "p-1", verdict, summary: "s", details: {} },
  subject,
});

// A failing gate is evidence too: it must be recorded even when it found nothing to name, or the
// audit error would hide the gate's own failure from the user.
describe("gate records and their subjects (security/audit/evidence-template.yaml)", () => {
  const rules = loadAuditRules(repoRoot);

  it("a passing or warning gate must name what it judged", () => {
    for (const verdict of ["pass", "warn"]) {
      expect(templateProblems(rules, gateRecord(verdict, []))).toEqual([
        expect.stringMatching(/names 0 subject\(s\).*requires 1/),
      ]);
      expect(templateProblems(rules, gateRecord(verdict, [{ name: "x", digest }]))).toEqual([]);
    }
  });

  it("a failing gate that found nothing to name still fits", () => {
    expect(templateProblems(rules, gateRecord("fail", []))).toEqual([]);
  });

  it("a subject it does name still needs its digest", () => {
    expect(
      templateProblems(rules, gateRecord("fail", [{ name: "x", digest: { sha256: "nope" } }])),
    ).toEqual([expect.stringMatching(/no valid sha256 digest/)]);
  });
});

/**
 * Audit as data: loads the security data files and applies them.
 *
 * - `templateFor(kind)` / `applyTemplate(...)`: a record of a kind fits its template in
 *   evidence-template.yaml (required data fields, subject count and digests) and has the
 *   template's redactions applied before it is signed;
 * - `requiredKinds(workflow, step)`: what collection-rules.yaml asks a step to produce;
 * - `retentionDays()`: evidence retention per stage from collection-rules.yaml.
 */
import path from "node:path";
import { STAGES, type StageName } from "../config/stages.js";
import {
  collectionRulesSchema,
  complianceRulesSchema,
  evidenceTemplateSchema,
  secretRotationSchema,
  type CollectionRules,
  type ComplianceRules,
  type EvidenceTemplate,
  type KindTemplate,
  type SecretRotationPolicy,
  type WorkflowName,
} from "./schemas.js";
import { DataFileError, loadYamlFile, type DataFileProblem } from "../config/file.js";
import { closest } from "fastest-levenshtein";
import { CheckFailedError } from "../errors.js";
import { AUDIT_FILES } from "./names.js";

export { AUDIT_FILES };

export const REDACTED_VALUE = "[redacted]";

export interface AuditRules {
  template: EvidenceTemplate;
  collection: CollectionRules;
  /** The files they came from (repository-relative). */
  files: { template: string; collection: string };
}

/** Known steps of each workflow (from src/workflows), so a misspelt step is caught. */
export type KnownSteps = Record<WorkflowName, readonly string[]>;

function matchKind(template: EvidenceTemplate, kind: string): KindTemplate | undefined {
  const exact = template.kinds[kind];
  if (exact) return exact;
  let best: { len: number; t: KindTemplate } | undefined;
  for (const [k, t] of Object.entries(template.kinds)) {
    if (!k.endsWith(".*")) continue;
    const prefix = k.slice(0, -1);
    if (kind.startsWith(prefix) && (!best || prefix.length > best.len))
      best = { len: prefix.length, t };
  }
  return best?.t;
}

/**
 * Loads evidence-template.yaml and collection-rules.yaml from `repoRoot` and checks them against
 * each other (every kind a step must produce has a template) and against `steps` when given.
 */
export function loadAuditRules(repoRoot: string, steps?: Partial<KnownSteps>): AuditRules {
  const tFile = AUDIT_FILES.template;
  const cFile = AUDIT_FILES.collection;
  const template = loadYamlFile(evidenceTemplateSchema, path.join(repoRoot, tFile), {
    shown: tFile,
  }).value;
  const { value: collection, lines } = loadYamlFile(
    collectionRulesSchema,
    path.join(repoRoot, cFile),
    { shown: cFile },
  );
  const problems: DataFileProblem[] = [];
  const known = Object.keys(template.kinds).filter((k) => !k.endsWith(".*"));
  for (const wf of ["promotion", "rollback"] as const) {
    const ruleSteps = collection.workflows[wf].steps;
    for (const [step, kinds] of Object.entries(ruleSteps)) {
      const knownSteps = steps?.[wf];
      if (knownSteps && !knownSteps.includes(step)) {
        problems.push({
          file: cFile,
          line: lines.lineOf(["workflows", wf, "steps", step]),
          field: `workflows.${wf}.steps.${step}`,
          message: `the ${wf} workflow has no step "${step}"`,
          fix: `use one of ${knownSteps.join(", ")} (did you mean "${closest(step, [...knownSteps])}"?)`,
        });
      }
      kinds.forEach((k, i) => {
        if (!matchKind(template, k) || k.endsWith(".*"))
          problems.push({
            file: cFile,
            line: lines.lineOf(["workflows", wf, "steps", step, i]),
            field: `workflows.${wf}.steps.${step}[${i}]`,
            message: `"${k}" is not an evidence kind of ${tFile}`,
            fix: `define it under kinds: in ${tFile}, or use a defined kind (did you mean "${closest(k, known)}"?)`,
          });
      });
    }
    for (const step of steps?.[wf] ?? []) {
      if (!(step in ruleSteps))
        problems.push({
          file: cFile,
          line: lines.lineOf(["workflows", wf, "steps"]),
          field: `workflows.${wf}.steps`,
          message: `step "${step}" of the ${wf} workflow has no rule`,
          fix: `add "${step}: [<kinds>]" (an empty list when the step produces no evidence)`,
        });
    }
  }
  if (problems.length) throw new DataFileError(problems);
  return { template, collection, files: { template: tFile, collection: cFile } };
}

export function loadSecretRotation(repoRoot: string): SecretRotationPolicy {
  const f = AUDIT_FILES.rotation;
  return loadYamlFile(secretRotationSchema, path.join(repoRoot, f), { shown: f }).value;
}

export function loadComplianceRules(repoRoot: string): ComplianceRules {
  const f = AUDIT_FILES.compliance;
  return loadYamlFile(complianceRulesSchema, path.join(repoRoot, f), { shown: f }).value;
}

/** Evidence kinds `step` of `workflow` must produce. */
export function requiredKinds(rules: AuditRules, workflow: WorkflowName, step: string): string[] {
  return rules.collection.workflows[workflow].steps[step] ?? [];
}

export function retentionDays(rules: AuditRules): Record<StageName, number> {
  const out = {} as Record<StageName, number>;
  for (const s of STAGES) out[s] = rules.collection.retention[s].days;
  return out;
}

export interface RecordShape {
  kind: string;
  subject: Array<{ name: string; digest: Record<string, string> }>;
  data: Record<string, unknown>;
}

function getPath(data: Record<string, unknown>, p: string): unknown {
  let v: unknown = data;
  for (const k of p.split(".")) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

function setRedacted(data: Record<string, unknown>, p: string): Record<string, unknown> {
  const [head, ...rest] = p.split(".");
  if (head === undefined || !(head in data)) return data;
  const copy = { ...data };
  if (rest.length === 0) copy[head] = REDACTED_VALUE;
  else if (copy[head] && typeof copy[head] === "object" && !Array.isArray(copy[head]))
    copy[head] = setRedacted(copy[head] as Record<string, unknown>, rest.join("."));
  return copy;
}

/** Why a record does not fit its kind's template (empty when it fits). */
export function templateProblems(rules: AuditRules, rec: RecordShape): string[] {
  const t = matchKind(rules.template, rec.kind);
  const f = rules.files.template;
  if (!t) return [`kind "${rec.kind}" has no template in ${f}: add one under kinds:`];
  const out: string[] = [];
  for (const field of t.required) {
    const v = getPath(rec.data, field);
    if (v === undefined || v === null)
      out.push(`${rec.kind} record lacks data field "${field}" (required by ${f})`);
  }
  const applies = Object.entries(t.subjects?.when ?? {}).every(([field, values]) =>
    values.includes(String(getPath(rec.data, field))),
  );
  const min = applies ? (t.subjects?.min ?? 0) : 0;
  if (rec.subject.length < min)
    out.push(`${rec.kind} record names ${rec.subject.length} subject(s); ${f} requires ${min}`);
  for (const s of rec.subject) {
    for (const alg of rules.template.defaults.digests) {
      const d = s.digest[alg];
      if (!d || !/^[0-9a-f]{64,128}$/.test(d))
        out.push(`${rec.kind} subject "${s.name}" has no valid ${alg} digest (required by ${f})`);
    }
  }
  for (const field of t.redact ?? []) {
    const v = getPath(rec.data, field);
    if (v !== undefined && v !== REDACTED_VALUE)
      out.push(`${rec.kind} record holds "${field}" in clear; ${f} redacts it`);
  }
  return out;
}

/** The record with the template's redactions applied (the input is not changed). */
export function applyRedactions<T extends RecordShape>(rules: AuditRules, rec: T): T {
  const t = matchKind(rules.template, rec.kind);
  let data = rec.data;
  for (const field of t?.redact ?? []) data = setRedacted(data, field);
  return data === rec.data ? rec : { ...rec, data };
}

/** A record did not fit its template: the workflow's audit obligation failed (exit 1). */
export class EvidenceTemplateError extends CheckFailedError {
  constructor(readonly problems: string[]) {
    super(problems.join("; "), {
      code: "evidence-template",
      fix: "record the missing fields, or change the kind's template in security/audit/evidence-template.yaml (a reviewed change)",
    });
  }
}

/**
 * Wraps an evidence appender: every record gets its template's redactions and must fit its
 * template, else EvidenceTemplateError (nothing is appended).
 */
export function auditedAppender<A extends { append(input: RecordShape & object): Promise<R> }, R>(
  chain: A,
  rules: AuditRules,
): A {
  return {
    ...chain,
    append: async (input: RecordShape & object) => {
      const redacted = applyRedactions(rules, input);
      const problems = templateProblems(rules, redacted);
      if (problems.length) throw new EvidenceTemplateError(problems);
      return chain.append(redacted);
    },
  } as A;
}

/**
 * The plan of an update: a rendered stage (an export as the offline engine writes it) against a
 * baseline export (the stage's state, a snapshot, a file). Pure: no I/O, no Pulumi SDK.
 *
 * Per resource (matched by URN): `create` (only in the new export), `delete` (only in the baseline,
 * or a baseline entry pending deletion), `same` (inputs equal, secrets by content), `replace` (a
 * changed field that the type cannot change in place: replace-fields.ts, or the resource's own
 * `replaceOnChanges`), else `update`. Deletes and replacements of data-bearing resources
 * (data-bearing.ts) carry `dataLoss` unless the resource is `retainOnDelete`.
 */
import { createHash } from "node:crypto";
import type { ExportResource, StackExport } from "../pulumi-export/index.js";
import { dataBearingRule } from "./data-bearing.js";
import { REPLACE_RULES, replaceRulesFor, type ReplaceRule } from "./replace-fields.js";
import {
  diffProperties,
  parsePath,
  parseQuantity,
  valuesAt,
  valuesEqual,
  type PropertyDiff,
  type SecretsContext,
} from "./values.js";

export type PlanOp = "create" | "update" | "replace" | "delete" | "same";

export interface ReplaceReason {
  /** The field whose change forces the replacement. */
  path: string;
  /** Where the fact comes from (the table's source, or `replaceOnChanges` of the resource). */
  source: string;
  /** `decrease` when only a smaller quantity replaces (a claim's size). */
  when?: "decrease";
  note?: string;
}

export interface PlanViolation {
  policy: string;
  enforcementLevel: string;
  message: string;
}

export interface PlanStep {
  urn: string;
  type: string;
  op: PlanOp;
  diffs: PropertyDiff[];
  replaceReasons?: ReplaceReason[];
  /** A delete or replace of a resource that holds data: what would be lost. */
  dataLoss?: { reason: string };
  /** The baseline resource is protected: Pulumi refuses to delete or replace it. */
  protect?: true;
  /** The resource is `retainOnDelete`: a delete leaves the cloud resource in place. */
  retainOnDelete?: true;
  /** Policy violations on a resource being replaced (from the stage's preview). */
  violations?: PlanViolation[];
}

export interface PlanSummary {
  create: number;
  update: number;
  replace: number;
  delete: number;
  same: number;
  dataLoss: number;
  /** Violations on resources being replaced. */
  violations: number;
}

export interface PlanBaseline {
  /** state | snapshot | file | none (empty: everything is created) | pulumi (the real CLI). */
  kind: "state" | "snapshot" | "file" | "none" | "pulumi";
  /** The file, snapshot id, or nothing. */
  ref?: string;
}

export const PLAN_KIND = "goose.plan";
export const PLAN_VERSION = 1;

export interface Plan {
  kind: typeof PLAN_KIND;
  version: typeof PLAN_VERSION;
  stage: string;
  against: PlanBaseline;
  steps: PlanStep[];
  summary: PlanSummary;
}

export interface PlanOptions {
  stage: string;
  against: PlanBaseline;
  /** The replacement table (default REPLACE_RULES). */
  rules?: ReplaceRule[];
}

/** Resources of an export, live ones by URN plus the ones pending deletion. */
function index(e: StackExport | undefined): {
  live: Map<string, ExportResource>;
  pending: ExportResource[];
} {
  const live = new Map<string, ExportResource>();
  const pending: ExportResource[] = [];
  for (const r of e?.deployment.resources ?? []) {
    if (r.delete) pending.push(r);
    else live.set(r.urn, r);
  }
  return { live, pending };
}

/** The plan of `next` against `baseline` (undefined: an empty stack). */
export function planExports(
  baseline: StackExport | undefined,
  next: StackExport,
  opts: PlanOptions,
): Plan {
  const rules = opts.rules ?? REPLACE_RULES;
  const secrets: SecretsContext = {
    old: baseline?.deployment.secrets_providers?.type,
    new: next.deployment.secrets_providers?.type,
  };
  const before = index(baseline);
  const after = index(next);
  const steps: PlanStep[] = [];
  for (const r of after.live.values()) {
    const old = before.live.get(r.urn);
    if (!old) {
      steps.push({ urn: r.urn, type: r.type, op: "create", diffs: [] });
      continue;
    }
    steps.push(compare(old, r, rules, secrets));
  }
  for (const old of before.live.values()) {
    if (!after.live.has(old.urn)) steps.push(deleteStep(old));
  }
  for (const old of before.pending) steps.push(deleteStep(old));
  return {
    kind: PLAN_KIND,
    version: PLAN_VERSION,
    stage: opts.stage,
    against: opts.against,
    steps,
    summary: summarize(steps),
  };
}

function deleteStep(old: ExportResource): PlanStep {
  const s: PlanStep = { urn: old.urn, type: old.type, op: "delete", diffs: [] };
  flagData(s, old, old);
  return s;
}

function compare(
  old: ExportResource,
  r: ExportResource,
  rules: ReplaceRule[],
  secrets: SecretsContext,
): PlanStep {
  const oldInputs = old.inputs ?? {};
  const newInputs = r.inputs ?? {};
  if (valuesEqual(oldInputs, newInputs, secrets)) {
    return { urn: r.urn, type: r.type, op: "same", diffs: [] };
  }
  const diffs = diffProperties(oldInputs, newInputs, secrets);
  if (diffs.length === 0) return { urn: r.urn, type: r.type, op: "same", diffs: [] };
  const reasons = replaceReasons(r.type, oldInputs, newInputs, r.replaceOnChanges, rules, secrets);
  const step: PlanStep = {
    urn: r.urn,
    type: r.type,
    op: reasons.length > 0 ? "replace" : "update",
    diffs,
  };
  if (reasons.length > 0) {
    step.replaceReasons = reasons;
    flagData(step, old, r);
  }
  return step;
}

function flagData(step: PlanStep, old: ExportResource, r: ExportResource): void {
  if (old.protect) step.protect = true;
  if (old.retainOnDelete || r.retainOnDelete) {
    step.retainOnDelete = true;
    return;
  }
  // A replacement keeps data only if neither side holds any; a delete looks at what exists.
  const rule =
    dataBearingRule(old.type, old.inputs) ??
    (step.op === "replace" ? dataBearingRule(r.type, r.inputs) : undefined);
  if (rule) step.dataLoss = { reason: rule.reason };
}

function replaceReasons(
  type: string,
  oldInputs: Record<string, unknown>,
  newInputs: Record<string, unknown>,
  replaceOnChanges: string[] | undefined,
  rules: ReplaceRule[],
  secrets: SecretsContext,
): ReplaceReason[] {
  const out: ReplaceReason[] = [];
  for (const rule of replaceRulesFor(type, rules)) {
    for (const field of rule.fields) {
      const segs = parsePath(field.path);
      if (!segs) continue;
      const a = valuesAt(oldInputs, segs);
      const b = valuesAt(newInputs, segs);
      if (field.when === "decrease") {
        if (a.length !== b.length) continue;
        const shrinks = a.some((x, i) => {
          const qa = parseQuantity(x);
          const qb = parseQuantity(b[i]);
          return qa !== undefined && qb !== undefined && qb < qa;
        });
        if (shrinks) {
          const reason: ReplaceReason = { path: field.path, source: rule.source, when: "decrease" };
          if (rule.note) reason.note = rule.note;
          out.push(reason);
        }
        continue;
      }
      if (!valuesEqual(a, b, secrets)) {
        const reason: ReplaceReason = { path: field.path, source: rule.source };
        if (rule.note) reason.note = rule.note;
        out.push(reason);
      }
    }
  }
  for (const p of replaceOnChanges ?? []) {
    const source = "the resource's replaceOnChanges option";
    if (p === "*") {
      out.push({ path: "*", source });
      continue;
    }
    const segs = parsePath(p);
    if (!segs) continue;
    if (!valuesEqual(valuesAt(oldInputs, segs), valuesAt(newInputs, segs), secrets)) {
      out.push({ path: p, source });
    }
  }
  return out;
}

export function summarize(steps: PlanStep[]): PlanSummary {
  const s: PlanSummary = {
    create: 0,
    update: 0,
    replace: 0,
    delete: 0,
    same: 0,
    dataLoss: 0,
    violations: 0,
  };
  for (const step of steps) {
    s[step.op]++;
    if (step.dataLoss) s.dataLoss++;
    s.violations += step.violations?.length ?? 0;
  }
  return s;
}

/**
 * Shows policy violations of the stage on the steps that replace their resource (a replacement
 * recreates the resource as the policy sees it), and recounts the summary.
 */
export function attachViolations(
  plan: Plan,
  violations: Array<{ urn?: string; policy: string; enforcementLevel: string; message: string }>,
): Plan {
  const byUrn = new Map<string, PlanViolation[]>();
  for (const v of violations) {
    if (!v.urn) continue;
    const list = byUrn.get(v.urn) ?? [];
    list.push({ policy: v.policy, enforcementLevel: v.enforcementLevel, message: v.message });
    byUrn.set(v.urn, list);
  }
  const steps = plan.steps.map((s) => {
    const vs = s.op === "replace" ? byUrn.get(s.urn) : undefined;
    return vs ? { ...s, violations: vs } : s;
  });
  return { ...plan, steps, summary: summarize(steps) };
}

/** True when the plan deletes or replaces a data-bearing resource. */
export function hasDataLoss(plan: Plan): boolean {
  return plan.summary.dataLoss > 0;
}

/**
 * A digest of what the plan does (stage, baseline and every step but `same` ones), for evidence:
 * the same changes give the same digest.
 */
export function planDigest(plan: Plan): string {
  const changes = plan.steps
    .filter((s) => s.op !== "same")
    .map((s) => ({
      urn: s.urn,
      op: s.op,
      diffs: s.diffs,
      replaceReasons: s.replaceReasons ?? [],
      dataLoss: s.dataLoss ?? null,
    }))
    .sort((a, b) => (a.urn < b.urn ? -1 : a.urn > b.urn ? 1 : 0));
  const doc = { stage: plan.stage, against: plan.against, changes };
  return createHash("sha256").update(stableJson(doc)).digest("hex");
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(",")}]`;
  if (v && typeof v === "object") {
    const keys = Object.keys(v).sort();
    return `{${keys
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

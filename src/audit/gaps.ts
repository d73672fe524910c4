/**
 * `goose evidence check <stage>`: the gaps between what the evidence chain holds for a stage and
 * what collection-rules.yaml and evidence-template.yaml ask for.
 *
 * - Each promotion into the stage (records sharing `data.promotion`) and each rollback of it
 *   (from one `rollback.lock` record to the next) is a run. A run that completed must hold the
 *   records of every step; a run that failed at step S those of the steps before S; a run with
 *   no outcome record is itself a gap (it was interrupted, or its records were lost).
 * - Each record of the stage must fit its kind's template (required fields, subjects, digests,
 *   redactions).
 */
import type { StageName } from "../config/stages.js";
import { requiredKinds, templateProblems, type AuditRules, type RecordShape } from "./rules.js";
import type { WorkflowName } from "./schemas.js";

export interface CheckedRecord extends RecordShape {
  id: string;
  seq: number;
  time: string;
  stage?: StageName;
}

export interface RunGap {
  workflow: WorkflowName;
  /** The promotion id, or the id of the rollback's lock record. */
  run: string;
  outcome: "completed" | "failed" | "incomplete";
  /** The step the run failed at (steps after it are not expected). */
  failedStep?: string;
  /** `<step>: <kind>` for each required record not found. */
  missing: string[];
}

export interface EvidenceCheckReport {
  kind: "goldengoose.evidence.check/v1";
  version: 1;
  stage: StageName;
  ok: boolean;
  runs: RunGap[];
  records: { checked: number; problems: Array<{ id: string; kind: string; problems: string[] }> };
  rules: { template: string; collection: string };
}

function expectedSteps(
  order: readonly string[],
  outcome: RunGap["outcome"],
  failedStep?: string,
): string[] {
  if (outcome === "completed") return [...order];
  if (outcome === "failed" && failedStep !== undefined) {
    const i = order.indexOf(failedStep);
    return i < 0 ? [] : order.slice(0, i);
  }
  return [];
}

function missingKinds(
  rules: AuditRules,
  workflow: WorkflowName,
  steps: string[],
  present: string[],
): string[] {
  const have = new Map<string, number>();
  for (const k of present) have.set(k, (have.get(k) ?? 0) + 1);
  const missing: string[] = [];
  for (const step of steps) {
    for (const k of requiredKinds(rules, workflow, step)) {
      const n = have.get(k) ?? 0;
      if (n > 0) have.set(k, n - 1);
      else missing.push(`${step}: ${k}`);
    }
  }
  return missing;
}

export function checkEvidence(
  rules: AuditRules,
  records: CheckedRecord[],
  stage: StageName,
  order: Record<WorkflowName, readonly string[]>,
): EvidenceCheckReport {
  const runs: RunGap[] = [];

  // Promotions into the stage.
  const promotions = new Map<string, CheckedRecord[]>();
  for (const r of records) {
    const id = r.data.promotion;
    if (typeof id !== "string") continue;
    const list = promotions.get(id) ?? [];
    list.push(r);
    promotions.set(id, list);
  }
  for (const [id, recs] of promotions) {
    const started = recs.find((r) => r.kind === "promotion.started");
    const to =
      (started?.data.to as string | undefined) ??
      recs.find((r) => r.kind.startsWith("promotion."))?.stage;
    if (to !== stage) continue;
    const end = recs.find((r) =>
      ["promotion.completed", "promotion.failed", "promotion.blocked"].includes(r.kind),
    );
    const outcome: RunGap["outcome"] = !end
      ? "incomplete"
      : end.kind === "promotion.completed"
        ? "completed"
        : "failed";
    const failedStep = outcome === "failed" ? String(end?.data.step ?? "") : undefined;
    const steps = expectedSteps(order.promotion, outcome, failedStep);
    const missing = missingKinds(
      rules,
      "promotion",
      steps,
      recs.map((r) => r.kind),
    );
    if (outcome === "incomplete")
      missing.unshift(
        "(run): no promotion.completed, promotion.failed or promotion.blocked record",
      );
    runs.push({
      workflow: "promotion",
      run: id,
      outcome,
      ...(failedStep !== undefined ? { failedStep } : {}),
      missing,
    });
  }

  // Rollbacks of the stage: from one rollback.lock to the next, in chain order.
  const mine = records.filter((r) => r.stage === stage).sort((a, b) => a.seq - b.seq);
  let current: CheckedRecord[] | undefined;
  const rollbacks: CheckedRecord[][] = [];
  for (const r of mine) {
    if (r.kind === "rollback.lock") {
      current = [r];
      rollbacks.push(current);
    } else if (
      current &&
      (r.kind === "rollback" || r.kind.startsWith("rollback.") || r.kind === "snapshot")
    ) {
      current.push(r);
    }
  }
  for (const recs of rollbacks) {
    const lock = recs[0] as CheckedRecord;
    const failed = recs.find((r) => r.kind.startsWith("rollback.") && r.data.status === "failed");
    const done = recs.some((r) => r.kind === "rollback");
    const outcome: RunGap["outcome"] = done ? "completed" : failed ? "failed" : "incomplete";
    const failedStep = failed ? failed.kind.slice("rollback.".length) : undefined;
    const steps = expectedSteps(order.rollback, outcome, failedStep);
    const missing = missingKinds(
      rules,
      "rollback",
      steps,
      recs.map((r) => r.kind),
    );
    if (outcome === "incomplete") missing.unshift("(run): no rollback record and no failed step");
    runs.push({
      workflow: "rollback",
      run: lock.id,
      outcome,
      ...(failedStep !== undefined ? { failedStep } : {}),
      missing,
    });
  }

  const problems: EvidenceCheckReport["records"]["problems"] = [];
  let checked = 0;
  for (const r of records) {
    if (r.stage !== stage) continue;
    checked++;
    const p = templateProblems(rules, r);
    if (p.length) problems.push({ id: r.id, kind: r.kind, problems: p });
  }
  const ok = runs.every((r) => r.missing.length === 0) && problems.length === 0;
  return {
    kind: "goldengoose.evidence.check/v1",
    version: 1,
    stage,
    ok,
    runs,
    records: { checked, problems },
    rules: rules.files,
  };
}

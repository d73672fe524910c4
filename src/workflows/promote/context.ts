/**
 * One promotion run as its steps see it: options, ports (engine, store, evidence, locks, clock),
 * the stage configs, the report being filled, and what one step hands the next. `record`,
 * `gate` and `gates` are how a step writes evidence: every record carries the promotion id and
 * lands in the step's report; a failing gate verdict fails the step with the gate's fix.
 */
import type { StageConfig } from "../../config/index.js";
import type { StageName } from "../../config/stages.js";
import type { GateResult } from "../../gates/types.js";
import type { Lease } from "../../locks/index.js";
import type { KeySource } from "../../snapshots/index.js";
import { StepFailed, type EvidenceAppendInput, type WorkflowPorts } from "../steps.js";
import type { MetricsSink } from "../transition-metrics.js";
import type { PromoteOptions } from "./options.js";
import type { PromotionEvent, PromotionReport, PromotionStep, StepReport } from "./report.js";

export interface PromoteContext {
  opts: PromoteOptions;
  from: StageName;
  to: StageName;
  /** The promotion id (in every record, the report's file names). */
  id: string;
  /** `evidence` here is the audited appender (security/audit templates applied). */
  ports: WorkflowPorts;
  fromCfg: StageConfig;
  toCfg: StageConfig;
  keys: KeySource;
  security: { dbFile: string; policyFile: string; allowListFile: string; enrichmentFile: string };
  /** The evidence kinds security/audit/collection-rules.yaml requires of a step. */
  required: (step: PromotionStep) => string[];
  /** Which file says so (for the failure's fix). */
  auditFile: string;
  report: PromotionReport;
  emit: (e: PromotionEvent) => void;
  /** Transition and snapshot metrics go here. */
  sink: MetricsSink & { textfileDir: string };
  /** Kinds of the records each step appended. */
  produced: Map<PromotionStep, string[]>;
  leases: Lease[];
  heartbeat?: NodeJS.Timeout;
  snapshotSha: string;
  healthUrl?: string;
  /** `healthUrl` is the deployed stage's Prometheus (its outputs): it gets Prometheus' credentials. */
  healthIsPrometheus?: boolean;
}

/** Appends a record of step `s` (with the promotion id) and notes it in the report. */
export async function record(
  ctx: PromoteContext,
  s: StepReport,
  input: EvidenceAppendInput,
): Promise<{ id: string }> {
  const rec = await ctx.ports.evidence.append({
    ...input,
    data: { promotion: ctx.id, ...input.data },
  });
  s.evidence.push(rec.id);
  ctx.produced.set(s.name, [...(ctx.produced.get(s.name) ?? []), input.kind]);
  ctx.report.evidence.records++;
  return rec;
}

/** Records a gate verdict as `gate.<name>` evidence; a failing one fails the step with its fix. */
export async function gate(
  ctx: PromoteContext,
  s: StepReport,
  result: GateResult,
  stage: StageName,
): Promise<GateResult> {
  s.gates.push(result);
  ctx.emit({
    type: "gate",
    step: s.name,
    gate: result,
    message: `${result.gate}: ${result.verdict} — ${result.summary}`,
  });
  await record(ctx, s, {
    kind: `gate.${result.gate}`,
    stage,
    subject: result.subjects,
    data: {
      verdict: result.verdict,
      summary: result.summary,
      ...(result.fix ? { fix: result.fix } : {}),
      details: result.details,
      durationMs: result.durationMs,
    },
  });
  if (result.verdict === "fail") {
    throw new StepFailed(result.summary, {
      gate: result.gate,
      fix: result.fix ?? "see the gate details",
    });
  }
  return result;
}

/** Records every result first, then stops at the first failing one. */
export async function gates(
  ctx: PromoteContext,
  s: StepReport,
  results: GateResult[],
  stage: StageName,
): Promise<void> {
  const failing = results.find((r) => r.verdict === "fail");
  for (const r of results) if (r !== failing) await gate(ctx, s, r, stage);
  if (failing) await gate(ctx, s, failing, stage);
}

/** The snapshot and SBOM a record names as its subject, once taken. */
export function releaseSubjects(ctx: PromoteContext) {
  const { report } = ctx;
  return [
    ...(report.snapshot
      ? [{ name: `snapshot:${report.snapshot.id}`, digest: { sha256: ctx.snapshotSha } }]
      : []),
    ...(report.sbom ? [{ name: report.sbom.key, digest: { sha256: report.sbom.sha256 } }] : []),
  ];
}

/**
 * The promotion's report and events: what `promote` returns and emits, what the CLI prints and
 * `renderPromotionMarkdown` renders. Types only (no imports of the workflow), so the renderer and
 * the workflow do not import each other.
 */
import type { StageName } from "../../config/stages.js";
import type { GateResult } from "../../gates/types.js";
import type { StepReport as RunnerStepReport, StepStatus } from "../steps.js";
import type { PlanSummary } from "../../plan/plan.js";

export type { StepStatus };

export const PROMOTION_STEPS = [
  "lock",
  "validate",
  "readiness",
  "snapshot",
  "stage-tests",
  "supply-chain",
  "decision",
  "deploy",
  "verify",
  "record",
] as const;
export type PromotionStep = (typeof PROMOTION_STEPS)[number];

export interface PromotionEvent {
  type: "step" | "gate" | "info";
  step: PromotionStep;
  status?: StepStatus;
  gate?: GateResult;
  message: string;
}

/** A step of the promotion: the runner's report (src/workflows/steps.ts). */
export type StepReport = RunnerStepReport<PromotionStep>;

export interface PromotionFailure {
  step: PromotionStep;
  gate?: string;
  reason: string;
  fix: string;
  resume: string;
}

export interface PromotionReport {
  kind: "goldengoose.promotion.report/v1";
  id: string;
  from: StageName;
  to: StageName;
  mode: "offline" | "real";
  actor: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  result: "promoted" | "failed" | "blocked";
  failure?: PromotionFailure;
  steps: StepReport[];
  snapshot?: { id: string; sha256: string };
  sbom?: { key: string; sha256: string };
  deployed?: { resourceChanges: Record<string, number>; outputs: string[] };
  /** The target stage's plan before deploy: its digest (in the gate.plan evidence) and counts. */
  plan?: {
    digest: string;
    summary: Omit<PlanSummary, "violations">;
    allowDataLoss?: { reason: string };
  };
  evidence: { head?: { seq: number; hash: string }; records: number };
  files?: { json: string; markdown: string; stored: string };
  metrics?: { published?: string; error?: string };
}

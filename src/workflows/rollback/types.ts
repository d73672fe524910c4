/**
 * What `rollback` takes and returns. The result's `steps` keep the rollback's `--json` shape
 * (`{step, status: ok | warning | skipped | failed, detail, data, evidence}`), a view of the
 * runner's StepReport (src/workflows/steps.ts) that `stepView` makes.
 */
import type { StageName } from "../../config/stages.js";
import type { PolicyViolation, StackEngine } from "../../engine/types.js";
import type { ClusterBlackout } from "../../locks/cluster.js";
import type { KeySource, SnapshotKeyring } from "../../snapshots/index.js";
import type { ObjectStore } from "../../store/types.js";
import type {
  Clock,
  EvidencePort,
  HealthProbe,
  LocksPort,
  StepReport,
  StepStatus,
} from "../steps.js";
import type { MetricsSink } from "../transition-metrics.js";
import type { ExportAnalyzer } from "../../policy/analyze.js";
import type { StageRecord } from "./staged.js";

export const ROLLBACK_STEPS = [
  "lock",
  "verify",
  "dependencies",
  "compliance",
  "recovery",
  "import",
  "refresh",
  "update",
  "health",
  "annotation",
  "evidence",
] as const;
export type RollbackStep = (typeof ROLLBACK_STEPS)[number];

/** A step of the rollback as its result and evidence show it. */
export interface RollbackStepView {
  step: RollbackStep;
  status: "ok" | "warning" | "skipped" | "failed";
  detail: string;
  data?: Record<string, unknown>;
  evidence?: string;
}

export interface RollbackResult {
  ok: boolean;
  stage: StageName;
  snapshotId: string;
  recoverySnapshotId?: string;
  steps: RollbackStepView[];
  failedStep?: RollbackStep;
  /** Set when an in-cluster backup or scan job blocked the rollback (nothing was changed). */
  blocked?: { source: string; blackouts: ClusterBlackout[]; reason: string };
  /** What to do next when a step failed: resume, or undo with the recovery snapshot. */
  next?: string;
  /** Where the transition metrics were published, or why not. */
  metrics?: { published?: string; error?: string };
}

/** The evidence port (kept under its older name). */
export type EvidenceAppender = EvidencePort;

export type AnalyzeFn = (
  exportJson: unknown,
  stage: StageName,
  opts: { policyPackDir?: string; policyPackConfigFile?: string; env?: NodeJS.ProcessEnv },
) => Promise<{ violations: PolicyViolation[] }>;

export interface RollbackOptions {
  stage: StageName;
  /** The snapshot to roll back to. */
  to: string;
  store: ObjectStore;
  engine: StackEngine;
  env: NodeJS.ProcessEnv;
  /** The key for the recovery snapshot. */
  keys: KeySource;
  /**
   * The keys whose snapshots are trusted (configuration only: env, the stage's stack file,
   * --kms-key); default: the environment's GOOSE_SNAPSHOT_KEY / GOOSE_SNAPSHOT_PASSPHRASE.
   */
  trust?: SnapshotKeyring;
  locks: LocksPort;
  evidence: EvidencePort;
  /** The compliance check (analyzeExport from src/engine in production). */
  analyze: AnalyzeFn;
  /** Where package.json pins the provider versions; its git commit goes into the recovery snapshot. */
  repoRoot: string;
  /** The Pulumi stack name (default: the stage). */
  stack?: string;
  holder: string;
  /** Proceed despite integrity issues, as `pulumi stack import --force`. */
  force?: boolean;
  /** Proceed despite mandatory violations; the reason is recorded as evidence. */
  acceptViolations?: { reason: string };
  /**
   * Converge component by component (./staged.ts): each stage a targeted update followed by the
   * policy analysis of the state so far and the health checks, recorded in a store checkpoint.
   */
  staged?: boolean;
  /**
   * Continue a staged rollback from its checkpoint: no recovery snapshot and no import again
   * (the state holds the completed stages); refresh, then the first incomplete stage on.
   */
  resume?: boolean;
  /** Starts the analyzer of the states between stages (default: one policy pack for them all). */
  startAnalyzer?: (
    stage: StageName,
    opts: { policyPackDir?: string; policyPackConfigFile?: string; env?: NodeJS.ProcessEnv },
  ) => Promise<ExportAnalyzer>;
  policyPackDir?: string;
  policyPackConfigFile?: string;
  health?: {
    prometheusUrl?: string;
    grafanaUrl?: string;
    timeoutMs?: number;
    /** How an endpoint is asked (default: HTTP GET). */
    probe?: HealthProbe;
  };
  /** Grafana annotation target (the grafana health URL's base by default) and token. */
  grafana?: { url?: string; token?: string };
  onStep?: (report: RollbackStepView) => void;
  /** Each stage of a staged rollback as it completes or fails. */
  onStage?: (record: StageRecord) => void;
  /** The rollback's plan (current state to the snapshot), computed before the import. */
  onPlan?: (plan: import("../../plan/index.js").Plan) => void;
  now?: () => Date;
  /** Time for the health wait and the records (default the system clock, or `now`). */
  clock?: Clock;
  /** Lease TTL (default one hour). */
  ttlSeconds?: number;
  /**
   * Pushgateways where the stage's backup and scanner jobs announce themselves (the CLI's
   * --blackout-source, GOOSE_BLACKOUT_SOURCES, default its --pushgateway). Read after the lease
   * is taken; a running job blocks the rollback.
   */
  blackoutSources?: string[];
  /**
   * Where the transition metrics (kind rollback, as promote publishes them) and the recovery
   * snapshot's metrics go: a Pushgateway, else a textfile (default `<repoRoot>/.goose/metrics`).
   */
  metrics?: MetricsSink;
}

const VIEW_STATUS: Record<StepStatus, RollbackStepView["status"]> = {
  pending: "skipped",
  running: "failed",
  passed: "ok",
  warned: "warning",
  skipped: "skipped",
  failed: "failed",
};

/** The rollback's view of a runner report. */
export function stepView(r: StepReport<RollbackStep>): RollbackStepView {
  return {
    step: r.name,
    status: VIEW_STATUS[r.status],
    detail: r.detail ?? "",
    ...(r.data ? { data: r.data } : {}),
    ...(r.evidence[0] ? { evidence: r.evidence[0] } : {}),
  };
}

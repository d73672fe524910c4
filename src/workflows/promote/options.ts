/** What `promote` takes: the stages, the repository, the ports the CLI opened, and options. */
import type { StageName } from "../../config/stages.js";
import type { StackEngine } from "../../engine/types.js";
import type { ObjectStore } from "../../store/types.js";
import type { Clock, EvidencePort, HealthProbe, LocksPort } from "../steps.js";
import type { MetricsSink } from "../transition-metrics.js";
import type { PromotionEvent } from "./report.js";

/** The evidence port of a promotion: appends, and the head it reports. */
export interface PromoteEvidence extends EvidencePort {
  head(): Promise<{ seq: number; hash: string } | undefined>;
}

export interface PromoteOptions {
  from: StageName;
  to: StageName;
  /** The repository: Pulumi.<stage>.yaml, policy-pack/, monitoring/, security/, load-test/, package-lock.json. */
  repoRoot: string;
  env: NodeJS.ProcessEnv;
  store: ObjectStore;
  engine: StackEngine;
  /** The evidence chain (the CLI opens it); promote applies the audit templates to every record. */
  evidence: PromoteEvidence;
  /** The leases (the CLI opens them over the same store and chain). */
  locks: LocksPort;
  /** Who promotes (lease holder, evidence actor). */
  holder: string;
  /** The command that reruns this promotion as the user typed it (the CLI's argv), for `resume`. */
  rerunCommand?: string;
  /** The source stage's service under test (smoke / load test). */
  target: string;
  /** How verify asks the health URL (default: HTTP GET). */
  healthProbe?: HealthProbe;
  /** The target stage's health URL, checked after `up` (default: its prometheusUrl output + /-/healthy). */
  healthUrl?: string;
  loadTest?: { configPath?: string; baselinePath?: string; reportDir?: string; scenario?: string };
  /** Prometheus text endpoint with the backup metrics (default: the newest snapshot stands in). */
  backupMetricsUrl?: string;
  /**
   * Where the source stage's in-cluster scanner leaves its results (default: the store), read by
   * the vulnerability gate (src/gates/in-cluster-scans.ts).
   */
  scanResults?: ObjectStore;
  /** Also run the promtool unit tests (not only check that each alert has one). */
  runRuleTests?: boolean;
  security?: {
    dbFile?: string;
    policyFile?: string;
    allowListFile?: string;
    enrichmentFile?: string;
  };
  /** Where the JSON and Markdown reports go (default <repoRoot>/.goose/reports/promotions). */
  reportDir?: string;
  metrics?: MetricsSink;
  /**
   * Pushgateways where the stages' in-cluster backup and scan jobs announce themselves
   * (src/locks/cluster.ts); a running job on the source or target stage blocks the promotion.
   */
  blackoutSources?: string[];
  leaseTtlSeconds?: number;
  /**
   * Deploy a plan that deletes or replaces data-bearing resources into compliance or production
   * (refused otherwise); the reason is recorded in the `gate.plan` evidence.
   */
  allowDataLoss?: { reason: string };
  /** The target stage's plan, computed before its deploy step (the CLI prints it). */
  onPlan?: (plan: import("../../plan/index.js").Plan) => void;
  onEvent?: (e: PromotionEvent) => void;
  now?: () => Date;
  /** Time for the steps (default the system clock, or `now`). */
  clock?: Clock;
}

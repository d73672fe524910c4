/**
 * STAGED ROLLBACK (`goose rollback <stage> --to <id> --staged [--resume]`): instead of one update
 * of the whole stack after the import, the stack converges component by component, each stage a
 * targeted update (`pulumi up --target …`, the offline engine likewise), each followed by the
 * policy analysis of the state so far and the health checks. The order, and why:
 *
 *  1. foundation  the namespace (Pod Security labels), the NetworkPolicies, the providers and the
 *                 stack's own resources: the guard rails come back before anything they guard,
 *                 so no workload of a later stage runs without its restrictions (stack policies
 *                 such as k8s-network-policy-coverage hold at every step). Without dependents:
 *                 everything in the namespace depends on it.
 *  2. backup      the bucket, its KMS key, the IAM role: the backup target exists and is
 *                 protected before the workloads whose sidecars write to it
 *  3. prometheus  Prometheus, Alertmanager, the Pushgateway: monitoring and alerting return before
 *                 what they watch changes, so the stages after them are watched
 *  4. grafana     reads Prometheus
 *  5. scanner     last: it scans what the stages before deployed
 *  6. converge    one untargeted update: whatever the plan did not name (normally nothing; a
 *                 change here is reported)
 *
 * Component stages target the component and its resources with their dependents (a dependent in
 * another component that the update changes follows, as Pulumi's --target-dependents does).
 *
 * A checkpoint in the store (`rollback/<stage>/<snapshot>.staged.json`) records each completed
 * stage; a failure stops the rollback with the completed stages recorded and the failing one
 * named, and `--resume` continues from the first incomplete stage (without importing again).
 * Because every completed stage passed the policy analysis, a stop leaves the stack in a state
 * that passed policy, unless the failing check is the policy analysis itself (then the report
 * says which violation the stage introduced).
 */
import type { StageName } from "../../config/stages.js";
import type { PolicyViolation, StackEngine } from "../../engine/types.js";
import type { ExportResource, StackExport } from "../../pulumi-export/index.js";
import type { ObjectStore } from "../../store/types.js";

export const STAGED_ROLLBACK_STAGES = [
  {
    name: "foundation",
    why: "the namespace, NetworkPolicies and providers first: the guard rails before anything they guard",
  },
  {
    name: "backup",
    component: "goldengoose:backup:Backup",
    why: "the backup bucket, key and role before the workloads whose sidecars write to them",
  },
  {
    name: "prometheus",
    component: "goldengoose:monitoring:Prometheus",
    why: "monitoring and alerting back before what they watch changes",
  },
  {
    name: "grafana",
    component: "goldengoose:monitoring:Grafana",
    why: "Grafana reads Prometheus",
  },
  {
    name: "scanner",
    component: "goldengoose:security:Scanner",
    why: "last: it scans what the stages before deployed",
  },
  { name: "converge", why: "one untargeted update for anything the plan did not name" },
] as const;
export type RollbackStageName = (typeof STAGED_ROLLBACK_STAGES)[number]["name"];

export interface PlannedStage {
  name: RollbackStageName;
  why: string;
  /** The URNs the stage's update targets; undefined = the whole stack (converge). */
  targets?: string[];
  targetDependents: boolean;
}

/** The stages for a state (the imported snapshot): which URNs each stage targets. */
export function planStages(state: StackExport): PlannedStage[] {
  const resources = state.deployment.resources ?? [];
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  /** The component type a resource belongs to (its nearest component ancestor of the plan). */
  const componentOf = (r: ExportResource): string | undefined => {
    const seen = new Set<string>();
    for (let cur: ExportResource | undefined = r; cur && !seen.has(cur.urn);) {
      seen.add(cur.urn);
      if (STAGED_ROLLBACK_STAGES.some((s) => "component" in s && s.component === cur!.type)) {
        return cur.type;
      }
      cur = cur.parent ? byUrn.get(cur.parent) : undefined;
    }
    return undefined;
  };
  return STAGED_ROLLBACK_STAGES.map((s) => {
    if (s.name === "converge") return { name: s.name, why: s.why, targetDependents: false };
    const component = "component" in s ? s.component : undefined;
    const targets = resources.filter((r) => componentOf(r) === component).map((r) => r.urn);
    return { name: s.name, why: s.why, targets, targetDependents: component !== undefined };
  });
}

export const STAGED_CHECKPOINT_KIND = "goldengoose.rollback.staged/v1";

export interface StageRecord {
  name: RollbackStageName;
  status: "done" | "failed";
  at: string;
  targets?: number;
  resourceChanges?: Record<string, number>;
  /** Mandatory and advisory violations of the state after the stage. */
  policy?: { mandatory: number; advisory: number; violations?: PolicyViolation[] };
  health?: string;
  detail?: string;
}

/** What a staged rollback has done so far (the store's checkpoint). */
export interface StagedCheckpoint {
  kind: typeof STAGED_CHECKPOINT_KIND;
  stage: StageName;
  to: string;
  recovery?: string;
  startedAt: string;
  updatedAt: string;
  /** Completed stages in order, then at most one failed one (the last attempt). */
  stages: StageRecord[];
  /** Set when every stage completed. */
  completedAt?: string;
}

export const checkpointKey = (stage: StageName, to: string) =>
  `rollback/${stage}/${to}.staged.json`;

export async function readCheckpoint(
  store: ObjectStore,
  stage: StageName,
  to: string,
): Promise<StagedCheckpoint | undefined> {
  const o = await store.get(checkpointKey(stage, to));
  return o ? (JSON.parse(o.body.toString("utf8")) as StagedCheckpoint) : undefined;
}

export async function writeCheckpoint(store: ObjectStore, cp: StagedCheckpoint): Promise<void> {
  await store.put(checkpointKey(cp.stage, cp.to), JSON.stringify(cp, null, 2) + "\n", {
    contentType: "application/json",
  });
}

/** The first stage the checkpoint has not completed (undefined: all done). */
export function nextStage(cp: StagedCheckpoint): RollbackStageName | undefined {
  const done = new Set(cp.stages.filter((s) => s.status === "done").map((s) => s.name));
  return STAGED_ROLLBACK_STAGES.map((s) => s.name).find((n) => !done.has(n));
}

export class StageFailed extends Error {
  constructor(
    readonly stage: RollbackStageName,
    readonly reason: string,
    readonly completed: RollbackStageName[],
  ) {
    super(
      `stage "${stage}" of the staged rollback failed: ${reason}` +
        (completed.length > 0 ? ` (completed: ${completed.join(", ")})` : " (no stage completed)"),
    );
  }
}

export interface StagedRunOptions {
  stage: StageName;
  engine: StackEngine;
  store: ObjectStore;
  checkpoint: StagedCheckpoint;
  /** The policy analysis of an export; its mandatory violations fail the stage. */
  analyze: (exportJson: unknown) => Promise<{ violations: PolicyViolation[] }>;
  /** The health checks after each stage: throws (with the reason) when unhealthy. */
  health: (stage: RollbackStageName) => Promise<string>;
  onStage?: (r: StageRecord) => void;
  now: () => Date;
}

/**
 * Runs the stages the checkpoint has not completed, in order, updating the checkpoint after each.
 * The plan is made from the state as it is now (after the import, or as a crash left it).
 */
export async function runStagedUpdate(o: StagedRunOptions): Promise<StagedCheckpoint> {
  const cp = o.checkpoint;
  const plan = planStages(JSON.parse(await o.engine.exportStack(o.stage)) as StackExport);
  const completed = () =>
    cp.stages.filter((s) => s.status === "done").map((s) => s.name) as RollbackStageName[];
  for (const planned of plan) {
    if (completed().includes(planned.name)) continue;
    cp.stages = cp.stages.filter((s) => s.status === "done");
    const record: StageRecord = { name: planned.name, status: "failed", at: o.now().toISOString() };
    if (planned.targets) record.targets = planned.targets.length;
    try {
      if (planned.targets && planned.targets.length === 0) {
        record.resourceChanges = {};
        record.detail = "nothing of this stage in the state";
      } else {
        const up = await o.engine.up(o.stage, {
          ...(planned.targets ? { targets: planned.targets } : {}),
          targetDependents: planned.targetDependents,
        });
        record.resourceChanges = up.resourceChanges;
      }
      const { violations } = await o.analyze(JSON.parse(await o.engine.exportStack(o.stage)));
      const mandatory = violations.filter((v) => v.enforcementLevel === "mandatory");
      record.policy = {
        mandatory: mandatory.length,
        advisory: violations.length - mandatory.length,
      };
      if (mandatory.length > 0) {
        record.policy.violations = mandatory;
        throw new Error(
          `the state after it breaks ${mandatory.length} mandatory polic${mandatory.length === 1 ? "y" : "ies"}: ` +
            mandatory.map((v) => `${v.policy}${v.urn ? ` on ${v.urn}` : ""}`).join("; "),
        );
      }
      record.health = await o.health(planned.name);
      record.status = "done";
      record.at = o.now().toISOString();
    } catch (err) {
      record.detail = (err as Error).message;
      cp.stages.push(record);
      cp.updatedAt = o.now().toISOString();
      await writeCheckpoint(o.store, cp);
      o.onStage?.(record);
      throw new StageFailed(planned.name, record.detail, completed());
    }
    cp.stages.push(record);
    cp.updatedAt = o.now().toISOString();
    await writeCheckpoint(o.store, cp);
    o.onStage?.(record);
  }
  cp.completedAt = o.now().toISOString();
  await writeCheckpoint(o.store, cp);
  return cp;
}

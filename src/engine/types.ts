import type { StageName } from "../config/stages.js";
import type { EnforcementLevel, PolicyViolation } from "../policy/types.js";
import type { StackExport } from "../pulumi-export/index.js";

/** One resource as the engine registered it. */
export interface ResourceSummary {
  urn: string;
  type: string;
  name: string;
  parent?: string;
}

export type { EnforcementLevel, PolicyViolation };

export interface PreviewResult {
  stage: StageName;
  mode: "offline" | "real";
  resources: ResourceSummary[];
  violations: PolicyViolation[];
  summary: { resources: number; mandatory: number; advisory: number };
}

export interface PreviewOptions {
  /** A policy-pack config file in `--policy-pack-config` format; default policy-pack/config/<stage>.json. */
  policyPackConfigFile?: string;
  /** A stack file to use instead of Pulumi.<stage>.yaml. */
  stackConfigFile?: string;
  onProgress?: (message: string) => void;
  /**
   * Offline: receives the rendered stage as the export an update would write (the plan's "new"
   * side, src/plan), from the same render the policies see.
   */
  onRendered?: (rendered: StackExport) => void;
  /**
   * Offline: called once the render is done (this process's own heavy work); what is left mostly
   * waits on the policy pack, so other work of this process runs best from here.
   */
  onRenderDone?: () => void;
  /**
   * Real engine: every engine event of the preview, as the Automation API delivers it (the plan
   * maps its resourcePreEvents, src/plan/pulumi-preview.ts).
   */
  onEngineEvent?: (event: unknown) => void;
}

export interface UpResult {
  /** Counts by operation, as Pulumi reports them (create, update, same, delete…). */
  resourceChanges: Record<string, number>;
  outputs: Record<string, unknown>;
}

export interface UpOptions {
  onProgress?: (message: string) => void;
  /**
   * A targeted update (`pulumi up --target URN…`): only these resources are created, updated or
   * deleted; every other resource keeps its state. Absent: the whole stack.
   */
  targets?: string[];
  /**
   * With `targets`: also update the resources that depend on a target (parent or dependency,
   * transitively) where the program changes them (`--target-dependents`).
   */
  targetDependents?: boolean;
}

/**
 * The port every workflow drives a stack through. `real` runs the Pulumi CLI through the
 * Automation API; `offline` runs the program under mocks and keeps the state in a local file,
 * so promotion and rollback can be exercised end to end without a cloud.
 */
export interface StackEngine {
  readonly mode: "offline" | "real";
  preview(stage: StageName, opts?: PreviewOptions): Promise<PreviewResult>;
  up(stage: StageName, opts?: UpOptions): Promise<UpResult>;
  refresh(stage: StageName): Promise<void>;
  /** The stack's state exactly as `pulumi stack export` prints it. */
  exportStack(stage: StageName): Promise<string>;
  /** `pulumi stack import` of an export (the caller validates it first). */
  importStack(stage: StageName, exportJson: string): Promise<void>;
  /**
   * Offline only: the stage rendered as the export an update would write, without writing it
   * (the new side of a plan, src/plan). The real engine plans through `preview` instead.
   */
  renderExport?(stage: StageName): Promise<StackExport>;
}

/**
 * The plan a workflow shows before it changes a stage (src/plan): promote plans the target stage
 * before its deploy step, rollback plans the import of its snapshot. Offline, the stage is
 * rendered (`engine.renderExport`) and compared with its current state; with the Pulumi CLI, the
 * engine's own preview steps are mapped. Returns undefined when the engine can plan neither way.
 */
import type { StageName } from "../config/stages.js";
import type { StackEngine } from "../engine/types.js";
import { planExports, type Plan } from "../plan/index.js";
import type { StackExport } from "../pulumi-export/index.js";

/** The plan of an update of `stage` to what its program renders now. */
export async function planStageUpdate(
  engine: StackEngine,
  stage: StageName,
): Promise<Plan | undefined> {
  if (engine.renderExport) {
    const current = JSON.parse(await engine.exportStack(stage)) as StackExport;
    const next = await engine.renderExport(stage);
    const baseline = (current.deployment?.resources ?? []).length > 0 ? current : undefined;
    return planExports(baseline, next, {
      stage,
      against: baseline ? { kind: "state" } : { kind: "none" },
    });
  }
  if (engine.mode === "real") {
    const events: unknown[] = [];
    const result = await engine.preview(stage, { onEngineEvent: (e) => events.push(e) });
    const { planFromEngineEvents } = await import("../plan/pulumi-preview.js");
    const { attachViolations } = await import("../plan/index.js");
    return attachViolations(planFromEngineEvents(events, stage), result.violations);
  }
  return undefined;
}

/** The plan of importing `target` over `current` (two exports of the same stack). */
export function planImport(stage: StageName, currentText: string, targetText: string): Plan {
  const current = JSON.parse(currentText) as StackExport;
  const target = JSON.parse(targetText) as StackExport;
  const baseline = (current.deployment?.resources ?? []).length > 0 ? current : undefined;
  return planExports(baseline, target, {
    stage,
    against: baseline ? { kind: "state" } : { kind: "none" },
  });
}

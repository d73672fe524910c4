/**
 * `createEngine(mode, { cwd, env })`: the StackEngine behind every workflow.
 * - `offline`: mocks + the policy pack over the Analyzer protocol + a local state file
 *   (src/engine/offline). No Pulumi CLI, no cloud.
 * - `real`: the Pulumi CLI through the Automation API (src/engine/real).
 */
import type { StackEngine } from "./types.js";
import { OfflineEngine, type OfflineEngineOptions } from "./offline/engine.js";
import { RealEngine } from "./real/engine.js";

export type {
  StackEngine,
  PreviewResult,
  PolicyViolation,
  PreviewOptions,
  UpResult,
  UpOptions,
} from "./types.js";
export { OfflineEngine, type OfflineEngineOptions, type StageProgram } from "./offline/engine.js";
export { RealEngine, PulumiCliMissingError } from "./real/engine.js";
export { PolicyPackError, EngineInputError } from "./offline/errors.js";
export { analyzeExport } from "../policy/analyze.js";

export function createEngine(
  mode: "offline" | "real",
  opts: { cwd: string; env: NodeJS.ProcessEnv } & Partial<
    Omit<OfflineEngineOptions, "cwd" | "env">
  >,
): StackEngine {
  return mode === "offline" ? new OfflineEngine(opts) : new RealEngine(opts);
}

import type { StageName } from "../config/stages.js";
import type { PolicyViolation, PreviewResult, ResourceSummary } from "./types.js";

/** Builds the CLI contract's preview result (DESIGN.md) from resources and violations. */
export function summarize(
  stage: StageName,
  mode: "offline" | "real",
  resources: Array<{ urn: string; type: string; name: string; parent?: string }>,
  violations: PolicyViolation[],
): PreviewResult {
  const list: ResourceSummary[] = resources.map((r) => {
    const s: ResourceSummary = { urn: r.urn, type: r.type, name: r.name };
    if (r.parent) s.parent = r.parent;
    return s;
  });
  return {
    stage,
    mode,
    resources: list,
    violations,
    summary: {
      resources: list.length,
      mandatory: violations.filter((v) => v.enforcementLevel === "mandatory").length,
      advisory: violations.filter((v) => v.enforcementLevel === "advisory").length,
    },
  };
}

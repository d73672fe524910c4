/**
 * The policy gate: a stage's preview (through the StackEngine port, so the policy pack runs as
 * `pulumi preview --policy-pack` would) has no mandatory violation. Advisory ones warn.
 */
import { createHash } from "node:crypto";
import type { StageName } from "../config/stages.js";
import type { PreviewResult, StackEngine } from "../engine/types.js";
import { DEFAULT_HINTS, HINTS, type HintContext } from "./hints.js";
import { timed, type GateResult } from "./types.js";

/** Judges a preview result (pure). */
export function judgePreview(
  preview: PreviewResult,
  hints: HintContext = DEFAULT_HINTS,
): Omit<GateResult, "gate" | "durationMs"> {
  const mandatory = preview.violations.filter((v) => v.enforcementLevel === "mandatory");
  const advisory = preview.violations.filter((v) => v.enforcementLevel === "advisory");
  const digest = createHash("sha256")
    .update(
      JSON.stringify({
        resources: preview.resources.map((r) => r.urn).sort(),
        violations: preview.violations,
      }),
    )
    .digest("hex");
  const details = {
    stage: preview.stage,
    mode: preview.mode,
    resources: preview.summary.resources,
    mandatory: mandatory.length,
    advisory: advisory.length,
    violations: preview.violations.map((v) => ({
      policy: v.policy,
      level: v.enforcementLevel,
      urn: v.urn,
      message: v.message,
    })),
  };
  const subjects = [{ name: `preview:${preview.stage}`, digest: { sha256: digest } }];
  if (mandatory.length) {
    const first = mandatory[0];
    return {
      verdict: "fail",
      summary: `${mandatory.length} mandatory policy violation(s) in the ${preview.stage} preview; first: ${first?.policy}: ${first?.message}`,
      fix: `fix the resource${first?.urn ? ` ${first.urn}` : ""} or its stack setting in Pulumi.${preview.stage}.yaml, then run ${HINTS.preview(preview.stage, hints)}`,
      details,
      subjects,
    };
  }
  return {
    verdict: advisory.length ? "warn" : "pass",
    summary: `${preview.summary.resources} resources, no mandatory violation${advisory.length ? `, ${advisory.length} advisory` : ""}`,
    ...(advisory.length
      ? { fix: `review the advisory violations: ${HINTS.preview(preview.stage, hints)}` }
      : {}),
    details,
    subjects,
  };
}

export async function policyGate(
  engine: StackEngine,
  stage: StageName,
  hints?: HintContext,
): Promise<GateResult & { preview?: PreviewResult }> {
  let preview: PreviewResult | undefined;
  const r = await timed("policy", async () => {
    preview = await engine.preview(stage);
    // The preview ran on this engine: the hint previews the same way (offline or not).
    return judgePreview(preview, hints ?? { offline: engine.mode === "offline", storeArgs: [] });
  });
  return { ...r, ...(preview ? { preview } : {}) };
}

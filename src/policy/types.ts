export type EnforcementLevel = "advisory" | "mandatory" | "remediate" | "disabled";

/** One policy violation, as `goose preview --json` prints it (DESIGN.md, CLI contract). */
export interface PolicyViolation {
  policy: string;
  pack: string;
  enforcementLevel: EnforcementLevel;
  urn?: string;
  message: string;
}

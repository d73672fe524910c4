import type { EvidenceSubject } from "../evidence/index.js";
import { InputError } from "../errors.js";

export type Verdict = "pass" | "warn" | "fail";

export const GATE_NAMES = [
  "policy",
  "sbom",
  "vulnerabilities",
  "load-test",
  "backup",
  "rollback",
  "alerts",
] as const;
export type GateName = (typeof GATE_NAMES)[number];

/** What every gate returns: a verdict, why, how to proceed, and the digests of what it looked at. */
export interface GateResult {
  gate: GateName;
  verdict: Verdict;
  /** One line: what was found. */
  summary: string;
  /** On warn or fail: what to do about it. */
  fix?: string;
  details: Record<string, unknown>;
  /** What the gate looked at, with digests (in-toto subjects). */
  subjects: EvidenceSubject[];
  durationMs: number;
}

/** A gate's input could not be read (a missing file, a malformed config): exit 2 territory. */
export class GateInputError extends InputError {
  constructor(message: string) {
    super(message);
    this.name = "GateInputError";
  }
}

/** The worst of several verdicts. */
export function worst(verdicts: Verdict[]): Verdict {
  if (verdicts.includes("fail")) return "fail";
  if (verdicts.includes("warn")) return "warn";
  return "pass";
}

export async function timed(
  gate: GateName,
  fn: () => Promise<Omit<GateResult, "gate" | "durationMs">>,
): Promise<GateResult> {
  const t0 = performance.now();
  const r = await fn();
  return { gate, ...r, durationMs: Math.round(performance.now() - t0) };
}

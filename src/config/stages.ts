import { closest, distance } from "fastest-levenshtein";
import { InputError } from "../errors.js";
/** The three stages, in promotion order. Promotion only goes one step forward along this list. */
export const STAGES = ["sandbox", "compliance", "production"] as const;
export type StageName = (typeof STAGES)[number];

/** The Pulumi project name: config keys in the stack files live under this namespace. */
export const PROJECT = "golden-goose";

export function isStageName(value: string): value is StageName {
  return (STAGES as readonly string[]).includes(value);
}

/** Index of a stage in promotion order (sandbox 0 … production 2). */
export function stageIndex(stage: StageName): number {
  return STAGES.indexOf(stage);
}

/** The stage a release goes to from `stage`, or undefined at the end of the line. */
export function nextStage(stage: StageName): StageName | undefined {
  return STAGES[stageIndex(stage) + 1];
}

/** Throws a usage error naming the known stages when `value` is not one of them. */
export function parseStageName(value: string): StageName {
  if (isStageName(value)) return value;
  throw new UnknownStageError(value);
}

export class UnknownStageError extends InputError {
  constructor(public readonly value: string) {
    const near = closest(value.toLowerCase(), [...STAGES]);
    const suggest = distance(value.toLowerCase(), near) <= Math.max(2, Math.floor(near.length / 3));
    super(
      `unknown stage "${value}"${suggest ? `; did you mean "${near}"?` : ""} (expected one of ${STAGES.join(", ")})`,
    );
    this.name = "UnknownStageError";
  }
}

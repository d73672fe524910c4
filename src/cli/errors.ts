import { CheckFailedError, GooseError, InputError } from "../errors.js";

/**
 * The one place that turns failures into exit codes (DESIGN.md): 0 success or gate passed;
 * 1 a gate, check or verification failed; 2 bad usage, bad input or a missing prerequisite.
 */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export { CheckFailedError, GooseError, InputError };

/**
 * Transitional alias: `UsageError` is `InputError`. New code imports `InputError` from
 * `src/errors.ts`.
 */
export const UsageError = InputError;
export type UsageError = InputError;

/** Exit code for any error: 1 for a `CheckFailedError`, 2 for an `InputError` and anything else. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CheckFailedError) return EXIT_FAILED;
  return EXIT_USAGE;
}

/** The `fix` line printed under an error's message, when the error carries one. */
export function fixOf(err: unknown): string | undefined {
  return err instanceof GooseError ? err.fix : undefined;
}

/**
 * The error vocabulary of Golden Goose. Every failure a module raises on purpose is one of two
 * kinds: `InputError` (bad input, environment or a missing prerequisite; the CLI exits 2) or
 * `CheckFailedError` (a gate, check or verification failed, tampering included; the CLI exits 1).
 * Each carries a stable `code` for `--json` output and, where one exists, the `fix`: the thing
 * to do or the command to run. This module has no imports; exit codes are mapped in one place,
 * `src/cli/errors.ts`. Subclass one of the two kinds for a more specific name or fields; never
 * attach an exit code to an error.
 */

/** What every deliberate failure carries. */
export interface GooseErrorOptions {
  /** A stable, kebab-case identifier of the failure (for `--json` output and tests). */
  code?: string;
  /** What to do about it: a sentence or a command that runs as printed. */
  fix?: string;
  /** The underlying error, when this one wraps another. */
  cause?: unknown;
}

/** Base of the two kinds below; not thrown itself. */
export abstract class GooseError extends Error {
  /** Which of the two kinds this is. */
  abstract readonly kind: "input" | "check-failed";
  /** Stable identifier of the failure. */
  readonly code: string;
  /** What to do about it, when known. */
  readonly fix: string | undefined;

  protected constructor(message: string, defaultCode: string, options: GooseErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code ?? defaultCode;
    this.fix = options.fix;
  }
}

/** Bad input, a bad environment or a missing prerequisite (exit 2). The message names the fix. */
export class InputError extends GooseError {
  readonly kind = "input" as const;
  constructor(message: string, options: GooseErrorOptions = {}) {
    super(message, "input", options);
  }
}

/** A gate, check or verification failed, tampering included (exit 1). */
export class CheckFailedError extends GooseError {
  readonly kind = "check-failed" as const;
  constructor(message: string, options: GooseErrorOptions = {}) {
    super(message, "check-failed", options);
  }
}

/** True when `err` is an input/environment failure (as opposed to a failed check). */
export function isInputError(err: unknown): err is InputError {
  return err instanceof InputError;
}

/** True when `err` is a failed check, gate or verification. */
export function isCheckFailed(err: unknown): err is CheckFailedError {
  return err instanceof CheckFailedError;
}

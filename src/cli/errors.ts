/**
 * Exit codes (DESIGN.md): 0 success or gate passed; 1 a gate, check or verification failed;
 * 2 bad usage, bad input or a missing prerequisite.
 */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** Bad usage, bad input or a missing prerequisite: exit 2. The message names the fix. */
export class UsageError extends Error {
  readonly exitCode = EXIT_USAGE;
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A gate, check or verification failed: exit 1. */
export class CheckFailedError extends Error {
  readonly exitCode = EXIT_FAILED;
  constructor(message: string) {
    super(message);
    this.name = "CheckFailedError";
  }
}

/** Exit code for any error: its own `exitCode` when it carries one (1 or 2), else 2. */
export function exitCodeOf(err: unknown): number {
  if (err && typeof err === "object" && "exitCode" in err) {
    const code = (err as { exitCode: unknown }).exitCode;
    if (code === EXIT_FAILED || code === EXIT_USAGE) return code;
  }
  return EXIT_USAGE;
}

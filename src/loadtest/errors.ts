/**
 * Errors of the load-test library. Each carries the CLI exit code it maps to (DESIGN.md):
 * 2 for bad input or a refused comparison, so `goose` needs no load-test knowledge to exit right.
 */
import { InputError } from "../errors.js";

/** Bad input to a run or comparison (target URL, missing env var, unreadable file). Exit 2. */
export class LoadTestUsageError extends InputError {
  constructor(message: string) {
    super(message);
    this.name = "LoadTestUsageError";
  }
}

/** One load parameter that differs between a baseline and a run. */
export interface ParameterDifference {
  key: string;
  baseline: unknown;
  run: unknown;
}

/**
 * A run and a baseline measured under different load: comparing them would be meaningless, so
 * it is refused. Exit 2; the message lists each differing parameter and the way out.
 */
export class ParameterMismatchError extends InputError {
  constructor(
    public readonly differences: ParameterDifference[],
    what: string,
  ) {
    super(
      `refusing to compare: ${what} used different load parameters:\n` +
        differences
          .map(
            (d) =>
              `  ${d.key}: baseline ${JSON.stringify(d.baseline)}, this run ${JSON.stringify(d.run)}`,
          )
          .join("\n") +
        "\nrun the scenario with the baseline's parameters, or record a new baseline with --save-baseline",
    );
    this.name = "ParameterMismatchError";
  }
}

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
    /** How the two sides are named: the baseline/reference and the run/candidate. */
    labels: { baseline: string; run: string; fix?: string } = {
      baseline: "baseline",
      run: "this run",
    },
  ) {
    super(
      `refusing to compare: ${what} used different load parameters:\n` +
        differences
          .map(
            (d) =>
              `  ${d.key}: ${labels.baseline} ${JSON.stringify(d.baseline)}, ${labels.run} ${JSON.stringify(d.run)}`,
          )
          .join("\n") +
        "\n" +
        (labels.fix ??
          "run the scenario with the baseline's parameters, or record a new baseline with --save-baseline"),
    );
    this.name = "ParameterMismatchError";
  }
}

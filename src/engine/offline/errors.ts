import { InputError } from "../../errors.js";
export { PolicyPackError } from "../../policy/errors.js";

/** Bad input to the engine (stack file, state file, stage): exit 2, the message names the fix. */
export class EngineInputError extends InputError {
  constructor(message: string) {
    super(message);
    this.name = "EngineInputError";
  }
}

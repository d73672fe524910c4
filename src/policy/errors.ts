import { InputError } from "../errors.js";

/**
 * The policy pack could not give an answer: it crashed, hung past the timeout, refused a call, or
 * its config is invalid. The preview fails closed with exit 2 (DESIGN.md: a missing prerequisite),
 * carrying the pack's own message.
 */
export class PolicyPackError extends InputError {
  constructor(message: string) {
    super(message);
    this.name = "PolicyPackError";
  }
}

/**
 * The errors of snapshot keys: none configured (exit 2), a key that does not open the data key
 * (exit 1), a manifest whose key reference was edited (exit 1).
 */
import { CheckFailedError, InputError } from "../errors.js";

/** No snapshot key is configured at all: exit 2 with the fix. */
export class KeyMissingError extends InputError {
  constructor(message: string, fix?: string) {
    super(message, { code: "snapshot-key-missing", ...(fix ? { fix } : {}) });
    this.name = "KeyMissingError";
  }
}

/** The data key was not wrapped by a configured key (or it does not open): exit 1. */
export class WrongKeyError extends CheckFailedError {
  readonly problem = "wrong-key" as const;
  constructor(message: string) {
    super(message, { code: "wrong-key" });
    this.name = "WrongKeyError";
  }
}

/** The manifest's key reference is malformed or out of range: it was edited. Exit 1. */
export class ManifestEditedError extends CheckFailedError {
  readonly problem = "manifest-edited" as const;
  constructor(message: string) {
    super(message, { code: "manifest-edited" });
    this.name = "ManifestEditedError";
  }
}

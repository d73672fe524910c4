import { describe, expect, it } from "vitest";
import { CheckFailedError, GooseError, InputError } from "../src/errors.js";
import { exitCodeOf, fixOf, UsageError } from "../src/cli/errors.js";

describe("error vocabulary", () => {
  it("maps the two kinds to exit codes in one place", () => {
    expect(exitCodeOf(new InputError("bad"))).toBe(2);
    expect(exitCodeOf(new CheckFailedError("failed"))).toBe(1);
    expect(exitCodeOf(new Error("unexpected"))).toBe(2);
    expect(exitCodeOf("a string")).toBe(2);
  });

  it("keeps subclasses' kind, name, code and fix", () => {
    class TamperedError extends CheckFailedError {}
    const err = new TamperedError("record 3 altered", {
      code: "evidence-tampered",
      fix: "goose evidence verify",
    });
    expect(err).toBeInstanceOf(GooseError);
    expect(err.kind).toBe("check-failed");
    expect(err.name).toBe("TamperedError");
    expect(err.code).toBe("evidence-tampered");
    expect(fixOf(err)).toBe("goose evidence verify");
    expect(exitCodeOf(err)).toBe(1);
    expect(new InputError("x").code).toBe("input");
    expect(new CheckFailedError("x").code).toBe("check-failed");
    expect(fixOf(new Error("x"))).toBeUndefined();
  });

  it("keeps UsageError as InputError during the transition", () => {
    const err = new UsageError("old name");
    expect(err).toBeInstanceOf(InputError);
    expect(exitCodeOf(err)).toBe(2);
  });

  it("wraps a cause", () => {
    const cause = new Error("ENOENT");
    expect(new InputError("no file", { cause }).cause).toBe(cause);
  });
});

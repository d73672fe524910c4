import { describe, expect, it } from "vitest";
import { blackoutSources, didYouMean, stageArg } from "../../src/cli/options.js";
import { InputError } from "../../src/errors.js";
import { exitCodeOf } from "../../src/cli/errors.js";
import type { CliIo } from "../../src/cli/io.js";

const io = (env: NodeJS.ProcessEnv): CliIo =>
  ({ env, cwd: "/", isTty: false, stdout: process.stdout, stderr: process.stderr }) as CliIo;

describe("shared CLI options", () => {
  it("takes a stage and suggests the nearest one for a typo or a prefix", () => {
    expect(stageArg("compliance")).toBe("compliance");
    const err = (() => {
      try {
        stageArg("prodcution");
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(InputError);
    expect(exitCodeOf(err)).toBe(2);
    expect((err as Error).message).toBe(
      'unknown stage "prodcution": expected one of sandbox, compliance, production (did you mean "production"?)',
    );
    expect(didYouMean("prod", ["sandbox", "compliance", "production"])).toBe("production");
    expect(didYouMean("staging", ["sandbox", "compliance", "production"])).toBeUndefined();
    expect(() => stageArg("staging")).toThrow(/^unknown stage "staging": expected one of [^(]*$/);
  });

  it("reads blackout sources from flags, else GOOSE_BLACKOUT_SOURCES, else the pushgateway", () => {
    expect(
      blackoutSources(io({ GOOSE_BLACKOUT_SOURCES: "http://a" }), ["http://f"], "http://p"),
    ).toEqual(["http://f"]);
    expect(
      blackoutSources(
        io({ GOOSE_BLACKOUT_SOURCES: " http://a , ,http://b" }),
        undefined,
        "http://p",
      ),
    ).toEqual(["http://a", "http://b"]);
    expect(blackoutSources(io({}), undefined, "http://p")).toEqual(["http://p"]);
    expect(blackoutSources(io({}), undefined, undefined)).toEqual([]);
  });
});

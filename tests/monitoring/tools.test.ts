/** A missing tool fails the monitoring tests with the command that installs it. */
import { describe, expect, it } from "vitest";
import { tool } from "./tools.js";

describe("tool()", () => {
  it("finds promtool, amtool, prometheus and prometheus-alertmanager", () => {
    for (const t of ["promtool", "amtool", "prometheus", "prometheus-alertmanager"] as const) {
      expect(tool(t)).toMatch(new RegExp(`/${t}$`));
    }
  });

  it("names the install command when a tool is missing", () => {
    expect(() => tool("promtool-that-is-not-there" as "promtool")).toThrow(
      "promtool-that-is-not-there is not installed: run `apt-get update && apt-get install -y prometheus prometheus-alertmanager`",
    );
  });
});

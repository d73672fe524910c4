/**
 * Real Pulumi exports write Go nil slices as `null`: `"propertyDependencies": {"role": null, …}`
 * (most resources of the checkpoint fixtures). The
 * Analyzer client treats them as empty lists (src/policy/analyze.ts and analyzer.ts):
 * the real fixture goes through `analyzeExport` as it is, without any clean-up by the caller,
 * and the pack sees every resource, with empty dependencies where the export has null.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { analyzeExport } from "../../src/policy/analyze.js";
import { fixturesDir, makePack, removePacks } from "../engine/packs.js";

afterAll(() => removePacks());

/** A pack that reports what each resource and the stack look like to it. */
const REPORTER = `
import { PolicyPack } from "@pulumi/policy";
new PolicyPack("null-deps", {
  enforcementLevel: "advisory",
  policies: [
    {
      name: "each-resource",
      description: "Reports every resource it is given.",
      validateResource: (args, report) => report(JSON.stringify({ urn: args.urn })),
    },
    {
      name: "the-stack",
      description: "Reports dependencies as the stack policy sees them.",
      validateStack: (args, report) => report(JSON.stringify(args.resources.map((r) => ({
        urn: r.urn,
        dependencies: r.dependencies.map((d) => d.urn),
        propertyDependencies: Object.fromEntries(
          Object.entries(r.propertyDependencies).map(([k, v]) => [k, v.map((d) => d.urn)]),
        ),
      })))),
    },
  ],
});
`;

/** `pulumi stack export` of a checkpoint fixture, as the fixtures' README describes. */
function exportOf(name: string): { text: string; resources: Array<Record<string, unknown>> } {
  const c = JSON.parse(readFileSync(join(fixturesDir, "pulumi", name), "utf8")) as {
    version: number;
    checkpoint: { latest: { resources: Array<Record<string, unknown>> } };
  };
  const text = JSON.stringify({ version: c.version, deployment: c.checkpoint.latest });
  return { text, resources: c.checkpoint.latest.resources };
}

describe("analyzeExport with the nulls of real exports", () => {
  it("checkpoint-v3.json goes through as it is: null property dependencies are empty lists", async () => {
    const { text, resources } = exportOf("checkpoint-v3.json");
    // The fixture really carries the nulls this is about.
    const nullPropDeps = resources.flatMap((r) =>
      Object.entries((r.propertyDependencies ?? {}) as Record<string, unknown>).filter(
        ([, v]) => v === null,
      ),
    );
    expect(nullPropDeps.length).toBeGreaterThan(40);

    const pack = makePack("null-deps", REPORTER, { "config/sandbox.json": "{}" });
    // The export text exactly as stored (a string), no `withGoNils`-style clean-up.
    const { violations } = await analyzeExport(text, "sandbox", { policyPackDir: pack });

    const perResource = violations.filter((v) => v.policy === "each-resource");
    const live = resources.filter((r) => r.delete !== true).map((r) => r.urn);
    expect(perResource.map((v) => v.urn).sort()).toEqual([...live].sort());

    const stack = violations.filter((v) => v.policy === "the-stack");
    expect(stack).toHaveLength(1);
    const seen = JSON.parse(stack[0]!.message) as Array<{
      urn: string;
      dependencies: string[];
      propertyDependencies: Record<string, string[]>;
    }>;
    expect(seen.map((s) => s.urn).sort()).toEqual([...live].sort());
    const role = seen.find((s) =>
      s.urn.endsWith("aws:iam/rolePolicyAttachment:RolePolicyAttachment::heartbeat-iampolicy-0"),
    );
    // `"propertyDependencies": {"policyArn": null, "role": null}` in the export.
    expect(role).toEqual({ urn: role!.urn, dependencies: [], propertyDependencies: {} });
    for (const s of seen) {
      expect(s.dependencies).toEqual([]);
      for (const urns of Object.values(s.propertyDependencies)) expect(urns).toEqual([]);
    }
  });
});

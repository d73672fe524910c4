/**
 * Small policy packs written to temp dirs for the engine's tests: real packs (PulumiPolicy.yaml,
 * package.json with a version, index.ts creating a PolicyPack), compiled by the engine's own build
 * and started through run-policy-pack like any other. `node_modules` is a symlink to the repo's,
 * so `@pulumi/policy` resolves to the single installed copy.
 */
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const fixturesDir = resolve(repoRoot, "../shared/fixtures");

const made: string[] = [];

export function makePack(
  name: string,
  indexTs: string,
  files: Record<string, string> = {},
): string {
  const dir = mkdtempSync(join(tmpdir(), `goose-pack-${name}-`));
  made.push(dir);
  symlinkSync(join(repoRoot, "node_modules"), join(dir, "node_modules"), "dir");
  writeFileSync(join(dir, "PulumiPolicy.yaml"), "runtime: nodejs\n");
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name, version: "1.2.3", main: "dist/index.js" }, null, 2),
  );
  writeFileSync(join(dir, "index.ts"), indexTs);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  return dir;
}

export function removePacks(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A pack whose policies report back what they were given, as JSON in the message. */
export const PROBE_PACK = `
import * as pulumi from "@pulumi/pulumi";
import { PolicyPack } from "@pulumi/policy";
new PolicyPack("probe", {
  enforcementLevel: "advisory",
  policies: [
    {
      name: "probe-resource",
      description: "Reports what a resource looks like to a policy.",
      configSchema: { properties: { min: { type: "number", default: 2 }, label: { type: "string" } } },
      validateResource: (args, report) => {
        if (!args.props.probe) return;
        report(JSON.stringify({
          type: args.type, name: args.name, urn: args.urn, props: args.props, opts: args.opts,
          provider: args.provider ? { type: args.provider.type, name: args.provider.name, props: args.provider.props } : null,
          config: args.getConfig(), stack: pulumi.getStack(), project: pulumi.getProject(),
          dryRun: pulumi.runtime.isDryRun(),
        }));
      },
    },
    {
      name: "no-public",
      description: "Buckets must not be public.",
      enforcementLevel: "mandatory",
      validateResource: (args, report) => {
        if (args.props.acl === "public-read") report("acl is public-read; set acl to private");
      },
    },
    {
      name: "probe-stack",
      description: "Reports the stack as a stack policy sees it.",
      validateStack: (args, report) => {
        if (!args.resources.some((r) => r.props.probeStack)) return;
        report(JSON.stringify(args.resources.map((r) => ({
          urn: r.urn, type: r.type, parent: r.parent?.urn ?? null,
          dependencies: r.dependencies.map((d) => d.urn),
          propertyDependencies: Object.fromEntries(Object.entries(r.propertyDependencies).map(([k, v]) => [k, v.map((d) => d.urn)])),
          props: r.props,
        }))));
      },
    },
  ],
});
`;

/**
 * A harness input (a policy case's resource, with its stack for parents and dependencies) as the
 * Analyzer request input goose sends (src/policy/analyzer.ts).
 */
import { emptyOptions, type AnalyzerResourceInput } from "../../src/policy/analyzer.js";
import { urnOf, type ResourceInput, type StackResourceInput } from "./harness.js";

function typeToken(t: string | object): string {
  return typeof t === "string" ? t : (t as { __pulumiType: string }).__pulumiType;
}

export function toAnalyzer(
  r: ResourceInput,
  stack: StackResourceInput[] = [],
): AnalyzerResourceInput {
  const urnByName = new Map(stack.map((s) => [s.name, urnOf(typeToken(s.type), s.name)]));
  const s = r as Partial<StackResourceInput>;
  const parent = s.parent ? urnByName.get(s.parent) : undefined;
  const options = {
    ...emptyOptions(parent),
    additionalSecretOutputs: r.opts?.additionalSecretOutputs ?? [],
    protect: r.opts?.protect ?? false,
  };
  const resolve = (names: string[]) => names.map((n) => urnByName.get(n) as string);
  return {
    urn: urnOf(typeToken(r.type), r.name ?? "r"),
    type: typeToken(r.type),
    name: r.name ?? "r",
    properties: r.props,
    options,
    ...(parent ? { parent } : {}),
    dependencies: resolve(s.dependencies ?? []),
    propertyDependencies: Object.fromEntries(
      Object.entries(s.propertyDependencies ?? {}).map(([k, v]) => [k, resolve(v)]),
    ),
  };
}

/**
 * A runtime-faithful, in-process harness for the pack's policies. It mirrors what
 * @pulumi/policy's server (server.ts) and the CLI do, so a policy behaves here as it does when
 * the pack runs as a process:
 *
 * - props are wrapped in the SDK's `unknownCheckingProxy`; reading an unknown value throws
 *   `UnknownValueError`, reported as an advisory "can't run … during preview";
 * - `notApplicable()` throws and is reported as not applicable, as is a validateResource function
 *   tagged with another type (`validateResourceOfType`'s fast path);
 * - `getConfig()` returns the policy's properties without `enforcementLevel`, after the CLI's
 *   reconciliation: configSchema defaults, then the config file's `all` level and per-policy entry,
 *   then validation against the configSchema with ajv;
 * - stack resources are linked: `parent`, `dependencies`, `propertyDependencies` are resources.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv } from "ajv";
import {
  unknownCheckingProxy,
  UnknownValueError,
  type EnforcementLevel,
  type Policy,
  type PolicyResource,
  type PolicyResourceOptions,
  type ResourceValidationArgs,
  type ResourceValidationPolicy,
  type StackValidationArgs,
  type StackValidationPolicy,
} from "@pulumi/policy";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const packDir = path.join(repoRoot, "policy-pack");

class NotApplicableError extends Error {
  constructor(public readonly reason?: string) {
    super(reason);
  }
}
const notApplicable = (reason?: string): never => {
  throw new NotApplicableError(reason);
};

export interface Violation {
  policy: string;
  level: EnforcementLevel;
  /** The policy's own message. */
  message: string;
  /** As the runtime reports it: description, newline, message. */
  diagnostic: string;
  urn?: string;
}

export interface RunResult {
  violations: Violation[];
  /** Set when the policy said it does not apply. */
  notApplicable?: string;
  /** Set when the policy read a value unknown during preview (the runtime reports an advisory). */
  unknown?: string;
}

/** A stage's policy-pack config file, parsed. */
export type PackConfigFile = Record<string, unknown>;

export function readPackConfig(stage: string): PackConfigFile {
  return JSON.parse(
    readFileSync(path.join(packDir, "config", `${stage}.json`), "utf8"),
  ) as PackConfigFile;
}

export interface ResolvedPolicyConfig {
  enforcementLevel: EnforcementLevel;
  properties: Record<string, unknown>;
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
const validators = new WeakMap<Policy, ReturnType<typeof ajv.compile>>();

/** The policy's configSchema as one object schema, compiled once. */
function compiled(policy: Policy): ReturnType<typeof ajv.compile> {
  let v = validators.get(policy);
  if (!v) {
    v = ajv.compile({
      type: "object",
      properties: policy.configSchema?.properties ?? {},
      required: policy.configSchema?.required ?? [],
    });
    validators.set(policy, v);
  }
  return v;
}

/**
 * The CLI's reconciliation of one policy's config (pkg/resource/analyzer/config.go): schema
 * defaults and the policy's level, then `all`, then the per-policy entry; then validation against
 * configSchema. Throws with the CLI's wording when the config does not validate.
 */
export function resolvePolicyConfig(
  policy: Policy,
  file: PackConfigFile = {},
  packLevel: EnforcementLevel = "advisory",
): ResolvedPolicyConfig {
  let level: EnforcementLevel = policy.enforcementLevel ?? packLevel;
  const properties: Record<string, unknown> = {};
  if (typeof file["all"] === "string") level = file["all"] as EnforcementLevel;
  const entry = file[policy.name];
  if (typeof entry === "string") {
    level = entry as EnforcementLevel;
  } else if (entry && typeof entry === "object") {
    const { enforcementLevel, ...rest } = entry as Record<string, unknown>;
    if (typeof enforcementLevel === "string") level = enforcementLevel as EnforcementLevel;
    Object.assign(properties, rest);
  }
  if (policy.configSchema) {
    const validate = compiled(policy);
    if (!validate(properties)) {
      const why = (validate.errors ?? [])
        .map((e) => `${e.instancePath || "config"} ${e.message}`)
        .join("; ");
      throw new Error(`validating policy config: golden-goose  ${policy.name}: ${why}`);
    }
  }
  return { enforcementLevel: level, properties };
}

const emptyOpts = (o: Partial<PolicyResourceOptions> = {}): PolicyResourceOptions => ({
  protect: false,
  ignoreChanges: [],
  aliases: [],
  customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
  additionalSecretOutputs: [],
  ...o,
});

function typeToken(typeOrClass: string | object): string {
  if (typeof typeOrClass === "string") return typeOrClass;
  return (typeOrClass as { __pulumiType: string }).__pulumiType;
}

export function urnOf(type: string, name: string, stack = "test"): string {
  return `urn:pulumi:${stack}::golden-goose::${type}::${name}`;
}

export interface ResourceInput {
  /** A type token or a resource class (aws.s3.Bucket). */
  type: string | object;
  name?: string;
  props: Record<string, unknown>;
  opts?: Partial<PolicyResourceOptions>;
}

/** Runs one resource policy on one resource, with a stage's config file (or none). */
export async function runResourcePolicy(
  policy: ResourceValidationPolicy,
  input: ResourceInput,
  file?: PackConfigFile,
): Promise<RunResult> {
  const type = typeToken(input.type);
  const name = input.name ?? "r";
  const cfg = resolvePolicyConfig(policy, file);
  const result: RunResult = { violations: [] };
  if (cfg.enforcementLevel === "disabled") return result;
  const level: EnforcementLevel =
    cfg.enforcementLevel === "remediate" ? "mandatory" : cfg.enforcementLevel;
  const fns = ([] as unknown[]).concat(policy.validateResource ?? []) as NonNullable<
    ResourceValidationPolicy["validateResource"]
  >[];
  if (fns.length === 0)
    return { ...result, notApplicable: "Policy does not implement validateResource" };
  const single = fns.length === 1 ? (fns[0] as { __pulumiType?: string }) : undefined;
  if (single?.__pulumiType && single.__pulumiType !== type) {
    return {
      ...result,
      notApplicable: `Policy only applies to resources of type '${single.__pulumiType}'`,
    };
  }
  const urn = urnOf(type, name);
  for (const fn of fns) {
    // Fresh props per validation, as the server deserializes them per call.
    const raw = structuredClone(input.props);
    const props = unknownCheckingProxy(raw);
    const args: ResourceValidationArgs = {
      type,
      props,
      urn,
      name,
      opts: emptyOpts(input.opts),
      stackTags: new Map(),
      isType: (cls) => typeToken(cls) === type,
      asType: ((cls: object) =>
        typeToken(cls) === type ? props : undefined) as ResourceValidationArgs["asType"],
      getConfig: <T extends object>() => structuredClone(cfg.properties) as T,
      notApplicable,
    };
    try {
      await (fn as (a: ResourceValidationArgs, r: (m: string, u?: string) => void) => unknown)(
        args,
        (message) =>
          result.violations.push({
            policy: policy.name,
            level,
            message,
            diagnostic: `${policy.description}\n${message}`,
            urn,
          }),
      );
    } catch (e) {
      if (e instanceof NotApplicableError) result.notApplicable = e.reason ?? "";
      else if (e instanceof UnknownValueError) result.unknown = (e as Error).message;
      else throw e;
    }
  }
  return result;
}

export interface StackResourceInput extends ResourceInput {
  name: string;
  /** Name of the parent resource in the same list. */
  parent?: string;
  dependencies?: string[];
  propertyDependencies?: Record<string, string[]>;
}

/** Builds the linked PolicyResource list a stack policy sees. */
export function stackResources(inputs: StackResourceInput[]): PolicyResource[] {
  const byName = new Map<string, PolicyResource>();
  const out: PolicyResource[] = inputs.map((i) => {
    const type = typeToken(i.type);
    const props = unknownCheckingProxy(structuredClone(i.props));
    const r: PolicyResource = {
      type,
      props,
      urn: urnOf(type, i.name),
      name: i.name,
      opts: emptyOpts(i.opts),
      dependencies: [],
      propertyDependencies: {},
      isType: (cls) => typeToken(cls) === type,
      asType: ((cls: object) =>
        typeToken(cls) === type ? props : undefined) as PolicyResource["asType"],
    };
    if (byName.has(i.name)) throw new Error(`duplicate resource name ${i.name} in test stack`);
    byName.set(i.name, r);
    return r;
  });
  const get = (n: string) => {
    const r = byName.get(n);
    if (!r) throw new Error(`test stack refers to unknown resource ${n}`);
    return r;
  };
  inputs.forEach((i, idx) => {
    const r = out[idx] as PolicyResource;
    if (i.parent) {
      r.parent = get(i.parent);
      r.opts.parent = r.parent.urn;
    }
    r.dependencies = (i.dependencies ?? []).map(get);
    for (const [prop, deps] of Object.entries(i.propertyDependencies ?? {})) {
      r.propertyDependencies[prop] = deps.map(get);
    }
  });
  return out;
}

/** Runs one stack policy on a stack, with a stage's config file (or none). */
export async function runStackPolicy(
  policy: StackValidationPolicy,
  inputs: StackResourceInput[],
  file?: PackConfigFile,
): Promise<RunResult> {
  const cfg = resolvePolicyConfig(policy, file);
  const result: RunResult = { violations: [] };
  if (cfg.enforcementLevel === "disabled") return result;
  const level: EnforcementLevel =
    cfg.enforcementLevel === "remediate" ? "mandatory" : cfg.enforcementLevel;
  const pulumiType = (policy.validateStack as { __pulumiType?: string }).__pulumiType;
  if (pulumiType && !inputs.some((i) => typeToken(i.type) === pulumiType)) {
    return { ...result, notApplicable: `Policy only applies to resources of type '${pulumiType}'` };
  }
  const args: StackValidationArgs = {
    resources: stackResources(inputs),
    stackTags: new Map(),
    getConfig: <T extends object>() => structuredClone(cfg.properties) as T,
    notApplicable,
  };
  try {
    await policy.validateStack(args, (message, urn) =>
      result.violations.push({
        policy: policy.name,
        level,
        message,
        diagnostic: `${policy.description}\n${message}`,
        ...(urn ? { urn } : {}),
      }),
    );
  } catch (e) {
    if (e instanceof NotApplicableError) result.notApplicable = e.reason ?? "";
    else if (e instanceof UnknownValueError) result.unknown = (e as Error).message;
    else throw e;
  }
  return result;
}

/** The engine's "unknown string during preview" sentinel. */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

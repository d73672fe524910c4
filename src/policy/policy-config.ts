/**
 * Policy-pack config resolved the way the Pulumi CLI does before it calls `Configure`
 * (pulumi/pulumi pkg/resource/analyzer/config.go, ReconcilePolicyPackConfig):
 *
 * 1. each policy starts at its own enforcement level (the pack default folded in) with the
 *    `default`s of its configSchema;
 * 2. the pack's initialConfig applies on top;
 * 3. the config file (`--policy-pack-config` format): its `all` level goes to every policy first,
 *    then each per-policy entry — a level string, or an object with `enforcementLevel` and
 *    properties — overrides it;
 * 4. every policy's properties are validated against its configSchema (ajv), with errors phrased
 *    like the CLI's: `validating policy config: <pack> <version>  <policy>: <problem>`.
 *
 * One difference on purpose: an entry naming a policy the pack does not have is an error here
 * (a typo in a compliance config should not pass silently).
 */
import { readFileSync } from "node:fs";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { PolicyPackError } from "./errors.js";
import type { AnalyzerInfo, Level, ResolvedPolicyConfig } from "./analyzer.js";

const LEVELS: readonly Level[] = ["advisory", "mandatory", "remediate", "disabled"];

/** Reads a `--policy-pack-config` JSON file; errors name the file and the fix. */
export function readPolicyPackConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new PolicyPackError(
      `cannot read policy-pack config ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` +
        ` (pass an existing file with --policy-pack-config, or create policy-pack/config/<stage>.json)`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new PolicyPackError(
      `policy-pack config ${path} is not valid JSON: ${(err as Error).message}`,
    );
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new PolicyPackError(
      `policy-pack config ${path} must be a JSON object like {"all": "mandatory", "<policy>": {...}}`,
    );
  }
  return parsed as Record<string, unknown>;
}

function isLevel(v: unknown): v is Level {
  return typeof v === "string" && (LEVELS as readonly string[]).includes(v);
}

/** Applies JSON-schema `default`s of top-level properties that are not set. */
function schemaDefaults(properties: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(properties)) {
    if (s && typeof s === "object" && "default" in s) {
      out[k] = structuredClone((s as { default: unknown }).default);
    }
  }
  return out;
}

let ajv: Ajv | undefined;
const validators = new Map<string, ValidateFunction>();

/**
 * The validator of a policy's config schema, compiled once per process: `goose preview --all`
 * resolves the same pack's config once per stage, and compiling ~30 schemas is most of the cost.
 * Keyed by the schema's JSON text, so equal schemas share one validator.
 */
function compiled(schema: object): ValidateFunction {
  const key = JSON.stringify(schema);
  let validate = validators.get(key);
  if (!validate) {
    // No optimisation passes over the generated code: it validates a handful of small objects
    // once per stage, and the passes were ~40% of compiling the ~17 distinct schemas (~50 ms).
    ajv ??= new Ajv({ allErrors: true, strict: false, code: { optimize: false } });
    validate = ajv.compile(schema);
    validators.set(key, validate);
  }
  return validate;
}

function ajvMessage(e: ErrorObject): string {
  const where = e.instancePath ? e.instancePath.replace(/^\//, "").replace(/\//g, ".") : "";
  if (e.keyword === "required") {
    return `${(e.params as { missingProperty: string }).missingProperty} is required`;
  }
  if (e.keyword === "additionalProperties") {
    return `${(e.params as { additionalProperty: string }).additionalProperty} is not allowed`;
  }
  return `${where || "config"} ${e.message ?? "is invalid"}`;
}

/**
 * Resolves the config sent with `Configure`: one entry per policy the pack declares.
 * `file` is the parsed config file (or undefined for none), `fileName` is used in messages.
 */
export function resolvePolicyPackConfig(
  info: AnalyzerInfo,
  file: Record<string, unknown> | undefined,
  fileName = "policy-pack config",
): Record<string, ResolvedPolicyConfig> {
  const result: Record<string, ResolvedPolicyConfig> = {};
  const prefix = `validating policy config: ${info.name} ${info.version} `;
  for (const p of info.policies) {
    result[p.name] = {
      enforcementLevel: p.enforcementLevel,
      properties: schemaDefaults(p.configSchema?.properties ?? {}),
    };
  }
  for (const [name, c] of Object.entries(info.initialConfig)) {
    const r = result[name];
    if (!r) continue;
    r.enforcementLevel = c.enforcementLevel;
    Object.assign(r.properties, c.properties);
  }
  if (file) {
    const { all, environments: _environments, ...entries } = file;
    if (all !== undefined) {
      if (!isLevel(all)) {
        throw new PolicyPackError(
          `${fileName}: "all" must be one of ${LEVELS.join(", ")}, got ${JSON.stringify(all)}`,
        );
      }
      for (const r of Object.values(result)) r.enforcementLevel = all;
    }
    for (const [name, entry] of Object.entries(entries)) {
      const r = result[name];
      if (!r) {
        throw new PolicyPackError(
          `${fileName}: unknown policy "${name}"; the pack ${info.name} ${info.version} has: ` +
            `${info.policies.map((p) => p.name).join(", ")}`,
        );
      }
      if (typeof entry === "string") {
        if (!isLevel(entry)) {
          throw new PolicyPackError(
            `${prefix} ${name}: enforcementLevel must be one of ${LEVELS.join(", ")} (in ${fileName})`,
          );
        }
        r.enforcementLevel = entry;
      } else if (entry && typeof entry === "object" && !Array.isArray(entry)) {
        const { enforcementLevel, ...props } = entry as Record<string, unknown>;
        if (enforcementLevel !== undefined) {
          if (!isLevel(enforcementLevel)) {
            throw new PolicyPackError(
              `${prefix} ${name}: enforcementLevel must be one of ${LEVELS.join(", ")} (in ${fileName})`,
            );
          }
          r.enforcementLevel = enforcementLevel;
        }
        Object.assign(r.properties, props);
      } else {
        throw new PolicyPackError(
          `${fileName}: entry "${name}" must be an enforcement level or an object, got ${JSON.stringify(entry)}`,
        );
      }
    }
  }
  for (const p of info.policies) {
    const r = result[p.name]!;
    const schema = {
      type: "object",
      properties: p.configSchema?.properties ?? {},
      required: p.configSchema?.required ?? [],
    };
    let validate;
    try {
      validate = compiled(schema);
    } catch (err) {
      throw new PolicyPackError(
        `${prefix} ${p.name}: the policy's configSchema is invalid: ${(err as Error).message}`,
      );
    }
    if (!validate(r.properties)) {
      const problems = (validate.errors ?? []).map(ajvMessage).join("; ");
      throw new PolicyPackError(`${prefix} ${p.name}: ${problems} (fix ${fileName})`);
    }
  }
  return result;
}

import { closest } from "fastest-levenshtein";
import { z } from "zod";
import { STAGE_DEFAULTS } from "./defaults.js";
import { SECRET_SETTINGS, stageConfigSchema, type StageConfig } from "./schema.js";
import { PROJECT, STAGES, isStageName, type StageName } from "./stages.js";
import {
  readStackFile,
  StageConfigError,
  type ConfigProblem,
  type StackFile,
} from "./stack-file.js";

export {
  MAX_STACK_FILE_BYTES,
  SECRET_PLACEHOLDER,
  StageConfigError,
  readStackFile,
  type ConfigProblem,
  type StackFile,
} from "./stack-file.js";

/** Reads and validates a stack file into a frozen StageConfig. The stage comes from the file name. */
export function loadStageConfigFile(path: string): StageConfig {
  return stageConfigOf(readStackFile(path));
}

/** Validates a stack file already read (readStackFile) into a frozen StageConfig, as loadStageConfigFile. */
export function stageConfigOf(stack: StackFile): StageConfig {
  const m = /^Pulumi\.([^.]+)\.ya?ml$/.exec(stack.file);
  const plain = Object.keys(SECRET_SETTINGS)
    .map((k) => `${PROJECT}:${k}`)
    .filter((k) => k in stack.config && !stack.secretKeys.includes(k));
  if (plain.length > 0) {
    throw new StageConfigError(
      plain.map((key) => ({
        file: stack.file,
        key,
        message: `a credential must not be stored in plaintext; remove it and run \`pulumi config set --secret ${key} -s ${m?.[1] ?? "<stack>"}\``,
      })),
    );
  }
  return parseStageConfig(projectKeys(stack.config), { file: stack.file, stack: m?.[1] });
}

/** Keeps the project's own keys (`golden-goose:x` → `x`); other namespaces (aws:, kubernetes:) are the providers'. */
export function projectKeys(config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    const i = key.indexOf(":");
    const ns = i < 0 ? PROJECT : key.slice(0, i);
    if (ns === PROJECT) out[i < 0 ? key : key.slice(i + 1)] = value;
  }
  return out;
}

/**
 * Validates the project's config keys of one stack against the stage schema, on top of the
 * stage's defaults. `ctx.stack` is the stack name; it must be a stage and equal `stage` when set.
 */
export function parseStageConfig(
  raw: Record<string, unknown>,
  ctx: { file: string; stack?: string },
): StageConfig {
  const problems: ConfigProblem[] = [];
  const problem = (key: string, message: string) =>
    problems.push({ file: ctx.file, key: `${PROJECT}:${key}`, message });

  const declared = raw["stage"];
  const stage =
    typeof declared === "string" ? declared : ctx.stack !== undefined ? ctx.stack : undefined;
  if (stage === undefined || !isStageName(stage)) {
    problem("stage", `expected one of ${STAGES.join(", ")}, got ${JSON.stringify(stage ?? null)}`);
    throw new StageConfigError(problems);
  }
  if (ctx.stack !== undefined && ctx.stack !== stage) {
    problem("stage", `is "${stage}" but the stack is "${ctx.stack}"; they must be the same`);
    throw new StageConfigError(problems);
  }
  // Credentials are read as Pulumi secrets by the program, never into the config object.
  const settings = Object.fromEntries(Object.entries(raw).filter(([k]) => !(k in SECRET_SETTINGS)));
  const merged = deepMerge({ stage, ...STAGE_DEFAULTS[stage] }, settings);
  const result = stageConfigSchema.safeParse(merged);
  if (!result.success) {
    for (const issue of result.error.issues) {
      for (const p of describeIssue(issue, merged)) problem(p.key, p.message);
    }
    throw new StageConfigError(problems);
  }
  return deepFreeze(result.data);
}

function describeIssue(
  issue: z.core.$ZodIssue,
  input: unknown,
): { key: string; message: string }[] {
  const path = issue.path.map(String);
  if (issue.code === "unrecognized_keys") {
    const known = knownKeysAt(path);
    return issue.keys.map((k) => {
      const key = [...path, k].join(".");
      const hint = known.length > 0 ? `; did you mean "${closest(k, known)}"?` : "";
      return { key, message: `unknown key${hint} (known here: ${known.join(", ")})` };
    });
  }
  const got = valueAt(input, issue.path as PropertyKey[]);
  if (issue.code === "custom") {
    const sentence = (issue.params as { sentence?: boolean } | undefined)?.sentence === true;
    const shown = !sentence && got !== null && typeof got !== "object" && got !== undefined;
    return [
      {
        key: path.join(".") || "(root)",
        message: shown ? `expected ${issue.message}, got ${JSON.stringify(got)}` : issue.message,
      },
    ];
  }
  if (issue.code === "too_small" || issue.code === "too_big") {
    return [{ key: path.join(".") || "(root)", message: rangeMessage(issue, got) }];
  }
  const expected = issue.message
    .replace(/^Invalid (input|option|value): /, "")
    .replace(/^expected /, "")
    .replace(/, received \w+$/, "");
  return [
    {
      key: path.join(".") || "(root)",
      message: `expected ${expected}, got ${got === undefined ? "nothing (the key is missing)" : JSON.stringify(got)}`,
    },
  ];
}

/** "must be at least 1, got 0: set it to 1 or more" for zod's too_small / too_big. */
function rangeMessage(
  issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig,
  got: unknown,
): string {
  const small = issue.code === "too_small";
  const bound = Number(small ? issue.minimum : issue.maximum);
  const inclusive = issue.inclusive !== false;
  const shown = got === undefined ? "nothing" : JSON.stringify(got);
  switch (issue.origin) {
    case "array":
    case "set":
      return small
        ? `needs at least ${bound} item(s), got ${Array.isArray(got) ? got.length : shown}: add items`
        : `takes at most ${bound} item(s), got ${Array.isArray(got) ? got.length : shown}: remove some`;
    case "string":
      return small
        ? `must be at least ${bound} character(s) long, got ${shown}`
        : `must be at most ${bound} character(s) long, got ${typeof got === "string" ? `${got.length} characters` : shown}`;
    default: {
      const word = small
        ? inclusive
          ? "at least"
          : "more than"
        : inclusive
          ? "at most"
          : "less than";
      const fix = inclusive
        ? `set it to ${bound} or ${small ? "more" : "less"}`
        : `set it ${word} ${bound}`;
      return `must be ${word} ${bound}, got ${shown}: ${fix}`;
    }
  }
}

/** Keys the schema allows at an object path (for "did you mean"). */
function knownKeysAt(path: string[]): string[] {
  let node: z.ZodType = stageConfigSchema;
  for (const key of path) {
    const shape = objectShape(node);
    const next = shape?.[key];
    if (!next) return [];
    node = next;
  }
  return Object.keys(objectShape(node) ?? {});
}

function objectShape(node: z.ZodType): Record<string, z.ZodType> | undefined {
  let cur: z.ZodType = node;
  // unwrap optional/default/pipe wrappers until an object appears
  for (let i = 0; i < 5; i++) {
    if (cur instanceof z.ZodObject) return cur.shape as Record<string, z.ZodType>;
    const def = (cur as unknown as { _zod: { def: { innerType?: z.ZodType; in?: z.ZodType } } })
      ._zod.def;
    const inner = def.innerType ?? def.in;
    if (!inner) return undefined;
    cur = inner;
  }
  return undefined;
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  let cur: unknown = input;
  for (const key of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Objects merge key by key; everything else in `override` replaces. */
export function deepMerge(base: Record<string, unknown>, override: Record<string, unknown>) {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(override)) {
    const b = out[k];
    out[k] = isPlainObject(b) && isPlainObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Stack-file path of a stage, relative to the project directory. */
export function stackFileName(stage: StageName): string {
  return `Pulumi.${stage}.yaml`;
}

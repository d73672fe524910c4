/**
 * Reading a Pulumi.<stack>.yaml as Pulumi holds it (every key namespaced, `secure:` values
 * hidden), without validating it: needs only yaml, so `goose preview` can read the stack's config
 * for the policy pack's environment and start the pack before loading the stage schema
 * (load.ts validates; it re-exports everything here).
 */
import { readFileSync, statSync } from "node:fs";
import { basename } from "node:path";
import { parse as parseYaml } from "yaml";
import { PROJECT } from "./stages.js";
import { InputError } from "../errors.js";

/** One problem in a stack file: where (file and key), what is allowed, what was there. */
export interface ConfigProblem {
  file: string;
  key: string;
  message: string;
}

/** At most this many problems are printed; the rest are counted. */
const MAX_PRINTED_PROBLEMS = 20;

/** A stack file that does not describe a valid stage. Lists every problem at once. */
export class StageConfigError extends InputError {
  constructor(public readonly problems: ConfigProblem[]) {
    const shown = problems.slice(0, MAX_PRINTED_PROBLEMS);
    const more = problems.length - shown.length;
    super(
      (shown.map((p) => `${p.file}: ${p.key}: ${p.message}`).join("\n") ||
        "invalid stage configuration") +
        (more > 0 ? `\n… and ${more} more problem(s) in ${problems[0]!.file}` : ""),
    );
    this.name = "StageConfigError";
  }
}

/** The raw contents of a stack file: every config key (namespaced) as Pulumi holds it. */
export interface StackFile {
  file: string;
  /** `namespace:key` → value as written (objects stay objects). */
  config: Record<string, unknown>;
  /** Keys whose value is `secure:` in the file (ciphertext, not readable here). */
  secretKeys: string[];
}

/** A stack file larger than this is refused before it is read (real ones are a few KB). */
export const MAX_STACK_FILE_BYTES = 1 << 20;

/** Placeholder for a `secure:` value that cannot be decrypted without the Pulumi CLI. */
export const SECRET_PLACEHOLDER = "[secret]";

/** Reads a Pulumi.<stack>.yaml. A missing or unparsable file is a StageConfigError naming it. */
export function readStackFile(path: string): StackFile {
  const file = basename(path);
  let text: string;
  try {
    const size = statSync(path).size;
    if (size > MAX_STACK_FILE_BYTES) {
      throw new StageConfigError([
        {
          file: path,
          key: "(file)",
          message: `is ${(size / 1048576).toFixed(1)} MiB, larger than the ${MAX_STACK_FILE_BYTES / 1048576} MiB a stack file may be (they hold a stage's config, a few KB); check that it is the right file`,
        },
      ]);
    }
    text = readFileSync(path, "utf8");
  } catch (err) {
    if (err instanceof StageConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new StageConfigError([
      {
        file: path,
        key: "(file)",
        message:
          code === "ENOENT"
            ? "no such stack file; create it (see Pulumi.sandbox.yaml) or pass the right path"
            : `cannot read it (${code ?? String(err)})`,
      },
    ]);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new StageConfigError([
      { file, key: "(file)", message: `not valid YAML: ${(err as Error).message.split("\n")[0]}` },
    ]);
  }
  const config = (doc as { config?: unknown } | null)?.config ?? {};
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new StageConfigError([
      { file, key: "config", message: "expected a mapping of config keys to values" },
    ]);
  }
  const out: Record<string, unknown> = {};
  const secretKeys: string[] = [];
  for (const [rawKey, value] of Object.entries(config)) {
    const key = rawKey.includes(":") ? rawKey : `${PROJECT}:${rawKey}`;
    if (value && typeof value === "object" && "secure" in value) {
      secretKeys.push(key);
      out[key] = SECRET_PLACEHOLDER;
    } else {
      out[key] = value;
    }
  }
  return { file, config: out, secretKeys };
}

/**
 * The one loader of the project's YAML (and JSON) data files: reads a file, validates it with a
 * zod schema and reports every problem at once with its file, line, field and fix, unknown keys
 * with a did-you-mean taken from the schema: `security/audit/collection-rules.yaml:14:
 * workflows.promotion.steps.lock.produces[0]: "promotion.start" is not a kind of
 * evidence-template.yaml; did you mean "promotion.started"?`. Used by the audit files, the gates'
 * policies, the stress-test config, load-test baselines and monitoring thresholds. (Stack files
 * are config/load.ts: their keys are Pulumi config keys merged over the stage defaults.)
 */
import { readFileSync } from "node:fs";
import { closest } from "fastest-levenshtein";
import { LineCounter, parseDocument, type Document } from "yaml";
import type { z } from "zod";
import { InputError } from "../errors.js";
import { parsedOnce } from "./parsed-once.js";

/** One problem in a data file. `line` is 1-based (0 when the file could not be read). */
export interface DataFileProblem {
  file: string;
  line: number;
  field: string;
  message: string;
  fix: string;
}

/** A data file that does not validate: exit 2 (bad input), every problem listed. */
export class DataFileError extends InputError {
  constructor(readonly problems: DataFileProblem[]) {
    super(problems.map(formatProblem).join("\n"), {
      code: "data-file-invalid",
      fix: problems.map((p) => p.fix).join("; "),
    });
  }
}

export function formatProblem(p: DataFileProblem): string {
  return `${p.file}:${p.line}: ${p.field || "(file)"}: ${p.message}; fix: ${p.fix}`;
}

/** Where a path of the document starts (1-based line), or the nearest parent that exists. */
export interface LineLookup {
  lineOf(path: ReadonlyArray<PropertyKey>): number;
}

function lookup(doc: Document, counter: LineCounter): LineLookup {
  return {
    lineOf(path) {
      const keys = [...path];
      while (keys.length >= 0) {
        const node = doc.getIn(keys as unknown[], true) as { range?: [number, number, number] };
        if (node && typeof node === "object" && node.range) {
          return counter.linePos(node.range[0]).line;
        }
        if (keys.length === 0) break;
        keys.pop();
      }
      return 1;
    },
  };
}

function fieldOf(path: ReadonlyArray<PropertyKey>): string {
  let out = "";
  for (const k of path) {
    if (typeof k === "number") out += `[${k}]`;
    else out += out ? `.${String(k)}` : String(k);
  }
  return out;
}

function valueAt(value: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let v = value;
  for (const k of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

/** The shape of a zod issue that this module reads (zod 4). */
export interface Issue {
  code: string;
  path: PropertyKey[];
  message: string;
  keys?: string[];
  params?: { fix?: string };
}

/**
 * The problems zod's `issues` are in `input` (the parsed `file`), each at its line: unknown keys
 * with a did-you-mean among the keys `shape` allows there, missing fields as required, other
 * values with what was found. A custom check's `params.fix` is its fix.
 */
export function problemsOf(
  file: string,
  issues: Issue[],
  input: unknown,
  lines: LineLookup,
  shape: (path: PropertyKey[]) => string[] | undefined,
): DataFileProblem[] {
  const out: DataFileProblem[] = [];
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys" && issue.keys) {
      const allowed = shape(issue.path) ?? [];
      for (const key of issue.keys) {
        const near = allowed.length ? closest(key, allowed) : undefined;
        out.push({
          file,
          line: lines.lineOf([...issue.path, key]),
          field: fieldOf([...issue.path, key]),
          message: near
            ? `unknown key; did you mean "${near}"? ("${key}" is not one of ${allowed.join(", ")})`
            : `unknown key "${key}"`,
          fix: near ? `rename it (did you mean "${near}"?) or remove it` : "remove it",
        });
      }
      continue;
    }
    const got = valueAt(input, issue.path);
    const what = issue.message.replace(/^Invalid input: /, "");
    const shown = `got ${JSON.stringify(got)?.slice(0, 80) ?? String(got)}`.replace(/\n/g, " ");
    out.push({
      file,
      line: lines.lineOf(issue.path),
      field: fieldOf(issue.path),
      message:
        issue.params?.fix || issue.code === "custom"
          ? issue.message
          : got === undefined
            ? `required (${what})`
            : `${what} (${shown})`,
      fix:
        issue.params?.fix ??
        (got === undefined ? "add this field" : "change the value to what the message asks for"),
    });
  }
  return out.sort((a, b) => a.line - b.line);
}

/** The keys an object schema at `path` allows (for did-you-mean), when it is an object. */
export function shapeKeys(schema: z.ZodType, path: PropertyKey[]): string[] | undefined {
  let s: unknown = schema;
  const unwrap = (x: unknown): unknown => {
    let cur = x as { def?: { type?: string; innerType?: unknown; in?: unknown; schema?: unknown } };
    for (let i = 0; i < 10 && cur?.def; i++) {
      const t = cur.def.type;
      if (t === "optional" || t === "nullable" || t === "default" || t === "readonly")
        cur = cur.def.innerType as typeof cur;
      else if (t === "pipe") cur = cur.def.in as typeof cur;
      else break;
    }
    return cur;
  };
  for (const k of path) {
    const cur = unwrap(s) as {
      def?: {
        type?: string;
        shape?: Record<string, unknown>;
        valueType?: unknown;
        element?: unknown;
      };
    };
    if (cur?.def?.type === "object" && cur.def.shape) s = cur.def.shape[String(k)];
    else if (cur?.def?.type === "record") s = cur.def.valueType;
    else if (cur?.def?.type === "array") s = cur.def.element;
    else return undefined;
  }
  const end = unwrap(s) as { def?: { type?: string; shape?: Record<string, unknown> } };
  return end?.def?.type === "object" && end.def.shape ? Object.keys(end.def.shape) : undefined;
}

export interface YamlFileOptions {
  /** How the file is named in problems (default: its path). */
  shown?: string;
  /** The error thrown for the problems (default DataFileError), so a caller keeps its own kind. */
  error?: (problems: DataFileProblem[]) => Error;
  /** The fix of a file that does not exist (default: restore it from the repository). */
  missingFix?: string;
}

function fail(problems: DataFileProblem[], opts: YamlFileOptions): never {
  throw opts.error ? opts.error(problems) : new DataFileError(problems);
}

/**
 * Parses `text` (the contents of `file`, YAML or JSON) and validates it with `schema`. Returns the
 * parsed value and a line lookup (for checks the schema cannot make alone), or throws every
 * problem at once (DataFileError unless `opts.error` says otherwise).
 */
export function parseYamlFile<S extends z.ZodType>(
  schema: S,
  file: string,
  text: string,
  opts: YamlFileOptions = {},
): { value: z.infer<S>; lines: LineLookup } {
  // Parsed and validated once per text (parsed-once.ts). Each caller gets its own copy of the
  // value, so none sees another's changes.
  let parsed = parsedFiles.get(schema);
  if (!parsed) parsedFiles.set(schema, (parsed = parsedOnce(64)));
  const { value, lines } = parsed(file, text, () => parseYamlFileOnce(schema, file, text, opts));
  return { value: structuredClone(value) as z.infer<S>, lines };
}

/** Files parsed and validated in this process, per schema. */
const parsedFiles = new WeakMap<
  z.ZodType,
  ReturnType<typeof parsedOnce<{ value: unknown; lines: LineLookup }>>
>();

function parseYamlFileOnce<S extends z.ZodType>(
  schema: S,
  file: string,
  text: string,
  opts: YamlFileOptions,
): { value: z.infer<S>; lines: LineLookup } {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false });
  const syntax = file.endsWith(".json") ? "JSON" : "YAML";
  if (doc.errors.length > 0) {
    fail(
      doc.errors.map((e) => ({
        file,
        line: e.linePos?.[0]?.line ?? counter.linePos(e.pos[0]).line,
        field: "",
        message: `not valid ${syntax}: ${e.message.split("\n")[0]}`,
        fix: `correct the ${syntax} syntax at that line`,
      })),
      opts,
    );
  }
  const input: unknown = doc.toJS();
  const lines = lookup(doc, counter);
  const r = schema.safeParse(input);
  if (!r.success) {
    fail(
      problemsOf(file, r.error.issues as unknown as Issue[], input, lines, (p) =>
        shapeKeys(schema, p),
      ),
      opts,
    );
  }
  return { value: r.data, lines };
}

/** Reads `file` and validates it (see parseYamlFile); a missing file names itself and the fix. */
export function loadYamlFile<S extends z.ZodType>(
  schema: S,
  file: string,
  opts: YamlFileOptions = {},
): { value: z.infer<S>; lines: LineLookup } {
  const shown = opts.shown ?? file;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    fail(
      [
        {
          file: shown,
          line: 0,
          field: "",
          message: code === "ENOENT" ? "no such file" : `cannot read it (${code ?? String(err)})`,
          fix:
            code === "ENOENT"
              ? (opts.missingFix ??
                "restore it from the repository (git checkout -- " + shown + ") or point at it")
              : "make it readable",
        },
      ],
      opts,
    );
  }
  return parseYamlFile(schema, shown, text, { ...opts, shown });
}

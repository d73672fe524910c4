/**
 * Reads a YAML data file and validates it with a zod schema, reporting every problem at once
 * with its file, line, field and fix: `security/audit/collection-rules.yaml:14: workflows.promotion
 * .steps.lock.produces[0]: "promotion.start" is not a kind of evidence-template.yaml; did you mean
 * "promotion.started"?`.
 */
import { readFileSync } from "node:fs";
import { closest } from "fastest-levenshtein";
import { LineCounter, parseDocument, type Document } from "yaml";
import type { z } from "zod";
import { InputError } from "../errors.js";

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
interface Issue {
  code: string;
  path: PropertyKey[];
  message: string;
  keys?: string[];
  params?: { fix?: string };
}

function problemsOf(
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
          message: `unknown field "${key}"`,
          fix: near
            ? `remove it or rename it (did you mean "${near}"?); allowed: ${allowed.join(", ")}`
            : "remove it",
        });
      }
      continue;
    }
    const got = valueAt(input, issue.path);
    const shown =
      got === undefined
        ? "missing"
        : `got ${JSON.stringify(got)?.slice(0, 80) ?? String(got)}`.replace(/\n/g, " ");
    out.push({
      file,
      line: lines.lineOf(issue.path),
      field: fieldOf(issue.path),
      message: issue.params?.fix ? issue.message : `${issue.message} (${shown})`,
      fix:
        issue.params?.fix ??
        (got === undefined ? "add this field" : "change the value to what the message asks for"),
    });
  }
  return out.sort((a, b) => a.line - b.line);
}

/** The keys an object schema at `path` allows (for did-you-mean), when it is an object. */
function shapeKeys(schema: z.ZodType, path: PropertyKey[]): string[] | undefined {
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

/**
 * Parses `text` (the contents of `file`) and validates it with `schema`. Returns the parsed
 * value and a line lookup (for checks the schema cannot make alone), or throws DataFileError.
 */
export function parseYamlData<S extends z.ZodType>(
  schema: S,
  file: string,
  text: string,
): { value: z.infer<S>; lines: LineLookup } {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new DataFileError(
      doc.errors.map((e) => ({
        file,
        line: e.linePos?.[0]?.line ?? counter.linePos(e.pos[0]).line,
        field: "",
        message: `not valid YAML: ${e.message.split("\n")[0]}`,
        fix: "correct the YAML syntax at that line",
      })),
    );
  }
  const input: unknown = doc.toJS();
  const lines = lookup(doc, counter);
  const r = schema.safeParse(input);
  if (!r.success) {
    throw new DataFileError(
      problemsOf(file, r.error.issues as unknown as Issue[], input, lines, (p) =>
        shapeKeys(schema, p),
      ),
    );
  }
  return { value: r.data, lines };
}

/** Reads `file` and validates it (see parseYamlData); a missing file names itself and the fix. */
export function loadYamlData<S extends z.ZodType>(
  schema: S,
  file: string,
  shown: string = file,
): { value: z.infer<S>; lines: LineLookup } {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DataFileError([
      {
        file: shown,
        line: 0,
        field: "",
        message: code === "ENOENT" ? "no such file" : `cannot read it (${code ?? String(err)})`,
        fix:
          code === "ENOENT"
            ? "restore it from the repository (git checkout -- " + shown + ") or point at it"
            : "make it readable",
      },
    ]);
  }
  return parseYamlData(schema, shown, text);
}

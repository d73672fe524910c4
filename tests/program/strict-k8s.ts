/**
 * Rendered Kubernetes objects checked with unknown fields refused. kubernetes-models validates
 * types and required fields but lets unknown fields through (its compiled validators carry no
 * `additionalProperties: false`), and ships no raw schema to tighten. The object types of
 * @pulumi/kubernetes — generated from the Kubernetes OpenAPI schema of the provider that deploys
 * these objects — are used instead: each object becomes a typed object literal in one TypeScript
 * file, and the compiler's excess-property check refuses any field the schema does not define, at
 * any depth, naming the object and the field.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import ts from "typescript";

const INPUT_TYPES = path.resolve(
  import.meta.dirname,
  "../../node_modules/@pulumi/kubernetes/types/input",
);

/** `kubernetes:apps/v1:Deployment` → `apps.v1.Deployment` (the namespace in types/input). */
export function inputTypeOf(type: string): string {
  const m = /^kubernetes:([^/]+)\/([^:]+):(\w+)$/.exec(type);
  if (!m) throw new Error(`not a Kubernetes resource type: ${type}`);
  const group = m[1] === "core" ? "core" : m[1]!.split(".")[0]!;
  return `${group}.${m[2]}.${m[3]}`;
}

export interface K8sObject {
  /** The Pulumi type token, e.g. `kubernetes:apps/v1:Deployment`. */
  type: string;
  /** What to call it in a problem (its name). */
  name: string;
  /** The object as rendered (plain JSON, secrets unwrapped). */
  object: unknown;
}

/**
 * Every field of every object that the Kubernetes schema does not define (or that has the wrong
 * type), as `<type> <name>: <compiler message>`; empty when all are valid.
 */
export function schemaProblems(objects: K8sObject[]): string[] {
  const dir = mkdtempSync(path.join(tmpdir(), "goose-k8s-strict-"));
  const file = path.join(dir, "objects.ts");
  // One line per source line; owner[line] names the object a diagnostic on that line is about.
  const lines = [`import type * as K from ${JSON.stringify(INPUT_TYPES)};`];
  const owner: string[] = [""];
  objects.forEach((o, i) => {
    const text = `const o${i}: K.${inputTypeOf(o.type)} = ${JSON.stringify(o.object, null, 1)};\nvoid o${i};`;
    for (const l of text.split("\n")) {
      lines.push(l);
      owner.push(`${o.type} ${o.name}`);
    }
  });
  writeFileSync(file, lines.join("\n") + "\n");
  const program = ts.createProgram([file], {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  });
  const source = program.getSourceFile(file)!;
  return ts.getPreEmitDiagnostics(program, source).map((d) => {
    const line =
      d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
    const message = ts.flattenDiagnosticMessageText(d.messageText, " ");
    return `${owner[line] ?? "objects.ts"}: ${message}`;
  });
}

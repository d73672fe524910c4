/**
 * The offline engine's stack state: one file per stage (default `.goose/offline-state/<stage>.json`)
 * holding exactly what `pulumi stack export` prints — `{ version: 3, deployment: { manifest,
 * secrets_providers, resources } }` — so snapshots, rollback and promotion work offline on the real
 * format.
 *
 * Offline secrets use Pulumi's `b64` secrets provider (ciphertext = base64 of the JSON value): the
 * values are placeholders anyway (render.ts), never real secrets.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { EngineInputError } from "./errors.js";
import {
  isSecretValue,
  KNOWN_FEATURES,
  SECRET_SIG,
  SECRET_SIG_KEY,
  type ExportResource,
  type StackExport,
} from "../../pulumi-export/index.js";
import type { RenderedStack } from "./render.js";

export const PULUMI_VERSION = "v3.270.0";

export type { ExportResource, StackExport };

function manifest(time: string): StackExport["deployment"]["manifest"] {
  return {
    time,
    magic: createHash("sha256").update(PULUMI_VERSION).digest("hex"),
    version: PULUMI_VERSION,
  };
}

/** Converts gRPC-form property values to export form (secrets get a b64 `ciphertext`). */
export function toExportValue(v: unknown): unknown {
  if (isSecretValue(v)) {
    return {
      [SECRET_SIG_KEY]: SECRET_SIG,
      ciphertext: Buffer.from(JSON.stringify(toExportValue(v.value))).toString("base64"),
    };
  }
  if (Array.isArray(v)) return v.map(toExportValue);
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = toExportValue(x);
    return out;
  }
  return v;
}

function toExportProps(p: Record<string, unknown>): Record<string, unknown> {
  return toExportValue(p) as Record<string, unknown>;
}

/** An empty deployment, as `pulumi stack export` prints it for a stack with no resources. */
export function emptyExport(time = new Date().toISOString()): StackExport {
  return {
    version: 3,
    deployment: { manifest: manifest(time), secrets_providers: { type: "b64", state: {} } },
  };
}

/** Builds a stack export from a rendered stack. */
export function toExport(stack: RenderedStack, time = new Date().toISOString()): StackExport {
  const resources: ExportResource[] = stack.resources.map((r) => {
    // Field order as `pulumi stack export` prints it: urn, custom, id, type, inputs, outputs…
    const e: ExportResource = r.custom
      ? { urn: r.urn, custom: true, id: r.id, type: r.type }
      : { urn: r.urn, custom: false, type: r.type };
    e.inputs = toExportProps(r.inputs);
    e.outputs = toExportProps(r.outputs);
    if (r.parent) e.parent = r.parent;
    if (r.protect) e.protect = true;
    if (r.provider) e.provider = r.provider;
    if (r.dependencies.length > 0) e.dependencies = r.dependencies;
    const pd = Object.fromEntries(
      Object.entries(r.propertyDependencies).filter(([, v]) => v.length > 0),
    );
    if (Object.keys(pd).length > 0) e.propertyDependencies = pd;
    if (r.additionalSecretOutputs.length > 0) e.additionalSecretOutputs = r.additionalSecretOutputs;
    if (r.aliases.length > 0) e.aliases = r.aliases;
    const t = r.customTimeouts;
    if (t.create || t.update || t.delete) e.customTimeouts = t;
    if (r.ignoreChanges.length > 0) e.ignoreChanges = r.ignoreChanges;
    if (r.replaceOnChanges.length > 0) e.replaceOnChanges = r.replaceOnChanges;
    if (r.retainOnDelete) e.retainOnDelete = true;
    if (r.deletedWith) e.deletedWith = r.deletedWith;
    if (r.deleteBeforeReplace !== undefined) e.deleteBeforeReplace = r.deleteBeforeReplace;
    // No `created`/`modified`: Pulumi's published JSON Schema of deployments
    // (sdk/go/common/apitype/resources.json) does not allow them, and tools validate against it.
    return e;
  });
  return {
    version: 3,
    deployment: {
      manifest: manifest(time),
      secrets_providers: { type: "b64", state: {} },
      resources,
    },
  };
}

/** Counts by operation between two exports, as Pulumi reports `resourceChanges`. */
export function resourceChanges(
  previous: StackExport | undefined,
  next: StackExport,
): Record<string, number> {
  const before = new Map((previous?.deployment.resources ?? []).map((r) => [r.urn, r]));
  const counts: Record<string, number> = {};
  const add = (op: string) => (counts[op] = (counts[op] ?? 0) + 1);
  const seen = new Set<string>();
  for (const r of next.deployment.resources ?? []) {
    seen.add(r.urn);
    const old = before.get(r.urn);
    if (!old) add("create");
    else if (JSON.stringify(old.inputs ?? {}) !== JSON.stringify(r.inputs ?? {})) add("update");
    else add("same");
  }
  for (const urn of before.keys()) if (!seen.has(urn)) add("delete");
  return counts;
}

/** Parses an export and checks what `pulumi stack import` checks first (version, stack name). */
export function parseExport(text: string, stage: string, source: string): StackExport {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new EngineInputError(`${source} is not valid JSON: ${(err as Error).message}`);
  }
  const d = doc as Partial<StackExport> | null;
  if (!d || typeof d !== "object" || typeof d.version !== "number" || !d.deployment) {
    throw new EngineInputError(
      `${source} is not a stack export: expected {"version": 3, "deployment": {...}} as \`pulumi stack export\` prints`,
    );
  }
  if (d.version > 4) {
    throw new EngineInputError(
      `${source}: this stack's deployment version (${d.version}) is too new (at most 4)`,
    );
  }
  if (d.version < 1) {
    throw new EngineInputError(
      `${source}: this stack's deployment version (${d.version}) is too old`,
    );
  }
  if (d.version >= 4) {
    const unknown = (d.features ?? []).filter(
      (f) => !(KNOWN_FEATURES as readonly string[]).includes(f),
    );
    if (unknown.length > 0) {
      throw new EngineInputError(
        `${source}: this stack's deployment needs support for the following features: ${unknown.join(", ")} ` +
          `(not known to Pulumi ${PULUMI_VERSION}); use an export from a Pulumi version that has them`,
      );
    }
  }
  for (const r of d.deployment.resources ?? []) {
    const parts = typeof r.urn === "string" ? r.urn.split("::") : [];
    const urnStack = parts[0]?.startsWith("urn:pulumi:")
      ? parts[0].slice("urn:pulumi:".length)
      : "";
    if (urnStack !== stage) {
      throw new EngineInputError(
        `${source}: resource '${String(r.urn)}' is from a different stack (${urnStack} != ${stage}); ` +
          `import an export of stage ${stage}`,
      );
    }
  }
  return d as StackExport;
}

/** Reads a state file; undefined when there is none yet. */
export function readState(path: string, stage: string): StackExport | undefined {
  if (!existsSync(path)) return undefined;
  return parseExport(readFileSync(path, "utf8"), stage, path);
}

/** Writes text through a temp file and a rename (never a half-written state). */
export function writeAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** The URNs a resource depends on: its parent, dependencies, property dependencies, provider. */
export function dependsOn(r: ExportResource): string[] {
  const out = new Set<string>();
  if (r.parent) out.add(r.parent);
  for (const d of r.dependencies ?? []) out.add(d);
  for (const ds of Object.values(r.propertyDependencies ?? {})) for (const d of ds) out.add(d);
  if (r.provider) out.add(r.provider.slice(0, r.provider.lastIndexOf("::")) || r.provider);
  return [...out];
}

const sameResource = (a: ExportResource, b: ExportResource) =>
  JSON.stringify({ ...a }) === JSON.stringify({ ...b });

/**
 * A targeted update as `pulumi up --target URN… [--target-dependents]` makes it: the state after
 * the update when `next` is what the program registers now and `previous` the state before. Only
 * targeted resources change (created, updated, or deleted when the program no longer has them);
 * every other resource keeps its previous state, and a new resource that is not targeted is not
 * created. With `targetDependents`, a resource depending on a target (parent, dependency,
 * property dependency or provider, transitively) is targeted too where the program changes it.
 * A target that is in neither state is an input error, as Pulumi refuses it. When every resource
 * is targeted the result is `next` itself. Returns the state and the URNs it targeted.
 */
export function targetedExport(
  previous: StackExport | undefined,
  next: StackExport,
  targets: string[],
  targetDependents = false,
): { state: StackExport; targeted: string[] } {
  const prev = previous?.deployment.resources ?? [];
  const nxt = next.deployment.resources ?? [];
  const prevBy = new Map(prev.map((r) => [r.urn, r]));
  const nextBy = new Map(nxt.map((r) => [r.urn, r]));
  const unknown = targets.filter((t) => !prevBy.has(t) && !nextBy.has(t));
  if (unknown.length > 0) {
    throw new EngineInputError(
      `--target ${unknown[0]}: no such resource in the stack's state or program` +
        (unknown.length > 1 ? ` (and ${unknown.length - 1} more)` : ""),
    );
  }
  const t = new Set(targets);
  if (targetDependents) {
    const all = [...new Set([...prevBy.keys(), ...nextBy.keys()])];
    const changes = (urn: string) => {
      const a = prevBy.get(urn);
      const b = nextBy.get(urn);
      return !a || !b || !sameResource(a, b);
    };
    for (let grown = true; grown;) {
      grown = false;
      for (const urn of all) {
        if (t.has(urn) || !changes(urn)) continue;
        const r = nextBy.get(urn) ?? prevBy.get(urn)!;
        if (dependsOn(r).some((d) => t.has(d))) {
          t.add(urn);
          grown = true;
        }
      }
    }
  }
  const everything = [...prevBy.keys(), ...nextBy.keys()].every((u) => t.has(u));
  if (everything) return { state: next, targeted: [...t] };

  // The program's order with untargeted resources kept as they were, then a stable topological
  // order (what `pulumi stack import` expects: dependencies first).
  const out: ExportResource[] = [];
  for (const r of nxt) {
    if (t.has(r.urn)) out.push(r);
    else if (prevBy.has(r.urn)) out.push(prevBy.get(r.urn)!);
  }
  // Resources the program dropped but that were not targeted stay, after their predecessor.
  prev.forEach((r, i) => {
    if (nextBy.has(r.urn) || t.has(r.urn)) return;
    const before = prev
      .slice(0, i)
      .reverse()
      .find((p) => out.includes(p) || nextBy.has(p.urn));
    const at = before ? out.findIndex((o) => o.urn === before.urn) + 1 : 0;
    out.splice(at, 0, r);
  });
  const state: StackExport = {
    ...next,
    deployment: { ...next.deployment, resources: stableTopoSort(out) },
  };
  return { state, targeted: [...t] };
}

/** Orders resources so each comes after what it depends on, otherwise keeping their order. */
function stableTopoSort(rs: ExportResource[]): ExportResource[] {
  const present = new Set(rs.map((r) => r.urn));
  const placed = new Set<string>();
  const left = [...rs];
  const out: ExportResource[] = [];
  while (left.length > 0) {
    const i = left.findIndex((r) =>
      dependsOn(r).every((d) => !present.has(d) || placed.has(d) || d === r.urn),
    );
    const [r] = left.splice(i === -1 ? 0 : i, 1);
    out.push(r!);
    placed.add(r!.urn);
  }
  return out;
}

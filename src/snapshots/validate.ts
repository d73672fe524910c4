/**
 * Validation of a stack export before it is stored and before it is imported: Pulumi's own
 * JSON Schema (schema/*.json, 2020-12, from pulumi/pulumi sdk/go/common/apitype) plus the
 * checks `pulumi stack import` makes (pkg/resource/deploy/snapshot.go VerifyIntegrity and
 * stack_import.go):
 *
 * - version between 1 and 4; `features` (read from version 4) all known;
 * - `manifest.magic` equals sha256(manifest.version) when either is set;
 * - every resource has `urn` and `type`; a non-custom resource has no `id`;
 * - providers, parents, dependencies, property dependencies, deletedWith and replaceWith refer
 *   to resources listed earlier;
 * - no duplicate URN unless marked `delete: true`;
 * - every URN's stack segment is the target stack;
 * - pending operations are reported (import drops them with a warning), not refused.
 *
 * Both envelopes are accepted: an export `{version, features?, deployment}` and a DIY
 * checkpoint `{version, features?, checkpoint: {stack, config?, latest}}`. The input is
 * streamed (ExportValidator.push), so memory is bounded by the largest resource.
 *
 * Two documented allowances follow Pulumi's Go decoder rather than the schema, because real
 * Pulumi files (the fixtures) rely on them: `null` where the schema wants an array or object
 * (Go decodes it to nil), and ResourceV3 fields newer than the published schema
 * (refreshBeforeUpdate, taint, retainOnDelete, deletedWith, created…).
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Readable } from "node:stream";
import Ajv2020Module from "ajv/dist/2020.js";
import type { ValidateFunction } from "ajv";
import { ExportScanner, ScanError } from "./scan.js";
import { KNOWN_FEATURES, parseUrn, SECRET_SIG_KEY } from "../pulumi-export/index.js";

export { parseUrn };

export const MIN_DEPLOYMENT_VERSION = 1;
export const MAX_DEPLOYMENT_VERSION = 4;

export interface ValidationIssue {
  /** Short machine code, e.g. `schema`, `parent-order`, `wrong-stack`, `unknown-feature`. */
  code: string;
  /** The resource the issue is about (URN, or `resources[i]` when it has none). */
  resource?: string;
  message: string;
}

export interface PluginRef {
  /** Package name, e.g. `aws`, `kubernetes`. */
  name: string;
  version: string;
  /** `provider` when read from a provider resource; else the manifest plugin type. */
  source: "provider" | "manifest";
}

export interface ExportSummary {
  envelope: "export" | "checkpoint";
  version: number;
  features: string[];
  /** The stack named by the URNs (undefined when there are no resources). */
  stack?: string;
  project?: string;
  resourceCount: number;
  pendingOperations: Array<{ type: string; urn: string }>;
  secretsProvider?: string;
  engineVersion?: string;
  plugins: PluginRef[];
}

export interface ValidationResult {
  /** No fatal error: the file is a well-formed export of the right stack, with known features. */
  ok: boolean;
  /** No integrity issue either (what `pulumi stack import` refuses without --force). */
  intact: boolean;
  /** Fatal: not JSON, schema, version, unknown feature, missing urn/type, another stack. */
  errors: ValidationIssue[];
  /**
   * Integrity (VerifyIntegrity): magic, custom with id, provider/parent/dependency order or
   * missing, duplicate URN. Import refuses them unless forced (`pulumi stack import --force`).
   */
  integrity: ValidationIssue[];
  warnings: ValidationIssue[];
  summary: ExportSummary;
}

export interface ValidateOptions {
  /** The stack every URN must belong to; default: the stack of the first resource. */
  stack?: string;
  /** Stop collecting after this many errors (default 50). */
  maxErrors?: number;
}

const INTEGRITY_CODES = new Set([
  "magic",
  "custom-id",
  "bad-provider-ref",
  "provider-order",
  "parent-order",
  "dependency-order",
  "duplicate-urn",
]);

const ID_BASE = "https://github.com/pulumi/pulumi/blob/master/sdk/go/common/apitype/";
const EXTRA_RESOURCE_FIELDS: Record<string, unknown> = {
  refreshBeforeUpdate: { type: "boolean" },
  taint: { type: "boolean" },
  retainOnDelete: { type: "boolean" },
  deletedWith: { type: "string" },
  replaceWith: { type: "array", items: { type: "string" } },
  created: { type: "string" },
  modified: { type: "string" },
  sourcePosition: { type: "string" },
  stackTrace: { type: "array" },
  ignoreChanges: { type: "array", items: { type: "string" } },
  hideDiff: { type: "array", items: { type: "string" } },
  replaceOnChanges: { type: "array", items: { type: "string" } },
  replacementTrigger: {},
  viewOf: { type: "string" },
  resourceHooks: { type: "object" },
  extensionRef: { type: "string" },
};

interface Validators {
  propertyValue: ValidateFunction;
  deployment: ValidateFunction;
  resource: ValidateFunction;
  operation: ValidateFunction;
}
let validators: Validators | undefined;

function loadValidators(): Validators {
  if (validators) return validators;
  const Ajv2020 = Ajv2020Module as unknown as typeof Ajv2020Module.default;
  // validateSchema: false — the schemas are the repository's own files, checked against the
  // JSON Schema 2020-12 meta-schema by tests/snapshots/validate.test.ts; checking them again at
  // every run compiled the meta-schema (~0.2 s of CPU per snapshot create or verify).
  const ajv = new Ajv2020({
    allErrors: false,
    strict: false,
    validateFormats: false,
    validateSchema: false,
  });
  const read = (name: string): Record<string, unknown> => {
    let text = readFileSync(new URL(`./schema/${name}.json`, import.meta.url), "utf8");
    // ajv does not resolve a `$anchor` on the root next to `$id`; the anchor is the root.
    if (name === "property-values") text = text.replaceAll('"#property_value"', '"#"');
    return JSON.parse(text) as Record<string, unknown>;
  };
  const resources = read("resources") as { $defs: { resourceV3: { properties: object } } };
  resources.$defs.resourceV3.properties = {
    ...resources.$defs.resourceV3.properties,
    ...EXTRA_RESOURCE_FIELDS,
    // Property values are checked by checkPropertyValues (below): the same rules as
    // property-values.json, walking plain values directly and handing every special value
    // (secret, asset, archive, resource reference, output) to that schema.
    inputs: { type: "object" },
    outputs: { type: "object" },
  };
  ajv.addSchema(read("property-values"));
  ajv.addSchema(resources);
  ajv.addSchema(read("deployments"));
  const get = (ref: string): ValidateFunction => {
    const v = ajv.getSchema(ref);
    if (!v) throw new Error(`schema ${ref} is missing from src/snapshots/schema`);
    return v;
  };
  // Compiled on first use: an export without special values (secrets, assets…) or pending
  // operations never needs those two (property-values alone is ~0.1 s to compile).
  let propertyValue: ValidateFunction | undefined;
  let operation: ValidateFunction | undefined;
  validators = {
    get propertyValue() {
      return (propertyValue ??= get(`${ID_BASE}property-values.json`));
    },
    deployment: get(`${ID_BASE}deployments.json`),
    resource: get(`${ID_BASE}resources.json`),
    get operation() {
      return (operation ??= get(`${ID_BASE}deployments.json#/$defs/operationV2`));
    },
  };
  return validators;
}

/** Go decodes `null` into nil slices and maps: drop nulls the schema would call wrong types. */
function goNulls(res: Record<string, unknown>): Record<string, unknown> {
  let clean = true;
  for (const k in res) {
    const v = res[k];
    if (v === null) clean = false;
    else if (k === "propertyDependencies" && typeof v === "object") {
      for (const p in v as Record<string, unknown>)
        if ((v as Record<string, unknown>)[p] === null) clean = false;
    }
  }
  if (clean) return res;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(res)) {
    if (v === null) continue;
    if (k === "propertyDependencies" && typeof v === "object" && !Array.isArray(v)) {
      const deps: Record<string, unknown> = {};
      for (const [p, list] of Object.entries(v as Record<string, unknown>)) deps[p] = list ?? [];
      out[k] = deps;
    } else out[k] = v;
  }
  return out;
}

export function sha256Hex(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

interface PendingRef {
  from: string;
  field: string;
  target: string;
}

/** Streaming validator: push chunks, then finish(). */
export class ExportValidator {
  private readonly scanner: ExportScanner;
  private readonly errors: ValidationIssue[] = [];
  private readonly integrity: ValidationIssue[] = [];
  private readonly warnings: ValidationIssue[] = [];
  private readonly maxErrors: number;
  /** URNs seen so far (as 64-bit hashes: memory per resource stays small at 400 MB). */
  private readonly seen = new UrnIndex();
  private readonly providers = new Set<string>();
  private readonly forwardRefs: PendingRef[] = [];
  private readonly plugins = new Map<string, PluginRef>();
  private readonly pendingOps: Array<{ type: string; urn: string }> = [];
  private stack: string | undefined;
  private project: string | undefined;
  private truncatedErrors = 0;
  /** The first resource carrying version 1's `defaults` field, if any. */
  private v1DefaultsAt: string | undefined;
  private readonly v = loadValidators();
  /** The special-value validator, compiled when the first special value is met. */
  private readonly special = (): ValidateFunction => this.v.propertyValue;

  constructor(private readonly opts: ValidateOptions = {}) {
    this.maxErrors = opts.maxErrors ?? 50;
    this.stack = opts.stack;
    this.scanner = new ExportScanner({
      resource: (value, index) => this.acceptResource(value, index),
      pending: (value, index) => this.acceptPending(value, index),
    });
  }

  push(chunk: Buffer): void {
    this.scanner.push(chunk);
  }

  private error(issue: ValidationIssue): void {
    const list = INTEGRITY_CODES.has(issue.code) ? this.integrity : this.errors;
    if (list.length < this.maxErrors) list.push(issue);
    else this.truncatedErrors++;
  }

  /** One resource, in order (the scanner calls it; a worker fed by another thread too). */
  acceptResource(value: unknown, index: number): void {
    const where = `resources[${index}]`;
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      this.error({ code: "schema", resource: where, message: `${where} is not an object` });
      return;
    }
    let raw = value as Record<string, unknown>;
    if ("defaults" in raw) {
      // ResourceV1's `defaults` (dropped by Pulumi's migration to version 2); allowed only in a
      // version-1 deployment, which complete() checks once the version is known.
      this.v1DefaultsAt ??= urnOrIndex(raw, where);
      const { defaults: _defaults, ...rest } = raw;
      void _defaults;
      raw = rest;
    }
    const res = goNulls(raw);
    const urn = typeof res.urn === "string" && res.urn !== "" ? res.urn : undefined;
    const name = urn ?? where;
    const badValue = checkPropertyValues(res, this.special);
    if (badValue) {
      this.error({ code: "schema", resource: name, message: `resource ${name}: ${badValue}` });
    }
    if (!this.v.resource(res)) {
      for (const e of (this.v.resource.errors ?? [])
        .filter((e) => e.keyword !== "oneOf")
        .slice(0, 3)) {
        this.error({
          code: "schema",
          resource: name,
          message: `resource ${name}: ${e.instancePath || "(resource)"} ${e.message ?? "is invalid"}${paramText(e.params)}`,
        });
      }
    }
    if (!urn) {
      this.error({ code: "missing-urn", resource: where, message: `${where} has no urn` });
      return;
    }
    if (typeof res.type !== "string" || res.type === "") {
      this.error({ code: "missing-type", resource: urn, message: `resource ${urn} has no type` });
    }
    if (res.custom !== true && typeof res.id === "string" && res.id !== "") {
      this.error({
        code: "custom-id",
        resource: urn,
        message: `resource ${urn} has custom false but a non-empty id "${res.id}"`,
      });
    }
    const parsed = parseUrn(urn);
    if (!parsed) {
      this.error({
        code: "bad-urn",
        resource: urn,
        message: `resource ${urn}: the urn is malformed`,
      });
    } else {
      this.project ??= parsed.project;
      if (this.stack === undefined) this.stack = parsed.stack;
      else if (parsed.stack !== this.stack) {
        this.error({
          code: "wrong-stack",
          resource: urn,
          message: `resource ${urn} is from a different stack (${parsed.stack} != ${this.stack})`,
        });
      }
    }
    // References to resources that must come earlier.
    const ref = (field: string, target: unknown): void => {
      if (typeof target !== "string" || target === "") return;
      if (!this.seen.has(target)) this.forwardRefs.push({ from: urn, field, target });
    };
    if (typeof res.provider === "string" && res.provider !== "") {
      const i = res.provider.lastIndexOf("::");
      const provUrn = i > 0 ? res.provider.slice(0, i) : "";
      if (provUrn === "" || !parseUrn(provUrn)) {
        this.error({
          code: "bad-provider-ref",
          resource: urn,
          message: `resource ${urn}: provider reference "${res.provider}" is not <provider-urn>::<id>`,
        });
      } else if (!this.providers.has(provUrn)) {
        this.forwardRefs.push({ from: urn, field: "provider", target: provUrn });
      }
    }
    ref("parent", res.parent);
    for (const d of asStrings(res.dependencies)) ref("dependencies", d);
    if (typeof res.propertyDependencies === "object" && res.propertyDependencies !== null) {
      for (const [prop, list] of Object.entries(
        res.propertyDependencies as Record<string, unknown>,
      )) {
        for (const d of asStrings(list)) ref(`propertyDependencies.${prop}`, d);
      }
    }
    ref("deletedWith", res.deletedWith);
    for (const d of asStrings(res.replaceWith)) ref("replaceWith", d);

    if (this.seen.has(urn) && res.delete !== true) {
      this.error({
        code: "duplicate-urn",
        resource: urn,
        message: `duplicate resource ${urn} (not marked for deletion)`,
      });
    }
    this.seen.add(urn);
    const type = typeof res.type === "string" ? res.type : "";
    if (type.startsWith("pulumi:providers:")) {
      this.providers.add(urn);
      const pkg = type.slice("pulumi:providers:".length);
      const inputs = (res.inputs ?? {}) as Record<string, unknown>;
      let version = typeof inputs.version === "string" ? inputs.version : undefined;
      if (!version && parsed) {
        const m = /^default_(\d+)_(\d+)_(\d+)(?:_(.+))?$/.exec(parsed.name);
        if (m) version = `${m[1]}.${m[2]}.${m[3]}${m[4] ? "-" + m[4] : ""}`;
      }
      if (version)
        this.plugins.set(`provider:${pkg}@${version}`, { name: pkg, version, source: "provider" });
    }
  }

  acceptPending(value: unknown, index: number): void {
    const where = `pending_operations[${index}]`;
    if (!this.v.operation(value)) {
      const e = this.v.operation.errors?.[0];
      this.error({
        code: "schema",
        resource: where,
        message: `${where}: ${e?.instancePath ?? ""} ${e?.message ?? "is invalid"}`,
      });
      return;
    }
    const op = value as { type: string; resource: { urn: string } };
    const badValue = checkPropertyValues(
      op.resource as unknown as Record<string, unknown>,
      this.special,
    );
    if (badValue) this.error({ code: "schema", resource: where, message: `${where}: ${badValue}` });
    this.pendingOps.push({ type: op.type, urn: op.resource.urn });
    this.warnings.push({
      code: "pending-operation",
      resource: op.resource.urn,
      message: `pending operation '${op.type}' on '${op.resource.urn}' will be removed on import; run a refresh afterwards to find what it left behind`,
    });
  }

  /** An element that is not JSON (reported by whoever parsed it). */
  acceptParseError(message: string): void {
    this.error({ code: "json", message });
  }

  finish(): ValidationResult {
    try {
      const r = this.scanner.end();
      return this.complete({ skeleton: r.skeleton, resources: r.resources });
    } catch (err) {
      if (!(err instanceof ScanError)) throw err;
      return this.complete(undefined, err.message);
    }
  }

  /** The checks on the skeleton and across resources, once every element was accepted. */
  complete(
    scan: { skeleton: unknown; resources: number } | undefined,
    scanError?: string,
  ): ValidationResult {
    let skeleton: Record<string, unknown> = {};
    let resourceCount = 0;
    if (scan) {
      resourceCount = scan.resources;
      if (
        typeof scan.skeleton !== "object" ||
        scan.skeleton === null ||
        Array.isArray(scan.skeleton)
      ) {
        this.error({ code: "schema", message: "the export is not a JSON object" });
      } else skeleton = scan.skeleton as Record<string, unknown>;
    } else {
      this.error({ code: "json", message: scanError ?? "the export could not be read" });
    }
    const envelope: "export" | "checkpoint" =
      "checkpoint" in skeleton && !("deployment" in skeleton) ? "checkpoint" : "export";
    const version = typeof skeleton.version === "number" ? skeleton.version : NaN;
    let deployment: Record<string, unknown> | undefined;
    if (envelope === "checkpoint") {
      const cp = skeleton.checkpoint as Record<string, unknown> | null;
      const extra = Object.keys(skeleton).filter(
        (k) => !["version", "features", "checkpoint"].includes(k),
      );
      if (extra.length > 0) {
        this.error({
          code: "schema",
          message: `checkpoint: unexpected top-level field(s) ${extra.join(", ")}`,
        });
      }
      if (
        typeof cp !== "object" ||
        cp === null ||
        typeof cp.latest !== "object" ||
        cp.latest === null
      ) {
        this.error({
          code: "schema",
          message:
            "checkpoint.latest is missing: a DIY checkpoint without a deployment cannot be a snapshot",
        });
      } else deployment = cp.latest as Record<string, unknown>;
    } else if (typeof skeleton.deployment === "object" && skeleton.deployment !== null) {
      deployment = skeleton.deployment as Record<string, unknown>;
    } else if (Object.keys(skeleton).length > 0) {
      this.error({
        code: "schema",
        message: "neither `deployment` (stack export) nor `checkpoint` (DIY checkpoint) is present",
      });
    }
    if (!Number.isInteger(version)) {
      this.error({ code: "version", message: "`version` is missing or not an integer" });
    } else if (version > MAX_DEPLOYMENT_VERSION) {
      this.error({
        code: "version",
        message: `this stack's deployment version (${version}) is too new: at most ${MAX_DEPLOYMENT_VERSION} is supported`,
      });
    } else if (version < MIN_DEPLOYMENT_VERSION) {
      this.error({
        code: "version",
        message: `this stack's deployment version (${version}) is too old`,
      });
    }
    if (this.v1DefaultsAt !== undefined && version !== 1) {
      this.error({
        code: "schema",
        resource: this.v1DefaultsAt,
        message: `resource ${this.v1DefaultsAt}: \`defaults\` is a field of deployment version 1 only, and this deployment is version ${String(version)}`,
      });
    }
    const features = Array.isArray(skeleton.features) ? skeleton.features.map(String) : [];
    if (version >= 4) {
      const unknown = features.filter((f) => !(KNOWN_FEATURES as readonly string[]).includes(f));
      if (unknown.length > 0) {
        this.error({
          code: "unknown-feature",
          message: `this stack's deployment needs support for the following features: ${unknown.join(", ")} (known: ${KNOWN_FEATURES.join(", ")}); it cannot be taken as a snapshot or imported`,
        });
      }
    }
    let secretsProvider: string | undefined;
    let engineVersion: string | undefined;
    if (deployment) {
      // The deployment body is the v3 shape for v3 and v4 (v4 adds only `features`).
      if (version === 3 || version === 4) {
        if (!this.v.deployment({ version: 3, deployment })) {
          for (const e of (this.v.deployment.errors ?? [])
            .filter((e) => e.keyword !== "oneOf" && e.instancePath !== "/version")
            .slice(0, 5)) {
            this.error({
              code: "schema",
              message: `deployment${e.instancePath.replace(/^\/deployment/, "")}: ${e.message ?? "is invalid"}${paramText(e.params)}`,
            });
          }
        }
      }
      const manifest = (deployment.manifest ?? {}) as Record<string, unknown>;
      const mv = typeof manifest.version === "string" ? manifest.version : "";
      const magic = typeof manifest.magic === "string" ? manifest.magic : "";
      engineVersion = mv || undefined;
      if ((mv !== "" || magic !== "") && magic !== (mv === "" ? "" : sha256Hex(mv))) {
        this.error({
          code: "magic",
          message: `magic cookie mismatch: manifest.magic must be sha256("${mv}"); the manifest was edited or is from another file`,
        });
      }
      for (const p of Array.isArray(manifest.plugins) ? manifest.plugins : []) {
        const pl = p as { name?: unknown; version?: unknown; type?: unknown };
        if (
          typeof pl.name === "string" &&
          typeof pl.version === "string" &&
          pl.type === "resource"
        ) {
          this.plugins.set(`manifest:${pl.name}@${pl.version}`, {
            name: pl.name,
            version: pl.version.replace(/^v/, ""),
            source: "manifest",
          });
        }
      }
      const sp = deployment.secrets_providers as { type?: unknown } | undefined;
      if (sp && typeof sp.type === "string") secretsProvider = sp.type;
    }
    for (const r of this.forwardRefs) {
      const later = this.seen.has(r.target);
      this.error({
        code:
          r.field === "provider"
            ? "provider-order"
            : r.field === "parent"
              ? "parent-order"
              : "dependency-order",
        resource: r.from,
        message: later
          ? `resource ${r.from}: its ${r.field} ${r.target} is listed after it; it must come first (pulumi state repair reorders)`
          : `resource ${r.from}: its ${r.field} ${r.target} is not in the snapshot`,
      });
    }
    if (this.truncatedErrors > 0) {
      this.warnings.push({ code: "more", message: `… and ${this.truncatedErrors} more issue(s)` });
    }
    return {
      ok: this.errors.length === 0,
      intact: this.integrity.length === 0,
      errors: this.errors,
      integrity: this.integrity,
      warnings: this.warnings,
      summary: {
        envelope,
        version,
        features,
        ...(this.stack !== undefined ? { stack: this.stack } : {}),
        ...(this.project !== undefined ? { project: this.project } : {}),
        resourceCount,
        pendingOperations: this.pendingOps,
        ...(secretsProvider ? { secretsProvider } : {}),
        ...(engineVersion ? { engineVersion } : {}),
        plugins: [...this.plugins.values()],
      },
    };
  }
}

/**
 * property-values.json for a resource's `inputs` and `outputs`: primitives, arrays and plain
 * objects are walked here (the schema's first four branches, which are structural); an object
 * carrying the signature key is a special value and goes to the schema itself. Returns the
 * first problem, or undefined.
 */
function checkPropertyValues(
  res: Record<string, unknown>,
  special: () => ValidateFunction,
): string | undefined {
  for (const field of ["inputs", "outputs"] as const) {
    const bag = res[field];
    if (bag === undefined) continue;
    if (typeof bag !== "object" || bag === null || Array.isArray(bag)) continue; // the resource schema reports it
    const bags = bag as Record<string, unknown>;
    for (const k in bags) {
      if (!Object.hasOwn(bags, k)) continue;
      const bad = checkValue(bags[k], special);
      if (bad) return bad.describe(`/${field}/${k}${bad.path.map((p) => `/${p}`).join("")}`);
    }
  }
  return undefined;
}

/**
 * What is wrong with one value: its path below the value checked (built only on a failure, as the
 * recursion returns: a valid export, the common case, allocates no path strings) and the message.
 */
interface BadValue {
  path: (string | number)[];
  describe(path: string): string;
}

function checkValue(v: unknown, special: () => ValidateFunction): BadValue | undefined {
  if (v === null || typeof v === "string" || typeof v === "boolean") return undefined;
  if (typeof v === "number") {
    return Number.isFinite(v)
      ? undefined
      : { path: [], describe: (path) => `${path} is not a JSON number` };
  }
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const bad = checkValue(v[i], special);
      if (bad) {
        bad.path.unshift(i);
        return bad;
      }
    }
    return undefined;
  }
  if (typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (SECRET_SIG_KEY in o) {
      const check = special();
      if (check(o)) return undefined;
      const e = (check.errors ?? []).find((x) => x.keyword !== "oneOf") ?? check.errors?.[0];
      return {
        path: [],
        describe: (path) =>
          `${path}${e?.instancePath ?? ""} is not a valid special value (secret, asset, archive, resource reference or output): ${e?.message ?? "invalid"}`,
      };
    }
    for (const k in o) {
      if (!Object.hasOwn(o, k)) continue;
      const bad = checkValue(o[k], special);
      if (bad) {
        bad.path.unshift(k);
        return bad;
      }
    }
    return undefined;
  }
  return { path: [], describe: (path) => `${path} is not a JSON value` };
}

/**
 * The set of URNs seen so far, as 64-bit hashes (FNV-1a and a multiplicative hash, 32 bits
 * each) in an open-addressing table of typed arrays: 16 bytes per resource and nothing for the
 * garbage collector to walk, so memory stays small for very large exports. Two URNs share a
 * hash with a chance of about n²/2^65 (4e-9 for 400,000 resources).
 */
export class UrnIndex {
  private table = new Uint32Array(1 << 12);
  private count = 0;

  private static hash(urn: string): [number, number] {
    let h1 = 0x811c9dc5;
    let h2 = 0x9747b28c;
    for (let i = 0; i < urn.length; i++) {
      const c = urn.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
      h2 ^= h2 >>> 15;
    }
    h1 = (h1 ^ urn.length) >>> 0;
    h2 = Math.imul(h2 ^ (h2 >>> 13), 0xc2b2ae35) >>> 0;
    if (h1 === 0 && h2 === 0) h1 = 1; // (0, 0) marks an empty slot
    return [h1, h2];
  }

  private slot(h1: number, h2: number, table: Uint32Array): number {
    const mask = table.length / 2 - 1;
    let i = (h1 ^ (h2 >>> 7)) & mask;
    for (;;) {
      const a = table[2 * i]!;
      const b = table[2 * i + 1]!;
      if ((a === 0 && b === 0) || (a === h1 && b === h2)) return i;
      i = (i + 1) & mask;
    }
  }

  has(urn: string): boolean {
    const [h1, h2] = UrnIndex.hash(urn);
    const i = this.slot(h1, h2, this.table);
    return this.table[2 * i] === h1 && this.table[2 * i + 1] === h2;
  }

  add(urn: string): void {
    const [h1, h2] = UrnIndex.hash(urn);
    const i = this.slot(h1, h2, this.table);
    if (this.table[2 * i] === h1 && this.table[2 * i + 1] === h2) return;
    this.table[2 * i] = h1;
    this.table[2 * i + 1] = h2;
    if (++this.count * 2 > this.table.length / 2) this.grow();
  }

  private grow(): void {
    const old = this.table;
    const next = new Uint32Array(old.length * 2);
    for (let i = 0; i < old.length; i += 2) {
      const a = old[i]!;
      const b = old[i + 1]!;
      if (a === 0 && b === 0) continue;
      const j = this.slot(a, b, next);
      next[2 * j] = a;
      next[2 * j + 1] = b;
    }
    this.table = next;
  }
}

function urnOrIndex(res: Record<string, unknown>, where: string): string {
  return typeof res.urn === "string" && res.urn !== "" ? res.urn : where;
}

function asStrings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

function paramText(params: Record<string, unknown>): string {
  if ("additionalProperty" in params) return ` (${String(params.additionalProperty)})`;
  if ("allowedValues" in params) return ` (${JSON.stringify(params.allowedValues)})`;
  return "";
}

/** Validates a whole export held in memory. */
export function validateExport(
  text: string | Buffer,
  opts: ValidateOptions = {},
): ValidationResult {
  const v = new ExportValidator(opts);
  const buf = typeof text === "string" ? Buffer.from(text, "utf8") : text;
  for (let i = 0; i < buf.length; i += 1 << 20) v.push(buf.subarray(i, i + (1 << 20)));
  return v.finish();
}

/** Validates an export read from a stream. */
export async function validateExportStream(
  stream: Readable,
  opts: ValidateOptions = {},
): Promise<ValidationResult> {
  const v = new ExportValidator(opts);
  for await (const chunk of stream)
    v.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  return v.finish();
}

/** ResourceV1 / ResourceV2 fields (sdk/go/common/apitype/core.go); Go drops the others. */
const V2_RESOURCE_FIELDS = [
  "urn",
  "custom",
  "delete",
  "id",
  "type",
  "inputs",
  "outputs",
  "parent",
  "protect",
  "external",
  "dependencies",
  "initErrors",
  "provider",
] as const;

/**
 * A version-1 or version-2 resource as version 3, as Pulumi migrates it
 * (pkg/resource/stack/migrate: UpToResourceV2, UpToResourceV3): the fields ResourceV2 knows
 * are kept (version 1's `defaults` is dropped), and every input property depends on all of the
 * resource's dependencies (`propertyDependencies`).
 */
function resourceToV3(r: unknown): unknown {
  if (typeof r !== "object" || r === null || Array.isArray(r)) return r;
  const src = r as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of V2_RESOURCE_FIELDS) {
    const v = src[k];
    if (v === undefined || v === null || v === "" || v === false) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    if ((k === "inputs" || k === "outputs") && typeof v === "object" && Object.keys(v).length === 0)
      continue;
    out[k] = v;
  }
  out.custom = src.custom === true;
  const deps = asStrings(src.dependencies);
  const inputs = src.inputs;
  if (typeof inputs === "object" && inputs !== null && !Array.isArray(inputs)) {
    const pd: Record<string, string[]> = {};
    for (const key of Object.keys(inputs)) pd[key] = [...deps];
    if (Object.keys(pd).length > 0) out.propertyDependencies = pd;
  }
  return out;
}

/** A version-1/2 deployment body as version 3 (UpToDeploymentV2, UpToDeploymentV3). */
function deploymentToV3(d: unknown): Record<string, unknown> {
  const dep = (typeof d === "object" && d !== null ? d : {}) as Record<string, unknown>;
  const out: Record<string, unknown> = { manifest: dep.manifest ?? {} };
  if (Array.isArray(dep.resources)) out.resources = dep.resources.map(resourceToV3);
  if (Array.isArray(dep.pending_operations)) {
    out.pending_operations = dep.pending_operations.map((op: unknown) => {
      const o = (op ?? {}) as Record<string, unknown>;
      return { resource: resourceToV3(o.resource), type: o.type };
    });
  }
  return out;
}

/**
 * The importable form of an export: a DIY checkpoint `{version, features?, checkpoint:{latest}}`
 * becomes `{version, features?, deployment: latest}`; a version-1 or version-2 deployment is
 * migrated to version 3 as `pulumi stack import` does; a version-3/4 export is returned unchanged.
 */
export function toImportable(text: string): string {
  const doc = JSON.parse(text) as Record<string, unknown>;
  const old = doc.version === 1 || doc.version === 2;
  const isCheckpoint = "checkpoint" in doc && !("deployment" in doc);
  if (!isCheckpoint && !old) return text;
  const deployment = isCheckpoint
    ? (doc.checkpoint as { latest?: unknown }).latest
    : doc.deployment;
  const out: Record<string, unknown> = { version: old ? 3 : doc.version };
  if (doc.features !== undefined && !old) out.features = doc.features;
  out.deployment = old ? deploymentToV3(deployment) : deployment;
  return JSON.stringify(out, null, 4);
}

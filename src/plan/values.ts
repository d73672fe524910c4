/**
 * Property values of a Pulumi export, as the plan sees them: paths in Pulumi's property-path
 * syntax, secrets (the signature object, export or gRPC form) compared by their plaintext where the
 * export's secrets provider lets us read it in memory and always shown as `[secret]`, and the
 * property-level diff of two input bags.
 */
import { isSecretValue } from "../pulumi-export/index.js";

/** What a secret is printed as, everywhere. */
export const SECRET_MARK = "[secret]";
/** What an unknown value (known only after the update) is printed as. */
export const UNKNOWN_MARK = "[unknown]";
/** The engine's sentinel for an unknown value (sdk/go/common/resource/plugin/rpc.go). */
export const UNKNOWN_SENTINEL = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export type PathSegment = string | number;

export interface PropertyDiff {
  /** Pulumi property path: `spec.template.spec.containers[0].image`, `data["a.yml"]`. */
  path: string;
  kind: "added" | "removed" | "changed";
  old?: unknown;
  new?: unknown;
  /** Either side is a secret: values are `[secret]`. */
  secret?: true;
}

/** Input keys the engine or a bridged provider adds, never a user's change. */
const INTERNAL_KEYS = new Set(["__defaults", "__meta"]);

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** Segments to Pulumi's property-path syntax. */
export function formatPath(segments: readonly PathSegment[]): string {
  let out = "";
  for (const s of segments) {
    if (typeof s === "number") out += `[${s}]`;
    else if (s === "*") out += "[*]";
    else if (IDENT.test(s)) out += out === "" ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

/** Pulumi's property-path syntax (`a.b[0]["c.d"]`, `[*]`) to segments; undefined when malformed. */
export function parsePath(path: string): PathSegment[] | undefined {
  const out: PathSegment[] = [];
  let i = 0;
  while (i < path.length) {
    const c = path[i];
    if (c === ".") {
      if (out.length === 0) return undefined;
      i++;
      continue;
    }
    if (c === "[") {
      const close = path.indexOf("]", i);
      if (close < 0) return undefined;
      const inner = path.slice(i + 1, close);
      if (inner === "*") out.push("*");
      else if (/^\d+$/.test(inner)) out.push(Number(inner));
      else if (inner.startsWith('"')) {
        // A quoted key may hold `]`: find the closing quote first.
        const end = path.indexOf('"]', i + 2);
        if (end < 0) return undefined;
        out.push(JSON.parse(path.slice(i + 1, end + 1)) as string);
        i = end + 2;
        continue;
      } else return undefined;
      i = close + 1;
      continue;
    }
    let j = i;
    while (j < path.length && path[j] !== "." && path[j] !== "[") j++;
    out.push(path.slice(i, j));
    i = j;
  }
  return out;
}

/**
 * A secret's comparable content: its plaintext when readable in memory (gRPC form `value`, export
 * `plaintext`, or `ciphertext` of the `b64` provider), else its ciphertext (compared as is).
 * Never printed.
 */
function secretContent(v: Record<string, unknown>, provider: string | undefined): unknown {
  if ("value" in v) return { p: v.value };
  if (typeof v.plaintext === "string") return { p: tryJson(v.plaintext) };
  if (typeof v.ciphertext === "string") {
    if (provider === "b64" || provider === undefined) {
      return { p: tryJson(Buffer.from(v.ciphertext, "base64").toString("utf8")) };
    }
    return { c: v.ciphertext };
  }
  return { c: null };
}

function tryJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

/** The two sides' secrets providers (`b64`, `passphrase`, …): how secrets can be compared. */
export interface SecretsContext {
  old?: string | undefined;
  new?: string | undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Deep equality of property values, secrets by content. */
export function valuesEqual(a: unknown, b: unknown, secrets: SecretsContext = {}): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  const sa = isSecretValue(a);
  const sb = isSecretValue(b);
  if (sa || sb) {
    if (!(sa && sb)) return false;
    return valuesEqual(
      secretContent(a as Record<string, unknown>, secrets.old),
      secretContent(b as Record<string, unknown>, secrets.new),
    );
  }
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!valuesEqual(a[i], b[i], secrets)) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  let na = 0;
  let nb = 0;
  for (const k of ka) {
    if (INTERNAL_KEYS.has(k)) continue;
    na++;
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    if (!valuesEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], secrets))
      return false;
  }
  for (const k of kb) if (!INTERNAL_KEYS.has(k)) nb++;
  return na === nb;
}

/** True when the value holds a secret anywhere. */
export function containsSecret(v: unknown): boolean {
  if (isSecretValue(v)) return true;
  if (Array.isArray(v)) return v.some(containsSecret);
  if (isPlainObject(v)) return Object.values(v).some(containsSecret);
  return false;
}

/** A copy safe to print: secrets as `[secret]`, unknowns as `[unknown]`, internal keys dropped. */
export function redact(v: unknown): unknown {
  if (v === UNKNOWN_SENTINEL) return UNKNOWN_MARK;
  if (isSecretValue(v)) return SECRET_MARK;
  if (Array.isArray(v)) return v.map(redact);
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (!INTERNAL_KEYS.has(k)) out[k] = redact(x);
    return out;
  }
  return v;
}

/**
 * The property-level diff of two input bags: leaves that were added, removed or changed. Lists are
 * compared element by element (as Pulumi's detailed diff does); a secret is one leaf, never
 * descended into.
 */
export function diffProperties(
  oldProps: Record<string, unknown> | undefined,
  newProps: Record<string, unknown> | undefined,
  secrets: SecretsContext = {},
): PropertyDiff[] {
  const out: PropertyDiff[] = [];
  walk(oldProps ?? {}, newProps ?? {}, [], out, secrets);
  return out;
}

function walk(
  a: unknown,
  b: unknown,
  path: PathSegment[],
  out: PropertyDiff[],
  secrets: SecretsContext,
): void {
  if (valuesEqual(a, b, secrets)) return;
  if (isSecretValue(a) || isSecretValue(b)) {
    // One leaf: both sides hidden, so a value that became secret never shows its old plaintext.
    out.push({
      path: formatPath(path),
      kind: "changed",
      old: SECRET_MARK,
      new: SECRET_MARK,
      secret: true,
    });
    return;
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    for (const k of Object.keys(a)) {
      if (INTERNAL_KEYS.has(k)) continue;
      if (!Object.prototype.hasOwnProperty.call(b, k)) pushSide(out, [...path, k], "removed", a[k]);
      else walk(a[k], b[k], [...path, k], out, secrets);
    }
    for (const k of Object.keys(b)) {
      if (INTERNAL_KEYS.has(k) || Object.prototype.hasOwnProperty.call(a, k)) continue;
      pushSide(out, [...path, k], "added", b[k]);
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) {
      if (i >= b.length) pushSide(out, [...path, i], "removed", a[i]);
      else if (i >= a.length) pushSide(out, [...path, i], "added", b[i]);
      else walk(a[i], b[i], [...path, i], out, secrets);
    }
    return;
  }
  const d: PropertyDiff = {
    path: formatPath(path),
    kind: "changed",
    old: redact(a),
    new: redact(b),
  };
  if (containsSecret(a) || containsSecret(b)) d.secret = true;
  out.push(d);
}

function pushSide(out: PropertyDiff[], path: PathSegment[], kind: "added" | "removed", v: unknown) {
  const d: PropertyDiff = { path: formatPath(path), kind };
  if (kind === "added") d.new = redact(v);
  else d.old = redact(v);
  if (containsSecret(v)) d.secret = true;
  out.push(d);
}

/**
 * The values at a path with `[*]` wildcards (every list element, every object value), in order.
 * A missing path yields `[undefined]` so that "absent" compares unequal to "present".
 */
export function valuesAt(root: unknown, segments: readonly PathSegment[]): unknown[] {
  let current: unknown[] = [root];
  for (const s of segments) {
    const next: unknown[] = [];
    for (const v of current) {
      if (s === "*") {
        if (Array.isArray(v)) next.push(...v);
        else if (isPlainObject(v)) next.push(...Object.values(v));
        else next.push(undefined);
      } else if (typeof s === "number") next.push(Array.isArray(v) ? v[s] : undefined);
      else next.push(isPlainObject(v) && !isSecretValue(v) ? v[s] : undefined);
    }
    current = next;
  }
  return current;
}

const UNITS: Record<string, number> = {
  "": 1,
  k: 1e3,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
  m: 1e-3,
};

/** A Kubernetes resource quantity (`10Gi`, `500M`, `1.5T`) in base units; undefined if not one. */
export function parseQuantity(v: unknown): number | undefined {
  if (typeof v === "number") return v;
  if (typeof v !== "string") return undefined;
  const m = /^([+-]?\d+(?:\.\d+)?)(?:[eE]([+-]?\d+))?([KMGTPE]i|[kKMGTPEm])?$/.exec(v.trim());
  if (!m) return undefined;
  const unit = UNITS[m[3] ?? ""];
  if (unit === undefined) return undefined;
  return Number(m[1]) * 10 ** Number(m[2] ?? 0) * unit;
}

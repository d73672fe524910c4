/**
 * Request properties decoded from their protobuf bytes straight to JavaScript (issue 18: the
 * analyzer).
 *
 * Every Analyze request carries the resource's properties as a `google.protobuf.Struct`, and every
 * AnalyzeStack request one per resource. The SDK's deserializer (google-protobuf, through the
 * grpc service's `requestDeserialize`) builds a message object for every Struct, map entry, Value
 * and ListValue, which the pack then converts to a plain object: on the bench's stacks that was
 * most of the pack's work per request, and the same in a pack with no policies. Here the
 * properties' bytes become the plain object in one pass, and google-protobuf decodes the rest of
 * the request (its other fields, the properties field taken out).
 *
 * The object is the one `deserializeProperties(struct, false)` of @pulumi/policy returns for the
 * same bytes, key order included. Anything whose meaning is not that simple is left to the SDK, by
 * leaving those properties' bytes in the request: a Struct with an asset, archive, secret or
 * resource reference (the special signature key), a `__proto__` key, nesting deeper than
 * `MAX_DEPTH`, a string that is not well-formed UTF-8, a Value with no kind or more than one, a
 * bool or enum that is not one byte, a map entry or message with a field twice or a field it does
 * not have, and anything malformed (which google-protobuf then rejects as it did before).
 * tests/policy/wire-decode.test.ts compares the two on crafted bytes and on every stage.
 */

/** @pulumi/pulumi's `specialSigKey`: an object with it is an asset, archive, secret or reference. */
export const SPECIAL_SIG_KEY = "4dabf18193072939515e22adb298388d";

/** Deeper than this (the SDK-conversion twin's limit in sdk-speed.ts), the SDK decodes. */
export const MAX_DEPTH = 64;

/** What decides whether a decoded value is "known" (see sdk-speed.ts `plainKnown`). */
export interface KnownRules {
  /** The SDK's unknown sentinels (strings). */
  unknowns: ReadonlySet<unknown>;
  /** The unknown-checking proxy's two marker property names. */
  markers: readonly string[];
}

export interface Decoded {
  value: Record<string, unknown>;
  /** The Struct's bytes (a view into the request's), for whoever wants the Struct itself. */
  bytes: Uint8Array;
  /** No unknown sentinel and no key named like a proxy marker anywhere. */
  known: boolean;
}

/** Thrown inside the decoder for anything left to the SDK. */
const NOT_DIRECT = Symbol("not direct");

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);

class Reader {
  p: number;
  constructor(
    readonly b: Uint8Array,
    start: number,
    readonly rules: KnownRules,
  ) {
    this.p = start;
  }
  known = true;

  varint(): number {
    const b = this.b;
    let x = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (this.p >= b.length) throw NOT_DIRECT;
      const c = b[this.p++]!;
      x += (c & 0x7f) * mul;
      if (c < 0x80) {
        // google-protobuf reads tags and lengths in 32 bits, dropping the rest: a tag past them
        // can be a field to it (a second properties field, say) that is unknown here.
        if (x > 0xffffffff) throw NOT_DIRECT;
        return x;
      }
      mul *= 128;
    }
    // Longer than 56 bits: no length or field of these messages is.
    throw NOT_DIRECT;
  }

  /** The end of a length-delimited field that starts here (its length read). */
  end(limit: number): number {
    const len = this.varint();
    const e = this.p + len;
    if (e > limit) throw NOT_DIRECT;
    return e;
  }

  string(limit: number): string {
    const e = this.end(limit);
    const b = this.b;
    let s = "";
    let ascii = e - this.p <= 32;
    if (ascii) {
      for (let i = this.p; i < e; i++) {
        const c = b[i]!;
        if (c >= 0x80) {
          ascii = false;
          break;
        }
        s += String.fromCharCode(c);
      }
    }
    if (!ascii) {
      try {
        s = utf8.decode(b.subarray(this.p, e));
      } catch {
        throw NOT_DIRECT;
      }
    }
    this.p = e;
    return s;
  }

  struct(limit: number, depth: number): Record<string, unknown> {
    if (depth > MAX_DEPTH) throw NOT_DIRECT;
    const values = new Map<string, unknown>();
    while (this.p < limit) {
      // field 1 (fields), length-delimited: one map entry
      if (this.varint() !== 0x0a) throw NOT_DIRECT;
      const e = this.end(limit);
      let key: string | undefined;
      let value: unknown;
      let hasValue = false;
      while (this.p < e) {
        const tag = this.varint();
        if (tag === 0x0a && key === undefined) key = this.string(e);
        else if (tag === 0x12 && !hasValue) {
          value = this.value(this.end(e), depth);
          hasValue = true;
        } else throw NOT_DIRECT;
      }
      if (this.p !== e || !hasValue) throw NOT_DIRECT;
      key ??= "";
      if (key === "__proto__" || key === SPECIAL_SIG_KEY || values.has(key)) throw NOT_DIRECT;
      if (this.rules.markers.includes(key)) this.known = false;
      values.set(key, value);
    }
    if (this.p !== limit) throw NOT_DIRECT;
    const keys = [...values.keys()].sort();
    const out: Record<string, unknown> = {};
    for (let i = 0; i < keys.length; i++) out[keys[i]!] = values.get(keys[i]!);
    return out;
  }

  value(limit: number, depth: number): unknown {
    if (this.p >= limit) throw NOT_DIRECT; // no kind: the SDK throws "Unexpected struct type"
    const tag = this.varint();
    let v: unknown;
    switch (tag) {
      case 0x08: // null_value, an enum: one byte
        if (this.p >= limit || this.b[this.p++]! >= 0x80) throw NOT_DIRECT;
        v = null;
        break;
      case 0x11: {
        // number_value, a little-endian double
        if (this.p + 8 > limit) throw NOT_DIRECT;
        for (let i = 0; i < 8; i++) f64Bytes[i] = this.b[this.p + i]!;
        this.p += 8;
        v = f64[0];
        // google-protobuf reads every NaN as JavaScript's own (no sign, no payload).
        if (v !== v) v = NaN;
        break;
      }
      case 0x1a: {
        const s = this.string(limit);
        if (this.rules.unknowns.has(s)) this.known = false;
        v = s;
        break;
      }
      case 0x20: {
        // bool_value: google-protobuf reads one byte
        if (this.p >= limit) throw NOT_DIRECT;
        const c = this.b[this.p++]!;
        if (c > 1) throw NOT_DIRECT;
        v = c === 1;
        break;
      }
      case 0x2a:
        v = this.struct(this.end(limit), depth + 1);
        break;
      case 0x32: {
        // Nested lists count as deep as objects (the SDK's recursion overflows the stack first).
        if (depth >= MAX_DEPTH) throw NOT_DIRECT;
        const e = this.end(limit);
        const out: unknown[] = [];
        while (this.p < e) {
          if (this.varint() !== 0x0a) throw NOT_DIRECT;
          out.push(this.value(this.end(e), depth + 1));
        }
        v = out;
        break;
      }
      default:
        throw NOT_DIRECT;
    }
    // A second field (another kind, or the same twice): the SDK's rules for it decide.
    if (this.p !== limit) throw NOT_DIRECT;
    return v;
  }
}

/** `f()`, or undefined where it left the bytes to the SDK (threw `NOT_DIRECT`). */
function orSdk<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (e === NOT_DIRECT) return undefined;
    throw e;
  }
}

/**
 * The plain object of a Struct's bytes `b[start, end)`, or undefined where the SDK should decode
 * them (see the module comment).
 */
export function decodeStruct(
  b: Uint8Array,
  start: number,
  end: number,
  rules: KnownRules,
): Decoded | undefined {
  return orSdk(() => {
    const r = new Reader(b, start, rules);
    const value = r.struct(end, 0);
    return { value, known: r.known, bytes: b.subarray(start, end) };
  });
}

/** One message's bytes with its properties field taken out, and those properties decoded. */
export interface Split {
  /** The bytes for google-protobuf: the request with the decoded properties fields left out. */
  rest: Uint8Array;
  /**
   * For an AnalyzeRequest, the one resource's properties; for an AnalyzeStackRequest, one entry per
   * resource in order: undefined where the properties stayed in `rest` (or there were none).
   */
  properties: (Decoded | undefined)[];
}

/** Skips the value of a field with this wire type; false for a wire type it cannot skip. */
function skip(r: Reader, wireType: number, limit: number): boolean {
  switch (wireType) {
    case 0:
      r.varint();
      return true;
    case 1:
      r.p += 8;
      break;
    case 2:
      r.p = r.end(limit);
      return true;
    case 5:
      r.p += 4;
      break;
    default:
      return false; // groups: let google-protobuf have the whole message
  }
  if (r.p > limit) throw NOT_DIRECT;
  return true;
}

/**
 * Scans one message (AnalyzeRequest or AnalyzerResource, where field 2 is the properties Struct)
 * from `r.p` to `end`: appends the pieces of it to keep to `pieces`, returns its decoded properties.
 */
function scanResource(r: Reader, end: number, pieces: Uint8Array[]): Decoded | undefined {
  const b = r.b;
  let decoded: Decoded | undefined;
  let seen = false;
  let from = r.p;
  while (r.p < end) {
    const at = r.p;
    const tag = r.varint();
    if (tag === 0x12) {
      // field 2, length-delimited: the properties. Twice: google-protobuf's rule, not ours.
      if (seen) throw NOT_DIRECT;
      seen = true;
      const e = r.end(end);
      const d = decodeStruct(b, r.p, e, r.rules);
      r.p = e;
      if (d !== undefined) {
        decoded = d;
        pieces.push(b.subarray(from, at));
        from = e;
      }
    } else if (!skip(r, tag & 7, end)) throw NOT_DIRECT;
  }
  if (r.p !== end) throw NOT_DIRECT;
  pieces.push(b.subarray(from, end));
  return decoded;
}

function varintBytes(v: number): Uint8Array {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Uint8Array.from(out);
}

const concat = (pieces: Uint8Array[]): Uint8Array =>
  pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);

/** An AnalyzeRequest's bytes split (see `Split`), or undefined: let google-protobuf decode them all. */
export function splitAnalyzeRequest(b: Uint8Array, rules: KnownRules): Split | undefined {
  return orSdk(() => {
    const pieces: Uint8Array[] = [];
    const decoded = scanResource(new Reader(b, 0, rules), b.length, pieces);
    return decoded === undefined ? undefined : { rest: concat(pieces), properties: [decoded] };
  });
}

/**
 * An AnalyzeStackRequest's bytes split (see `Split`): each resource (field 1) re-encoded without
 * its decoded properties; every other field kept as it is. Undefined: let google-protobuf decode
 * them all.
 */
export function splitAnalyzeStackRequest(b: Uint8Array, rules: KnownRules): Split | undefined {
  return orSdk(() => {
    const r = new Reader(b, 0, rules);
    const pieces: Uint8Array[] = [];
    const properties: (Decoded | undefined)[] = [];
    while (r.p < b.length) {
      const at = r.p;
      const tag = r.varint();
      if (tag === 0x0a) {
        const e = r.end(b.length);
        const inner: Uint8Array[] = [];
        properties.push(scanResource(r, e, inner));
        const length = inner.reduce((n, piece) => n + piece.length, 0);
        pieces.push(Uint8Array.of(0x0a), varintBytes(length), ...inner);
      } else {
        if (!skip(r, tag & 7, b.length)) throw NOT_DIRECT;
        pieces.push(b.subarray(at, r.p));
      }
    }
    if (properties.every((d) => d === undefined)) return undefined;
    return { rest: concat(pieces), properties };
  });
}

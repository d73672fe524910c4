/**
 * policy-pack/wire-decode.ts (issue 18: the analyzer): request properties decoded from their bytes
 * are the objects the SDK builds from the same bytes (google-protobuf's Struct, then
 * `deserializeProperties`), key order, -0 and prototypes included — or are left to the SDK. Tried
 * on crafted bytes (unsorted and duplicate map entries, several kinds in one Value, long varints,
 * unknown fields), on random trees with their map entries in random order (the Pulumi CLI is not
 * bound to google-protobuf's sorted order), and on corrupted bytes: whatever the decoder returns
 * for bytes google-protobuf rejects, it is nothing.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { describe, expect, it } from "vitest";
import { childScriptJson } from "./child-script.js";
import {
  decodeStruct,
  SPECIAL_SIG_KEY,
  splitAnalyzeRequest,
  splitAnalyzeStackRequest,
  type KnownRules,
} from "../../policy-pack/wire-decode.js";
import { analyzeRequest, analyzeStackRequest } from "../../src/policy/analyzer.js";
import { synthetic } from "../../bench/preview/synthetic.js";

const REPO = path.resolve(import.meta.dirname, "../..");
const sdkRequire = createRequire(
  createRequire(path.join(REPO, "policy-pack", "index.ts")).resolve("@pulumi/policy/server.js"),
);
const pbRequire = createRequire(sdkRequire.resolve("@pulumi/pulumi/proto/analyzer_pb"));
const { Struct } = pbRequire("google-protobuf/google/protobuf/struct_pb") as {
  Struct: {
    deserializeBinary(b: Uint8Array): object;
    fromJavaScript(o: object): { serializeBinary(): Uint8Array };
  };
};
const pb = sdkRequire("@pulumi/pulumi/proto/analyzer_pb") as Record<
  string,
  {
    deserializeBinary(
      b: Uint8Array,
    ): { toObject(): Record<string, unknown> } & Record<string, (...a: unknown[]) => unknown>;
  }
>;
const { deserializeProperties } = sdkRequire("./deserialize.js") as {
  deserializeProperties(s: object, proxySecrets: boolean): unknown;
};
const proxy = sdkRequire("./proxy.js") as Record<string, unknown>;
const UNKNOWNS = new Set(
  Object.entries(proxy)
    .filter(([k, v]) => /^unknown.*Value$/.test(k) && typeof v === "string")
    .map(([, v]) => v),
);
const rules: KnownRules = {
  unknowns: UNKNOWNS,
  markers: [proxy["isSpecialProxy"] as string, proxy["getSpecialProxyTarget"] as string],
};
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

// ------------------------------------------------------------------------------------------
// A protobuf writer for crafted bytes.

type Bytes = number[];
function varint(v: number): Bytes {
  const out: Bytes = [];
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}
const len = (tag: number, body: Bytes): Bytes => [tag, ...varint(body.length), ...body];
const str = (tag: number, s: string): Bytes => len(tag, [...Buffer.from(s, "utf8")]);
function double(v: number): Bytes {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v);
  return [0x11, ...b];
}
/** A Value of `v`, map entries in the order `order` picks. */
function value(v: unknown, order: (keys: string[]) => string[]): Bytes {
  if (v === null) return [0x08, 0x00];
  if (typeof v === "number") return double(v);
  if (typeof v === "string") return str(0x1a, v);
  if (typeof v === "boolean") return [0x20, v ? 1 : 0];
  if (Array.isArray(v))
    return len(
      0x32,
      v.flatMap((x) => len(0x0a, value(x, order))),
    );
  return len(0x2a, struct(v as Record<string, unknown>, order));
}
function struct(o: Record<string, unknown>, order: (keys: string[]) => string[] = (k) => k): Bytes {
  return order(Object.keys(o)).flatMap((k) => entry(k, value(o[k], order)));
}
const entry = (key: string, v: Bytes): Bytes => len(0x0a, [...str(0x0a, key), ...len(0x12, v)]);

/** The SDK's object for Struct bytes, or the error google-protobuf or the SDK throws. */
function sdkOf(bytes: Uint8Array): { value?: unknown; error?: string } {
  try {
    return { value: deserializeProperties(Struct.deserializeBinary(bytes), false) };
  } catch (e) {
    return { error: String(e) };
  }
}

/** Same values, same key order at every level, same prototypes. */
function same(a: unknown, b: unknown): boolean {
  if (!isDeepStrictEqual(a, b)) return false;
  if (a === null || typeof a !== "object") return true;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const ka = Object.keys(a);
  if (!isDeepStrictEqual(ka, Object.keys(b as object))) return false;
  return ka.every((k) =>
    same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
  );
}

/** Whether the decoder's answer for `bytes` is the SDK's (or it left them to the SDK). */
function agrees(bytes: Uint8Array): { decoded: boolean; ok: boolean; why?: string } {
  const ours = decodeStruct(bytes, 0, bytes.length, rules);
  if (ours === undefined) return { decoded: false, ok: true };
  const sdk = sdkOf(bytes);
  if (sdk.error !== undefined) return { decoded: true, ok: false, why: `SDK: ${sdk.error}` };
  if (!same(ours.value, sdk.value)) return { decoded: true, ok: false, why: "values differ" };
  const known = !JSON.stringify(ours.value).includes(UNKNOWN) && !hasMarker(ours.value);
  return known === ours.known
    ? { decoded: true, ok: true }
    : { decoded: true, ok: false, why: `known ${ours.known}` };
}
function hasMarker(v: unknown): boolean {
  if (v === null || typeof v !== "object") return false;
  if (Array.isArray(v)) return v.some(hasMarker);
  return Object.keys(v).some(
    (k) => rules.markers.includes(k) || hasMarker((v as Record<string, unknown>)[k]),
  );
}

/** A small seeded generator (mulberry32): the same trees every run. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const KEYS = [
  "a",
  "b",
  "B",
  "é",
  "",
  "10",
  "2",
  "-1",
  "01",
  "name",
  "z😀",
  "__isSpecialProxy",
  "x y",
];
const STRINGS = ["", "x", "✓🦆", "\uFEFFbom", "a\u0000b", UNKNOWN, "x".repeat(40), "ü".repeat(20)];
function tree(rand: () => number, depth: number): unknown {
  const r = rand();
  if (depth > 4 || r < 0.45) {
    const s = rand();
    if (s < 0.2) return null;
    if (s < 0.45) return [0, -0, 1.5, -2e300, 5e-324, NaN, Infinity, 7][Math.floor(rand() * 8)];
    if (s < 0.6) return rand() < 0.5;
    return STRINGS[Math.floor(rand() * STRINGS.length)];
  }
  if (r < 0.7) return Array.from({ length: Math.floor(rand() * 4) }, () => tree(rand, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(rand() * 5); i > 0; i--) {
    o[KEYS[Math.floor(rand() * KEYS.length)]!] = tree(rand, depth + 1);
  }
  return o;
}

describe("properties decoded from their bytes", () => {
  it("are the SDK's objects for google-protobuf's own encoding of the stages' and the bench's resources", () => {
    const bags = [...synthetic(12).map((r) => r.properties)];
    let decoded = 0;
    for (const p of bags) {
      const bytes = Struct.fromJavaScript(p).serializeBinary();
      const a = agrees(bytes);
      expect(a, JSON.stringify(p).slice(0, 200)).toMatchObject({ ok: true });
      if (a.decoded) decoded++;
    }
    expect(decoded).toBe(bags.length);
  });

  it("are the SDK's objects for a real Pulumi checkpoint's inputs and outputs, entries in any order", () => {
    const dir = path.resolve(REPO, "../shared/fixtures/pulumi");
    const rand = prng(3);
    const shuffle = (keys: string[]) =>
      keys
        .map((k) => [rand(), k] as const)
        .sort((x, y) => x[0] - y[0])
        .map(([, k]) => k);
    let decoded = 0;
    let left = 0;
    for (const file of ["checkpoint-v3.json", "checkpoint-secrets.json"]) {
      const { checkpoint } = JSON.parse(readFileSync(path.join(dir, file), "utf8")) as {
        checkpoint: { latest: { resources: { inputs?: object; outputs?: object }[] } };
      };
      for (const r of checkpoint.latest.resources) {
        for (const bag of [r.inputs, r.outputs]) {
          if (bag === undefined) continue;
          const a = agrees(Uint8Array.from(struct(bag as Record<string, unknown>, shuffle)));
          expect(a, JSON.stringify(bag).slice(0, 200)).toMatchObject({ ok: true });
          if (a.decoded) decoded++;
          else left++;
        }
      }
    }
    // Secrets (the second file's) are left to the SDK; the rest is decoded.
    expect(decoded).toBeGreaterThan(80);
    expect(left).toBeGreaterThan(0);
  });

  it("are the SDK's objects for random trees with their map entries in any order", () => {
    const rand = prng(18);
    let decoded = 0;
    for (let i = 0; i < 1500; i++) {
      const o = tree(rand, 0);
      if (o === null || typeof o !== "object" || Array.isArray(o)) continue;
      const shuffle = (keys: string[]) =>
        keys
          .map((k) => [rand(), k] as const)
          .sort((x, y) => x[0] - y[0])
          .map(([, k]) => k);
      const bytes = Uint8Array.from(struct(o as Record<string, unknown>, shuffle));
      const a = agrees(bytes);
      expect(a, JSON.stringify(o)).toMatchObject({ ok: true });
      if (a.decoded) decoded++;
    }
    // Random trees are nearly all decoded here (not left to the SDK): the test compares something.
    expect(decoded).toBeGreaterThan(400);
  });

  it("leave to the SDK what they do not read as it does, and agree on the rest", () => {
    const u8 = (b: Bytes) => Uint8Array.from(b);
    const cases: [string, Bytes, "decoded" | "left"][] = [
      [
        "unsorted keys",
        [
          ...entry(
            "b",
            value(1, (k) => k),
          ),
          ...entry(
            "a",
            value(2, (k) => k),
          ),
        ],
        "decoded",
      ],
      ["integer-like keys", struct({ "10": 1, "2": 2, b: 3, a: 4 }, (k) => k.reverse()), "decoded"],
      ["empty struct", [], "decoded"],
      [
        "keys named like Object.prototype's members",
        struct(
          {
            valueOf: null,
            toString: "x",
            hasOwnProperty: true,
            constructor: 1,
            __defineGetter__: [],
            isPrototypeOf: { constructor: { prototype: 2 } },
          },
          (k) => k.reverse(),
        ),
        "decoded",
      ],
      ["nested empties", struct({ a: {}, b: [], c: [[]], d: [{}] }), "decoded"],
      [
        "a key twice",
        [
          ...entry(
            "a",
            value(1, (k) => k),
          ),
          ...entry(
            "a",
            value(2, (k) => k),
          ),
        ],
        "left",
      ],
      ["two kinds in one Value", entry("a", [...double(1), ...str(0x1a, "x")]), "left"],
      ["the same kind twice", entry("a", [...double(1), ...double(2)]), "left"],
      ["a Value with no kind", entry("a", []), "left"],
      ["an entry without a value", len(0x0a, str(0x0a, "a")), "left"],
      [
        "an entry without a key",
        len(
          0x0a,
          len(
            0x12,
            value(1, (k) => k),
          ),
        ),
        "decoded",
      ],
      [
        "an entry's key twice",
        len(0x0a, [
          ...str(0x0a, "a"),
          ...str(0x0a, "b"),
          ...len(
            0x12,
            value(1, (k) => k),
          ),
        ]),
        "left",
      ],
      [
        "an unknown field in a Struct",
        [
          ...entry(
            "a",
            value(1, (k) => k),
          ),
          0x10,
          0x01,
        ],
        "left",
      ],
      [
        "an unknown field in an entry",
        len(0x0a, [
          ...str(0x0a, "a"),
          0x18,
          0x01,
          ...len(
            0x12,
            value(1, (k) => k),
          ),
        ]),
        "left",
      ],
      ["a two-byte bool", entry("a", [0x20, 0x81, 0x00]), "left"],
      ["a bool of 2", entry("a", [0x20, 0x02]), "left"],
      ["a two-byte null", entry("a", [0x08, 0x80, 0x01]), "left"],
      ["a null of 3", entry("a", [0x08, 0x03]), "decoded"],
      [
        "a long varint length",
        // an entry of 7 bytes, its length written in three
        [0x0a, 0x87, 0x80, 0x00, ...str(0x0a, "a"), 0x12, 0x02, 0x20, 0x01],
        "decoded",
      ],
      ["invalid UTF-8 in a string", entry("a", len(0x1a, [0xc3, 0x28])), "left"],
      ["a surrogate encoded as UTF-8 (CESU)", entry("a", len(0x1a, [0xed, 0xa0, 0x80])), "left"],
      ["an overlong encoding", entry("a", len(0x1a, [0xc0, 0x80])), "left"],
      ["a BOM", entry("a", len(0x1a, [0xef, 0xbb, 0xbf, 0x78])), "decoded"],
      [
        "a secret",
        struct({ s: { [SPECIAL_SIG_KEY]: "1b47061264138c4ac30d75fd1eb44270", value: "x" } }),
        "left",
      ],
      [
        "__proto__",
        entry(
          "__proto__",
          value({ polluted: true }, (k) => k),
        ),
        "left",
      ],
      ["a marker key", struct({ __isSpecialProxy: 1 }), "decoded"],
      ["truncated", struct({ a: "hello" }).slice(0, -2), "left"],
      ["a length past the end", [0x0a, 0x7f, 0x0a, 0x01, 0x61], "left"],
      ["a group", [0x0b, 0x0c], "left"],
    ];
    for (const [name, bytes, want] of cases) {
      const a = agrees(u8(bytes));
      expect(a, name).toMatchObject({ ok: true });
      expect(a.decoded ? "decoded" : "left", name).toBe(want);
    }
    // Deep nesting: decoded to the SDK-conversion twin's depth, left to the SDK beyond.
    const deep = (n: number): unknown => (n === 0 ? 1 : { d: deep(n - 1) });
    expect(agrees(u8(struct({ d: deep(64) })))).toEqual({ decoded: true, ok: true });
    expect(agrees(u8(struct({ d: deep(65) })))).toEqual({ decoded: false, ok: true });
    // A NaN with a sign and payload: google-protobuf reads every NaN as JavaScript's own.
    const bits = (v: unknown) =>
      Buffer.from(new Float64Array([v as number]).buffer).toString("hex");
    const nan = u8(entry("n", [0x11, 0x01, 0, 0, 0, 0, 0, 0xf0, 0xff]));
    expect(bits(decodeStruct(nan, 0, nan.length, rules)?.value["n"])).toBe(
      bits((sdkOf(nan).value as { n: unknown }).n),
    );
    // Lists count as deep as objects: nested lists past that depth are left to the SDK too, whose
    // recursion (google-protobuf's reader, then the conversion) overflows the stack a few thousand
    // levels down, where the decoder's own would not yet — the request failed, and must still.
    const lists = (n: number): unknown => (n === 0 ? 1 : [lists(n - 1)]);
    expect(agrees(u8(struct({ l: lists(64) })))).toEqual({ decoded: true, ok: true });
    expect(agrees(u8(struct({ l: lists(65) })))).toEqual({ decoded: false, ok: true });
    const listBytes = (n: number): Bytes => {
      let v = double(1);
      for (let i = 0; i < n; i++) v = len(0x32, len(0x0a, v));
      return v;
    };
    const veryDeep = u8(entry("l", listBytes(5000)));
    expect(decodeStruct(veryDeep, 0, veryDeep.length, rules)).toBeUndefined();
    // Unknowns and marker keys anywhere make the object not known.
    expect(decodeStruct(u8(struct({ a: [{ b: UNKNOWN }] })), 0, 0, rules)).toMatchObject({
      value: {},
    });
    const withUnknown = u8(struct({ a: [{ b: UNKNOWN }] }));
    expect(decodeStruct(withUnknown, 0, withUnknown.length, rules)?.known).toBe(false);
  });

  it("decode nothing google-protobuf rejects, and agree wherever it accepts corrupted bytes", () => {
    const rand = prng(7);
    let rejected = 0;
    let decoded = 0;
    for (let i = 0; i < 3000; i++) {
      const o = tree(rand, 0);
      const base = struct(
        o !== null && typeof o === "object" && !Array.isArray(o)
          ? (o as Record<string, unknown>)
          : { x: o },
      );
      if (base.length === 0) continue;
      const bytes = Uint8Array.from(base);
      const how = rand();
      if (how < 0.4) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
      else if (how < 0.7) bytes[Math.floor(rand() * bytes.length)]! ^= 1 << Math.floor(rand() * 8);
      const cut = how >= 0.7 ? bytes.subarray(0, Math.floor(rand() * bytes.length)) : bytes;
      const sdk = sdkOf(cut);
      const ours = decodeStruct(cut, 0, cut.length, rules);
      if (sdk.error !== undefined) {
        rejected++;
        expect(
          ours,
          `${Buffer.from(cut).toString("hex")}: the SDK says ${sdk.error}`,
        ).toBeUndefined();
      } else if (ours !== undefined) {
        decoded++;
        expect(same(ours.value, sdk.value), Buffer.from(cut).toString("hex")).toBe(true);
      }
    }
    expect(rejected).toBeGreaterThan(300);
    expect(decoded).toBeGreaterThan(300);
  });
});

describe("requests split into their properties and the rest", () => {
  const toObject = (type: string, bytes: Uint8Array) =>
    pb[type]!.deserializeBinary(bytes).toObject();

  it("an AnalyzeRequest: google-protobuf reads the same other fields, unknown fields kept", () => {
    for (const r of synthetic(8)) {
      const bytes = (
        analyzeRequest(r) as unknown as { serializeBinary(): Uint8Array }
      ).serializeBinary();
      // An unknown field after the rest, as a newer CLI might send.
      const withUnknown = Uint8Array.from([
        ...bytes,
        ...varint((31 << 3) | 2),
        ...varint(6),
        ...Buffer.from("future"),
      ]);
      for (const b of [bytes, withUnknown]) {
        const s = splitAnalyzeRequest(b, rules)!;
        expect(s).toBeDefined();
        expect(s.properties).toHaveLength(1);
        const whole = toObject("AnalyzeRequest", b);
        const rest = toObject("AnalyzeRequest", s.rest);
        expect(rest.properties).toBeUndefined();
        expect({ ...rest, properties: whole.properties }).toEqual(whole);
        expect(
          same(
            s.properties[0]!.value,
            sdkOf(Struct.fromJavaScript(r.properties).serializeBinary()).value,
          ),
        ).toBe(true);
        expect(Buffer.from(s.properties[0]!.bytes)).toEqual(
          Buffer.from(Struct.fromJavaScript(r.properties).serializeBinary()),
        );
      }
    }
  });

  it("an AnalyzeStackRequest: each resource re-encoded without the properties it decoded", () => {
    const secretOne = {
      ...synthetic(1)[0]!,
      urn: "urn:pulumi:production::golden-goose::kubernetes:core/v1:Secret::s",
      properties: { data: { [SPECIAL_SIG_KEY]: "1b47061264138c4ac30d75fd1eb44270", value: "x" } },
    };
    const rs = [...synthetic(9), secretOne, { ...synthetic(1)[0]!, properties: {} }];
    const bytes = (
      analyzeStackRequest(rs).message as { serializeBinary(): Uint8Array }
    ).serializeBinary();
    const s = splitAnalyzeStackRequest(bytes, rules)!;
    expect(s.properties).toHaveLength(rs.length);
    // The secret stays for google-protobuf and the SDK; the empty bag has no properties field.
    expect(s.properties.map((p) => p !== undefined)).toEqual([
      ...rs.map(() => true).slice(0, 9),
      false,
      true,
    ]);
    const whole = toObject("AnalyzeStackRequest", bytes) as {
      resourcesList: Record<string, unknown>[];
    };
    const rest = toObject("AnalyzeStackRequest", s.rest) as {
      resourcesList: Record<string, unknown>[];
    };
    expect(rest.resourcesList).toHaveLength(rs.length);
    rest.resourcesList.forEach((r, i) => {
      const w = whole.resourcesList[i]!;
      if (s.properties[i] === undefined) expect(r).toEqual(w);
      else expect({ ...r, properties: w.properties }).toEqual(w);
    });
    // Nothing to decode (only secrets): google-protobuf reads it all.
    const onlySecret = (
      analyzeStackRequest([secretOne]).message as { serializeBinary(): Uint8Array }
    ).serializeBinary();
    expect(splitAnalyzeStackRequest(onlySecret, rules)).toBeUndefined();
    // A malformed request: google-protobuf reads it all (and says what is wrong).
    expect(splitAnalyzeStackRequest(bytes.subarray(0, bytes.length - 3), rules)).toBeUndefined();
    expect(splitAnalyzeRequest(Uint8Array.from([0x12, 0x05, 0x0a]), rules)).toBeUndefined();
  });

  /**
   * What the installed service would make of `bytes`, against google-protobuf's reading of them
   * all: undefined where they agree (or the split leaves the request to google-protobuf), else why
   * not. google-protobuf must read the rest without the decoded properties, every other field as
   * in the whole, and reject the rest wherever it rejects the whole.
   */
  function splitDisagrees(
    type: "AnalyzeRequest" | "AnalyzeStackRequest",
    bytes: Uint8Array,
  ): string | undefined {
    const split = (type === "AnalyzeRequest" ? splitAnalyzeRequest : splitAnalyzeStackRequest)(
      bytes,
      rules,
    );
    if (split === undefined) return undefined;
    type Msg = ReturnType<(typeof pb)[string]["deserializeBinary"]>;
    const read = (b: Uint8Array): Msg | string => {
      try {
        return pb[type]!.deserializeBinary(b);
      } catch (e) {
        return String(e);
      }
    };
    const whole = read(bytes);
    const rest = read(split.rest);
    if (typeof rest === "string") return typeof whole === "string" ? undefined : `rest: ${rest}`;
    if (typeof whole === "string")
      return `google-protobuf rejects the whole (${whole}), not the rest`;
    const list = (m: Msg) =>
      type === "AnalyzeRequest" ? [m] : (m["getResourcesList"]!() as Msg[]);
    const [w, r] = [list(whole), list(rest)];
    if (w.length !== r.length || r.length !== split.properties.length) return "resource count";
    const plain = (m: Msg) => ({
      ...m.toObject(),
      properties: undefined,
      resourcesList: undefined,
    });
    if (!isDeepStrictEqual(plain(whole), plain(rest))) return "top-level fields differ";
    for (let i = 0; i < w.length; i++) {
      const d = split.properties[i];
      if (d === undefined) {
        if (!isDeepStrictEqual(w[i]!.toObject(), r[i]!.toObject())) return `resource ${i} differs`;
        continue;
      }
      if (r[i]!["hasProperties"]!()) return `resource ${i}: the rest still has properties`;
      if (!isDeepStrictEqual(plain(w[i]!), plain(r[i]!))) return `resource ${i}: fields differ`;
      let sdk: unknown;
      try {
        sdk = deserializeProperties(w[i]!["getProperties"]!() as object, false);
      } catch (e) {
        return `resource ${i}: the SDK throws (${String(e)}), the decoder decoded`;
      }
      if (!same(d.value, sdk)) return `resource ${i}: properties differ`;
    }
    return undefined;
  }

  it("google-protobuf reads tags and lengths in 32 bits: a longer one is left to it", () => {
    const one = struct({ a: "one" });
    const two = struct({ a: "two" });
    // Field 2 (the properties) with a 5-byte tag whose bits past 32 google-protobuf drops: to it,
    // a second properties field, which replaces the first.
    const wide = (tag: number): Bytes => [(tag & 0x7f) | 0x80, 0x80, 0x80, 0x80, 0x10];
    const after = [...len(0x12, one), ...wide(0x12), ...varint(two.length), ...two];
    const before = [...wide(0x12), ...varint(two.length), ...two, ...len(0x12, one)];
    const u8 = (b: Bytes) => Uint8Array.from(b);
    expect(pb["AnalyzeRequest"]!.deserializeBinary(u8(after)).toObject()).toMatchObject({
      properties: { fieldsMap: [["a", { stringValue: "two" }]] },
    });
    for (const b of [after, before]) {
      expect(splitDisagrees("AnalyzeRequest", u8(b))).toBeUndefined();
      expect(splitDisagrees("AnalyzeStackRequest", u8(len(0x0a, b)))).toBeUndefined();
    }
    // A resource (field 1 of AnalyzeStackRequest) with such a tag.
    const resource = len(0x12, one);
    const stack = [...len(0x0a, resource), ...wide(0x0a), ...varint(resource.length), ...resource];
    expect(splitDisagrees("AnalyzeStackRequest", u8(stack))).toBeUndefined();
  });
  it("requests with fields spliced in, shuffled or corrupted: the split reads as the whole", () => {
    const rand = prng(1818);
    const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)]!;
    const rs = synthetic(4);
    const small = struct({ x: pick([1, "s", null, true]), constructor: "c" });
    // Fields another writer may add to a request or a resource, which google-protobuf reads…
    const FIELDS: Bytes[] = [
      len(0x12, small), // a second properties field: google-protobuf keeps the last
      [0x92, 0x80, 0x80, 0x80, 0x10, ...varint(small.length), ...small], // 32-bit tag: field 2
      [0x92, 0x00, ...varint(small.length), ...small], // an overlong tag for field 2
      [0x12, 0x00], // empty properties
      [0xf8, 0x01, 0x05], // unknown varint
      [0xfa, 0x01, 0x02, 0x61, 0x62], // unknown bytes
      [0xfd, 0x01, 1, 2, 3, 4], // unknown fixed32
      [0xf9, 0x01, 1, 2, 3, 4, 5, 6, 7, 8], // unknown fixed64
      [0xfb, 0x01, 0xfc, 0x01], // a group
      [0x88, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01], // a 10-byte tag
      str(0x1a, "urn:x"),
    ];
    // …and some it rejects or stops at.
    const BAD: Bytes[] = [[0x10, 0x01], [0x02, 0x01, 0x00], [0x0c], [0x0f]];
    /** A message's top-level fields (of canonical bytes) as byte lists. */
    const fieldsOf = (b: Uint8Array): Bytes[] => {
      const out: Bytes[] = [];
      let p = 0;
      const read = () => {
        let v = 0;
        for (let m = 1; ; m *= 128) {
          const c = b[p++]!;
          v += (c & 0x7f) * m;
          if (c < 0x80) return v;
        }
      };
      while (p < b.length) {
        const from = p;
        const wire = read() & 7;
        if (wire === 2) p += read();
        else if (wire === 0) read();
        else p += wire === 1 ? 8 : 4;
        out.push([...b.subarray(from, p)]);
      }
      return out;
    };
    const mutate = (fields: Bytes[]): Bytes => {
      for (let n = Math.floor(rand() * 3); n > 0; n--)
        fields.splice(
          Math.floor(rand() * (fields.length + 1)),
          0,
          pick(rand() < 0.05 ? BAD : FIELDS),
        );
      if (rand() < 0.3) fields.sort(() => rand() - 0.5);
      return fields.flat();
    };
    const request = (r: (typeof rs)[number]) =>
      (analyzeRequest(r) as unknown as { serializeBinary(): Uint8Array }).serializeBinary();
    let split = 0;
    let left = 0;
    for (let i = 0; i < 1200; i++) {
      const stack = rand() < 0.4;
      let bytes = stack
        ? mutate(
            rs
              .slice(0, 1 + Math.floor(rand() * 3))
              .map((r) => len(0x0a, mutate(fieldsOf(request(r))))),
          )
        : mutate(fieldsOf(request(pick(rs))));
      if (rand() < 0.1) {
        bytes = [...bytes];
        bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
      }
      const b = Uint8Array.from(bytes);
      const type = stack ? "AnalyzeStackRequest" : "AnalyzeRequest";
      expect(splitDisagrees(type, b), Buffer.from(b).toString("hex")).toBeUndefined();
      if ((stack ? splitAnalyzeStackRequest : splitAnalyzeRequest)(b, rules)) split++;
      else left++;
    }
    // Both ways are taken often: the comparison compares something.
    expect(split).toBeGreaterThan(150);
    expect(left).toBeGreaterThan(150);
  });

  it("installed in the pack: the service decodes with it, and the Struct reads as google-protobuf's", () => {
    // A child process: the installed deserializers would otherwise stay in this worker's cache.
    const script = `
      const speed = require(${JSON.stringify(path.join(REPO, "policy-pack/sdk-speed.ts"))});
      const { analyzeRequest, analyzeStackRequest } = require(${JSON.stringify(path.join(REPO, "src/policy/analyzer.ts"))});
      const { synthetic } = require(${JSON.stringify(path.join(REPO, "bench/preview/synthetic.ts"))});
      const { createRequire } = require("node:module");
      const sdkRequire = createRequire(require.resolve("@pulumi/policy/server.js"));
      const svc = sdkRequire("@pulumi/pulumi/proto/analyzer_grpc_pb.js").AnalyzerService;
      const pb = sdkRequire("@pulumi/pulumi/proto/analyzer_pb");
      const { Struct } = createRequire(sdkRequire.resolve("@pulumi/pulumi/proto/analyzer_pb"))("google-protobuf/google/protobuf/struct_pb");
      const d = sdkRequire("./deserialize.js");
      const before = svc.analyze.requestDeserialize;
      const remediate = svc.remediate.requestDeserialize;
      speed.installSdkSpeedups();
      const r = synthetic(1)[0];
      // The SDK's conversion: keys in sorted order.
      const sorted = (p) => JSON.stringify(Struct.fromJavaScript(p).toJavaScript());
      const bytes = Buffer.from(analyzeRequest(r).serializeBinary());
      const req = svc.analyze.requestDeserialize(bytes);
      const struct = req.getProperties();
      const value = d.deserializeProperties(struct, false);
      const out = {
        replaced: svc.analyze.requestDeserialize !== before,
        // Remediate requests (the same message type) are decoded by google-protobuf alone.
        remediate: svc.remediate.requestDeserialize === remediate && !Object.hasOwn(svc.remediate.requestDeserialize(bytes), "getProperties"),
        isRequest: req instanceof pb.AnalyzeRequest,
        isStruct: struct instanceof Struct,
        has: req.hasProperties(),
        value: JSON.stringify(value) === sorted(r.properties),
        memoized: d.deserializeProperties(struct, false) === value,
        // Read as a message: google-protobuf decodes it then.
        toJavaScript: JSON.stringify(struct.toJavaScript()) === sorted(r.properties),
        reencoded: Buffer.from(req.serializeBinary()).equals(bytes),
        withSecrets: JSON.stringify(d.deserializeProperties(struct, true)) === sorted(r.properties),
      };
      const other = Struct.fromJavaScript({ replaced: true });
      req.setProperties(other);
      out.set = req.getProperties() === other && Object.hasOwn(req, "getProperties") === false;
      req.clearProperties();
      out.cleared = req.hasProperties() === false;
      const stackBytes = Buffer.from(analyzeStackRequest(synthetic(5)).message.serializeBinary());
      const stack = svc.analyzeStack.requestDeserialize(stackBytes);
      out.stack = stack.getResourcesList().every((x, i) => JSON.stringify(d.deserializeProperties(x.getProperties(), false)) === sorted(synthetic(5)[i].properties));
      // The whole message, read by google-protobuf's own code: as it reads the bytes itself.
      const plainStack = pb.AnalyzeStackRequest.deserializeBinary(stackBytes);
      out.stackToObject = JSON.stringify(stack.toObject()) === JSON.stringify(plainStack.toObject());
      out.stackReencoded = Buffer.from(stack.serializeBinary()).equals(stackBytes);
      console.log(JSON.stringify(out));
    `;
    expect(childScriptJson(script)).toEqual({
      replaced: true,
      remediate: true,
      isRequest: true,
      isStruct: true,
      has: true,
      value: true,
      memoized: true,
      toJavaScript: true,
      reencoded: true,
      withSecrets: true,
      set: true,
      cleared: true,
      stack: true,
      stackToObject: true,
      stackReencoded: true,
    });
  }, 30_000);
});

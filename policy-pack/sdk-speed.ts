/**
 * One deserialization per resource and request instead of one per policy (issue 18: the analyzer).
 *
 * @pulumi/policy 1.21.0's Analyze handler (server.js `makeAnalyzeRpcFun`) converts the request's
 * protobuf Struct to JavaScript (`deserializeProperties`) and wraps the result in a fresh
 * unknown-checking proxy (`unknownCheckingProxy`) for every policy that runs on the resource, and
 * its AnalyzeStack handler does so for every resource of the stack once per stack policy. A CPU
 * profile of the pack on the 5,000-resource bench stack spent ~3.2 s of ~15 s of work there.
 *
 * The handler reaches both functions through their modules' export objects at each call
 * (`deserialize_1.deserializeProperties(...)`, `proxy_1.unknownCheckingProxy(...)`), so replacing
 * the exports with memoizing versions, keyed on the Struct (the same object for one request: the
 * generated message classes cache their wrappers) and on the converted object, makes every policy
 * of a request read the one conversion. The proxy is the SDK's get trap, answering every read the
 * same way (each read of an unknown still throws the SDK's error), with its child proxies made once
 * instead of at every read (`CheckingHandler`). Nothing else changes: the same values and the same
 * diagnostics, byte for byte (tests/policy/policy-server-speed.test.ts, tests/policy-pack/grpc.test.ts).
 * Policies must not modify `props` — none of this pack does, and
 * a policy that did would already have been wrong (its edit is not what Pulumi deploys).
 * Remediation (`deserializeProperties(…, true)`: secrets kept behind a proxy, a result a remediation may replace) is left
 * alone.
 *
 * Guarded: when the SDK's modules no longer have these exports the pack runs unchanged;
 * tests/policy/sdk-speed.test.ts fails then, and when server.js no longer calls them this way.
 */
import { createRequire } from "node:module";
import {
  splitAnalyzeRequest,
  splitAnalyzeStackRequest,
  type Decoded,
  type KnownRules,
  type Split,
} from "./wire-decode.js";

type Deserialize = (struct: unknown, proxySecrets?: boolean) => unknown;
type Proxify = (value: unknown) => unknown;

const MARK = Symbol.for("golden-goose.shared-deserialization");

/** The SDK files this depends on, for the test that checks they still read as expected. */
export const SDK_FILES = {
  deserialize: "@pulumi/policy/deserialize.js",
  proxy: "@pulumi/policy/proxy.js",
  server: "@pulumi/policy/server.js",
} as const;

/**
 * Installs the memoizing `deserializeProperties` and `unknownCheckingProxy` in this process's
 * @pulumi/policy (idempotent). Returns whether each was installed (or already was).
 */
export function shareDeserialization(): { deserialize: boolean; proxy: boolean } {
  const sdkRequire = createRequire(__filename);
  const proxyModule = sdkRequire(SDK_FILES.proxy) as Record<string, unknown>;
  const sdk = proxySdk(proxyModule);
  // The conversions found to hold no unknown value: their proxy would answer every read with the
  // object's own value (see `plainKnown`), so they are handed out as they are.
  const known = new WeakSet<object>();
  return {
    deserialize: install<Deserialize>(
      sdkRequire(SDK_FILES.deserialize) as Record<string, unknown>,
      "deserializeProperties",
      (original) => memoDeserialize(original, sdk, known),
    ),
    proxy: install<Proxify>(proxyModule, "unknownCheckingProxy", (original) =>
      memoProxy(original, sdk, known),
    ),
  };
}

type Marked<F> = F & { [MARK]?: true };

function install<F extends Deserialize | Proxify>(
  module: Record<string, unknown>,
  name: string,
  wrap: (original: F) => F,
): boolean {
  const original = module[name] as Marked<F> | undefined;
  if (typeof original !== "function") return false;
  if (original[MARK]) return true;
  const wrapped: Marked<F> = Object.assign(wrap(original), { [MARK]: true as const });
  try {
    module[name] = wrapped;
  } catch {
    return false;
  }
  return module[name] === wrapped;
}

function memoDeserialize(
  original: Deserialize,
  sdk: ProxySdk | undefined,
  known: WeakSet<object>,
): Deserialize {
  const seen = new WeakMap<object, unknown>();
  return (struct, proxySecrets) => {
    if (proxySecrets || struct === null || typeof struct !== "object")
      return original(struct, proxySecrets);
    if (seen.has(struct)) return seen.get(struct);
    const pre = predecoded.get(struct);
    if (pre !== undefined) {
      seen.set(struct, pre.value);
      if (pre.known) known.add(pre.value);
      return pre.value;
    }
    const direct = sdk ? directConversion(struct, sdk) : undefined;
    if (direct !== undefined) {
      seen.set(struct, direct.value);
      if (direct.known) known.add(direct.value);
      return direct.value;
    }
    const value = original(struct, proxySecrets);
    seen.set(struct, value);
    if (sdk && value !== null && typeof value === "object" && plainKnown(value, sdk, 0)) {
      known.add(value);
    }
    return value;
  };
}

/** @pulumi/pulumi's `specialSigKey`: an object with it is an asset, archive, secret or reference. */
const SPECIAL_SIG_KEY = "4dabf18193072939515e22adb298388d";

/** What `directConversion` calls of google-protobuf's messages and maps. */
interface PbMessage {
  constructor: unknown;
  getFieldsMap?(): PbMap;
  getStructValue?(): PbMessage;
  getListValue?(): PbMessage;
  getValuesList?(): PbMessage[];
}
interface PbMap {
  get(key: string): PbMessage | undefined;
}
type Fields = Record<string, unknown>;

/**
 * Where one copy of google-protobuf keeps what `directConversion` reads: a map's entries by key
 * (`map_`), an entry's key and value message (`key`, `valueWrapper`), and a message's field array,
 * index offset and pivot (`array`, `arrayIndexOffset_`, `pivot_`). The names are those in 4.x and
 * minified ones in 3.x (which @pulumi/pulumi loads), so they are found on a probe Struct of the same
 * copy, and the layout is used only when converting a second probe gives `toJavaScript`'s object.
 */
interface Layout {
  map: string;
  entryKey: string;
  wrapper: string;
  array: string;
  offset: string;
  pivot: string;
}

interface StructClass {
  fromJavaScript(value: unknown): { serializeBinary(): Uint8Array };
  deserializeBinary(bytes: Uint8Array): PbMessage & { toJavaScript(): unknown };
}

const layouts = new WeakMap<object, Layout | null>();

function layoutOf(struct: PbMessage, sdk: ProxySdk): Layout | undefined {
  const cls = struct.constructor as StructClass | undefined;
  if (typeof cls !== "function") return undefined;
  let layout = layouts.get(cls);
  if (layout === undefined) {
    layout = probeLayout(cls, sdk) ?? null;
    layouts.set(cls, layout);
  }
  return layout ?? undefined;
}

function probeLayout(cls: StructClass, sdk: ProxySdk): Layout | undefined {
  const only = (names: string[]): string | undefined => (names.length === 1 ? names[0] : undefined);
  try {
    const probe = cls.deserializeBinary(cls.fromJavaScript({ k: 7 }).serializeBinary());
    const map = probe.getFieldsMap!() as unknown as Fields & PbMap;
    const mapName = only(
      Object.keys(map).filter((n) => {
        const o = map[n];
        return o !== null && typeof o === "object" && Object.prototype.hasOwnProperty.call(o, "k");
      }),
    );
    if (mapName === undefined) return undefined;
    const entry = (map[mapName] as Record<string, Fields>)["k"]!;
    const value = map.get("k") as unknown as Fields;
    const layout = {
      map: mapName,
      entryKey: only(Object.keys(entry).filter((n) => entry[n] === "k")),
      wrapper: only(Object.keys(entry).filter((n) => entry[n] === value)),
      array: only(
        Object.keys(value).filter(
          (n) => Array.isArray(value[n]) && (value[n] as unknown[])[1] === 7,
        ),
      ),
      offset: only(Object.keys(value).filter((n) => value[n] === -1)),
      pivot: only(
        Object.keys(value).filter((n) => typeof value[n] === "number" && (value[n] as number) > 6),
      ),
    };
    if (Object.values(layout).some((n) => n === undefined)) return undefined;
    const full = layout as Layout;
    // The layout must convert a second probe as toJavaScript does.
    const input = {
      b: [1, -0, 2.5, "x", true, false, null, [], {}, { z: [{ y: "✓" }] }],
      "10": "ten",
      "2": "two",
      a: { c: null },
    };
    const second = cls.deserializeBinary(cls.fromJavaScript(input).serializeBinary());
    const want = second.toJavaScript();
    const got = directStruct(second, full, sdk, { known: true }, 0);
    return JSON.stringify(got) === JSON.stringify(want) &&
      JSON.stringify(Object.keys(got)) === JSON.stringify(Object.keys(want as object))
      ? full
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `directConversion` of a Struct with this process's @pulumi/policy sentinels (for the test that
 * compares it with the SDK's conversion): undefined where the SDK's conversion would run.
 */
export function convertStructDirectly(
  struct: object,
): { value: Record<string, unknown>; known: boolean } | undefined {
  const sdk = proxySdk(createRequire(__filename)(SDK_FILES.proxy) as Record<string, unknown>);
  return sdk ? directConversion(struct, sdk) : undefined;
}

/** Thrown inside `directConversion` for anything it leaves to the SDK's conversion. */
const NOT_DIRECT = Symbol("not direct");

/**
 * A request Struct converted to the object `deserializeProperties(struct, false)` returns, in one
 * pass over google-protobuf's decoded messages (issue 18: the analyzer): the SDK converts the
 * Struct with `toJavaScript` (an accessor call, a oneof scan and a closure per value) and then
 * copies the result value by value (`deserializeProperty`). Values read as the generated accessors
 * read them — the oneof's last set field, `+` of a number, `!!` of a bool, the string — and each
 * object's keys in the sorted order of `toJavaScript`, so the object is the same, key order
 * included. `undefined` (the SDK's conversion runs) for an object with the special signature key
 * (assets, archives, secrets: the SDK builds objects for them), a `__proto__` key (whose
 * assignment the two conversions treat differently), a message whose fields are not laid out as
 * expected, or deep nesting. `known`: no unknown sentinel and no key named like the proxy's markers
 * anywhere (see `plainKnown`). tests/policy/sdk-speed.test.ts compares it with the SDK's conversion.
 */
function directConversion(
  struct: object,
  sdk: ProxySdk,
): { value: Record<string, unknown>; known: boolean } | undefined {
  const layout = layoutOf(struct as PbMessage, sdk);
  if (layout === undefined) return undefined;
  const state = { known: true };
  try {
    return { value: directStruct(struct as PbMessage, layout, sdk, state, 0), known: state.known };
  } catch (e) {
    if (e === NOT_DIRECT) return undefined;
    throw e;
  }
}

function directStruct(
  struct: PbMessage,
  layout: Layout,
  sdk: ProxySdk,
  state: { known: boolean },
  depth: number,
): Record<string, unknown> {
  if (depth > MAX_PLAIN_DEPTH || typeof struct.getFieldsMap !== "function") throw NOT_DIRECT;
  const map = struct.getFieldsMap();
  const entries = (map as unknown as Fields)[layout.map] as Record<string, Fields> | undefined;
  if (entries === null || typeof entries !== "object") throw NOT_DIRECT;
  const keys: string[] = [];
  for (const k in entries) {
    if (Object.prototype.hasOwnProperty.call(entries, k)) keys.push(k);
  }
  keys.sort();
  const out: Record<string, unknown> = {};
  for (let i = 0; i < keys.length; i++) {
    const entry = entries[keys[i]!];
    if (entry === undefined) throw NOT_DIRECT;
    const key = entry[layout.entryKey];
    if (typeof key !== "string" || key === "__proto__" || key === SPECIAL_SIG_KEY) throw NOT_DIRECT;
    if (key === sdk.isSpecialProxy || key === sdk.getSpecialProxyTarget) state.known = false;
    const wrapper = (entry[layout.wrapper] as PbMessage | undefined) ?? map.get(key);
    out[key] = directValue(wrapper, layout, sdk, state, depth);
  }
  return out;
}

function directValue(
  value: PbMessage | undefined,
  layout: Layout,
  sdk: ProxySdk,
  state: { known: boolean },
  depth: number,
): unknown {
  if (value === undefined) throw NOT_DIRECT;
  const fields = value as unknown as Fields;
  const a = fields[layout.array];
  if (!Array.isArray(a) || fields[layout.offset] !== -1) throw NOT_DIRECT;
  if (!((fields[layout.pivot] as number) > 6)) throw NOT_DIRECT;
  // computeOneofCase: the last of the oneof's fields (1-6) that is set.
  let kind = 0;
  for (let f = 6; f >= 1; f--) {
    if (a[f - 1] != null) {
      kind = f;
      break;
    }
  }
  switch (kind) {
    case 1:
      return null;
    case 2:
      return +(a[1] as number);
    case 3: {
      const s = a[2] as string;
      if (sdk.unknowns.has(s)) state.known = false;
      return s;
    }
    case 4:
      return !!a[3];
    case 5:
      if (typeof value.getStructValue !== "function") throw NOT_DIRECT;
      return directStruct(value.getStructValue(), layout, sdk, state, depth + 1);
    case 6: {
      const list = value.getListValue?.();
      if (list === undefined || typeof list.getValuesList !== "function") throw NOT_DIRECT;
      const values = list.getValuesList();
      const out: unknown[] = [];
      for (let i = 0; i < values.length; i++) {
        out.push(directValue(values[i], layout, sdk, state, depth + 1));
      }
      return out;
    }
    default:
      // The SDK's toJavaScript throws "Unexpected struct type": let it.
      throw NOT_DIRECT;
  }
}

/** Deeper than this, a conversion is not checked (and keeps its proxy). */
const MAX_PLAIN_DEPTH = 64;

/**
 * Whether every read through the SDK's unknown-checking proxy of `value` would answer what reading
 * `value` itself answers: a tree of plain objects and arrays (the prototypes whose properties are
 * all functions) with no unknown sentinel anywhere and no own property named like the proxy's two
 * markers. Then the proxy could never throw, and each of its answers is the value read (a nested
 * object's proxy aside, which the same argument covers); object identity is the only difference,
 * and the pack's policies read a proxy's target through `raw()`, which returns a plain object
 * itself. Anything else (class instances such as assets, a `__proto__` key, deep nesting) keeps
 * the proxy.
 */
function plainKnown(value: object, sdk: ProxySdk, depth: number): boolean {
  if (depth > MAX_PLAIN_DEPTH) return false;
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype) return false;
    for (let i = 0; i < value.length; i++) {
      if (!knownField(value[i], sdk, depth)) return false;
    }
    return true;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return false;
  for (const key in value) {
    if (!Object.prototype.hasOwnProperty.call(value, key)) return false;
    if (key === sdk.isSpecialProxy || key === sdk.getSpecialProxyTarget) return false;
    if (!knownField((value as Record<string, unknown>)[key], sdk, depth)) return false;
  }
  return true;
}

function knownField(field: unknown, sdk: ProxySdk, depth: number): boolean {
  if (field === null) return true;
  switch (typeof field) {
    case "string":
      return !sdk.unknowns.has(field);
    case "number":
    case "boolean":
      return true;
    case "object":
      return plainKnown(field, sdk, depth + 1);
    default:
      return false;
  }
}

function memoProxy(original: Proxify, sdk: ProxySdk | undefined, known: WeakSet<object>): Proxify {
  const seen = new WeakMap<object, unknown>();
  return (value) => {
    if (value === null || typeof value !== "object") return original(value);
    if (known.has(value)) return value;
    let proxy = seen.get(value);
    if (proxy === undefined) {
      proxy = sdk ? new Proxy(value, new CheckingHandler(sdk, [])) : original(value);
      seen.set(value, proxy);
    }
    return proxy;
  };
}

/** What the checking proxy needs of @pulumi/policy's proxy.js. */
interface ProxySdk {
  unknowns: ReadonlySet<unknown>;
  isSpecialProxy: string;
  getSpecialProxyTarget: string;
  UnknownValueError: new (sentinel: unknown, path: PropertyKey[]) => Error;
}

/** The proxy.js exports the checking proxy reads: its markers, sentinels and error class. */
const SENTINEL_EXPORTS = [
  "unknownBooleanValue",
  "unknownNumberValue",
  "unknownStringValue",
  "unknownArrayValue",
  "unknownAssetValue",
  "unknownArchiveValue",
  "unknownObjectValue",
] as const;

function proxySdk(module: Record<string, unknown>): ProxySdk | undefined {
  const { isSpecialProxy, getSpecialProxyTarget, UnknownValueError } = module;
  const sentinels = SENTINEL_EXPORTS.map((k) => module[k]);
  if (
    typeof isSpecialProxy !== "string" ||
    typeof getSpecialProxyTarget !== "string" ||
    typeof UnknownValueError !== "function" ||
    !sentinels.every((s) => typeof s === "string")
  ) {
    return undefined;
  }
  return {
    unknowns: new Set(sentinels),
    isSpecialProxy,
    getSpecialProxyTarget,
    UnknownValueError: UnknownValueError as ProxySdk["UnknownValueError"],
  };
}

/**
 * The get trap of the SDK's unknown-checking proxy (proxy.js `proxyHelper`), answering each read
 * as the SDK's does — the same values, the same `UnknownValueError` (sentinel and property path)
 * for an unknown, the raw value of a non-configurable read-only property, the same two marker
 * properties — with two differences that only object identity shows: the child proxy for a
 * property is made once per parent proxy and property (and made again if the value changed), not
 * at every read, and the property path is built only for a child or an error. The SDK's builds a
 * new path array, property descriptor, handler, closure and proxy at each read of an object, which
 * was most of the garbage of policies reading nested Kubernetes specs.
 */
class CheckingHandler implements ProxyHandler<object> {
  private children: Map<PropertyKey, { field: object; proxy: object }> | undefined;

  constructor(
    private readonly sdk: ProxySdk,
    private readonly path: PropertyKey[],
  ) {}

  get(obj: object, prop: PropertyKey): unknown {
    const sdk = this.sdk;
    if (prop === sdk.isSpecialProxy) return true;
    if (prop === sdk.getSpecialProxyTarget) return obj;
    const field: unknown = (obj as Record<PropertyKey, unknown>)[prop];
    if (sdk.unknowns.has(field)) throw new sdk.UnknownValueError(field, this.path.concat([prop]));
    if (!(field instanceof Object)) return field;
    const known = this.children?.get(prop);
    if (known !== undefined && known.field === field) return known.proxy;
    // The V8 invariant the SDK honours: a non-configurable, read-only data property reads as itself.
    const desc = Object.getOwnPropertyDescriptor(obj, prop);
    if (desc && "value" in desc && desc.configurable === false && desc.writable === false) {
      return field;
    }
    const proxy = new Proxy(field, new CheckingHandler(sdk, this.path.concat([prop])));
    (this.children ??= new Map()).set(prop, { field, proxy });
    return proxy;
  }
}

/** The SDK's protobuf module for the Analyzer messages, as server.js and protoutil.js load it. */
export const ANALYZER_PB = "@pulumi/pulumi/proto/analyzer_pb";

/** Most distinct (policy, reason) pairs kept encoded; beyond that, the SDK's encoder runs. */
const MAX_ENCODED = 4096;

interface Writer {
  writeSerializedMessage?: (bytes: Uint8Array, start: number, end: number) => void;
  constructor: new () => Writer & { getResultBuffer(): Uint8Array };
}
interface NotApplicableMessage {
  getPolicyName(): string;
  getReason(): string;
}
type WriteNotApplicable = (message: NotApplicableMessage, writer: Writer) => void;

/**
 * Each (policy, reason) of the responses' not-applicable lists encoded once (issue 18: the analyzer).
 *
 * Most (resource, policy) pairs of a stack are not applicable, so most of what the pack sends back
 * for each Analyze call is its `PolicyNotApplicable` list — the same few policy names and reasons
 * over and over — and google-protobuf encodes each string again, character by character (~0.5 s of
 * a 5,000-resource Analyze run in a CPU profile). The generated
 * `PolicyNotApplicable.serializeBinaryToWriter` reads only the two strings and the enclosing
 * message reaches it through the class at each call, so a replacement that keeps the bytes the
 * SDK's encoder wrote for a pair and appends them again (`writeSerializedMessage`) sends the same
 * bytes. tests/policy/sdk-speed.test.ts fails when the generated code stops matching, and checks
 * the bytes of whole responses against the SDK's own encoding.
 *
 * Returns whether it is installed (idempotent); when the message class or the writer's method is
 * missing, the SDK's encoder runs unchanged.
 */
export function shareNotApplicableEncoding(): boolean {
  const sdkRequire = createRequire(createRequire(__filename).resolve(SDK_FILES.server));
  const pb = sdkRequire(ANALYZER_PB) as {
    PolicyNotApplicable?: { serializeBinaryToWriter?: Marked<WriteNotApplicable> };
  };
  const cls = pb.PolicyNotApplicable;
  const original = cls?.serializeBinaryToWriter;
  if (!cls || typeof original !== "function") return false;
  if (original[MARK]) return true;
  // Policy name → reason → bytes: no key string is built per entry.
  const encoded = new Map<string, Map<string, Uint8Array>>();
  let count = 0;
  const write: Marked<WriteNotApplicable> = (message, writer) => {
    const name = message.getPolicyName();
    const reason = message.getReason();
    let byReason = encoded.get(name);
    let bytes = byReason?.get(reason);
    if (bytes === undefined) {
      if (typeof writer.writeSerializedMessage !== "function" || count >= MAX_ENCODED) {
        original(message, writer);
        return;
      }
      const own = new writer.constructor();
      original(message, own);
      bytes = own.getResultBuffer();
      if (byReason === undefined) encoded.set(name, (byReason = new Map()));
      byReason.set(reason, bytes);
      count++;
    }
    writer.writeSerializedMessage!(bytes, 0, bytes.length);
  };
  write[MARK] = true;
  cls.serializeBinaryToWriter = write;
  return cls.serializeBinaryToWriter === write;
}

interface ResponseMessage {
  getDiagnosticsList(): unknown[];
  getNotApplicableList(): NotApplicableMessage[];
}
interface DiagnosticMessage {
  getPolicyname(): string;
  getPolicypackname(): string;
  getPolicypackversion(): string;
  getDescription(): string;
}
type WriteMessage<M> = (message: M, writer: Writer & RepeatedWriter) => void;
interface RepeatedWriter {
  writeRepeatedMessage(field: number, list: unknown[], write: WriteMessage<never>): void;
}

/**
 * The generated encoders `shareResponseEncoding` stands in for, as @pulumi/pulumi 3.x's
 * analyzer_pb.js has them (whitespace aside). Another text: the SDK's encoders run unchanged.
 */
export const RESPONSE_ENCODER_TEXT =
  "function(message, writer) { var f = undefined; f = message.getDiagnosticsList(); if (f.length > 0) { writer.writeRepeatedMessage( 2, f, proto.pulumirpc.AnalyzeDiagnostic.serializeBinaryToWriter ); } f = message.getNotApplicableList(); if (f.length > 0) { writer.writeRepeatedMessage( 3, f, proto.pulumirpc.PolicyNotApplicable.serializeBinaryToWriter ); } }";
export const DIAGNOSTIC_ENCODER_TEXT =
  "function(message, writer) { var f = undefined; f = message.getPolicyname(); if (f.length > 0) { writer.writeString( 1, f ); } f = message.getPolicypackname(); if (f.length > 0) { writer.writeString( 2, f ); } f = message.getPolicypackversion(); if (f.length > 0) { writer.writeString( 3, f ); } f = message.getDescription(); if (f.length > 0) { writer.writeString( 4, f ); } f = message.getMessage(); if (f.length > 0) { writer.writeString( 5, f ); } f = message.getEnforcementlevel(); if (f !== 0.0) { writer.writeEnum( 7, f ); } f = message.getUrn(); if (f.length > 0) { writer.writeString( 8, f ); } f = message.getSeverity(); if (f !== 0.0) { writer.writeEnum( 9, f ); } }";

/** A function's source with its whitespace runs made single spaces. */
const sourceText = (f: unknown): string => String(f).replace(/\s+/g, " ").trim();

/** Nodes of the encoded-prefix trees: one level per string, the bytes at the end of a path. */
interface Node {
  next?: Map<string, Node>;
  bytes?: Uint8Array;
}

/**
 * A response's whole not-applicable list, and the four fields every diagnostic of one policy
 * shares, encoded once (issue 18: the analyzer).
 *
 * Every Analyze response lists the 12-17 policies that do not apply to the resource, and the
 * resources of one type get the same list; `shareNotApplicableEncoding` already keeps each entry's
 * bytes, but the list still cost a length-delimited field per entry. Each distinct list (policy
 * names and reasons, in order) is now encoded once — field 3 of every entry, with lengths, exactly
 * what `writeRepeatedMessage(3, …)` writes — and appended as bytes. A diagnostic's first four
 * fields (policy name, pack name, pack version, description; fields 1-4, written first and in that
 * order) are the same for every diagnostic of one policy: their bytes are kept per distinct four
 * strings and the generated encoder writes the rest, reading those four as empty (proto3 writes no
 * empty string), so the bytes are the same. Installed only when the generated encoders read as
 * `RESPONSE_ENCODER_TEXT` and `DIAGNOSTIC_ENCODER_TEXT`; each tree keeps at most `MAX_ENCODED`
 * entries, beyond which the generated encoders run. tests/policy/sdk-speed.test.ts compares the
 * bytes with the SDK's, and the pack's responses are compared whole in
 * tests/policy/policy-server-speed.test.ts.
 */
export function shareResponseEncoding(): boolean {
  const sdkRequire = createRequire(createRequire(__filename).resolve(SDK_FILES.server));
  const pb = sdkRequire(ANALYZER_PB) as {
    AnalyzeResponse?: { serializeBinaryToWriter?: Marked<WriteMessage<ResponseMessage>> };
    AnalyzeDiagnostic?: { serializeBinaryToWriter?: Marked<WriteMessage<DiagnosticMessage>> };
    PolicyNotApplicable?: { serializeBinaryToWriter?: WriteMessage<NotApplicableMessage> };
  };
  const response = pb.AnalyzeResponse;
  const diagnostic = pb.AnalyzeDiagnostic;
  const notApplicable = pb.PolicyNotApplicable;
  const originalResponse = response?.serializeBinaryToWriter;
  const originalDiagnostic = diagnostic?.serializeBinaryToWriter;
  if (!response || !diagnostic || !notApplicable) return false;
  if (originalResponse?.[MARK] && originalDiagnostic?.[MARK]) return true;
  if (
    sourceText(originalResponse) !== RESPONSE_ENCODER_TEXT ||
    sourceText(originalDiagnostic) !== DIAGNOSTIC_ENCODER_TEXT
  ) {
    return false;
  }
  const lists: Node = {};
  const prefixes: Node = {};
  const counts = { lists: 0, prefixes: 0 };
  const step = (node: Node, key: string, kind: "lists" | "prefixes"): Node | undefined => {
    let child = node.next?.get(key);
    if (child === undefined) {
      if (counts[kind] >= MAX_ENCODED) return undefined;
      counts[kind]++;
      (node.next ??= new Map()).set(key, (child = {}));
    }
    return child;
  };
  // The encoded fields 1-4 of a diagnostic (undefined beyond the bound).
  const headOf = (message: DiagnosticMessage, writer: Writer): Uint8Array | undefined => {
    let node: Node | undefined = step(prefixes, message.getPolicyname(), "prefixes");
    if (node !== undefined) node = step(node, message.getPolicypackname(), "prefixes");
    if (node !== undefined) node = step(node, message.getPolicypackversion(), "prefixes");
    if (node !== undefined) node = step(node, message.getDescription(), "prefixes");
    if (node === undefined) return undefined;
    if (node.bytes === undefined) {
      const own = new writer.constructor();
      originalDiagnostic!(
        new DiagnosticPart(message as never, true),
        own as unknown as Writer & RepeatedWriter,
      );
      node.bytes = own.getResultBuffer();
    }
    return node.bytes;
  };
  const writeResponse: Marked<WriteMessage<ResponseMessage>> = (message, writer) => {
    if (typeof writer.writeSerializedMessage !== "function") {
      originalResponse!(message, writer);
      return;
    }
    const list = message.getNotApplicableList();
    let node: Node | undefined = lists;
    for (let i = 0; i < list.length && node !== undefined; i++) {
      node = step(node, list[i]!.getPolicyName(), "lists");
      if (node !== undefined) node = step(node, list[i]!.getReason(), "lists");
    }
    if (node === undefined) {
      originalResponse!(message, writer);
      return;
    }
    if (list.length > 0 && node.bytes === undefined) {
      const own = new writer.constructor() as Writer &
        RepeatedWriter & { getResultBuffer(): Uint8Array };
      own.writeRepeatedMessage(
        3,
        list,
        notApplicable.serializeBinaryToWriter as WriteMessage<never>,
      );
      node.bytes = own.getResultBuffer();
    }
    const diagnostics = message.getDiagnosticsList() as FullDiagnostic[];
    if (diagnostics.length > 0) {
      const block = diagnosticsBlock(diagnostics, (d) => headOf(d, writer));
      if (block !== undefined) {
        writer.writeSerializedMessage(block, 0, block.length);
      } else {
        writer.writeRepeatedMessage(
          2,
          diagnostics,
          diagnostic.serializeBinaryToWriter as WriteMessage<never>,
        );
      }
    }
    if (list.length > 0) writer.writeSerializedMessage(node.bytes!, 0, node.bytes!.length);
  };
  const writeDiagnostic: Marked<WriteMessage<DiagnosticMessage>> = (message, writer) => {
    const head =
      typeof writer.writeSerializedMessage === "function" ? headOf(message, writer) : undefined;
    if (head === undefined) {
      originalDiagnostic!(message, writer);
      return;
    }
    writer.writeSerializedMessage!(head, 0, head.length);
    originalDiagnostic!(new DiagnosticPart(message as never, false), writer);
  };
  writeResponse[MARK] = true;
  writeDiagnostic[MARK] = true;
  response.serializeBinaryToWriter = writeResponse;
  diagnostic.serializeBinaryToWriter = writeDiagnostic;
  return (
    response.serializeBinaryToWriter === writeResponse &&
    diagnostic.serializeBinaryToWriter === writeDiagnostic
  );
}

type FullDiagnostic = DiagnosticMessage & {
  getMessage(): string;
  getEnforcementlevel(): number;
  getUrn(): string;
  getSeverity(): number;
};

/** Bytes of a protobuf varint of `v` (0 <= v < 2^32). */
const varintLength = (v: number): number =>
  v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;

function writeVarint(buf: Buffer, at: number, v: number): number {
  while (v >= 0x80) {
    buf[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[at++] = v;
  return at;
}

/** An enum value the generated encoder writes as this varint (a non-negative int32). */
const plainEnum = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= 0x7fffffff;

/**
 * A response's diagnostics as the bytes `writeRepeatedMessage(2, diagnostics, …)` writes, built in
 * one buffer: for each, the field-2 tag, the body's length, the cached fields 1-4 (`head`), then
 * fields 5 (message), 7 (enforcement level), 8 (URN) and 9 (severity) exactly as
 * `DIAGNOSTIC_ENCODER_TEXT` writes them — a string only when not empty (UTF-8, the one encoding
 * of a well-formed string), an enum only when not 0. undefined (the generated encoder runs) for a
 * string with a lone surrogate, an enum that is not a small non-negative integer, or a head
 * beyond the cache's bound.
 */
function diagnosticsBlock(
  diagnostics: FullDiagnostic[],
  head: (d: FullDiagnostic) => Uint8Array | undefined,
): Buffer | undefined {
  const n = diagnostics.length;
  const heads: Uint8Array[] = new Array<Uint8Array>(n);
  const messages: string[] = new Array<string>(n);
  const urns: string[] = new Array<string>(n);
  const levels: number[] = new Array<number>(n);
  const severities: number[] = new Array<number>(n);
  const lengths: number[] = new Array<number>(n * 3);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const d = diagnostics[i]!;
    const h = head(d);
    const message = d.getMessage();
    const level = d.getEnforcementlevel();
    const urn = d.getUrn();
    const severity = d.getSeverity();
    if (h === undefined || !plainEnum(level) || !plainEnum(severity)) return undefined;
    if (message.length > 0 && !isWellFormed(message)) return undefined;
    if (urn.length > 0 && !isWellFormed(urn)) return undefined;
    const ml = message.length > 0 ? Buffer.byteLength(message, "utf8") : 0;
    const ul = urn.length > 0 ? Buffer.byteLength(urn, "utf8") : 0;
    const body =
      h.length +
      (ml > 0 ? 1 + varintLength(ml) + ml : 0) +
      (level !== 0 ? 1 + varintLength(level) : 0) +
      (ul > 0 ? 1 + varintLength(ul) + ul : 0) +
      (severity !== 0 ? 1 + varintLength(severity) : 0);
    heads[i] = h;
    messages[i] = message;
    urns[i] = urn;
    levels[i] = level;
    severities[i] = severity;
    lengths[i * 3] = body;
    lengths[i * 3 + 1] = ml;
    lengths[i * 3 + 2] = ul;
    total += 1 + varintLength(body) + body;
  }
  const buf = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = 0; i < n; i++) {
    buf[at++] = 0x12; // field 2, length-delimited
    at = writeVarint(buf, at, lengths[i * 3]!);
    buf.set(heads[i]!, at);
    at += heads[i]!.length;
    at = putString(buf, at, 0x2a, messages[i]!, lengths[i * 3 + 1]!); // field 5
    at = putVarint(buf, at, 0x38, levels[i]!); // field 7
    at = putString(buf, at, 0x42, urns[i]!, lengths[i * 3 + 2]!); // field 8
    at = putVarint(buf, at, 0x48, severities[i]!); // field 9
  }
  return at === total ? buf : undefined;
}

/** A length-delimited string field (`tag`, its UTF-8 `length`) at `at`, unless empty (proto3). */
function putString(buf: Buffer, at: number, tag: number, text: string, length: number): number {
  if (length === 0) return at;
  buf[at++] = tag;
  at = writeVarint(buf, at, length);
  return at + buf.write(text, at, length, "utf8");
}

/** A varint field (`tag`) at `at`, unless 0 (proto3). */
function putVarint(buf: Buffer, at: number, tag: number, value: number): number {
  if (value === 0) return at;
  buf[at++] = tag;
  return writeVarint(buf, at, value);
}

/**
 * The diagnostic as the generated encoder reads it (the eight getters of
 * `DIAGNOSTIC_ENCODER_TEXT`), its first four fields empty (`head` false: the fields after the
 * encoded prefix) or its last four (`head` true: the prefix alone). A wrapper, not
 * `Object.create(message)`: making each message a prototype cost more than the encoding saved.
 */
class DiagnosticPart {
  constructor(
    private readonly m: DiagnosticMessage & {
      getMessage(): string;
      getEnforcementlevel(): number;
      getUrn(): string;
      getSeverity(): number;
    },
    private readonly head: boolean,
  ) {}
  getPolicyname(): string {
    return this.head ? this.m.getPolicyname() : "";
  }
  getPolicypackname(): string {
    return this.head ? this.m.getPolicypackname() : "";
  }
  getPolicypackversion(): string {
    return this.head ? this.m.getPolicypackversion() : "";
  }
  getDescription(): string {
    return this.head ? this.m.getDescription() : "";
  }
  getMessage(): string {
    return this.head ? "" : this.m.getMessage();
  }
  getEnforcementlevel(): number {
    return this.head ? 0 : this.m.getEnforcementlevel();
  }
  getUrn(): string {
    return this.head ? "" : this.m.getUrn();
  }
  getSeverity(): number {
    return this.head ? 0 : this.m.getSeverity();
  }
}

/** Strings shorter than this keep google-protobuf's own encoder (no gain below it, measured). */
const MIN_NATIVE_STRING = 32;

interface BinaryWriterProto {
  writeString: Marked<(this: BinaryWriterProto, field: number, value?: string | null) => void>;
  writeBytes(field: number, value: Uint8Array): void;
}

/**
 * Strings of protobuf messages encoded to UTF-8 by Node instead of character by character
 * (issue 18: the analyzer).
 *
 * google-protobuf 3.21's `BinaryWriter.writeString` pushes each UTF-8 byte of a string into a
 * JavaScript array; the diagnostics of a response are mostly long strings (the policy's
 * description and the message), and the 13,754 violations of the bench's AnalyzeStack spent
 * ~0.2 s there. For a well-formed string, `writeBytes(field, utf8)` writes the same bytes: the same
 * field tag and wire type (length-delimited), the length, then the UTF-8 — which is the one
 * encoding of a well-formed string. A string with a lone surrogate (which google-protobuf's encoder
 * drops or encodes its own way) and short strings take the original path.
 *
 * Replaces the method on the writer class the SDK's generated messages use (the google-protobuf
 * that @pulumi/pulumi's analyzer_pb.js loads); returns whether it is installed (idempotent).
 * tests/policy/sdk-speed.test.ts compares the bytes with the original writer's.
 */
export function shareStringEncoding(): boolean {
  const sdkRequire = createRequire(createRequire(__filename).resolve(SDK_FILES.server));
  const pbRequire = createRequire(sdkRequire.resolve(ANALYZER_PB));
  const jspb = pbRequire("google-protobuf") as {
    BinaryWriter?: { prototype: BinaryWriterProto };
  };
  const proto = jspb.BinaryWriter?.prototype;
  const original = proto?.writeString;
  if (!proto || typeof original !== "function" || typeof proto.writeBytes !== "function") {
    return false;
  }
  if (original[MARK]) return true;
  const write: Marked<BinaryWriterProto["writeString"]> = function (field, value) {
    if (value == null || value.length < MIN_NATIVE_STRING || !isWellFormed(value)) {
      original.call(this, field, value);
      return;
    }
    this.writeBytes(field, Buffer.from(value, "utf8"));
  };
  write[MARK] = true;
  proto.writeString = write;
  return proto.writeString === write;
}

/** No lone surrogate (ES2024 `String.prototype.isWellFormed`, in Node since 20). */
const isWellFormed = (s: string): boolean =>
  (s as string & { isWellFormed(): boolean }).isWellFormed();

/** The SDK's gRPC service definitions, whose `requestDeserialize` the server registers. */
export const ANALYZER_GRPC_PB = "@pulumi/pulumi/proto/analyzer_grpc_pb.js";

/** The properties a request's Struct stands for, decoded from its bytes (`shareRequestDecoding`). */
const predecoded = new WeakMap<object, Decoded>();

type Deserializer = Marked<(bytes: Uint8Array) => unknown>;
interface StructCtor {
  new (): object;
  deserializeBinaryFromReader(msg: object, reader: unknown): unknown;
}
interface PropertiesMessage {
  getProperties(): unknown;
  setProperties(v: unknown): unknown;
  clearProperties(): unknown;
  hasProperties(): boolean;
}

/**
 * Analyze and AnalyzeStack requests decoded with their properties read from the bytes straight to
 * JavaScript (policy-pack/wire-decode.ts; issue 18: the analyzer): the SDK's deserializers build a
 * google-protobuf message for every Struct, entry and Value, which on the bench's stacks cost more
 * than the policies did. The service definitions' `requestDeserialize` (which the gRPC server reads
 * when the PolicyPack registers the service, so this runs before) split each request: google-protobuf
 * decodes the other fields, and each resource's `getProperties()` returns a Struct that
 * `deserializeProperties` (memoized above) answers with the decoded object — the SDK's own object
 * for those bytes. For anyone else the Struct is decoded by google-protobuf at its first use, so
 * it reads as it always did; `setProperties`/`clearProperties` work as generated, and so do the
 * message's `toObject` and `serializeBinary` (they call `getProperties`). What reads the message's
 * field array instead — `toArray`, `cloneMessage`, `jspb.Message.equals`, `toString`, the
 * prototype's `getProperties` — sees it without properties: none of the SDK's handlers does.
 * Properties the decoder leaves to the SDK stay in the bytes google-protobuf decodes. Installed
 * only with the memoized `deserializeProperties` and the checking proxy's sentinels, and only over
 * the generated deserializers. tests/policy/wire-decode.test.ts and the byte-for-byte responses of
 * tests/policy/policy-server-speed.test.ts cover it.
 */
export function shareRequestDecoding(): boolean {
  const sdkRequire = createRequire(createRequire(__filename).resolve(SDK_FILES.server));
  const sdk = proxySdk(createRequire(__filename)(SDK_FILES.proxy) as Record<string, unknown>);
  const services = sdkRequire(ANALYZER_GRPC_PB) as {
    AnalyzerService?: Record<string, { requestDeserialize?: Deserializer } | undefined>;
  };
  const pbRequire = createRequire(sdkRequire.resolve(ANALYZER_PB));
  const { Struct } = pbRequire("google-protobuf/google/protobuf/struct_pb") as {
    Struct?: StructCtor;
  };
  const { BinaryReader } = pbRequire("google-protobuf") as {
    BinaryReader?: new (bytes: Uint8Array) => unknown;
  };
  const analyze = services.AnalyzerService?.["analyze"];
  const stack = services.AnalyzerService?.["analyzeStack"];
  const a = analyze?.requestDeserialize;
  const st = stack?.requestDeserialize;
  if (!sdk || !analyze || !stack || !Struct || !BinaryReader) return false;
  if (typeof a !== "function" || typeof st !== "function") return false;
  if (a[MARK] && st[MARK]) return true;
  const rules: KnownRules = {
    unknowns: sdk.unknowns,
    markers: [sdk.isSpecialProxy, sdk.getSpecialProxyTarget],
  };
  const lazy = (d: Decoded): object => {
    const target = new Struct();
    let decoded = false;
    const ready = (): object => {
      if (!decoded) {
        decoded = true;
        Struct.deserializeBinaryFromReader(target, new BinaryReader(d.bytes));
      }
      return target;
    };
    const struct = new Proxy(target, {
      get: (_t, k) => Reflect.get(ready(), k),
      set: (_t, k, v) => Reflect.set(ready(), k, v),
      has: (_t, k) => Reflect.has(ready(), k),
      ownKeys: () => Reflect.ownKeys(ready()),
      getOwnPropertyDescriptor: (_t, k) => Reflect.getOwnPropertyDescriptor(ready(), k),
      defineProperty: (_t, k, desc) => Reflect.defineProperty(ready(), k, desc),
      deleteProperty: (_t, k) => Reflect.deleteProperty(ready(), k),
    });
    predecoded.set(struct, d);
    return struct;
  };
  const attach = (msg: PropertiesMessage, d: Decoded): void => {
    const struct = lazy(d);
    const proto = Object.getPrototypeOf(msg) as PropertiesMessage;
    const own = ["getProperties", "hasProperties", "setProperties", "clearProperties"] as const;
    const release = () => {
      for (const k of own) delete (msg as Partial<PropertiesMessage>)[k];
    };
    const method = (value: unknown): PropertyDescriptor => ({
      value,
      configurable: true,
      writable: true,
      enumerable: false,
    });
    Object.defineProperties(msg, {
      getProperties: method(() => struct),
      hasProperties: method(() => true),
      setProperties: method((v: unknown) => {
        release();
        return proto.setProperties.call(msg, v);
      }),
      clearProperties: method(() => {
        release();
        return proto.clearProperties.call(msg);
      }),
    });
  };
  const wrap = (
    original: Deserializer,
    split: (b: Uint8Array, rules: KnownRules) => Split | undefined,
    messages: (msg: unknown) => unknown[] | undefined,
  ): Deserializer => {
    const wrapped: Deserializer = (bytes) => {
      const s = split(bytes, rules);
      if (s === undefined) return original(bytes);
      const msg = original(s.rest);
      const list = messages(msg);
      // Cannot happen with the generated decoders; if it did, the SDK's own decoding is right.
      if (list === undefined || list.length !== s.properties.length) return original(bytes);
      for (let i = 0; i < list.length; i++) {
        const d = s.properties[i];
        if (d !== undefined) attach(list[i] as PropertiesMessage, d);
      }
      return msg;
    };
    wrapped[MARK] = true;
    return wrapped;
  };
  analyze.requestDeserialize = wrap(a, splitAnalyzeRequest, (msg) => [msg]);
  stack.requestDeserialize = wrap(st, splitAnalyzeStackRequest, (msg) => {
    const list = (msg as { getResourcesList?(): unknown[] }).getResourcesList?.();
    return Array.isArray(list) ? list : undefined;
  });
  return true;
}

/** Every speed-up of this module, as the pack installs them before it starts serving. */
export function installSdkSpeedups(): void {
  // Each resource of a request is converted once for all policies, not once per policy; and
  // decoded from its bytes straight to that conversion.
  if (shareDeserialization().deserialize) shareRequestDecoding();
  // Each (policy, reason) of the not-applicable lists is encoded once, not once per resource.
  shareNotApplicableEncoding();
  // Long strings of the responses encoded by Node.
  shareStringEncoding();
  // Each distinct not-applicable list, and each policy's diagnostic fields, encoded once.
  shareResponseEncoding();
}

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
  return {
    deserialize: install<Deserialize>(
      sdkRequire(SDK_FILES.deserialize) as Record<string, unknown>,
      "deserializeProperties",
      memoDeserialize,
    ),
    proxy: install<Proxify>(proxyModule, "unknownCheckingProxy", (original) =>
      memoProxy(original, proxySdk(proxyModule)),
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

function memoDeserialize(original: Deserialize): Deserialize {
  const seen = new WeakMap<object, unknown>();
  return (struct, proxySecrets) => {
    if (proxySecrets || struct === null || typeof struct !== "object")
      return original(struct, proxySecrets);
    if (seen.has(struct)) return seen.get(struct);
    const value = original(struct, proxySecrets);
    seen.set(struct, value);
    return value;
  };
}

function memoProxy(original: Proxify, sdk: ProxySdk | undefined): Proxify {
  const seen = new WeakMap<object, unknown>();
  return (value) => {
    if (value === null || typeof value !== "object") return original(value);
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

/** Every speed-up of this module, as the pack installs them before it starts serving. */
export function installSdkSpeedups(): void {
  // Each resource of a request is converted once for all policies, not once per policy.
  shareDeserialization();
  // Each (policy, reason) of the not-applicable lists is encoded once, not once per resource.
  shareNotApplicableEncoding();
  // Long strings of the responses encoded by Node.
  shareStringEncoding();
}

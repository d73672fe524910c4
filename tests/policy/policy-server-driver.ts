/**
 * Child process of tests/policy/policy-server-speed.test.ts: serves the golden-goose policies plus
 * edge-case policies through @pulumi/policy's own server (`new PolicyPack`), calls its Analyzer
 * handlers directly with requests decoded from their wire bytes, and writes every response's wire
 * bytes (or the error) to the JSON file named by argv[2].
 *
 *     node [--import src/pulumi-startup.mjs] <the driver bundled to CommonJS> <out.json> <sdk|goose>
 *
 * `sdk`: the SDK as published. `goose`: as goose's pack process runs it — started with the
 * preload (the server.js edits, src/pulumi-startup-policy.mjs) and with policy-pack/sdk-speed.ts
 * installed. The test compares the two files byte for byte.
 */
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import {
  PolicyPack,
  validateResourceOfType,
  validateStackResourcesOfType,
  type Policies,
  type ReportViolation,
  type ResourceValidationArgs,
} from "@pulumi/policy";
import { analyzeRequest, analyzeStackRequest } from "../../src/policy/analyzer.js";
import { PACK_NAME, policies } from "../../policy-pack/policies/index.js";
import { NOT_APPLICABLE_BY_TYPE, onlyForTypes, raw } from "../../policy-pack/policies/util.js";
import { installSdkSpeedups } from "../../policy-pack/sdk-speed.js";
import { synthetic } from "../../bench/preview/synthetic.js";
import { CASES } from "../policy-pack/cases.js";
import { readPackConfig, resolvePolicyConfig, UNKNOWN } from "../policy-pack/harness.js";
import { toAnalyzer } from "../policy-pack/to-analyzer.js";

const [outArg, mode] = process.argv.slice(2);
if (!outArg || (mode !== "sdk" && mode !== "goose")) {
  throw new Error("usage: <out.json> <sdk|goose>");
}
const out: string = outArg;

const REPO = path.resolve(import.meta.dirname, "../..");
const serverFile = createRequire(path.join(REPO, "policy-pack/index.ts")).resolve(
  "@pulumi/policy/server.js",
);
const sdkRequire = createRequire(serverFile);
type Message = { serializeBinary(): Uint8Array };
type Callback = (err: unknown, resp?: Message) => void;
type Handler = (call: { request: unknown }, cb: Callback) => void;
const grpc = sdkRequire("@grpc/grpc-js") as {
  Server: { prototype: { addService(service: unknown, impl: Record<string, Handler>): void } };
};
const pb = sdkRequire("@pulumi/pulumi/proto/analyzer_pb") as Record<
  string,
  { deserializeBinary(b: Uint8Array): unknown } & (new () => Record<string, never>)
>;
const structPb = createRequire(sdkRequire.resolve("@pulumi/pulumi/proto/analyzer_pb"))(
  "google-protobuf/google/protobuf/struct_pb",
) as { Struct: { fromJavaScript(o: object): unknown } };

// The handlers the SDK registers (the server still listens on a loopback port, unused here).
let handlers: Record<string, Handler> | undefined;
const addService = grpc.Server.prototype.addService;
grpc.Server.prototype.addService = function (service, impl) {
  handlers = impl;
  return addService.call(this, service, impl);
};

if (mode === "goose") installSdkSpeedups();

// ------------------------------------------------------------------------------------------
// Edge-case policies: what the server.js edits touch, each way a validation can answer.

const THING = "test:index:Thing";
const BOOM = "test:index:Boom";
const thingClass = { __pulumiType: THING } as never;
const configMapClass = { __pulumiType: "kubernetes:core/v1:ConfigMap" } as never;
/** A value as JSON, with what JSON loses kept: -0, NaN, infinities, prototypes, key order. */
function dump(v: unknown): unknown {
  if (typeof v === "number" && (Object.is(v, -0) || !Number.isFinite(v)))
    return `number ${v === 0 ? "-0" : String(v)}`;
  if (v === null || typeof v !== "object") return v;
  const proto = Object.getPrototypeOf(v) as object | null;
  const kind =
    proto === Object.prototype
      ? ""
      : proto === Array.prototype
        ? "[]"
        : `proto ${String(proto?.constructor?.name)}`;
  if (Array.isArray(v)) return [kind, ...v.map(dump)];
  return [
    kind,
    Object.getOwnPropertyNames(v).map((k) => [k, dump((v as Record<string, unknown>)[k])]),
  ];
}

let typedCalls = 0;
let wireDecoded = 0;
let sdkDecoded = 0;
const onlyThings = onlyForTypes(
  (t) => t === THING,
  "only things",
  (args, report) => report(`thing ${String((args.props as { x?: unknown }).x)}`),
);

const edge: Policies = [
  {
    name: "edge-async",
    description: "reports after an await",
    validateResource: async (args, report) => {
      await new Promise((r) => setImmediate(r));
      if (args.type === THING) report(`async ${args.name}`);
    },
  },
  {
    name: "edge-returns-value",
    description: "returns a value and reports the object form",
    validateResource: (args, report) => {
      if (args.type !== THING) return;
      report({ message: "object form", urn: args.urn, severity: "low" } as never);
      return 42 as never;
    },
  },
  {
    name: "edge-array",
    description: "three validations",
    validateResource: [
      (args, report) => report(`first ${args.type}`),
      (args) => args.notApplicable("the second is not applicable"),
      (args, report) => report(`third ${args.name}`),
    ],
  },
  {
    name: "edge-resource-of-type",
    description: "validateResourceOfType",
    validateResource: validateResourceOfType(configMapClass, (cm, args, report) =>
      report(`configmap ${args.name} ${Object.keys(raw(cm) as object).join()}`),
    ),
  },
  {
    name: "edge-only-for-types",
    description: "onlyForTypes",
    // Counts every call, to show the edited server skips it for other types.
    validateResource: Object.assign(
      (args: ResourceValidationArgs, report: ReportViolation) => {
        typedCalls++;
        return onlyThings(args, report);
      },
      { [NOT_APPLICABLE_BY_TYPE]: onlyThings[NOT_APPLICABLE_BY_TYPE] },
    ),
  },
  {
    name: "edge-returns-reason",
    description: "reports, then is not applicable (a returned reason)",
    validateResource: onlyForTypes(
      (t) => t === THING || t === "kubernetes:core/v1:ConfigMap",
      "neither a thing nor a ConfigMap",
      (args, report) => {
        if (args.type !== THING) return "";
        report(`before ${args.name}`);
        if ((args.props as { x?: unknown }).x !== 3) return `after ${args.name}`;
      },
    ),
  },
  {
    name: "edge-unknown",
    description: "reads a value unknown during preview",
    validateResource: (args, report) => {
      if (args.type !== THING) args.notApplicable();
      if ((args.props as { maybe?: unknown }).maybe) report("known");
    },
  },
  {
    name: "edge-sees",
    description: "what a validation is given",
    configSchema: { properties: { word: { type: "string", default: "w" } } },
    validateResource: (args, report) => {
      const a = args as ResourceValidationArgs & { provider?: { type: string; urn: string } };
      report(
        JSON.stringify({
          keys: Object.keys(args),
          opts: args.opts,
          provider: a.provider ? [a.provider.type, a.provider.urn] : null,
          isThing: args.isType(thingClass),
          asThing: args.asType(thingClass) !== undefined,
          config: args.getConfig(),
          tags: [...args.stackTags],
          props: dump(raw(args.props)),
        }),
      );
    },
  },
  {
    name: "edge-throws",
    description: "throws on one type",
    validateResource: (args) => {
      if (args.type === BOOM) throw new Error("boom");
    },
  },
  {
    name: "edge-remediation-only",
    description: "remediates only",
    remediateResource: () => undefined,
  },
  {
    name: "edge-disabled",
    description: "disabled by config",
    validateResource: (_args, report) => report("never"),
  },
  {
    name: "edge-remediate-level",
    description: "remediate level, reported as mandatory",
    validateResource: (args, report) => report(`remediate level ${args.name}`),
  },
  {
    name: "edge-stack-sorts",
    description: "sorts its resources in place",
    validateStack: (args, report) => {
      args.resources.sort((a, b) => b.urn.localeCompare(a.urn));
      report(args.resources.map((r) => r.name).join());
    },
  },
  {
    name: "edge-stack-order",
    description: "the order it is given",
    validateStack: (args, report) => report(args.resources.map((r) => r.name).join()),
  },
  {
    name: "edge-stack-props",
    description: "every resource's properties, as a stack policy reads them",
    validateStack: (args, report) =>
      report(JSON.stringify(args.resources.map((r) => [r.name, dump(raw(r.props))]))),
  },
  {
    name: "edge-stack-graph",
    description: "parents, dependencies and options",
    validateStack: (args, report) =>
      report(
        JSON.stringify(
          args.resources.map((r) => [
            r.urn,
            r.parent?.urn,
            r.dependencies.map((d) => d.urn),
            Object.fromEntries(
              Object.entries(r.propertyDependencies).map(([k, v]) => [k, v.map((d) => d.urn)]),
            ),
            r.opts,
            r.isType(thingClass),
            Object.keys(r),
          ]),
        ),
      ),
  },
  {
    name: "edge-stack-async",
    description: "reports after an await",
    validateStack: async (args, report) => {
      await new Promise((r) => setImmediate(r));
      report(`async stack of ${args.resources.length}`);
    },
  },
  {
    name: "edge-stack-not-applicable",
    description: "never applicable",
    validateStack: (args) => args.notApplicable("not here"),
  },
  {
    name: "edge-stack-unknown",
    description: "reads unknowns",
    validateStack: (args, report) => {
      for (const r of args.resources) {
        if ((r.props as { maybe?: unknown }).maybe) report(`known ${r.name}`);
      }
    },
  },
  {
    name: "edge-stack-of-type",
    description: "validateStackResourcesOfType",
    validateStack: validateStackResourcesOfType(thingClass, (things, _args, report) =>
      report(`things ${things.length}`),
    ),
  },
];

const LEVELS: Record<string, string> = {
  "edge-disabled": "disabled",
  "edge-remediate-level": "remediate",
  "edge-async": "mandatory",
  "edge-stack-order": "mandatory",
};
const PB_LEVEL: Record<string, number> = { advisory: 0, mandatory: 1, disabled: 2, remediate: 3 };

new PolicyPack(PACK_NAME, { policies: [...policies, ...edge], enforcementLevel: "advisory" });
if (!handlers) throw new Error("the SDK registered no Analyzer service");
const h = handlers;

// ------------------------------------------------------------------------------------------

type Result = { name: string; bytes?: string; error?: { code?: unknown; details?: unknown } };
const results: Result[] = [];

/** Calls a handler with the request decoded from its bytes, as gRPC does; its result, in order. */
async function call(method: string, request: Message, type: string, name: string): Promise<void> {
  results.push(await answer(method, request, type, name));
}

// The service definitions the server registered: their requestDeserialize is what gRPC decodes a
// request with (in `goose` mode, sdk-speed.ts's for Analyze and AnalyzeStack).
const services = sdkRequire("@pulumi/pulumi/proto/analyzer_grpc_pb.js") as {
  AnalyzerService: Record<string, { requestDeserialize(b: Uint8Array): unknown }>;
};

function answer(method: string, request: Message, type: string, name: string): Promise<Result> {
  const bytes = request.serializeBinary();
  let decoded: unknown;
  try {
    decoded = services.AnalyzerService[method]!.requestDeserialize(Buffer.from(bytes));
  } catch (e) {
    // gRPC answers INTERNAL (its details name the error only with GRPC_NODE_DEBUG_SEND_ERROR_DETAILS).
    return Promise.resolve({ name, error: { code: "deserialize", details: String(e) } });
  }
  // The service decodes each type as the generated class does.
  if (!(decoded instanceof (pb[type] as unknown as new () => unknown))) {
    throw new Error(`${method} decoded a request that is not a ${type}`);
  }
  // Resources whose properties were decoded from their bytes (policy-pack/wire-decode.ts).
  const resources =
    method === "analyzeStack"
      ? (decoded as { getResourcesList(): object[] }).getResourcesList()
      : method === "analyze"
        ? [decoded as object]
        : [];
  for (const r of resources)
    if (Object.hasOwn(r, "getProperties")) wireDecoded++;
    else if ((r as { hasProperties(): boolean }).hasProperties()) sdkDecoded++;
  return new Promise((resolve) => {
    h[method]!({ request: decoded }, (err, resp) => {
      if (err) {
        const e = err as { code?: unknown; details?: unknown; message?: unknown };
        resolve({ name, error: { code: e.code, details: e.details ?? e.message } });
      } else {
        resolve({ name, bytes: Buffer.from(resp!.serializeBinary()).toString("hex") });
      }
    });
  });
}

async function configure(stage: string): Promise<void> {
  const req = new pb.ConfigureAnalyzerRequest!() as unknown as {
    getPolicyconfigMap(): { set(k: string, v: unknown): void };
  } & Message;
  const file = readPackConfig(stage);
  for (const p of [...policies, ...edge]) {
    const c = resolvePolicyConfig(p, file);
    const pc = new pb.PolicyConfig!() as unknown as {
      setEnforcementlevel(n: number): void;
      setProperties(s: unknown): void;
    };
    pc.setEnforcementlevel(PB_LEVEL[LEVELS[p.name] ?? c.enforcementLevel]!);
    pc.setProperties(structPb.Struct.fromJavaScript(c.properties));
    req.getPolicyconfigMap().set(p.name, pc);
  }
  await call("configure", req, "ConfigureAnalyzerRequest", `configure ${stage}`);
}

const analyze = (r: Parameters<typeof analyzeRequest>[0], name: string) =>
  call("analyze", analyzeRequest(r) as unknown as Message, "AnalyzeRequest", name);
const analyzeStack = (rs: Parameters<typeof analyzeStackRequest>[0], name: string) =>
  call("analyzeStack", analyzeStackRequest(rs).message as Message, "AnalyzeStackRequest", name);

const opts = (parent?: string) => ({
  protect: false,
  ignoreChanges: ["x"],
  additionalSecretOutputs: [],
  aliases: [],
  customTimeouts: { create: 1, update: 0, delete: 0 },
  ...(parent ? { parent } : {}),
});
const urn = (type: string, name: string) => `urn:pulumi:test::golden-goose::${type}::${name}`;
const thing = (name: string, props: Record<string, unknown>, extra: object = {}) => ({
  urn: urn(THING, name),
  type: THING,
  name,
  properties: props,
  options: opts(),
  dependencies: [],
  propertyDependencies: {},
  ...extra,
});
const provider = {
  urn: urn("pulumi:providers:kubernetes", "k8s"),
  type: "pulumi:providers:kubernetes",
  name: "k8s",
  properties: { namespace: "goose" },
};
const edgeResources = [
  thing("t1", { x: 1, nested: { list: [1, "two", null, true] } }),
  thing("t2", { x: "two", maybe: UNKNOWN }, { provider }),
  thing("t3", { x: 3 }, { options: { ...opts(urn(THING, "t1")), deleteBeforeReplace: true } }),
  {
    ...thing("cm", { data: { a: "b" } }),
    type: "kubernetes:core/v1:ConfigMap",
    urn: urn("kubernetes:core/v1:ConfigMap", "cm"),
  },
];
// Properties the wire decoder (policy-pack/wire-decode.ts) handles itself, and those it leaves to
// google-protobuf and the SDK: secrets and assets (the special signature key), `__proto__`, the
// proxy's marker names, deep nesting, strings that are not well-formed.
const SIG = "4dabf18193072939515e22adb298388d";
const secret = (value: unknown) => ({ [SIG]: "1b47061264138c4ac30d75fd1eb44270", value });
const proxyModule = sdkRequire("./proxy.js") as { isSpecialProxy: string };
const deep = (n: number): unknown => (n === 0 ? "bottom" : { d: deep(n - 1) });
const wireResources = [
  thing("w-secret", { x: secret("hidden"), nested: { a: [secret(1), 2] } }),
  thing("w-asset", {
    x: 1,
    file: { [SIG]: "c44067f5952c0a294b673a41bacd8c17", path: "./a.txt" },
  }),
  thing(
    "w-proto",
    JSON.parse('{"x": 1, "o": {"__proto__": {"polluted": true}}}') as Record<string, unknown>,
  ),
  thing("w-marker", { x: 1, o: { [proxyModule.isSpecialProxy]: "marker", y: UNKNOWN } }),
  thing("w-numbers", {
    x: -0,
    list: [0, -0, 1.5, -1e308, 5e-324, Number.MAX_SAFE_INTEGER, 2 ** 60, NaN, Infinity],
  }),
  thing("w-strings", {
    x: "",
    "": "empty key",
    é: "\uFEFFbom é ✓ 😀",
    "10": "ten",
    "2": "two",
    nul: "a\u0000b",
    long: "x".repeat(70_000),
    lists: [[], {}, [[]], [{ a: null }]],
  }),
  thing("w-lone-surrogate", { x: "a\uD800b" }),
  thing("w-deep-63", { x: 1, d: deep(62) }),
  thing("w-deep-70", { x: 1, d: deep(70) }),
  thing("w-unknowns", { x: 1, u: [UNKNOWN, { v: UNKNOWN }] }),
];

const edgeStack = [
  thing("s1", { x: 1 }),
  thing("s2", { x: 2 }, { parent: urn(THING, "s1"), options: opts(urn(THING, "s1")) }),
  thing(
    "s3",
    { x: 3, maybe: UNKNOWN },
    {
      dependencies: [urn(THING, "s1"), urn(THING, "s2")],
      propertyDependencies: { x: [urn(THING, "s2")] },
      provider,
    },
  ),
  thing("s4", { x: 4 }),
];

// Requests as bytes no google-protobuf writer makes but a CLI (Go protobuf) or a corrupted stream
// may send: map entries out of order, a value before its key, unknown fields, a second properties
// field (google-protobuf keeps the last), a tag google-protobuf reads in 32 bits, empty
// properties, keys named like Object.prototype's members, deep lists, a truncated request.
type Bytes = number[];
const vint = (v: number): Bytes => {
  const o: Bytes = [];
  for (; v >= 0x80; v = Math.floor(v / 128)) o.push((v % 128) | 0x80);
  return [...o, v];
};
const field = (tag: number, body: Bytes): Bytes => [tag, ...vint(body.length), ...body];
const text = (tag: number, t: string): Bytes => field(tag, [...Buffer.from(t, "utf8")]);
const num = (v: number): Bytes => [0x11, ...new Uint8Array(new Float64Array([v]).buffer)];
/** A Struct entry: the key, then the Value's bytes (`valueFirst`: the other way round). */
const kv = (k: string, v: Bytes, valueFirst = false): Bytes =>
  field(
    0x0a,
    valueFirst ? [...field(0x12, v), ...text(0x0a, k)] : [...text(0x0a, k), ...field(0x12, v)],
  );
const lists = (n: number): Bytes => (n === 0 ? num(1) : field(0x32, field(0x0a, lists(n - 1))));
/** A request's bytes: those of `r` without properties, then `extra` (fields of the same message). */
const rawBytes = (r: ReturnType<typeof thing>, extra: Bytes, stack = false): Bytes => {
  const m = (stack
    ? (analyzeStackRequest([r]).message as { getResourcesList(): unknown[] }).getResourcesList()[0]
    : analyzeRequest(r)) as unknown as Message & { clearProperties(): void };
  m.clearProperties();
  return [...m.serializeBinary(), ...extra];
};
const rawMessage = (b: Bytes): Message => ({ serializeBinary: () => Uint8Array.from(b) });
const wideTag = (tag: number): Bytes => [(tag & 0x7f) | 0x80, 0x80, 0x80, 0x80, 0x10];
const props2 = [...kv("x", num(2)), ...kv("second", text(0x1a, "yes"))];
const rawCases: [string, Bytes][] = [
  [
    "out of order",
    field(0x12, [
      ...kv("z", num(1)),
      ...kv("x", text(0x1a, "v"), true),
      ...kv("10", [0x20, 1]),
      ...kv("2", [0x08, 0x03]),
      ...kv("a", field(0x2a, [...kv("b", num(-0)), ...kv("a", field(0x32, []), true)])),
    ]),
  ],
  [
    "prototype names",
    field(0x12, [
      ...kv("x", num(1)),
      ...kv("constructor", text(0x1a, "c")),
      ...kv("toString", num(2)),
      ...kv("hasOwnProperty", [0x20, 0]),
      ...kv("valueOf", field(0x2a, kv("__defineGetter__", [0x08, 0]))),
    ]),
  ],
  ["unknown fields", [0xf8, 0x01, 0x05, ...field(0x12, kv("x", num(1))), 0xfa, 0x01, 0x01, 0x61]],
  ["empty properties", [0x12, 0x00]],
  ["properties twice", [...field(0x12, kv("x", num(1))), ...field(0x12, props2)]],
  [
    "a wide properties tag",
    [...field(0x12, kv("x", num(1))), ...wideTag(0x12), ...vint(props2.length), ...props2],
  ],
  ["lists 70 deep", field(0x12, [...kv("x", num(1)), ...kv("l", lists(70))])],
  [
    "an unknown in a list",
    field(0x12, [...kv("x", num(1)), ...kv("l", field(0x32, field(0x0a, text(0x1a, UNKNOWN))))]),
  ],
  ["a key twice", field(0x12, [...kv("x", num(1)), ...kv("x", num(2))])],
  // No properties at all: the SDK's conversion fails the request (beside a resource that has them).
  ["no properties", []],
];

/** The golden-goose policies' pass and fail cases of one stage. */
async function stageCases(stage: string): Promise<void> {
  for (const c of CASES.filter((x) => x.stage === stage)) {
    for (const which of ["pass", "fail"] as const) {
      if (c.kind === "resource") await analyze(toAnalyzer(c[which]), `${c.policy} ${which}`);
      else {
        const stack = c[which];
        await analyzeStack(
          stack.map((r) => toAnalyzer(r, stack)),
          `${c.policy} ${which}`,
        );
      }
    }
  }
}

/** Every request, in order (a function: the bundle is CommonJS, without top-level await). */
async function main(): Promise<void> {
  for (const stage of ["production", "sandbox"]) {
    await configure(stage);
    await stageCases(stage);
    const rs = synthetic(40);
    for (const r of rs) await analyze(r, `${stage} synthetic ${r.name}`);
    await analyzeStack(rs, `${stage} synthetic stack`);
    for (const r of edgeResources) await analyze(r, `${stage} edge ${r.name}`);
    await analyzeStack(edgeStack, `${stage} edge stack`);
    for (const r of wireResources) await analyze(r, `${stage} wire ${r.name}`);
    await analyzeStack([...wireResources, ...edgeStack], `${stage} wire stack`);
    // Several requests in flight at once, as the CLI sends them.
    results.push(
      ...(await Promise.all(
        rs
          .slice(0, 12)
          .map((r) =>
            answer(
              "analyze",
              analyzeRequest(r) as unknown as Message,
              "AnalyzeRequest",
              `${stage} concurrent ${r.name}`,
            ),
          ),
      )),
    );
  }
  await configure("compliance");
  await stageCases("compliance");
  for (const [name, extra] of rawCases) {
    const r = thing(`raw-${name.replace(/ /g, "-")}`, {});
    await call("analyze", rawMessage(rawBytes(r, extra)), "AnalyzeRequest", `raw ${name}`);
    const resource = rawBytes(r, extra, true);
    await call(
      "analyzeStack",
      rawMessage([
        ...field(0x0a, resource),
        ...field(0x0a, rawBytes(thing("raw-plain", {}), field(0x12, kv("x", num(3))), true)),
      ]),
      "AnalyzeStackRequest",
      `raw stack ${name}`,
    );
  }
  // A stack of no resources with an unknown field; a resource tag google-protobuf reads in 32 bits;
  // a truncated request (google-protobuf rejects it).
  await call(
    "analyzeStack",
    rawMessage([0xfa, 0x01, 0x01, 0x61]),
    "AnalyzeStackRequest",
    "raw stack none",
  );
  const one = rawBytes(thing("raw-one", {}), field(0x12, kv("x", num(1))), true);
  await call(
    "analyzeStack",
    rawMessage([...field(0x0a, one), ...wideTag(0x0a), ...vint(one.length), ...one]),
    "AnalyzeStackRequest",
    "raw stack wide resource tag",
  );
  const whole = rawBytes(thing("raw-cut", {}), field(0x12, kv("x", num(1))));
  await call("analyze", rawMessage(whole.slice(0, -3)), "AnalyzeRequest", "raw truncated");
  // A validation that throws fails the request; so do resources without options (an old CLI).
  await analyze({ ...thing("b", {}), type: BOOM, urn: urn(BOOM, "b") }, "throws");
  const noOptions = analyzeRequest(thing("n", { x: 1 }));
  noOptions.clearOptions();
  await call("analyze", noOptions as unknown as Message, "AnalyzeRequest", "no options");
  const stackNoOptions = analyzeStackRequest(edgeStack).message as {
    getResourcesList(): { clearOptions(): void }[];
  } & Message;
  stackNoOptions.getResourcesList()[1]!.clearOptions();
  await call("analyzeStack", stackNoOptions, "AnalyzeStackRequest", "stack no options");
  writeFileSync(
    out,
    JSON.stringify({
      patched: String(h["analyze"]).includes("gooseRequest"),
      typedCalls,
      wireDecoded,
      sdkDecoded,
      results,
    }),
  );
}

void main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

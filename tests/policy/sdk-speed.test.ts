/**
 * policy-pack/sdk-speed.ts (issue 18: the analyzer): every policy of one Analyze or AnalyzeStack
 * request reads one conversion of each resource, through the SDK's own functions. These tests fail
 * when an @pulumi/policy upgrade stops matching (the speed-up would silently vanish), and check the
 * memoized functions return what the SDK's return. That the pack's results are unchanged is
 * tests/policy-pack/grpc.test.ts (the real pack over gRPC).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { childScriptJson } from "./child-script.js";
import { notApplicable } from "../../policy-pack/policies/util.js";
import {
  ANALYZER_PB,
  DIAGNOSTIC_ENCODER_TEXT,
  RESPONSE_ENCODER_TEXT,
  SDK_FILES,
} from "../../policy-pack/sdk-speed.js";

const REPO = path.resolve(import.meta.dirname, "../..");
const requireHere = createRequire(path.join(REPO, "policy-pack", "index.ts"));

/** The source of one function of server.js, from its declaration to its export line. */
function handler(server: string, name: string): string {
  const start = server.indexOf(`function ${name}(`);
  const end = server.indexOf(`exports.${name} = ${name};`, start);
  expect(start, `${name} in ${SDK_FILES.server}`).toBeGreaterThan(-1);
  expect(end, `${name} in ${SDK_FILES.server}`).toBeGreaterThan(start);
  return server.slice(start, end);
}

describe("shared deserialization in the policy pack", () => {
  it("the SDK's Analyze and AnalyzeStack handlers reach both functions through their modules' exports", () => {
    const server = readFileSync(requireHere.resolve(SDK_FILES.server), "utf8");
    for (const name of ["makeAnalyzeRpcFun", "makeAnalyzeStackRpcFun"]) {
      const body = handler(server, name);
      // If these change (an SDK upgrade), replacing the exports no longer reaches the handler:
      // re-check policy-pack/sdk-speed.ts against the new server.js.
      expect(body).toContain("deserialize_1.deserializeProperties(");
      expect(body).toContain("proxy_1.unknownCheckingProxy(deserd)");
    }
  });

  it("installs in a fresh process, and the memoized functions return what the SDK's do", () => {
    // A child process: the replaced exports would otherwise stay in this worker's require cache.
    const script = `
      const { shareDeserialization } = require(${JSON.stringify(path.join(REPO, "policy-pack/sdk-speed.ts"))});
      const d = require("@pulumi/policy/deserialize.js");
      const px = require("@pulumi/policy/proxy.js");
      const { Struct } = require("google-protobuf/google/protobuf/struct_pb.js");
      const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
      const input = { a: { b: [1, "x", null, true] }, u: UNKNOWN, n: 2.5 };
      const s1 = Struct.fromJavaScript(input);
      const s2 = Struct.fromJavaScript(input);
      const sdkResult = JSON.stringify(d.deserializeProperties(s1, false));
      const installed = shareDeserialization();
      const again = shareDeserialization();
      const one = d.deserializeProperties(s1, false);
      const p1 = px.unknownCheckingProxy(one);
      let unknownThrows = false;
      try { p1.u; } catch (e) { unknownThrows = e instanceof px.UnknownValueError; }
      // A conversion without unknowns is handed out as it is (its proxy could never throw); one
      // with an unknown at any depth, or a key named like a proxy marker, keeps its proxy, and so
      // does an object that no memoized conversion returned.
      const clean = d.deserializeProperties(Struct.fromJavaScript({ a: { b: [1, "x", null, true, { c: [] }] }, n: 2.5 }), false);
      const deep = d.deserializeProperties(Struct.fromJavaScript({ a: { b: [1, { c: [UNKNOWN] }] } }), false);
      const marker = d.deserializeProperties(Struct.fromJavaScript({ a: 1, __isSpecialProxy: "x" }), false);
      const pDeep = px.unknownCheckingProxy(deep);
      let deepThrows = false;
      try { pDeep.a.b[1].c[0]; } catch (e) { deepThrows = e instanceof px.UnknownValueError && e.message.includes(".a.b.1.c.0"); }
      const plain = { a: 1 };
      console.log(JSON.stringify({
        installed,
        again,
        sameValue: JSON.stringify(one) === sdkResult,
        memoized: d.deserializeProperties(s1, false) === one,
        perStruct: d.deserializeProperties(s2, false) !== one,
        secretsNotMemoized: d.deserializeProperties(s1, true) !== d.deserializeProperties(s1, true),
        proxyMemoized: px.unknownCheckingProxy(one) === p1,
        proxyReads: p1.a.b[1] === "x" && p1.n === 2.5,
        unknownThrows,
        cleanAsIs: px.unknownCheckingProxy(clean) === clean,
        deepProxied: pDeep !== deep && pDeep.__isSpecialProxy === true && deepThrows,
        markerProxied: px.unknownCheckingProxy(marker).__isSpecialProxy === true,
        plainProxied: px.unknownCheckingProxy(plain).__isSpecialProxy === true,
      }));
    `;
    expect(childScriptJson(script)).toEqual({
      installed: { deserialize: true, proxy: true },
      again: { deserialize: true, proxy: true },
      sameValue: true,
      memoized: true,
      perStruct: true,
      secretsNotMemoized: true,
      proxyMemoized: true,
      proxyReads: true,
      unknownThrows: true,
      cleanAsIs: true,
      deepProxied: true,
      markerProxied: true,
      plainProxied: true,
    });
  }, 30_000);

  it("the direct Struct conversion returns the SDK's objects, key order and prototypes included", () => {
    // A child process: the replaced exports would otherwise stay in this worker's require cache.
    const script = `
      const util = require("node:util");
      const speed = require(${JSON.stringify(path.join(REPO, "policy-pack/sdk-speed.ts"))});
      const { synthetic } = require(${JSON.stringify(path.join(REPO, "bench/preview/synthetic.ts"))});
      const d = require("@pulumi/policy/deserialize.js");
      const px = require("@pulumi/policy/proxy.js");
      const { createRequire } = require("node:module");
      // The google-protobuf the SDK's requests are decoded with (3.x, minified), or the newest (one
      // per process: two copies' struct_pb.js share one global namespace).
      const from = process.env.STRUCT_FROM === "sdk" ? require.resolve("@pulumi/pulumi/proto/analyzer_pb") : ${JSON.stringify(path.join(REPO, "package.json"))};
      const structs = [createRequire(from)("google-protobuf/google/protobuf/struct_pb.js").Struct];
      const version = createRequire(from)("google-protobuf/package.json").version;
      const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
      const SIG = "4dabf18193072939515e22adb298388d";
      const direct = [
        ...synthetic(8).map((r) => r.properties),
        { "10": 1, "2": 2, b: 3, B: 4, "é": 5, "": 6, "-1": 7, "01": 8, a: { z: 1, y: [2, { x: 3 }] } },
        { n: [0, -0, 1.5, -2e300, 5e-324, NaN, Infinity, -Infinity], s: ["", "✓🦆", "x".repeat(300)] },
        { t: true, f: false, z: null, e: [], o: {}, ee: [[], [[]], {}], deep: { a: { b: { c: { d: [null] } } } } },
        { u: UNKNOWN, v: 1 },
        { a: [1, { b: UNKNOWN }] },
        { __isSpecialProxy: 1 },
        { a: { __getSpecialProxyTarget: "x" } },
        // A "__proto__" key never reaches a decoded map's own entries: neither conversion has it.
        JSON.parse('{"__proto__": {"a": 1}, "b": 2}'),
      ];
      const fallback = [
        { a: { [SIG]: "1b47061264138c4ac30d75fd1eb44270", value: "s3cr3t" } },
        { f: { [SIG]: "c44067f5952c0a294b673a41bacd8c17", text: "hello" } },
        { [SIG]: "unknown-signature" },
        { a: { [SIG]: "unknown-signature" } },
      ];
      const same = (x, y) => util.isDeepStrictEqual(x, y) && JSON.stringify(x) === JSON.stringify(y) &&
        JSON.stringify(Object.keys(x)) === JSON.stringify(Object.keys(y));
      const sdk = (s) => { try { return d.deserializeProperties(s, false); } catch (e) { return "throws " + e.message; } };
      const all = [...direct, ...fallback];
      const pairs = structs.map((Struct) => (input) => {
        const bytes = Struct.fromJavaScript(input).serializeBinary();
        return [Struct.deserializeBinary(bytes), Struct.deserializeBinary(bytes), Struct.fromJavaScript(input)];
      });
      const results = pairs.map((pair) => ({
        directResults: direct.map((input) => {
          const [a, b, c] = pair(input);
          const want = sdk(a);
          const got = speed.convertStructDirectly(b);
          const built = speed.convertStructDirectly(c);
          return got !== undefined && built !== undefined && same(got.value, want) && same(built.value, want) &&
            got.known === built.known ? (got.known ? "known" : "unknown") : "differs";
        }),
        fallbackResults: fallback.map((input) => speed.convertStructDirectly(pair(input)[0]) === undefined),
      }));
      // Installed: the memoized deserializeProperties returns the same objects as the SDK's, and
      // the proxy is skipped exactly for the known ones.
      const wants = pairs.map((pair) => all.map((input) => sdk(pair(input)[0])));
      speed.shareDeserialization();
      pairs.forEach((pair, p) => {
        results[p].installed = all.map((input, i) => {
          const got = sdk(pair(input)[0]);
          if (typeof got === "string") return got === wants[p][i] ? "same error" : got;
          if (!same(got, wants[p][i])) return "differs";
          return px.unknownCheckingProxy(got) === got ? "as is" : "proxied";
        });
      });
      console.log(JSON.stringify({ version, results }));
    `;
    const versions: string[] = [];
    for (const from of ["sdk", "newest"]) {
      const out = childScriptJson(script, { ...process.env, STRUCT_FROM: from }) as {
        version: string;
        results: unknown[];
      };
      versions.push(out.version);
      expect(out.results).toHaveLength(1);
      for (const result of out.results)
        expect(result).toEqual({
          directResults: [
            ...Array<string>(8).fill("known"),
            "known",
            "known",
            "known",
            "unknown",
            "unknown",
            "unknown",
            "unknown",
            "known",
          ],
          fallbackResults: [true, true, true, true],
          installed: [
            ...Array<string>(11).fill("as is"),
            ...Array<string>(4).fill("proxied"),
            "as is", // no "__proto__" key
            "as is", // a secret: its plain value
            "proxied", // an asset object
            "as is", // the signature key at the top level is an ordinary key to the SDK
            "same error", // an unknown signature
          ],
        });
    }
    // The SDK's copy (the minified 3.x) and a second one, whose field names differ.
    expect(new Set(versions).size, versions.join()).toBe(2);
  }, 30_000);

  it("notApplicable throws the SDK's error without a stack trace and restores the limit", () => {
    const before = Error.stackTraceLimit;
    let limitInside: number | undefined;
    const args = {
      notApplicable: (reason?: string): never => {
        limitInside = Error.stackTraceLimit;
        throw new Error(`not applicable: ${reason}`);
      },
    };
    expect(() => notApplicable(args, "not a workload")).toThrow("not applicable: not a workload");
    expect(limitInside).toBe(0);
    expect(Error.stackTraceLimit).toBe(before);
  });
  it("notApplicable rethrows the first error per notApplicable function and reason", () => {
    let built = 0;
    class Na extends Error {
      constructor(readonly reason: string) {
        super(reason);
        built++;
      }
    }
    const sdkLike = {
      notApplicable: (reason?: string): never => {
        throw new Na(reason ?? "");
      },
    };
    const other = {
      notApplicable: (reason?: string): never => {
        throw new Na(reason ?? "");
      },
    };
    const caught = (args: typeof sdkLike, reason: string): unknown => {
      try {
        return notApplicable(args, reason);
      } catch (e) {
        return e;
      }
    };
    const first = caught(sdkLike, "not a workload");
    expect(first).toBeInstanceOf(Na);
    expect((first as Na).reason).toBe("not a workload");
    expect(caught(sdkLike, "not a workload")).toBe(first);
    const second = caught(sdkLike, "no Prometheus");
    expect(second).not.toBe(first);
    expect((second as Na).reason).toBe("no Prometheus");
    expect(caught(sdkLike, "no Prometheus")).toBe(second);
    // Another function (a test harness, another SDK copy) gets its own error.
    const others = caught(other, "not a workload");
    expect(others).not.toBe(first);
    expect(others).toBeInstanceOf(Na);
    expect(built).toBe(3);
  });

  it("the SDK's handlers only test a not-applicable error's class and read its reason", () => {
    // What makes rethrowing one error per reason report the same as a new error each time.
    const server = readFileSync(requireHere.resolve(SDK_FILES.server), "utf8");
    expect(server).toMatch(
      /function throwNotApplicable\(reason\) \{\s*throw new NotApplicableError\(reason\);\s*\}/,
    );
    for (const name of ["makeAnalyzeRpcFun", "makeAnalyzeStackRpcFun"]) {
      const text = handler(server, name);
      expect(text, name).toContain("notApplicable: throwNotApplicable");
      expect(text, name).toMatch(
        /else if \(e instanceof NotApplicableError\) \{\s*notApplicable = pushNotApplicable\(notApplicable, p\.name, e\.reason\);\s*\}/,
      );
      // Nothing else in the handler touches the caught error's fields.
      expect(
        text.match(/\be\.\w+/g)?.filter((m) => m !== "e.reason" && m !== "e.message"),
        name,
      ).toEqual([]);
    }
  });
  it("the generated not-applicable encoder reads only the two strings, through the class at each call", () => {
    const sdkRequire = createRequire(requireHere.resolve(SDK_FILES.server));
    const text = readFileSync(sdkRequire.resolve(ANALYZER_PB), "utf8");
    const start = text.indexOf(
      "proto.pulumirpc.PolicyNotApplicable.serializeBinaryToWriter = function(",
    );
    expect(start, `${ANALYZER_PB}: PolicyNotApplicable.serializeBinaryToWriter`).toBeGreaterThan(
      -1,
    );
    const body = text.slice(start, text.indexOf("\n};", start));
    // If these change (an SDK upgrade), re-check shareNotApplicableEncoding in policy-pack/sdk-speed.ts.
    expect(body.match(/message\.\w+/g)).toEqual(["message.getPolicyName", "message.getReason"]);
    expect(text).toMatch(
      /writer\.writeRepeatedMessage\(\s*3,\s*f,\s*proto\.pulumirpc\.PolicyNotApplicable\.serializeBinaryToWriter\s*\)/,
    );
  });

  it("responses encode to the SDK's bytes with the not-applicable pairs encoded once", () => {
    // A child process: the replaced encoder would otherwise stay in this worker's require cache.
    const script = `
      const { createRequire } = require("node:module");
      const { shareNotApplicableEncoding } = require(${JSON.stringify(path.join(REPO, "policy-pack/sdk-speed.ts"))});
      const sdkRequire = createRequire(require.resolve("@pulumi/policy/server.js"));
      const pb = sdkRequire("@pulumi/pulumi/proto/analyzer_pb");
      const { makeAnalyzeResponse } = sdkRequire("./protoutil.js");
      const na = (list) => list.map(({ policyName, reason }) => {
        const m = new pb.PolicyNotApplicable();
        m.setPolicyName(policyName);
        if (reason) m.setReason(reason);
        return m;
      });
      const responses = [
        makeAnalyzeResponse([], na([
          { policyName: "k8s-probes", reason: "Policy only applies to workloads (Deployment, StatefulSet)" },
          { policyName: "kms-key-rotation", reason: "Policy only applies to resources of type 'aws:kms/key:Key'" },
          { policyName: "ünïcode-✓", reason: "" },
          { policyName: "", reason: "no name" },
        ])),
        makeAnalyzeResponse([{ policyName: "k8s-image-pinned", policyPackName: "golden-goose",
          policyPackVersion: "0.1.0", description: "d", message: "m", enforcementLevel: "mandatory",
          urn: "urn:pulumi:s::p::t::n", severity: "high" }],
          na([{ policyName: "k8s-probes", reason: "Policy only applies to workloads (Deployment, StatefulSet)" }])),
        makeAnalyzeResponse([], undefined),
      ];
      const sdk = responses.map((r) => Buffer.from(r.serializeBinary()).toString("hex"));
      const installed = shareNotApplicableEncoding();
      const again = shareNotApplicableEncoding();
      const first = responses.map((r) => Buffer.from(r.serializeBinary()).toString("hex"));
      const second = responses.map((r) => Buffer.from(r.serializeBinary()).toString("hex"));
      const decoded = pb.AnalyzeResponse.deserializeBinary(Buffer.from(second[0], "hex"))
        .getNotApplicableList().map((n) => [n.getPolicyName(), n.getReason()]);
      console.log(JSON.stringify({ installed, again, first: first.join() === sdk.join(),
        second: second.join() === sdk.join(), decoded }));
    `;
    expect(childScriptJson(script)).toEqual({
      installed: true,
      again: true,
      first: true,
      second: true,
      decoded: [
        ["k8s-probes", "Policy only applies to workloads (Deployment, StatefulSet)"],
        ["kms-key-rotation", "Policy only applies to resources of type 'aws:kms/key:Key'"],
        ["ünïcode-✓", ""],
        ["", "no name"],
      ],
    });
  }, 30_000);

  it("the generated response and diagnostic encoders read as shareResponseEncoding expects", () => {
    // If these change (an SDK upgrade), shareResponseEncoding is not installed: re-check it in
    // policy-pack/sdk-speed.ts (fields 1-4 first, diagnostics before the not-applicable list).
    const pb = createRequire(requireHere.resolve(SDK_FILES.server))(ANALYZER_PB) as Record<
      string,
      { serializeBinaryToWriter: unknown }
    >;
    const text = (f: unknown) => String(f).replace(/\s+/g, " ").trim();
    expect(text(pb.AnalyzeResponse!.serializeBinaryToWriter)).toBe(RESPONSE_ENCODER_TEXT);
    expect(text(pb.AnalyzeDiagnostic!.serializeBinaryToWriter)).toBe(DIAGNOSTIC_ENCODER_TEXT);
  });

  it("responses encode to the SDK's bytes with whole lists and diagnostic heads encoded once", () => {
    // A child process: the replaced encoders would otherwise stay in this worker's require cache.
    const script = `
      const { createRequire } = require("node:module");
      const speed = require(${JSON.stringify(path.join(REPO, "policy-pack/sdk-speed.ts"))});
      const sdkRequire = createRequire(require.resolve("@pulumi/policy/server.js"));
      const pb = sdkRequire("@pulumi/pulumi/proto/analyzer_pb");
      const { makeAnalyzeResponse } = sdkRequire("./protoutil.js");
      const na = (list) => list.map(([policyName, reason]) => {
        const m = new pb.PolicyNotApplicable();
        m.setPolicyName(policyName);
        if (reason) m.setReason(reason);
        return m;
      });
      const A = ["k8s-probes", "Policy only applies to workloads (Deployment, StatefulSet)"];
      const B = ["kms-key-rotation", "Policy only applies to resources of type 'aws:kms/key:Key'"];
      const C = ["ünïcode-✓", ""];
      const D = ["", "no name"];
      const diag = (policyName, description, message, extra = {}) => ({ policyName,
        policyPackName: "golden-goose", policyPackVersion: "0.1.0", description, message,
        enforcementLevel: "mandatory", ...extra });
      const lists = [[A, B, C, D], [A, B, C, D], [A, B, C], [A, B, C, D, A], [B, A], [A], [D], []];
      const diagnostics = [
        [],
        [diag("k8s-image-pinned", "Images are pinned.", "m1", { urn: "urn:pulumi:s::p::t::n", severity: "high" })],
        [diag("k8s-image-pinned", "Images are pinned.", "m2"), diag("k8s-image-pinned", "Images are pinned.", "m2")],
        [diag("k8s-image-pinned", "Another description, long enough for the native path ✓", "")],
        [diag("", "", "only a message", { enforcementLevel: "advisory", severity: "low" })],
        [diag("p", "d", "🦆 ".repeat(30), { policyPackName: "other", policyPackVersion: "" })],
        [diag("lone", "lone \ud800 surrogate in a description long enough for the native path", "x")],
        [diag("k8s-image-pinned", "Images are pinned.", "lone \udc00 in a message long enough for the native path", { urn: "urn:ü" }),
          diag("k8s-image-pinned", "Images are pinned.", "ok", { urn: "urn:pulumi:s::p::t::\ud83e" })],
        [diag("big", "A long message (three-byte lengths).", "é✓🦆 ".repeat(3000), { urn: "urn:" + "ü".repeat(100), severity: "critical" }),
          diag("big", "A long message (three-byte lengths).", "x".repeat(127), { urn: "y".repeat(128), enforcementLevel: "disabled" })],
      ];
      const responses = [];
      for (const l of lists) for (const d of diagnostics) responses.push(makeAnalyzeResponse(d, na(l)));
      responses.push(makeAnalyzeResponse([], undefined));
      const hex = () => responses.map((r) => Buffer.from(r.serializeBinary()).toString("hex"));
      const sdk = hex();
      const alone = speed.shareResponseEncoding();
      const first = hex();
      speed.installSdkSpeedups();
      const again = speed.shareResponseEncoding();
      const second = hex();
      const third = hex();
      console.log(JSON.stringify({ alone, again, count: sdk.length,
        first: first.filter((h, i) => h !== sdk[i]).length,
        second: second.filter((h, i) => h !== sdk[i]).length,
        third: third.filter((h, i) => h !== sdk[i]).length }));
    `;
    expect(childScriptJson(script)).toEqual({
      alone: true,
      again: true,
      count: 73,
      first: 0,
      second: 0,
      third: 0,
    });
  }, 30_000);

  it("strings encode to the SDK's bytes: long, short, non-ASCII, emoji, lone surrogates", () => {
    // A child process: the replaced writer would otherwise stay in this worker's require cache.
    const script = `
      const { createRequire } = require("node:module");
      const { shareStringEncoding } = require(${JSON.stringify(path.join(REPO, "policy-pack/sdk-speed.ts"))});
      const sdkRequire = createRequire(require.resolve("@pulumi/policy/server.js"));
      const pb = sdkRequire("@pulumi/pulumi/proto/analyzer_pb");
      const long = "Kubernetes objects carry the ownership, cost and compliance labels.\\n";
      const strings = ["", "golden-goose", long, long.repeat(40), "ünïcödé ✓ ".repeat(8),
        "emoji 🦆🪿 in a long enough message to take the native path",
        "lone high \\ud800 surrogate in a long enough message to take the native path",
        "lone low \\udc00 surrogate in a long enough message to take the native path",
        "high at the end of a long enough message to take the native path \\ud83e",
        "x".repeat(31), "x".repeat(32), "é".repeat(40)];
      const messages = strings.map((s, i) => {
        const d = new pb.AnalyzeDiagnostic();
        d.setPolicyname(s); d.setDescription(s + i); d.setMessage(long + s); d.setUrn("urn:" + s);
        d.setEnforcementlevel(1);
        const r = new pb.AnalyzeResponse();
        r.setDiagnosticsList([d, d]);
        return r;
      });
      const hex = () => messages.map((m) => Buffer.from(m.serializeBinary()).toString("hex"));
      const sdk = hex();
      const installed = shareStringEncoding();
      const again = shareStringEncoding();
      const after = hex();
      const decoded = pb.AnalyzeResponse.deserializeBinary(Buffer.from(after[3], "hex"))
        .getDiagnosticsList()[0].getPolicyname() === strings[3];
      console.log(JSON.stringify({ installed, again, same: after.map((h, i) => h === sdk[i]), decoded }));
    `;
    const out = childScriptJson(script) as { installed: boolean; same: boolean[] };
    expect(out).toEqual({
      installed: true,
      again: true,
      same: out.same.map(() => true),
      decoded: true,
    });
    expect(out.same).toHaveLength(12);
  }, 30_000);
});

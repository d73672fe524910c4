/**
 * The Analyzer client against real policy packs: each pack is compiled by the engine's build and
 * started with @pulumi/pulumi/cmd/run-policy-pack as a child process, spoken to over gRPC. One
 * probe pack serves the whole "protocol" block; every failure mode starts its own broken pack.
 */
import { createRequire } from "node:module";
import type * as AnalyzerPb from "@pulumi/pulumi/proto/analyzer_pb.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  decodeDiagnosticsOnly,
  emptyOptions,
  packEnv,
  PolicyPackProcess,
  type AnalyzerResourceInput,
} from "../../src/policy/analyzer.js";
import { PolicyPackError } from "../../src/policy/errors.js";
import { ensurePolicyPackBuilt } from "../../src/policy/pack-build.js";
import { resolvePolicyPackConfig } from "../../src/policy/policy-config.js";
import { runPolicies, type PolicyResource } from "../../src/policy/policy-run.js";
import { makePack, PROBE_PACK, removePacks } from "../engine/packs.js";
import { exitCodeOf } from "../../src/cli/errors.js";

const SECRET = { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270" };

function resource(
  name: string,
  props: Record<string, unknown>,
  extra: Partial<AnalyzerResourceInput> = {},
): AnalyzerResourceInput {
  return {
    urn: `urn:pulumi:sandbox::golden-goose::aws:s3/bucket:Bucket::${name}`,
    type: "aws:s3/bucket:Bucket",
    name,
    properties: props,
    options: emptyOptions(),
    dependencies: [],
    propertyDependencies: {},
    ...extra,
  };
}

afterAll(() => removePacks());

describe("Analyzer protocol against a running pack", () => {
  let pack: PolicyPackProcess;
  beforeAll(async () => {
    const dir = makePack("probe", PROBE_PACK);
    await ensurePolicyPackBuilt(dir);
    pack = await PolicyPackProcess.start(dir, {
      env: packEnv(process.env, {
        project: "golden-goose",
        stack: "compliance",
        dryRun: true,
        config: { "golden-goose:stage": "compliance" },
        secretKeys: [],
      }),
    });
  });
  afterAll(async () => pack?.close());

  it("GetAnalyzerInfo lists the policies with levels and config schemas", async () => {
    const info = await pack.getAnalyzerInfo();
    expect(info.name).toBe("probe");
    expect(info.version).toBe("1.2.3");
    expect(info.policies.map((p) => [p.name, p.enforcementLevel])).toEqual([
      ["probe-resource", "advisory"],
      ["no-public", "mandatory"],
      ["probe-stack", "advisory"],
    ]);
    expect(info.policies[0]!.configSchema?.properties).toEqual({
      min: { type: "number", default: 2 },
      label: { type: "string" },
    });
    // Asked once per pack process (attach asks it at once): every later call gets that answer.
    expect(await pack.getAnalyzerInfo()).toBe(info);
  });

  it("Configure delivers resolved config; Analyze carries options, provider and secrets", async () => {
    const info = await pack.getAnalyzerInfo();
    await pack.configureStack("compliance", "golden-goose", true);
    await pack.configure(
      resolvePolicyPackConfig(info, { all: "mandatory", "probe-resource": { label: "x" } }),
    );
    const opts = emptyOptions("urn:pulumi:compliance::golden-goose::goldengoose:backup:Backup::b");
    opts.protect = true;
    opts.ignoreChanges = ["tags"];
    opts.additionalSecretOutputs = ["password"];
    opts.customTimeouts = { create: 600, update: 0, delete: 30 };
    opts.deleteBeforeReplace = true;
    const [d] = await pack.analyze(
      resource(
        "probe-me",
        { probe: true, password: { ...SECRET, value: "hunter2" }, nested: { list: [1, "a"] } },
        {
          options: opts,
          provider: {
            urn: "urn:pulumi:compliance::golden-goose::pulumi:providers:aws::default_7_48_0",
            type: "pulumi:providers:aws",
            name: "default_7_48_0",
            properties: { region: "eu-west-1", version: "7.48.0" },
          },
        },
      ),
    );
    expect(d).toBeDefined();
    expect(d!.policyName).toBe("probe-resource");
    expect(d!.enforcementLevel).toBe("mandatory");
    const seen = JSON.parse(d!.message.split("\n").slice(1).join("\n"));
    expect(seen.props).toEqual({ probe: true, password: "hunter2", nested: { list: [1, "a"] } });
    expect(seen.opts).toEqual({
      protect: true,
      ignoreChanges: ["tags"],
      aliases: [],
      customTimeouts: { createSeconds: 600, updateSeconds: 0, deleteSeconds: 30 },
      additionalSecretOutputs: ["password"],
      deleteBeforeReplace: true,
      parent: "urn:pulumi:compliance::golden-goose::goldengoose:backup:Backup::b",
    });
    expect(seen.provider).toEqual({
      type: "pulumi:providers:aws",
      name: "default_7_48_0",
      props: { region: "eu-west-1", version: "7.48.0" },
    });
    expect(seen.config).toEqual({ min: 2, label: "x" });
    expect([seen.stack, seen.project, seen.dryRun]).toEqual(["compliance", "golden-goose", true]);
  });

  it("reports a failing resource and passes a good one", async () => {
    const [bad, good] = await pack.analyzeAll([
      resource("open", { acl: "public-read" }),
      resource("closed", { acl: "private" }),
    ]);
    expect(bad).toHaveLength(1);
    expect(bad![0]).toMatchObject({
      policyName: "no-public",
      policyPackName: "probe",
      policyPackVersion: "1.2.3",
      message: "Buckets must not be public.\nacl is public-read; set acl to private",
    });
    expect(good).toEqual([]);
  });

  it("AnalyzeStack resolves parents, dependencies and property dependencies", async () => {
    const parent = resource("parent", {});
    const child = resource(
      "child",
      { probeStack: true },
      {
        parent: parent.urn,
        dependencies: [parent.urn],
        propertyDependencies: { bucket: [parent.urn] },
      },
    );
    const [d] = await pack.analyzeStack([parent, child]);
    const seen = JSON.parse(d!.message.split("\n").slice(1).join("\n"));
    expect(seen[1]).toMatchObject({
      urn: child.urn,
      parent: parent.urn,
      dependencies: [parent.urn],
      propertyDependencies: { bucket: [parent.urn] },
    });
    expect(seen[0].parent).toBeNull();
  });
});

describe("policy run (runPolicies)", () => {
  it("maps diagnostics to violations with the resource's URN and the stripped message", async () => {
    const dir = makePack("probe2", PROBE_PACK);
    const r: PolicyResource = {
      urn: "urn:pulumi:sandbox::golden-goose::aws:s3/bucket:Bucket::open",
      type: "aws:s3/bucket:Bucket",
      name: "open",
      custom: true,
      id: "open-id",
      parent: "",
      provider: "",
      dependencies: [],
      propertyDependencies: {},
      inputs: { acl: "public-read" },
      outputs: { acl: "public-read" },
      protect: false,
      ignoreChanges: [],
      additionalSecretOutputs: [],
      aliases: [],
      customTimeouts: { create: 0, update: 0, delete: 0 },
    };
    const violations = await runPolicies([r], {
      packDir: dir,
      project: "golden-goose",
      stack: "sandbox",
      dryRun: true,
    });
    expect(violations).toEqual([
      {
        policy: "no-public",
        pack: "probe@v1.2.3",
        enforcementLevel: "mandatory",
        urn: r.urn,
        message: "acl is public-read; set acl to private",
      },
    ]);
  });
});

describe("fail closed", () => {
  const start = async (
    name: string,
    src: string,
    rpcTimeoutMs = 30_000,
    startTimeoutMs = 60_000,
  ) => {
    const dir = makePack(name, src);
    await ensurePolicyPackBuilt(dir);
    return PolicyPackProcess.start(dir, { startTimeoutMs, rpcTimeoutMs });
  };

  it("a pack that crashes while loading: the error carries its own message", async () => {
    const err = await start(
      "crash-load",
      `throw new Error("rules file corrupt: cannot load the storage rules");`,
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PolicyPackError);
    expect((err as Error).message).toMatch(/failed to start/);
    expect((err as Error).message).toContain("rules file corrupt: cannot load the storage rules");
  });

  it("a pack that dies during Analyze", async () => {
    const pack = await start(
      "crash-analyze",
      `import { PolicyPack } from "@pulumi/policy";
new PolicyPack("crashy", { policies: [{ name: "die", description: "d", validateResource: () => {
  console.error("fatal: the die policy lost its state"); process.exit(7); } }] });`,
    );
    try {
      const err = await pack.analyze(resource("x", {})).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PolicyPackError);
      expect((err as Error).message).toContain("fatal: the die policy lost its state");
      expect(exitCodeOf(err)).toBe(2);
    } finally {
      await pack.close();
    }
  });

  it("a policy that throws: the RPC error names the policy and the cause", async () => {
    const pack = await start(
      "throws",
      `import { PolicyPack } from "@pulumi/policy";
new PolicyPack("thrower", { policies: [{ name: "buggy", description: "d", validateResource: () => {
  throw new Error("cannot read property 'versioning' of undefined"); } }] });`,
    );
    try {
      const err = await pack.analyze(resource("x", {})).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PolicyPackError);
      expect((err as Error).message).toContain("buggy");
      expect((err as Error).message).toContain("cannot read property 'versioning' of undefined");
    } finally {
      await pack.close();
    }
  });

  it("a pack that hangs in Analyze is killed after the timeout", async () => {
    const pack = await start(
      "hang-analyze",
      `import { PolicyPack } from "@pulumi/policy";
new PolicyPack("hangs", { policies: [{ name: "forever", description: "d",
  validateResource: () => new Promise<void>(() => undefined) }] });`,
      1500,
    );
    try {
      const err = await pack.analyze(resource("x", {})).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PolicyPackError);
      expect((err as Error).message).toMatch(/did not answer Analyze\(.*\) within 1\.5 s/);
    } finally {
      await pack.close();
    }
  });

  it("a pack that never starts serving is killed after the start timeout", async () => {
    const err = await start("hang-start", `setInterval(() => undefined, 1000);`, 2000, 2000).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PolicyPackError);
    expect((err as Error).message).toMatch(/did not start within 2 s/);
  });
});

describe("responses decoded with their diagnostics only", () => {
  it("the diagnostics are the generated decoder's, the not-applicable list is skipped", () => {
    const requireFromPulumi = createRequire(
      createRequire(import.meta.url).resolve("@pulumi/pulumi"),
    );
    const pb = requireFromPulumi("./proto/analyzer_pb") as typeof AnalyzerPb;
    const resp = new pb.AnalyzeResponse();
    for (const [i, level] of [0, 1, 0].entries()) {
      const d = new pb.AnalyzeDiagnostic();
      d.setPolicyname(`policy-${i}`);
      d.setPolicypackname("golden-goose");
      d.setPolicypackversion("0.1.0");
      d.setDescription("Every container declares CPU and memory requests and limits. ✓");
      d.setMessage(`message ${i} ünïcode 🦆`.repeat(i + 1));
      d.setUrn(i === 1 ? "" : `urn:pulumi:s::p::t::r${i}`);
      d.setEnforcementlevel(level as AnalyzerPb.EnforcementLevel);
      d.setSeverity(2 as AnalyzerPb.PolicySeverity);
      resp.addDiagnostics(d);
      const na = new pb.PolicyNotApplicable();
      na.setPolicyName(`na-${i}`);
      na.setReason("Policy only applies to workloads");
      resp.addNotApplicable(na);
    }
    const bytes = resp.serializeBinary();
    const full = pb.AnalyzeResponse.deserializeBinary(bytes);
    const ours = decodeDiagnosticsOnly(bytes);
    expect(full.getNotApplicableList()).toHaveLength(3);
    expect(ours.getNotApplicableList()).toEqual([]);
    expect(ours.getDiagnosticsList().map((d) => d.toObject())).toEqual(
      full.getDiagnosticsList().map((d) => d.toObject()),
    );
    expect(ours.getDiagnosticsList()).toHaveLength(3);
    expect(decodeDiagnosticsOnly(new pb.AnalyzeResponse().serializeBinary()).toObject()).toEqual(
      new pb.AnalyzeResponse().toObject(),
    );
  });

  it("strings as the generated decoder reads them: BOM, emoji, bytes that are not UTF-8, unknown fields", () => {
    const requireFromPulumi = createRequire(
      createRequire(import.meta.url).resolve("@pulumi/pulumi"),
    );
    const pb = requireFromPulumi("./proto/analyzer_pb") as typeof AnalyzerPb;
    const jspb = requireFromPulumi("google-protobuf") as {
      BinaryWriter: new () => {
        writeString(f: number, v: string): void;
        writeBytes(f: number, v: Uint8Array): void;
        writeEnum(f: number, v: number): void;
        writeUint32(f: number, v: number): void;
        getResultBuffer(): Uint8Array;
      };
    };
    const diagnostic = (write: (w: InstanceType<typeof jspb.BinaryWriter>) => void) => {
      const w = new jspb.BinaryWriter();
      write(w);
      return w.getResultBuffer();
    };
    const resp = new jspb.BinaryWriter();
    const diagnostics = [
      diagnostic((w) => {
        w.writeString(1, "\uFEFFbom-first");
        w.writeString(5, "emoji 🦆 and ünïcode, long enough to matter ✓");
        w.writeEnum(7, 1);
        w.writeString(8, "urn:pulumi:s::p::t::r");
        w.writeEnum(9, 3);
      }),
      diagnostic((w) => {
        w.writeString(1, "not-utf8");
        // Not UTF-8: a stray continuation byte, encoded surrogates (what google-protobuf's
        // encoder writes for a lone low surrogate).
        w.writeBytes(5, Uint8Array.from([0x61, 0x80, 0xed, 0xa0, 0x80, 0x62]));
        w.writeBytes(4, Uint8Array.from([0xed, 0xb0, 0x80]));
        w.writeString(6, "an unknown field");
        w.writeUint32(20, 7);
        w.writeString(2, "golden-goose");
      }),
    ];
    for (const d of diagnostics) resp.writeBytes(2, d);
    const bytes = resp.getResultBuffer();
    const full = pb.AnalyzeResponse.deserializeBinary(bytes).getDiagnosticsList();
    const ours = decodeDiagnosticsOnly(bytes).getDiagnosticsList();
    expect(ours.map((d) => d.toObject())).toEqual(full.map((d) => d.toObject()));
    expect(ours[0]!.getPolicyname()).toBe("\uFEFFbom-first");
    expect(ours[1]!.getMessage()).toBe(full[1]!.getMessage());
    expect(ours[1]!.getDescription()).toBe(full[1]!.getDescription());
  });
});

/**
 * The offline engine end to end on a small program of real provider resource classes (@pulumi/aws,
 * @pulumi/kubernetes, @pulumi/random) rendered under mocks, with the repo's real stack files and
 * a probe pack started as the CLI starts packs. Checks what is recorded (parents, default
 * providers, options, dependencies, secrets), the state file in `pulumi stack export` v3 format
 * (up / export / import), and analyzeExport over that export.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { afterAll, describe, expect, it } from "vitest";
import { OfflineEngine, type StageProgram } from "../../src/engine/offline/engine.js";
import { analyzeExport } from "../../src/policy/analyze.js";
import type { StackExport } from "../../src/engine/offline/state.js";
import { makePack, PROBE_PACK, removePacks, repoRoot } from "./packs.js";

afterAll(() => removePacks());

class Box extends pulumi.ComponentResource {
  constructor(name: string, opts?: pulumi.ComponentResourceOptions) {
    super("test:index:Box", name, {}, opts);
    const bucket = new aws.s3.Bucket(
      `${name}-bucket`,
      { acl: "public-read", tags: { probe: "yes" } },
      { parent: this, protect: true, ignoreChanges: ["tags"], customTimeouts: { create: "10m" } },
    );
    const password = new random.RandomPassword(`${name}-pw`, { length: 24 }, { parent: this });
    new k8s.core.v1.Secret(
      `${name}-secret`,
      { metadata: { name: "admin" }, stringData: { password: password.result } },
      { parent: this, dependsOn: [bucket] },
    );
    this.registerOutputs({});
  }
}

/** A custom resource of a made-up provider whose inputs carry `probe: true`. */
class Probe extends pulumi.CustomResource {
  constructor(name: string) {
    super("test:index:Probe", name, { probe: true });
  }
}

const program: StageProgram = (cfg) => {
  new Box(`box-${cfg.stage}`);
  const provider = new k8s.Provider("explicit", { namespace: "x" });
  new k8s.core.v1.ConfigMap("probe-cm", { data: { probe: "true" } }, { provider });
  return { stage: cfg.stage, password: pulumi.secret("p") };
};

function engine(packDir: string): OfflineEngine {
  return new OfflineEngine({
    cwd: repoRoot,
    env: process.env,
    policyPackDir: packDir,
    stateDir: mkdtempSync(join(tmpdir(), "goose-state-")),
    program,
  });
}

describe("offline engine", () => {
  const pack = makePack("probe", PROBE_PACK);
  const configFile = join(pack, "all-advisory.json");
  const e = engine(pack);

  it("preview: every resource with the engine's additions, and the pack's violations", async () => {
    const { writeFileSync } = await import("node:fs");
    writeFileSync(configFile, JSON.stringify({ all: "advisory", "no-public": "mandatory" }));
    const r = await e.preview("compliance", { policyPackConfigFile: configFile });
    expect(r.stage).toBe("compliance");
    expect(r.mode).toBe("offline");
    const types = r.resources.map((x) => x.type);
    expect(types[0]).toBe("pulumi:pulumi:Stack");
    expect(types).toEqual(
      expect.arrayContaining([
        "pulumi:providers:aws",
        "pulumi:providers:random",
        "pulumi:providers:kubernetes",
        "test:index:Box",
        "aws:s3/bucket:Bucket",
        "kubernetes:core/v1:Secret",
        "kubernetes:core/v1:ConfigMap",
      ]),
    );
    const stackUrn =
      "urn:pulumi:compliance::golden-goose::pulumi:pulumi:Stack::golden-goose-compliance";
    const box = r.resources.find((x) => x.type === "test:index:Box")!;
    expect(box.parent).toBe(stackUrn);
    const bucket = r.resources.find((x) => x.type === "aws:s3/bucket:Bucket")!;
    expect(bucket.urn).toBe(
      "urn:pulumi:compliance::golden-goose::test:index:Box$aws:s3/bucket:Bucket::box-compliance-bucket",
    );
    expect(bucket.parent).toBe(box.urn);
    expect(r.violations).toEqual([
      {
        policy: "no-public",
        pack: "probe@v1.2.3",
        enforcementLevel: "mandatory",
        urn: bucket.urn,
        message: "acl is public-read; set acl to private",
      },
    ]);
    expect(r.summary).toEqual({ resources: r.resources.length, mandatory: 1, advisory: 0 });
  });

  it("up writes a v3 export; export/import round-trip byte for byte", async () => {
    const first = await e.up("sandbox");
    expect(first.resourceChanges.create).toBeGreaterThan(8);
    expect(first.outputs.stage).toBe("sandbox");
    const text = await e.exportStack("sandbox");
    const doc = JSON.parse(text) as StackExport;
    expect(doc.version).toBe(3);
    expect(doc.deployment.manifest.version).toBe("v3.270.0");
    const { createHash } = await import("node:crypto");
    expect(doc.deployment.manifest.magic).toBe(
      createHash("sha256").update("v3.270.0").digest("hex"),
    );
    const res = doc.deployment.resources!;
    // Integrity as `pulumi stack import` checks it: providers, parents, dependencies come first.
    const seen = new Set<string>();
    for (const r of res) {
      if (r.parent) expect(seen.has(r.parent), `${r.urn} parent`).toBe(true);
      for (const d of r.dependencies ?? []) expect(seen.has(d), `${r.urn} dep ${d}`).toBe(true);
      if (r.provider) {
        const purn = r.provider.slice(0, r.provider.lastIndexOf("::"));
        expect(seen.has(purn), `${r.urn} provider`).toBe(true);
      }
      if (!r.custom) expect(r.id).toBeUndefined();
      seen.add(r.urn);
    }
    const bucket = res.find((r) => r.type === "aws:s3/bucket:Bucket")!;
    expect(bucket.protect).toBe(true);
    expect(bucket.ignoreChanges).toEqual(["tags"]);
    expect(bucket.customTimeouts).toEqual({ create: 600, update: 0, delete: 0 });
    expect(bucket.provider).toMatch(
      /^urn:pulumi:sandbox::golden-goose::pulumi:providers:aws::default_7_48_0::[0-9a-f-]{36}$/,
    );
    const secret = res.find((r) => r.type === "kubernetes:core/v1:Secret")!;
    expect(secret.dependencies).toContain(bucket.urn);
    const pw = res.find((r) => r.type === "random:index/randomPassword:RandomPassword")!;
    expect(secret.propertyDependencies?.stringData).toEqual([pw.urn]);
    // Secrets are b64 ciphertext of the offline placeholder, never plaintext in the file.
    // (the SDK marks the whole stringData secret: the value depends on a secret)
    const sd = (secret.inputs as { stringData: Record<string, string> }).stringData;
    expect(sd["4dabf18193072939515e22adb298388d"]).toBe("1b47061264138c4ac30d75fd1eb44270");
    expect(JSON.parse(Buffer.from(sd.ciphertext!, "base64").toString())).toEqual({
      password: "[secret:box-sandbox-pw]",
    });
    expect(secret.additionalSecretOutputs).toEqual(["data", "stringData"]);
    const cm = res.find((r) => r.type === "kubernetes:core/v1:ConfigMap")!;
    expect(cm.provider).toMatch(/::pulumi:providers:kubernetes::explicit::explicit-id$/);
    expect(doc.deployment.secrets_providers).toEqual({ type: "b64", state: {} });

    const second = await e.up("sandbox");
    expect(second.resourceChanges).toEqual({ same: res.length });

    await e.importStack("sandbox", text.replace(/\n$/, "") + "\n\n");
    expect(await e.exportStack("sandbox")).toBe(text.replace(/\n$/, "") + "\n\n");
    await expect(e.importStack("production", text)).rejects.toThrow(
      /is from a different stack \(sandbox != production\)/,
    );
    await expect(e.importStack("sandbox", "{")).rejects.toThrow(/not valid JSON/);
    expect(readFileSync(e.statePath("sandbox"), "utf8")).toContain('"version": 3');
  });

  it("export of a stage never brought up is an empty deployment", async () => {
    const doc = JSON.parse(await e.exportStack("production")) as StackExport;
    expect(doc.version).toBe(3);
    expect(doc.deployment.resources).toBeUndefined();
  });

  it("analyzeExport runs the pack over a stack export, like `pulumi policy analyze --file`", async () => {
    const text = await e.exportStack("sandbox");
    const { violations } = await analyzeExport(JSON.parse(text), "sandbox", {
      policyPackDir: pack,
      policyPackConfigFile: configFile,
    });
    expect(violations.map((v) => [v.policy, v.enforcementLevel, v.urn?.split("::").pop()])).toEqual(
      [["no-public", "mandatory", "box-sandbox-bucket"]],
    );
  });

  it("previewMany: one shared pack, each stage configured with its own config file", async () => {
    const shared = makePack("probe-many", PROBE_PACK, {
      "config/sandbox.json": JSON.stringify({ "probe-resource": { min: 1 } }),
      "config/production.json": JSON.stringify({ all: "mandatory", "probe-resource": { min: 5 } }),
    });
    const many = new OfflineEngine({
      cwd: repoRoot,
      env: process.env,
      policyPackDir: shared,
      // A resource whose props carry `probe` makes the probe policy report what it saw.
      program: (cfg) => {
        new Probe(`probe-${cfg.stage}`);
        return {};
      },
    });
    const results = await many.previewMany(["sandbox", "production"]);
    expect(results.map((r) => r.stage)).toEqual(["sandbox", "production"]);
    const seen = results.map((r) => {
      expect(r.violations).toHaveLength(1);
      const v = r.violations[0]!;
      return {
        stage: r.stage,
        level: v.enforcementLevel,
        config: JSON.parse(v.message).config,
        urn: v.urn,
      };
    });
    expect(seen).toEqual([
      {
        stage: "sandbox",
        level: "advisory",
        config: { min: 1 },
        urn: "urn:pulumi:sandbox::golden-goose::test:index:Probe::probe-sandbox",
      },
      {
        stage: "production",
        level: "mandatory",
        config: { min: 5 },
        urn: "urn:pulumi:production::golden-goose::test:index:Probe::probe-production",
      },
    ]);
  });

  it("a stack file for another stage is refused", async () => {
    await expect(
      e.preview("sandbox", {
        stackConfigFile: "Pulumi.production.yaml",
        policyPackConfigFile: configFile,
      }),
    ).rejects.toThrow(/"production" but the stack is "sandbox"|stage "sandbox" was asked for/);
  });
});

describe("offline engine: targeted up (pulumi up --target)", () => {
  // Version 2 of a program changes the ConfigMap, the Box's Secret, and adds a resource.
  let version = 1;
  class Holder extends pulumi.ComponentResource {
    constructor(name: string) {
      super("test:index:Holder", name, {});
      new k8s.core.v1.ConfigMap(
        `${name}-child`,
        { data: { v: String(version) } },
        { parent: this },
      );
      this.registerOutputs({});
    }
  }
  const versioned: StageProgram = (cfg) => {
    new Box(`box-${cfg.stage}`);
    new Holder("holder");
    new k8s.core.v1.ConfigMap("cm", { data: { v: String(version) } });
    if (version === 2) new k8s.core.v1.ConfigMap("added", { data: { v: "2" } });
    return { stage: cfg.stage };
  };
  const pack = makePack("probe", PROBE_PACK);
  const mk = () =>
    new OfflineEngine({
      cwd: repoRoot,
      env: process.env,
      policyPackDir: pack,
      stateDir: mkdtempSync(join(tmpdir(), "goose-state-")),
      program: versioned,
    });
  const byUrn = (text: string) =>
    new Map(
      (JSON.parse(text) as StackExport).deployment.resources!.map((r) => [
        r.urn.split("::").pop()!,
        r,
      ]),
    );

  it("changes only the targets, creates no untargeted resource, and ends where a full up ends", async () => {
    version = 1;
    const staged = mk();
    const full = mk();
    await staged.up("sandbox");
    const before = byUrn(await staged.exportStack("sandbox"));
    version = 2;
    const cm = before.get("cm")!.urn;
    const r1 = await staged.up("sandbox", { targets: [cm] });
    expect(r1.resourceChanges).toMatchObject({ update: 1 });
    expect(r1.resourceChanges.create).toBeUndefined();
    const mid = byUrn(await staged.exportStack("sandbox"));
    expect(mid.get("cm")!.inputs).toMatchObject({ data: { v: "2" } });
    expect(mid.has("added")).toBe(false);
    for (const [name, r] of before) if (name !== "cm") expect(mid.get(name), name).toEqual(r);

    // The rest: every other URN of the program now (the new one included).
    await full.up("sandbox");
    const fullState = byUrn(await full.exportStack("sandbox"));
    const rest = [...fullState.values()].map((r) => r.urn).filter((u) => u !== cm);
    await staged.up("sandbox", { targets: rest });
    const after = byUrn(await staged.exportStack("sandbox"));
    expect([...after.keys()]).toEqual([...fullState.keys()]);
    for (const [name, r] of fullState) expect(after.get(name), name).toEqual(r);
  });

  it("with targetDependents, a component's changed children follow it; an unknown target is refused", async () => {
    version = 1;
    const e = mk();
    await e.up("sandbox");
    const before = byUrn(await e.exportStack("sandbox"));
    version = 2;
    const holder = before.get("holder")!.urn;
    // Without dependents only the component (unchanged) is targeted: its child keeps version 1.
    const alone = await e.up("sandbox", { targets: [holder] });
    expect(alone.resourceChanges.update ?? 0).toBe(0);
    expect(byUrn(await e.exportStack("sandbox")).get("holder-child")!.inputs).toMatchObject({
      data: { v: "1" },
    });
    const r = await e.up("sandbox", { targets: [holder], targetDependents: true });
    expect(r.resourceChanges.update).toBe(1);
    const after = byUrn(await e.exportStack("sandbox"));
    expect(after.get("holder-child")!.inputs).toMatchObject({ data: { v: "2" } });
    // Not a dependent: the top-level ConfigMap and the new resource stay as they were.
    expect(after.get("cm")!.inputs).toMatchObject({ data: { v: "1" } });
    expect(after.has("added")).toBe(false);
    await expect(
      e.up("sandbox", { targets: ["urn:pulumi:sandbox::golden-goose::k8s:none::nope"] }),
    ).rejects.toThrow(
      /--target urn:pulumi:sandbox::golden-goose::k8s:none::nope: no such resource/,
    );
  });
});

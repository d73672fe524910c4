/**
 * The real engine's command lines. The Pulumi CLI cannot be installed here, so these tests put a
 * FAKE `pulumi` executable first on PATH: it records its argv and working directory and answers
 * with valid output (engine events as JSON lines in the `--event-log` file, a stack export). That
 * tests what we ask the Automation API to run and how we read its answers — our command lines and
 * parsing — not Pulumi itself. The fake reports version 3.200.0 so that the Automation API uses the
 * file event log (3.206+ streams events over gRPC, which the fake does not implement).
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PulumiCliMissingError, RealEngine } from "../../src/engine/real/engine.js";
import { makePack, PROBE_PACK, removePacks, repoRoot } from "./packs.js";
import { exitCodeOf } from "../../src/cli/errors.js";

const FAKE = `#!/usr/bin/env node
const fs = require("fs");
const args = process.argv.slice(2);
// \`pulumi version\` comes from PulumiCommand.get, which runs with the parent's env (no log).
if (process.env.FAKE_PULUMI_LOG) fs.appendFileSync(process.env.FAKE_PULUMI_LOG, JSON.stringify({ args, cwd: process.cwd() }) + "\\n");
const cmd = args.filter((a) => !a.startsWith("-"))[0];
const stackArg = args[args.indexOf("--stack") + 1];
if (args[0] === "version") { console.log("v3.200.0"); process.exit(0); }
if (args[0] === "stack" && args[1] === "select") {
  if (process.env.FAKE_NO_STACK) { console.error("error: no stack named '" + stackArg + "' found"); process.exit(255); }
  process.exit(0);
}
if (args[0] === "stack" && args[1] === "init") process.exit(0);
if (args[0] === "stack" && args[1] === "export") {
  process.stdout.write(JSON.stringify({ version: 3, deployment: { manifest: { time: "t", magic: "m", version: "v3.200.0" },
    resources: [{ urn: "urn:pulumi:" + stackArg + "::golden-goose::pulumi:pulumi:Stack::golden-goose-" + stackArg, custom: false, type: "pulumi:pulumi:Stack" }] } }, null, 4) + "\\n");
  process.exit(0);
}
if (args[0] === "stack" && args[1] === "import") {
  const file = args[args.indexOf("--file") + 1];
  fs.appendFileSync(process.env.FAKE_PULUMI_LOG, JSON.stringify({ imported: fs.readFileSync(file, "utf8") }) + "\\n");
  process.exit(0);
}
if (cmd === "preview") {
  const log = args[args.indexOf("--event-log") + 1];
  const stack = "urn:pulumi:sandbox::golden-goose::pulumi:pulumi:Stack::golden-goose-sandbox";
  const bucket = "urn:pulumi:sandbox::golden-goose::aws:s3/bucket:Bucket::b";
  const events = [
    { sequence: 0, timestamp: 1, preludeEvent: { config: {} } },
    { sequence: 1, timestamp: 1, resourcePreEvent: { metadata: { op: "create", urn: stack, type: "pulumi:pulumi:Stack", provider: "", new: { type: "pulumi:pulumi:Stack", urn: stack, custom: false, delete: false, id: "", parent: "", protect: false, inputs: {}, outputs: {}, initErrors: [] } } } },
    { sequence: 2, timestamp: 1, resourcePreEvent: { metadata: { op: "create", urn: bucket, type: "aws:s3/bucket:Bucket", provider: "", new: { type: "aws:s3/bucket:Bucket", urn: bucket, custom: true, delete: false, id: "", parent: stack, protect: false, inputs: {}, outputs: {}, initErrors: [] } } } },
    { sequence: 3, timestamp: 1, policyEvent: { resourceUrn: bucket, message: "acl is public-read; set acl to private", color: "never", policyName: "no-public", policyPackName: "probe", policyPackVersion: "1.2.3", policyPackVersionTag: "1.2.3", enforcementLevel: process.env.FAKE_LEVEL || "mandatory" } },
    { sequence: 4, timestamp: 1, summaryEvent: { maybeCorrupt: false, durationSeconds: 1, resourceChanges: { create: 2 }, policyPacks: { probe: "1.2.3" } } },
    { sequence: 5, timestamp: 1, cancelEvent: {} },
  ];
  fs.appendFileSync(log, events.map((e) => JSON.stringify(e)).join("\\n") + "\\n");
  setTimeout(() => {
    if ((process.env.FAKE_LEVEL || "mandatory") === "mandatory") { console.error("error: preview failed: 1 mandatory policy violation"); process.exit(255); }
    process.exit(0);
  }, 600);
} else if (cmd === "up" || cmd === "refresh") {
  // The Automation API asks for an event log only when the caller listens to events.
  const at = args.indexOf("--event-log");
  if (at >= 0) fs.appendFileSync(args[at + 1], JSON.stringify({ sequence: 0, timestamp: 1, summaryEvent: { maybeCorrupt: false, durationSeconds: 1, resourceChanges: { create: 3, same: 1 }, policyPacks: {} } }) + "\\n" + JSON.stringify({ sequence: 1, timestamp: 1, cancelEvent: {} }) + "\\n");
  setTimeout(() => process.exit(0), 600);
} else if (args[0] === "stack" && args[1] === "output") {
  const secrets = args.includes("--show-secrets");
  console.log(JSON.stringify({ grafanaUrl: "http://grafana:3000", grafanaAdminPassword: secrets ? "hunter2" : "[secret]" }));
} else if (args[0] === "stack" && args[1] === "history") {
  console.log(JSON.stringify([{ kind: "update", startTime: "2026-11-21T00:00:00Z", message: "", environment: {}, config: {}, result: "succeeded", endTime: "2026-11-21T00:00:01Z", version: 1, resourceChanges: { create: 3, same: 1 } }]));
} else {
  console.error("fake pulumi: unexpected " + args.join(" "));
  process.exit(3);
}
`;

let bin: string;
let logFile: string;
const pack = makePack("probe", PROBE_PACK, { "config/sandbox.json": "{}\n" });

beforeAll(() => {
  bin = mkdtempSync(join(tmpdir(), "goose-fake-pulumi-"));
  writeFileSync(join(bin, "pulumi"), FAKE);
  chmodSync(join(bin, "pulumi"), 0o755);
  logFile = join(bin, "calls.jsonl");
});
afterAll(() => removePacks());

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  writeFileSync(logFile, "");
  return {
    ...process.env,
    PATH: `${bin}:${process.env.PATH}`,
    FAKE_PULUMI_LOG: logFile,
    PULUMI_HOME: join(bin, "home"),
    ...extra,
  };
}

function calls(): Array<{ args?: string[]; cwd?: string; imported?: string }> {
  return readFileSync(logFile, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

describe("real engine (Automation API) command lines", () => {
  it("preview runs pulumi preview with the pack and its stage config, reads violations from events", async () => {
    const engine = new RealEngine({ cwd: repoRoot, env: env(), policyPackDir: pack });
    const r = await engine.preview("sandbox");
    const preview = calls().find((c) => c.args?.includes("preview"))!;
    expect(preview.cwd).toBe(repoRoot);
    const a = preview.args!;
    expect(a[0]).toBe("preview");
    expect(a[a.indexOf("--policy-pack") + 1]).toBe(pack);
    expect(a[a.indexOf("--policy-pack-config") + 1]).toBe(join(pack, "config", "sandbox.json"));
    expect(a[a.indexOf("--stack") + 1]).toBe("sandbox");
    expect(a).toContain("--event-log");
    expect(calls()[0]!.args).toEqual([
      "stack",
      "select",
      "--stack",
      "sandbox",
      "--non-interactive",
    ]);
    expect(a.map((x) => (x.includes("automation-logs") ? "<event-log>" : x))).toEqual([
      "preview",
      "--policy-pack",
      pack,
      "--policy-pack-config",
      join(pack, "config", "sandbox.json"),
      "--exec-kind",
      "auto.local",
      "--event-log",
      "<event-log>",
      "--stack",
      "sandbox",
      "--non-interactive",
    ]);
    expect(r.mode).toBe("real");
    expect(r.resources.map((x) => x.type)).toEqual(["pulumi:pulumi:Stack", "aws:s3/bucket:Bucket"]);
    expect(r.resources[1]!.parent).toMatch(/pulumi:pulumi:Stack/);
    expect(r.violations).toEqual([
      {
        policy: "no-public",
        pack: "probe@v1.2.3",
        enforcementLevel: "mandatory",
        urn: "urn:pulumi:sandbox::golden-goose::aws:s3/bucket:Bucket::b",
        message: "acl is public-read; set acl to private",
      },
    ]);
    expect(r.summary).toEqual({ resources: 2, mandatory: 1, advisory: 0 });
  });

  it("an advisory-only preview passes with the CLI's exit 0", async () => {
    const engine = new RealEngine({
      cwd: repoRoot,
      env: env({ FAKE_LEVEL: "advisory" }),
      policyPackDir: pack,
    });
    const custom = join(bin, "custom.json");
    writeFileSync(custom, '{ "all": "advisory" }');
    const r = await engine.preview("sandbox", { policyPackConfigFile: custom });
    const a = calls().find((c) => c.args?.includes("preview"))!.args!;
    expect(a[a.indexOf("--policy-pack-config") + 1]).toBe(custom);
    expect(r.summary).toMatchObject({ mandatory: 0, advisory: 1 });
  });

  it("exportStack prints `pulumi stack export` exactly, without --show-secrets; importStack passes a file", async () => {
    const engine = new RealEngine({ cwd: repoRoot, env: env(), policyPackDir: pack });
    const text = await engine.exportStack("production");
    expect(JSON.parse(text).deployment.resources[0].urn).toContain("urn:pulumi:production::");
    const exp = calls().find((c) => c.args?.[1] === "export")!.args!;
    expect(exp).toEqual(["stack", "export", "--stack", "production", "--non-interactive"]);
    await engine.importStack("production", text);
    const imp = calls().find((c) => c.args?.[1] === "import")!.args!;
    expect(imp.slice(0, 2)).toEqual(["stack", "import"]);
    expect(imp[imp.indexOf("--stack") + 1]).toBe("production");
    expect(calls().find((c) => c.imported)!.imported).toBe(text);
  });

  it("up and refresh run the Automation API's commands; secret outputs stay masked", async () => {
    const engine = new RealEngine({ cwd: repoRoot, env: env(), policyPackDir: pack });
    const r = await engine.up("compliance");
    expect(r.resourceChanges).toEqual({ create: 3, same: 1 });
    expect(r.outputs).toEqual({
      grafanaUrl: "http://grafana:3000",
      grafanaAdminPassword: "[secret]",
    });
    const up = calls().find((c) => c.args?.[0] === "up")!.args!;
    expect(up.slice(0, 3)).toEqual(["up", "--yes", "--skip-preview"]);
    expect(up[up.indexOf("--stack") + 1]).toBe("compliance");
    await engine.refresh("compliance");
    const refresh = calls().find((c) => c.args?.[0] === "refresh")!.args!;
    expect(refresh[refresh.indexOf("--stack") + 1]).toBe("compliance");
    expect(refresh).toContain("--yes");
  });

  it("a targeted up is pulumi up --target URN… --target-dependents (a staged rollback's stage)", async () => {
    const engine = new RealEngine({ cwd: repoRoot, env: env(), policyPackDir: pack });
    const a =
      "urn:pulumi:compliance::golden-goose::goldengoose:backup:Backup::goose-compliance-backup";
    const b = "urn:pulumi:compliance::golden-goose::kubernetes:core/v1:Namespace::ns";
    await engine.up("compliance", { targets: [a, b], targetDependents: true });
    const up = calls().find((c) => c.args?.[0] === "up")!.args!;
    const targets = up.flatMap((x, i) => (x === "--target" ? [up[i + 1]] : []));
    expect(targets).toEqual([a, b]);
    expect(up).toContain("--target-dependents");
    await engine.up("compliance", { targets: [a] });
    const second = calls().filter((c) => c.args?.[0] === "up")[1]!.args!;
    expect(second.filter((x) => x === "--target")).toHaveLength(1);
    expect(second).not.toContain("--target-dependents");
  });

  it("the first up of a stage creates its stack (stack init), preview does not", async () => {
    const engine = new RealEngine({
      cwd: repoRoot,
      env: env({ FAKE_NO_STACK: "1" }),
      policyPackDir: pack,
    });
    await engine.up("production");
    expect(calls().map((c) => c.args?.slice(0, 3).join(" "))).toContain("stack init production");
    await expect(engine.preview("sandbox")).rejects.toThrow(
      /no Pulumi stack "sandbox" .*pulumi stack init sandbox.*or use --offline/,
    );
  });

  it("no pulumi on PATH: exit 2 with the fix", async () => {
    const engine = new RealEngine({
      cwd: repoRoot,
      env: { ...process.env, PATH: mkdtempSync(join(tmpdir(), "empty-path-")) },
      policyPackDir: pack,
    });
    const err = await engine.preview("sandbox").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PulumiCliMissingError);
    expect(exitCodeOf(err)).toBe(2);
    expect((err as Error).message).toMatch(/install the Pulumi CLI, or use --offline/);
  });
});

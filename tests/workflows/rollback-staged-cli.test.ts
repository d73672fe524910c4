/**
 * `goose rollback --staged` end to end, offline: a demo workspace (the real stage program, the
 * offline engine's state file), a snapshot, a changed stack file deployed, then a staged rollback
 * whose health endpoint (loopback) fails after the second stage; the printed resume command is run
 * as printed in a child process that is SIGKILLed once it completed another stage; the stale
 * lease is broken as an operator would; a last --resume finishes. The state equals the one an
 * unstaged rollback leaves. A small policy pack keeps the pack starts short (the real pack's
 * checks are covered elsewhere); it is a real pack over the Analyzer protocol.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prepareWorkspace } from "../../src/demo/workspace.js";
import { runGoose } from "../helpers/cli.js";
import { makePack, removePacks } from "../engine/packs.js";

const REPO = path.resolve(import.meta.dirname, "../..");
/** The `goose …` commands between backticks in `text`, as argv. */
const harvest = (text: string) =>
  [...text.matchAll(/`goose ([^`]+)`/g)].map((m) => m[1]!.split(/\s+/));
const PACK = `
import { PolicyPack } from "@pulumi/policy";
new PolicyPack("staged-cli", {
  enforcementLevel: "mandatory",
  policies: [{
    name: "workloads-behind-default-deny",
    description: "No workload runs in a namespace without the default-deny NetworkPolicy.",
    validateStack: (args, report) => {
      const workloads = args.resources.filter((r) => r.type === "kubernetes:apps/v1:Deployment" || r.type === "kubernetes:apps/v1:StatefulSet");
      const deny = args.resources.some((r) => r.type === "kubernetes:networking.k8s.io/v1:NetworkPolicy" && r.props.metadata?.name === "default-deny");
      if (workloads.length > 0 && !deny) report(workloads.length + " workloads without default-deny");
    },
  }],
});
`;

let dir: string;
let env: NodeJS.ProcessEnv;
let pack: string;
let server: Server;
let base: string;
let healthy = 0; // answers left before the endpoint fails
const packArgs = () => [
  "--policy-pack",
  pack,
  "--policy-pack-config",
  path.join(pack, "config/sandbox.json"),
];
const goose = (args: string[]) => runGoose(args, { cwd: dir, env });
const stateText = () => readFileSync(path.join(dir, ".goose/offline-state/sandbox.json"), "utf8");
const resources = (text: string) =>
  (JSON.parse(text) as { deployment: { resources: unknown[] } }).deployment.resources;
const checkpointFile = (id: string) =>
  path.join(dir, ".goose", "rollback", "sandbox", `${id}.staged.json`);
const checkpoint = (id: string) =>
  JSON.parse(readFileSync(checkpointFile(id), "utf8")) as {
    stages: Array<{ name: string; status: string; resourceChanges?: Record<string, number> }>;
    completedAt?: string;
  };

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "goose-staged-cli-"));
  prepareWorkspace(REPO, dir);
  env = {
    PATH: process.env.PATH,
    HOME: dir,
    XDG_CONFIG_HOME: path.join(dir, "config"),
    GOOSE_STORE: `file://${path.join(dir, ".goose")}`,
  };
  pack = makePack("staged-cli", PACK, { "config/sandbox.json": "{}\n" });
  server = createServer((_req, res) => {
    const ok = healthy > 0;
    if (ok) healthy--;
    res.writeHead(ok ? 200 : 503).end(ok ? "ok" : "not ready");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  expect((await goose(["keys", "init"])).code).toBe(0);
}, 120_000);
afterAll(async () => {
  await new Promise((r) => server.close(r));
  removePacks();
});

describe("goose rollback --staged (offline)", () => {
  it("stops at the stage whose health fails, survives a SIGKILL between stages, and resumes to the unstaged result", async () => {
    expect((await goose(["deploy", "sandbox", "--offline"])).code).toBe(0);
    const snap = await goose(["snapshot", "create", "sandbox", "--offline", "--json"]);
    expect(snap.code, snap.stderr).toBe(0);
    const id = (JSON.parse(snap.stdout) as { id: string }).id;
    // A changed release: Prometheus keeps 9 days instead of 7; the rollback's stages converge to it.
    const stackFile = path.join(dir, "Pulumi.sandbox.yaml");
    writeFileSync(
      stackFile,
      readFileSync(stackFile, "utf8").replace("retentionDays: 7", "retentionDays: 9"),
    );
    expect((await goose(["deploy", "sandbox", "--offline"])).code).toBe(0);

    // 1. Health fails after the second stage: exit 1, two stages recorded, the resume printed.
    healthy = 2;
    const first = await goose([
      "rollback",
      "sandbox",
      "--to",
      id,
      "--staged",
      "--offline",
      "--prometheus-url",
      base,
      ...packArgs(),
    ]);
    expect(first.code, first.stderr).toBe(1);
    expect(first.stderr).toMatch(
      /stage "prometheus" of the staged rollback failed: not ready: .*503/,
    );
    expect(checkpoint(id).stages.map((s) => `${s.name}:${s.status}`)).toEqual([
      "foundation:done",
      "backup:done",
      "prometheus:failed",
    ]);
    // The one change (the StatefulSet's retention, 7 → 9 days) was made by one of the stages so
    // far: the backup stage when it takes the StatefulSet along as a dependent (its backup sidecar
    // depends on the backup component), else the prometheus stage.
    const updates = checkpoint(id).stages.map((st) => st.resourceChanges?.["update"] ?? 0);
    expect(
      updates.reduce((a, b) => a + b, 0),
      JSON.stringify(checkpoint(id).stages),
    ).toBe(1);
    expect(updates[0]).toBe(0);
    const hint = harvest(first.stderr).find((h) => h.includes("--resume"));
    expect(hint).toEqual(["rollback", "sandbox", "--to", id, "--staged", "--resume", "--offline"]);

    // 2. The printed resume, in a process killed (SIGKILL) once it completed another stage.
    healthy = 1_000;
    const child = spawn(
      process.execPath,
      [path.join(REPO, "bin/goose.js"), ...hint!, "--prometheus-url", base, ...packArgs()],
      { cwd: dir, env, stdio: "ignore" },
    );
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      if (
        existsSync(checkpointFile(id)) &&
        checkpoint(id).stages.some((s) => s.name === "prometheus" && s.status === "done")
      )
        break;
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill("SIGKILL");
    await exited;
    const afterKill = checkpoint(id);
    expect(afterKill.completedAt).toBeUndefined();
    expect(afterKill.stages.filter((s) => s.status === "done").map((s) => s.name)).toEqual(
      expect.arrayContaining(["foundation", "backup", "prometheus"]),
    );

    // 3. The killed run's lease stays until broken by hand; then --resume finishes.
    const release = await goose([
      "lock",
      "release",
      "sandbox",
      "--kind",
      "rollback",
      "--force",
      "--reason",
      "rollback process killed",
    ]);
    expect(release.code, release.stderr).toBe(0);
    const last = await goose([...hint!, "--prometheus-url", base, ...packArgs(), "--json"]);
    expect(last.code, last.stderr).toBe(0);
    const done = checkpoint(id);
    expect(done.completedAt).toBeDefined();
    expect(done.stages.map((s) => s.name)).toEqual([
      "foundation",
      "backup",
      "prometheus",
      "grafana",
      "scanner",
      "converge",
    ]);
    // The one change was made once (by the first run); the later stages and the converge found
    // nothing left to change.
    expect(done.stages.map((st) => st.resourceChanges?.["update"] ?? 0)).toEqual(
      expect.arrayContaining([1]),
    );
    expect(done.stages.reduce((n, st) => n + (st.resourceChanges?.["update"] ?? 0), 0)).toBe(1);
    const staged = stateText();

    // 4. An unstaged rollback to the same snapshot leaves the same resources.
    const unstaged = await goose(["rollback", "sandbox", "--to", id, "--offline", ...packArgs()]);
    expect(unstaged.code, unstaged.stderr).toBe(0);
    expect(resources(stateText())).toEqual(resources(staged));
  }, 300_000);

  it("--resume without a checkpoint is exit 2 naming the command that starts one", async () => {
    const snap = await goose(["snapshot", "create", "sandbox", "--offline", "--json"]);
    const id = (JSON.parse(snap.stdout) as { id: string }).id;
    const r = await goose(["rollback", "sandbox", "--to", id, "--resume", "--offline"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no staged rollback of sandbox to .* to resume/);
    expect(r.stderr).toMatch(/goose rollback sandbox --to \S+ --staged --offline/);

    // The same on a store that is not the default one (--store, no GOOSE_STORE): the printed
    // command carries the store, so it reaches the same snapshots when run as printed.
    const { GOOSE_STORE: _default, ...noStoreEnv } = env;
    const storeUrl = `file://${path.join(dir, "elsewhere")}`;
    const other = await runGoose(
      ["snapshot", "create", "sandbox", "--offline", "--json", "--store", storeUrl],
      { cwd: dir, env: noStoreEnv },
    );
    expect(other.code, other.stderr).toBe(0);
    const otherId = (JSON.parse(other.stdout) as { id: string }).id;
    const viaFlag = await runGoose(
      [
        "rollback",
        "sandbox",
        "--to",
        otherId,
        "--staged",
        "--resume",
        "--offline",
        "--store",
        storeUrl,
      ],
      { cwd: dir, env: noStoreEnv },
    );
    expect(viaFlag.code, viaFlag.stderr).toBe(2);
    expect(viaFlag.stderr).toContain(`--staged --offline --store ${storeUrl}`);
  });
});

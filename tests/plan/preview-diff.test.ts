/**
 * `goose preview <stage> --offline --diff` end to end, in-process through `main(argv, io)`, in a
 * workspace copied from the repository (stack files, policy pack, monitoring): a simulated deploy
 * of compliance writes the state, the stack file is edited (Prometheus' volume shrinks, its image
 * changes), and the plan against the state (and against a file baseline holding a known secret)
 * is printed as text, JSON and Markdown. The known secret is grepped for in every output.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { colorEnabled } from "../../src/cli/commands/preview-plan.js";
import type { CliIo } from "../../src/cli/io.js";
import { prepareWorkspace } from "../../src/demo/workspace.js";
import type { Plan } from "../../src/plan/index.js";
import { SECRET_SIG, SECRET_SIG_KEY, type StackExport } from "../../src/pulumi-export/index.js";
import { runGoose } from "../helpers/cli.js";
import { repoRoot } from "../engine/packs.js";

const KNOWN = "plan-test-known-secret-Zq81";

const ws = join(mkdtempSync(join(tmpdir(), "goose-plan-cli-")), "ws");
const goose = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
  runGoose(args, { cwd: ws, env: { ...env, GOOSE_STORE: `file://${join(ws, ".goose")}` } });
const baselineFile = join(ws, "baseline.json");

beforeAll(async () => {
  prepareWorkspace(repoRoot, ws);
  const d = await goose(["deploy", "compliance", "--offline"]);
  expect(d.code, d.stderr).toBe(0);
  // A baseline holding a known secret: the state with the Grafana admin password replaced.
  const state = JSON.parse(
    readFileSync(join(ws, ".goose/offline-state/compliance.json"), "utf8"),
  ) as StackExport;
  const secret = state.deployment.resources!.find(
    (r) => r.type === "kubernetes:core/v1:Secret" && r.urn.endsWith("grafana-admin"),
  )!;
  // The program's whole stringData is one secret (the password is an Output secret).
  secret.inputs!.stringData = {
    [SECRET_SIG_KEY]: SECRET_SIG,
    ciphertext: Buffer.from(
      JSON.stringify({ "admin-user": "admin", "admin-password": KNOWN }),
    ).toString("base64"),
  };
  writeFileSync(baselineFile, JSON.stringify(state));
  // The change under review: Prometheus' volume shrinks and its image moves on.
  const stackFile = join(ws, "Pulumi.compliance.yaml");
  const text = readFileSync(stackFile, "utf8");
  const edited = text
    .replace("storageSize: 50Gi", "storageSize: 40Gi")
    .replace("prometheus:v3.5.0", "prometheus:v3.5.1");
  expect(edited).not.toBe(text);
  writeFileSync(stackFile, edited);
}, 120_000);

function noSecret(text: string): void {
  expect(text).not.toContain(KNOWN);
  expect(text).not.toContain(Buffer.from(JSON.stringify(KNOWN)).toString("base64"));
}

describe("goose preview --diff", () => {
  it("usage: --against without --diff, one stage's baseline with --all, --diff without --offline, two forms, a bad baseline", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["preview", "compliance", "--offline", "--against", "state"], /--against goes with --diff/],
      [
        ["preview", "--all", "--offline", "--diff", "--against", `file:${baselineFile}`],
        /--against file:.* names one stage's baseline: give a stage instead of --all/,
      ],
      [["preview", "compliance", "--diff", "--against", "state"], /--against needs --offline/],
      [
        ["preview", "compliance", "--offline", "--diff", "--json", "--markdown"],
        /choose one output form/,
      ],
      [
        ["preview", "compliance", "--offline", "--diff", "--against", "yesterday"],
        /is not a baseline: use state, snapshot:<id>/,
      ],
      [
        ["preview", "compliance", "--offline", "--diff", "--against", "file:nope.json"],
        /file:.*nope\.json: ENOENT/,
      ],
    ];
    cases.push(
      [
        ["promote", "sandbox", "compliance", "--offline", "--allow-data-loss"],
        /--allow-data-loss needs --reason/,
      ],
      [
        ["promote", "sandbox", "compliance", "--offline", "--reason", "x"],
        /--reason goes with --allow-data-loss/,
      ],
    );
    for (const [args, message] of cases) {
      const r = await goose(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    // Without --offline the Pulumi CLI plans (its steps mapped, tests/plan/pulumi-preview.test.ts);
    // without the CLI on PATH that is exit 2 naming the fix.
    const real = await goose(["preview", "compliance", "--diff"], {
      ...process.env,
      PATH: mkdtempSync(join(tmpdir(), "goose-nopath-")),
    });
    expect(real.code).toBe(2);
    expect(real.stderr).toMatch(/install the Pulumi CLI, or use --offline/);
  });

  it("human: grouped with markers, the replacement's source, data loss, [secret], no colour off a terminal", async () => {
    const r = await goose([
      "preview",
      "compliance",
      "--offline",
      "--diff",
      "--against",
      `file:${baselineFile}`,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Plan of compliance against export file ${baselineFile}:`);
    expect(r.stdout).toMatch(
      /\+- kubernetes:apps\/v1:StatefulSet: goose-compliance-prometheus-server/,
    );
    expect(r.stdout).toMatch(/replaces: spec\.volumeClaimTemplates \[pulumi-kubernetes/);
    expect(r.stdout).toMatch(/DATA LOSS: the pods' claims from volumeClaimTemplates/);
    expect(r.stdout).toMatch(
      /quay\.io\/prometheus\/prometheus:v3\.5\.0" => "quay\.io\/prometheus\/prometheus:v3\.5\.1"/,
    );
    expect(r.stdout).toMatch(/~ stringData: "\[secret\]" => "\[secret\]"/);
    expect(r.stdout).toMatch(
      /Resources: 0 to create, \d+ to update, \d+ to replace, 0 to delete, \d+ unchanged; \d+ with possible data loss/,
    );
    expect(r.stdout).not.toContain("\u001b[");
    noSecret(r.stdout + r.stderr);
  }, 60_000);

  it("--json: goose.plan v1 with steps, diffs, replaceReasons and dataLoss; the secret hidden", async () => {
    const r = await goose([
      "preview",
      "compliance",
      "--offline",
      "--diff",
      "--against",
      `file:${baselineFile}`,
      "--json",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const plan = JSON.parse(r.stdout) as Plan & { preview: { stage: string } };
    expect(plan).toMatchObject({ kind: "goose.plan", version: 1, stage: "compliance" });
    expect(plan.against).toEqual({ kind: "file", ref: baselineFile });
    expect(plan.preview.stage).toBe("compliance");
    const sts = plan.steps.find((s) => s.type === "kubernetes:apps/v1:StatefulSet")!;
    expect(sts.op).toBe("replace");
    expect(sts.replaceReasons).toContainEqual(
      expect.objectContaining({ path: "spec.volumeClaimTemplates" }),
    );
    expect(sts.dataLoss?.reason).toBeTruthy();
    expect(sts.diffs).toContainEqual(
      expect.objectContaining({
        kind: "changed",
        path: expect.stringMatching(
          /^spec\.volumeClaimTemplates\[0\]\.spec\.resources\.requests\.storage$/,
        ),
        old: "50Gi",
        new: "40Gi",
      }),
    );
    const secretStep = plan.steps.find(
      (s) => s.urn.endsWith("grafana-admin") && s.type === "kubernetes:core/v1:Secret",
    )!;
    expect(secretStep.diffs).toEqual([
      {
        path: "stringData",
        kind: "changed",
        old: "[secret]",
        new: "[secret]",
        secret: true,
      },
    ]);
    expect(plan.summary.dataLoss).toBeGreaterThan(0);
    expect(plan.summary.same + plan.summary.update + plan.summary.replace).toBe(plan.steps.length);
    noSecret(r.stdout + r.stderr);
  }, 60_000);

  it("--all --json: goose.plans, each stage against its own baseline, as its one-stage plan", async () => {
    const r = await goose(["preview", "--all", "--offline", "--diff", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      kind: string;
      version: number;
      stages: Array<Plan & { preview: { stage: string; summary: { resources: number } } }>;
      summary: { resources: number; mandatory: number; advisory: number };
    };
    expect(doc).toMatchObject({ kind: "goose.plans", version: 1 });
    expect(doc.stages.map((p) => [p.kind, p.stage, p.preview.stage])).toEqual([
      ["goose.plan", "sandbox", "sandbox"],
      ["goose.plan", "compliance", "compliance"],
      ["goose.plan", "production", "production"],
    ]);
    // Only compliance was deployed: it is planned against its state, the others against nothing.
    const [sandbox, compliance, production] = doc.stages;
    expect(compliance!.against.kind).toBe("state");
    expect(sandbox!.against.kind).toBe("none");
    expect(production!.against.kind).toBe("none");
    expect(sandbox!.summary.create).toBe(sandbox!.preview.summary.resources);
    expect(compliance!.summary.replace).toBeGreaterThan(0);
    expect(compliance!.summary.dataLoss).toBeGreaterThan(0);
    expect(doc.summary.resources).toBe(
      doc.stages.reduce((n, p) => n + p.preview.summary.resources, 0),
    );
    // The shared pack and render give each stage the plan its one-stage run gives.
    const one = await goose(["preview", "compliance", "--offline", "--diff", "--json"]);
    expect(one.code, one.stderr).toBe(0);
    const single = JSON.parse(one.stdout) as Plan;
    expect(compliance!.steps).toEqual(single.steps);
    expect(compliance!.summary).toEqual(single.summary);
    noSecret(r.stdout + r.stderr);
  }, 120_000);

  it("--markdown: a pull-request comment with the table, the warning and folded diffs", async () => {
    const r = await goose([
      "preview",
      "compliance",
      "--offline",
      "--diff",
      "--against",
      `file:${baselineFile}`,
      "--markdown",
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^### Plan of `compliance` against export file /);
    expect(r.stdout).toContain("| | resource | type | why |");
    expect(r.stdout).toMatch(/\| `\+-` replace \| `goose-compliance-prometheus-server` \|/);
    expect(r.stdout).toContain("> [!WARNING]");
    expect(r.stdout).toContain("```diff");
    expect(r.stdout).toMatch(/Policy: (passed|\*\*Policy: FAILED)/);
    noSecret(r.stdout + r.stderr);
  }, 60_000);

  it("colour only on a terminal, never with NO_COLOR", () => {
    const io = (isTTY: boolean, env: NodeJS.ProcessEnv) =>
      ({ stdout: { isTTY }, env }) as unknown as CliIo;
    expect(colorEnabled(io(true, {}))).toBe(true);
    expect(colorEnabled(io(false, {}))).toBe(false);
    expect(colorEnabled(io(true, { NO_COLOR: "1" }))).toBe(false);
    expect(colorEnabled(io(true, { NO_COLOR: "" }))).toBe(true); // no-color.org: set and non-empty
  });
});

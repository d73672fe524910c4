/**
 * The `rotate` commands of security/policies/secret-rotation.yaml are what `goose keys status`
 * prints as the fix of an overdue secret: each must run as printed once the stage is filled in.
 * For every secret and stage: no placeholder is left, the line parses as a shell command, every
 * `goose …` in it is accepted by goose (no usage error, exit 2) in a workspace set up as its
 * `procedure` says, and every other command exists in the tool it names (aws). The schema refuses
 * a placeholder in `rotate` with the file, field and fix; the stack files' rotation periods (the
 * keepers of the generated passwords) are within what the policy allows; and an overdue
 * Prometheus basic-auth password is reported with that fix and exit 1.
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { AUDIT_FILES, loadSecretRotation, SECRET_NAMES } from "../../src/audit/index.js";
import { loadStageConfigFile } from "../../src/config/index.js";
import { STAGES } from "../../src/config/stages.js";
import { initKeys } from "../../src/keys/index.js";
import { runGoose } from "../helpers/cli.js";
import { cleanupTempDirs, repoRoot, tempDir } from "../snapshots/helpers.js";

afterAll(cleanupTempDirs);

const policy = loadSecretRotation(repoRoot);
/** The `&&`-separated commands of a fix, as argv (double quotes kept together). */
function commands(fix: string): string[][] {
  return fix.split(/\s+&&\s+/).map((c) => [...c.matchAll(/"[^"]*"|\S+/g)].map((m) => m[0]));
}

describe("secret-rotation.yaml: the printed fixes run as printed", () => {
  it("every rotate, with the stage filled in, has no placeholder and parses as a shell command", () => {
    expect(Object.keys(policy.secrets).sort()).toEqual([...SECRET_NAMES].sort());
    for (const secret of SECRET_NAMES)
      for (const stage of STAGES) {
        const fix = policy.secrets[secret]!.rotate.replace(/<stage>/g, stage);
        expect(fix, `${secret} in ${stage}`).not.toMatch(/[<>…]|\.\.\./);
        const sh = spawnSync("sh", ["-n", "-c", fix], { encoding: "utf8" });
        expect(sh.status, `${fix}: ${sh.stderr}`).toBe(0);
        for (const argv of commands(fix))
          expect(["goose", "pulumi", "aws"], fix).toContain(argv[0]);
      }
  });

  it("every goose command of a fix is accepted by goose, set up as its procedure says", async () => {
    const cwd = tempDir("goose-rotate-hints-");
    cpSync(join(repoRoot, "security"), join(cwd, "security"), { recursive: true });
    const home = join(cwd, "home");
    mkdirSync(home);
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, USER: "auditor" };
    initKeys(env); // the evidence key file `goose keys rotate evidence` replaces in place
    // The snapshot key procedure: the old key and a new one in the environment.
    const snapshotEnv = {
      ...env,
      GOOSE_SNAPSHOT_KEY_OLD: Buffer.alloc(32, 7).toString("base64"),
      GOOSE_SNAPSHOT_KEY: Buffer.alloc(32, 8).toString("base64"),
    };
    let ran = 0;
    for (const secret of SECRET_NAMES) {
      for (const stage of STAGES) {
        const fix = policy.secrets[secret]!.rotate.replace(/<stage>/g, stage);
        for (const argv of commands(fix)) {
          if (argv[0] !== "goose") continue;
          const r = await runGoose(argv.slice(1), {
            cwd,
            env: secret === "snapshot-key" ? snapshotEnv : env,
          });
          expect(r.code, `\`${argv.join(" ")}\`: ${r.stderr}`).toBe(0);
          ran++;
        }
      }
    }
    expect(ran).toBe(SECRET_NAMES.length * STAGES.length);
  });

  it("the aws command a fix names exists in the AWS CLI", () => {
    const aws = new Set<string>();
    for (const s of Object.values(policy.secrets))
      for (const argv of commands(s!.rotate))
        if (argv[0] === "aws") aws.add(argv.slice(1, 3).join(" "));
    expect([...aws]).toEqual(["kms rotate-key-on-demand"]);
    for (const sub of aws) {
      const r = spawnSync("aws", [...sub.split(" "), "help"], { encoding: "utf8" });
      expect(r.error, "the AWS CLI is needed: apt-get install -y awscli").toBeUndefined();
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/--key-id/);
    }
  });

  it("the stack files rotate the generated passwords at least as often as the policy asks", () => {
    // The keeper moves every rotationDays: a password overdue by maxAgeDays has a moved keeper,
    // so the printed `pulumi up` does replace it.
    for (const stage of STAGES) {
      const cfg = loadStageConfigFile(join(repoRoot, `Pulumi.${stage}.yaml`));
      for (const secret of ["grafana-admin", "prometheus-basic-auth"] as const)
        expect(cfg.secrets.rotationDays, `${stage} ${secret}`).toBeLessThanOrEqual(
          policy.secrets[secret]!.maxAgeDays[stage],
        );
    }
  });

  it("an overdue Prometheus password is reported with its procedure and a fix that runs", async () => {
    const cwd = tempDir("goose-rotate-prom-");
    cpSync(join(repoRoot, "security"), join(cwd, "security"), { recursive: true });
    const env = {
      PATH: process.env.PATH,
      HOME: cwd,
      USER: "auditor",
      GOOSE_EVIDENCE_KEY: Buffer.alloc(32, 9).toString("base64"),
    };
    const at = new Date(Date.now() - 31 * 86_400_000).toISOString();
    const rec = await runGoose(
      ["keys", "record", "prometheus-basic-auth", "--stage", "production", "--at", at],
      { cwd, env },
    );
    expect(rec.code, rec.stderr).toBe(0);
    const text = await runGoose(["keys", "status", "--stage", "production"], { cwd, env });
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^OVERDUE +production +prometheus-basic-auth +31 d of max 30 d/m);
    expect(text.stdout).toContain(
      "fix: `pulumi up -s production && goose keys record prometheus-basic-auth --stage production`",
    );
    expect(text.stdout).toMatch(/first: pulumi up replaces it .*--show-urns\)/);
    const json = JSON.parse(
      (await runGoose(["keys", "status", "--stage", "production", "--json"], { cwd, env })).stdout,
    ) as { secrets: Array<{ secret: string; status: string; procedure?: string }> };
    const row = json.secrets.find((s) => s.secret === "prometheus-basic-auth");
    expect(row).toMatchObject({ status: "overdue" });
    expect(row?.procedure).toContain("pulumi stack -s production --show-urns");
  });

  it("the schema refuses a placeholder in rotate, naming the file, field and fix", async () => {
    const cwd = tempDir("goose-rotate-bad-");
    cpSync(join(repoRoot, "security"), join(cwd, "security"), { recursive: true });
    const file = join(cwd, AUDIT_FILES.rotation);
    const doc = parse(readFileSync(file, "utf8")) as {
      secrets: Record<string, { rotate: string }>;
    };
    doc.secrets["snapshot-key"]!.rotate = "goose keys rotate snapshot --new-key-file <file>";
    writeFileSync(file, stringify(doc));
    const r = await runGoose(["keys", "status"], {
      cwd,
      env: { PATH: process.env.PATH, HOME: cwd },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("secret-rotation.yaml");
    expect(r.stderr).toContain("secrets.snapshot-key.rotate");
    expect(r.stderr).toContain('placeholder "<file>"');
    expect(r.stderr).toMatch(/move what the user must supply .* into procedure/);
  });
});

import { cpSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadSecretRotation, SECRET_NAMES } from "../../src/audit/index.js";
import { initKeys } from "../../src/keys/index.js";
import { keyStatus, type KeyStatusReport } from "../../src/keys/status.js";
import { createSnapshot, keySourceFromEnv } from "../../src/snapshots/index.js";
import { openStore } from "../../src/store/index.js";
import { STAGES } from "../../src/config/stages.js";
import { runGoose } from "../helpers/cli.js";
import { cleanupTempDirs, fixture, repoRoot, tempDir } from "../snapshots/helpers.js";

afterAll(cleanupTempDirs);

interface Row {
  secret: string;
  stage: string;
  status: string;
  ageDays?: number;
  maxAgeDays: number;
  fix?: string;
}

describe("goose keys status and goose keys record", () => {
  it("passes on a fresh repository (nothing in use), passes once each is recorded, fails when one is overdue", async () => {
    const cwd = tempDir("goose-keys-");
    cpSync(join(repoRoot, "security"), join(cwd, "security"), { recursive: true });
    const env = {
      PATH: process.env.PATH,
      HOME: cwd,
      USER: "auditor",
      GOOSE_EVIDENCE_KEY: Buffer.alloc(32, 31).toString("base64"),
      GOOSE_SNAPSHOT_KEY: Buffer.alloc(32, 32).toString("base64"),
    };
    const goose = (args: string[]) => runGoose(args, { cwd, env });

    // Fresh repository: no snapshot, no record, keys only in the environment: nothing is in use
    // yet, so nothing is overdue (it used to exit 1 with every secret "unknown").
    let r = await goose(["keys", "status", "--json"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    let rows = (JSON.parse(r.stdout) as { kind: string; secrets: Row[] }).secrets;
    expect(rows).toHaveLength(SECRET_NAMES.length * STAGES.length);
    expect(rows.every((x) => x.status === "unused" && x.ageDays === undefined)).toBe(true);

    for (const stage of STAGES)
      for (const secret of SECRET_NAMES) {
        // The evidence key dates from the first record it signed (rotated with keys rotate evidence).
        if (secret === "evidence-signing-key") continue;
        const rec = await goose(["keys", "record", secret, "--stage", stage, "--reason", "test"]);
        expect(rec.code, rec.stderr).toBe(0);
      }
    r = await goose(["keys", "status"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^OK +production +grafana-admin +0 d of max 30 d/m);

    // Grafana's admin password in production rotated 31 days ago: overdue (max 30), with the fix.
    const longAgo = new Date(Date.now() - 31 * 86_400_000).toISOString();
    const rec = await goose([
      "keys",
      "record",
      "grafana-admin",
      "--stage",
      "production",
      "--at",
      longAgo,
    ]);
    expect(rec.code).toBe(0);
    r = await goose(["keys", "status", "--stage", "production", "--json"]);
    expect(r.code).toBe(1);
    rows = (JSON.parse(r.stdout) as { secrets: Row[] }).secrets;
    expect(rows.filter((x) => x.status !== "ok")).toEqual([
      expect.objectContaining({
        secret: "grafana-admin",
        status: "overdue",
        ageDays: 31,
        maxAgeDays: 30,
      }),
    ]);
    // Compliance allows 60 days: the same age is fine there (a record per stage).
    expect((await goose(["keys", "status", "--stage", "compliance"])).code).toBe(0);

    expect((await goose(["keys", "record", "grafana", "--stage", "sandbox"])).code).toBe(2);
    expect(
      (await goose(["keys", "record", "evidence-signing-key", "--stage", "sandbox"])).stderr,
    ).toContain("goose keys rotate evidence");
    expect((await goose(["keys", "record", "grafana-admin", "--stage", "staging"])).code).toBe(2);
    expect(
      (await goose(["keys", "record", "grafana-admin", "--stage", "sandbox", "--at", "yesterday"]))
        .code,
    ).toBe(2);
    // The records fit the evidence template.
    expect((await goose(["evidence", "check", "production"])).code).toBe(0);
  });
});

describe("keyStatus: a secret never rotated ages from its creation", () => {
  it("key files age from their creation, stack secrets from the stage's first snapshot", async () => {
    const home = tempDir("goose-keys-new-");
    const env = { HOME: home, XDG_CONFIG_HOME: join(home, "cfg") };
    initKeys(env);
    const store = openStore(`file://${tempDir("goose-keys-store-")}`, {});
    const policy = loadSecretRotation(repoRoot);
    const status = async (now: Date) =>
      keyStatus({ store, env, policy, records: [], stages: ["sandbox"], now });

    // Just created by goose keys init: 0 days old, ok, no rotation needed.
    let rep = await status(new Date());
    expect(rep.ok).toBe(true);
    const row = (rep: KeyStatusReport, s: string) => rep.secrets.find((x) => x.secret === s)!;
    expect(row(rep, "snapshot-key")).toMatchObject({ status: "ok", ageDays: 0 });
    expect(row(rep, "snapshot-key").source).toContain("snapshot.key created");
    expect(row(rep, "evidence-signing-key")).toMatchObject({ status: "ok", ageDays: 0 });
    expect(row(rep, "grafana-admin").status).toBe("unused");

    // Sandbox deployed and snapshotted: the stack's secrets date from then.
    await createSnapshot(store, {
      stage: "sandbox",
      source: fixture("checkpoint-v3.json"),
      keys: keySourceFromEnv(env),
    });
    rep = await status(new Date());
    expect(row(rep, "grafana-admin")).toMatchObject({ status: "ok", ageDays: 0 });
    expect(row(rep, "snapshot-key").source).toContain("oldest snapshot sealed");

    // A year and a month later, never rotated: the keys and the Grafana password are overdue.
    rep = await status(new Date(Date.now() + 400 * 86_400_000));
    expect(rep.ok).toBe(false);
    expect(row(rep, "grafana-admin")).toMatchObject({ status: "overdue", ageDays: 400 });
    expect(row(rep, "snapshot-key")).toMatchObject({ status: "overdue", ageDays: 400 });
    expect(row(rep, "evidence-signing-key")).toMatchObject({ status: "overdue", ageDays: 400 });
    expect(row(rep, "kms-keys").fix).toContain("aws kms rotate-key-on-demand");
  });
});

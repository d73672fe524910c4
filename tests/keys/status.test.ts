import { cpSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SECRET_NAMES } from "../../src/audit/index.js";
import { STAGES } from "../../src/config/stages.js";
import { runGoose } from "../helpers/cli.js";
import { cleanupTempDirs, repoRoot, tempDir } from "../snapshots/helpers.js";

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
  it("fails on secrets with no rotation on record, passes once each is recorded, fails when one is overdue", async () => {
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

    let r = await goose(["keys", "status", "--json"]);
    expect(r.code).toBe(1);
    let rows = (JSON.parse(r.stdout) as { kind: string; secrets: Row[] }).secrets;
    expect(rows).toHaveLength(SECRET_NAMES.length * STAGES.length);
    expect(rows.every((x) => x.status === "unknown")).toBe(true);
    expect(rows.find((x) => x.secret === "grafana-admin")?.fix).toContain(
      "goose keys record grafana-admin --stage sandbox",
    );

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

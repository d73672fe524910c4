import { afterAll, describe, expect, it } from "vitest";
import { mkdirSync, copyFileSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { runGoose } from "../helpers/cli.js";
import { startCasS3 as startS3rver } from "../store/s3rver.js";
import { cleanupTempDirs, fixture, tempDir, TEST_KEY, UNSUPPORTED } from "./helpers.js";

afterAll(cleanupTempDirs);

function goose(argv: string[], cwd: string, env: NodeJS.ProcessEnv) {
  return runGoose(argv, { cwd, env });
}

describe("goose snapshot (CLI)", () => {
  const cwd = tempDir();
  const env = {
    GOOSE_SNAPSHOT_KEY: TEST_KEY,
    GOOSE_EVIDENCE_KEY_FILE: join(tempDir(), "evidence.pem"),
  };

  it("create → list → verify → restore → pin → prune --dry-run, all with --json", async () => {
    const c = await goose(
      [
        "snapshot",
        "create",
        "sandbox",
        "--from-file",
        fixture("checkpoint-secrets.json"),
        "--stack",
        "foo",
        "--reason",
        "before upgrade",
        "--json",
      ],
      cwd,
      env,
    );
    expect(c.code, c.stderr).toBe(0);
    const m = JSON.parse(c.stdout) as { id: string; evidence: string; stack: string };
    expect(m.stack).toBe("foo");
    expect(m.evidence).toMatch(/^ev-/);
    expect(existsSync(join(cwd, ".goose", "snapshots", "sandbox"))).toBe(true);

    const l = await goose(["snapshot", "list", "sandbox", "--json"], cwd, env);
    expect(l.code).toBe(0);
    expect(JSON.parse(l.stdout).snapshots[0]).toMatchObject({ id: m.id, reason: "before upgrade" });

    const v = await goose(["snapshot", "verify", m.id, "--json"], cwd, env);
    expect(v.code).toBe(0);
    expect(JSON.parse(v.stdout).ok).toBe(true);

    const r = await goose(
      ["snapshot", "restore", m.id, "--out", "restored.json", "--json"],
      cwd,
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(
      readFileSync(join(cwd, "restored.json")).equals(
        readFileSync(fixture("checkpoint-secrets.json")),
      ),
    ).toBe(true);

    const p = await goose(["snapshot", "pin", m.id, "--reason", "audit", "--json"], cwd, env);
    expect(p.code).toBe(0);
    const pr = await goose(
      [
        "snapshot",
        "prune",
        "sandbox",
        "--dry-run",
        "--keep-last",
        "0",
        "--max-age-days",
        "0",
        "--json",
      ],
      cwd,
      env,
    );
    expect(pr.code).toBe(0);
    const plan = JSON.parse(pr.stdout);
    expect(plan.remove).toEqual([]);
    expect(plan.keep[0].reasons).toEqual(expect.arrayContaining(["pinned", "newest verified"]));

    // Wrong key: verify exits 1 naming it; no key at all: exit 2 naming the fix.
    const w = await goose(["snapshot", "verify", m.id], cwd, {
      ...env,
      GOOSE_SNAPSHOT_KEY: Buffer.alloc(32, 3).toString("base64"),
    });
    expect(w.code).toBe(1);
    expect(w.stderr).toMatch(/wrong-key/);
    const nk = await goose(["snapshot", "verify", m.id], cwd, {
      GOOSE_EVIDENCE_KEY_FILE: env.GOOSE_EVIDENCE_KEY_FILE,
    });
    expect(nk.code).toBe(2);
    expect(nk.stderr).toMatch(/GOOSE_SNAPSHOT_KEY/);
  });

  it("refuses an unsupported export with exit 2; bad ids and stages are usage errors", async () => {
    const u = await goose(
      ["snapshot", "create", "sandbox", "--from-file", fixture(UNSUPPORTED)],
      cwd,
      env,
    );
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/unsupported-feature/);
    expect((await goose(["snapshot", "verify", "not-an-id"], cwd, env)).code).toBe(2);
    expect((await goose(["snapshot", "list", "staging"], cwd, env)).code).toBe(2);
    expect(
      (await goose(["snapshot", "create", "sandbox", "--from-file", "missing.json"], cwd, env))
        .code,
    ).toBe(2);
    const nokey = await goose(
      ["snapshot", "create", "sandbox", "--from-file", fixture("checkpoint-v3.json")],
      cwd,
      {},
    );
    expect(nokey.code).toBe(2);
  });

  it("import-history takes a DIY backend's checkpoints in once", async () => {
    const backend = tempDir();
    const dir = join(backend, ".pulumi", "history", "countdown", "foo");
    mkdirSync(dir, { recursive: true });
    copyFileSync(
      fixture("checkpoint-v3.json"),
      join(dir, "foo-1763760000000000000.checkpoint.json"),
    );
    copyFileSync(
      fixture("checkpoint-v4.json"),
      join(dir, "foo-1763763600000000000.checkpoint.json"),
    );
    copyFileSync(fixture(UNSUPPORTED), join(dir, "foo-1763767200000000000.checkpoint.json"));
    const first = await goose(
      [
        "snapshot",
        "import-history",
        "compliance",
        "--backend",
        backend,
        "--stack",
        "foo",
        "--json",
      ],
      cwd,
      env,
    );
    const r = JSON.parse(first.stdout);
    expect(r.imported).toHaveLength(2);
    expect(r.refused).toHaveLength(1);
    expect(first.code).toBe(1);
    const again = JSON.parse(
      (
        await goose(
          [
            "snapshot",
            "import-history",
            "compliance",
            "--backend",
            backend,
            "--stack",
            "foo",
            "--json",
          ],
          cwd,
          env,
        )
      ).stdout,
    );
    expect(again.imported).toHaveLength(0);
    expect(again.alreadyPresent).toHaveLength(2);
  });

  it("prints help", async () => {
    const h = await goose(["snapshot", "--help"], cwd, env);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/import-history/);
  });

  it("works the same against an S3 store (--store s3://, GOOSE_S3_ENDPOINT)", async () => {
    const s3 = await startS3rver();
    try {
      const senv = { ...env, ...s3.env };
      const store = `s3://${s3.bucket}/goose`;
      const c = await goose(
        [
          "snapshot",
          "create",
          "production",
          "--from-file",
          fixture("checkpoint-v4.json"),
          "--store",
          store,
          "--json",
        ],
        cwd,
        senv,
      );
      expect(c.code, c.stderr).toBe(0);
      const id = (JSON.parse(c.stdout) as { id: string }).id;
      const l = JSON.parse(
        (await goose(["snapshot", "list", "production", "--store", store, "--json"], cwd, senv))
          .stdout,
      );
      expect(l.snapshots.map((s: { id: string }) => s.id)).toEqual([id]);
      expect((await goose(["snapshot", "verify", id, "--store", store], cwd, senv)).code).toBe(0);
      const r = await goose(
        ["snapshot", "restore", id, "--out", "from-s3.json", "--store", store],
        cwd,
        senv,
      );
      expect(r.code, r.stderr).toBe(0);
      expect(
        readFileSync(join(cwd, "from-s3.json")).equals(readFileSync(fixture("checkpoint-v4.json"))),
      ).toBe(true);
    } finally {
      await s3.close();
    }
  });
});

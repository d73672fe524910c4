/**
 * `goose keys init` and the key errors a first hour meets: the keys are created once (0600, never
 * replaced), goose then uses them without any variable, and a wrong key names the key in use, the
 * expected one and a fix that works when applied.
 */
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runGoose } from "../helpers/cli.js";
import { fixture } from "../snapshots/helpers.js";

function setup() {
  const dir = mkdtempSync(path.join(tmpdir(), "goose-keys-"));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    XDG_CONFIG_HOME: path.join(dir, "config"),
  };
  return { dir, env, store: `file://${path.join(dir, "store")}` };
}

function fixtureExport(): string {
  return fixture("checkpoint-secrets.json");
}

describe("goose keys init", () => {
  it("creates both keys with mode 0600, prints no secret, and keeps them on a second run", async () => {
    const { dir, env } = setup();
    const first = await runGoose(["keys", "init"], { cwd: dir, env });
    expect(first.code).toBe(0);
    const snapFile = path.join(dir, "config/goose/snapshot.key");
    const evFile = path.join(dir, "config/goose/evidence-ed25519.pem");
    expect(statSync(snapFile).mode & 0o777).toBe(0o600);
    expect(statSync(evFile).mode & 0o777).toBe(0o600);
    const snapKey = readFileSync(snapFile, "utf8").trim();
    expect(Buffer.from(snapKey, "base64")).toHaveLength(32);
    expect(first.stdout).toContain(snapFile);
    expect(first.stdout).toContain("GOOSE_SNAPSHOT_KEY");
    expect(first.stdout + first.stderr).not.toContain(snapKey);
    expect(first.stdout + first.stderr).not.toContain("PRIVATE KEY");

    const again = await runGoose(["keys", "init", "--json"], { cwd: dir, env });
    expect(again.code).toBe(0);
    const doc = JSON.parse(again.stdout) as {
      kind: string;
      version: number;
      snapshot: { created: boolean; file: string };
    };
    expect(doc).toMatchObject({ kind: "goose.keys.init", version: 1 });
    expect(doc.snapshot).toMatchObject({ created: false, file: snapFile });
    expect(readFileSync(snapFile, "utf8").trim()).toBe(snapKey);

    const shown = await runGoose(["keys", "init", "--show"], { cwd: dir, env });
    expect(shown.stdout).toContain(snapKey);
  });

  it("snapshots use the key file with no variable set; a wrong GOOSE_SNAPSHOT_KEY names the fix, which works", async () => {
    const { dir, env, store } = setup();
    expect((await runGoose(["keys", "init"], { cwd: dir, env })).code).toBe(0);
    const created = await runGoose(
      [
        "snapshot",
        "create",
        "sandbox",
        "--from-file",
        fixtureExport(),
        "--stack",
        "foo",
        "--store",
        store,
        "--json",
      ],
      { cwd: dir, env },
    );
    expect(created.code, created.stderr).toBe(0);
    const id = (JSON.parse(created.stdout) as { id: string }).id;

    const wrong = { ...env, GOOSE_SNAPSHOT_KEY: Buffer.alloc(32, 7).toString("base64") };
    const bad = await runGoose(["snapshot", "verify", id, "--store", store], {
      cwd: dir,
      env: wrong,
    });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/key in use, GOOSE_SNAPSHOT_KEY/);
    expect(bad.stderr).toContain("unset GOOSE_SNAPSHOT_KEY");
    expect(bad.stderr).toContain(path.join(dir, "config/goose/snapshot.key"));

    // Applying the fix: unset the variable.
    const ok = await runGoose(["snapshot", "verify", id, "--store", store], { cwd: dir, env });
    expect(ok.code, ok.stderr).toBe(0);
  });

  it("a wrong GOOSE_EVIDENCE_KEY names the chain's key, the key in use and says to unset it", async () => {
    const { dir, env, store } = setup();
    expect((await runGoose(["keys", "init"], { cwd: dir, env })).code).toBe(0);
    const acquire = [
      "lock",
      "acquire",
      "sandbox",
      "--kind",
      "scan",
      "--ttl",
      "60",
      "--store",
      store,
    ];
    const release = [
      "lock",
      "release",
      "sandbox",
      "--kind",
      "scan",
      "--force",
      "--reason",
      "test",
      "--store",
      store,
    ];
    // A forced release is an evidence record: the chain starts under the key file's key.
    expect((await runGoose(acquire, { cwd: dir, env })).code).toBe(0);
    expect((await runGoose(release, { cwd: dir, env })).code).toBe(0);
    expect((await runGoose(acquire, { cwd: dir, env })).code).toBe(0);
    const wrong = { ...env, GOOSE_EVIDENCE_KEY: Buffer.alloc(32, 9).toString("base64") };
    const bad = await runGoose(release, { cwd: dir, env: wrong });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/wrong evidence key/);
    expect(bad.stderr).toMatch(/key in use, GOOSE_EVIDENCE_KEY/);
    expect(bad.stderr).toContain(
      `unset GOOSE_EVIDENCE_KEY: the key file ${path.join(dir, "config/goose/evidence-ed25519.pem")}`,
    );
    const ok = await runGoose(release, { cwd: dir, env });
    expect(ok.code, ok.stderr).toBe(0);
  });
});

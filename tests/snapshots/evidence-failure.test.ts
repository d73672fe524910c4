/**
 * Issue 10, item 11: when the evidence append fails (here: the chain was started with another
 * key), `snapshot create` leaves no orphan payload and `snapshot pin` writes no pin.
 */
import { existsSync, readdirSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runGoose } from "../helpers/cli.js";
import { openEvidenceChain } from "../../src/evidence/index.js";
import { openStore } from "../../src/store/index.js";
import { cleanupTempDirs, fixture, tempDir, TEST_KEY } from "./helpers.js";

afterAll(cleanupTempDirs);

describe("evidence failure leaves no snapshot state behind", () => {
  it("create: no payload without its evidence; pin: no pin without its evidence", async () => {
    const cwd = tempDir();
    const keyA = randomBytes(32).toString("base64");
    const keyB = randomBytes(32).toString("base64");
    const base = { GOOSE_SNAPSHOT_KEY: TEST_KEY, XDG_CONFIG_HOME: join(cwd, "config") };
    // The chain in this store is signed with key A.
    await openEvidenceChain(openStore(`file://${join(cwd, ".goose")}`, {}), {
      ...base,
      GOOSE_EVIDENCE_KEY: keyA,
    }).append({ kind: "test.start", subject: [{ name: "s", digest: { sha256: "00" } }], data: {} });
    const create = (key: string) =>
      runGoose(
        [
          "snapshot",
          "create",
          "sandbox",
          "--from-file",
          fixture("checkpoint-secrets.json"),
          "--stack",
          "foo",
          "--json",
        ],
        { cwd, env: { ...base, GOOSE_EVIDENCE_KEY: key } },
      );
    const bad = await create(keyB);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/wrong evidence key/);
    const dir = join(cwd, ".goose", "snapshots", "sandbox");
    const files = existsSync(dir) ? readdirSync(dir) : [];
    expect(files.filter((f) => f.endsWith(".payload") || f.endsWith(".manifest.json"))).toEqual([]);

    const good = await create(keyA);
    expect(good.code, good.stderr).toBe(0);
    const id = (JSON.parse(good.stdout) as { id: string }).id;
    const pin = await runGoose(["snapshot", "pin", id, "--reason", "keep"], {
      cwd,
      env: { ...base, GOOSE_EVIDENCE_KEY: keyB },
    });
    expect(pin.code).toBe(2);
    expect(existsSync(join(dir, "pins", `${id}.json`))).toBe(false);
    const pinOk = await runGoose(["snapshot", "pin", id, "--reason", "keep"], {
      cwd,
      env: { ...base, GOOSE_EVIDENCE_KEY: keyA },
    });
    expect(pinOk.code, pinOk.stderr).toBe(0);
    expect(existsSync(join(dir, "pins", `${id}.json`))).toBe(true);
  });
});

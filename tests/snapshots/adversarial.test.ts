/**
 * Issue 10, the snapshot half, tried as an attacker would: a forged snapshot sealed with a key
 * the victim did not configure, manifest-controlled KDF cost, tampered manifests that must be
 * exit 1 (never a TypeError, never "no credentials"), unbounded or hostile inputs (huge stack
 * files, deeply nested exports, a bad --out), and old deployment versions Pulumi still imports.
 * One `describe` per item of the issue. The KMS is our KMS-protocol test server (kms-server.ts).
 * SIGKILL trials (item 8) are in adversarial-kill.test.ts; inputs (12, 13, 15) in adversarial-inputs.test.ts.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runGoose } from "../helpers/cli.js";
import { exitCodeOf } from "../../src/cli/errors.js";
import { openStore } from "../../src/store/index.js";
import { readSnapshotExport } from "../../src/snapshots/index.js";
import { cleanupTempDirs, fixture, OTHER_KEY, tempDir, TEST_KEY } from "./helpers.js";
import { startKmsServer, type KmsServer } from "./kms-server.js";

/** Dummy credentials for the test server only. */
const CREDS = {
  AWS_ACCESS_KEY_ID: "AKIAGOOSETESTDUMMY02",
  AWS_SECRET_ACCESS_KEY: "goose-test-dummy-secret-adversarial",
};
const REGION = "eu-central-1";

let kms: KmsServer;
let keyA: string;
let keyB: string;
const evidenceKey = () => join(tempDir(), "evidence.pem");

beforeAll(async () => {
  kms = await startKmsServer({
    accessKeyId: CREDS.AWS_ACCESS_KEY_ID,
    secretAccessKey: CREDS.AWS_SECRET_ACCESS_KEY,
    region: REGION,
  });
  keyA = kms.createKey("goose-snapshots");
  keyB = kms.createKey("someone-elses");
});
afterAll(async () => {
  await kms?.close();
  cleanupTempDirs();
});

const kmsEnv = () => ({ ...CREDS, AWS_REGION: REGION, GOOSE_KMS_ENDPOINT: kms.url });

function manifestPath(cwd: string, id: string): string {
  const stage = id.split("-")[0]!;
  return join(cwd, ".goose", "snapshots", stage, `${id}.manifest.json`);
}

async function create(cwd: string, env: NodeJS.ProcessEnv, extra: string[] = [], file?: string) {
  const c = await runGoose(
    [
      "snapshot",
      "create",
      "sandbox",
      "--from-file",
      file ?? fixture("checkpoint-secrets.json"),
      "--stack",
      "foo",
      "--json",
      ...extra,
    ],
    { cwd, env },
  );
  expect(c.code, c.stderr).toBe(0);
  return JSON.parse(c.stdout) as { id: string; key: { type: string } };
}

function editManifest(cwd: string, id: string, edit: (m: Record<string, unknown>) => unknown) {
  const p = manifestPath(cwd, id);
  const next = edit(JSON.parse(readFileSync(p, "utf8")) as Record<string, unknown>);
  writeFileSync(p, typeof next === "string" ? next : JSON.stringify(next));
}

/** A stack file for sandbox whose snapshot trust lists these KMS key ARNs. */
function stackFileWithKms(cwd: string, arns: string[]): void {
  writeFileSync(
    join(cwd, "Pulumi.sandbox.yaml"),
    [
      "config:",
      "  golden-goose:stage: sandbox",
      "  golden-goose:snapshots:",
      "    keepLast: 10",
      "    maxAgeDays: 14",
      "    kmsKeys:",
      ...arns.map((a) => `      - ${a}`),
      "",
    ].join("\n"),
  );
}

function noJsError(text: string): void {
  expect(text).not.toMatch(/TypeError|Cannot read properties|is not a function|at .*\.ts:\d+/);
}

describe("1. a forged snapshot (sealed with a key goose was not configured with) is refused", () => {
  it("only GOOSE_SNAPSHOT_KEY configured: a snapshot wrapped by another KMS key the credentials can use is wrong-key, exit 1, for verify, restore and rollback's reader", async () => {
    const cwd = tempDir();
    const victim = {
      GOOSE_SNAPSHOT_KEY: TEST_KEY,
      GOOSE_EVIDENCE_KEY_FILE: evidenceKey(),
      ...kmsEnv(),
    };
    // The attacker writes into the victim's store with their own KMS key (no raw key needed).
    const attacker = { ...kmsEnv(), GOOSE_EVIDENCE_KEY_FILE: evidenceKey() };
    const forged = await create(cwd, attacker, ["--kms-key", kms.keyArn(keyB)]);
    const before = kms.exchanges.length;

    const v = await runGoose(["snapshot", "verify", forged.id, "--json"], { cwd, env: victim });
    expect(v.code, v.stderr).toBe(1);
    const report = JSON.parse(v.stdout) as { ok: boolean; problem: string; message: string };
    expect(report.ok).toBe(false);
    expect(report.problem).toBe("wrong-key");
    expect(report.message).toContain(kms.keyArn(keyB));
    expect(report.message).toMatch(/not a configured/);
    // The KMS was never asked to unwrap the forged key.
    expect(kms.exchanges.slice(before).filter((x) => x.target === "TrentService.Decrypt")).toEqual(
      [],
    );

    const r = await runGoose(["snapshot", "restore", forged.id, "--out", "out.json"], {
      cwd,
      env: victim,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/wrong-key/);
    expect(existsSync(join(cwd, "out.json"))).toBe(false);

    const store = openStore(`file://${join(cwd, ".goose")}`, {});
    const err = await readSnapshotExport(store, forged.id, victim).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/wrong-key/);
    expect(exitCodeOf(err)).toBe(1);
  });

  it("KMS allow-list in the stack file: a snapshot of a listed key verifies; another key (even one the credentials can use) is wrong-key", async () => {
    const cwd = tempDir();
    stackFileWithKms(cwd, [kms.keyArn(keyA)]);
    const env = { ...kmsEnv(), GOOSE_EVIDENCE_KEY_FILE: evidenceKey() };
    const ours = await create(cwd, env, ["--kms-key", keyA]);
    const ok = await runGoose(["snapshot", "verify", ours.id], { cwd, env });
    expect(ok.code, ok.stderr).toBe(0);

    const forged = await create(cwd, env, ["--kms-key", keyB]);
    const v = await runGoose(["snapshot", "verify", forged.id, "--json"], { cwd, env });
    expect(v.code).toBe(1);
    expect(JSON.parse(v.stdout).problem).toBe("wrong-key");

    // The manifest of our own snapshot re-pointed at the other key: still refused.
    editManifest(cwd, ours.id, (m) => {
      (m.key as Record<string, unknown>).keyId = kms.keyArn(keyB);
      return m;
    });
    const edited = await runGoose(["snapshot", "verify", ours.id, "--json"], { cwd, env });
    expect(edited.code).toBe(1);
    expect(["wrong-key", "manifest-edited"]).toContain(JSON.parse(edited.stdout).problem);
  });

  it("--kms-key on verify is the allow-list when there is no stack file; without any configured key it is exit 2 naming the fix", async () => {
    const cwd = tempDir();
    const env = { ...kmsEnv(), GOOSE_EVIDENCE_KEY_FILE: evidenceKey() };
    const s = await create(cwd, env, ["--kms-key", keyA]);
    const ok = await runGoose(["snapshot", "verify", s.id, "--kms-key", kms.keyArn(keyA)], {
      cwd,
      env,
    });
    expect(ok.code, ok.stderr).toBe(0);
    const other = await runGoose(["snapshot", "verify", s.id, "--kms-key", kms.keyArn(keyB)], {
      cwd,
      env,
    });
    expect(other.code).toBe(1);
    const none = await runGoose(["snapshot", "verify", s.id], { cwd, env });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("--kms-key");
    expect(none.stderr).toContain("kmsKeys");
  });

  it("a passphrase-sealed snapshot made by someone else is wrong-key when only GOOSE_SNAPSHOT_KEY is configured", async () => {
    const cwd = tempDir();
    const forged = await create(cwd, {
      GOOSE_SNAPSHOT_PASSPHRASE: "the attacker's passphrase",
      GOOSE_EVIDENCE_KEY_FILE: evidenceKey(),
    });
    const v = await runGoose(["snapshot", "verify", forged.id, "--json"], {
      cwd,
      env: { GOOSE_SNAPSHOT_KEY: TEST_KEY, GOOSE_EVIDENCE_KEY_FILE: evidenceKey() },
    });
    expect(v.code).toBe(1);
    expect(JSON.parse(v.stdout).problem).toBe("wrong-key");
  });

  it("a snapshot sealed with another raw key is wrong-key (held before; kept)", async () => {
    const cwd = tempDir();
    const forged = await create(cwd, {
      GOOSE_SNAPSHOT_KEY: OTHER_KEY,
      GOOSE_EVIDENCE_KEY_FILE: evidenceKey(),
    });
    const v = await runGoose(["snapshot", "verify", forged.id, "--json"], {
      cwd,
      env: { GOOSE_SNAPSHOT_KEY: TEST_KEY, GOOSE_EVIDENCE_KEY_FILE: evidenceKey() },
    });
    expect(v.code).toBe(1);
    expect(JSON.parse(v.stdout).problem).toBe("wrong-key");
  });
});

describe("7. KDF parameters come from the manifest only within bounds", () => {
  const env = { GOOSE_SNAPSHOT_PASSPHRASE: "correct horse", GOOSE_EVIDENCE_KEY_FILE: "" };
  const cases: Array<[string, Record<string, unknown>]> = [
    ["N = 2^24 (16 GiB)", { N: 2 ** 24 }],
    ["N = 2^40", { N: 2 ** 40 }],
    ["N = 3 (not a power of two)", { N: 3 }],
    ["r = 0", { r: 0 }],
    ["r = 10^6", { r: 1e6 }],
    ["p = 0", { p: 0 }],
    ["p = 2^20", { p: 2 ** 20 }],
    ["N as a string", { N: "32768" }],
    ["kdf pbkdf2", { kdf: "pbkdf2" }],
    ["salt of 10 MB", { salt: Buffer.alloc(10 << 20, 1).toString("base64") }],
    ["salt a number", { salt: 7 }],
  ];
  it.each(cases)("%s: manifest-edited, exit 1, nothing allocated from it", async (_n, patch) => {
    const cwd = tempDir();
    const e = { ...env, GOOSE_EVIDENCE_KEY_FILE: evidenceKey() };
    const s = await create(cwd, e, [], fixture("checkpoint-v3.json"));
    editManifest(cwd, s.id, (m) => ({ ...m, key: { ...(m.key as object), ...patch } }));
    const v = await runGoose(["snapshot", "verify", s.id, "--json"], { cwd, env: e });
    expect(v.code, v.stderr).toBe(1);
    const r = JSON.parse(v.stdout) as { problem: string; message: string };
    expect(r.problem).toBe("manifest-edited");
    // A 10 MB salt makes the manifest itself too large to be one of ours.
    expect(r.message).toMatch(/scrypt|kdf|salt|bytes/i);
    noJsError(v.stderr + v.stdout);
  });
});

describe("10. tampered manifests are exit 1 and named, never a TypeError or 'no credentials'", () => {
  const edits: Array<[string, (m: Record<string, unknown>) => unknown]> = [
    ["key: null", (m) => ({ ...m, key: null })],
    ["key: []", (m) => ({ ...m, key: [] })],
    ["unknown key type", (m) => ({ ...m, key: { ...(m.key as object), type: "hsm" } })],
    ["key.type missing", (m) => ({ ...m, key: { kid: "x" } })],
    ["raw key with wrapped: null", (m) => ({ ...m, key: { ...(m.key as object), wrapped: null } })],
    [
      "raw key with wrapped.iv a number",
      (m) => ({ ...m, key: { ...(m.key as object), wrapped: { iv: 5, ct: 5 } } }),
    ],
    [
      "switched to kms",
      (m) => ({ ...m, key: { type: "kms", keyId: "alias/whatever", wrapped: "AAAA" } }),
    ],
    [
      "switched to kms with a null keyId",
      (m) => ({ ...m, key: { type: "kms", keyId: null, wrapped: null } }),
    ],
    ["the whole manifest null", () => "null"],
    ["the whole manifest a string", () => '"snapshot"'],
    ["the whole manifest an array", () => "[]"],
    ["cipher: null", (m) => ({ ...m, cipher: null })],
    ["ciphertext: null", (m) => ({ ...m, ciphertext: null })],
    ["plaintext size a string", (m) => ({ ...m, plaintext: { sha256: "x", size: "1" } })],
    ["mac: null", (m) => ({ ...m, mac: null })],
  ];
  it.each(edits)("%s", async (_n, edit) => {
    const cwd = tempDir();
    // Credentials for KMS are present too: "switched to kms" must not reach KMS or ask for them.
    const env = { GOOSE_SNAPSHOT_KEY: TEST_KEY, GOOSE_EVIDENCE_KEY_FILE: evidenceKey() };
    const s = await create(cwd, env, [], fixture("checkpoint-v3.json"));
    editManifest(cwd, s.id, edit);
    const v = await runGoose(["snapshot", "verify", s.id, "--json"], { cwd, env });
    expect(v.code, v.stderr).toBe(1);
    noJsError(v.stderr + v.stdout);
    const r = JSON.parse(v.stdout) as { problem: string; message: string };
    expect(["manifest-edited", "manifest-unreadable", "wrong-key"]).toContain(r.problem);
    expect(r.message).toContain(s.id);
    const restore = await runGoose(["snapshot", "restore", s.id, "--out", "x.json"], { cwd, env });
    expect(restore.code).toBe(1);
    noJsError(restore.stderr);
    expect(existsSync(join(cwd, "x.json"))).toBe(false);
  });
});

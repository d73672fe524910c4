import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
} from "node:crypto";
import { cpSync, existsSync, readFileSync, writeFileSync, appendFileSync } from "node:fs";
import { join } from "node:path";
import canonicalize from "canonicalize";
import { afterAll, describe, expect, it } from "vitest";
import { keyIdOf, rawPublicKey } from "../../src/evidence/keys.js";
import { runGoose } from "../helpers/cli.js";
import { cleanupTempDirs, repoRoot, tempDir } from "../snapshots/helpers.js";

afterAll(cleanupTempDirs);

const canon = (v: unknown) => canonicalize(v) as string;
const sha = (s: string) => "sha256:" + createHash("sha256").update(s).digest("hex");

/** Appends a record signed by `pem` to the active segment, as an attacker holding that key would. */
function forgeAppend(chainFile: string, pem: string, kind: string, data: Record<string, unknown>) {
  const lines = readFileSync(chainFile, "utf8").trimEnd().split("\n");
  const last = lines.at(-1)!;
  const privateKey = createPrivateKey(pem);
  const unsigned = {
    seq: (JSON.parse(last) as { seq: number }).seq + 1,
    time: new Date().toISOString(),
    kind,
    subject: [],
    data,
    prev: sha(last),
    keyid: keyIdOf(createPublicKey(privateKey)),
  };
  const rec = {
    ...unsigned,
    sig: sign(null, Buffer.from(canon(unsigned)), privateKey).toString("base64"),
  };
  appendFileSync(chainFile, canon(rec) + "\n");
}

function setup() {
  const cwd = tempDir("goose-evrot-");
  cpSync(join(repoRoot, "security"), join(cwd, "security"), { recursive: true });
  const env = {
    PATH: process.env.PATH,
    HOME: cwd,
    XDG_CONFIG_HOME: join(cwd, ".config"),
    USER: "rotator",
  };
  const goose = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
    runGoose(args, { cwd, env: { ...env, ...extra } });
  const keyFile = join(cwd, ".config/goose/evidence-ed25519.pem");
  const chainFile = join(cwd, ".goose/evidence/chain.jsonl");
  return { cwd, goose, keyFile, chainFile };
}

describe("goose keys rotate evidence", () => {
  it("the chain verifies across the rotation; the old key is refused after it", async () => {
    const { goose, keyFile, chainFile } = setup();
    for (const stage of ["sandbox", "compliance"])
      expect((await goose(["keys", "record", "grafana-admin", "--stage", stage])).code).toBe(0);
    const oldPem = readFileSync(keyFile, "utf8");
    const oldPub = rawPublicKey(createPublicKey(createPrivateKey(oldPem))).toString("base64");

    const rot = await goose(["keys", "rotate", "evidence", "--reason", "yearly", "--json"]);
    expect(rot.code, rot.stderr).toBe(0);
    const r = JSON.parse(rot.stdout) as {
      fromKeyid: string;
      toKeyid: string;
      record: string;
      newKeyFile: string;
      retiredKeyFile: string;
      publicKeyBase64: string;
    };
    expect(r.fromKeyid).not.toBe(r.toKeyid);
    expect(r.newKeyFile).toBe(keyFile);
    expect(existsSync(r.retiredKeyFile)).toBe(true);
    expect(readFileSync(r.retiredKeyFile, "utf8")).toBe(oldPem);
    expect(rot.stdout + rot.stderr).not.toContain(oldPem.split("\n")[1]);

    // The new key signs from here on; the chain verifies across the rotation.
    expect((await goose(["keys", "record", "kms-keys", "--stage", "production"])).code).toBe(0);
    let v = await goose(["evidence", "verify", "--json"]);
    expect(v.code, v.stdout).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, records: 4, keyid: r.toKeyid });
    expect(v.stderr).toContain(`signing key rotated: ${r.fromKeyid} → ${r.toKeyid}`);
    expect(
      (await goose(["evidence", "verify"], { GOOSE_EVIDENCE_PUBLIC_KEY: r.publicKeyBase64 })).code,
    ).toBe(0);
    // Pinning the old key fails, saying it was rotated out.
    v = await goose(["evidence", "verify"], { GOOSE_EVIDENCE_PUBLIC_KEY: oldPub });
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/was rotated out by record 3/);

    // The old key can no longer append through goose.
    const stale = await goose(["keys", "record", "grafana-admin", "--stage", "sandbox"], {
      GOOSE_EVIDENCE_KEY: oldPem,
    });
    expect(stale.code).toBe(2);
    expect(stale.stderr).toMatch(/retired evidence key/);

    // keys status dates the evidence key from the rotation record.
    const st = JSON.parse(
      (await goose(["keys", "status", "--stage", "sandbox", "--json"])).stdout,
    ) as {
      secrets: Array<{ secret: string; source: string; status: string }>;
    };
    expect(st.secrets.find((s) => s.secret === "evidence-signing-key")).toMatchObject({
      status: "ok",
      source: expect.stringContaining("key.rotated"),
    });

    // A record signed only by the old key after the rotation (an attacker holding it) is rejected.
    forgeAppend(chainFile, oldPem, "key.rotated", {
      rotated: "grafana-admin",
      rotatedAt: new Date().toISOString(),
    });
    v = await goose(["evidence", "verify", "--json"]);
    expect(v.code).toBe(1);
    expect(JSON.parse(v.stdout).firstBad).toMatchObject({
      seq: 5,
      reason: expect.stringMatching(
        /signed by .*which record 3 rotated out.*old key after rotation/,
      ),
    });
  });

  it("a rotation record the new key did not countersign is rejected", async () => {
    const { goose, keyFile, chainFile } = setup();
    expect((await goose(["keys", "record", "grafana-admin", "--stage", "sandbox"])).code).toBe(0);
    const pem = readFileSync(keyFile, "utf8");
    // The holder of the current key tries to hand the chain to a key it made up, without its countersignature.
    const other = generateKeyPairSync("ed25519").publicKey;
    forgeAppend(chainFile, pem, "key.rotated", {
      rotated: "evidence-signing-key",
      rotatedAt: new Date().toISOString(),
      fromKeyid: keyIdOf(createPublicKey(createPrivateKey(pem))),
      toKeyid: keyIdOf(other),
      toPublicKey: rawPublicKey(other).toString("base64"),
      countersig: Buffer.alloc(64).toString("base64"),
    });
    const v = await goose(["evidence", "verify", "--json"]);
    expect(v.code).toBe(1);
    expect(JSON.parse(v.stdout).firstBad.reason).toMatch(/is not countersigned by that key/);
  });

  it("with GOOSE_EVIDENCE_KEY, the new key file must be named; an existing file is used", async () => {
    const { cwd, goose } = setup();
    const pem = generateKeyPairSync("ed25519")
      .privateKey.export({ format: "pem", type: "pkcs8" })
      .toString();
    const env = { GOOSE_EVIDENCE_KEY: pem };
    expect((await goose(["keys", "record", "grafana-admin", "--stage", "sandbox"], env)).code).toBe(
      0,
    );
    const noFile = await goose(["keys", "rotate", "evidence"], env);
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toContain("--new-key-file");
    const next = generateKeyPairSync("ed25519")
      .privateKey.export({ format: "pem", type: "pkcs8" })
      .toString();
    writeFileSync(join(cwd, "next.pem"), next, { mode: 0o600 });
    const rot = await goose(["keys", "rotate", "evidence", "--new-key-file", "next.pem"], env);
    expect(rot.code, rot.stderr).toBe(0);
    expect(rot.stdout).toContain("GOOSE_EVIDENCE_KEY still holds the old key");
    expect(
      (
        await goose(["keys", "record", "kms-keys", "--stage", "sandbox"], {
          GOOSE_EVIDENCE_KEY: next,
        })
      ).code,
    ).toBe(0);
    expect((await goose(["evidence", "verify"], { GOOSE_EVIDENCE_KEY: next })).code).toBe(0);
    // Verifying with the old key pinned (GOOSE_EVIDENCE_KEY's public half) fails after the rotation.
    expect((await goose(["evidence", "verify"], env)).code).toBe(1);
  });
});

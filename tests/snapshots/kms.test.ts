/**
 * `--kms-key` end to end through the real @aws-sdk/client-kms. The KMS here is our own test
 * server (tests/snapshots/kms-server.ts), not AWS and not a third-party emulator: it speaks
 * KMS's wire protocol (AWS JSON 1.1, `X-Amz-Target: TrentService.*`, SigV4-signed requests,
 * base64 blobs, encryption context bound to the ciphertext, KMS's error types with HTTP 400), so
 * the SDK client goose uses runs unchanged against it through GOOSE_KMS_ENDPOINT. The
 * credentials are dummies made up for this test, set only in the env handed to goose.
 */
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DecryptCommand, EncryptCommand, KMSClient } from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../helpers/pushgateway.js";
import { runGoose } from "../helpers/cli.js";
import { allFiles, cleanupTempDirs, fixture, repoRoot, tempDir } from "./helpers.js";
import { startKmsServer, type KmsServer } from "./kms-server.js";

/** Dummy credentials for the test server only; never real ones. */
const CREDS = {
  AWS_ACCESS_KEY_ID: "AKIAGOOSETESTDUMMY01",
  AWS_SECRET_ACCESS_KEY: "goose-test-dummy-secret-not-an-aws-key",
};
const REGION = "eu-central-1";

let kms: KmsServer;
let keyA: string;
let keyB: string;
let cwd: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  kms = await startKmsServer({
    accessKeyId: CREDS.AWS_ACCESS_KEY_ID,
    secretAccessKey: CREDS.AWS_SECRET_ACCESS_KEY,
    region: REGION,
  });
  keyA = kms.createKey("goose-snapshots");
  keyB = kms.createKey();
  cwd = tempDir();
  // The stage's stack file is where KMS trust is configured: only keyA's snapshots are trusted.
  writeFileSync(
    join(cwd, "Pulumi.sandbox.yaml"),
    `config:\n  golden-goose:stage: sandbox\n  golden-goose:snapshots:\n    keepLast: 10\n    maxAgeDays: 14\n    kmsKeys:\n      - ${kms.keyArn(keyA)}\n`,
  );
  // No GOOSE_SNAPSHOT_KEY / PASSPHRASE: KMS is the only key there is.
  env = {
    ...CREDS,
    AWS_REGION: REGION,
    GOOSE_KMS_ENDPOINT: kms.url,
    GOOSE_EVIDENCE_KEY_FILE: join(tempDir(), "evidence.pem"),
  };
});
afterAll(async () => {
  await kms?.close();
  cleanupTempDirs();
});

const manifestPath = (id: string) =>
  join(cwd, ".goose", "snapshots", "sandbox", `${id}.manifest.json`);

async function create(keyId: string, e: NodeJS.ProcessEnv = env) {
  return runGoose(
    [
      "snapshot",
      "create",
      "sandbox",
      "--from-file",
      fixture("checkpoint-secrets.json"),
      "--stack",
      "foo",
      "--kms-key",
      keyId,
      "--json",
    ],
    { cwd, env: e },
  );
}

/** Runs bin/goose.js as its own process with exactly `childEnv` (the SDK's default chain reads process.env). */
function gooseProcess(
  args: string[],
  childEnv: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, "bin/goose.js"), ...args], {
      cwd,
      env: childEnv,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stderr }));
  });
}

describe("snapshots with --kms-key against a KMS-protocol server", () => {
  let id: string;

  it("create → verify → restore byte-identical, the data key wrapped by KMS with the id as context", async () => {
    const c = await create(keyA);
    expect(c.code, c.stderr).toBe(0);
    const m = JSON.parse(c.stdout) as { id: string; key: { type: string; keyId: string } };
    id = m.id;
    // The manifest records the key ARN KMS reports, whatever form --kms-key took.
    expect(m.key).toMatchObject({ type: "kms", keyId: kms.keyArn(keyA) });
    const enc = kms.exchanges.filter((x) => x.target === "TrentService.Encrypt");
    expect(enc).toHaveLength(1);
    expect(enc[0]!.status).toBe(200);
    expect(enc[0]!.request.EncryptionContext).toEqual({
      "goose-snapshot": `goose-snapshot:v1:${id}`,
    });
    expect(enc[0]!.request.KeyId).toBe(keyA);

    const v = await runGoose(["snapshot", "verify", id, "--json"], { cwd, env });
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout).ok).toBe(true);
    const dec = kms.exchanges.filter((x) => x.target === "TrentService.Decrypt");
    expect(dec.at(-1)).toMatchObject({
      status: 200,
      // Decrypt names the configured key (from the stack file), never the manifest's.
      request: {
        KeyId: kms.keyArn(keyA),
        EncryptionContext: { "goose-snapshot": `goose-snapshot:v1:${id}` },
      },
    });

    const r = await runGoose(["snapshot", "restore", id, "--out", "restored.json"], { cwd, env });
    expect(r.code, r.stderr).toBe(0);
    expect(
      readFileSync(join(cwd, "restored.json")).equals(
        readFileSync(fixture("checkpoint-secrets.json")),
      ),
    ).toBe(true);

    // The data key never reaches the store in the clear: the plaintext key KMS returned on
    // Decrypt appears in no stored file.
    const dataKey = Buffer.from(String(dec.at(-1)!.response.Plaintext), "base64");
    expect(dataKey).toHaveLength(32);
    for (const f of allFiles(join(cwd, ".goose", "snapshots"))) {
      expect(f.body.includes(dataKey), f.path).toBe(false);
      expect(f.body.includes(dataKey.toString("base64")), f.path).toBe(false);
    }
  });

  it("the key's ARN and its alias work as --kms-key too", async () => {
    for (const k of [kms.keyArn(keyA), "alias/goose-snapshots"]) {
      const c = await create(k);
      expect(c.code, c.stderr).toBe(0);
      const v = await runGoose(["snapshot", "verify", JSON.parse(c.stdout).id], { cwd, env });
      expect(v.code, v.stderr).toBe(0);
    }
  });

  it("a manifest naming another KMS key fails verification: wrong key, KMS never asked", async () => {
    const c = await create(keyA);
    const other = JSON.parse(c.stdout).id as string;
    const m = JSON.parse(readFileSync(manifestPath(other), "utf8"));
    const before = kms.exchanges.length;
    for (const k of [keyB, kms.keyArn(keyB), "0b0b0b0b-1111-2222-3333-444444444444"]) {
      m.key.keyId = k;
      writeFileSync(manifestPath(other), JSON.stringify(m));
      const v = await runGoose(["snapshot", "verify", other, "--json"], { cwd, env });
      expect(v.code).toBe(1);
      const report = JSON.parse(v.stdout);
      expect(report.problem).toBe("wrong-key");
      expect(report.message).toContain(`AWS KMS key ${k}, which is not a configured key`);
    }
    expect(kms.exchanges.length).toBe(before);

    // Trusted on the command line instead: KMS is asked with that key, and refuses (the
    // ciphertext was made under keyA).
    m.key.keyId = keyB;
    writeFileSync(manifestPath(other), JSON.stringify(m));
    const v = await runGoose(["snapshot", "verify", other, "--json", "--kms-key", keyB], {
      cwd,
      env,
    });
    expect(v.code).toBe(1);
    expect(JSON.parse(v.stdout).message).toContain("(IncorrectKeyException)");
    expect(kms.exchanges.at(-1)).toMatchObject({
      status: 400,
      request: { KeyId: keyB },
      response: { __type: "IncorrectKeyException" },
    });
  });

  it("a tampered wrapped key fails verification: KMS refuses the ciphertext", async () => {
    const c = await create(keyA);
    const other = JSON.parse(c.stdout).id as string;
    const m = JSON.parse(readFileSync(manifestPath(other), "utf8"));
    const wrapped = Buffer.from(m.key.wrapped as string, "base64");
    wrapped[wrapped.length - 20]! ^= 0x01;
    m.key.wrapped = wrapped.toString("base64");
    writeFileSync(manifestPath(other), JSON.stringify(m));
    const v = await runGoose(["snapshot", "verify", other, "--json"], { cwd, env });
    expect(v.code).toBe(1);
    const report = JSON.parse(v.stdout);
    expect(report.problem).toBe("wrong-key");
    expect(report.message).toContain(
      "KMS refused the wrapped data key (InvalidCiphertextException)",
    );
    // On the wire: HTTP 400 with KMS's error type, and no message, as KMS answers.
    expect(kms.exchanges.at(-1)).toMatchObject({
      target: "TrentService.Decrypt",
      status: 400,
      response: { __type: "InvalidCiphertextException" },
    });
    const r = await runGoose(["snapshot", "restore", other, "--out", "nothing.json"], { cwd, env });
    expect(r.code).toBe(1);
  });

  it("the server enforces the encryption context as KMS does (raw SDK calls)", async () => {
    const client = new KMSClient({
      region: REGION,
      endpoint: kms.url,
      credentials: {
        accessKeyId: CREDS.AWS_ACCESS_KEY_ID,
        secretAccessKey: CREDS.AWS_SECRET_ACCESS_KEY,
      },
    });
    try {
      const e = await client.send(
        new EncryptCommand({
          KeyId: keyA,
          Plaintext: Buffer.from("data key"),
          EncryptionContext: { "goose-snapshot": "a", extra: "x" },
        }),
      );
      // Same context in another order: fine.
      const ok = await client.send(
        new DecryptCommand({
          CiphertextBlob: e.CiphertextBlob,
          EncryptionContext: { extra: "x", "goose-snapshot": "a" },
        }),
      );
      expect(Buffer.from(ok.Plaintext!).toString()).toBe("data key");
      expect(ok.KeyId).toBe(kms.keyArn(keyA));
      const contexts: Array<Record<string, string>> = [
        { "goose-snapshot": "b", extra: "x" },
        { "goose-snapshot": "a" },
        {},
      ];
      for (const ctx of contexts) {
        const err = await client
          .send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob, EncryptionContext: ctx }))
          .then(
            () => undefined,
            (x: unknown) => x as { name: string; $metadata: { httpStatusCode?: number } },
          );
        expect(err?.name).toBe("InvalidCiphertextException");
        expect(err?.$metadata.httpStatusCode).toBe(400);
      }
      const nf = await client
        .send(new EncryptCommand({ KeyId: "alias/nope", Plaintext: Buffer.from("x") }))
        .then(
          () => undefined,
          (x: unknown) => x as Error,
        );
      expect(nf?.name).toBe("NotFoundException");
    } finally {
      client.destroy();
    }
  });

  it("an unknown key on create is exit 2 naming --kms-key; rejected credentials are exit 2", async () => {
    const nf = await create("alias/not-there");
    expect(nf.code).toBe(2);
    expect(nf.stderr).toContain("has no such key (NotFoundException); check --kms-key");

    const badSecret = await create(keyA, { ...env, AWS_SECRET_ACCESS_KEY: "not-the-secret" });
    expect(badSecret.code).toBe(2);
    expect(badSecret.stderr).toContain("refused the AWS credentials (InvalidSignatureException)");
    const badKey = await runGoose(["snapshot", "verify", id], {
      cwd,
      env: { ...env, AWS_ACCESS_KEY_ID: "AKIAUNKNOWNDUMMY0000" },
    });
    expect(badKey.code).toBe(2);
    expect(badKey.stderr).toContain("UnrecognizedClientException");
  });

  it("an unreachable endpoint is exit 2 naming GOOSE_KMS_ENDPOINT", async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const v = await runGoose(["snapshot", "verify", id], {
      cwd,
      env: { ...env, GOOSE_KMS_ENDPOINT: closed },
    });
    expect(v.code).toBe(2);
    expect(v.stderr).toContain(`cannot reach the KMS endpoint ${closed} (GOOSE_KMS_ENDPOINT)`);
    expect(v.stderr).toContain("set GOOSE_KMS_ENDPOINT to a reachable KMS-compatible endpoint");
  });

  it("no AWS credentials anywhere: exit 2 naming the fix (own process, empty HOME, no IMDS)", async () => {
    const bare: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: tempDir(),
      AWS_EC2_METADATA_DISABLED: "true",
      AWS_REGION: REGION,
      GOOSE_KMS_ENDPOINT: kms.url,
      GOOSE_EVIDENCE_KEY_FILE: env.GOOSE_EVIDENCE_KEY_FILE,
    };
    const before = kms.exchanges.length;
    const v = await gooseProcess(["snapshot", "verify", id], bare);
    expect(v.code, v.stderr).toBe(2);
    expect(v.stderr).toContain(`wrapped by AWS KMS key ${kms.keyArn(keyA)}: no AWS credentials`);
    expect(v.stderr).toContain("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
    const c = await gooseProcess(
      [
        "snapshot",
        "create",
        "sandbox",
        "--from-file",
        fixture("checkpoint-v3.json"),
        "--kms-key",
        keyA,
      ],
      bare,
    );
    expect(c.code, c.stderr).toBe(2);
    expect(c.stderr).toContain(`cannot wrap the data key with KMS key ${keyA}: no AWS credentials`);
    // Nothing reached the server without credentials.
    expect(kms.exchanges.length).toBe(before);
  });
});

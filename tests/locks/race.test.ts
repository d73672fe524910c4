import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { S3Client, CreateBucketCommand } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { openStore, S3ObjectStore, s3ClientConfig } from "../../src/store/index.js";
import { LockStoreUnsupportedError, openLocks } from "../../src/locks/index.js";
import { exitCodeOf } from "../../src/cli/errors.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../..");

function runWorker(
  storeUrl: string,
  startAt: number,
  name: string,
): Promise<{ name: string; won: boolean; heldBy?: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(here, "race-worker.ts"), storeUrl, String(startAt), name],
      {
        cwd: repoRoot,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("close", (code) => {
      if (code !== 0) reject(new Error(`worker ${name} exited ${code}: ${err}`));
      else resolve(JSON.parse(out.trim()) as { name: string; won: boolean; heldBy?: string });
    });
  });
}

describe("lease race", () => {
  it("ten processes racing for one lease on a file store: exactly one wins", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "goose-race-"));
    const url = pathToFileURL(dir).href;
    const startAt = Date.now() + 2500;
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => runWorker(url, startAt, `racer-${i}`)),
    );
    const winners = results.filter((r) => r.won);
    expect(winners).toHaveLength(1);
    const winner = winners[0]?.name;
    for (const r of results.filter((x) => !x.won)) expect(r.heldBy).toBe(winner);
    const status = await openLocks(openStore(url, {})).status("sandbox");
    expect(status.map((s) => s.holder)).toEqual([winner]);
  });

  it("refuses S3 leases on an endpoint that ignores conditional writes (s3rver)", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "goose-s3rver-"));
    // s3rver ships no types; the part used here is typed inline.
    const { default: S3rver } = (await import("s3rver" as string)) as {
      default: new (o: object) => { run(): Promise<unknown>; close(): Promise<void> };
    };
    const server = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory: dir });
    const addr = (await server.run()) as { port: number };
    try {
      const env = {
        GOOSE_S3_ENDPOINT: `http://127.0.0.1:${addr.port}`,
        AWS_ACCESS_KEY_ID: "S3RVER",
        AWS_SECRET_ACCESS_KEY: "S3RVER",
        AWS_REGION: "us-east-1",
      };
      const client = new S3Client(s3ClientConfig(env));
      await client.send(new CreateBucketCommand({ Bucket: "locks" }));
      const store = new S3ObjectStore(client, "locks", "goose/");
      const err = await openLocks(store)
        .acquire("sandbox", "scan", { ttlSeconds: 60, holder: "x" })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LockStoreUnsupportedError);
      expect((err as Error).message).toMatch(/If-None-Match: \*/);
      expect(exitCodeOf(err)).toBe(2);
    } finally {
      await server.close();
    }
  });
});

/**
 * A real S3-protocol server (npm s3rver) on 127.0.0.1 with a random port, for tests that
 * exercise the S3 store. `startS3rver()` creates the bucket and returns the env a store needs.
 */
import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { s3ClientConfig } from "../../src/store/s3.js";

interface S3rverInstance {
  run(): Promise<{ port: number; address: string }>;
  close(): Promise<void>;
}
type S3rverCtor = new (opts: Record<string, unknown>) => S3rverInstance;

export interface RunningS3 {
  env: NodeJS.ProcessEnv;
  bucket: string;
  endpoint: string;
  client: S3Client;
  directory: string;
  close(): Promise<void>;
}

export async function startS3rver(bucket = "goose-test"): Promise<RunningS3> {
  const require = createRequire(import.meta.url);
  let S3rver: S3rverCtor;
  try {
    S3rver = require("s3rver") as S3rverCtor;
  } catch {
    throw new Error(
      "s3rver is missing: run `flock /tmp/npm.lock npm install --save-exact s3rver@3.7.1`",
    );
  }
  const directory = mkdtempSync(join(tmpdir(), "goose-s3rver-"));
  const server = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = {
    GOOSE_S3_ENDPOINT: endpoint,
    AWS_ACCESS_KEY_ID: "S3RVER",
    AWS_SECRET_ACCESS_KEY: "S3RVER",
    AWS_REGION: "us-east-1",
  };
  const client = new S3Client(s3ClientConfig(env));
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    env,
    bucket,
    endpoint,
    client,
    directory,
    async close() {
      client.destroy();
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

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
import { startCasEnforcingProxy, type CasProxy } from "../helpers/cas-enforcing-s3-proxy.js";

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

/**
 * s3rver behind our CAS-enforcing proxy (tests/helpers/cas-enforcing-s3-proxy.ts): an endpoint
 * that refuses conditional writes as AWS S3 does, so the real compare-and-swap paths run.
 * `env` and `endpoint` point at the proxy; `proxy.stats` counts conditional requests.
 */
export async function startCasS3(
  bucket = "goose-test",
): Promise<RunningS3 & { proxy: CasProxy; rawEndpoint: string }> {
  const s3 = await startS3rver(bucket);
  const proxy = await startCasEnforcingProxy(s3.endpoint);
  const env = { ...s3.env, GOOSE_S3_ENDPOINT: proxy.endpoint };
  const client = new S3Client(s3ClientConfig(env));
  return {
    ...s3,
    env,
    endpoint: proxy.endpoint,
    rawEndpoint: s3.endpoint,
    client,
    proxy,
    async close() {
      client.destroy();
      await proxy.close();
      await s3.close();
    },
  };
}

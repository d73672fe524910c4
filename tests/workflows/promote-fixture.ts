/**
 * A workspace for end-to-end promotions: a temp copy of the repository's stack files, security
 * data and monitoring files (policy-pack linked), a file store, the offline engine, and an HTTP
 * target on loopback that plays the service under test, the target's health endpoint and the
 * Pushgateway's /metrics with the backup timestamps. Everything is real; only the inputs differ.
 */
import type { ObjectStore } from "../../src/store/types.js";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { main } from "../../src/cli/main.js";
import { createEngine } from "../../src/engine/index.js";
import { runLoadTest } from "../../src/workflows/loadtest/index.js";
import { createSnapshot, keySourceFromEnv } from "../../src/snapshots/index.js";
import { recordDrill } from "../../src/workflows/dr/state.js";
import { openStore } from "../../src/store/index.js";
import { openEvidenceChain } from "../../src/evidence/index.js";
import { captureIo } from "../evidence/cli-io.js";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface TargetState {
  /** /-/ready and the query path answer 500 when true. */
  failing: boolean;
  /** /-/healthy answers 503 when true. */
  unhealthy: boolean;
  /** Unix seconds of the last backup, served on /metrics. */
  backupAt: number;
}

export interface Workspace {
  dir: string;
  storeUrl: string;
  /** The workspace's store (snapshots, evidence, drill state). */
  store: ObjectStore;
  env: NodeJS.ProcessEnv;
  url: string;
  state: TargetState;
  server: Server;
  /** `goose promote sandbox compliance` with the workspace's flags plus `extra`. */
  promote(extra?: string[]): Promise<{ code: number; out: string; err: string }>;
  run(argv: string[]): Promise<{ code: number; out: string; err: string }>;
  /** A fresh snapshot of the sandbox stack (the newest one). */
  snapshotSandbox(): Promise<string>;
  /** A fresh snapshot of a stage's stack. */
  snapshot(stage: "sandbox" | "compliance"): Promise<string>;
  close(): Promise<void>;
}

const LOADTEST_CONFIG = `version: 1
defaults:
  timeout: 2s
  pipelining: 1
  mix:
    - { name: ready, method: GET, path: /-/ready, weight: 1 }
  thresholds:
    - errors < 1%
scenarios:
  smoke:
    description: A short smoke test for the promotion tests.
    connections: 2
    duration: 1s
    rate: 100
    thresholds:
      - p99 < 2s
  baseline:
    description: A short steady run for the promotion tests.
    connections: 2
    duration: 1s
    rate: 100
    thresholds:
      - p99 < 2s
# The latency floors are the request timeout: these tests are about the workflow, and a 2-core CI
# machine beside a CPU-heavy process can stretch a loopback p99 from 8 ms to 60 ms and more. A
# regression here is an error rate (the target's failing mode), never a timing margin.
tolerances:
  sandbox:
    score: { pass: 75%, warn: 50% }
    criteria:
      - { metric: p99, pass: "<= +25%", warn: "<= +50%", floor: 2s, weight: 2 }
      - { metric: rps, pass: ">= -25%", warn: ">= -50%", weight: 1 }
      - { metric: errors, pass: "<= +0%", warn: "<= +0%", floor: 1%, weight: 2, key: true }
  compliance:
    score: { pass: 85%, warn: 70% }
    criteria:
      - { metric: p99, pass: "<= +25%", warn: "<= +50%", floor: 2s, weight: 2 }
      - { metric: errors, pass: "<= +0%", warn: "<= +0%", floor: 0.5%, weight: 2, key: true }
  production:
    score: { pass: 90%, warn: 75% }
    criteria:
      - { metric: errors, pass: "<= +0%", warn: "<= +0%", floor: 0.1%, weight: 3, key: true }
`;

export async function createWorkspace(): Promise<Workspace> {
  const dir = mkdtempSync(path.join(tmpdir(), "goose-promote-"));
  for (const f of readdirSync(repoRoot)) {
    if (/^Pulumi\..*yaml$|^Pulumi\.yaml$|^package(-lock)?\.json$/.test(f))
      cpSync(path.join(repoRoot, f), path.join(dir, f));
  }
  cpSync(path.join(repoRoot, "security"), path.join(dir, "security"), { recursive: true });
  cpSync(path.join(repoRoot, "monitoring"), path.join(dir, "monitoring"), { recursive: true });
  symlinkSync(path.join(repoRoot, "policy-pack"), path.join(dir, "policy-pack"));
  mkdirSync(path.join(dir, "load-test/config"), { recursive: true });
  writeFileSync(path.join(dir, "load-test/config/test.yaml"), LOADTEST_CONFIG);

  const state: TargetState = {
    failing: false,
    unhealthy: false,
    backupAt: Math.floor(Date.now() / 1000) - 3600,
  };
  const server = createServer((req, res) => {
    const url = req.url ?? "/";
    if (url.startsWith("/-/healthy")) {
      res.writeHead(state.unhealthy ? 503 : 200).end(state.unhealthy ? "unhealthy" : "Healthy");
    } else if (url.startsWith("/metrics")) {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      res.end(
        [
          "# TYPE goldengoose_backup_last_success_timestamp_seconds gauge",
          `goldengoose_backup_last_success_timestamp_seconds{component="prometheus",job="goldengoose-backup",stage="sandbox"} ${state.backupAt}`,
          `goldengoose_backup_last_success_timestamp_seconds{component="grafana",job="goldengoose-backup",stage="sandbox"} ${state.backupAt + 60}`,
          `goldengoose_backup_last_success_timestamp_seconds{component="prometheus",job="goldengoose-backup",stage="compliance"} 1`,
          "",
        ].join("\n"),
      );
    } else {
      res.writeHead(state.failing ? 500 : 200).end(state.failing ? "broken" : "ok");
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const url = `http://127.0.0.1:${port}`;

  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    USER: "release-bot",
    GOOSE_EVIDENCE_KEY: Buffer.alloc(32, 11).toString("base64"),
    GOOSE_SNAPSHOT_KEY: Buffer.alloc(32, 42).toString("base64"),
  };
  const storeUrl = `file://${path.join(dir, ".goose")}`;
  const store = openStore(storeUrl, env);
  const engine = createEngine("offline", { cwd: dir, env });

  const run = async (argv: string[]) => {
    const io = captureIo(dir, env);
    const code = await main(argv, io);
    return { code, out: io.out(), err: io.err() };
  };
  const snapshot = async (stage: "sandbox" | "compliance") => {
    const text = await engine.exportStack(stage);
    const m = await createSnapshot(store, {
      stage,
      source: Readable.from([Buffer.from(text)]),
      sourceKind: "engine",
      reason: "test seed",
      keys: keySourceFromEnv(env),
      evidence: openEvidenceChain(store, env),
    });
    return m.id;
  };
  const snapshotSandbox = () => snapshot("sandbox");

  // The sandbox is deployed, snapshotted, and has a smoke baseline.
  await engine.up("sandbox");
  await snapshotSandbox();
  // ... and its data backups were proven restorable (goose dr drill) an hour ago, within objectives.
  await recordDrill(store, "sandbox", "restore", {
    id: "drill-sandbox-seed",
    at: new Date(Date.now() - 3600_000).toISOString(),
    passed: true,
    rpoSeconds: 30,
    rtoSeconds: 5,
    objectives: { rpoSeconds: 3600, rtoSeconds: 1800, drillMaxAgeHours: 336 },
  });
  await runLoadTest({
    cwd: dir,
    env,
    stage: "sandbox",
    scenario: "smoke",
    target: url,
    configPath: "load-test/config/test.yaml",
    saveBaseline: true,
    note: "loopback test target",
  });

  return {
    dir,
    storeUrl,
    store,
    env,
    url,
    state,
    server,
    run,
    snapshotSandbox,
    snapshot,
    promote: (extra = []) =>
      run([
        "promote",
        "sandbox",
        "compliance",
        "--offline",
        "--target",
        url,
        "--health-url",
        `${url}/-/healthy`,
        "--backup-metrics",
        `${url}/metrics`,
        "--loadtest-config",
        "load-test/config/test.yaml",
        "--json",
        ...extra,
      ]),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/**
 * The backup path end to end, with real parts: the backup agent's own script (what the sidecar
 * runs) against a real Prometheus (Debian's, admin API on loopback), the real aws CLI (Debian's
 * awscli v2 at /usr/bin/aws) uploading to an S3 server on loopback (s3rver), and a real
 * Pushgateway behind basic auth (the agent pushes with the mounted password file). The set that lands is checked against its manifest and restored: a fresh
 * Prometheus started on it answers a query for a series scraped before the backup. A killed
 * agent's blackout stops counting at its deadline.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { ListObjectsV2Command, HeadObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backupAgentScript } from "../../src/components/backup-agent.js";
import {
  checkBackupSet,
  completeSetIds,
  manifestKey,
  parseBackupManifest,
  PROMETHEUS_SNAPSHOT_DIR,
  GRAFANA_DB_PATH,
  MANIFEST_FILE,
} from "../../src/backup/archive-layout.js";
import { readClusterBlackouts } from "../../src/locks/cluster.js";
import { freePort, startPushgateway, type RunningPushgateway } from "../helpers/pushgateway.js";
import { startS3rver, type RunningS3 } from "../store/s3rver.js";

const AWS = "/usr/bin/aws";
function need(cmd: string, install: string): void {
  if (spawnSync("sh", ["-c", `command -v ${cmd}`]).status !== 0) {
    throw new Error(`${cmd} is not installed: ${install}`);
  }
}

interface RunningProm {
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

async function startPrometheus(dataDir: string, extra: string[] = []): Promise<RunningProm> {
  need("prometheus", "apt-get install -y prometheus");
  const port = await freePort();
  const cfg = join(dataDir, "..", `prometheus-${port}.yml`);
  writeFileSync(
    cfg,
    `global: { scrape_interval: 1s }\nscrape_configs:\n  - job_name: self\n    static_configs: [{ targets: ["127.0.0.1:${port}"] }]\n`,
  );
  const proc = spawn(
    "prometheus",
    [
      `--config.file=${cfg}`,
      `--storage.tsdb.path=${dataDir}`,
      `--web.listen-address=127.0.0.1:${port}`,
      ...extra,
    ],
    { stdio: "ignore" },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      // not yet
    }
    if (proc.exitCode !== null || i > 300) throw new Error(`prometheus did not start on ${url}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    proc,
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once("exit", () => resolve());
        proc.kill("SIGTERM");
      }),
  };
}

async function query(url: string, q: string, time?: number): Promise<unknown[]> {
  const u = new URL(`${url}/api/v1/query`);
  u.searchParams.set("query", q);
  if (time !== undefined) u.searchParams.set("time", String(time));
  const body = (await (await fetch(u)).json()) as { data?: { result?: unknown[] } };
  return body.data?.result ?? [];
}

/** Every file under dir: relative path → size and SHA-256. */
function filesUnder(dir: string): Map<string, { bytes: number; sha256: string }> {
  const out = new Map<string, { bytes: number; sha256: string }>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else
        out.set(relative(dir, p), {
          bytes: statSync(p).size,
          sha256: createHash("sha256").update(readFileSync(p)).digest("hex"),
        });
    }
  };
  walk(dir);
  return out;
}

/** Runs a command without blocking the event loop (s3rver answers from this process). */
function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.once("error", reject);
    p.once("close", (status) => resolve({ status, stdout, stderr }));
  });
}

function agentEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    // /usr/bin first: Debian's aws CLI v2, as the aws-cli image has v2.
    PATH: "/usr/bin:/bin",
    HOME: tmp,
    STAGE: "compliance",
    INTERVAL_SECONDS: "3600",
    TIMEOUT_SECONDS: "600",
    RETENTION_DAYS: "30",
    GOOSE_BACKUP_ONCE: "1",
    WORK: join(tmp, "work"),
    PUSHGATEWAY: pg.url,
    // The Pushgateway asks for basic auth, as in the cluster: the password file the pods mount.
    PUSHGATEWAY_AUTH_FILE: pg.auth!.passwordFile,
    ...extra,
  };
}

let tmp: string;
let pg: RunningPushgateway;
let s3: RunningS3;
beforeAll(async () => {
  need(AWS, "apt-get install -y awscli");
  tmp = mkdtempSync(join(tmpdir(), "goose-backup-e2e-"));
  pg = await startPushgateway({ auth: true });
  // goose's own reads (readClusterBlackouts) authenticate from the environment.
  process.env.GOOSE_PUSHGATEWAY_PASSWORD_FILE = pg.auth!.passwordFile;
  s3 = await startS3rver("goose-compliance-backups");
});
afterAll(async () => {
  delete process.env.GOOSE_PUSHGATEWAY_PASSWORD_FILE;
  pg?.stop();
  await s3?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("backup agent, end to end", () => {
  it("snapshots Prometheus over its admin API, uploads the set to S3 with SSE-KMS, and the set restores", async () => {
    const data = join(tmp, "prom-data");
    mkdirSync(data);
    const prom = await startPrometheus(data, ["--web.enable-admin-api"]);
    let before: number;
    try {
      // Wait until the self-scrape has written samples; remember a time covered by them.
      for (let i = 0; ; i++) {
        const r = (await query(prom.url, 'up{job="self"}')) as { value: [number, string] }[];
        if (r.length > 0) {
          before = r[0]!.value[0];
          break;
        }
        if (i > 300) throw new Error("prometheus never scraped itself");
        await new Promise((res) => setTimeout(res, 100));
      }
      const r = await run(
        "bash",
        ["-c", backupAgentScript("prometheus")],
        agentEnv({
          POD_NAME: "prometheus-0",
          TARGET: "s3",
          BUCKET: s3.bucket,
          KMS_KEY_ARN: "arn:aws:kms:eu-west-1:111122223333:key/test",
          S3_ENDPOINT: s3.endpoint,
          AWS_ACCESS_KEY_ID: "S3RVER",
          AWS_SECRET_ACCESS_KEY: "S3RVER",
          AWS_DEFAULT_REGION: "us-east-1",
          PROMETHEUS_URL: prom.url,
          PROMETHEUS_DATA: data,
        }),
      );
      expect(r.stderr).toMatch(/backup \d{8}T\d{6}Z stored/);
      expect(r.status).toBe(0);
      // The agent removed its snapshot from Prometheus' volume.
      expect(readdirSync(join(data, "snapshots"))).toEqual([]);
    } finally {
      await prom.stop();
    }

    // The set in the bucket: complete (manifest present), SSE-KMS on its objects.
    const keys: string[] = [];
    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
    for (const o of listed.Contents ?? []) keys.push(o.Key!);
    const [id] = completeSetIds("prometheus", keys);
    expect(id).toBeDefined();
    const head = await s3.client.send(
      new HeadObjectCommand({ Bucket: s3.bucket, Key: manifestKey("prometheus", id!) }),
    );
    expect(head.ContentType).toBe("application/json");

    // Restore: download the set with the aws CLI, check it against its manifest, start on it.
    const restored = join(tmp, "restored");
    const dl = await run(
      AWS,
      [
        "s3",
        "cp",
        "--recursive",
        `s3://${s3.bucket}/prometheus/${id}/`,
        restored,
        "--endpoint-url",
        s3.endpoint,
        "--only-show-errors",
      ],
      agentEnv({
        AWS_ACCESS_KEY_ID: "S3RVER",
        AWS_SECRET_ACCESS_KEY: "S3RVER",
        AWS_DEFAULT_REGION: "us-east-1",
      }),
    );
    expect(dl.stderr).toBe("");
    const manifest = parseBackupManifest(readFileSync(join(restored, MANIFEST_FILE), "utf8"));
    expect(manifest).toMatchObject({ stage: "compliance", component: "prometheus", id });
    const found = filesUnder(restored);
    found.delete(MANIFEST_FILE);
    expect(checkBackupSet(manifest, found)).toEqual([]);

    const fresh = await startPrometheus(join(restored, PROMETHEUS_SNAPSHOT_DIR));
    try {
      const r = (await query(fresh.url, 'up{job="self"}', before!)) as unknown[];
      expect(r).toHaveLength(1);
    } finally {
      await fresh.stop();
    }

    // Result metrics on the Pushgateway, blackout withdrawn.
    const text = await (
      await fetch(`${pg.url}/metrics`, { headers: { authorization: pg.auth!.header } })
    ).text();
    expect(text).toMatch(
      /goldengoose_backup_last_status\{component="prometheus",instance="",job="goldengoose-backup",stage="compliance"\} 1/,
    );
    expect(await readClusterBlackouts(pg.url)).toEqual([]);
  }, 120_000);

  it("copies Grafana's database to the backup volume as a set with a manifest", () => {
    need("sqlite3", "apt-get install -y sqlite3");
    const gdir = join(tmp, "grafana");
    mkdirSync(gdir);
    const db = join(gdir, "grafana.db");
    expect(
      spawnSync("sqlite3", [
        db,
        "create table dashboard(id int, title text); insert into dashboard values (1, 'SLO');",
      ]).status,
    ).toBe(0);
    const root = join(tmp, "volume");
    const r = spawnSync("bash", ["-c", backupAgentScript("grafana")], {
      env: agentEnv({ TARGET: "volume", BACKUP_ROOT: root, GRAFANA_DB: db }),
      encoding: "utf8",
    });
    expect(r.stderr).toMatch(/stored/);
    expect(r.status).toBe(0);
    const [id] = completeSetIds(
      "grafana",
      readdirSync(join(root, "grafana")).map((d) => `grafana/${d}/${MANIFEST_FILE}`),
    );
    const set = join(root, "grafana", id!);
    const manifest = parseBackupManifest(readFileSync(join(set, MANIFEST_FILE), "utf8"));
    const found = filesUnder(set);
    found.delete(MANIFEST_FILE);
    expect(checkBackupSet(manifest, found)).toEqual([]);
    const check = spawnSync(
      "sqlite3",
      [join(set, GRAFANA_DB_PATH), "pragma integrity_check; select title from dashboard;"],
      { encoding: "utf8" },
    );
    expect(check.stdout).toBe("ok\nSLO\n");
  });

  it("a failed capture reports status 0 and withdraws its blackout", async () => {
    const r = spawnSync("bash", ["-c", backupAgentScript("grafana")], {
      env: agentEnv({
        TARGET: "volume",
        BACKUP_ROOT: join(tmp, "v2"),
        GRAFANA_DB: join(tmp, "missing.db"),
        STAGE: "sandbox",
      }),
      encoding: "utf8",
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("no database at");
    const text = await (
      await fetch(`${pg.url}/metrics`, { headers: { authorization: pg.auth!.header } })
    ).text();
    expect(text).toMatch(
      /goldengoose_backup_last_status\{component="grafana",instance="",job="goldengoose-backup",stage="sandbox"\} 0/,
    );
    expect(await readClusterBlackouts(pg.url)).toEqual([]);
  });

  it("a killed agent's blackout blocks until its deadline and not after", async () => {
    // A Prometheus that accepts the snapshot request and never answers: the agent hangs in it.
    const sockets: Socket[] = [];
    const hang: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => hang.listen(0, "127.0.0.1", () => r()));
    const port = (hang.address() as { port: number }).port;
    const agent = spawn("bash", ["-c", backupAgentScript("prometheus")], {
      env: agentEnv({
        STAGE: "production",
        POD_NAME: "prometheus-0",
        TARGET: "s3",
        BUCKET: s3.bucket,
        KMS_KEY_ARN: "k",
        PROMETHEUS_URL: `http://127.0.0.1:${port}`,
        PROMETHEUS_DATA: join(tmp, "nowhere"),
      }),
      stdio: "ignore",
      detached: true,
    });
    try {
      let active: Awaited<ReturnType<typeof readClusterBlackouts>> = [];
      for (let i = 0; active.length === 0; i++) {
        if (i > 300) throw new Error("the agent never announced its blackout");
        await new Promise((r) => setTimeout(r, 100));
        active = (await readClusterBlackouts(pg.url)).filter((b) => b.stage === "production");
      }
      // SIGKILL the agent and everything it started: no trap runs, the announcement stays.
      process.kill(-agent.pid!, "SIGKILL");
      await new Promise((r) => agent.once("exit", r));
      const expires = active[0]!.expires!;
      expect(expires).toBeInstanceOf(Date);
      // The deadline is the run's start plus TIMEOUT_SECONDS (600).
      expect(expires.getTime() - active[0]!.since.getTime()).toBeGreaterThan(590_000);
      const justBefore = new Date(expires.getTime() - 1000);
      expect(
        await readClusterBlackouts(pg.url, { now: justBefore, maxAgeSeconds: 1 }),
      ).toHaveLength(1);
      expect(await readClusterBlackouts(pg.url, { now: expires })).toEqual([]);
    } finally {
      if (agent.exitCode === null && agent.signalCode === null)
        process.kill(-agent.pid!, "SIGKILL");
      for (const s of sockets) s.destroy();
      hang.close();
    }
  });
});

/**
 * The Pushgateway behind basic auth, with the real Debian prometheus-pushgateway on loopback
 * running the web config goose renders: anonymous requests are refused, every client goose
 * ships authenticates — the jobs' curl pushes (password file on a pipe), goose's own pushes and
 * reads (GOOSE_PUSHGATEWAY_PASSWORD_FILE) — and a rotated web config takes effect without a
 * restart (the Pushgateway reads it on every request).
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { blackoutPush } from "../../src/components/blackout.js";
import { renderPrometheusConfig } from "../../src/components/prometheus-config.js";
import {
  PUSHGATEWAY_PASSWORD_FILE,
  PUSHGATEWAY_USER,
  pushgatewayWebConfig,
} from "../../src/components/pushgateway-auth.js";
import { loadStageConfigFile } from "../../src/config/index.js";
import { backupGate } from "../../src/gates/backup.js";
import { openStore } from "../../src/store/index.js";
import { readClusterBlackouts } from "../../src/locks/cluster.js";
import { publishMetricsText } from "../../src/monitoring/publish.js";
import { listPushGroups } from "../../src/monitoring/pushgateway.js";
import { pushgatewayAuthHeaders } from "../../src/monitoring/pushgateway-credentials.js";
import { bcrypt } from "../helpers/bcrypt.js";
import { startPushgateway, type RunningPushgateway } from "../helpers/pushgateway.js";
import { cleanupTempDirs, repoRoot, tempDir } from "../snapshots/helpers.js";

let pg: RunningPushgateway;
beforeAll(async () => {
  pg = await startPushgateway({ auth: true });
});
afterAll(() => {
  pg?.stop();
  cleanupTempDirs();
});

/** Runs process.env-reading code with the given credential variables, then restores them. */
async function withEnv<T>(vars: Record<string, string | undefined>, f: () => Promise<T>) {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(vars)) {
    saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await f();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe("the Pushgateway's web config", () => {
  it("holds a bcrypt hash, passes promtool check web-config, and refuses a password", () => {
    const file = join(tempDir("goose-pgweb-"), "web.yml");
    const text = pushgatewayWebConfig(bcrypt("correct horse"));
    expect(text).not.toContain("correct horse");
    expect(parse(text)).toEqual({ basic_auth_users: { [PUSHGATEWAY_USER]: expect.any(String) } });
    writeFileSync(file, text);
    const r = spawnSync("promtool", ["check", "web-config", file], { encoding: "utf8" });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(() => pushgatewayWebConfig("correct horse")).toThrow(/bcrypt hash, not a password/);
  });

  it("Prometheus scrapes the Pushgateway with the password file the pods mount", () => {
    const cfg = loadStageConfigFile(join(repoRoot, "Pulumi.production.yaml"));
    const doc = parse(renderPrometheusConfig(cfg)) as {
      scrape_configs: Array<{ job_name: string; basic_auth?: unknown }>;
    };
    const jobs = doc.scrape_configs.filter((sc) => sc.job_name.startsWith("pushgateway-"));
    expect(jobs.length).toBeGreaterThan(0);
    for (const sc of jobs)
      expect(sc.basic_auth).toEqual({
        username: PUSHGATEWAY_USER,
        password_file: PUSHGATEWAY_PASSWORD_FILE,
      });
  });
});

describe("a real Pushgateway behind basic auth", () => {
  it("refuses anonymous requests, health endpoints included", async () => {
    for (const path of ["/-/healthy", "/api/v1/metrics", "/metrics"])
      expect((await fetch(`${pg.url}${path}`)).status, path).toBe(401);
    const push = await fetch(`${pg.url}/metrics/job/anonymous`, {
      method: "POST",
      body: "# TYPE x gauge\nx 1\n",
    });
    expect(push.status).toBe(401);
    const wrong = `Basic ${Buffer.from(`${PUSHGATEWAY_USER}:nope`).toString("base64")}`;
    expect((await fetch(`${pg.url}/-/healthy`, { headers: { authorization: wrong } })).status).toBe(
      401,
    );
  });

  it("the jobs' curl pushes authenticate with the mounted password file, and only with it", async () => {
    const run = (value: 0 | 1, authFile?: string) =>
      spawnSync("bash", ["-c", blackoutPush("backup", value)], {
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          PUSHGATEWAY: pg.url,
          STAGE: "compliance",
          HOME: "/tmp",
          ...(authFile ? { PUSHGATEWAY_AUTH_FILE: authFile } : {}),
        },
        encoding: "utf8",
      });
    const anon = run(1);
    expect(anon.stderr).toMatch(/401[\s\S]*could not announce the backup blackout/);
    const ok = run(1, pg.auth!.passwordFile);
    expect(ok.status).toBe(0);
    expect(ok.stderr).toBe("");
    const blackouts = await withEnv(
      {
        GOOSE_PUSHGATEWAY_PASSWORD_FILE: pg.auth!.passwordFile,
        GOOSE_PUSHGATEWAY_PASSWORD: undefined,
      },
      () => readClusterBlackouts(pg.url),
    );
    expect(blackouts).toEqual([expect.objectContaining({ stage: "compliance", kind: "backup" })]);
    // goose without credentials cannot read them, and says how to get the password.
    await expect(
      withEnv(
        { GOOSE_PUSHGATEWAY_PASSWORD_FILE: undefined, GOOSE_PUSHGATEWAY_PASSWORD: undefined },
        () => readClusterBlackouts(pg.url),
      ),
    ).rejects.toThrow(
      /HTTP 401: the Pushgateway asks for basic auth and goose sent no credentials/,
    );
    expect(run(0, pg.auth!.passwordFile).status).toBe(0);
    // The password never shows in what the job printed.
    expect(anon.stdout + anon.stderr + ok.stdout + ok.stderr).not.toContain(pg.auth!.password);
  });

  it("goose pushes and lists with GOOSE_PUSHGATEWAY_PASSWORD_FILE; a refusal names the fix, never the password", async () => {
    const env = { GOOSE_PUSHGATEWAY_PASSWORD_FILE: pg.auth!.passwordFile };
    const group = { job: "goose-test", labels: { stage: "sandbox" }, file: "x.prom" };
    const text = "# TYPE goose_test_value gauge\ngoose_test_value 7\n";
    await publishMetricsText({ pushgatewayUrl: pg.url, env }, group, text);
    const found = await withEnv({ ...env, GOOSE_PUSHGATEWAY_PASSWORD: undefined }, () =>
      listPushGroups(pg.url),
    );
    expect(found.find((g) => g.labels["job"] === "goose-test")?.values["goose_test_value"]).toEqual(
      [7],
    );
    const wrong = await publishMetricsText(
      { pushgatewayUrl: pg.url, env: { GOOSE_PUSHGATEWAY_PASSWORD: "not-it" } },
      group,
      text,
    ).catch((e: Error) => e);
    expect(String(wrong)).toMatch(
      /HTTP 401.*the password from GOOSE_PUSHGATEWAY_PASSWORD was refused.*kubectl get secret pushgateway-auth/,
    );
    expect(String(wrong)).not.toContain("not-it");
    expect(() =>
      pushgatewayAuthHeaders({
        GOOSE_PUSHGATEWAY_PASSWORD: "a",
        GOOSE_PUSHGATEWAY_PASSWORD_FILE: "b",
      }),
    ).toThrow(/both GOOSE_PUSHGATEWAY_PASSWORD and GOOSE_PUSHGATEWAY_PASSWORD_FILE/);
    expect(() =>
      pushgatewayAuthHeaders({ GOOSE_PUSHGATEWAY_PASSWORD_FILE: "/nonexistent/pg-password" }),
    ).toThrow(/cannot read the Pushgateway password from \/nonexistent\/pg-password/);
  });

  it("the promotion's backup gate reads the backup agents' results with the credentials", async () => {
    const now = Math.floor(Date.now() / 1000);
    const push = await fetch(
      `${pg.url}/metrics/job/goldengoose-backup/stage/sandbox/component/grafana`,
      {
        method: "PUT",
        headers: { authorization: pg.auth!.header },
        body: `# TYPE goldengoose_backup_last_success_timestamp_seconds gauge\ngoldengoose_backup_last_success_timestamp_seconds ${now}\n`,
      },
    );
    expect(push.ok).toBe(true);
    const input = {
      stage: "sandbox" as const,
      store: openStore(`file://${tempDir("goose-pg-gate-")}`, {}),
      intervalHours: 6,
      metricsUrl: `${pg.url}/metrics`,
    };
    const pass = await withEnv(
      {
        GOOSE_PUSHGATEWAY_PASSWORD_FILE: pg.auth!.passwordFile,
        GOOSE_PUSHGATEWAY_PASSWORD: undefined,
      },
      () => backupGate(input),
    );
    expect(pass.verdict, pass.summary).toBe("pass");
    const refused = await withEnv(
      { GOOSE_PUSHGATEWAY_PASSWORD_FILE: undefined, GOOSE_PUSHGATEWAY_PASSWORD: undefined },
      () => backupGate(input),
    );
    expect(refused.verdict).toBe("fail");
    expect(refused.summary).toMatch(/HTTP 401: the Pushgateway asks for basic auth/);
  });

  it("a rotated web config is in force at the next request, without a restart", async () => {
    const header = (pw: string) => ({
      authorization: `Basic ${Buffer.from(`${PUSHGATEWAY_USER}:${pw}`).toString("base64")}`,
    });
    const old = pg.auth!.password;
    expect((await fetch(`${pg.url}/-/healthy`, { headers: header(old) })).status).toBe(200);
    writeFileSync(pg.auth!.webConfigFile, pushgatewayWebConfig(bcrypt("rotated-password")));
    expect((await fetch(`${pg.url}/-/healthy`, { headers: header(old) })).status).toBe(401);
    expect(
      (await fetch(`${pg.url}/-/healthy`, { headers: header("rotated-password") })).status,
    ).toBe(200);
    writeFileSync(pg.auth!.webConfigFile, pushgatewayWebConfig(bcrypt(old)));
  });
});

/**
 * Protected metrics with the real tools: the generated web config passes `promtool check
 * web-config`, and a real Prometheus started with it and with the stage's rendered scrape
 * configuration refuses requests without the password, still scrapes itself (basic_auth with the
 * password file) and drops the sensitive labels (labeldrop) from what it scrapes off a real
 * Pushgateway, itself behind basic auth (scraped with its own password file).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { loadComplianceRules } from "../../src/audit/index.js";
import { METRICS_USER, prometheusWebConfig } from "../../src/components/metrics-auth.js";
import { renderPrometheusConfig } from "../../src/components/prometheus-config.js";
import { PUSHGATEWAY_USER } from "../../src/components/pushgateway-auth.js";
import { loadStageConfigFile } from "../../src/config/index.js";
import { bcrypt } from "../helpers/bcrypt.js";
import { freePort, startPushgateway } from "../helpers/pushgateway.js";
import { cleanupTempDirs, repoRoot, tempDir } from "../snapshots/helpers.js";

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill();
  cleanupTempDirs();
});

describe("Prometheus behind basic auth", () => {
  it("the web config holds a bcrypt hash, passes promtool check web-config, and refuses a password", () => {
    const dir = tempDir("goose-webcfg-");
    const file = join(dir, "web.yml");
    const text = prometheusWebConfig(bcrypt("correct horse"));
    expect(text).not.toContain("correct horse");
    writeFileSync(file, text);
    const r = spawnSync("promtool", ["check", "web-config", file], { encoding: "utf8" });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(() => prometheusWebConfig("correct horse")).toThrow(/bcrypt hash, not a password/);
  });

  it("a real Prometheus refuses anonymous requests, scrapes itself with the password, drops sensitive labels", async () => {
    const dir = tempDir("goose-promauth-");
    const password = randomBytes(16).toString("hex");
    writeFileSync(join(dir, "web.yml"), prometheusWebConfig(bcrypt(password)));
    writeFileSync(join(dir, "password"), password);
    const port = await freePort();
    // The Pushgateway behind its own basic auth (pushgateway-auth.ts), as in the cluster.
    const pg = await startPushgateway({ auth: true });
    children.push({ kill: pg.stop } as unknown as ChildProcess);
    const pgUrl = new URL(pg.url);

    // The production prometheus.yml as rendered, pointed at this machine: Prometheus itself and
    // the Pushgateway (the others are not running here), scraped every second.
    const cfg = loadStageConfigFile(join(repoRoot, "Pulumi.production.yaml"));
    const doc = parse(renderPrometheusConfig(cfg)) as {
      rule_files?: unknown;
      alerting?: unknown;
      scrape_configs: Array<Record<string, unknown> & { job_name: string }>;
    };
    delete doc.rule_files;
    delete doc.alerting;
    doc.scrape_configs = doc.scrape_configs
      .filter((sc) => /^(prometheus|pushgateway)-/.test(sc.job_name))
      .map((sc) => {
        const self = sc.job_name.startsWith("prometheus-");
        const auth = sc["basic_auth"] as { username: string; password_file: string } | undefined;
        expect(auth?.username).toBe(self ? METRICS_USER : PUSHGATEWAY_USER);
        const statics = sc["static_configs"] as Array<{ targets: string[] }>;
        return {
          ...sc,
          scrape_interval: "1s",
          scrape_timeout: "1s",
          basic_auth: {
            ...auth,
            password_file: self ? join(dir, "password") : pg.auth!.passwordFile,
          },
          ...(self ? {} : { metrics_path: `${pgUrl.pathname}/metrics` }),
          static_configs: statics.map((s) => ({
            ...s,
            targets: [self ? `127.0.0.1:${port}` : pgUrl.host],
          })),
        };
      });
    writeFileSync(join(dir, "prometheus.yml"), stringify(doc));

    // A series carrying labels that could hold personal data or secrets.
    const push = await fetch(`${pg.url}/metrics/job/login-exporter`, {
      method: "POST",
      headers: { authorization: pg.auth!.header },
      body: '# TYPE goose_test_logins_total counter\ngoose_test_logins_total{user="alice",email="alice@example.com",token="s3cr3t",region="eu"} 3\n',
    });
    expect(push.ok).toBe(true);

    const prom = spawn(
      "prometheus",
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--web.config.file=${join(dir, "web.yml")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
      ],
      { stdio: "ignore" },
    );
    children.push(prom);
    const base = `http://127.0.0.1:${port}`;
    const authHeader = {
      authorization: `Basic ${Buffer.from(`${METRICS_USER}:${password}`).toString("base64")}`,
    };
    const get = async (path: string, headers: Record<string, string> = {}) => {
      try {
        return await fetch(`${base}${path}`, { headers });
      } catch {
        return undefined;
      }
    };
    // Up: polled, no timing assumption beyond a generous upper bound.
    for (let i = 0; i < 600 && (await get("/-/ready", authHeader))?.status !== 200; i++) {
      expect(prom.exitCode, "prometheus exited").toBeNull();
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await get("/-/ready", authHeader))?.status).toBe(200);
    // Without credentials, or with wrong ones: refused, health endpoints included.
    expect((await get("/api/v1/query?query=up"))?.status).toBe(401);
    expect((await get("/-/healthy"))?.status).toBe(401);
    const wrong = {
      authorization: `Basic ${Buffer.from(`${METRICS_USER}:nope`).toString("base64")}`,
    };
    expect((await get("/api/v1/query?query=up", wrong))?.status).toBe(401);

    type Series = { metric: Record<string, string>; value: [number, string] };
    const query = async (q: string): Promise<Series[]> => {
      const r = await get(`/api/v1/query?query=${encodeURIComponent(q)}`, authHeader);
      if (r?.status !== 200) return [];
      return ((await r.json()) as { data: { result: Series[] } }).data.result;
    };
    let self: Series[] = [];
    let logins: Series[] = [];
    for (let i = 0; i < 600; i++) {
      self = await query('up{job="prometheus"}');
      logins = await query("goose_test_logins_total");
      if (self.length > 0 && self.every((s) => s.value[1] === "1") && logins.length > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // Its own scrape authenticated with the password file.
    expect(self.length).toBeGreaterThan(0);
    expect(self.every((s) => s.value[1] === "1")).toBe(true);
    // The sensitive labels are gone, the others kept.
    expect(logins).toHaveLength(1);
    const labels = logins[0]!.metric;
    const dropped = loadComplianceRules(repoRoot).stages.production.metrics.dropLabels;
    for (const l of ["user", "email", "token"]) {
      expect(dropped).toContain(l);
      expect(labels[l]).toBeUndefined();
    }
    expect(labels["region"]).toBe("eu");
  }, 120_000);
});

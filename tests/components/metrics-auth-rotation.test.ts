/**
 * A rotation of Prometheus' basic-auth password reaches the running Prometheus without a restart,
 * checked with the real Debian `prometheus` binary. Its web config and its password file sit in a
 * directory laid out as the kubelet lays out a Secret volume (each file a symlink through `..data`
 * to a timestamped directory) and are rotated as the kubelet does it: the new files written to a
 * new directory, then `..data` swapped to it in one rename. The same process then refuses the old
 * password, accepts the new one (exporter-toolkit reads --web.config.file per request), and keeps
 * scraping itself with the new password file (read per scrape), with the self-scrape job of the
 * rendered prometheus.yml. This is why the Prometheus pod needs no restart on rotation and why
 * web.yml and the password share one Secret volume (src/components/prometheus.ts). Alertmanager,
 * started with the stage's arguments, which name the same web config, does the same.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { alertmanagerArgs } from "../../src/components/alertmanager-cluster.js";
import {
  ALERTMANAGER_WEB_CONFIG_FILE,
  METRICS_USER,
  PASSWORD_FILE,
  PASSWORD_KEY,
  prometheusWebConfig,
  WEB_CONFIG_KEY,
} from "../../src/components/metrics-auth.js";
import { renderPrometheusConfig } from "../../src/components/prometheus-config.js";
import { loadStageConfigFile } from "../../src/config/index.js";
import { findBinary } from "../../src/workflows/dr/processes.js";
import { prometheusAuthHeaders } from "../../src/monitoring/prometheus-credentials.js";
import { httpProbe } from "../../src/workflows/steps.js";
import { bcrypt } from "../helpers/bcrypt.js";
import { freePort } from "../helpers/pushgateway.js";
import { cleanupTempDirs, repoRoot, tempDir } from "../snapshots/helpers.js";

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill();
  cleanupTempDirs();
});

/** A Secret volume as the kubelet's atomic writer keeps it; `write` replaces all files at once. */
function secretVolume(dir: string) {
  let n = 0;
  return {
    write(files: Record<string, string>) {
      const ts = `..2026_11_30_00_00_0${n++}.${process.pid}`;
      mkdirSync(join(dir, ts));
      for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, ts, name), text);
      symlinkSync(ts, join(dir, "..data_tmp"));
      renameSync(join(dir, "..data_tmp"), join(dir, "..data")); // the one atomic step
      for (const name of Object.keys(files)) {
        try {
          symlinkSync(join("..data", name), join(dir, name));
        } catch {
          // already linked through ..data
        }
      }
      if (n > 1)
        rmSync(join(dir, `..2026_11_30_00_00_0${n - 2}.${process.pid}`), { recursive: true });
    },
  };
}

describe("Prometheus basic-auth rotation without a restart", () => {
  it("a real Prometheus honours a rotated web config and password file in place", async () => {
    const dir = tempDir("goose-promrot-");
    const vol = join(dir, "secret");
    mkdirSync(vol);
    const secret = secretVolume(vol);
    const files = (pw: string) => ({
      [WEB_CONFIG_KEY]: prometheusWebConfig(bcrypt(pw)),
      [PASSWORD_KEY]: pw,
    });
    const oldPw = randomBytes(16).toString("hex");
    const newPw = randomBytes(16).toString("hex");
    secret.write(files(oldPw));

    // The self-scrape job of the rendered production prometheus.yml, pointed at this process.
    const port = await freePort();
    const rendered = parse(
      renderPrometheusConfig(loadStageConfigFile(join(repoRoot, "Pulumi.production.yaml"))),
    ) as { scrape_configs: Array<Record<string, unknown> & { job_name: string }> };
    const self = rendered.scrape_configs.find((sc) => sc.job_name.startsWith("prometheus-"));
    expect(self?.["basic_auth"]).toEqual({ username: METRICS_USER, password_file: PASSWORD_FILE });
    const job = {
      ...self,
      scrape_interval: "1s",
      scrape_timeout: "1s",
      basic_auth: { username: METRICS_USER, password_file: join(vol, PASSWORD_KEY) },
      static_configs: [{ targets: [`127.0.0.1:${port}`] }],
    };
    writeFileSync(join(dir, "prometheus.yml"), stringify({ scrape_configs: [job] }));

    const prom = spawn(
      "prometheus",
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--web.config.file=${join(vol, WEB_CONFIG_KEY)}`,
        `--web.listen-address=127.0.0.1:${port}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
      ],
      { stdio: "ignore" },
    );
    prom.on("error", () => undefined);
    children.push(prom);
    const auth = (pw: string) => ({
      authorization: `Basic ${Buffer.from(`${METRICS_USER}:${pw}`).toString("base64")}`,
    });
    const status = async (path: string, pw: string) => {
      try {
        return (await fetch(`http://127.0.0.1:${port}${path}`, { headers: auth(pw) })).status;
      } catch {
        return 0;
      }
    };
    /** Polls `check` (no timing assumption beyond a generous bound); Prometheus must stay up. */
    const until = async (what: string, check: () => Promise<boolean>) => {
      for (let i = 0; i < 600; i++) {
        expect(
          prom.exitCode,
          `prometheus exited (${what}); is it installed? apt-get install -y prometheus`,
        ).toBeNull();
        if (await check()) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`gave up waiting: ${what}`);
    };
    /** The value of `query` (one series) with basic auth `pw`, or undefined. */
    const scalar = async (query: string, pw: string) => {
      const r = await fetch(
        `http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(query)}`,
        { headers: auth(pw) },
      ).catch(() => undefined);
      if (r?.status !== 200) return undefined;
      const body = (await r.json()) as { data: { result: Array<{ value: [number, string] }> } };
      return body.data.result[0]?.value[1];
    };
    const up = `up{job="${self!.job_name}"}`;

    await until(
      "ready with the old password",
      async () => (await status("/-/ready", oldPw)) === 200,
    );
    await until("a successful self-scrape", async () => (await scalar(up, oldPw)) === "1");
    expect(await status("/-/ready", newPw)).toBe(401);
    // goose's own health check (promote's verify, rollback's health) with the password file.
    const gooseEnv = { GOOSE_PROMETHEUS_PASSWORD_FILE: join(vol, PASSWORD_KEY) };
    const gooseProbe = () =>
      httpProbe(`http://127.0.0.1:${port}/-/healthy`, 5000, prometheusAuthHeaders(gooseEnv));
    expect(await gooseProbe()).toEqual({ status: 200 });
    expect(await httpProbe(`http://127.0.0.1:${port}/-/healthy`, 5000)).toEqual({ status: 401 });
    const pid = prom.pid;

    // Rotation, as the kubelet applies the updated Secret to the running pod.
    const rotatedAt = Date.now() / 1000;
    secret.write(files(newPw));

    await until("the new password accepted", async () => (await status("/-/ready", newPw)) === 200);
    expect(await status("/-/ready", oldPw)).toBe(401);
    expect(await status("/api/v1/query?query=up", oldPw)).toBe(401);
    // The scrape of itself uses the new password file: a sample scraped after the rotation is up.
    // (Had Prometheus kept the old password, every scrape since would be refused: up 0.)
    await until("a successful self-scrape after the rotation", async () => {
      const ts = Number(await scalar(`timestamp(${up})`, newPw));
      return ts > rotatedAt && (await scalar(up, newPw)) === "1";
    });
    // goose reads its password file per request: the refreshed file logs in after the rotation.
    expect(await gooseProbe()).toEqual({ status: 200 });
    // One process throughout: no restart was needed.
    expect(prom.pid).toBe(pid);
    expect(prom.exitCode).toBeNull();
  }, 120_000);

  it("a real Alertmanager with the stage's arguments honours the rotated web config in place", async () => {
    const dir = tempDir("goose-amrot-");
    const vol = join(dir, "secret");
    mkdirSync(vol);
    const secret = secretVolume(vol);
    const oldPw = randomBytes(16).toString("hex");
    const newPw = randomBytes(16).toString("hex");
    const webYml = (pw: string) => ({ [WEB_CONFIG_KEY]: prometheusWebConfig(bcrypt(pw)) });
    secret.write(webYml(oldPw));
    writeFileSync(
      join(dir, "alertmanager.yml"),
      stringify({ route: { receiver: "null" }, receivers: [{ name: "null" }] }),
    );
    // The stage's arguments (single replica: no cluster), with this machine's paths.
    const stageArgs = alertmanagerArgs(loadStageConfigFile(join(repoRoot, "Pulumi.sandbox.yaml")));
    expect(stageArgs).toContain(`--web.config.file=${ALERTMANAGER_WEB_CONFIG_FILE}`);
    const port = await freePort();
    const args = stageArgs.map((a) =>
      a.startsWith("--web.config.file=")
        ? `--web.config.file=${join(vol, WEB_CONFIG_KEY)}`
        : a.startsWith("--config.file=")
          ? `--config.file=${join(dir, "alertmanager.yml")}`
          : a.startsWith("--storage.path=")
            ? `--storage.path=${join(dir, "data")}`
            : a,
    );
    const amBin = findBinary("alertmanager", process.env);
    const am = spawn(amBin, [...args, `--web.listen-address=127.0.0.1:${port}`], {
      stdio: "ignore",
    });
    am.on("error", () => undefined);
    children.push(am);
    const status = async (pw?: string) => {
      try {
        const headers: Record<string, string> = pw
          ? { authorization: `Basic ${Buffer.from(`${METRICS_USER}:${pw}`).toString("base64")}` }
          : {};
        return (await fetch(`http://127.0.0.1:${port}/api/v2/status`, { headers })).status;
      } catch {
        return 0;
      }
    };
    const until = async (what: string, check: () => Promise<boolean>) => {
      for (let i = 0; i < 600; i++) {
        expect(
          am.exitCode,
          `alertmanager exited (${what}); see its arguments: ${args.join(" ")}`,
        ).toBeNull();
        if (await check()) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`gave up waiting: ${what}`);
    };
    await until("up with the old password", async () => (await status(oldPw)) === 200);
    expect(await status()).toBe(401);
    expect(await status(newPw)).toBe(401);
    const pid = am.pid;
    secret.write(webYml(newPw));
    await until("the new password accepted", async () => (await status(newPw)) === 200);
    expect(await status(oldPw)).toBe(401);
    expect(am.pid).toBe(pid);
    expect(am.exitCode).toBeNull();
  }, 120_000);
});

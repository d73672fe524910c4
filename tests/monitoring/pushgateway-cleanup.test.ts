/**
 * Pushgateway cleanup against a real Pushgateway (Debian's prometheus-pushgateway, on loopback):
 * the backup job's own steps remove its blackout group when it ends, a blackout group left at 0
 * counts as ended, and `goose pushgateway prune` deletes groups of jobs that no longer
 * exist while keeping the results the alerts read.
 */
import { spawnSync } from "node:child_process";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { backupAgentScript } from "../../src/components/backup-agent.js";
import { blackoutPush } from "../../src/components/blackout.js";
import { loadPushGroups } from "../../src/monitoring/push-groups.js";
import { listPushGroups, prunePushgateway } from "../../src/monitoring/pushgateway.js";
import { loadThresholds } from "../../src/monitoring/thresholds.js";
import { runGoose } from "../helpers/cli.js";
import { freePort, startPushgateway } from "../helpers/pushgateway.js";
import { tempDir } from "./tools.js";

let pg: { url: string; stop: () => void };
beforeEach(async () => {
  pg = await startPushgateway();
});
afterEach(() => pg?.stop());

function runStep(
  shell: string,
  script: string,
  stage: string,
  env: Record<string, string> = {},
): number | null {
  return spawnSync(shell, ["-c", script], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      PUSHGATEWAY: pg.url,
      STAGE: stage,
      HOME: "/tmp",
      ...env,
    },
    encoding: "utf8",
  }).status;
}

async function push(path: string, body: string): Promise<void> {
  const res = await fetch(`${pg.url}${path}`, { method: "POST", body });
  expect(res.status, path).toBe(200);
}

const groupKeys = async () =>
  (await listPushGroups(pg.url))
    .map((g) =>
      Object.entries(g.labels)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k}=${v}`)
        .join(","),
    )
    .sort();

describe("jobs clean up their groups", () => {
  it("the backup agent leaves its results and removes its blackout group when it ends", async () => {
    // The agent's own announcement: one group per agent (component).
    expect(runStep("bash", blackoutPush("backup", 1, { component: "grafana" }), "sandbox")).toBe(0);
    expect(await groupKeys()).toEqual([
      "component=grafana,job=goldengoose-blackout,kind=backup,stage=sandbox",
    ]);
    // A run with no database to copy: it fails, pushes its result and removes the blackout group.
    const dir = tempDir("backup-agent");
    const env = {
      GOOSE_BACKUP_ONCE: "1",
      TARGET: "volume",
      BACKUP_ROOT: `${dir}/backup`,
      WORK: `${dir}/work`,
      GRAFANA_DB: `${dir}/missing.db`,
      INTERVAL_SECONDS: "3600",
      TIMEOUT_SECONDS: "600",
      RETENTION_DAYS: "7",
    };
    expect(runStep("bash", backupAgentScript("grafana"), "sandbox", env)).toBe(1);
    // The Pushgateway applies a DELETE asynchronously (202 Accepted): wait until it has.
    let keys = await groupKeys();
    for (let i = 0; keys.length > 1 && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 50));
      keys = await groupKeys();
    }
    expect(keys).toEqual(["component=grafana,job=goldengoose-backup,stage=sandbox"]);
  });

  it("a blackout group left at 0 counts as ended, and prune deletes it", async () => {
    expect(runStep("bash", blackoutPush("scan", 1), "production")).toBe(0);
    // A writer that could not DELETE (an older job, a hand-made push) leaves the group at 0.
    await push(
      "/metrics/job/goldengoose-blackout/stage/production/kind/scan/component/scanner",
      "# TYPE goldengoose_blackout_active gauge\ngoldengoose_blackout_active 0\n",
    );
    expect(await groupKeys()).toEqual([
      "component=scanner,job=goldengoose-blackout,kind=scan,stage=production",
    ]);
    const r = await prunePushgateway(
      pg.url,
      "production",
      loadPushGroups(),
      loadThresholds().stages.production,
    );
    expect(r.decisions.map((d) => d.reason)).toEqual([
      "its job has ended (goldengoose_blackout_active 0)",
    ]);
    expect(r.deleted).toBe(1);
    expect(await groupKeys()).toEqual([]);
  });
});

describe("goose pushgateway prune", () => {
  async function seed(): Promise<void> {
    const gauge = (name: string, v: number) => `# TYPE ${name} gauge\n${name} ${v}\n`;
    // Current groups of jobs that exist: kept.
    await push(
      "/metrics/job/goldengoose-backup/stage/production/component/prometheus",
      gauge("goldengoose_backup_last_status", 1),
    );
    await push(
      "/metrics/job/goldengoose-scanner/stage/production",
      gauge("goldengoose_scanner_last_status", 1),
    );
    await push(
      "/metrics/job/goldengoose-transitions/kind/promotion/stage/production",
      gauge("goldengoose_transition_in_progress", 0),
    );
    await push(
      "/metrics/job/goldengoose-blackout/stage/production/kind/backup/component/prometheus",
      gauge("goldengoose_blackout_active", 1),
    );
    // Groups no job pushes any more: deleted.
    await push("/metrics/job/old-exporter/stage/production", gauge("old_metric", 1));
    await push(
      "/metrics/job/goldengoose-backup/stage/production/component/loki",
      gauge("goldengoose_backup_last_status", 1),
    );
    await push(
      "/metrics/job/goldengoose-backup/stage/sandbox/component/grafana",
      gauge("goldengoose_backup_last_status", 1),
    );
    // A value with a slash reaches the Pushgateway base64-encoded; prune deletes it the same way.
    await push("/metrics/job/old-exporter/path@base64/L3Zhci90bXA", gauge("old_metric", 2));
  }

  it("deletes groups of jobs that no longer exist, keeps the rest; --dry-run deletes nothing", async () => {
    await seed();
    const before = await groupKeys();
    expect(before).toHaveLength(8);
    const cwd = tempDir("prune");
    const dry = await runGoose(
      ["pushgateway", "prune", "production", "--pushgateway", pg.url, "--dry-run", "--json"],
      { cwd },
    );
    expect(dry.code, dry.stderr).toBe(0);
    const plan = JSON.parse(dry.stdout) as {
      kind: string;
      version: number;
      deleted: number;
      groups: { labels: Record<string, string>; action: string; reason: string }[];
    };
    expect(plan.kind).toBe("goose.pushgateway.prune");
    expect(plan.version).toBe(1);
    expect(plan.deleted).toBe(0);
    expect(await groupKeys()).toEqual(before);
    const deleted = plan.groups.filter((g) => g.action === "delete");
    expect(deleted.map((g) => g.reason).sort()).toEqual([
      'component="loki" is not one job goldengoose-backup pushes (prometheus, grafana)',
      'no job pushes group job="old-exporter" any more (monitoring/config/push-groups.yaml)',
      'no job pushes group job="old-exporter" any more (monitoring/config/push-groups.yaml)',
      'stage="sandbox" on the production Pushgateway',
    ]);
    expect(dry.stderr).toContain('would delete {job="old-exporter",stage="production"}');

    const real = await runGoose(["pushgateway", "prune", "production"], {
      cwd,
      env: { ...process.env, GOOSE_PUSHGATEWAY_URL: pg.url },
    });
    expect(real.code, real.stderr).toBe(0);
    expect(real.stdout).toContain("production: 8 group(s) on");
    expect(real.stdout).toContain("4 deleted, 4 kept");
    expect(await groupKeys()).toEqual([
      "component=prometheus,job=goldengoose-backup,stage=production",
      "component=prometheus,job=goldengoose-blackout,kind=backup,stage=production",
      "job=goldengoose-scanner,stage=production",
      "job=goldengoose-transitions,kind=promotion,stage=production",
    ]);
  });

  it("a blackout group older than its job may run counts as a job that is gone", async () => {
    await seed();
    const r = await prunePushgateway(
      pg.url,
      "production",
      loadPushGroups(),
      loadThresholds().stages.production,
      { now: Date.now() / 1000 + 3601 },
    );
    const blackout = r.decisions.find((d) => d.group.labels["job"] === "goldengoose-blackout");
    expect(blackout?.action).toBe("delete");
    expect(blackout?.reason).toMatch(/older than its job may run \(3600s\)/);
    // Results of living jobs are kept however old: their staleness is an alert.
    const backup = r.decisions.find(
      (d) =>
        d.group.labels["job"] === "goldengoose-backup" &&
        d.group.labels["component"] === "prometheus" &&
        d.action === "keep",
    );
    expect(backup?.reason).toBe("current group of job goldengoose-backup");
  });

  it("exits 2 naming the fix without a Pushgateway, or with one that does not answer", async () => {
    const cwd = tempDir("prune");
    const env = { ...process.env };
    delete env.GOOSE_PUSHGATEWAY_URL;
    const none = await runGoose(["pushgateway", "prune", "production"], { cwd, env });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("--pushgateway http://127.0.0.1:9091");
    const dead = `http://127.0.0.1:${await freePort()}`;
    const down = await runGoose(["pushgateway", "prune", "production", "--pushgateway", dead], {
      cwd,
      env,
    });
    expect(down.code).toBe(2);
    expect(down.stderr).toContain("kubectl port-forward");
  });
});

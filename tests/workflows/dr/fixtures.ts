/**
 * Backup sets made as the backup agents make them (src/backup/archive-layout.ts): a real
 * Prometheus (Debian's) scrapes itself for a few seconds and its admin API takes a TSDB snapshot,
 * which goes under `prometheus/<id>/snapshot/`; Grafana's database is a real SQLite file with
 * Grafana's `dashboard` and `data_source` tables under `grafana/<id>/grafana/grafana.db`; each set
 * gets its manifest (every file's size and SHA-256) last.
 */
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  backupId,
  backupSetPrefix,
  BACKUP_LAYOUT_VERSION,
  BACKUP_MANIFEST_KIND,
  GRAFANA_DB_PATH,
  MANIFEST_FILE,
  PROMETHEUS_SNAPSHOT_DIR,
  type BackupComponent,
  type BackupManifest,
} from "../../../src/backup/archive-layout.js";
import { serviceUrl } from "../../../src/components/names.js";
import { loadStageConfigFile } from "../../../src/config/index.js";
import type { StageName } from "../../../src/config/stages.js";
import {
  findBinary,
  freePort,
  startServer,
  waitUntilReady,
} from "../../../src/workflows/dr/processes.js";

export const REPO_ROOT = path.resolve(import.meta.dirname, "../../..");

export function tmp(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `gg-${prefix}-`));
}

/** A TSDB snapshot of a Prometheus that scraped itself (series labelled `stage`). */
export async function prometheusSnapshot(
  stage: StageName,
): Promise<{ dir: string; takenAt: Date }> {
  const bin = findBinary("prometheus", process.env);
  const work = tmp("dr-src");
  const port = await freePort();
  const config = path.join(work, "prometheus.yml");
  writeFileSync(
    config,
    [
      "global: { scrape_interval: 1s, evaluation_interval: 1s, external_labels: { stage: " +
        stage +
        " } }",
      "scrape_configs:",
      "  - job_name: prometheus",
      `    static_configs: [{ targets: ["127.0.0.1:${port}"], labels: { stage: ${stage} } }]`,
      "",
    ].join("\n"),
  );
  const url = `http://127.0.0.1:${port}`;
  const server = startServer(
    "source prometheus",
    bin,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${path.join(work, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--web.enable-admin-api",
    ],
    url,
    path.join(work, "prometheus.log"),
  );
  try {
    await waitUntilReady(server, `${url}/-/ready`, 30_000);
    // Wait until it holds a few scrapes of itself.
    for (;;) {
      const r = (await (
        await fetch(
          `${url}/api/v1/query?query=${encodeURIComponent('count_over_time(up{job="prometheus"}[1m])')}`,
        )
      ).json()) as { data: { result: Array<{ value: [number, string] }> } };
      if (Number(r.data.result[0]?.value[1] ?? 0) >= 3) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const snap = (await (
      await fetch(`${url}/api/v1/admin/tsdb/snapshot`, { method: "POST" })
    ).json()) as { status: string; data: { name: string } };
    if (snap.status !== "success") throw new Error(`snapshot failed: ${JSON.stringify(snap)}`);
    return { dir: path.join(work, "data", "snapshots", snap.data.name), takenAt: new Date() };
  } finally {
    await server.stop();
  }
}

/** Grafana's database as the stage provisions it: its dashboards and datasource. */
export async function grafanaDb(
  stage: StageName,
  opts: { dropDashboard?: string } = {},
): Promise<string> {
  const { DatabaseSync } = await import("node:sqlite");
  const dir = tmp("dr-grafana");
  const file = path.join(dir, "grafana.db");
  const db = new DatabaseSync(file);
  db.exec(
    "CREATE TABLE dashboard (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, version INTEGER NOT NULL, slug TEXT NOT NULL, title TEXT NOT NULL, data TEXT NOT NULL, org_id INTEGER NOT NULL, created DATETIME NOT NULL, updated DATETIME NOT NULL, uid TEXT NULL);" +
      "CREATE TABLE data_source (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, org_id INTEGER NOT NULL, version INTEGER NOT NULL, type TEXT NOT NULL, name TEXT NOT NULL, access TEXT NOT NULL, url TEXT NOT NULL, is_default INTEGER NOT NULL, created DATETIME NOT NULL, updated DATETIME NOT NULL, uid TEXT NOT NULL DEFAULT 0);",
  );
  const dashDir = path.join(REPO_ROOT, "monitoring/grafana/dashboards");
  const ins = db.prepare(
    "INSERT INTO dashboard (version, slug, title, data, org_id, created, updated, uid) VALUES (1, ?, ?, ?, 1, datetime('now'), datetime('now'), ?)",
  );
  for (const f of readdirSync(dashDir).filter((f) => f.endsWith(".json"))) {
    const text = readFileSync(path.join(dashDir, f), "utf8");
    const d = JSON.parse(text) as { uid: string; title: string };
    if (d.uid === opts.dropDashboard) continue;
    ins.run(f.replace(/\.json$/, ""), d.title, text, d.uid);
  }
  const cfg = loadStageConfigFile(path.join(REPO_ROOT, `Pulumi.${stage}.yaml`));
  db.prepare(
    "INSERT INTO data_source (org_id, version, type, name, access, url, is_default, created, updated, uid) VALUES (1, 1, 'prometheus', 'Prometheus', 'proxy', ?, 1, datetime('now'), datetime('now'), 'prometheus')",
  ).run(serviceUrl(cfg, "prometheus"));
  db.close();
  return dir;
}

function walk(dir: string, base = ""): string[] {
  return readdirSync(path.join(dir, base), { withFileTypes: true }).flatMap((e) => {
    const rel = base ? `${base}/${e.name}` : e.name;
    return e.isDirectory() ? walk(dir, rel) : [rel];
  });
}

/** Writes a set's manifest (last, as the agents do) listing every file of the set. */
export function writeManifest(
  setDir: string,
  m: { stage: string; component: BackupComponent; id: string; createdAt: Date },
): void {
  const files = walk(setDir)
    .filter((p) => p !== MANIFEST_FILE)
    .sort()
    .map((p) => {
      const body = readFileSync(path.join(setDir, p));
      return {
        path: p,
        bytes: body.length,
        sha256: createHash("sha256").update(body).digest("hex"),
      };
    });
  const manifest: BackupManifest = {
    kind: BACKUP_MANIFEST_KIND,
    version: BACKUP_LAYOUT_VERSION,
    stage: m.stage,
    component: m.component,
    id: m.id,
    createdAt: m.createdAt.toISOString(),
    ...(m.component === "prometheus"
      ? { prometheusSnapshotDir: PROMETHEUS_SNAPSHOT_DIR }
      : { grafanaDb: GRAFANA_DB_PATH }),
    files,
  };
  writeFileSync(path.join(setDir, MANIFEST_FILE), JSON.stringify(manifest, null, 2));
}

/**
 * Both sets as the agents write them, under `<root>/<component>/<id>/` (the backup volume's
 * layout; the same keys go to S3). `at` is the set id's time and the capture time.
 */
export function backupSets(
  root: string,
  snapshotDir: string,
  grafanaDir: string,
  at: Date,
  stage: StageName = "compliance",
): { prometheus: string; grafana: string; id: string } {
  const id = backupId(at);
  const prometheus = path.join(root, backupSetPrefix("prometheus", id));
  const grafana = path.join(root, backupSetPrefix("grafana", id));
  cpSync(snapshotDir, path.join(prometheus, PROMETHEUS_SNAPSHOT_DIR), { recursive: true });
  mkdirSync(path.join(grafana, path.dirname(GRAFANA_DB_PATH)), { recursive: true });
  cpSync(path.join(grafanaDir, "grafana.db"), path.join(grafana, GRAFANA_DB_PATH));
  writeManifest(prometheus, { stage, component: "prometheus", id, createdAt: at });
  writeManifest(grafana, { stage, component: "grafana", id, createdAt: at });
  return { prometheus, grafana, id };
}

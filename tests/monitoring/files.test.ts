/** loadMonitoringFiles: what each stage ships, read exactly from monitoring/. */
import { cpSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { STAGES } from "../../src/config/stages.js";
import { loadMonitoringFiles, MonitoringFilesError } from "../../src/monitoring/files.js";
import { REPO_ROOT, tempDir } from "./tools.js";

const read = (rel: string) => readFileSync(path.join(REPO_ROOT, rel), "utf8");

describe("loadMonitoringFiles", () => {
  it.each(STAGES)(
    "gives %s the shared rules, its own thresholds, the dashboards and Alertmanager config",
    (stage) => {
      const files = loadMonitoringFiles(stage);
      expect(files.rules).toEqual({
        "recording.yaml": read("monitoring/prometheus/recording.yaml"),
        "alerts.yaml": read("monitoring/prometheus/alerts.yaml"),
        "thresholds.yaml": read(`monitoring/prometheus/thresholds/${stage}.yaml`),
      });
      expect(Object.keys(files.dashboards).sort()).toEqual([
        "backups.json",
        "load-test.json",
        "prometheus.json",
        "security.json",
        "stage-overview.json",
      ]);
      for (const [name, content] of Object.entries(files.dashboards)) {
        expect(content).toBe(read(`monitoring/grafana/dashboards/${name}`));
      }
      expect(files.alertmanager).toBe(read("monitoring/alertmanager/alertmanager.yml"));
    },
  );

  it("ships different thresholds per stage", () => {
    const t = new Set(STAGES.map((s) => loadMonitoringFiles(s).rules["thresholds.yaml"]));
    expect(t.size).toBe(STAGES.length);
  });

  it("names the missing file and the fix", () => {
    const root = tempDir("files");
    cpSync(path.join(REPO_ROOT, "monitoring"), path.join(root, "monitoring"), { recursive: true });
    rmSync(path.join(root, "monitoring/prometheus/thresholds/compliance.yaml"));
    expect(() => loadMonitoringFiles("compliance", root)).toThrow(MonitoringFilesError);
    expect(() => loadMonitoringFiles("compliance", root)).toThrow(
      /thresholds\/compliance\.yaml is missing: run `npm run generate`/,
    );
    expect(() => loadMonitoringFiles("sandbox", root)).not.toThrow();
  });
});

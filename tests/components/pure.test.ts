import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadStageConfigFile, STAGES } from "../../src/config/index.js";
import { backupScripts, roleNameFromArn } from "../../src/components/backup.js";
import { scannerScript, severitiesFrom, stageImages } from "../../src/components/scanner.js";
import { rotationKeeper, datasourcesYaml } from "../../src/components/grafana.js";
import { renderPrometheusConfig } from "../../src/components/prometheus-config.js";
import { keptLevels, loadMetricLevels } from "../../src/monitoring/levels.js";

/** `bash -n` / `sh -n`: the shell parses the script without running it. */
function syntaxCheck(shell: string, script: string): string {
  const r = spawnSync(shell, ["-n"], { input: script, encoding: "utf8" });
  return r.status === 0 ? "" : r.stderr;
}

describe.each(STAGES)("pure parts of the %s components", (stage) => {
  const cfg = loadStageConfigFile(`Pulumi.${stage}.yaml`);

  it("the backup scripts parse and store to the stage's target", () => {
    const { collect, upload } = backupScripts(cfg);
    expect(syntaxCheck("bash", collect)).toBe("");
    expect(syntaxCheck("bash", upload)).toBe("");
    if (cfg.backup.target === "s3") {
      expect(upload).toContain("--sse aws:kms");
      expect(upload).not.toContain("/backup/");
    } else {
      expect(upload).toContain(`-mtime +${cfg.backup.retentionDays} -delete`);
      expect(upload).not.toContain("aws s3");
    }
    expect(upload).toContain("goldengoose_backup_last_success_timestamp_seconds");
  });

  it("the scanner script parses and asks Trivy for the threshold and above", () => {
    const script = scannerScript(cfg);
    expect(syntaxCheck("sh", script)).toBe("");
    const sev = severitiesFrom(cfg.scanner.severityThreshold);
    expect(sev[0]).toBe(cfg.scanner.severityThreshold);
    expect(sev[sev.length - 1]).toBe("CRITICAL");
    expect(script).toContain(`--severity "${sev.join(",")}"`);
    expect(stageImages(cfg)).toContain(cfg.scanner.image);
  });

  it("prometheus.yml carries the stage label, interval, drop list and every job per kept level", () => {
    const doc = parse(renderPrometheusConfig(cfg));
    expect(doc.global.external_labels.stage).toBe(stage);
    expect(doc.global.scrape_interval).toBe(cfg.prometheus.scrapeInterval);
    const levels = keptLevels(loadMetricLevels(), stage);
    expect(levels[0]).toBe("critical");
    const jobs = doc.scrape_configs.map((j: { job_name: string }) => j.job_name);
    expect(jobs).toEqual(
      ["prometheus", "alertmanager", "grafana", "pushgateway", "service"].flatMap((j) =>
        levels.map((l) => `${j}-${l}`),
      ),
    );
    for (const sc of doc.scrape_configs) {
      const relabel = sc.metric_relabel_configs as { regex: string; action: string }[];
      const last = relabel[relabel.length - 1]!;
      if (cfg.prometheus.dropMetrics.length > 0) {
        expect(last).toMatchObject({ regex: cfg.prometheus.dropMetrics.join("|"), action: "drop" });
      } else {
        expect(last.regex).not.toBe("");
      }
    }
  });
});

describe("helpers", () => {
  it("the rotation keeper changes once per period and not within it", () => {
    const day = 86_400_000;
    const start = 30 * day * 1000; // a period boundary for 30 days
    expect(rotationKeeper(start, 30)).toBe(rotationKeeper(start + 29 * day, 30));
    expect(rotationKeeper(start, 30)).not.toBe(rotationKeeper(start + 30 * day, 30));
  });

  it("role names come from ARNs with paths", () => {
    expect(roleNameFromArn("arn:aws:iam::123456789012:role/platform/goose-backup")).toBe(
      "goose-backup",
    );
  });

  it("the datasource points at the given Prometheus", () => {
    expect(parse(datasourcesYaml("http://p:9090")).datasources[0]).toMatchObject({
      uid: "prometheus",
      url: "http://p:9090",
      type: "prometheus",
    });
  });
});

import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadStageConfigFile, STAGES } from "../../src/config/index.js";
import { backupPolicyDocument, backupTrustPolicy } from "../../src/components/backup.js";
import { backupAgentScript } from "../../src/components/backup-agent.js";
import {
  scannerScript,
  severitiesFrom,
  stageImages,
  trivyDepthFlags,
} from "../../src/components/scanner.js";
import { loadComplianceRules } from "../../src/audit/index.js";
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

  it("the backup agents' scripts parse, and never use kubectl", () => {
    for (const c of ["prometheus", "grafana"] as const) {
      const script = backupAgentScript(c);
      expect(syntaxCheck("bash", script)).toBe("");
      expect(script).toContain("--sse aws:kms --sse-kms-key-id");
      expect(script).toContain("goldengoose_backup_last_success_timestamp_seconds");
      expect(script).toContain("goldengoose_blackout_expires_timestamp_seconds");
      expect(script).not.toContain("kubectl");
    }
    expect(cfg.backup.target === "s3" || cfg.prometheus.replicas === 1).toBe(true);
  });

  it("the scanner script parses and asks Trivy for the threshold and above", () => {
    const rules = loadComplianceRules(".").stages[stage];
    const script = scannerScript(cfg, rules.scan.depth);
    expect(syntaxCheck("sh", script)).toBe("");
    // The scan depth of compliance-rules.yaml, as Trivy flags.
    expect(script).toContain(trivyDepthFlags(rules.scan.depth));
    // Trivy reports everything the gate fails on, and a cached result plus one incremental
    // interval stays within the age the gate accepts (maxResultAgeHours).
    expect(severitiesFrom(cfg.scanner.severityThreshold)).toContain(rules.scan.failOn);
    expect(cfg.scanner.cacheMaxAgeHours).toBeLessThan(rules.scan.maxResultAgeHours);
    const sev = severitiesFrom(cfg.scanner.severityThreshold);
    expect(sev[0]).toBe(cfg.scanner.severityThreshold);
    expect(sev[sev.length - 1]).toBe("CRITICAL");
    expect(script).toContain(`SEV="${sev.join(",")}"`);
    expect(script).toContain(`--severity "$SEV"`);
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

  it("the backup role may write SSE-KMS multipart uploads and nothing else", () => {
    const doc = backupPolicyDocument("arn:aws:s3:::b", "arn:aws:kms:eu-west-1:1:key/k");
    const actions = doc.Statement.flatMap((s) => s.Action).sort();
    expect(actions).toEqual([
      "kms:Decrypt",
      "kms:GenerateDataKey",
      "s3:AbortMultipartUpload",
      "s3:PutObject",
    ]);
    expect(doc.Statement.find((s) => s.Action.includes("s3:PutObject"))?.Resource).toBe(
      "arn:aws:s3:::b/*",
    );
    const trust = backupTrustPolicy(
      { arn: "arn:aws:iam::1:oidc-provider/oidc.eks.x/id/A", issuerHost: "oidc.eks.x/id/A" },
      "goose-production",
    );
    expect(trust.Statement[0]?.Condition.StringEquals).toEqual({
      "oidc.eks.x/id/A:aud": "sts.amazonaws.com",
      "oidc.eks.x/id/A:sub": [
        "system:serviceaccount:goose-production:prometheus",
        "system:serviceaccount:goose-production:grafana",
      ],
    });
  });

  it("the datasource points at the given Prometheus", () => {
    expect(parse(datasourcesYaml("http://p:9090")).datasources[0]).toMatchObject({
      uid: "prometheus",
      url: "http://p:9090",
      type: "prometheus",
    });
  });
});

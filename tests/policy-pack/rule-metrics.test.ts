/**
 * prometheus-keeps-rule-metrics: the metrics the shipped rule files read (parsed from their PromQL)
 * must survive the stage's rendered prometheus.yml (metric levels and dropMetrics).
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { renderPrometheusConfig } from "../../src/components/prometheus-config.js";
import { loadStageConfigFile } from "../../src/config/index.js";
import { STAGES, type StageName } from "../../src/config/stages.js";
import { loadMonitoringFiles } from "../../src/monitoring/files.js";
import { loadMetricLevels, type MetricLevels } from "../../src/monitoring/levels.js";
import { prometheusKeepsRuleMetrics } from "../../policy-pack/policies/monitoring.js";
import {
  droppedRuleMetrics,
  keepsMetric,
  ruleMetricNeeds,
  selectorsOf,
} from "../../policy-pack/policies/promql.js";
import { readPackConfig, repoRoot, runStackPolicy } from "./harness.js";

const levels = loadMetricLevels();

function stageStack(
  stage: StageName,
  opts: { levels?: MetricLevels; dropMetrics?: string[]; extraRules?: Record<string, string> } = {},
) {
  const cfg = loadStageConfigFile(path.join(repoRoot, `Pulumi.${stage}.yaml`));
  const yml = renderPrometheusConfig(
    {
      ...cfg,
      prometheus: {
        ...cfg.prometheus,
        dropMetrics: opts.dropMetrics ?? cfg.prometheus.dropMetrics,
      },
    },
    opts.levels ?? levels,
  );
  return [
    { type: "goldengoose:monitoring:Prometheus", name: "prometheus", props: {} },
    {
      type: "kubernetes:core/v1:ConfigMap",
      name: "prometheus-config",
      parent: "prometheus",
      props: { metadata: { name: "prometheus-config" }, data: { "prometheus.yml": yml } },
    },
    {
      type: "kubernetes:core/v1:ConfigMap",
      name: "prometheus-rules",
      parent: "prometheus",
      props: {
        metadata: {
          name: "prometheus-rules",
          labels: { "app.kubernetes.io/component": "prometheus-rules" },
        },
        data: { ...loadMonitoringFiles(stage).rules, ...opts.extraRules },
      },
    },
  ];
}

describe("PromQL selectors of the rules", () => {
  it("finds metric names, matchers and __name__ selectors, not functions or label names", () => {
    const sels = selectorsOf(
      'sum by (stage, le) (rate(http_request_duration_seconds_bucket{job="service",code=~"5.."}[5m]))\n' +
        "and on (le) stage:goldengoose_slo_latency_bound:seconds\n" +
        'or absent({__name__="goldengoose_blackout_active"}) or vector(1)',
    );
    expect(sels.map((s) => s.metric)).toEqual([
      "http_request_duration_seconds_bucket",
      "stage:goldengoose_slo_latency_bound:seconds",
      "goldengoose_blackout_active",
    ]);
    expect(sels[0]?.matchers).toEqual([
      { name: "job", op: "=", value: "service" },
      { name: "code", op: "=~", value: "5.." },
    ]);
  });

  it("derives the scraped metrics the shipped rule files need (not recorded, not synthetic)", () => {
    const needs = ruleMetricNeeds(loadMonitoringFiles("production").rules);
    const metrics = new Set(needs.map((n) => n.metric));
    for (const m of [
      "http_requests_total",
      "http_request_duration_seconds_bucket",
      "http_request_duration_seconds_count",
      "goldengoose_backup_last_status",
      "goldengoose_scanner_vulnerabilities",
      "prometheus_rule_evaluation_failures_total",
      "grafana_http_request_duration_seconds_count",
      "goldengoose_transition_in_progress",
    ]) {
      expect(metrics, m).toContain(m);
    }
    expect(metrics).not.toContain("up");
    expect(metrics).not.toContain("job:http_requests:rate5m");
    expect(metrics).not.toContain("stage:goldengoose_backup_max_age:seconds");
    const grafana = needs.find((n) => n.metric === "grafana_http_request_duration_seconds_count");
    expect(grafana?.job).toEqual({ name: "job", op: "=", value: "grafana" });
    expect(grafana?.rule).toMatch(/^record job:grafana_http_request/);
  });

  it("judges metric_relabel_configs by name like Prometheus (anchored, keep then drop)", () => {
    const relabel = [
      { source_labels: ["__name__"], regex: "go_.*|http_.*", action: "keep" },
      { source_labels: ["__name__"], regex: "go_gc_.*", action: "drop" },
      { source_labels: ["pod"], regex: "x", action: "drop" },
    ];
    expect(keepsMetric(relabel, "http_requests_total")).toBe(true);
    expect(keepsMetric(relabel, "go_gc_duration_seconds")).toBe(false);
    expect(keepsMetric(relabel, "xhttp_requests_total")).toBe(false);
    expect(keepsMetric(undefined, "anything")).toBe(true);
  });
});

describe("prometheus-keeps-rule-metrics", () => {
  it.each(STAGES)("passes %s as shipped (its levels, drop list and rule files)", async (stage) => {
    const r = await runStackPolicy(
      prometheusKeepsRuleMetrics,
      stageStack(stage),
      readPackConfig(stage),
    );
    expect(r.notApplicable).toBeUndefined();
    expect(r.violations).toEqual([]);
  });

  it("fails production when a family an alert needs is moved to debug (dropped there)", async () => {
    const moved: MetricLevels = {
      ...levels,
      families: [
        // Critical patterns win over debug ones, so critical no longer claims goldengoose_backup_*.
        ...levels.families.filter((f) => f.match !== "goldengoose_.*"),
        { match: "goldengoose_(scanner|blackout|transition|snapshot)_.*", level: "critical" },
        { match: "goldengoose_backup_.*", level: "debug" },
      ],
    };
    const r = await runStackPolicy(
      prometheusKeepsRuleMetrics,
      stageStack("production", { levels: moved }),
      readPackConfig("production"),
    );
    const dropped = r.violations.map((v) => /drops (\S+),/.exec(v.message)?.[1]);
    expect(dropped).toContain("goldengoose_backup_last_status");
    expect(dropped).toContain("goldengoose_backup_last_success_timestamp_seconds");
    expect(dropped).not.toContain("http_requests_total");
    const status = r.violations.find((v) =>
      v.message.includes("drops goldengoose_backup_last_status,"),
    );
    expect(status?.message).toContain(
      "record component:goldengoose_backup_last_status:min (prometheus-rules/recording.yaml)",
    );
    expect(status?.message).toContain("monitoring/config/metric-levels.yaml");
    expect(status?.level).toBe("mandatory");
    // Sandbox keeps debug, so the same levels pass there.
    const sandbox = await runStackPolicy(
      prometheusKeepsRuleMetrics,
      stageStack("sandbox", { levels: moved }),
      readPackConfig("sandbox"),
    );
    expect(sandbox.violations).toEqual([]);
  });

  it("derives the needs from the rules: a new alert on a debug metric fails production only", async () => {
    const extraRules = {
      "extra.yaml":
        "groups:\n  - name: extra\n    rules:\n      - alert: TooManyGoroutines\n" +
        '        expr: go_goroutines{job="prometheus"} > 10000\n',
    };
    const prod = await runStackPolicy(
      prometheusKeepsRuleMetrics,
      stageStack("production", { extraRules }),
      readPackConfig("production"),
    );
    expect(prod.violations).toHaveLength(1);
    expect(prod.violations[0]?.message).toContain(
      "drops go_goroutines, which alert TooManyGoroutines (prometheus-rules/extra.yaml) reads",
    );
    expect(prod.violations[0]?.message).toContain(
      // The Pushgateway's configs keep pushed jobs' own `job` label (honor_labels), so they count.
      "(prometheus-critical, prometheus-standard, pushgateway-critical, pushgateway-standard)",
    );
    const sandbox = await runStackPolicy(
      prometheusKeepsRuleMetrics,
      stageStack("sandbox", { extraRules }),
      readPackConfig("sandbox"),
    );
    expect(sandbox.violations).toEqual([]);
  });

  it("fails a stage whose dropMetrics removes a metric the SLO rules read", async () => {
    const r = await runStackPolicy(
      prometheusKeepsRuleMetrics,
      stageStack("sandbox", { dropMetrics: ["go_gc_.*", "http_requests_total"] }),
      readPackConfig("sandbox"),
    );
    expect(r.violations.map((v) => /drops (\S+),/.exec(v.message)?.[1])).toEqual([
      "http_requests_total",
    ]);
    expect(r.violations[0]?.level).toBe("advisory");
    expect(r.violations[0]?.message).toContain("prometheus.dropMetrics");
    expect(
      droppedRuleMetrics(
        renderPrometheusConfig(
          loadStageConfigFile(path.join(repoRoot, "Pulumi.sandbox.yaml")),
          levels,
        ),
        loadMonitoringFiles("sandbox").rules,
      ),
    ).toEqual([]);
  });

  it("judges each metric per job matcher, keeps the rules' order, and takes its needs precomputed", () => {
    const yml = [
      "scrape_configs:",
      "  - job_name: api",
      "    metric_relabel_configs:",
      "      - source_labels: [__name__]",
      "        regex: 'x_total|y_total'",
      "        action: drop",
      "  - job_name: web",
      "    static_configs: [{ targets: ['web:80'] }]",
      "",
    ].join("\n");
    const rule = (name: string, expr: string) => `  - alert: ${name}\n    expr: ${expr}\n`;
    const files = {
      "a/one.yaml":
        "groups:\n- name: g\n  rules:\n" +
        rule("A1", 'rate(x_total{job="api"}[5m]) > 0') +
        rule("A2", 'rate(x_total{job="web"}[5m]) > 0') +
        rule("A3", 'rate(y_total{job=~"ap."}[5m]) > 0'),
      "b/two.yaml":
        "groups:\n- name: g\n  rules:\n" +
        rule("B1", 'rate(x_total{job="api"}[5m]) > 0') +
        rule("B2", 'rate(y_total{job="web"}[5m]) > 0') +
        rule("B3", 'rate(x_total{job="nowhere"}[5m]) > 0'),
    };
    const fromFiles = droppedRuleMetrics(yml, files);
    // x_total: dropped for job="api" (A1, B1), kept for "web" (A2), not scraped for "nowhere" (B3).
    // y_total: dropped for job=~"ap." (A3), kept for "web" (B2).
    expect(fromFiles).toEqual([
      {
        metric: "x_total",
        needs: [
          {
            metric: "x_total",
            rule: "alert A1",
            file: "a/one.yaml",
            job: { name: "job", op: "=", value: "api" },
          },
          {
            metric: "x_total",
            rule: "alert B1",
            file: "b/two.yaml",
            job: { name: "job", op: "=", value: "api" },
          },
        ],
        droppedBy: ["api"],
      },
      {
        metric: "y_total",
        needs: [
          {
            metric: "y_total",
            rule: "alert A3",
            file: "a/one.yaml",
            job: { name: "job", op: "=~", value: "ap." },
          },
        ],
        droppedBy: ["api"],
      },
    ]);
    const needs = ruleMetricNeeds(files);
    expect(droppedRuleMetrics(yml, needs)).toEqual(fromFiles);
    // The same needs list against a prometheus.yml that drops nothing: the memoised grouping does
    // not carry the last verdicts over.
    expect(droppedRuleMetrics("scrape_configs:\n  - job_name: api\n", needs)).toEqual([]);
  });
});

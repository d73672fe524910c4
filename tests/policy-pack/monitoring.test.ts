import * as k8s from "@pulumi/kubernetes";
import { describe, expect, it } from "vitest";
import {
  grafanaNoAnonymous,
  iniAnonymousEnabled,
  prometheusRetention,
  prometheusRuleFiles,
  retentionArg,
} from "../../policy-pack/policies/monitoring.js";
import { durationDays } from "../../policy-pack/policies/util.js";
import { grafanaDeployment, prometheusStatefulSet, rulesStack } from "./fixtures.js";
import { readPackConfig, runResourcePolicy, runStackPolicy } from "./harness.js";

const production = readPackConfig("production");
const compliance = readPackConfig("compliance");
const sandbox = readPackConfig("sandbox");

const sts = (retention?: string) => ({
  type: k8s.apps.v1.StatefulSet,
  name: "prometheus",
  props: prometheusStatefulSet(retention),
});

describe("prometheus-retention", () => {
  it("reads Prometheus durations and the retention flag in both forms", () => {
    expect(durationDays("90d")).toBe(90);
    expect(durationDays("2w")).toBe(14);
    expect(durationDays("1y")).toBe(365);
    expect(durationDays("1w3d")).toBe(10);
    expect(durationDays("720h")).toBe(30);
    expect(durationDays("ninety")).toBeUndefined();
    expect(retentionArg({ args: ["--storage.tsdb.retention.time", "30d"] })).toBe("30d");
    expect(retentionArg({ args: ["--storage.tsdb.retention.time=15d"] })).toBe("15d");
  });
  it("passes each stage's own retention (7, 30, 90 days)", async () => {
    expect((await runResourcePolicy(prometheusRetention, sts("7d"), sandbox)).violations).toEqual(
      [],
    );
    expect(
      (await runResourcePolicy(prometheusRetention, sts("30d"), compliance)).violations,
    ).toEqual([]);
    expect(
      (await runResourcePolicy(prometheusRetention, sts("13w"), production)).violations,
    ).toEqual([]);
  });
  it("flags retention below the stage minimum", async () => {
    const r = await runResourcePolicy(prometheusRetention, sts("30d"), production);
    expect(r.violations[0]?.message).toMatch(
      /keeps data for 30d \(30 days\), below this stage's minimum of 90 days/,
    );
    expect(r.violations[0]?.level).toBe("mandatory");
  });
  it("flags a missing or malformed flag", async () => {
    const props = prometheusStatefulSet();
    const c = (props as { spec: { template: { spec: { containers: Record<string, unknown>[] } } } })
      .spec.template.spec.containers[0]!;
    c["args"] = ["--config.file=/etc/prometheus/prometheus.yml"];
    const missing = await runResourcePolicy(
      prometheusRetention,
      { type: k8s.apps.v1.StatefulSet, props },
      production,
    );
    expect(missing.violations[0]?.message).toMatch(/does not set --storage.tsdb.retention.time/);
    const bad = await runResourcePolicy(prometheusRetention, sts("ninety"), production);
    expect(bad.violations[0]?.message).toMatch(/not a duration/);
  });
  it("does not apply to other StatefulSets", async () => {
    const r = await runResourcePolicy(
      prometheusRetention,
      {
        type: k8s.apps.v1.StatefulSet,
        props: {
          spec: { template: { spec: { containers: [{ name: "db", image: "postgres:16" }] } } },
        },
      },
      production,
    );
    expect(r.notApplicable).toMatch(/no Prometheus container/);
  });
});

describe("grafana-no-anonymous-access", () => {
  it("reads [auth.anonymous] in grafana.ini", () => {
    expect(iniAnonymousEnabled("[auth.anonymous]\nenabled = true\n")).toBe(true);
    expect(iniAnonymousEnabled("[auth.anonymous]\n; enabled = true\nenabled = false")).toBe(false);
    expect(iniAnonymousEnabled("[server]\nenabled = true\n[auth.anonymous]\n")).toBe(false);
  });
  it("passes GF_AUTH_ANONYMOUS_ENABLED=false", async () => {
    const r = await runResourcePolicy(
      grafanaNoAnonymous,
      { type: k8s.apps.v1.Deployment, props: grafanaDeployment() },
      production,
    );
    expect(r.violations).toEqual([]);
  });
  it("flags GF_AUTH_ANONYMOUS_ENABLED=true", async () => {
    const props = grafanaDeployment();
    const env = (
      props as {
        spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } };
      }
    ).spec.template.spec.containers[0]!.env;
    env.find((e) => e.name === "GF_AUTH_ANONYMOUS_ENABLED")!.value = "true";
    const r = await runResourcePolicy(
      grafanaNoAnonymous,
      { type: k8s.apps.v1.Deployment, name: "grafana", props },
      production,
    );
    expect(r.violations[0]?.message).toMatch(
      /sets GF_AUTH_ANONYMOUS_ENABLED=true .*Set grafana.anonymousAccess: false/,
    );
  });
  it("flags and passes grafana.ini in a ConfigMap", async () => {
    const cm = (ini: string) => ({
      type: k8s.core.v1.ConfigMap,
      name: "grafana-config",
      props: { data: { "grafana.ini": ini } },
    });
    const bad = await runResourcePolicy(
      grafanaNoAnonymous,
      cm("[auth.anonymous]\nenabled = true\n"),
      production,
    );
    expect(bad.violations[0]?.message).toMatch(
      /enables \[auth.anonymous\] in data\["grafana.ini"\]/,
    );
    expect(
      (
        await runResourcePolicy(
          grafanaNoAnonymous,
          cm("[auth.anonymous]\nenabled = false\n"),
          production,
        )
      ).violations,
    ).toEqual([]);
    const other = await runResourcePolicy(
      grafanaNoAnonymous,
      { type: k8s.core.v1.ConfigMap, props: { data: {} } },
      production,
    );
    expect(other.notApplicable).toMatch(/without grafana.ini/);
  });
});

describe("prometheus-rule-files", () => {
  it("passes a rules ConfigMap with a rule file", async () => {
    const r = await runStackPolicy(
      prometheusRuleFiles,
      rulesStack({ "alerts.yaml": "groups: []\n" }),
      production,
    );
    expect(r.violations).toEqual([]);
  });
  it("flags an empty rules ConfigMap and a missing one", async () => {
    const empty = await runStackPolicy(prometheusRuleFiles, rulesStack({}), production);
    expect(empty.violations[0]?.message).toMatch(/"prometheus-rules" has no rule files/);
    const none = await runStackPolicy(prometheusRuleFiles, rulesStack(null), production);
    expect(none.violations[0]?.message).toMatch(
      /No Prometheus rules ConfigMap.*app.kubernetes.io\/component: prometheus-rules/,
    );
    expect(none.violations[0]?.urn).toContain("goldengoose:monitoring:Prometheus::prometheus");
  });
  it("is not applicable without Prometheus", async () => {
    const r = await runStackPolicy(
      prometheusRuleFiles,
      [{ type: k8s.core.v1.ConfigMap, name: "c", props: {} }],
      production,
    );
    expect(r.notApplicable).toMatch(/no Prometheus/);
  });
});

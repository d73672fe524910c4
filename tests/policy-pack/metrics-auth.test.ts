import { describe, expect, it } from "vitest";
import { loadComplianceRules } from "../../src/audit/index.js";
import { STAGES } from "../../src/config/stages.js";
import { metricsEndpointsProtected } from "../../policy-pack/policies/metrics-auth.js";
import { metricsStack } from "./fixtures.js";
import { readPackConfig, repoRoot, runStackPolicy } from "./harness.js";

const rules = loadComplianceRules(repoRoot);
const production = readPackConfig("production");
const drop = rules.stages.production.metrics.dropLabels;

describe("metrics-endpoints-protected", () => {
  it("takes requireAuth and dropLabels of each stage from compliance-rules.yaml", () => {
    for (const stage of STAGES) {
      expect(readPackConfig(stage)["metrics-endpoints-protected"]).toEqual({
        requireAuth: rules.stages[stage].metrics.requireAuth,
        dropLabels: rules.stages[stage].metrics.dropLabels,
      });
    }
  });

  it("passes the protected stage and flags each way of opening it", async () => {
    const run = async (edit: Parameters<typeof metricsStack>[1]) =>
      (
        await runStackPolicy(metricsEndpointsProtected, metricsStack(drop, edit), production)
      ).violations.map((v) => v.message);
    expect(await run({})).toEqual([]);
    expect(await run({ noWebConfig: true })).toEqual([
      expect.stringMatching(
        /"prometheus": container "prometheus" runs Prometheus without --web\.config\.file/,
      ),
    ]);
    const plain = await run({ plaintextUser: true });
    expect(plain).toEqual([expect.stringMatching(/basic_auth_users\.goose is not a bcrypt hash/)]);
    expect(plain.join("\n")).not.toContain("hunter2");
    expect(await run({ noPushgatewayWebConfig: true })).toEqual([
      expect.stringMatching(
        /Deployment "pushgateway-server": container "pushgateway" runs the Pushgateway without --web\.config\.file/,
      ),
    ]);
    expect(await run({ noAlertmanagerWebConfig: true })).toEqual([
      expect.stringMatching(
        /Deployment "alertmanager": container "alertmanager" runs Alertmanager without --web\.config\.file/,
      ),
    ]);
    expect(await run({ editorRole: true })).toEqual([
      expect.stringMatching(/sets GF_USERS_AUTO_ASSIGN_ORG_ROLE=Editor/),
    ]);
    expect(await run({ exposePushgateway: true })).toEqual([
      expect.stringMatching(
        /Service "pushgateway" \(type LoadBalancer\) exposes pushgateway outside/,
      ),
    ]);
    const kept = await run({ keepLabel: "email" });
    expect(kept).toHaveLength(2);
    expect(kept[0]).toMatch(/scrape config prometheus-critical keeps the label\(s\) email/);
  });

  it("sandbox does not require authentication (advisory stage): only the labels and roles count", async () => {
    const sandbox = readPackConfig("sandbox");
    const r = await runStackPolicy(
      metricsEndpointsProtected,
      metricsStack(rules.stages.sandbox.metrics.dropLabels, {
        noWebConfig: true,
        noPushgatewayWebConfig: true,
        noAlertmanagerWebConfig: true,
      }),
      sandbox,
    );
    expect(r.violations).toEqual([]);
  });
});

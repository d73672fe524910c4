/**
 * The real pack as a process, over the Analyzer protocol: built by the engine's build step,
 * started with @pulumi/pulumi/cmd/run-policy-pack (one process for this file), configured per
 * stage from policy-pack/config/<stage>.json as the CLI resolves it, then every policy's passing
 * and failing case sent through Analyze (resource policies, with AnalyzerResourceOptions) or
 * AnalyzeStack (stack policies, with parents and dependencies).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  packEnv,
  PolicyPackProcess,
  type AnalyzerInfo,
  type Diagnostic,
} from "../../src/policy/analyzer.js";
import { ensurePolicyPackBuilt } from "../../src/policy/pack-build.js";
import { resolvePolicyPackConfig } from "../../src/policy/policy-config.js";
import { policyNames } from "../../policy-pack/policies/index.js";
import { CASES, productionDropLabels, type Case } from "./cases.js";
import { packDir, readPackConfig, UNKNOWN } from "./harness.js";
import { toAnalyzer } from "./to-analyzer.js";
import { grafanaWith, metricsStack } from "./fixtures.js";

let pack: PolicyPackProcess;
let info: AnalyzerInfo;
let configured = "";

async function configure(stage: string): Promise<void> {
  if (configured === stage) return;
  await pack.configure(
    resolvePolicyPackConfig(info, readPackConfig(stage), `policy-pack/config/${stage}.json`),
  );
  configured = stage;
}

async function run(c: Case, which: "pass" | "fail"): Promise<Diagnostic[]> {
  await configure(c.stage);
  const ds =
    c.kind === "resource"
      ? await pack.analyze(toAnalyzer(c[which]))
      : await pack.analyzeStack(c[which].map((r) => toAnalyzer(r, c[which])));
  return ds.filter((d) => d.policyName === c.policy);
}

beforeAll(async () => {
  await ensurePolicyPackBuilt(packDir);
  pack = await PolicyPackProcess.start(packDir, {
    env: packEnv(process.env, {
      project: "golden-goose",
      stack: "production",
      dryRun: true,
      config: { "golden-goose:stage": "production" },
      secretKeys: [],
    }),
  });
  info = await pack.getAnalyzerInfo();
});
afterAll(async () => pack?.close());

describe("the golden-goose pack over the Analyzer protocol", () => {
  it("GetAnalyzerInfo lists every policy with its config schema", () => {
    expect(info.name).toBe("golden-goose");
    expect(info.policies.map((p) => p.name)).toEqual(policyNames);
    const retention = info.policies.find((p) => p.name === "prometheus-retention");
    expect(retention?.configSchema?.properties["minRetentionDays"]).toMatchObject({
      type: "integer",
      default: 15,
    });
  });

  it("has a case for every policy", () => {
    expect(CASES.map((c) => c.policy).sort()).toEqual([...policyNames].sort());
  });

  it.each(CASES.map((c) => [c.policy, c] as const))(
    "%s: passes the good input, flags the bad one",
    async (_name, c) => {
      expect(await run(c, "pass")).toEqual([]);
      const fail = await run(c, "fail");
      expect(fail.length).toBeGreaterThan(0);
      const d = fail[0] as Diagnostic;
      expect(d.message).toMatch(c.expect);
      expect(d.enforcementLevel).toBe(c.stage === "sandbox" ? "advisory" : "mandatory");
      expect(d.policyPackName).toBe("golden-goose");
    },
  );

  it("metrics-endpoints-protected: a Pushgateway without its web config fails production", async () => {
    const ds = await run(
      {
        policy: "metrics-endpoints-protected",
        stage: "production",
        kind: "stack",
        pass: [],
        fail: metricsStack(productionDropLabels, { noPushgatewayWebConfig: true }),
        expect: /./,
      },
      "fail",
    );
    expect(ds.map((d) => [d.message, d.enforcementLevel])).toEqual([
      [expect.stringMatching(/runs the Pushgateway without --web\.config\.file/), "mandatory"],
    ]);
  });

  it("the sandbox config makes the same violation advisory", async () => {
    await configure("sandbox");
    const ds = await pack.analyze(
      toAnalyzer(grafanaWith((c) => (c["image"] = "grafana/grafana:latest"))),
    );
    expect(ds.find((d) => d.policyName === "k8s-image-pinned")?.enforcementLevel).toBe("advisory");
  });

  it("a value unknown during preview is an advisory can't-run, never a pass", async () => {
    await configure("production");
    const ds = await pack.analyze(toAnalyzer(grafanaWith((c) => (c["image"] = UNKNOWN))));
    const d = ds.find((x) => x.policyName === "k8s-image-pinned");
    expect(d?.enforcementLevel).toBe("advisory");
    expect(d?.message).toMatch(/can't run policy 'k8s-image-pinned' .* during preview/);
  });
});

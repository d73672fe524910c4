/**
 * What the failover drill maps to loopback from the stage's rendered configuration, and what it
 * keeps: the mapping decides whether the drill can fail the way the cluster would.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { alertmanagerArgs } from "../../../src/components/alertmanager-cluster.js";
import { renderPrometheusConfig } from "../../../src/components/prometheus-config.js";
import { loadStageConfigFile } from "../../../src/config/index.js";
import {
  loopbackAlertmanagerArgs,
  loopbackAlertmanagerConfig,
  loopbackPrometheusConfig,
  peerTimeoutOf,
  reachedAlertmanagers,
} from "../../../src/workflows/dr/failover-config.js";
import { REPO_ROOT } from "./fixtures.js";

type Obj = Record<string, unknown>;
const compliance = loadStageConfigFile(path.join(REPO_ROOT, "Pulumi.compliance.yaml"));
const endpoints = [0, 1, 2].map((i) => ({
  web: `127.0.0.1:${9100 + i}`,
  cluster: `127.0.0.1:${9200 + i}`,
}));

describe("failover drill configuration", () => {
  it("runs the stage's Alertmanager arguments with loopback addresses and every other replica as a peer", () => {
    const stageArgs = alertmanagerArgs(compliance);
    expect(peerTimeoutOf(stageArgs)).toBe("15s");
    const { args, clustered } = loopbackAlertmanagerArgs(stageArgs, endpoints, 1, {
      config: "/d/am.yml",
      storage: "/d/1",
      webConfig: "/d/web.yml",
    });
    expect(clustered).toBe(true);
    expect(args).toEqual([
      "--config.file=/d/am.yml",
      "--storage.path=/d/1",
      // The stage's basic auth stays on, with the drill's web config.
      "--web.config.file=/d/web.yml",
      "--cluster.listen-address=127.0.0.1:9201",
      "--cluster.advertise-address=127.0.0.1:9201",
      "--cluster.peer=127.0.0.1:9200",
      "--cluster.peer=127.0.0.1:9202",
      "--cluster.peer-timeout=15s",
      "--web.listen-address=127.0.0.1:9101",
      "--web.external-url=http://127.0.0.1:9101/",
    ]);
    // Basic auth cannot be dropped silently: without the drill's web config it refuses.
    expect(() =>
      loopbackAlertmanagerArgs(stageArgs, endpoints, 0, { config: "c", storage: "s" }),
    ).toThrow(/asks for basic auth/);
    const shorter = loopbackAlertmanagerArgs(
      stageArgs,
      endpoints,
      0,
      { config: "c", storage: "s", webConfig: "w" },
      {
        peerTimeout: "3s",
      },
    );
    expect(shorter.args).toContain("--cluster.peer-timeout=3s");
    // One replica: clustering off, so the drill reports no peering.
    const single = {
      ...compliance,
      prometheus: { ...compliance.prometheus, alertmanagerReplicas: 1 },
    };
    const off = loopbackAlertmanagerArgs(alertmanagerArgs(single), endpoints, 0, {
      config: "c",
      storage: "s",
      webConfig: "w",
    });
    expect(off.clustered).toBe(false);
    expect(off.args).toContain("--cluster.listen-address=");
  });

  it("maps Alertmanager discovery as it resolves in the cluster: the peers Service reaches all, the Service one", () => {
    const peers = {
      dns_sd_configs: [
        { names: ["alertmanager-peers.goose-compliance.svc"], type: "A", port: 9093 },
      ],
    };
    expect(reachedAlertmanagers(compliance, peers, 3).reached).toEqual([0, 1, 2]);
    const service = { static_configs: [{ targets: ["alertmanager.goose-compliance.svc:9093"] }] };
    const viaService = reachedAlertmanagers(compliance, service, 3);
    expect(viaService.reached).toEqual([0]);
    expect(viaService.via).toMatch(/load-balanced Service/);
    expect(
      reachedAlertmanagers(compliance, { static_configs: [{ targets: ["elsewhere:9093"] }] }, 3)
        .reached,
    ).toEqual([]);

    const { yml, reached } = loopbackPrometheusConfig(
      compliance,
      renderPrometheusConfig(compliance),
      endpoints.slice(0, 2),
      { target: "127.0.0.1:1", rulesFile: "/d/rules.yml", job: "drill", passwordFile: "/d/pw" },
    );
    expect(reached).toEqual([0, 1]);
    const doc = parseYaml(yml) as Obj;
    expect(doc["global"]).toMatchObject({
      external_labels: { stage: "compliance" },
      evaluation_interval: "1s",
    });
    // The stage's basic auth to Alertmanager, with the drill's password file.
    expect(doc["alerting"]).toEqual({
      alertmanagers: [
        {
          basic_auth: { username: "goose", password_file: "/d/pw" },
          static_configs: [{ targets: ["127.0.0.1:9100", "127.0.0.1:9101"] }],
        },
      ],
    });
    expect(doc["rule_files"]).toEqual(["/d/rules.yml"]);
  });

  it("keeps the stage's routing and sends every notifying receiver to the drill's webhook", () => {
    const stageYml = readFileSync(
      path.join(REPO_ROOT, "monitoring/alertmanager/alertmanager.yml"),
      "utf8",
    );
    const stage = parseYaml(stageYml) as Obj;
    const doc = parseYaml(
      loopbackAlertmanagerConfig(stageYml, "http://127.0.0.1:1/notify", "1s"),
    ) as Obj;
    const receivers = doc["receivers"] as Obj[];
    expect(receivers.map((r) => r["name"])).toEqual(
      (stage["receivers"] as Obj[]).map((r) => r["name"]),
    );
    for (const r of receivers) {
      const keys = Object.keys(r).filter((k) => k.endsWith("_configs"));
      if (r["name"] === "null") expect(keys).toEqual([]);
      else
        expect(r).toEqual({
          name: r["name"],
          webhook_configs: [{ url: "http://127.0.0.1:1/notify", send_resolved: true }],
        });
    }
    expect(doc["inhibit_rules"]).toEqual(stage["inhibit_rules"]);
    const route = doc["route"] as Obj;
    const stageRoute = stage["route"] as Obj;
    expect(route["group_by"]).toEqual(stageRoute["group_by"]);
    expect(route["group_wait"]).toBe("1s");
    expect(route["repeat_interval"]).toBe(stageRoute["repeat_interval"]);
    const routes = route["routes"] as Obj[];
    expect(routes.map((r) => r["receiver"])).toEqual(
      (stageRoute["routes"] as Obj[]).map((r) => r["receiver"]),
    );
    for (const r of routes) if ("group_wait" in r) expect(r["group_wait"]).toBe("1s");
    expect(routes.some((r) => "group_wait" in r)).toBe(true);
  });
});

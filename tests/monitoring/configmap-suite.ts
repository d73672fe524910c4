/**
 * The ConfigMaps the stage program creates carry exactly the files in monitoring/: the program is
 * run through its real entry point under pulumi.runtime.setMocks (one stage per test file).
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { StageName } from "../../src/config/stages.js";
import { loadMonitoringFiles } from "../../src/monitoring/files.js";
import {
  installMocks,
  setStackConfig,
  settle,
  unwrap,
  type Registered,
} from "../helpers/pulumi-mocks.js";
import type * as pulumi from "@pulumi/pulumi";

type Obj = Record<string, unknown>;

export function describeConfigMaps(stage: StageName): void {
  const mocks = installMocks(stage);
  setStackConfig(stage);
  let configMaps: Registered[] = [];
  const byName = (name: string) => {
    const cm = configMaps.find((r) => (r.inputs["metadata"] as Obj | undefined)?.["name"] === name);
    if (!cm) {
      const names = configMaps.map((r) => (r.inputs["metadata"] as Obj | undefined)?.["name"]);
      throw new Error(`no ConfigMap named ${name}; the program made: ${names.join(", ")}`);
    }
    return cm.inputs["data"] as Record<string, string>;
  };

  beforeAll(async () => {
    const program = (await import("../../src/program/index.js")) as Obj;
    await unwrap(program["grafanaUrl"] as pulumi.Output<string>);
    await settle();
    configMaps = mocks.resources.filter((r) => r.type === "kubernetes:core/v1:ConfigMap");
  });

  describe(`stage ${stage}: monitoring ConfigMaps`, () => {
    const files = loadMonitoringFiles(stage);

    it("ships exactly the rule files (recording, alerts, the stage's thresholds)", () => {
      expect(byName("prometheus-rules")).toEqual(files.rules);
      expect(byName("prometheus-rules")["thresholds.yaml"]).toContain(`stage: ${stage}`);
    });

    it("ships exactly the dashboards", () => {
      expect(byName("grafana-dashboards")).toEqual(files.dashboards);
    });

    it("ships exactly the Alertmanager configuration", () => {
      expect(byName("alertmanager-config")).toEqual({ "alertmanager.yml": files.alertmanager });
    });
  });
}

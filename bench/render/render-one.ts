/**
 * One render under mocks, in its own process (Pulumi's runtime state is per process):
 * `render-one.ts <stage> [serviceTargets]`. Prints JSON {stage, targets, resources, ms}.
 */
import * as pulumi from "@pulumi/pulumi";
import { performance } from "node:perf_hooks";
import {
  loadStageConfigFile,
  parseStageName,
  PROJECT,
  parseStageConfig,
  readStackFile,
  projectKeys,
} from "../../src/config/index.js";
import { loadMonitoringFiles } from "../../src/monitoring/files.js";

const stage = parseStageName(process.argv[2] ?? "sandbox");
const targets = Number(process.argv[3] ?? 0);
let registered = 0;
await pulumi.runtime.setMocks(
  {
    newResource: (a) => {
      registered++;
      return { id: `${a.name}-id`, state: a.inputs };
    },
    call: (a) => a.inputs,
  },
  PROJECT,
  stage,
  false,
);
const tImport = performance.now();
const { createStage } = await import("../../src/program/stage.js");
const importMs = performance.now() - tImport;
const t0 = performance.now();
const base = loadStageConfigFile(`Pulumi.${stage}.yaml`);
const cfg =
  targets > 0
    ? parseStageConfig(
        {
          ...projectKeys(readStackFile(`Pulumi.${stage}.yaml`).config),
          prometheus: {
            ...base.prometheus,
            serviceTargets: Array.from(
              { length: targets },
              (_, i) => `service-${i}.${base.namespace}.svc:8080`,
            ),
          },
        },
        { file: `Pulumi.${stage}.yaml`, stack: stage },
      )
    : base;
const { outputs } = createStage(cfg, loadMonitoringFiles(stage));
await new Promise((r) => outputs.grafanaUrl.apply(r));
// Wait until registrations stop arriving.
let last = -1;
while (last !== registered) {
  last = registered;
  await new Promise((r) => setTimeout(r, 5));
}
const ms = performance.now() - t0;
console.log(
  JSON.stringify({
    stage,
    targets: cfg.prometheus.serviceTargets.length,
    resources: registered,
    ms,
    importMs,
  }),
);

import * as pulumi from "@pulumi/pulumi";
import { parseStageConfig, projectKeys } from "./load.js";
import type { StageConfig } from "./schema.js";

/**
 * Reads the running stack's configuration once, at the program's edge. Pulumi hands config
 * values over as strings; structured values arrive as JSON.
 */
export function stageConfigFromPulumi(): StageConfig {
  const all = pulumi.runtime.allConfig();
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(all)) raw[key] = parseConfigValue(value);
  const stack = pulumi.getStack();
  return parseStageConfig(projectKeys(raw), { file: `Pulumi.${stack}.yaml`, stack });
}

function parseConfigValue(value: string): unknown {
  const t = value.trimStart();
  if (t.startsWith("{") || t.startsWith("[")) {
    try {
      return JSON.parse(value);
    } catch {
      return value;
    }
  }
  return value;
}

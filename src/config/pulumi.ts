import * as pulumi from "@pulumi/pulumi";
import { parseStageConfig, projectKeys } from "./load.js";
import { SECRET_SETTINGS, type SecretSetting, type StageConfig } from "./schema.js";
import { PROJECT } from "./stages.js";

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

/** The stage's credentials, each a Pulumi secret; absent keys are left out. */
export type StageSecrets = Partial<Record<SecretSetting, pulumi.Output<string>>>;

/** Reads the credentials of SECRET_SETTINGS from the stack's (encrypted) config. */
export function stageSecretsFromPulumi(): StageSecrets {
  const config = new pulumi.Config(PROJECT);
  const out: StageSecrets = {};
  for (const key of Object.keys(SECRET_SETTINGS) as SecretSetting[]) {
    const value = config.getSecret(key);
    if (value !== undefined) out[key] = value;
  }
  return out;
}

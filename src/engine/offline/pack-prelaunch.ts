/**
 * The offline preview's policy pack, started first thing (issue 18: a fast CLI). Starting the pack
 * is the longest single step of `goose preview --offline`; `goose preview` calls `prelaunchPack`
 * before it loads the engine (gRPC, the Pulumi SDKs, the program), so on two cores that loading
 * and the render run while the pack starts. This module loads only yaml and Node's own modules.
 *
 * The prelaunched pack gets exactly the environment the engine would give it (the stack's config
 * for one stage; none for the pack `--all` shares); the engine takes it only when its own
 * environment is equal (`OfflineEngine` `takePrelaunched`), else it kills it and starts its own.
 * Anything unusual — no built pack, an unreadable stack file — means no prelaunch: the engine
 * then starts the pack as before and reports the problem itself.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { readStackFile } from "../../config/stack-file.js";
import { PROJECT, type StageName } from "../../config/stages.js";
import { isPolicyPackBuilt } from "../../policy/pack-build.js";
import { PackLaunch, packEnv, packStartTimeoutMs } from "../../policy/pack-launch.js";

/** A pack started before the engine existed, with the environment it was started with. */
export interface PackPrelaunch {
  packDir: string;
  env: NodeJS.ProcessEnv;
  launch: PackLaunch;
}

/** Stack config as Pulumi hands it to a program: `ns:key` → string (structured values as JSON). */
export function pulumiConfig(config: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(config))
    out[k] = typeof v === "string" ? v : JSON.stringify(v);
  return out;
}

/** Each pack RPC's timeout: the option, else GOOSE_POLICY_TIMEOUT (seconds), else 60 s. */
export function policyTimeoutMs(optionMs: number | undefined, env: NodeJS.ProcessEnv): number {
  if (optionMs) return optionMs;
  const s = Number(env.GOOSE_POLICY_TIMEOUT);
  return s > 0 ? s * 1000 : 60_000;
}

export interface PrelaunchOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** `--policy-pack` (default `<cwd>/policy-pack`). */
  policyPackDir?: string;
  /** The stages to preview: one (its own pack) or several (one shared pack, `previewMany`). */
  stages: StageName[];
  /** `--config-file`, for one stage. */
  stackConfigFile?: string;
  policyTimeoutMs?: number;
}

/** Starts the pack the offline engine will ask for, or returns undefined (see the module notes). */
export function prelaunchPack(o: PrelaunchOptions): PackPrelaunch | undefined {
  try {
    const packDir = resolve(o.cwd, o.policyPackDir ?? "policy-pack");
    if (!existsSync(join(packDir, "package.json")) || !isPolicyPackBuilt(packDir)) return undefined;
    let env: NodeJS.ProcessEnv;
    if (o.stages.length === 1) {
      const stage = o.stages[0]!;
      const stack = readStackFile(resolve(o.cwd, o.stackConfigFile ?? `Pulumi.${stage}.yaml`));
      env = packEnv(o.env, {
        project: PROJECT,
        stack: stage,
        dryRun: true,
        config: pulumiConfig(stack.config),
        secretKeys: stack.secretKeys,
      });
    } else {
      env = packEnv(o.env, {
        project: PROJECT,
        stack: "",
        dryRun: true,
        config: {},
        secretKeys: [],
      });
    }
    const startTimeoutMs = packStartTimeoutMs(policyTimeoutMs(o.policyTimeoutMs, o.env));
    return { packDir, env, launch: new PackLaunch(packDir, { env, startTimeoutMs }) };
  } catch {
    return undefined;
  }
}

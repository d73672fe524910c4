/**
 * The real StackEngine: the Pulumi CLI driven through the Automation API, with the repository root
 * as the workspace (`LocalWorkspace.selectStack({ stackName, workDir })`; Pulumi.yaml there).
 *
 * - `preview`: `stack.preview({ policyPacks: [policy-pack], policyPackConfigs: [config/<stage>.json] })`,
 *   i.e. `pulumi preview --policy-pack policy-pack --policy-pack-config …`. Violations come from the
 *   engine's `policyEvent`s, resources from `resourcePreEvent`s. A preview that the CLI fails because
 *   of mandatory violations is a result (exit 1 later), not an error.
 * - `up` (creating the stage's stack when it does not exist yet, `createOrSelectStack`), `refresh`:
 *   the Automation API calls of the same names; a targeted `up` is `pulumi up --target URN…
 *   [--target-dependents]`.
 * - `exportStack`: `pulumi stack export --stack <stage>` run as is, so the text is exactly what the
 *   CLI prints (the Automation API's own exportStack adds --show-secrets; we never want plaintext).
 * - `importStack`: `pulumi stack import --file <tmp> --stack <stage>`.
 *
 * No `pulumi` on PATH: a UsageError-like error (exit 2) "install the Pulumi CLI, or use --offline".
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { existsSync } from "node:fs";
import type { EngineEvent, PulumiCommand, Stack } from "@pulumi/pulumi/automation/index.js";
import type { StageName } from "../../config/stages.js";
import type {
  PolicyViolation,
  PreviewOptions,
  PreviewResult,
  StackEngine,
  UpOptions,
  UpResult,
} from "../types.js";
import { summarize } from "../summary.js";
import { ensurePolicyPackBuilt } from "../../policy/pack-build.js";
import { EngineInputError } from "../offline/errors.js";
import { InputError } from "../../errors.js";

export interface RealEngineOptions {
  /** Repository root: Pulumi.yaml, Pulumi.<stage>.yaml and policy-pack/ live here. */
  cwd: string;
  env: NodeJS.ProcessEnv;
  policyPackDir?: string;
}

/** The CLI is missing: exit 2 with the fix. */
export class PulumiCliMissingError extends InputError {
  constructor(detail: string) {
    super(`the Pulumi CLI was not found (${detail}): install the Pulumi CLI, or use --offline`);
    this.name = "PulumiCliMissingError";
  }
}

/** Finds `pulumi` on PATH (as the Automation API would run it). */
export function findPulumi(env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (dir && existsSync(join(dir, "pulumi"))) return join(dir, "pulumi");
  }
  return undefined;
}

function isPolicyEvent(
  e: EngineEvent,
): e is EngineEvent & { policyEvent: NonNullable<EngineEvent["policyEvent"]> } {
  return e.policyEvent !== undefined;
}

/**
 * The Automation API, loaded when a real engine first runs the CLI: every offline preview imports
 * this module through src/engine/index.ts and would otherwise load it (~0.15 s of CPU) for nothing.
 */
function automation() {
  return import("@pulumi/pulumi/automation/index.js");
}

export class RealEngine implements StackEngine {
  readonly mode = "real" as const;
  private commandPromise: Promise<PulumiCommand> | undefined;

  constructor(private readonly opts: RealEngineOptions) {}

  private get packDir(): string {
    return resolve(this.opts.cwd, this.opts.policyPackDir ?? "policy-pack");
  }

  private command(): Promise<PulumiCommand> {
    this.commandPromise ??= (async () => {
      if (!findPulumi(this.opts.env)) throw new PulumiCliMissingError("no `pulumi` on PATH");
      // PulumiCommand.get runs `pulumi version` with process.env; give it ours.
      const saved = process.env.PATH;
      process.env.PATH = this.opts.env.PATH;
      try {
        return await (await automation()).PulumiCommand.get();
      } catch (err) {
        throw new PulumiCliMissingError((err as Error).message.split("\n")[0] ?? "unusable");
      } finally {
        process.env.PATH = saved;
      }
    })();
    return this.commandPromise;
  }

  /** The stage's stack; `create` makes it when missing (first `up` of a stage), else it must exist. */
  private async stack(stage: StageName, create = false): Promise<Stack> {
    const pulumiCommand = await this.command();
    const { LocalWorkspace, StackNotFoundError } = await automation();
    const args = { stackName: stage, workDir: this.opts.cwd };
    const wsOpts = { pulumiCommand, envVars: stringEnv(this.opts.env) };
    if (create) return LocalWorkspace.createOrSelectStack(args, wsOpts);
    try {
      return await LocalWorkspace.selectStack(args, wsOpts);
    } catch (err) {
      if (err instanceof StackNotFoundError) {
        throw new EngineInputError(
          `no Pulumi stack "${stage}" in this project's backend: create it with \`pulumi stack init ${stage}\` ` +
            `(or bring the stage up first), or use --offline`,
        );
      }
      throw err;
    }
  }

  async preview(stage: StageName, opts: PreviewOptions = {}): Promise<PreviewResult> {
    if (opts.stackConfigFile) {
      throw new EngineInputError(
        "--config-file works only with --offline: the Pulumi CLI always reads Pulumi.<stage>.yaml",
      );
    }
    const stack = await this.stack(stage);
    await ensurePolicyPackBuilt(this.packDir);
    const configFile = resolve(
      this.opts.cwd,
      opts.policyPackConfigFile ?? join(this.packDir, "config", `${stage}.json`),
    );
    if (!existsSync(configFile)) {
      throw new EngineInputError(
        `policy-pack config ${configFile} does not exist: create it or pass --policy-pack-config`,
      );
    }
    const violations: PolicyViolation[] = [];
    const resources = new Map<
      string,
      { urn: string; type: string; name: string; parent?: string }
    >();
    const onEvent = (e: EngineEvent) => {
      opts.onEngineEvent?.(e);
      if (isPolicyEvent(e)) {
        const p = e.policyEvent;
        const v: PolicyViolation = {
          policy: p.policyName,
          pack: `${p.policyPackName}@v${p.policyPackVersion}`,
          enforcementLevel: p.enforcementLevel === "mandatory" ? "mandatory" : "advisory",
          message: p.message,
        };
        if (p.resourceUrn) v.urn = p.resourceUrn;
        violations.push(v);
      }
      const pre = e.resourcePreEvent?.metadata;
      if (pre) {
        const name = pre.urn.slice(pre.urn.lastIndexOf("::") + 2);
        const parent = (pre.new ?? pre.old)?.parent;
        resources.set(pre.urn, {
          urn: pre.urn,
          type: pre.type,
          name,
          ...(parent ? { parent } : {}),
        });
      }
      if (e.diagnosticEvent && opts.onProgress) opts.onProgress(e.diagnosticEvent.message.trim());
    };
    opts.onProgress?.(
      `${stage}: pulumi preview --policy-pack ${this.packDir} --policy-pack-config ${configFile}`,
    );
    try {
      await stack.preview({
        policyPacks: [this.packDir],
        policyPackConfigs: [configFile],
        onEvent,
      });
    } catch (err) {
      // The CLI exits non-zero on mandatory violations: that is the gate's answer, not an error.
      if (!violations.some((v) => v.enforcementLevel === "mandatory")) throw err;
    }
    return summarize(stage, "real", [...resources.values()], violations);
  }

  async up(stage: StageName, opts: UpOptions = {}): Promise<UpResult> {
    const stack = await this.stack(stage, true);
    // --target URN… [--target-dependents]: a targeted update (a staged rollback's stages).
    const r = await stack.up({
      onOutput: opts.onProgress,
      ...(opts.targets ? { target: opts.targets } : {}),
      ...(opts.targets && opts.targetDependents ? { targetDependents: true } : {}),
    });
    const outputs: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r.outputs)) outputs[k] = v.secret ? "[secret]" : v.value;
    return { resourceChanges: { ...(r.summary.resourceChanges ?? {}) }, outputs };
  }

  private runPulumi(args: string[]): Promise<string> {
    return runPulumiIn(this.opts.cwd, this.opts.env, args);
  }

  async refresh(stage: StageName): Promise<void> {
    const stack = await this.stack(stage);
    await stack.refresh();
  }

  async exportStack(stage: StageName): Promise<string> {
    await this.command();
    return this.runPulumi(["stack", "export", "--stack", stage]);
  }

  async importStack(stage: StageName, exportJson: string): Promise<void> {
    await this.command();
    const dir = mkdtempSync(join(tmpdir(), "goose-import-"));
    const file = join(dir, "export.json");
    try {
      writeFileSync(file, exportJson, { mode: 0o600 });
      await this.runPulumi(["stack", "import", "--file", file, "--stack", stage]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** Runs `pulumi <args>` in the workspace; rejects with the CLI's stderr. */
function runPulumiIn(cwd: string, env: NodeJS.ProcessEnv, args: string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      "pulumi",
      [...args, "--non-interactive"],
      { cwd, env: { ...env, PULUMI_SKIP_UPDATE_CHECK: "true" }, maxBuffer: 512 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err)
          reject(new Error(`pulumi ${args.join(" ")} failed: ${stderr.trim() || err.message}`));
        else resolvePromise(stdout);
      },
    );
  });
}

function stringEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

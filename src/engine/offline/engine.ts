/**
 * The offline StackEngine: no Pulumi CLI, no cloud credentials.
 *
 * - `preview(stage)`: renders the stage program under mocks with the stage's Pulumi.<stage>.yaml
 *   (render.ts), starts the policy pack as the CLI does — one pack process per stack, with the
 *   CLI's per-stack environment — and runs it over the Analyzer protocol (policy-run.ts). Several
 *   previews at once (`--all`) share this process: renders queue one after another while each
 *   stage's pack starts in parallel.
 * - `up` / `refresh` / `exportStack` / `importStack`: a local state file per stage in the exact
 *   `pulumi stack export` format (state.ts), default `<cwd>/.goose/offline-state/<stage>.json`.
 *   `up` with `targets` is a targeted update as `pulumi up --target` makes it (`targetedExport`).
 */
import { join, resolve } from "node:path";
import { readStackFile, stageConfigOf } from "../../config/load.js";
import type { StageConfig } from "../../config/schema.js";
import { PROJECT, type StageName } from "../../config/stages.js";
import type { PreviewOptions, PreviewResult, StackEngine, UpOptions, UpResult } from "../types.js";
import { EngineInputError } from "./errors.js";
import { assertPolicyPackDir } from "../../policy/pack-build.js";
import { readPolicyPackConfigFile } from "../../policy/policy-config.js";
import { PolicyPackProcess } from "../../policy/analyzer.js";
import {
  packEnvOf,
  runPolicies,
  startPack,
  type PolicyRunOptions,
} from "../../policy/policy-run.js";
import { policyTimeoutMs, pulumiConfig, type PackPrelaunch } from "./pack-prelaunch.js";
import { PackTurns } from "./pack-turns.js";
import { renderStage, type RenderedStack } from "./render.js";
import {
  emptyExport,
  parseExport,
  readState,
  resourceChanges,
  targetedExport,
  toExport,
  writeAtomic,
} from "./state.js";
import { summarize } from "../summary.js";
import type { StackExport } from "../../pulumi-export/index.js";

/** Builds the program's resources for a validated config; returns the stack outputs. */
export type StageProgram = (
  cfg: StageConfig,
) => Record<string, unknown> | Promise<Record<string, unknown>>;

export interface OfflineEngineOptions {
  /** Where Pulumi.<stage>.yaml files and `.goose/` live. */
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** The policy pack folder (default `<cwd>/policy-pack`). */
  policyPackDir?: string;
  /** Folder of the state files (default `<cwd>/.goose/offline-state`). */
  stateDir?: string;
  /** Timeout for each of the pack's RPCs, ms (default 60 s; env GOOSE_POLICY_TIMEOUT in s); its start gets at least 60 s. */
  policyTimeoutMs?: number;
  /** The program to render (default: the stage program, src/program/stage.ts `createStage`). */
  program?: StageProgram;
  /**
   * A pack `goose preview` started before the engine loaded (pack-prelaunch.ts). The first
   * preview whose pack would get the same folder and environment takes it; any other kills it.
   */
  prelaunched?: PackPrelaunch;
}

async function defaultProgram(repoRoot: string): Promise<StageProgram> {
  const [{ createStage }, { loadMonitoringFiles }] = await Promise.all([
    import("../../program/stage.js"),
    import("../../monitoring/files.js"),
  ]);
  return (cfg) => {
    const outputs = createStage(cfg, loadMonitoringFiles(cfg.stage, repoRoot)).outputs;
    return { ...outputs };
  };
}

export class OfflineEngine implements StackEngine {
  readonly mode = "offline" as const;
  private programPromise: Promise<StageProgram> | undefined;
  private prelaunched: PackPrelaunch | undefined;

  constructor(private readonly opts: OfflineEngineOptions) {
    this.prelaunched = opts.prelaunched;
  }

  private get packDir(): string {
    return resolve(this.opts.cwd, this.opts.policyPackDir ?? "policy-pack");
  }

  private get timeoutMs(): number {
    return policyTimeoutMs(this.opts.policyTimeoutMs, this.opts.env);
  }

  /**
   * Starts the pack for `runOpts`: the prelaunched one when it was started with the same folder
   * and environment (once), else a new one (and the prelaunched one, of no use, is killed).
   */
  private startPack(runOpts: PolicyRunOptions): Promise<PolicyPackProcess> {
    const pre = this.prelaunched;
    if (pre) {
      this.prelaunched = undefined;
      if (
        pre.packDir === runOpts.packDir &&
        JSON.stringify(pre.env) === JSON.stringify(packEnvOf(runOpts))
      ) {
        return PolicyPackProcess.attach(pre.launch, { rpcTimeoutMs: runOpts.timeoutMs });
      }
      void pre.launch.close();
    }
    return startPack(runOpts);
  }

  statePath(stage: StageName): string {
    return join(
      resolve(this.opts.cwd, this.opts.stateDir ?? ".goose/offline-state"),
      `${stage}.json`,
    );
  }

  private program(): Promise<StageProgram> {
    this.programPromise ??= this.opts.program
      ? Promise.resolve(this.opts.program)
      : defaultProgram(this.opts.cwd);
    return this.programPromise;
  }

  /** Reads and validates the stack file; the stage it declares must be the one asked for. */
  private loadStack(stage: StageName, file?: string) {
    const path = resolve(this.opts.cwd, file ?? `Pulumi.${stage}.yaml`);
    const raw = readStackFile(path); // read and parsed once: the config is validated from it
    const cfg = stageConfigOf(raw);
    if (cfg.stage !== stage) {
      throw new EngineInputError(
        `${path}: declares stage "${cfg.stage}" but stage "${stage}" was asked for; ` +
          `pass the stack file of ${stage}`,
      );
    }
    return { path, cfg, config: pulumiConfig(raw.config), secretKeys: raw.secretKeys };
  }

  private async render(
    stage: StageName,
    dryRun: boolean,
    stack = this.loadStack(stage),
  ): Promise<{ rendered: RenderedStack; config: Record<string, string>; secretKeys: string[] }> {
    const program = await this.program();
    const rendered = await renderStage({
      stage,
      config: stack.config,
      secretKeys: stack.secretKeys,
      dryRun,
      program: () => program(stack.cfg),
    });
    return { rendered, config: stack.config, secretKeys: stack.secretKeys };
  }

  async preview(stage: StageName, opts: PreviewOptions = {}): Promise<PreviewResult> {
    const progress = opts.onProgress ?? (() => undefined);
    const stack = this.loadStack(stage, opts.stackConfigFile);
    const configFile = resolve(
      this.opts.cwd,
      opts.policyPackConfigFile ?? join(this.packDir, "config", `${stage}.json`),
    );
    assertPolicyPackDir(this.packDir);
    readPolicyPackConfigFile(configFile); // a missing or broken file fails before any work
    const runOpts = {
      packDir: this.packDir,
      configFile,
      project: PROJECT,
      stack: stage,
      dryRun: true,
      stackConfig: stack.config,
      secretKeys: stack.secretKeys,
      timeoutMs: this.timeoutMs,
      env: this.opts.env,
    };
    progress(`${stage}: starting policy pack ${this.packDir}`);
    const packPromise = this.startPack(runOpts);
    packPromise.catch(() => undefined);
    let rendered: RenderedStack;
    try {
      progress(`${stage}: rendering the stage program under mocks`);
      rendered = (await this.render(stage, true, stack)).rendered;
      opts.onRendered?.(toExport(rendered));
      opts.onRenderDone?.();
    } catch (err) {
      await packPromise.then(
        (p) => p.close(),
        () => undefined,
      );
      throw err;
    }
    const pack = await packPromise;
    try {
      progress(`${stage}: analyzing ${rendered.resources.length} resources`);
      const violations = await runPolicies(rendered.resources, { ...runOpts, pack });
      return summarize(stage, "offline", rendered.resources, violations);
    } finally {
      await pack.close();
    }
  }

  /**
   * Previews several stages with ONE pack process (`goose preview --all --offline`): renders run
   * one after another in this process while the pack starts, and each stage's analysis re-sends
   * ConfigureStack and Configure (its own policy-pack/config/<stage>.json) before its Analyze
   * calls. This saves two pack start-ups (~1.5 s of CPU each). The one difference from the CLI,
   * which starts a pack per stack: the shared pack's environment names no stack, so a pack that
   * reads `pulumi.getStack()` or the stack's `pulumi.Config` must be previewed one stage at a time.
   */
  async previewMany(
    stages: StageName[],
    opts: {
      onProgress?: (message: string) => void;
      /** Each stage rendered, as the export an update would write (the plan's "new" side). */
      onRendered?: (stage: StageName, rendered: StackExport) => void;
      /** Every stage rendered: what is left mostly waits on the pack (see PreviewOptions). */
      onRenderDone?: () => void;
    } = {},
  ): Promise<PreviewResult[]> {
    const progress = opts.onProgress ?? (() => undefined);
    const stacks = stages.map((s) => this.loadStack(s));
    assertPolicyPackDir(this.packDir);
    for (const s of stages) readPolicyPackConfigFile(join(this.packDir, "config", `${s}.json`));
    const base = {
      packDir: this.packDir,
      project: PROJECT,
      dryRun: true,
      timeoutMs: this.timeoutMs,
      env: this.opts.env,
    };
    progress(`starting policy pack ${this.packDir} (shared by ${stages.join(", ")})`);
    const packPromise = this.startPack({ ...base, stack: "" });
    packPromise.catch(() => undefined);
    const turns = new PackTurns(packPromise);
    let analyses: Promise<unknown> = packPromise;
    // Stage i renders after stage i-1 has rendered and handed the pack its work (turns.give).
    let rendered: Promise<unknown> = Promise.resolve();
    try {
      return await Promise.all(
        stages.map(async (stage, i) => {
          progress(`${stage}: rendering the stage program under mocks`);
          const before = rendered;
          let done!: () => void;
          rendered = new Promise<void>((resolve) => (done = resolve));
          await before;
          let result: { rendered: RenderedStack };
          try {
            result = await this.render(stage, true, stacks[i]);
          } catch (err) {
            done();
            throw err;
          }
          const stageRendered = result.rendered;
          opts.onRendered?.(stage, toExport(stageRendered));
          if (i === stages.length - 1) opts.onRenderDone?.();
          const run = analyses.then(async () => {
            const pack = await packPromise;
            progress(`${stage}: analyzing ${stageRendered.resources.length} resources`);
            return runPolicies(stageRendered.resources, {
              ...base,
              stack: stage,
              configFile: join(this.packDir, "config", `${stage}.json`),
              stackConfig: stacks[i]!.config,
              secretKeys: stacks[i]!.secretKeys,
              pack,
              onPackWork: turns.onPackWork,
            });
          });
          analyses = run.catch(() => undefined);
          turns.track(run);
          if (i < stages.length - 1) await turns.give();
          done();
          return summarize(stage, "offline", stageRendered.resources, await run);
        }),
      );
    } finally {
      await packPromise.then(
        (p) => p.close(),
        () => undefined,
      );
    }
  }

  async up(stage: StageName, opts: UpOptions = {}): Promise<UpResult> {
    opts.onProgress?.(
      `${stage}: rendering the stage program (offline up${opts.targets ? `, ${opts.targets.length} target(s)${opts.targetDependents ? " and their dependents" : ""}` : ""})`,
    );
    const { rendered } = await this.render(stage, false);
    const path = this.statePath(stage);
    const previous = readState(path, stage);
    const next = opts.targets
      ? targetedExport(previous, toExport(rendered), opts.targets, opts.targetDependents).state
      : toExport(rendered);
    writeAtomic(path, JSON.stringify(next, null, 4) + "\n");
    return { resourceChanges: resourceChanges(previous, next), outputs: rendered.outputs };
  }

  async renderExport(stage: StageName): Promise<StackExport> {
    return toExport((await this.render(stage, true)).rendered);
  }

  async refresh(stage: StageName): Promise<void> {
    // Nothing drifts offline: the state is the world. Still fail on a broken state file.
    readState(this.statePath(stage), stage);
  }

  async exportStack(stage: StageName): Promise<string> {
    const path = this.statePath(stage);
    const state = readState(path, stage);
    if (!state) return JSON.stringify(emptyExport(), null, 4) + "\n";
    const { readFileSync } = await import("node:fs");
    return readFileSync(path, "utf8");
  }

  async importStack(stage: StageName, exportJson: string): Promise<void> {
    parseExport(exportJson, stage, "the import");
    writeAtomic(this.statePath(stage), exportJson);
  }
}

/**
 * `goose preview <stage> [--offline] [--all] [--config-file F] [--policy-pack DIR]
 * [--policy-pack-config F] [--policy-timeout S] [--json]`: renders the stage and runs the policy pack (DESIGN.md, CLI
 * contract). Exit 1 when any mandatory violation, 2 for bad usage, a missing file or a policy pack
 * that failed (fail closed).
 *
 * `--json` prints the PreviewResult of one stage; with `--all`,
 * `{ stages: PreviewResult[], summary: { resources, mandatory, advisory } }`.
 *
 * `--diff [--against B] [--markdown | --format F]`: also the plan of each stage: offline, of the
 * rendered stage against its state or a snapshot; with the Pulumi CLI, the engine's own steps
 * mapped to the same shape (preview-plan.ts, src/plan; docs/plan.md).
 */
import type { Command } from "commander";
import { STAGES, type StageName } from "../../config/stages.js";
import type { PolicyViolation, PreviewResult } from "../../engine/types.js";
import type { StackExport } from "../../pulumi-export/index.js";
import { UsageError } from "../errors.js";
import { paintVerdict, PLAIN, type Painter } from "../style.js";
import { Output, type CliIo } from "../io.js";
import type { SetExitCode } from "../io.js";
import { jsonOption, stageArg, storeOption } from "../options.js";
import type { PackPrelaunch } from "../../engine/offline/pack-prelaunch.js";
import type { StagePreview } from "./preview-plan.js";

interface PreviewFlags {
  offline?: boolean;
  policyPack?: string;
  all?: boolean;
  configFile?: string;
  policyPackConfig?: string;
  policyTimeout?: string;
  json?: boolean;
  diff?: boolean;
  against?: string;
  markdown?: boolean;
  format?: string;
  store?: string;
  kmsKey?: string[];
}

/** Human report of one stage: violations grouped by policy with their level, then a summary line. */
export function formatPreview(r: PreviewResult, paint: Painter = PLAIN): string[] {
  const lines: string[] = [];
  const byPolicy = new Map<string, PolicyViolation[]>();
  for (const v of r.violations) {
    const key = `${v.enforcementLevel}\u0000${v.policy}\u0000${v.pack}`;
    byPolicy.set(key, [...(byPolicy.get(key) ?? []), v]);
  }
  const keys = [...byPolicy.keys()].sort((a, b) => {
    // mandatory first, then by policy name
    const la = a.startsWith("mandatory") ? 0 : 1;
    const lb = b.startsWith("mandatory") ? 0 : 1;
    return la - lb || a.localeCompare(b);
  });
  lines.push(`Policy preview of ${r.stage} (${r.mode}): ${r.summary.resources} resources`);
  for (const key of keys) {
    const vs = byPolicy.get(key)!;
    const [level, policy, pack] = key.split("\u0000");
    lines.push(
      `  [${paintVerdict(paint, level ?? "")}]  ${policy}  (${pack}, ${vs.length} violation${vs.length === 1 ? "" : "s"})`,
    );
    for (const v of vs) {
      const where = v.urn ? describeUrn(v.urn) : "(stack)";
      const [first, ...rest] = v.message.split("\n");
      lines.push(`    - ${where}: ${first ?? ""}`);
      for (const l of rest) lines.push(`      ${l}`);
    }
  }
  const verdict = r.summary.mandatory > 0 ? "FAILED" : "passed";
  lines.push(
    `${r.stage}: ${paintVerdict(paint, verdict)}: ${r.summary.resources} resources, ${r.summary.mandatory} mandatory, ` +
      `${r.summary.advisory} advisory violation${r.summary.advisory === 1 ? "" : "s"}`,
  );
  return lines;
}

/** `urn:…::a$b$type::name` → `type: name`, as the Pulumi CLI prints a resource. */
function describeUrn(urn: string): string {
  const parts = urn.split("::");
  const name = parts[3] ?? urn;
  const type = (parts[2] ?? "").split("$").pop() ?? "";
  return type ? `${type}: ${name}` : name;
}

export function registerPreview(program: Command, io: CliIo, setExitCode: SetExitCode): void {
  program
    .command("preview [stage]")
    .description("render a stage and run the policy pack on it (exit 1 on a mandatory violation)")
    .option("--offline", "no Pulumi CLI: run the program under mocks and the pack over gRPC here")
    .option("--all", `preview every stage (${STAGES.join(", ")})`)
    .option("--policy-pack <dir>", "the policy pack folder (default policy-pack)")
    .option("--config-file <file>", "stack file to use instead of Pulumi.<stage>.yaml (offline)")
    .option(
      "--policy-pack-config <file>",
      "policy-pack config (pulumi --policy-pack-config format); default policy-pack/config/<stage>.json",
    )
    .option(
      "--policy-timeout <seconds>",
      "fail closed when the pack does not answer a call in time (default 60; env GOOSE_POLICY_TIMEOUT)",
    )
    .option(
      "--diff",
      "also show the plan: what an update changes, replaces and deletes (docs/plan.md)",
    )
    .option(
      "--against <baseline>",
      "the plan's baseline: state, snapshot:<id>, latest-snapshot or file:<export.json> (default: state, else latest snapshot)",
    )
    .option(
      "--markdown",
      "print the plan as Markdown (a pull-request comment); same as --format markdown",
    )
    .option("--format <form>", "the plan's output: human, markdown or json")
    .option(
      "--kms-key <id>",
      "also trust this KMS key when reading a snapshot baseline (repeatable)",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(async (stageText: string | undefined, o: PreviewFlags) => {
      const out = new Output(io, Boolean(o.json) || o.format === "json");
      const { checkPlanFlags } = await import("./preview-plan.js");
      checkPlanFlags(o);
      if (o.all && stageText) throw new UsageError("give a stage or --all, not both");
      if (!o.all && !stageText) {
        throw new UsageError(`name a stage (${STAGES.join(", ")}) or pass --all`);
      }
      if (o.all && (o.configFile || o.policyPackConfig)) {
        throw new UsageError(
          "--config-file and --policy-pack-config name one stage's files: use them without --all",
        );
      }
      let policyTimeoutMs: number | undefined;
      if (o.policyTimeout !== undefined) {
        const s = Number(o.policyTimeout);
        if (!(s > 0))
          throw new UsageError(
            `--policy-timeout must be a number of seconds > 0, got "${o.policyTimeout}"`,
          );
        policyTimeoutMs = s * 1000;
      }
      const stages: StageName[] = o.all ? [...STAGES] : [stageArg(stageText!)];
      // Offline, the policy pack starts first: it is the longest step, and loading the engine
      // and rendering below run while it starts (engine/offline/pack-prelaunch.ts).
      const prelaunched = o.offline
        ? (await import("../../engine/offline/pack-prelaunch.js")).prelaunchPack({
            cwd: io.cwd,
            env: io.env,
            stages,
            ...(o.policyPack ? { policyPackDir: o.policyPack } : {}),
            ...(o.configFile ? { stackConfigFile: o.configFile } : {}),
            ...(policyTimeoutMs ? { policyTimeoutMs } : {}),
          })
        : undefined;
      try {
        await previewStages(io, o, stages, policyTimeoutMs, prelaunched, out, setExitCode);
      } finally {
        await prelaunched?.launch.close();
      }
    });
}

/** The preview itself, once the flags are checked (and, offline, the pack started). */
async function previewStages(
  io: CliIo,
  o: PreviewFlags,
  stages: StageName[],
  policyTimeoutMs: number | undefined,
  prelaunched: PackPrelaunch | undefined,
  out: Output,
  setExitCode: SetExitCode,
): Promise<void> {
  const { runPlanPreview, totalsOf, allStagesLine } = await import("./preview-plan.js");
  // Loaded here, not at the top: the engine pulls in @pulumi/pulumi and gRPC, which every
  // other goose command would otherwise pay for at start-up.
  const { createEngine, OfflineEngine } = await import("../../engine/index.js");
  const engine = createEngine(o.offline ? "offline" : "real", {
    cwd: io.cwd,
    env: io.env,
    ...(policyTimeoutMs ? { policyTimeoutMs } : {}),
    ...(o.policyPack ? { policyPackDir: o.policyPack } : {}),
    ...(prelaunched ? { prelaunched } : {}),
  });
  // What the engine is doing, as lines on stderr (a terminal or a CI log alike: these are
  // events, a few per stage, not a redrawn state).
  const onProgress = (m: string) => out.info(out.paintInfo("dim", m));
  // The rotation check reads the evidence chain while the policy pack runs. Offline, this process
  // renders the stages itself, so it starts once they are rendered (onRenderDone: the rest of the
  // preview mostly waits on the pack); with the Pulumi CLI it starts at once.
  let overdue: Promise<Map<StageName, PolicyViolation[]>> | undefined;
  const checkRotations = () => {
    if (!overdue) {
      overdue = overdueRotationsOf(io, stages, (m) => out.info(m));
      overdue.catch(() => undefined); // awaited (and its error thrown) by addRotationViolations
    }
    return overdue;
  };
  if (!o.offline) checkRotations();
  const onRenderDone = () => void checkRotations();
  if (o.diff) {
    const offline = engine instanceof OfflineEngine ? engine : undefined;
    await runPlanPreview(
      io,
      stages,
      o,
      async () => {
        let previews: StagePreview[];
        if (offline && stages.length > 1) {
          // One shared pack, as `goose preview --all --offline` (previewMany).
          const rendered = new Map<StageName, StackExport>();
          const results = await offline.previewMany(stages, {
            onProgress,
            onRendered: (stage, e) => rendered.set(stage, e),
            onRenderDone,
          });
          previews = results.map((result) => {
            const e = rendered.get(result.stage);
            return { result, ...(e ? { rendered: e } : {}) };
          });
        } else {
          previews = [];
          for (const stage of stages) {
            let rendered: StackExport | undefined;
            const events: unknown[] = [];
            const result = await engine.preview(stage, {
              ...(o.configFile ? { stackConfigFile: o.configFile } : {}),
              ...(o.policyPackConfig ? { policyPackConfigFile: o.policyPackConfig } : {}),
              onProgress,
              onRendered: (e) => (rendered = e),
              onRenderDone,
              onEngineEvent: (e) => events.push(e),
            });
            previews.push({ result, events, ...(rendered ? { rendered } : {}) });
          }
        }
        await addRotationViolations(
          previews.map((p) => p.result),
          checkRotations(),
        );
        return previews;
      },
      offline ? (stage) => offline.statePath(stage) : undefined,
      setExitCode,
      formatPreview,
    );
    return;
  }
  const previewOne = (stage: StageName) =>
    engine.preview(stage, {
      ...(o.configFile ? { stackConfigFile: o.configFile } : {}),
      ...(o.policyPackConfig ? { policyPackConfigFile: o.policyPackConfig } : {}),
      onProgress,
      onRenderDone,
    });
  // Offline, several stages share this process and one pack process (previewMany);
  // the real CLI runs one stack at a time.
  const results: PreviewResult[] =
    o.offline && engine instanceof OfflineEngine && stages.length > 1
      ? await engine.previewMany(stages, { onProgress, onRenderDone })
      : o.offline
        ? await Promise.all(stages.map(previewOne))
        : await stages.reduce<Promise<PreviewResult[]>>(
            async (acc, s) => [...(await acc), await previewOne(s)],
            Promise.resolve([]),
          );
  await addRotationViolations(results, checkRotations());
  for (const r of results) {
    for (const l of formatPreview(r, out.paint)) out.line(l);
  }
  const total = totalsOf(results);
  if (o.all) {
    out.line(allStagesLine(total, out.paint));
    out.result({ stages: results, summary: total });
  } else {
    out.result(results[0]);
  }
  setExitCode(total.mandatory > 0 ? 1 : 0);
}

/**
 * Overdue rotations of each previewed stage (security/policies/secret-rotation.yaml, level from
 * compliance-rules.yaml), dated from the evidence chain of the store (GOOSE_STORE or .goose).
 * Without the policy files or a readable chain the check is skipped with a note. Independent of
 * the render and the policy run, so the preview starts it beside them (`addRotationViolations`
 * waits for it): it no longer adds its reading of the chain after the pack's last answer.
 */
async function overdueRotationsOf(
  io: CliIo,
  stages: StageName[],
  note: (m: string) => void,
): Promise<Map<StageName, PolicyViolation[]>> {
  const out = new Map<StageName, PolicyViolation[]>();
  const { existsSync } = await import("node:fs");
  const path = await import("node:path");
  const audit = await import("../../audit/index.js");
  if (!existsSync(path.join(io.cwd, audit.AUDIT_FILES.rotation))) return out;
  const rotation = audit.loadSecretRotation(io.cwd);
  const compliance = audit.loadComplianceRules(io.cwd);
  const { openStoreFor } = await import("../options.js");
  const { openEvidenceChain } = await import("../../evidence/index.js");
  const { overdueRotations } = await import("../../keys/preview-rotations.js");
  const store = openStoreFor(io, undefined);
  let records;
  try {
    records = await openEvidenceChain(store, io.env).list();
  } catch (err) {
    note(`rotation ages not checked: ${(err as Error).message}`);
    return out;
  }
  for (const stage of stages) {
    out.set(
      stage,
      await overdueRotations({ stage, store, env: io.env, rotation, compliance, records }),
    );
  }
  return out;
}

/** Adds the overdue rotations (`overdueRotationsOf`, started earlier) to each stage's result. */
async function addRotationViolations(
  results: PreviewResult[],
  overdue: Promise<Map<StageName, PolicyViolation[]>>,
): Promise<void> {
  const byStage = await overdue;
  for (const r of results) {
    const vs = byStage.get(r.stage) ?? [];
    r.violations.push(...vs);
    for (const v of vs) r.summary[v.enforcementLevel === "mandatory" ? "mandatory" : "advisory"]++;
  }
}

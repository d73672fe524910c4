/**
 * The update step of a staged rollback (`--staged`, `--resume`): the stages of ./staged.ts that
 * the checkpoint has not completed, with one policy pack for the analyses between stages and the
 * stage's health wait after each; every stage is a `rollback.stage` record.
 */
import { gooseCommand } from "../../command-line.js";
import { StepFailed, type StepOutcome } from "../steps.js";
import { healthTargets, subjectOf, waitStageHealthy, type RollbackContext } from "./context.js";
import { runStagedUpdate, StageFailed } from "./staged.js";

/** The update of a staged rollback: the stages the checkpoint has not completed (./staged.ts). */
export async function stagedUpdate(ctx: RollbackContext): Promise<StepOutcome> {
  const { opts, ports } = ctx;
  const cp = ctx.checkpoint;
  if (!cp) throw new Error("staged rollback without a checkpoint: the import step writes it");
  // Loaded here: the pack's gRPC client is not for `goose rollback --help`.
  const start = opts.startAnalyzer ?? (await import("../../policy/analyze.js")).startExportAnalyzer;
  const analyzer = await start(opts.stage, {
    ...(opts.policyPackDir ? { policyPackDir: opts.policyPackDir } : {}),
    ...(opts.policyPackConfigFile ? { policyPackConfigFile: opts.policyPackConfigFile } : {}),
    env: opts.env,
  });
  const resume = gooseCommand([
    "rollback",
    opts.stage,
    "--to",
    opts.to,
    "--staged",
    "--resume",
    ...(ports.engine.mode === "offline" ? ["--offline"] : []),
  ]);
  try {
    await runStagedUpdate({
      stage: opts.stage,
      engine: ports.engine,
      store: ports.store,
      checkpoint: cp,
      analyze: (x) => analyzer.analyze(x),
      health: async () => {
        if (healthTargets(ctx).length === 0)
          return "no health URL given (--prometheus-url, --grafana-url)";
        const results = await waitStageHealthy(ctx);
        const bad = results.filter((r) => !r.ok);
        if (bad.length > 0) throw new Error(`not ready: ${bad.map((b) => b.detail).join("; ")}`);
        return results.map((r) => r.detail).join("; ");
      },
      onStage: (r) => {
        opts.onStage?.(r);
        void ports.evidence
          .append({
            kind: "rollback.stage",
            stage: opts.stage,
            subject: subjectOf(ctx),
            data: {
              status: r.status === "done" ? "ok" : "failed",
              detail: r.detail ?? `${r.name}: ${JSON.stringify(r.resourceChanges ?? {})}`,
              stage: r.name,
              resourceChanges: r.resourceChanges,
              policy: r.policy,
              health: r.health,
            },
          })
          .catch(() => undefined);
      },
      now: () => ports.clock.now(),
    });
  } catch (err) {
    if (!(err instanceof StageFailed)) throw err;
    throw new StepFailed(err.message, {
      fix: `fix the cause, then continue from stage ${err.stage}: ${resume}`,
      data: { stages: cp.stages },
    });
  } finally {
    await analyzer.close();
  }
  return {
    detail: `staged: ${cp.stages.map((s) => `${s.name} ${JSON.stringify(s.resourceChanges ?? {})}`).join(", ")}; every state after a stage passed policy and health`,
    data: { stages: cp.stages },
  };
}

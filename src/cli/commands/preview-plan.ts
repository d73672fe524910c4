/**
 * `goose preview <stage>|--all --offline --diff [--against state|snapshot:<id>|latest-snapshot|file:<export>]
 * [--json | --markdown | --format human|markdown|json]`: the policy preview of the stage plus its
 * plan (src/plan): the rendered stage against the baseline, per resource create/update/replace/
 * delete/same with property diffs, replacements and data-loss flags, and the policy violations of
 * resources being replaced. With `--all`, one plan per stage (each against its own baseline; a
 * `snapshot:<id>` or `file:` baseline names one stage's, so it needs a stage). Exit codes as
 * `goose preview`: 1 on a mandatory violation.
 */
import { colourEnabled, paintVerdict, type Painter } from "../style.js";
import { InputError } from "../../errors.js";
import type { StageName } from "../../config/stages.js";
import type { PreviewResult } from "../../engine/types.js";
import type { Plan } from "../../plan/index.js";
import type { LoadedBaseline } from "../../plan/baseline.js";
import type { StackExport } from "../../pulumi-export/index.js";
import { UsageError } from "../errors.js";
import { Output, type CliIo, type SetExitCode } from "../io.js";
import { openStoreFor } from "../options.js";

export interface PlanFlags {
  offline?: boolean;
  all?: boolean;
  diff?: boolean;
  against?: string;
  markdown?: boolean;
  format?: string;
  json?: boolean;
  store?: string;
  kmsKey?: string[];
}

export type PlanFormat = "human" | "markdown" | "json";

/** The output form the flags ask for; UsageError on a contradiction. */
export function planFormat(o: PlanFlags): PlanFormat {
  const asked = new Set<PlanFormat>();
  if (o.json) asked.add("json");
  if (o.markdown) asked.add("markdown");
  if (o.format !== undefined) {
    if (o.format !== "human" && o.format !== "markdown" && o.format !== "json") {
      throw new UsageError(`--format must be human, markdown or json, got "${o.format}"`);
    }
    asked.add(o.format);
  }
  if (asked.size > 1) {
    throw new UsageError(
      `choose one output form: ${[...asked].map((f) => (f === "human" ? "--format human" : `--${f}`)).join(" or ")}`,
    );
  }
  return [...asked][0] ?? "human";
}

/**
 * Colour as everywhere else (src/cli/style.ts): what main() decided for stdout (a terminal,
 * NO_COLOR, FORCE_COLOR, --no-color), else from the io's stdout and environment.
 */
export function colorEnabled(io: CliIo): boolean {
  if (io.paint) return io.paint.stdout.enabled;
  return colourEnabled({
    env: io.env,
    isTty: io.stdoutIsTty ?? Boolean((io.stdout as { isTTY?: boolean }).isTTY),
  });
}

/** Checks the plan flags before any work (the stage is already parsed). */
export function checkPlanFlags(o: PlanFlags): void {
  if (!o.diff) {
    const stray = [
      o.against !== undefined ? "--against" : undefined,
      o.markdown ? "--markdown" : undefined,
      o.format !== undefined ? "--format" : undefined,
    ].filter(Boolean);
    if (stray.length > 0)
      throw new UsageError(`${stray.join(", ")} go${stray.length === 1 ? "es" : ""} with --diff`);
    return;
  }
  if (
    o.all &&
    o.against !== undefined &&
    o.against !== "state" &&
    o.against !== "latest-snapshot"
  ) {
    throw new UsageError(
      `--against ${o.against} names one stage's baseline: give a stage instead of --all, or use --against state or latest-snapshot`,
    );
  }
  if (!o.offline && o.against !== undefined) {
    throw new UsageError(
      "--against needs --offline: without it the Pulumi CLI plans against the stack's own state",
    );
  }
  planFormat(o);
}

/** One stage's preview as the plan needs it: the rendered stage (offline) or the engine's events. */
export interface StagePreview {
  result: PreviewResult;
  /** Offline: the rendered stage as the export an update would write. */
  rendered?: StackExport;
  /** The real engine: the preview's engine events. */
  events?: unknown[];
}

/**
 * Runs the preview of the stages and prints their plans in the asked form; sets the exit code (1
 * on a mandatory violation). Offline (`statePathOf` given): each rendered stage against its
 * baseline, loaded first (a bad baseline fails before any rendering). Real engine: the engine's
 * steps, mapped (src/plan/pulumi-preview.ts).
 */
export async function runPlanPreview(
  io: CliIo,
  stages: StageName[],
  o: PlanFlags,
  preview: () => Promise<StagePreview[]>,
  statePathOf: ((stage: StageName) => string) | undefined,
  setExitCode: SetExitCode,
  formatPreview: (r: PreviewResult) => string[],
): Promise<Plan[]> {
  const format = planFormat(o);
  const out = new Output(io, format === "json");
  const plan = await import("../../plan/index.js");
  const baselines = new Map<StageName, LoadedBaseline>();
  if (statePathOf) {
    for (const stage of stages) {
      baselines.set(stage, await loadBaselineOf(io, out, stage, o, statePathOf(stage)));
    }
  }
  const previews = await preview();
  const plans: Array<{ result: PreviewResult; plan: Plan }> = [];
  for (const [i, stage] of stages.entries()) {
    const p = previews[i]!;
    if (!statePathOf) {
      // The real engine: the Pulumi CLI's own plan, mapped from the preview's engine events.
      const { planFromEngineEvents } = await import("../../plan/pulumi-preview.js");
      plans.push({
        result: p.result,
        plan: plan.attachViolations(
          planFromEngineEvents(p.events ?? [], stage),
          p.result.violations,
        ),
      });
      continue;
    }
    if (!p.rendered) {
      throw new InputError(`the ${stage} preview did not render the stage: no plan`, {
        fix: "run the preview with --offline",
      });
    }
    const baseline = baselines.get(stage)!;
    plans.push({
      result: p.result,
      plan: plan.attachViolations(
        plan.planExports(baseline.export, p.rendered, { stage, against: baseline.against }),
        p.result.violations,
      ),
    });
  }
  printPlans(io, out, format, plans, Boolean(o.all), plan, formatPreview);
  setExitCode(plans.some((p) => p.result.summary.mandatory > 0) ? 1 : 0);
  return plans.map((p) => p.plan);
}

async function loadBaselineOf(
  io: CliIo,
  out: Output,
  stage: StageName,
  o: PlanFlags,
  statePath: string,
): Promise<LoadedBaseline> {
  const [{ parseAgainst, loadBaseline }, { snapshotKeyringFor }] = await Promise.all([
    import("../../plan/baseline.js"),
    import("../../snapshots/index.js"),
  ]);
  return loadBaseline(parseAgainst(o.against), {
    stage,
    cwd: io.cwd,
    statePath,
    store: () => openStoreFor(io, o.store),
    keys: () => snapshotKeyringFor(io.cwd, stage, io.env, o.kmsKey ?? []),
    note: (m) => out.info(m),
  });
}

/** Resources and violations of several stages' previews, added up (`goose preview --all`). */
export interface PreviewTotals {
  resources: number;
  mandatory: number;
  advisory: number;
}

export function totalsOf(results: PreviewResult[]): PreviewTotals {
  return {
    resources: results.reduce((n, r) => n + r.summary.resources, 0),
    mandatory: results.reduce((n, r) => n + r.summary.mandatory, 0),
    advisory: results.reduce((n, r) => n + r.summary.advisory, 0),
  };
}

/** The line `goose preview --all` ends with. */
export function allStagesLine(t: PreviewTotals, paint: Painter): string {
  return (
    `all stages: ${paintVerdict(paint, t.mandatory > 0 ? "FAILED" : "passed")}: ${t.resources} resources, ` +
    `${t.mandatory} mandatory, ${t.advisory} advisory`
  );
}

const policyVerdict = (s: PreviewResult["summary"]): string =>
  s.mandatory > 0
    ? `**Policy: FAILED** (${s.mandatory} mandatory, ${s.advisory} advisory violations)`
    : `Policy: passed (${s.advisory} advisory violation${s.advisory === 1 ? "" : "s"})`;

function printPlans(
  io: CliIo,
  out: Output,
  format: PlanFormat,
  plans: Array<{ result: PreviewResult; plan: Plan }>,
  all: boolean,
  plan: typeof import("../../plan/index.js"),
  formatPreview: (r: PreviewResult) => string[],
): void {
  const total = totalsOf(plans.map((p) => p.result));
  if (format === "json") {
    for (const { result } of plans) for (const l of formatPreview(result)) out.info(l);
    const docs = plans.map(({ result, plan: p }) => ({ ...p, preview: result }));
    out.result(all ? { kind: "goose.plans", version: 1, stages: docs, summary: total } : docs[0]);
  } else if (format === "markdown") {
    for (const { result } of plans) for (const l of formatPreview(result)) out.info(l);
    io.stdout.write(
      plans
        .map(
          ({ result, plan: p }) =>
            `${plan.formatPlanMarkdown(p)}\n${policyVerdict(result.summary)}\n`,
        )
        .join("\n"),
    );
  } else {
    for (const [i, { result, plan: p }] of plans.entries()) {
      if (i > 0) out.line("");
      for (const l of formatPreview(result)) out.line(l);
      out.line("");
      for (const l of plan.formatPlanHuman(p, { color: colorEnabled(io) })) out.line(l);
    }
  }
  if (all && format === "human") out.line(allStagesLine(total, out.paint));
  // Markdown: stdout is the comment only.
  if (all && format === "markdown") out.info(allStagesLine(total, out.paintInfo));
}

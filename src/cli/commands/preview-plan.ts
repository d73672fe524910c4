/**
 * `goose preview <stage> --offline --diff [--against state|snapshot:<id>|latest-snapshot|file:<export>]
 * [--json | --markdown | --format human|markdown|json]`: the policy preview of the stage plus its
 * plan (src/plan): the rendered stage against the baseline, per resource create/update/replace/
 * delete/same with property diffs, replacements and data-loss flags, and the policy violations of
 * resources being replaced. Exit codes as `goose preview`: 1 on a mandatory violation.
 */
import { colourEnabled } from "../style.js";
import { InputError } from "../../errors.js";
import type { StageName } from "../../config/stages.js";
import type { PreviewResult } from "../../engine/types.js";
import type { Plan } from "../../plan/index.js";
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
  if (o.all) throw new UsageError("--diff plans one stage: give a stage instead of --all");
  if (!o.offline && o.against !== undefined) {
    throw new UsageError(
      "--against needs --offline: without it the Pulumi CLI plans against the stack's own state",
    );
  }
  planFormat(o);
}

/**
 * Runs the preview of one stage and prints its plan in the asked form; sets the exit code (1 on a
 * mandatory violation). Offline (`statePath` given): the rendered stage against the baseline.
 * Real engine (no `statePath`): the engine's steps, mapped (src/plan/pulumi-preview.ts).
 */
export async function runPlanPreview(
  io: CliIo,
  stage: StageName,
  o: PlanFlags,
  preview: (hooks: {
    onRendered: (e: StackExport) => void;
    onEngineEvent: (e: unknown) => void;
  }) => Promise<PreviewResult>,
  statePath: string | undefined,
  setExitCode: SetExitCode,
  formatPreview: (r: PreviewResult) => string[],
): Promise<Plan> {
  const format = planFormat(o);
  const out = new Output(io, format === "json");
  const plan = await import("../../plan/index.js");
  const show = (result: PreviewResult, p: Plan): Plan => {
    printPlan(io, out, format, result, p, plan, formatPreview);
    setExitCode(result.summary.mandatory > 0 ? 1 : 0);
    return p;
  };
  if (statePath === undefined) {
    // The real engine: the Pulumi CLI's own plan, mapped from the preview's engine events.
    const events: unknown[] = [];
    const result = await preview({
      onRendered: () => undefined,
      onEngineEvent: (e) => events.push(e),
    });
    const { planFromEngineEvents } = await import("../../plan/pulumi-preview.js");
    return show(
      result,
      plan.attachViolations(planFromEngineEvents(events, stage), result.violations),
    );
  }
  const [{ parseAgainst, loadBaseline }, { snapshotKeyringFor }] = await Promise.all([
    import("../../plan/baseline.js"),
    import("../../snapshots/index.js"),
  ]);
  const spec = parseAgainst(o.against);
  const baseline = await loadBaseline(spec, {
    stage,
    cwd: io.cwd,
    statePath,
    store: () => openStoreFor(io, o.store),
    keys: () => snapshotKeyringFor(io.cwd, stage, io.env, o.kmsKey ?? []),
    note: (m) => out.info(m),
  });
  let rendered: StackExport | undefined;
  const result = await preview({
    onRendered: (e) => (rendered = e),
    onEngineEvent: () => undefined,
  });
  if (!rendered) {
    throw new InputError(`the ${stage} preview did not render the stage: no plan`, {
      fix: "run the preview with --offline",
    });
  }
  return show(
    result,
    plan.attachViolations(
      plan.planExports(baseline.export, rendered, { stage, against: baseline.against }),
      result.violations,
    ),
  );
}

function printPlan(
  io: CliIo,
  out: Output,
  format: PlanFormat,
  result: PreviewResult,
  p: Plan,
  plan: typeof import("../../plan/index.js"),
  formatPreview: (r: PreviewResult) => string[],
): void {
  const policyLines = formatPreview(result);
  if (format === "json") {
    for (const l of policyLines) out.info(l);
    out.result({ ...p, preview: result });
  } else if (format === "markdown") {
    for (const l of policyLines) out.info(l);
    const verdict =
      result.summary.mandatory > 0
        ? `**Policy: FAILED** (${result.summary.mandatory} mandatory, ${result.summary.advisory} advisory violations)`
        : `Policy: passed (${result.summary.advisory} advisory violation${result.summary.advisory === 1 ? "" : "s"})`;
    io.stdout.write(`${plan.formatPlanMarkdown(p)}\n${verdict}\n`);
  } else {
    for (const l of policyLines) out.line(l);
    out.line("");
    for (const l of plan.formatPlanHuman(p, { color: colorEnabled(io) })) out.line(l);
  }
}

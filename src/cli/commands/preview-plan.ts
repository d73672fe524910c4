/**
 * `goose preview <stage> --offline --diff [--against state|snapshot:<id>|latest-snapshot|file:<export>]
 * [--json | --markdown | --format human|markdown|json]`: the policy preview of the stage plus its
 * plan (src/plan): the rendered stage against the baseline, per resource create/update/replace/
 * delete/same with property diffs, replacements and data-loss flags, and the policy violations of
 * resources being replaced. Exit codes as `goose preview`: 1 on a mandatory violation.
 */
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

/** Colour on a terminal only, never with NO_COLOR set (https://no-color.org). */
export function colorEnabled(io: CliIo): boolean {
  const noColor = io.env.NO_COLOR;
  if (noColor !== undefined && noColor !== "") return false;
  return Boolean((io.stdout as { isTTY?: boolean }).isTTY);
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
  if (!o.offline) {
    throw new UsageError(
      "--diff needs --offline here: the plan is computed from the offline render against the stage's state or a snapshot",
    );
  }
  planFormat(o);
}

/**
 * Runs the preview of one stage with `onRendered`, loads the baseline, prints the plan in the
 * asked form and sets the exit code (1 on a mandatory violation).
 */
export async function runPlanPreview(
  io: CliIo,
  stage: StageName,
  o: PlanFlags,
  preview: (onRendered: (e: StackExport) => void) => Promise<PreviewResult>,
  statePath: string,
  setExitCode: SetExitCode,
  formatPreview: (r: PreviewResult) => string[],
): Promise<Plan> {
  const format = planFormat(o);
  const out = new Output(io, format === "json");
  const [{ parseAgainst, loadBaseline }, plan, { snapshotKeyringFor }] = await Promise.all([
    import("../../plan/baseline.js"),
    import("../../plan/index.js"),
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
  const result = await preview((e) => (rendered = e));
  if (!rendered) {
    throw new InputError(`the ${stage} preview did not render the stage: no plan`, {
      fix: "run the preview with --offline",
    });
  }
  const p = plan.attachViolations(
    plan.planExports(baseline.export, rendered, { stage, against: baseline.against }),
    result.violations,
  );
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
  setExitCode(result.summary.mandatory > 0 ? 1 : 0);
  return p;
}

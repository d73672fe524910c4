/**
 * A plan for people: the terminal (grouped by operation, `+ ~ +- -` markers as `pulumi preview
 * --diff` prints them, colour only when asked) and Markdown for a pull-request comment. Values come
 * from the plan already redacted (secrets are `[secret]`); nothing here sees a secret.
 */
import { parseUrn } from "../pulumi-export/index.js";
import type { Plan, PlanOp, PlanStep } from "./plan.js";
import type { PropertyDiff } from "./values.js";

const ORDER: PlanOp[] = ["replace", "delete", "update", "create"];

const MARK: Record<PlanOp, string> = {
  create: "+",
  update: "~",
  replace: "+-",
  delete: "-",
  same: " ",
};

const HEADING: Record<PlanOp, string> = {
  replace: "to replace",
  delete: "to delete",
  update: "to update",
  create: "to create",
  same: "unchanged",
};

// ANSI colours as Pulumi uses them: green create, yellow update, magenta replace, red delete.
const COLOUR: Record<PlanOp, string> = {
  create: "\u001b[32m",
  update: "\u001b[33m",
  replace: "\u001b[35m",
  delete: "\u001b[31m",
  same: "",
};
const RESET = "\u001b[0m";
const BOLD_RED = "\u001b[1;31m";

/** `type: name` as the Pulumi CLI prints a resource. */
export function resourceLabel(step: Pick<PlanStep, "urn" | "type">): string {
  const name = parseUrn(step.urn)?.name ?? step.urn;
  return `${step.type}: ${name}`;
}

/** A value on one line, shortened past `max` characters. */
export function formatValue(v: unknown, max = 120): string {
  const s = v === undefined ? "undefined" : (JSON.stringify(v) ?? String(v));
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function diffLine(d: PropertyDiff, max: number): string {
  switch (d.kind) {
    case "added":
      return `+ ${d.path}: ${formatValue(d.new, max)}`;
    case "removed":
      return `- ${d.path}: ${formatValue(d.old, max)}`;
    default:
      return `~ ${d.path}: ${formatValue(d.old, max)} => ${formatValue(d.new, max)}`;
  }
}

export function summaryLine(plan: Plan): string {
  const s = plan.summary;
  const parts = [
    `${s.create} to create`,
    `${s.update} to update`,
    `${s.replace} to replace`,
    `${s.delete} to delete`,
    `${s.same} unchanged`,
  ];
  let line = `Resources: ${parts.join(", ")}`;
  if (s.dataLoss > 0) line += `; ${s.dataLoss} with possible data loss`;
  if (s.violations > 0)
    line += `; ${s.violations} policy violation${s.violations === 1 ? "" : "s"} on replaced resources`;
  return line;
}

export function againstText(plan: Plan): string {
  const a = plan.against;
  switch (a.kind) {
    case "none":
      return "an empty stack (no state or snapshot yet)";
    case "state":
      return `its state${a.ref ? ` (${a.ref})` : ""}`;
    case "snapshot":
      return `snapshot ${a.ref ?? ""}`;
    case "file":
      return `export file ${a.ref ?? ""}`;
    case "pulumi":
      return "its Pulumi state (pulumi preview)";
  }
}

export interface HumanOptions {
  /** ANSI colours (a terminal without NO_COLOR). */
  color?: boolean;
  /** Longest value shown (default 120 characters). */
  maxValue?: number;
}

/** The plan for a terminal: one group per operation, property diffs under each resource. */
export function formatPlanHuman(plan: Plan, opts: HumanOptions = {}): string[] {
  const c = (op: PlanOp, text: string) => (opts.color ? `${COLOUR[op]}${text}${RESET}` : text);
  const warn = (text: string) => (opts.color ? `${BOLD_RED}${text}${RESET}` : text);
  const max = opts.maxValue ?? 120;
  const lines = [`Plan of ${plan.stage} against ${againstText(plan)}:`];
  for (const op of ORDER) {
    const steps = plan.steps.filter((s) => s.op === op);
    if (steps.length === 0) continue;
    lines.push("", `  ${steps.length} ${HEADING[op]}:`);
    for (const s of steps) {
      lines.push(c(op, `  ${MARK[op].padEnd(2)} ${resourceLabel(s)}`));
      for (const r of s.replaceReasons ?? []) {
        lines.push(
          `       replaces: ${r.path}${r.when === "decrease" ? " (decrease)" : ""} [${r.source}]`,
        );
      }
      if (s.dataLoss) lines.push(warn(`       DATA LOSS: ${s.dataLoss.reason}`));
      if (s.protect) lines.push(`       protected: Pulumi refuses this until protect is removed`);
      if (s.retainOnDelete) lines.push(`       retainOnDelete: the cloud resource is kept`);
      for (const v of s.violations ?? []) {
        lines.push(
          warn(`       policy ${v.policy} [${v.enforcementLevel}]: ${v.message.split("\n")[0]}`),
        );
      }
      for (const d of s.diffs) lines.push(c(op, `       ${diffLine(d, max)}`));
    }
  }
  lines.push("", summaryLine(plan));
  return lines;
}

/** Markdown cell text: no pipes or newlines. */
function cell(s: string): string {
  return s.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
}

/** Text inside a fenced block cannot close the fence. */
function fenced(s: string): string {
  return s.replace(/```/g, "`\u200b``");
}

/** The plan as a Markdown pull-request comment: summary, a table of changes, diffs folded. */
export function formatPlanMarkdown(plan: Plan): string {
  const out: string[] = [];
  out.push(`### Plan of \`${plan.stage}\` against ${againstText(plan)}`, "");
  out.push(`**${summaryLine(plan)}**`, "");
  const changed = ORDER.flatMap((op) => plan.steps.filter((s) => s.op === op));
  if (changed.length === 0) {
    out.push("No changes.");
    return out.join("\n") + "\n";
  }
  if (plan.summary.dataLoss > 0) {
    out.push(
      `> [!WARNING]`,
      `> ${plan.summary.dataLoss} step${plan.summary.dataLoss === 1 ? "" : "s"} could lose data.`,
      "",
    );
  }
  out.push("| | resource | type | why |", "|---|---|---|---|");
  for (const s of changed) {
    const why: string[] = [];
    for (const r of s.replaceReasons ?? []) why.push(`replaces on \`${r.path}\``);
    if (s.dataLoss) why.push(`**data loss**: ${s.dataLoss.reason}`);
    for (const v of s.violations ?? []) why.push(`policy \`${v.policy}\` (${v.enforcementLevel})`);
    if (s.protect) why.push("protected");
    out.push(
      `| \`${MARK[s.op]}\` ${s.op} | \`${cell(parseUrn(s.urn)?.name ?? s.urn)}\` | \`${cell(s.type)}\` | ${cell(why.join("; "))} |`,
    );
  }
  const withDiffs = changed.filter((s) => s.diffs.length > 0);
  if (withDiffs.length > 0) {
    out.push("", "<details><summary>Property diffs</summary>", "", "```diff");
    for (const s of withDiffs) {
      out.push(fenced(`${MARK[s.op]} ${resourceLabel(s)}`));
      for (const d of s.diffs) {
        // `diff` highlighting colours lines by their first character: + added, - removed, ! changed.
        const l = diffLine(d, 200);
        const mark = d.kind === "added" ? "+" : d.kind === "removed" ? "-" : "!";
        out.push(fenced(`${mark}     ${l.slice(2)}`));
      }
    }
    out.push("```", "", "</details>");
  }
  return out.join("\n") + "\n";
}

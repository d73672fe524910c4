/**
 * goose's own check of Prometheus rule files, for when promtool is not installed (the offline
 * demo on a machine with nothing but Node): the structure `promtool check rules` checks (groups
 * with unique names, each rule exactly one of `alert`/`record` with an `expr`, `for` and
 * `keep_firing_for` durations, string labels and annotations, valid names) and PromQL syntax
 * through Prometheus's own Lezer grammar (@prometheus-io/lezer-promql, as the policy pack uses).
 * It does not type-check expressions or evaluate templates as promtool does: the alerts gate says
 * so and warns.
 */
import { parser } from "@prometheus-io/lezer-promql";
import YAML from "yaml";

const DURATION = /^(\d+(ms|s|m|h|d|w|y))+$/;
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Where a PromQL expression does not parse, or undefined when it does. */
export function promqlSyntaxError(expr: string): string | undefined {
  if (expr.trim() === "") return "empty expression";
  const cursor = parser.parse(expr).cursor();
  do {
    if (cursor.type.isError) {
      const at = cursor.from;
      const near = expr.slice(Math.max(0, at - 10), at + 10).replace(/\s+/g, " ");
      return `syntax error at character ${at + 1} (near "${near}")`;
    }
  } while (cursor.next());
  return undefined;
}

/** Problems in rule files (file name → YAML text), each naming file, group and rule. */
export function checkRuleFiles(files: Record<string, string>): string[] {
  const problems: string[] = [];
  for (const [file, text] of Object.entries(files)) {
    let doc: unknown;
    try {
      doc = YAML.parse(text);
    } catch (err) {
      problems.push(`${file}: not YAML: ${(err as Error).message.split("\n")[0]}`);
      continue;
    }
    const groups = (doc as { groups?: unknown } | null)?.groups;
    if (!Array.isArray(groups)) {
      problems.push(`${file}: no "groups" list`);
      continue;
    }
    const seen = new Set<string>();
    groups.forEach((g: Record<string, unknown>, gi) => {
      const name = typeof g?.name === "string" ? g.name : "";
      const where = `${file}: group ${name || `#${gi + 1}`}`;
      if (!name) problems.push(`${where}: no name`);
      else if (seen.has(name)) problems.push(`${where}: duplicate group name`);
      seen.add(name);
      if (g.interval !== undefined && !DURATION.test(String(g.interval))) {
        problems.push(`${where}: interval "${String(g.interval)}" is not a duration`);
      }
      if (!Array.isArray(g.rules)) {
        problems.push(`${where}: no "rules" list`);
        return;
      }
      g.rules.forEach((r: Record<string, unknown>, ri) => {
        const id =
          typeof r?.alert === "string"
            ? r.alert
            : typeof r?.record === "string"
              ? r.record
              : `#${ri + 1}`;
        const at = `${where}, rule ${id}`;
        const isAlert = r.alert !== undefined;
        const isRecord = r.record !== undefined;
        if (isAlert === isRecord)
          problems.push(`${at}: exactly one of "alert" and "record" is needed`);
        if (isRecord && !METRIC_NAME.test(String(r.record))) {
          problems.push(`${at}: "${String(r.record)}" is not a valid metric name`);
        }
        if (isAlert && String(r.alert).trim() === "") problems.push(`${at}: empty alert name`);
        if (typeof r.expr !== "string") problems.push(`${at}: no expr`);
        else {
          const err = promqlSyntaxError(r.expr);
          if (err) problems.push(`${at}: expr: ${err}`);
        }
        for (const key of ["for", "keep_firing_for"]) {
          if (r[key] === undefined) continue;
          if (!isAlert) problems.push(`${at}: "${key}" only applies to alerting rules`);
          else if (!DURATION.test(String(r[key]))) {
            problems.push(`${at}: ${key} "${String(r[key])}" is not a duration`);
          }
        }
        if (isRecord && r.annotations !== undefined) {
          problems.push(`${at}: annotations only apply to alerting rules`);
        }
        for (const key of ["labels", "annotations"]) {
          const map = r[key];
          if (map === undefined) continue;
          if (map === null || typeof map !== "object" || Array.isArray(map)) {
            problems.push(`${at}: ${key} is not a map`);
            continue;
          }
          for (const [k, v] of Object.entries(map)) {
            if (!LABEL_NAME.test(k)) problems.push(`${at}: ${key} name "${k}" is invalid`);
            if (typeof v !== "string") problems.push(`${at}: ${key}.${k} is not a string`);
          }
        }
        const known = new Set([
          "alert",
          "record",
          "expr",
          "for",
          "keep_firing_for",
          "labels",
          "annotations",
        ]);
        for (const k of Object.keys(r)) {
          if (!known.has(k)) problems.push(`${at}: unknown field "${k}"`);
        }
      });
    });
  }
  return problems;
}

/**
 * What the stage's rule files read, and what its prometheus.yml keeps: metric names from the
 * PromQL of every alerting and recording rule (parsed with Prometheus's own Lezer grammar,
 * @prometheus-io/lezer-promql), and the fate of a metric name under each scrape config's
 * `metric_relabel_configs`. Used by the `prometheus-keeps-rule-metrics` policy.
 */
import { parser } from "@prometheus-io/lezer-promql";
import { parseYaml, parseYamlOnce } from "./yaml-once.js";

export interface LabelMatcher {
  name: string;
  op: "=" | "!=" | "=~" | "!~";
  value: string;
}

export interface Selector {
  /** The metric name, from the identifier or an `__name__="..."` matcher. */
  metric?: string;
  matchers: LabelMatcher[];
}

/** The string a PromQL string literal stands for ("...", '...' with escapes, or `...`). */
function unquote(lit: string): string {
  if (lit.startsWith("`")) return lit.slice(1, -1);
  const q = lit[0];
  let out = "";
  for (let i = 1; i < lit.length - 1; i++) {
    const c = lit[i]!;
    if (c === "\\" && i + 1 < lit.length - 1) {
      const n = lit[++i]!;
      out += { n: "\n", t: "\t", r: "\r", "\\": "\\", '"': '"', "'": "'" }[n] ?? `\\${n}`;
    } else if (c !== q) out += c;
  }
  return out;
}

/**
 * Parses are remembered for the life of the pack process: `goose preview --all` asks one pack
 * about every stage, whose rule files are mostly the same text, and a stack policy runs once per
 * stage. Bounded, so a long-lived pack cannot grow without limit. Results are never mutated.
 */
function memo<T>(limit: number): (key: string, make: () => T) => T {
  const cache = new Map<string, T>();
  return (key, make) => {
    let v = cache.get(key);
    if (v === undefined) {
      if (cache.size >= limit) cache.clear();
      v = make();
      cache.set(key, v);
    }
    return v;
  };
}

const selectorsMemo = memo<readonly Selector[]>(4096);

/** Every vector selector of a PromQL expression (matrix selectors included). */
export function selectorsOf(expr: string): readonly Selector[] {
  return selectorsMemo(expr, () => parseSelectors(expr));
}

function parseSelectors(expr: string): Selector[] {
  const tree = parser.parse(expr);
  const out: Selector[] = [];
  const cursor = tree.cursor();
  do {
    if (cursor.name !== "VectorSelector") continue;
    const sel: Selector = { matchers: [] };
    const node = cursor.node;
    const id = node.getChild("Identifier");
    if (id) sel.metric = expr.slice(id.from, id.to);
    const matchers = node.getChild("LabelMatchers");
    for (const m of matchers?.getChildren("UnquotedLabelMatcher") ?? []) {
      const name = m.getChild("LabelName");
      const op = m.getChild("MatchOp");
      const str = m.getChild("StringLiteral");
      if (!name || !op || !str) continue;
      sel.matchers.push({
        name: expr.slice(name.from, name.to),
        op: expr.slice(op.from, op.to) as LabelMatcher["op"],
        value: unquote(expr.slice(str.from, str.to)),
      });
    }
    const byName = sel.matchers.find((m) => m.name === "__name__" && m.op === "=");
    if (!sel.metric && byName) sel.metric = byName.value;
    out.push(sel);
  } while (cursor.next());
  return out;
}

/** Series Prometheus makes itself: never subject to metric relabelling. */
const SYNTHETIC = /^(up|scrape_.+|ALERTS|ALERTS_FOR_STATE)$/;

export interface RuleNeed {
  metric: string;
  /** `alert <name>` or `record <name>`. */
  rule: string;
  /** The rule file (ConfigMap key). */
  file: string;
  /** The selector's `job` matcher, when it has one. */
  job?: LabelMatcher;
}

interface RuleFileDoc {
  groups?: { rules?: { alert?: string; record?: string; expr?: unknown }[] }[];
}

const rulesMemo = memo<readonly { rule: string; expr: string; record?: string }[]>(256);

/** The rules of one rule file (none when it is not YAML: promtool and the rules policy say so). */
function rulesOf(text: string): readonly { rule: string; expr: string; record?: string }[] {
  return rulesMemo(text, () => {
    let doc: RuleFileDoc;
    try {
      doc = (parseYaml(text) ?? {}) as RuleFileDoc;
    } catch {
      return [];
    }
    const out: { rule: string; expr: string; record?: string }[] = [];
    for (const g of doc.groups ?? []) {
      for (const r of g.rules ?? []) {
        if (typeof r.expr !== "string" && typeof r.expr !== "number") continue;
        const rule = r.alert ? `alert ${r.alert}` : `record ${r.record ?? "?"}`;
        out.push({ rule, expr: String(r.expr), ...(r.record ? { record: r.record } : {}) });
      }
    }
    return out;
  });
}

/**
 * The scraped metrics the rule files read: names in the rules' selectors that no rule records
 * and Prometheus does not synthesise. `files` maps a file name to its YAML content.
 */
export function ruleMetricNeeds(files: Record<string, string>): RuleNeed[] {
  const rules: { file: string; rule: string; expr: string }[] = [];
  const recorded = new Set<string>();
  for (const [file, text] of Object.entries(files)) {
    for (const r of rulesOf(text)) {
      if (r.record) recorded.add(r.record);
      rules.push({ file, rule: r.rule, expr: r.expr });
    }
  }
  const out: RuleNeed[] = [];
  for (const r of rules) {
    for (const sel of selectorsOf(r.expr)) {
      if (!sel.metric || recorded.has(sel.metric) || SYNTHETIC.test(sel.metric)) continue;
      const job = sel.matchers.find((m) => m.name === "job");
      out.push({ metric: sel.metric, rule: r.rule, file: r.file, ...(job ? { job } : {}) });
    }
  }
  return out;
}

const anchoredMemo = memo<RegExp>(1024);

/**
 * A Prometheus regular expression, fully anchored as Prometheus anchors it. Compiled once per
 * text (a stack check tests each relabelling regex against every metric the rules read); the
 * RegExp has no `g` or `y` flag, so sharing it keeps `test` stateless.
 */
function anchored(re: string): RegExp {
  return anchoredMemo(re, () => new RegExp(`^(?:${re})$`));
}

interface RelabelRule {
  source_labels?: unknown;
  regex?: unknown;
  action?: unknown;
  separator?: unknown;
}

/** Does a series named `metric` survive `metric_relabel_configs`, judged by its name alone? */
export function keepsMetric(relabel: unknown, metric: string): boolean {
  if (!Array.isArray(relabel)) return true;
  for (const r of relabel as RelabelRule[]) {
    const action = typeof r.action === "string" ? r.action : "replace";
    if (action !== "keep" && action !== "drop") continue;
    const sources = Array.isArray(r.source_labels) ? r.source_labels : [];
    // Rules over other labels decide per series, not per name: they never drop a name outright.
    if (sources.length !== 1 || sources[0] !== "__name__") continue;
    const hit = anchored(typeof r.regex === "string" ? r.regex : "(.*)").test(metric);
    if (action === "keep" && !hit) return false;
    if (action === "drop" && hit) return false;
  }
  return true;
}

export interface ScrapeConfigView {
  name: string;
  /** The `job` label of its series: a static `job` label, else the job_name. */
  job: string;
  /** honor_labels: pushed series keep their own `job`. */
  honorLabels: boolean;
  relabel: unknown;
}

/** The scrape configs of a prometheus.yml (empty when it does not parse). */
export function scrapeConfigsOf(prometheusYml: string): ScrapeConfigView[] {
  let doc: { scrape_configs?: Record<string, unknown>[] };
  try {
    doc = (parseYamlOnce(prometheusYml) ?? {}) as typeof doc;
  } catch {
    return [];
  }
  return (doc.scrape_configs ?? []).map((sc) => {
    const statics = Array.isArray(sc["static_configs"])
      ? (sc["static_configs"] as { labels?: Record<string, unknown> }[])
      : [];
    const staticJob = statics.map((s) => s.labels?.["job"]).find((j) => typeof j === "string");
    const name = String(sc["job_name"] ?? "");
    return {
      name,
      job: typeof staticJob === "string" ? staticJob : name,
      honorLabels: sc["honor_labels"] === true,
      relabel: sc["metric_relabel_configs"],
    };
  });
}

/** Could series of `sc` carry a `job` label matched by `m`? */
export function jobMatches(sc: ScrapeConfigView, m: LabelMatcher | undefined): boolean {
  if (!m || sc.honorLabels) return true;
  switch (m.op) {
    case "=":
      return sc.job === m.value;
    case "!=":
      return sc.job !== m.value;
    case "=~":
      return anchored(m.value).test(sc.job);
    case "!~":
      return !anchored(m.value).test(sc.job);
  }
}

export interface DroppedNeed {
  metric: string;
  needs: RuleNeed[];
  /** The scrape configs that would carry it, each of which drops it. */
  droppedBy: string[];
}

/**
 * Metrics the rules need that every scrape config able to carry them drops. A metric whose job no
 * scrape config has is not reported (it is not scraped here, so nothing drops it).
 */
export function droppedRuleMetrics(
  prometheusYml: string,
  ruleFiles: Record<string, string> | readonly RuleNeed[],
): DroppedNeed[] {
  const configs = scrapeConfigsOf(prometheusYml);
  const needs = Array.isArray(ruleFiles)
    ? (ruleFiles as readonly RuleNeed[])
    : ruleMetricNeeds(ruleFiles as Record<string, string>);
  // Many rules read the same metric under the same job matcher: each pair is judged once.
  const dropped: number[] = [];
  const droppedBy = new Map<string, string[]>();
  for (const group of needGroups(needs)) {
    const candidates = configs.filter((sc) => jobMatches(sc, group.job));
    if (candidates.length === 0) continue;
    if (candidates.some((sc) => keepsMetric(sc.relabel, group.metric))) continue;
    dropped.push(...group.indices);
    if (!droppedBy.has(group.metric))
      droppedBy.set(
        group.metric,
        candidates.map((c) => c.name),
      );
  }
  const byMetric = new Map<string, DroppedNeed>();
  for (const i of dropped.sort((a, b) => a - b)) {
    const need = needs[i]!;
    let entry = byMetric.get(need.metric);
    if (!entry) {
      entry = { metric: need.metric, needs: [], droppedBy: droppedBy.get(need.metric)! };
      byMetric.set(need.metric, entry);
    }
    if (!entry.needs.some((n) => n.rule === need.rule && n.file === need.file)) {
      entry.needs.push(need);
    }
  }
  return [...byMetric.values()].sort((a, b) => a.metric.localeCompare(b.metric));
}

interface NeedGroup {
  metric: string;
  job?: LabelMatcher;
  /** Positions in the needs list, ascending. */
  indices: number[];
}

const needGroupsMemo = new WeakMap<readonly RuleNeed[], NeedGroup[]>();

/** The needs grouped by metric and job matcher, in order of first appearance. */
function needGroups(needs: readonly RuleNeed[]): NeedGroup[] {
  let groups = needGroupsMemo.get(needs);
  if (groups) return groups;
  const byKey = new Map<string, NeedGroup>();
  needs.forEach((need, i) => {
    const key = `${need.metric}\u0000${need.job ? `${need.job.op}\u0000${need.job.value}` : ""}`;
    const group = byKey.get(key);
    if (group) group.indices.push(i);
    else
      byKey.set(key, { metric: need.metric, ...(need.job ? { job: need.job } : {}), indices: [i] });
  });
  groups = [...byKey.values()];
  needGroupsMemo.set(needs, groups);
  return groups;
}

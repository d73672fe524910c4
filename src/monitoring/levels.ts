/**
 * monitoring/config/metric-levels.yaml: metric priority levels (critical / standard / debug), which
 * metric families belong to each, and per stage a level's scrape interval, sample limit and whether
 * it is kept. Validated with zod; `levelScrapeConfigs` turns one scrape target into one scrape
 * config per kept level (rendered into prometheus.yml by src/components/prometheus-config.ts).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { z } from "zod";
import { parsedOnce } from "../config/parsed-once.js";
import { STAGES, type StageName } from "../config/stages.js";
import { DEFAULT_REPO_ROOT } from "./files.js";
import { InputError } from "../errors.js";

export const METRIC_LEVELS = ["critical", "standard", "debug"] as const;
export type MetricLevel = (typeof METRIC_LEVELS)[number];

export const METRIC_LEVELS_PATH = "monitoring/config/metric-levels.yaml";

const duration = z.string().regex(/^\d+(s|m|h)$/, "a Prometheus duration like 15s, 1m or 1h");

const regex = z.string().refine((s) => {
  try {
    new RegExp(`^(?:${s})$`);
    return true;
  } catch {
    return false;
  }
}, "a valid regular expression");

const stageLevelSchema = z.strictObject({
  /** Scrape interval of the level's scrape configs. */
  scrapeInterval: duration,
  /** Samples one scrape may return after relabelling; 0 means no limit. */
  sampleLimit: z.number().int().min(0),
  /** Whether the stage scrapes the level at all. */
  keep: z.boolean(),
});

const stageLevelsSchema = z.strictObject({
  /** Critical metrics are never dropped. */
  critical: stageLevelSchema.extend({
    keep: z.literal(true, "true: critical metrics are never dropped"),
  }),
  standard: stageLevelSchema,
  debug: stageLevelSchema,
});

export const metricLevelsSchema = z.strictObject({
  defaultLevel: z.enum(METRIC_LEVELS),
  levels: z.strictObject(
    Object.fromEntries(
      METRIC_LEVELS.map((l) => [l, z.strictObject({ description: z.string().min(1) })]),
    ) as Record<MetricLevel, z.ZodObject<{ description: z.ZodString }>>,
  ),
  stages: z.strictObject(
    Object.fromEntries(STAGES.map((s) => [s, stageLevelsSchema])) as Record<
      StageName,
      typeof stageLevelsSchema
    >,
  ),
  families: z.array(z.strictObject({ match: regex, level: z.enum(METRIC_LEVELS) })).min(1),
});

export type MetricLevels = z.infer<typeof metricLevelsSchema>;
export type StageLevel = z.infer<typeof stageLevelSchema>;

export class MetricLevelsError extends InputError {
  constructor(message: string) {
    super(message);
    this.name = "MetricLevelsError";
  }
}

export function parseMetricLevels(raw: unknown, file = METRIC_LEVELS_PATH): MetricLevels {
  const result = metricLevelsSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map(
      (i) => `  ${i.path.length ? i.path.join(".") : "(top level)"}: ${i.message}`,
    );
    throw new MetricLevelsError(`${file} is invalid:\n${lines.join("\n")}\nFix the fields above.`);
  }
  return result.data;
}

export function loadMetricLevelsFile(file: string): MetricLevels {
  const cannot = (err: unknown) =>
    new MetricLevelsError(`${file}: cannot read metric levels: ${(err as Error).message}`);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw cannot(err);
  }
  // Each caller gets its own copy, so none sees another's changes.
  return structuredClone(
    parsedLevels(file, text, () => {
      let raw: unknown;
      try {
        raw = parse(text);
      } catch (err) {
        throw cannot(err);
      }
      return parseMetricLevels(raw, file);
    }),
  );
}

/** Metric-levels files parsed and validated in this process (rendering each stage's prometheus.yml loads the file again). */
const parsedLevels = parsedOnce<MetricLevels>(16);

/** The checked-in metric levels of this repository. */
export function loadMetricLevels(repoRoot: string = DEFAULT_REPO_ROOT): MetricLevels {
  return loadMetricLevelsFile(path.join(repoRoot, METRIC_LEVELS_PATH));
}

/** The patterns of one level, joined into one alternation (undefined when it has none). */
function levelRegex(levels: MetricLevels, level: MetricLevel): string | undefined {
  const pats = levels.families.filter((f) => f.level === level).map((f) => f.match);
  return pats.length ? pats.join("|") : undefined;
}

/** The level a metric name belongs to: the first level whose patterns match, else the default. */
export function levelOf(levels: MetricLevels, metric: string): MetricLevel {
  for (const level of METRIC_LEVELS) {
    const re = levelRegex(levels, level);
    if (re !== undefined && new RegExp(`^(?:${re})$`).test(metric)) return level;
  }
  return levels.defaultLevel;
}

export interface RelabelConfig {
  source_labels: string[];
  regex: string;
  action: "keep" | "drop";
}

/**
 * Metric relabelling that keeps exactly the families of `level`: families of earlier (higher
 * priority) levels are dropped first, so a family is scraped by one level's config only; the
 * default level keeps whatever no other level claims.
 */
export function levelRelabelling(levels: MetricLevels, level: MetricLevel): RelabelConfig[] {
  const idx = METRIC_LEVELS.indexOf(level);
  const out: RelabelConfig[] = [];
  const drop = (regex: string | undefined) => {
    if (regex !== undefined) out.push({ source_labels: ["__name__"], regex, action: "drop" });
  };
  for (const earlier of METRIC_LEVELS.slice(0, idx)) drop(levelRegex(levels, earlier));
  if (level === levels.defaultLevel) {
    for (const later of METRIC_LEVELS.slice(idx + 1)) drop(levelRegex(levels, later));
  } else {
    // A level with no families keeps nothing: `a^` matches no name.
    out.push({
      source_labels: ["__name__"],
      regex: levelRegex(levels, level) ?? "a^",
      action: "keep",
    });
  }
  return out;
}

/** The levels `stage` keeps, most important first. */
export function keptLevels(levels: MetricLevels, stage: StageName): MetricLevel[] {
  return METRIC_LEVELS.filter((l) => levels.stages[stage][l].keep);
}

/** Seconds of a duration like 15s, 2m or 1h. */
function seconds(d: string): number {
  const m = /^(\d+)([smh])$/.exec(d);
  if (!m) throw new MetricLevelsError(`not a simple duration: ${d}`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as "s" | "m" | "h"];
}

export interface ScrapeTarget {
  /** The `job` label of its series (rules select on it). */
  job: string;
  targets: string[];
  /** Extra scrape-config fields (honor_labels, ...). */
  extra?: Record<string, unknown>;
}

/**
 * One scrape config per kept level for `target`: job_name `<job>-<level>`, the series' `job`
 * label still `<job>`, a `level` label, the level's interval and sample limit, and metric
 * relabelling keeping the level's families (then `extraDrop`, the stage's own drop list).
 */
export function levelScrapeConfigs(
  levels: MetricLevels,
  stage: StageName,
  target: ScrapeTarget,
  extraDrop: string[] = [],
): Record<string, unknown>[] {
  return keptLevels(levels, stage).map((level) => {
    const s = levels.stages[stage][level];
    const relabel: RelabelConfig[] = levelRelabelling(levels, level);
    if (extraDrop.length > 0) {
      relabel.push({ source_labels: ["__name__"], regex: extraDrop.join("|"), action: "drop" });
    }
    const timeout = Math.min(10, seconds(s.scrapeInterval));
    return {
      job_name: `${target.job}-${level}`,
      scrape_interval: s.scrapeInterval,
      scrape_timeout: `${timeout}s`,
      ...(s.sampleLimit > 0 ? { sample_limit: s.sampleLimit } : {}),
      static_configs: [{ targets: [...target.targets], labels: { job: target.job, stage, level } }],
      ...target.extra,
      metric_relabel_configs: relabel,
    };
  });
}

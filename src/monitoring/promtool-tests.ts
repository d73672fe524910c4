/**
 * Generated promtool unit tests of the recording rules (one `promql_expr_test` per rule) and of
 * each stage's thresholds file. The alert tests are written by hand
 * (monitoring/prometheus/tests/alerts.test.yaml).
 *
 * Inputs are chosen so every expected value is exact in binary floating point where it can be,
 * and the rest (histogram interpolation, 1 - x) is computed here with the same operations, in the
 * same order, as Prometheus does: promtool compares floats exactly.
 */
import { stringify } from "yaml";
import type { StageName } from "../config/stages.js";
import {
  BACKUP_METRICS,
  SCANNER_METRICS,
  SCRAPE_JOBS,
  SERVICE_METRICS,
} from "../config/metrics.js";
import { alertGroups } from "./alerts.js";
import {
  recordingGroups,
  thresholdGroups,
  BURN_RATE_WINDOWS,
  HISTORY_WINDOWS,
  LATENCY_QUANTILES,
  RECORDED,
  SLO_PERIOD,
  THRESHOLD_SERIES,
  type HistoryWindow,
  type SloWindow,
} from "./rules.js";
import type { StageChange, StageThresholds } from "./thresholds.js";
import { DR_THRESHOLD_SERIES } from "./dr-rules.js";
import type { PushGroups } from "./push-groups.js";
import { leSpellings, severitiesAtOrAbove } from "./thresholds.js";

/** Thresholds of the fixture stage the promtool tests run against (stage label "fixture"). */
export const FIXTURE_STAGE = "fixture";
export const FIXTURE_THRESHOLDS: StageThresholds = {
  slo: { availabilityObjective: 0.999, latencyObjective: 0.99, latencyBoundSeconds: 0.25 },
  backup: { scheduleIntervalHours: 6 },
  restoreDrill: { maxAgeHours: 24 },
  failoverDrill: { maxAgeHours: 48 },
  scanner: { scheduleIntervalHours: 12, severityThreshold: "HIGH" },
};

/**
 * A threshold change under way in the fixture stage (thresholds-settling.fixture.yaml): the
 * availability objective moves from 0.99 to the fixture's 0.999, settling from time 0 (promtool's
 * start) and enforced from 30m on.
 */
export const FIXTURE_SETTLING_CHANGE: StageChange = {
  threshold: "slo.availabilityObjective",
  from: 0.99,
  to: FIXTURE_THRESHOLDS.slo.availabilityObjective,
  since: 0,
  enforcedAt: 1800,
};

interface Sample {
  labels: string;
  value: number;
}
interface ExprTest {
  expr: string;
  eval_time: string;
  exp_samples: Sample[];
}

/** Per-second rates of the fixture service: 100 req/s, 1 of them a 5xx. */
const SERVICE_RATE = { ok: 99, errors: 1 } as const;
/** Cumulative per-second rates of the duration buckets (le → requests/s). */
const BUCKET_RATES: [string, number][] = [
  ["0.05", 50],
  ["0.1", 80],
  ["0.25", 95],
  ["0.5", 99],
  ["1", 100],
  ["+Inf", 100],
];

/** Seconds of a Prometheus duration like 5m, 6h or 30d. */
export function durationSeconds(d: string): number {
  const m = /^(\d+)([smhd])$/.exec(d);
  if (!m) throw new Error(`not a simple Prometheus duration: ${d}`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as "s" | "m" | "h" | "d"];
}

/**
 * rate() of a counter growing `perSecond` over a fully sampled `window`, computed as Prometheus
 * 2.x does: increase × ((extrapolated / sampled interval) / range seconds). The factor is
 * 1 / range, which is not exact for every range (30d gives 0.9999999999999999 for 1/s).
 */
function promRate(perSecond: number, window: string): number {
  const seconds = durationSeconds(window);
  return perSecond * seconds * (1 / seconds);
}

/** Prometheus's bucketQuantile for the fixture histogram (linear interpolation in the bucket). */
function fixtureQuantile(q: number, window: string): number {
  const rates: [string, number][] = BUCKET_RATES.map(([le, r]) => [le, promRate(r, window)]);
  const total = rates[rates.length - 1]![1];
  let rank = q * total;
  let b = rates.findIndex(([, c]) => c >= rank);
  if (b < 0) b = rates.length - 1;
  const upper = rates[b]!;
  if (upper[0] === "+Inf") return Number(rates[rates.length - 2]![0]);
  const bucketEnd = Number(upper[0]);
  let bucketStart = 0;
  let count = upper[1];
  if (b > 0) {
    const prev = rates[b - 1]!;
    bucketStart = Number(prev[0]);
    rank -= prev[1];
    count -= prev[1];
  }
  return bucketStart + (bucketEnd - bucketStart) * (rank / count);
}

const lbl = (pairs: Record<string, string>) =>
  `{${Object.entries(pairs)
    .map(([k, v]) => `${k}="${v}"`)
    .join(", ")}}`;

function serviceInputs(stepSeconds: number, steps: number) {
  const series = (name: string, extra: Record<string, string>, perSecond: number) => ({
    series: `${name}${lbl({ job: SCRAPE_JOBS.service, stage: FIXTURE_STAGE, instance: "svc-0", ...extra })}`,
    values: `0+${perSecond * stepSeconds}x${steps}`,
  });
  return [
    series(SERVICE_METRICS.requests, { code: "200" }, SERVICE_RATE.ok),
    series(SERVICE_METRICS.requests, { code: "500" }, SERVICE_RATE.errors),
    ...BUCKET_RATES.map(([le, r]) => series(`${SERVICE_METRICS.duration}_bucket`, { le }, r)),
    series(`${SERVICE_METRICS.duration}_count`, {}, BUCKET_RATES[BUCKET_RATES.length - 1]![1]),
  ];
}

function sloExprTests(windows: readonly SloWindow[], evalTime: string): ExprTest[] {
  const total = SERVICE_RATE.ok + SERVICE_RATE.errors;
  const withinBound = BUCKET_RATES.find(
    ([le]) => le === String(FIXTURE_THRESHOLDS.slo.latencyBoundSeconds),
  )![1];
  const s = (name: string, value: number, extra: Record<string, string> = {}): ExprTest => ({
    expr: name,
    eval_time: evalTime,
    exp_samples: [
      {
        labels: `${name}${lbl({ job: SCRAPE_JOBS.service, stage: FIXTURE_STAGE, ...extra })}`,
        value,
      },
    ],
  });
  const tests: ExprTest[] = [];
  for (const w of windows) {
    const requests = promRate(SERVICE_RATE.ok, w) + promRate(SERVICE_RATE.errors, w);
    const errors = promRate(SERVICE_RATE.errors, w);
    tests.push(
      s(RECORDED.requests(w), requests), // 99 + 1 req/s
      s(RECORDED.errors(w), errors), // the code="500" series
      s(RECORDED.errorRatio(w), errors / requests), // 1 / 100
      // 1 - 95 / 100 requests within 0.25s
      s(RECORDED.slowRatio(w), 1 - promRate(withinBound, w) / promRate(total, w)),
    );
    if ((HISTORY_WINDOWS as readonly string[]).includes(w)) {
      const h = w as HistoryWindow;
      tests.push(
        // the history aggregates: 1 - the ratios above, and requests in the window
        s(RECORDED.availabilityHistory(h), 1 - errors / requests),
        s(RECORDED.latencyHistory(h), 1 - (1 - promRate(withinBound, w) / promRate(total, w))),
        s(RECORDED.requestsHistory(h), requests * durationSeconds(w)),
      );
    }
    if ((BURN_RATE_WINDOWS as readonly string[]).includes(w)) {
      for (const q of LATENCY_QUANTILES) {
        const name = RECORDED.latencyQuantile(w);
        tests.push({
          expr: `${name}{quantile="${q}"}`,
          eval_time: evalTime,
          exp_samples: [
            {
              labels: `${name}${lbl({ job: SCRAPE_JOBS.service, quantile: q, stage: FIXTURE_STAGE })}`,
              value: fixtureQuantile(Number(q), w),
            },
          ],
        });
      }
    }
  }
  return tests;
}

const HEADER = (what: string) =>
  `# Generated by \`npm run generate\` (src/monitoring/promtool-tests.ts): ${what}.\n` +
  `# Do not edit; run with: promtool test rules <this file>\n`;

/** Rule files a test file loads, relative to monitoring/prometheus/tests/. */
const FIXTURE_RULES = ["../recording.yaml", "../alerts.yaml", "thresholds.fixture.yaml"];

/**
 * promtool evaluates groups one after another at each step; this order (thresholds, then recording
 * rules in dependency order, then alerts) makes every rule see the samples of its inputs recorded
 * at the same step.
 */
export function groupEvalOrder(): string[] {
  return [
    ...thresholdGroups(FIXTURE_STAGE, FIXTURE_THRESHOLDS).map((g) => g.name),
    ...recordingGroups().map((g) => g.name),
    ...alertGroups("https://example.invalid/").map((g) => g.name),
  ];
}

/** Windows up to 6h, sampled every 5 minutes (two samples span the 5m window), evaluated at 7h. */
export function recordingShortTests(): string {
  const doc = {
    rule_files: FIXTURE_RULES,
    group_eval_order: groupEvalOrder(),
    evaluation_interval: "5m",
    tests: [
      {
        name: "service SLO ratios and latency quantiles, windows 5m to 6h",
        interval: "5m",
        external_labels: { stage: FIXTURE_STAGE },
        input_series: serviceInputs(300, 96),
        promql_expr_test: sloExprTests(
          BURN_RATE_WINDOWS.filter((w) => !["1d", "3d"].includes(w)),
          "7h",
        ),
      },
      healthTests(),
    ],
  };
  return HEADER("recording rules, short windows") + stringify(doc, { lineWidth: 0 });
}

/** Windows 1d, 3d and the 30d SLO period, sampled daily, evaluated at 31d. */
export function recordingLongTests(): string {
  const evalTime = "31d";
  const budget = (ratio: number, objective: number) => 1 - ratio / (1 - objective);
  const total = SERVICE_RATE.ok + SERVICE_RATE.errors;
  const r = (perSecond: number) => promRate(perSecond, SLO_PERIOD);
  const errorRatio = r(SERVICE_RATE.errors) / (r(SERVICE_RATE.ok) + r(SERVICE_RATE.errors));
  const within = BUCKET_RATES.find(
    ([le]) => le === String(FIXTURE_THRESHOLDS.slo.latencyBoundSeconds),
  )![1];
  const fixtureLabels = lbl({ job: SCRAPE_JOBS.service, stage: FIXTURE_STAGE });
  const doc = {
    rule_files: FIXTURE_RULES,
    group_eval_order: groupEvalOrder(),
    evaluation_interval: "1d",
    tests: [
      {
        name: "service SLO ratios, windows 1d, 3d and 30d, and error budget left",
        interval: "1d",
        external_labels: { stage: FIXTURE_STAGE },
        input_series: serviceInputs(86400, 32),
        promql_expr_test: [
          ...sloExprTests(["1d", "3d", SLO_PERIOD], evalTime),
          {
            // 1 - (1/100 errors) / (1 - 0.999 objective): the budget is overspent ten times.
            expr: RECORDED.availabilityBudgetRemaining,
            eval_time: evalTime,
            exp_samples: [
              {
                labels: `${RECORDED.availabilityBudgetRemaining}${fixtureLabels}`,
                value: budget(errorRatio, FIXTURE_THRESHOLDS.slo.availabilityObjective),
              },
            ],
          },
          {
            // 1 - (1 - 95/100 slow) / (1 - 0.99 objective)
            expr: RECORDED.latencyBudgetRemaining,
            eval_time: evalTime,
            exp_samples: [
              {
                labels: `${RECORDED.latencyBudgetRemaining}${fixtureLabels}`,
                value: budget(1 - r(within) / r(total), FIXTURE_THRESHOLDS.slo.latencyObjective),
              },
            ],
          },
        ],
      },
    ],
  };
  return HEADER("recording rules, long windows") + stringify(doc, { lineWidth: 0 });
}

function healthTests() {
  const t = "7h";
  const one = (expr: string, labels: Record<string, string>, value: number): ExprTest => ({
    expr,
    eval_time: t,
    exp_samples: [{ labels: `${expr}${lbl(labels)}`, value }],
  });
  const st = { stage: FIXTURE_STAGE };
  const prom = { job: SCRAPE_JOBS.prometheus, stage: FIXTURE_STAGE };
  const graf = { job: SCRAPE_JOBS.grafana, stage: FIXTURE_STAGE };
  const ser = (name: string, labels: Record<string, string>, values: string) => ({
    series: `${name}${lbl({ ...labels, stage: FIXTURE_STAGE })}`,
    values,
  });
  return {
    name: "health aggregates of Prometheus, Grafana, backup and scanner",
    interval: "1m",
    external_labels: { stage: FIXTURE_STAGE },
    input_series: [
      ser("up", { job: SCRAPE_JOBS.prometheus, instance: "prometheus-0" }, "1x480"),
      ser("up", { job: SCRAPE_JOBS.prometheus, instance: "prometheus-1" }, "0x480"),
      ser("prometheus_rule_evaluation_failures_total", { job: SCRAPE_JOBS.prometheus }, "0+60x480"),
      ser("prometheus_rule_evaluations_total", { job: SCRAPE_JOBS.prometheus }, "0+600x480"),
      ser("prometheus_tsdb_compactions_failed_total", { job: SCRAPE_JOBS.prometheus }, "0+1x480"),
      ser("prometheus_tsdb_head_series", { job: SCRAPE_JOBS.prometheus }, "1000x480"),
      ser(
        "grafana_http_request_duration_seconds_count",
        { job: SCRAPE_JOBS.grafana, status_code: "200" },
        "0+600x480",
      ),
      ser(
        "grafana_http_request_duration_seconds_count",
        { job: SCRAPE_JOBS.grafana, status_code: "500" },
        "0+60x480",
      ),
      ser(
        BACKUP_METRICS.lastSuccess,
        { job: "goldengoose-backup", component: "prometheus" },
        "3600x480",
      ),
      ser(
        BACKUP_METRICS.lastSuccess,
        { job: "goldengoose-backup", component: "grafana" },
        "7200x480",
      ),
      ser(
        BACKUP_METRICS.lastStatus,
        { job: "goldengoose-backup", component: "prometheus" },
        "1x480",
      ),
      ser(BACKUP_METRICS.lastStatus, { job: "goldengoose-backup", component: "grafana" }, "0x480"),
      ser(
        BACKUP_METRICS.sizeBytes,
        { job: "goldengoose-backup", component: "prometheus" },
        "1048576x480",
      ),
      ser(
        BACKUP_METRICS.sizeBytes,
        { job: "goldengoose-backup", component: "grafana" },
        "4096x480",
      ),
      ser(SCANNER_METRICS.lastSuccess, { job: "goldengoose-scanner" }, "7200x480"),
      ser(SCANNER_METRICS.lastStatus, { job: "goldengoose-scanner" }, "1x480"),
      ser(
        SCANNER_METRICS.vulnerabilities,
        { job: "goldengoose-scanner", severity: "HIGH", image: "a" },
        "2x480",
      ),
      ser(
        SCANNER_METRICS.vulnerabilities,
        { job: "goldengoose-scanner", severity: "HIGH", image: "b" },
        "3x480",
      ),
      ser(
        SCANNER_METRICS.vulnerabilities,
        { job: "goldengoose-scanner", severity: "LOW", image: "a" },
        "5x480",
      ),
    ],
    promql_expr_test: [
      one(RECORDED.up, prom, 0.5), // one of two targets up
      one(RECORDED.ruleEvaluationFailures, prom, 1), // +60 per minute
      one(RECORDED.ruleEvaluations, prom, 10), // +600 per minute
      one(RECORDED.compactionsFailed, prom, 180), // +1 per minute over 3h
      one(RECORDED.headSeries, prom, 1000),
      one(RECORDED.grafanaRequests, graf, 11), // 10/s ok + 1/s 5xx
      one(RECORDED.grafanaErrors, graf, 1),
      {
        // 7h - 1h and 7h - 2h
        expr: RECORDED.backupAge,
        eval_time: t,
        exp_samples: [
          { labels: `${RECORDED.backupAge}${lbl({ component: "grafana", ...st })}`, value: 18000 },
          {
            labels: `${RECORDED.backupAge}${lbl({ component: "prometheus", ...st })}`,
            value: 21600,
          },
        ],
      },
      {
        expr: RECORDED.backupStatus,
        eval_time: t,
        exp_samples: [
          { labels: `${RECORDED.backupStatus}${lbl({ component: "grafana", ...st })}`, value: 0 },
          {
            labels: `${RECORDED.backupStatus}${lbl({ component: "prometheus", ...st })}`,
            value: 1,
          },
        ],
      },
      {
        expr: RECORDED.backupSize,
        eval_time: t,
        exp_samples: [
          { labels: `${RECORDED.backupSize}${lbl({ component: "grafana", ...st })}`, value: 4096 },
          {
            labels: `${RECORDED.backupSize}${lbl({ component: "prometheus", ...st })}`,
            value: 1048576,
          },
        ],
      },
      one(RECORDED.scannerAge, st, 18000), // 7h - 2h
      one(RECORDED.scannerStatus, st, 1),
      {
        // HIGH: 2 + 3 over two images; the scanner's `severity` becomes `vulnerability_severity`
        expr: RECORDED.vulnerabilities,
        eval_time: t,
        exp_samples: [
          {
            labels: `${RECORDED.vulnerabilities}${lbl({ stage: FIXTURE_STAGE, vulnerability_severity: "HIGH" })}`,
            value: 5,
          },
          {
            labels: `${RECORDED.vulnerabilities}${lbl({ stage: FIXTURE_STAGE, vulnerability_severity: "LOW" })}`,
            value: 5,
          },
        ],
      },
    ],
  };
}

/** A test of one stage's thresholds file: every threshold series with its value. */
export function thresholdsTests(
  stage: StageName,
  t: StageThresholds,
  pushGroups: PushGroups,
  changes: StageChange[] = [],
): string {
  const at = "1m";
  const atSeconds = 60;
  /** An objective at `at`: a change's old value until it is enforced. */
  const objective = (threshold: StageChange["threshold"], value: number) => {
    const c = changes.find((x) => x.threshold === threshold);
    return c && atSeconds < c.enforcedAt ? c.from : value;
  };
  const settling = (threshold: StageChange["threshold"], name: string) => {
    const c = changes.find((x) => x.threshold === threshold);
    return c && c.since <= atSeconds && atSeconds < c.enforcedAt ? [sample(name, c.to)] : [];
  };
  const sample = (name: string, value: number, extra: Record<string, string> = {}) => ({
    labels: `${name}${lbl({ ...extra, stage })}`,
    value,
  });
  const doc = {
    rule_files: [`../thresholds/${stage}.yaml`],
    evaluation_interval: "1m",
    tests: [
      {
        name: `thresholds of stage ${stage} (monitoring/config/thresholds.yaml)`,
        interval: "1m",
        input_series: [],
        promql_expr_test: [
          {
            expr: THRESHOLD_SERIES.availabilityObjective,
            eval_time: at,
            exp_samples: [
              sample(
                THRESHOLD_SERIES.availabilityObjective,
                objective("slo.availabilityObjective", t.slo.availabilityObjective),
              ),
            ],
          },
          {
            expr: THRESHOLD_SERIES.latencyObjective,
            eval_time: at,
            exp_samples: [
              sample(
                THRESHOLD_SERIES.latencyObjective,
                objective("slo.latencyObjective", t.slo.latencyObjective),
              ),
            ],
          },
          {
            expr: THRESHOLD_SERIES.availabilityObjectiveSettling,
            eval_time: at,
            exp_samples: settling(
              "slo.availabilityObjective",
              THRESHOLD_SERIES.availabilityObjectiveSettling,
            ),
          },
          {
            expr: THRESHOLD_SERIES.latencyObjectiveSettling,
            eval_time: at,
            exp_samples: settling(
              "slo.latencyObjective",
              THRESHOLD_SERIES.latencyObjectiveSettling,
            ),
          },
          {
            expr: THRESHOLD_SERIES.latencyBound,
            eval_time: at,
            exp_samples: leSpellings(t.slo.latencyBoundSeconds).map((le) =>
              sample(THRESHOLD_SERIES.latencyBound, t.slo.latencyBoundSeconds, { le }),
            ),
          },
          {
            // twice the schedule interval, in seconds
            expr: THRESHOLD_SERIES.backupMaxAge,
            eval_time: at,
            exp_samples: [
              sample(THRESHOLD_SERIES.backupMaxAge, t.backup.scheduleIntervalHours * 7200),
            ],
          },
          {
            expr: THRESHOLD_SERIES.scannerMaxAge,
            eval_time: at,
            exp_samples: [
              sample(THRESHOLD_SERIES.scannerMaxAge, t.scanner.scheduleIntervalHours * 7200),
            ],
          },
          {
            expr: THRESHOLD_SERIES.scannerAlertSeverity,
            eval_time: at,
            exp_samples: severitiesAtOrAbove(t.scanner.severityThreshold).map((s) =>
              sample(THRESHOLD_SERIES.scannerAlertSeverity, 1, { vulnerability_severity: s }),
            ),
          },
          {
            // restoreDrill.maxAgeHours, in seconds
            expr: DR_THRESHOLD_SERIES.restoreMaxAge,
            eval_time: at,
            exp_samples: [
              sample(DR_THRESHOLD_SERIES.restoreMaxAge, t.restoreDrill.maxAgeHours * 3600),
            ],
          },
          {
            // failoverDrill.maxAgeHours, in seconds; no series for a stage without the objective
            expr: DR_THRESHOLD_SERIES.failoverMaxAge,
            eval_time: at,
            exp_samples: t.failoverDrill
              ? [sample(DR_THRESHOLD_SERIES.failoverMaxAge, t.failoverDrill.maxAgeHours * 3600)]
              : [],
          },
          {
            // push-groups.yaml: hours, or twice a schedule interval, in seconds
            expr: THRESHOLD_SERIES.pushGroupMaxAge,
            eval_time: at,
            exp_samples: Object.entries(pushGroups.groups)
              .filter(([, g]) => g.maxAge !== undefined)
              .map(([job, g]) =>
                sample(
                  THRESHOLD_SERIES.pushGroupMaxAge,
                  typeof g.maxAge === "number"
                    ? g.maxAge * 3600
                    : g.maxAge!.includes("backup")
                      ? t.backup.scheduleIntervalHours * 7200
                      : t.scanner.scheduleIntervalHours * 7200,
                  { push_job: job },
                ),
              ),
          },
        ],
      },
    ],
  };
  return HEADER(`thresholds of stage ${stage}`) + stringify(doc, { lineWidth: 0 });
}

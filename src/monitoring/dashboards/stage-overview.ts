/** Stage overview: SLOs, error budget left, burn rates, traffic, latency, component health. */
import { RowBuilder, type Dashboard } from "@grafana/grafana-foundation-sdk/dashboard";
import { BURN_RATE_PAIRS, RECORDED, THRESHOLD_SERIES, type HistoryWindow } from "../rules.js";
import { baseDashboard, STAGE, stat, timeseries } from "./common.js";

const burn = (ratio: string, objective: string) =>
  `${ratio}{${STAGE}} / on () group_left () (1 - ${objective}{${STAGE}})`;

/** Dashboard ranges (seconds) above which a panel reads the 1h, then the 1d history aggregates. */
export const HISTORY_SWITCH = { "1h": 2 * 86400, "1d": 30 * 86400 } as const;

/**
 * One query that reads what fits the dashboard's range: the 5m recorded series up to 2 days, the
 * 1h aggregates up to 30 days, the 1d aggregates beyond (Grafana's $__range_s picks the branch).
 */
export function byRange(short: string, history: (w: HistoryWindow) => string): string {
  const range = "vector($__range_s)";
  const agg = (w: HistoryWindow) => `last_over_time(${history(w)}{${STAGE}}[${w}])`;
  return (
    `(${short} unless on () (${range} > ${HISTORY_SWITCH["1h"]}))\n` +
    `or\n(${agg("1h")} and on () (${range} > ${HISTORY_SWITCH["1h"]}) unless on () (${range} > ${HISTORY_SWITCH["1d"]}))\n` +
    `or\n(${agg("1d")} and on () (${range} > ${HISTORY_SWITCH["1d"]}))`
  );
}

export function stageOverview(): Dashboard {
  const windows = [...BURN_RATE_PAIRS.page, ...BURN_RATE_PAIRS.ticket].map((p) => p.long);
  const budgetSteps: Array<[number | null, string]> = [
    [null, "red"],
    [0.25, "orange"],
    [0.5, "green"],
  ];
  return baseDashboard("Golden Goose / Stage overview", "gg-stage-overview", ["slo"])
    .description("SLOs of the service under test, error budget left, burn rates and health.")
    .withRow(new RowBuilder("Service level objectives (30 days)"))
    .withPanel(
      stat(
        "Availability (30d)",
        "percentunit",
        `1 - ${RECORDED.errorRatio("30d")}{${STAGE}}`,
        "{{job}}",
        [
          [null, "red"],
          [0.99, "orange"],
          [0.999, "green"],
        ],
        { decimals: 3 },
      ),
    )
    .withPanel(
      stat(
        "Availability error budget left",
        "percentunit",
        `${RECORDED.availabilityBudgetRemaining}{${STAGE}}`,
        "{{job}}",
        budgetSteps,
        { description: "1 - (error ratio over 30 days) / (1 - objective). Below 0: overspent." },
      ),
    )
    .withPanel(
      stat(
        "Latency error budget left",
        "percentunit",
        `${RECORDED.latencyBudgetRemaining}{${STAGE}}`,
        "{{job}}",
        budgetSteps,
        {
          description:
            "1 - (share of requests slower than the bound over 30 days) / (1 - objective).",
        },
      ),
    )
    .withPanel(
      stat(
        "Availability objective",
        "percentunit",
        `${THRESHOLD_SERIES.availabilityObjective}{${STAGE}}`,
        "{{stage}}",
        [[null, "blue"]],
        { description: "From monitoring/config/thresholds.yaml.", decimals: 3 },
      ),
    )
    .withRow(new RowBuilder("Service level history"))
    .withPanel(
      timeseries(
        "Availability and latency SLIs over the dashboard range",
        "percentunit",
        [
          [
            byRange(`1 - ${RECORDED.errorRatio("5m")}{${STAGE}}`, RECORDED.availabilityHistory),
            "{{job}} availability",
          ],
          [
            byRange(`1 - ${RECORDED.slowRatio("5m")}{${STAGE}}`, RECORDED.latencyHistory),
            "{{job}} within the latency bound",
          ],
        ],
        {
          description:
            "Ranges up to 2 days read the 5m series; up to 30 days the hourly aggregates " +
            "(job:slo_*:ratio_rate1h); longer ranges the daily ones (job:slo_*:ratio_rate1d), " +
            "so 30-90 day views stay cheap. Retention per stage: docs/monitoring.md.",
          max: 1,
        },
      ),
    )
    .withPanel(
      timeseries(
        "Requests per hour / per day",
        "short",
        [
          [`last_over_time(${RECORDED.requestsHistory("1h")}{${STAGE}}[1h])`, "{{job}} per hour"],
          [`last_over_time(${RECORDED.requestsHistory("1d")}{${STAGE}}[1d])`, "{{job}} per day"],
        ],
        { description: "Request counts from the history aggregates.", min: 0 },
      ),
    )
    .withRow(new RowBuilder("Burn rates"))
    .withPanel(
      timeseries(
        "Availability burn rate",
        "x",
        windows.map((w) => [
          burn(RECORDED.errorRatio(w), THRESHOLD_SERIES.availabilityObjective),
          `{{job}} ${w}`,
        ]),
        {
          description: "1 = the budget lasts exactly 30 days. Pages above 14.4 (1h) and 6 (6h).",
          min: 0,
        },
      ),
    )
    .withPanel(
      timeseries(
        "Latency burn rate",
        "x",
        windows.map((w) => [
          burn(RECORDED.slowRatio(w), THRESHOLD_SERIES.latencyObjective),
          `{{job}} ${w}`,
        ]),
        { description: "Share of slow requests relative to the latency budget.", min: 0 },
      ),
    )
    .withRow(new RowBuilder("Traffic and latency"))
    .withPanel(
      timeseries("Request rate", "reqps", [
        [`${RECORDED.requests("5m")}{${STAGE}}`, "{{job}} requests"],
        [`${RECORDED.errors("5m")}{${STAGE}}`, "{{job}} 5xx"],
      ]),
    )
    .withPanel(
      timeseries(
        "Latency quantiles (5m)",
        "s",
        [
          [`${RECORDED.latencyQuantile("5m")}{${STAGE}, quantile="0.5"}`, "{{job}} p50"],
          [`${RECORDED.latencyQuantile("5m")}{${STAGE}, quantile="0.95"}`, "{{job}} p95"],
          [`${RECORDED.latencyQuantile("5m")}{${STAGE}, quantile="0.99"}`, "{{job}} p99"],
          [`${THRESHOLD_SERIES.latencyBound}{${STAGE}}`, "latency bound"],
        ],
        { min: 0 },
      ),
    )
    .withRow(new RowBuilder("Components"))
    .withPanel(
      timeseries(
        "Targets up (share per job)",
        "percentunit",
        [[`${RECORDED.up}{${STAGE}}`, "{{job}}"]],
        {
          min: 0,
          max: 1,
          width: 24,
        },
      ),
    )
    .build();
}

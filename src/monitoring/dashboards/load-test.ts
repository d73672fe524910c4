/** Load-test results against the stage's baseline (metrics written by `goose loadtest run`). */
import {
  QueryVariableBuilder,
  RowBuilder,
  VariableRefresh,
  VariableSort,
  type Dashboard,
} from "@grafana/grafana-foundation-sdk/dashboard";
import { LOADTEST_METRICS } from "../../loadtest/metrics.js";
import { RECORDED } from "../rules.js";
import { baseDashboard, DATASOURCE, STAGE, stat, table, timeseries } from "./common.js";

const SCENARIO = `${STAGE}, scenario=~"$scenario"`;

export function loadTest(): Dashboard {
  return baseDashboard("Golden Goose / Load test vs baseline", "gg-load-test", ["load-test"])
    .description(
      "The last load-test run of each scenario, its verdict against the baseline " +
        "(load-test/baseline/<stage>.json) and what the service itself measured meanwhile.",
    )
    .time({ from: "now-24h", to: "now" })
    .withVariable(scenarioVariable())
    .withRow(new RowBuilder("Verdict against the baseline"))
    .withPanel(
      stat(
        "Verdict",
        "none",
        `max by (scenario, verdict) (${LOADTEST_METRICS.verdict}{${SCENARIO}}) == 1`,
        "{{scenario}}: {{verdict}}",
        [[null, "blue"]],
        { width: 8 },
      ),
    )
    .withPanel(
      stat(
        "Score",
        "none",
        `max by (scenario) (${LOADTEST_METRICS.score}{${SCENARIO}})`,
        "{{scenario}}",
        [
          [null, "red"],
          [50, "orange"],
          [80, "green"],
        ],
        { width: 8, description: "Weighted score 0-100 of the criteria against the baseline." },
      ),
    )
    .withPanel(
      stat(
        "Last run",
        "dateTimeFromNow",
        `max by (scenario) (${LOADTEST_METRICS.lastRun}{${SCENARIO}}) * 1000`,
        "{{scenario}}",
        [[null, "blue"]],
        { width: 8 },
      ),
    )
    .withPanel(
      table(
        "Criteria (1 pass, 0.5 warn, 0 fail)",
        [[`max by (scenario, criterion) (${LOADTEST_METRICS.criterionPassed}{${SCENARIO}})`, ""]],
        { width: 24 },
      ),
    )
    .withRow(new RowBuilder("Run results"))
    .withPanel(
      timeseries(
        "Latency percentiles of the runs",
        "s",
        [
          ["0.5", "p50"],
          ["0.95", "p95"],
          ["0.99", "p99"],
        ].map(([q, name]) => [
          `max by (scenario) (${LOADTEST_METRICS.latency}{${SCENARIO}, quantile="${q}"})`,
          `{{scenario}} ${name}`,
        ]) as Array<[string, string]>,
        { min: 0 },
      ),
    )
    .withPanel(
      timeseries(
        "Throughput and errors of the runs",
        "short",
        [
          [
            `max by (scenario) (${LOADTEST_METRICS.requestsPerSecond}{${SCENARIO}})`,
            "{{scenario}} req/s",
          ],
          [
            `max by (scenario) (${LOADTEST_METRICS.errorRatio}{${SCENARIO}})`,
            "{{scenario}} error ratio",
          ],
        ],
        { min: 0 },
      ),
    )
    .withRow(new RowBuilder("The service during the runs"))
    .withPanel(
      timeseries("Service request rate", "reqps", [
        [`${RECORDED.requests("5m")}{${STAGE}}`, "{{job}}"],
      ]),
    )
    .withPanel(
      timeseries("Service p99 latency and error ratio", "short", [
        [`${RECORDED.latencyQuantile("5m")}{${STAGE}, quantile="0.99"}`, "{{job}} p99 (s)"],
        [`${RECORDED.errorRatio("5m")}{${STAGE}}`, "{{job}} error ratio"],
      ]),
    )
    .build();
}

/** The `scenario` variable: scenarios that pushed results. */
function scenarioVariable(): QueryVariableBuilder {
  const q = `label_values(${LOADTEST_METRICS.score}, scenario)`;
  return new QueryVariableBuilder("scenario")
    .label("Scenario")
    .datasource(DATASOURCE)
    .query(q)
    .definition(q)
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.AlphabeticalAsc)
    .includeAll(true)
    .allValue(".*");
}

/** Prometheus self-monitoring: targets, rule evaluation, TSDB, notifications. */
import { RowBuilder, type Dashboard } from "@grafana/grafana-foundation-sdk/dashboard";
import { SCRAPE_JOBS } from "../../config/metrics.js";
import { RECORDED } from "../rules.js";
import { baseDashboard, STAGE, stat, timeseries } from "./common.js";

const PROM = `${STAGE}, job="${SCRAPE_JOBS.prometheus}"`;

export function prometheusSelf(): Dashboard {
  return baseDashboard("Golden Goose / Prometheus", "gg-prometheus", ["prometheus"])
    .description("Is the monitoring itself healthy: targets, rules, storage and notifications.")
    .withRow(new RowBuilder("Targets"))
    .withPanel(
      stat("Targets down", "none", `count(up{${STAGE}} == 0) or vector(0)`, "down", [
        [null, "green"],
        [1, "red"],
      ]),
    )
    .withPanel(
      stat("Head series", "short", `sum(${RECORDED.headSeries}{${STAGE}})`, "series", [
        [null, "blue"],
      ]),
    )
    .withPanel(
      stat(
        "Failed rule evaluations/s",
        "short",
        `sum(${RECORDED.ruleEvaluationFailures}{${STAGE}})`,
        "failures",
        [
          [null, "green"],
          [0.000001, "red"],
        ],
      ),
    )
    .withPanel(
      stat(
        "Failed compactions (3h)",
        "short",
        `sum(${RECORDED.compactionsFailed}{${STAGE}})`,
        "failed",
        [
          [null, "green"],
          [1, "red"],
        ],
      ),
    )
    .withPanel(
      timeseries(
        "Targets up (share per job)",
        "percentunit",
        [[`${RECORDED.up}{${STAGE}}`, "{{job}}"]],
        {
          min: 0,
          max: 1,
        },
      ),
    )
    .withPanel(
      timeseries("Scrape duration", "s", [
        [`max by (job) (scrape_duration_seconds{${STAGE}})`, "{{job}}"],
      ]),
    )
    .withRow(new RowBuilder("Rules"))
    .withPanel(
      timeseries("Rule evaluations and failures", "ops", [
        [`${RECORDED.ruleEvaluations}{${STAGE}}`, "evaluations"],
        [`${RECORDED.ruleEvaluationFailures}{${STAGE}}`, "failures"],
      ]),
    )
    .withPanel(
      timeseries("Slowest rule groups", "s", [
        [
          `topk(5, max by (rule_group) (prometheus_rule_group_last_duration_seconds{${PROM}}))`,
          "{{rule_group}}",
        ],
      ]),
    )
    .withRow(new RowBuilder("Storage and notifications"))
    .withPanel(
      timeseries("Samples appended", "short", [
        [
          `sum(rate(prometheus_tsdb_head_samples_appended_total{${PROM}}[$__rate_interval]))`,
          "samples/s",
        ],
      ]),
    )
    .withPanel(
      timeseries("Notifications", "short", [
        [`sum(rate(prometheus_notifications_sent_total{${PROM}}[$__rate_interval]))`, "sent/s"],
        [
          `sum(rate(prometheus_notifications_dropped_total{${PROM}}[$__rate_interval]))`,
          "dropped/s",
        ],
        [`sum(prometheus_notifications_queue_length{${PROM}})`, "queued"],
      ]),
    )
    .build();
}

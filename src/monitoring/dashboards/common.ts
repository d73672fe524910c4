/**
 * Shared pieces of the dashboards: the `datasource` and `stage` variables, Prometheus queries
 * with explicit refIds and the datasource variable, and preconfigured panels.
 */
import {
  DashboardBuilder,
  DatasourceVariableBuilder,
  QueryVariableBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  VariableRefresh,
  VariableSort,
  type Dashboard,
} from "@grafana/grafana-foundation-sdk/dashboard";
import { DataqueryBuilder, PromQueryFormat } from "@grafana/grafana-foundation-sdk/prometheus";
import { PanelBuilder as StatBuilder } from "@grafana/grafana-foundation-sdk/stat";
import { PanelBuilder as TableBuilder } from "@grafana/grafana-foundation-sdk/table";
import { PanelBuilder as TimeseriesBuilder } from "@grafana/grafana-foundation-sdk/timeseries";
import { ReduceDataOptionsBuilder } from "@grafana/grafana-foundation-sdk/common";

/** Every panel and query uses the dashboard's `datasource` variable. */
export const DATASOURCE = { type: "prometheus", uid: "${datasource}" } as const;

/** Label selector of the `stage` variable ("All" matches series without the label, too). */
export const STAGE = 'stage=~"$stage"';

/** Tags every generated dashboard carries. */
const TAGS = ["golden-goose", "generated"];

/** A dashboard with a stable uid, the `datasource` and `stage` variables and common settings. */
export function baseDashboard(title: string, uid: string, tags: string[]): DashboardBuilder {
  return new DashboardBuilder(title)
    .uid(uid)
    .tags([...TAGS, ...tags])
    .editable()
    .timezone("browser")
    .refresh("1m")
    .time({ from: "now-6h", to: "now" })
    .withVariable(
      new DatasourceVariableBuilder("datasource").label("Data source").type("prometheus"),
    )
    .withVariable(
      new QueryVariableBuilder("stage")
        .label("Stage")
        .datasource(DATASOURCE)
        .query("label_values(up, stage)")
        .definition("label_values(up, stage)")
        .refresh(VariableRefresh.OnTimeRangeChanged)
        .sort(VariableSort.AlphabeticalAsc)
        .includeAll(true)
        .allValue(".*"),
    );
}

/** A Prometheus range query with an explicit refId, legend and the datasource variable. */
export function query(refId: string, expr: string, legend = ""): DataqueryBuilder {
  return new DataqueryBuilder()
    .refId(refId)
    .expr(expr)
    .legendFormat(legend || "__auto")
    .datasource(DATASOURCE);
}

/** A timeseries panel with its queries (refIds A, B, C … in order). */
export function timeseries(
  title: string,
  unit: string,
  queries: Array<[expr: string, legend: string]>,
  opts: { description?: string; min?: number; max?: number; width?: number } = {},
): TimeseriesBuilder {
  const panel = new TimeseriesBuilder()
    .title(title)
    .description(opts.description ?? "")
    .datasource(DATASOURCE)
    .unit(unit)
    .span(opts.width ?? 12)
    .height(8)
    .lineWidth(1)
    .fillOpacity(10);
  if (opts.min !== undefined) panel.min(opts.min);
  if (opts.max !== undefined) panel.max(opts.max);
  queries.forEach(([expr, legend], i) => panel.withTarget(query(refIdOf(i), expr, legend)));
  return panel;
}

/** A stat panel showing the last value; `steps` colour it (the first step starts at -Infinity). */
export function stat(
  title: string,
  unit: string,
  expr: string,
  legend: string,
  steps: Array<[value: number | null, color: string]>,
  opts: { description?: string; width?: number; decimals?: number } = {},
): StatBuilder {
  const panel = new StatBuilder()
    .title(title)
    .description(opts.description ?? "")
    .datasource(DATASOURCE)
    .unit(unit)
    .span(opts.width ?? 6)
    .height(5)
    .reduceOptions(new ReduceDataOptionsBuilder().calcs(["lastNotNull"]).values(false))
    .thresholds(
      new ThresholdsConfigBuilder()
        .mode(ThresholdsMode.Absolute)
        .steps(steps.map(([value, color]) => ({ value, color }))),
    )
    .withTarget(query("A", expr, legend));
  if (opts.decimals !== undefined) panel.decimals(opts.decimals);
  return panel;
}

/** A table of instant queries (one row per series). */
export function table(
  title: string,
  queries: Array<[expr: string, legend: string]>,
  opts: { description?: string; width?: number } = {},
): TableBuilder {
  const panel = new TableBuilder()
    .title(title)
    .description(opts.description ?? "")
    .datasource(DATASOURCE)
    .span(opts.width ?? 12)
    .height(8);
  queries.forEach(([expr, legend], i) =>
    panel.withTarget(query(refIdOf(i), expr, legend).instant().format(PromQueryFormat.Table)),
  );
  return panel;
}

function refIdOf(i: number): string {
  return String.fromCharCode(65 + i);
}

export type { Dashboard };

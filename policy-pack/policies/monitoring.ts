/**
 * Monitoring policies: Prometheus keeps its data long enough, Grafana is not open to anonymous
 * users, and the stage ships alerting and recording rules.
 *
 * Prometheus is the container named `prometheus` (or running a `…/prometheus` image) in a
 * StatefulSet or Deployment; its retention is the `--storage.tsdb.retention.time` argument.
 * Grafana is the container named `grafana` (or a `…/grafana` image); anonymous access is the
 * `GF_AUTH_ANONYMOUS_ENABLED` variable or `[auth.anonymous] enabled` in a `grafana.ini` ConfigMap.
 */
import * as k8s from "@pulumi/kubernetes";
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import {
  configWithDefaults,
  containersOf,
  dig,
  durationDays,
  isObject,
  kindOf,
  raw,
  typeOf,
  type ContainerRef,
  notApplicable,
  onlyForTypes,
} from "./util.js";
import { droppedRuleMetrics, ruleMetricNeeds } from "./promql.js";

const SERVER_TYPES = [typeOf(k8s.apps.v1.StatefulSet), typeOf(k8s.apps.v1.Deployment)];
const CONFIGMAP = typeOf(k8s.core.v1.ConfigMap);
const isServerType = (type: string) => SERVER_TYPES.includes(type);

/** Does the container run `app` (by container name or by the last path segment of its image)? */
function runs(c: ContainerRef, app: string): boolean {
  if (c.name === app) return true;
  const image = c.container["image"];
  if (typeof image !== "string") return false;
  const last = image.split("@")[0]?.split("/").pop() ?? "";
  return last.split(":")[0] === app;
}

const RETENTION_FLAG = "--storage.tsdb.retention.time";

/** The retention argument of a Prometheus container: `--flag=30d` or `--flag 30d`. */
export function retentionArg(container: Record<string, unknown>): string | undefined {
  const argv = ([] as unknown[]).concat(container["command"] ?? [], container["args"] ?? []);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (typeof a !== "string") continue;
    if (a.startsWith(`${RETENTION_FLAG}=`)) return a.slice(RETENTION_FLAG.length + 1);
    if (a === RETENTION_FLAG && typeof argv[i + 1] === "string") return argv[i + 1] as string;
  }
  return undefined;
}

interface RetentionConfig {
  minRetentionDays: number;
}
const retentionSchema = {
  properties: {
    minRetentionDays: {
      type: "integer",
      minimum: 1,
      default: 15,
      description: "Least Prometheus TSDB retention, in days, for this stage.",
    },
  },
} satisfies ResourceValidationPolicy["configSchema"];

export const prometheusRetention: ResourceValidationPolicy = {
  name: "prometheus-retention",
  description: "Prometheus keeps its data at least the stage's minimum retention.",
  severity: "medium",
  configSchema: retentionSchema,
  validateResource: onlyForTypes(
    isServerType,
    "not a StatefulSet or Deployment",
    (args, report) => {
      const proms = containersOf(args.type, args.props).filter(
        (c) => c.list === "containers" && runs(c, "prometheus"),
      );
      if (proms.length === 0) return "runs no Prometheus container";
      const cfg = configWithDefaults<RetentionConfig>(retentionSchema, args.getConfig());
      const min = cfg.minRetentionDays;
      for (const c of proms) {
        const what = `${kindOf(args.type)} "${args.name}": Prometheus container "${c.name}" (${c.path}.args)`;
        const value = retentionArg(c.container);
        if (value === undefined) {
          report(
            `${what} does not set ${RETENTION_FLAG} (the default is 15d). Add "${RETENTION_FLAG}=${min}d" or more.`,
          );
          continue;
        }
        const days = durationDays(value);
        if (days === undefined) {
          report(
            `${what} has ${RETENTION_FLAG}=${value}, which is not a duration. Use e.g. "${RETENTION_FLAG}=${min}d".`,
          );
        } else if (days < min) {
          report(
            `${what} keeps data for ${value} (${Math.round(days * 100) / 100} days), below this stage's ` +
              `minimum of ${min} days. Set "${RETENTION_FLAG}=${min}d" or more (prometheus.retentionDays).`,
          );
        }
      }
    },
  ),
};

/** Is `[auth.anonymous] enabled = true` set in grafana.ini text? */
export function iniAnonymousEnabled(ini: string): boolean {
  let section = "";
  for (const rawLine of ini.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith(";") || line.startsWith("#")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = (header[1] ?? "").trim();
      continue;
    }
    const kv = /^([^=]+)=(.*)$/.exec(line);
    if (section === "auth.anonymous" && kv && kv[1]?.trim() === "enabled") {
      if ((kv[2] ?? "").trim().toLowerCase() === "true") return true;
    }
  }
  return false;
}

interface AnonymousConfig {
  allowAnonymous: boolean;
}
const anonymousSchema = {
  properties: {
    allowAnonymous: {
      type: "boolean",
      default: false,
      description: "Allow anonymous Grafana viewers (only in a throwaway sandbox).",
    },
  },
} satisfies ResourceValidationPolicy["configSchema"];

export const grafanaNoAnonymous: ResourceValidationPolicy = {
  name: "grafana-no-anonymous-access",
  description: "Grafana does not let anonymous users in.",
  severity: "high",
  configSchema: anonymousSchema,
  validateResource: onlyForTypes(
    (type) => type === CONFIGMAP || isServerType(type),
    "not a Deployment, StatefulSet or ConfigMap",
    (args, report) => {
      const cfg = configWithDefaults<AnonymousConfig>(anonymousSchema, args.getConfig());
      const fix = `Set grafana.anonymousAccess: false in the stage config (GF_AUTH_ANONYMOUS_ENABLED=false).`;
      if (args.type === CONFIGMAP) {
        const data = dig(args.props, "data");
        const ini = isObject(data) ? data["grafana.ini"] : undefined;
        if (typeof ini !== "string") return "ConfigMap without grafana.ini";
        if (iniAnonymousEnabled(ini as string) && !cfg.allowAnonymous) {
          report(
            `ConfigMap "${args.name}" enables [auth.anonymous] in data["grafana.ini"]. Set enabled = false there. ${fix}`,
          );
        }
        return;
      }
      const grafanas = containersOf(args.type, args.props).filter(
        (c) => c.list === "containers" && runs(c, "grafana"),
      );
      if (grafanas.length === 0) return "runs no Grafana container";
      for (const c of grafanas) {
        const env = raw(c.container)["env"];
        if (!Array.isArray(env)) continue;
        env.forEach((e: unknown, i) => {
          if (!isObject(e) || e["name"] !== "GF_AUTH_ANONYMOUS_ENABLED") return;
          if (String(e["value"]).trim().toLowerCase() === "true" && !cfg.allowAnonymous) {
            report(
              `${kindOf(args.type)} "${args.name}": container "${c.name}" sets GF_AUTH_ANONYMOUS_ENABLED=true ` +
                `(${c.path}.env[${i}]). ${fix}`,
            );
          }
        });
      }
    },
  ),
};

/** Is this ConfigMap (raw props) a Prometheus rules ConfigMap? */
function isRulesConfigMap(name: string, props: Record<string, unknown>): boolean {
  const component = dig(props, "metadata", "labels", "app.kubernetes.io/component");
  const metaName = dig(props, "metadata", "name");
  return (
    component === "prometheus-rules" ||
    name.endsWith("-rules") ||
    (typeof metaName === "string" && metaName.endsWith("-rules"))
  );
}

export const prometheusRuleFiles: StackValidationPolicy = {
  name: "prometheus-rule-files",
  description: "The stage ships Prometheus rule files (a rules ConfigMap with at least one file).",
  severity: "high",
  validateStack: (args, report) => {
    const prometheus = args.resources.filter(
      (r) =>
        r.type === "goldengoose:monitoring:Prometheus" ||
        (SERVER_TYPES.includes(r.type) &&
          containersOf(r.type, raw(r.props)).some(
            (c) => c.list === "containers" && runs(c, "prometheus"),
          )),
    );
    if (prometheus.length === 0) notApplicable(args, "the stack has no Prometheus");
    const ruleMaps = args.resources.filter(
      (r) =>
        r.type === CONFIGMAP && isRulesConfigMap(r.name, raw(r.props) as Record<string, unknown>),
    );
    const withFiles = ruleMaps.filter((r) => {
      const data = dig(raw(r.props), "data");
      return (
        isObject(data) && Object.values(data).some((v) => typeof v === "string" && v.trim() !== "")
      );
    });
    if (withFiles.length > 0) return;
    const at = prometheus[0]?.urn;
    if (ruleMaps.length === 0) {
      report(
        `No Prometheus rules ConfigMap: add a ConfigMap labelled app.kubernetes.io/component: prometheus-rules ` +
          `whose data holds the rule files from monitoring/prometheus/ (loadMonitoringFiles(stage).rules), ` +
          `mounted at /etc/prometheus/rules.`,
        at,
      );
    } else {
      for (const r of ruleMaps) {
        report(
          `Prometheus rules ConfigMap "${r.name}" has no rule files in data. Fill it from ` +
            `monitoring/prometheus/ (loadMonitoringFiles(stage).rules).`,
          r.urn,
        );
      }
    }
  },
};

/** String entries of a ConfigMap's data. */
function stringData(props: unknown): Record<string, string> {
  const data = dig(props, "data");
  if (!isObject(data)) return {};
  return Object.fromEntries(
    Object.entries(data).filter((e): e is [string, string] => typeof e[1] === "string"),
  );
}

export const prometheusKeepsRuleMetrics: StackValidationPolicy = {
  name: "prometheus-keeps-rule-metrics",
  description:
    "The stage's prometheus.yml does not drop a metric that one of its alerting or recording rules reads.",
  severity: "high",
  validateStack: (args, report) => {
    const configMaps = args.resources.filter((r) => r.type === CONFIGMAP);
    const configs = configMaps.filter(
      (r) => typeof stringData(raw(r.props))["prometheus.yml"] === "string",
    );
    if (configs.length === 0) notApplicable(args, "the stack has no prometheus.yml ConfigMap");
    const ruleFiles: Record<string, string> = {};
    for (const r of configMaps) {
      if (!isRulesConfigMap(r.name, raw(r.props) as Record<string, unknown>)) continue;
      for (const [file, text] of Object.entries(stringData(raw(r.props)))) {
        ruleFiles[`${r.name}/${file}`] = text;
      }
    }
    if (Object.keys(ruleFiles).length === 0) notApplicable(args, "the stack ships no rule files");
    const needs = ruleMetricNeeds(ruleFiles);
    for (const cm of configs) {
      const yml = stringData(raw(cm.props))["prometheus.yml"]!;
      for (const d of droppedRuleMetrics(yml, needs)) {
        const rules = d.needs.map((n) => `${n.rule} (${n.file})`).join(", ");
        report(
          `ConfigMap "${cm.name}" (prometheus.yml) drops ${d.metric}, which ${rules} ` +
            `read${d.needs.length === 1 ? "s" : ""}: every scrape config that could carry it ` +
            `(${d.droppedBy.join(", ")}) removes it in metric_relabel_configs. Move its family to a ` +
            `level the stage keeps in monitoring/config/metric-levels.yaml, or take it out of ` +
            `prometheus.dropMetrics in Pulumi.<stage>.yaml.`,
          cm.urn,
        );
      }
    }
  },
};

export const monitoringPolicies = [
  prometheusRetention,
  grafanaNoAnonymous,
  prometheusRuleFiles,
  prometheusKeepsRuleMetrics,
];

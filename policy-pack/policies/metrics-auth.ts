/**
 * Protected metrics: a stage's metrics endpoints are not open, and what they store carries no
 * secrets or personal data.
 *
 * `metrics-endpoints-protected` (stack policy), where `requireAuth` (compliance-rules.yaml
 * `metrics.requireAuth` of the stage, copied into policy-pack/config/<stage>.json):
 * - every Prometheus, Alertmanager and Pushgateway container runs with `--web.config.file` (basic
 *   auth; src/components/metrics-auth.ts, src/components/pushgateway-auth.ts);
 * - a web config (`web.yml` of a Secret) lists `basic_auth_users` with bcrypt hashes only, never a
 *   password (a value not known during preview is not judged);
 * - Grafana's default role for new (GF_USERS_AUTO_ASSIGN_ORG_ROLE) and anonymous
 *   (GF_AUTH_ANONYMOUS_ORG_ROLE) users, when set, is Viewer;
 * - no Service of type LoadBalancer or NodePort exposes Prometheus, the Pushgateway or
 *   Alertmanager outside the namespace (all three ask for credentials now; none is meant to be
 *   reached from outside, so this stays as a second line of defence);
 * - every scrape config of a prometheus.yml drops each of `dropLabels` (a `labeldrop` metric
 *   relabelling whose regex matches the label name).
 */
import * as k8s from "@pulumi/kubernetes";
import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { parse } from "yaml";
import { parseYamlOnce } from "./yaml-once.js";
import {
  configWithDefaults,
  containersOf,
  dig,
  isObject,
  isUnknown,
  kindOf,
  raw,
  typeOf,
} from "./util.js";

const SERVER_TYPES = [typeOf(k8s.apps.v1.StatefulSet), typeOf(k8s.apps.v1.Deployment)];
const SECRET = typeOf(k8s.core.v1.Secret);
const CONFIGMAP = typeOf(k8s.core.v1.ConfigMap);
const SERVICE = typeOf(k8s.core.v1.Service);
const UNAUTHENTICATED_APPS = ["prometheus", "pushgateway", "alertmanager"];
const BCRYPT = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;

interface MetricsAuthConfig {
  requireAuth: boolean;
  dropLabels: string[];
}
const schema = {
  properties: {
    requireAuth: {
      type: "boolean",
      default: true,
      description:
        "Whether the stage's metrics must be behind authentication (compliance-rules.yaml metrics.requireAuth).",
    },
    dropLabels: {
      type: "array",
      items: { type: "string", minLength: 1 },
      default: [],
      description:
        "Labels every scrape config must drop (compliance-rules.yaml metrics.dropLabels).",
    },
  },
} satisfies StackValidationPolicy["configSchema"];

function imageApp(c: Record<string, unknown>): string {
  const image = typeof c["image"] === "string" ? c["image"] : "";
  return (image.split("@")[0]?.split("/").pop() ?? "").split(":")[0] ?? "";
}

/** A Secret's or ConfigMap's values as text (a Secret's `data` is base64, a ConfigMap's is not). */
function stringData(props: Record<string, unknown>, base64: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const data = props["data"];
  if (isObject(data))
    for (const [k, v] of Object.entries(data))
      out[k] =
        base64 && typeof v === "string" && !isUnknown(v)
          ? Buffer.from(v, "base64").toString("utf8")
          : v;
  const sd = props["stringData"];
  if (isObject(sd)) Object.assign(out, sd);
  return out;
}

function env(c: Record<string, unknown>, name: string): unknown {
  const list = c["env"];
  if (!Array.isArray(list)) return undefined;
  const e = list.find((x: unknown) => isObject(x) && x["name"] === name) as
    Record<string, unknown> | undefined;
  return e?.["value"];
}

export const metricsEndpointsProtected: StackValidationPolicy = {
  name: "metrics-endpoints-protected",
  description:
    "Prometheus, Alertmanager and the Pushgateway ask for credentials (bcrypt basic auth), no metrics endpoint is exposed outside the namespace, Grafana users are viewers by default and sensitive labels are dropped.",
  severity: "high",
  configSchema: schema,
  validateStack: (args, report) => {
    const cfg = configWithDefaults<MetricsAuthConfig>(schema, args.getConfig());
    const props = (r: PolicyResource) => raw(r.props) as Record<string, unknown>;
    for (const r of args.resources) {
      if (SERVER_TYPES.includes(r.type)) {
        for (const c of containersOf(r.type, props(r))) {
          const app =
            c.name === "prometheus" || imageApp(c.container) === "prometheus"
              ? "prometheus"
              : c.name === "grafana" || imageApp(c.container) === "grafana"
                ? "grafana"
                : c.name === "pushgateway" || imageApp(c.container) === "pushgateway"
                  ? "pushgateway"
                  : c.name === "alertmanager" || imageApp(c.container) === "alertmanager"
                    ? "alertmanager"
                    : "";
          if (app === "prometheus" && cfg.requireAuth) {
            const argv = ([] as unknown[]).concat(
              c.container["command"] ?? [],
              c.container["args"] ?? [],
            );
            if (!argv.some((a) => typeof a === "string" && a.startsWith("--web.config.file")))
              report(
                `${kindOf(r.type)} "${r.name}": container "${c.name}" runs Prometheus without --web.config.file, so anyone who reaches it reads every metric. Give it a web config with basic_auth_users (bcrypt hash of a random password from a Secret; src/components/metrics-auth.ts).`,
                r.urn,
              );
          }
          if (app === "pushgateway" && cfg.requireAuth) {
            const argv = ([] as unknown[]).concat(
              c.container["command"] ?? [],
              c.container["args"] ?? [],
            );
            if (!argv.some((a) => typeof a === "string" && a.startsWith("--web.config.file")))
              report(
                `${kindOf(r.type)} "${r.name}": container "${c.name}" runs the Pushgateway without --web.config.file, so anyone who reaches it reads every pushed metric and can push or delete groups (a fake backup result, a false or withdrawn blackout). Give it a web config with basic_auth_users (bcrypt hash of a random password from a Secret; src/components/pushgateway-auth.ts).`,
                r.urn,
              );
          }
          if (app === "alertmanager" && cfg.requireAuth) {
            const argv = ([] as unknown[]).concat(
              c.container["command"] ?? [],
              c.container["args"] ?? [],
            );
            if (!argv.some((a) => typeof a === "string" && a.startsWith("--web.config.file")))
              report(
                `${kindOf(r.type)} "${r.name}": container "${c.name}" runs Alertmanager without --web.config.file, so anyone who reaches it can read every alert and silence them (a silence hides an outage from the on-call). Give it the Prometheus web config (basic_auth_users with a bcrypt hash; src/components/metrics-auth.ts ALERTMANAGER_WEB_CONFIG_FILE).`,
                r.urn,
              );
          }
          if (app === "grafana") {
            for (const v of ["GF_USERS_AUTO_ASSIGN_ORG_ROLE", "GF_AUTH_ANONYMOUS_ORG_ROLE"]) {
              const role = env(c.container, v);
              if (typeof role === "string" && !isUnknown(role) && role !== "Viewer")
                report(
                  `${kindOf(r.type)} "${r.name}": container "${c.name}" sets ${v}=${role}; users get Viewer by default (set it to Viewer, grant more per user).`,
                  r.urn,
                );
            }
          }
        }
      }
      if (r.type === SECRET && cfg.requireAuth) {
        const text = stringData(props(r), true)["web.yml"];
        if (typeof text !== "string" || isUnknown(text)) continue;
        let doc: unknown;
        try {
          doc = parse(text);
        } catch {
          report(`Secret "${r.name}": web.yml is not YAML.`, r.urn);
          continue;
        }
        const users = dig(doc, "basic_auth_users");
        if (!isObject(users) || Object.keys(users).length === 0) {
          report(
            `Secret "${r.name}": web.yml has no basic_auth_users, so Prometheus asks for no credentials.`,
            r.urn,
          );
          continue;
        }
        for (const [u, h] of Object.entries(users))
          if (typeof h !== "string" || !BCRYPT.test(h))
            report(
              `Secret "${r.name}": web.yml basic_auth_users.${u} is not a bcrypt hash (a password in plain text?). Put random.RandomPassword's bcryptHash there.`,
              r.urn,
            );
      }
      if (r.type === SERVICE) {
        const type = dig(props(r), "spec", "type");
        const selector = dig(props(r), "spec", "selector");
        if ((type === "LoadBalancer" || type === "NodePort") && isObject(selector)) {
          const names = Object.values(selector).filter((v): v is string => typeof v === "string");
          const exposed = names.find((n) => UNAUTHENTICATED_APPS.includes(n));
          if (exposed)
            report(
              `Service "${r.name}" (type ${type}) exposes ${exposed} outside the namespace. Keep metrics endpoints ClusterIP and reach them through kubectl port-forward or an authenticating proxy.`,
              r.urn,
            );
        }
      }
      if (r.type === CONFIGMAP && cfg.dropLabels.length) {
        const yml = stringData(props(r), false)["prometheus.yml"];
        if (typeof yml !== "string" || isUnknown(yml)) continue;
        const doc = parseYamlOnce(yml) as { scrape_configs?: Array<Record<string, unknown>> };
        for (const sc of doc.scrape_configs ?? []) {
          const relabel = Array.isArray(sc["metric_relabel_configs"])
            ? (sc["metric_relabel_configs"] as unknown[])
            : [];
          const drops = relabel
            .filter((x): x is Record<string, unknown> => isObject(x) && x["action"] === "labeldrop")
            .map((x) => new RegExp(`^(?:${String(x["regex"] ?? "")})$`));
          const missing = cfg.dropLabels.filter((l) => !drops.some((re) => re.test(l)));
          if (missing.length)
            report(
              `ConfigMap "${r.name}" (prometheus.yml): scrape config ${String(sc["job_name"])} keeps the label(s) ${missing.join(", ")}, which could carry secrets or personal data. Add a metric_relabel_configs entry { action: labeldrop, regex: ${cfg.dropLabels.join("|")} } (security/policies/compliance-rules.yaml metrics.dropLabels).`,
              r.urn,
            );
        }
      }
    }
  },
};

export const metricsAuthPolicies = [metricsEndpointsProtected];

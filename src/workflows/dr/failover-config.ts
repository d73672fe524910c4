/**
 * The failover drill's configuration: the stage's OWN rendered prometheus.yml, alertmanager.yml
 * and Alertmanager arguments, with only what cannot exist on loopback rewritten (pure, so the
 * tests check each rewrite):
 *
 * - Alertmanager arguments (src/components/alertmanager-cluster.ts): the cluster listen and
 *   advertise addresses become each replica's loopback gossip port, `--cluster.peer=<peers
 *   Service>` becomes one `--cluster.peer` per other replica (what the Service's DNS resolves to
 *   in the cluster); every other argument (peer timeout…) is kept unless the drill overrides it.
 * - prometheus.yml: `global.external_labels` and `alerting` are the stage's. Alertmanager
 *   discovery is mapped as it resolves in the cluster: DNS discovery of the peers Service reaches
 *   every replica, a static target of the Alertmanager Service reaches one of them (a Service
 *   balances), so a stage that sends through the Service loses alerts in the drill as it would in
 *   the cluster. Scrape and evaluation run every second, the only scrape job is the drill's
 *   target and the only rules are the drill's alerts.
 * - alertmanager.yml: routing, grouping, inhibition and repeat intervals are the stage's; every
 *   receiver that notifies anyone becomes a webhook to the drill's receiver on loopback, and
 *   `group_wait` is shortened to the drill's (so a run takes seconds, not the stage's 30 s).
 */
import { parse as parseYaml, stringify } from "yaml";
import { alertmanagerPeersHost } from "../../components/alertmanager-cluster.js";
import { SERVICES } from "../../components/names.js";
import { serviceHost } from "../../components/common.js";
import type { StageConfig } from "../../config/schema.js";

type Obj = Record<string, unknown>;

/** Loopback addresses of one Alertmanager replica. */
export interface AlertmanagerEndpoint {
  /** host:port of its web API. */
  web: string;
  /** host:port of its gossip listener. */
  cluster: string;
}

/** The stage's Alertmanager arguments for replica `index` on loopback. */
export function loopbackAlertmanagerArgs(
  stageArgs: string[],
  endpoints: AlertmanagerEndpoint[],
  index: number,
  files: { config: string; storage: string; webConfig?: string },
  overrides: { peerTimeout?: string } = {},
): { args: string[]; clustered: boolean } {
  const me = endpoints[index]!;
  const out: string[] = [];
  let clustered = false;
  for (const arg of stageArgs) {
    const [flag, ...rest] = arg.split("=");
    const value = rest.join("=");
    switch (flag) {
      case "--config.file":
        out.push(`--config.file=${files.config}`);
        break;
      case "--storage.path":
        out.push(`--storage.path=${files.storage}`);
        break;
      case "--web.config.file":
        // The stage's basic auth, with the drill's own credentials.
        if (!files.webConfig)
          throw new Error(
            "the stage's Alertmanager asks for basic auth: pass the drill's web config",
          );
        out.push(`--web.config.file=${files.webConfig}`);
        break;
      case "--cluster.listen-address":
        out.push(value === "" ? arg : `--cluster.listen-address=${me.cluster}`);
        break;
      case "--cluster.advertise-address":
        out.push(`--cluster.advertise-address=${me.cluster}`);
        break;
      case "--cluster.peer":
        clustered = true;
        for (const [i, e] of endpoints.entries()) {
          if (i !== index) out.push(`--cluster.peer=${e.cluster}`);
        }
        break;
      case "--cluster.peer-timeout":
        out.push(`--cluster.peer-timeout=${overrides.peerTimeout ?? value}`);
        break;
      default:
        out.push(arg);
    }
  }
  if (overrides.peerTimeout && !out.some((a) => a.startsWith("--cluster.peer-timeout="))) {
    out.push(`--cluster.peer-timeout=${overrides.peerTimeout}`);
  }
  out.push(`--web.listen-address=${me.web}`, `--web.external-url=http://${me.web}/`);
  return { args: out, clustered };
}

/** The `--cluster.peer-timeout` of the stage's arguments, or Alertmanager's default 15s. */
export function peerTimeoutOf(stageArgs: string[]): string {
  const a = stageArgs.find((x) => x.startsWith("--cluster.peer-timeout="));
  return a ? a.slice("--cluster.peer-timeout=".length) : "15s";
}

/** Milliseconds of a Prometheus/Alertmanager duration like `15s`, `500ms`, `1m`. */
export function durationMs(d: string): number {
  const m = /^(\d+)(ms|s|m|h)$/.exec(d);
  if (!m) throw new Error(`not a duration: ${d}`);
  const n = Number(m[1]);
  return n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
}

/**
 * Which loopback Alertmanagers one `alertmanagers` entry of the stage's prometheus.yml reaches:
 * the peers Service by DNS → every replica; the Alertmanager Service → the first only (one
 * behind a balancer); anything else → none. Returns the reached indexes and how.
 */
export function reachedAlertmanagers(
  cfg: StageConfig,
  entry: Obj,
  count: number,
): { reached: number[]; via: string } {
  const peers = alertmanagerPeersHost(cfg);
  const svc = serviceHost(SERVICES.alertmanager.name, cfg.namespace);
  const dns = (entry["dns_sd_configs"] as Obj[] | undefined) ?? [];
  const statics = (entry["static_configs"] as Obj[] | undefined) ?? [];
  const names = dns.flatMap((d) => (d["names"] as string[] | undefined) ?? []);
  const targets = statics.flatMap((s) => (s["targets"] as string[] | undefined) ?? []);
  if (names.includes(peers)) {
    return { reached: [...Array(count).keys()], via: `DNS discovery of ${peers}` };
  }
  if (targets.some((t) => t.startsWith(`${svc}:`))) {
    return { reached: [0], via: `the load-balanced Service ${svc} (one replica per alert)` };
  }
  return { reached: [], via: `neither ${peers} nor ${svc}: ${JSON.stringify(entry)}` };
}

/** The drill's prometheus.yml: the stage's external labels and alerting, mapped to loopback. */
export function loopbackPrometheusConfig(
  cfg: StageConfig,
  stageYml: string,
  endpoints: AlertmanagerEndpoint[],
  drill: { target: string; rulesFile: string; job: string; passwordFile?: string },
): { yml: string; reached: number[]; via: string[] } {
  const doc = parseYaml(stageYml) as Obj;
  const global = { ...((doc["global"] as Obj | undefined) ?? {}) };
  const alerting = { ...((doc["alerting"] as Obj | undefined) ?? {}) };
  const reached = new Set<number>();
  const via: string[] = [];
  const ams = ((alerting["alertmanagers"] as Obj[] | undefined) ?? []).map((entry) => {
    const r = reachedAlertmanagers(cfg, entry, endpoints.length);
    r.reached.forEach((i) => reached.add(i));
    via.push(r.via);
    const { dns_sd_configs: _d, static_configs: _s, ...rest } = entry;
    // The stage's basic auth to Alertmanager, with the drill's password file.
    const auth = rest["basic_auth"] as Obj | undefined;
    if (auth?.["password_file"] !== undefined) {
      if (!drill.passwordFile)
        throw new Error("the stage's alerting block uses a password file: pass the drill's");
      rest["basic_auth"] = { ...auth, password_file: drill.passwordFile };
    }
    return { ...rest, static_configs: [{ targets: r.reached.map((i) => endpoints[i]!.web) }] };
  });
  const out = {
    global: { ...global, scrape_interval: "1s", evaluation_interval: "1s" },
    rule_files: [drill.rulesFile],
    alerting: { ...alerting, alertmanagers: ams },
    scrape_configs: [{ job_name: drill.job, static_configs: [{ targets: [drill.target] }] }],
  };
  return { yml: stringify(out), reached: [...reached].sort(), via };
}

/** The drill's alertmanager.yml: the stage's routing, every notifying receiver → `webhookUrl`. */
export function loopbackAlertmanagerConfig(
  stageYml: string,
  webhookUrl: string,
  groupWait: string,
): string {
  const doc = parseYaml(stageYml) as Obj;
  const receivers = ((doc["receivers"] as Obj[] | undefined) ?? []).map((r) => {
    const configs = Object.keys(r).filter((k) => k.endsWith("_configs"));
    if (configs.length === 0) return r;
    const sendResolved = configs.some((k) =>
      ((r[k] as Obj[] | undefined) ?? []).some((c) => c["send_resolved"] === true),
    );
    return { name: r["name"], webhook_configs: [{ url: webhookUrl, send_resolved: sendResolved }] };
  });
  const shorten = (route: Obj): Obj => ({
    ...route,
    ...(route["group_wait"] !== undefined ? { group_wait: groupWait } : {}),
    ...(Array.isArray(route["routes"]) ? { routes: (route["routes"] as Obj[]).map(shorten) } : {}),
  });
  const route = shorten({ ...((doc["route"] as Obj | undefined) ?? {}), group_wait: groupWait });
  return stringify({ ...doc, route, receivers });
}

/** The drill's alert rules: one alert per round, labelled with the drill id. */
export function drillRules(drillId: string, rounds: readonly string[], metric: string): string {
  return stringify({
    groups: [
      {
        name: "goldengoose-failover-drill",
        rules: rounds.map((r) => ({
          alert: drillAlertName(r),
          expr: `${metric}{round="${r}"} == 1`,
          labels: { severity: "warning", drill: drillId },
          annotations: { summary: `failover drill ${drillId}: round ${r}` },
        })),
      },
    ],
  });
}

export const drillAlertName = (round: string) =>
  `GoldenGooseFailoverDrill${round
    .split("-")
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join("")}`;

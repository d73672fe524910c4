import type { StageConfig } from "../config/schema.js";
import { serviceHost } from "./common.js";
import { SERVICES } from "./names.js";
import { ALERTMANAGER_WEB_CONFIG_FILE, metricsBasicAuth } from "./metrics-auth.js";

/**
 * Alertmanager high availability, as pure functions so the failover drill
 * (`goose dr failover <stage>`) runs the very arguments and alerting block the stage renders.
 *
 * With `prometheus.alertmanagerReplicas` > 1 the replicas form a gossip cluster: each listens on
 * the cluster port, advertises its pod IP and finds the others through the headless Service
 * `alertmanager-peers` (published before the pods are ready, so peers find each other while
 * starting). The cluster shares silences and the notification log: the replica first in the
 * peer order sends, each other one waits its position × the peer timeout and sends only when the
 * log shows nobody did, so a notification goes out once while any replica lives. Every Prometheus
 * replica sends every alert to every Alertmanager replica (DNS service discovery of the headless
 * Service), which is what Alertmanager's HA design requires: never through a load-balanced
 * Service. One replica: clustering is switched off (`--cluster.listen-address=`).
 */

/** The gossip port and the headless Service the replicas find each other through. */
export const ALERTMANAGER_CLUSTER = { service: "alertmanager-peers", port: 9094 } as const;

/** How long a replica waits per position in the peer order before sending (Alertmanager's default). */
export const ALERTMANAGER_PEER_TIMEOUT = "15s";

/** Where the config and data are mounted in the Alertmanager container. */
export const ALERTMANAGER_CONFIG_FILE = "/etc/alertmanager/alertmanager.yml";
export const ALERTMANAGER_DATA_DIR = "/alertmanager";

/** Whether the stage runs Alertmanager as a cluster. */
export function alertmanagerClustered(cfg: StageConfig): boolean {
  return cfg.prometheus.alertmanagerReplicas > 1;
}

/** DNS name of the headless peers Service (resolves to every Alertmanager pod's IP). */
export function alertmanagerPeersHost(cfg: StageConfig): string {
  return serviceHost(ALERTMANAGER_CLUSTER.service, cfg.namespace);
}

/**
 * The Alertmanager container's arguments. `$(POD_IP)` is expanded by the kubelet from the
 * container's POD_IP variable (the pod's IP, from the downward API).
 */
export function alertmanagerArgs(cfg: StageConfig): string[] {
  const base = [
    `--config.file=${ALERTMANAGER_CONFIG_FILE}`,
    `--storage.path=${ALERTMANAGER_DATA_DIR}`,
    // Basic auth on every endpoint, with Prometheus' credentials (src/components/metrics-auth.ts).
    `--web.config.file=${ALERTMANAGER_WEB_CONFIG_FILE}`,
  ];
  if (!alertmanagerClustered(cfg)) return [...base, "--cluster.listen-address="];
  const port = ALERTMANAGER_CLUSTER.port;
  return [
    ...base,
    `--cluster.listen-address=0.0.0.0:${port}`,
    `--cluster.advertise-address=$(POD_IP):${port}`,
    `--cluster.peer=${alertmanagerPeersHost(cfg)}:${port}`,
    `--cluster.peer-timeout=${ALERTMANAGER_PEER_TIMEOUT}`,
  ];
}

/**
 * prometheus.yml's `alerting` block: every Alertmanager replica by DNS discovery of the peers
 * Service when clustered, else the Alertmanager Service.
 */
export function prometheusAlertingConfig(cfg: StageConfig): Record<string, unknown> {
  const { name, port } = SERVICES.alertmanager;
  // Alertmanager asks for basic auth: Prometheus sends its own credentials.
  const basic_auth = metricsBasicAuth();
  if (!alertmanagerClustered(cfg)) {
    return {
      alertmanagers: [
        {
          basic_auth,
          static_configs: [{ targets: [`${serviceHost(name, cfg.namespace)}:${port}`] }],
        },
      ],
    };
  }
  return {
    alertmanagers: [
      { basic_auth, dns_sd_configs: [{ names: [alertmanagerPeersHost(cfg)], type: "A", port }] },
    ],
  };
}

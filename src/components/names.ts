import type { StageConfig } from "../config/schema.js";
import { serviceHost } from "./common.js";

/**
 * Fixed in-cluster names of the stage's services and ports. Fixed (not auto-named) so that
 * prometheus.yml, the backup script and the Grafana datasource can name each other.
 */
export const SERVICES = {
  prometheus: { name: "prometheus", port: 9090 },
  alertmanager: { name: "alertmanager", port: 9093 },
  pushgateway: { name: "pushgateway", port: 9091 },
  grafana: { name: "grafana", port: 3000 },
} as const;

export type ServiceKey = keyof typeof SERVICES;

export function serviceUrl(cfg: StageConfig, key: ServiceKey): string {
  const s = SERVICES[key];
  return `http://${serviceHost(s.name, cfg.namespace)}:${s.port}`;
}

export function serviceAddress(cfg: StageConfig, key: ServiceKey): string {
  const s = SERVICES[key];
  return `${serviceHost(s.name, cfg.namespace)}:${s.port}`;
}

/** The scanner's ServiceAccount (its IAM role trusts exactly it, backup.ts). */
export const SCANNER_SERVICE_ACCOUNT = "scanner";

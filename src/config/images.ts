/**
 * Every image a stage deploys, by role: the one list the scanner scans, the SBOM lists and the
 * vulnerability gate reads (a new image added to a component belongs here, or it goes unscanned).
 */
import type { StageConfig } from "./schema.js";

export interface StageImage {
  role: string;
  ref: string;
}

export function stageImages(cfg: StageConfig): StageImage[] {
  return [
    { role: "prometheus", ref: cfg.prometheus.image },
    { role: "alertmanager", ref: cfg.prometheus.alertmanagerImage },
    { role: "pushgateway", ref: cfg.prometheus.pushgatewayImage },
    { role: "prometheus-proxy", ref: cfg.prometheus.proxyImage },
    { role: "grafana", ref: cfg.grafana.image },
    { role: "backup", ref: cfg.backup.image },
    { role: "scanner", ref: cfg.scanner.image },
  ];
}

/** The distinct image references of a stage, in role order. */
export function stageImageRefs(cfg: StageConfig): string[] {
  return [...new Set(stageImages(cfg).map((i) => i.ref))];
}

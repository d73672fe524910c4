import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { Severity, StageConfig } from "../config/schema.js";
import { SCANNER_METRICS } from "../config/metrics.js";
import {
  containerResources,
  containerSecurity,
  meta,
  podSecurity,
  selectorLabels,
} from "./common.js";
import { serviceUrl } from "./names.js";
import { blackoutPush } from "./blackout.js";

export interface ScannerArgs {
  /** The validated stage configuration. */
  config: StageConfig;
  /** Namespace the objects go into. */
  namespace: pulumi.Input<string>;
  /** Labels every object carries. */
  labels: Record<string, string>;
}

/** The scan Job's activeDeadlineSeconds: the pod is stopped then, and its blackout expires. */
export const SCAN_DEADLINE_SECONDS = 3600;

const SEVERITY_ORDER: Severity[] = ["LOW", "MEDIUM", "HIGH", "CRITICAL"];

/** The threshold and every severity above it, as Trivy's `--severity` takes them. */
export function severitiesFrom(threshold: Severity): Severity[] {
  return SEVERITY_ORDER.slice(SEVERITY_ORDER.indexOf(threshold));
}

/** Every image the stage deploys: what the scanner scans (and what the SBOM lists). */
export function stageImages(cfg: StageConfig): string[] {
  const all = [
    cfg.prometheus.image,
    cfg.prometheus.alertmanagerImage,
    cfg.prometheus.pushgatewayImage,
    cfg.prometheus.proxyImage,
    cfg.grafana.image,
    cfg.backup.image,
    cfg.scanner.image,
  ];
  return [...new Set(all)];
}

/**
 * The scan job: Trivy over each image, a JSON report per image on the reports volume, counts
 * by severity pushed to the Pushgateway, reports older than 30 days removed. Exported for testing.
 */
export function scannerScript(cfg: StageConfig): string {
  const sev = severitiesFrom(cfg.scanner.severityThreshold);
  // The blackout expires with the Job's activeDeadlineSeconds; busybox sh runs the EXIT trap on
  // SIGTERM only when TERM is trapped too.
  return `set -u
now=$(date +%s); rc=0
deadline=$(( now + ${SCAN_DEADLINE_SECONDS} ))
end_blackout() { ${blackoutPush("scan", 0, "wget")}; }
${blackoutPush("scan", 1, "wget", { deadline: "$deadline" })}
trap end_blackout EXIT
trap 'exit 143' TERM INT
out="/reports/$(date -u +%Y%m%dT%H%M%SZ)"; mkdir -p "$out"
m=/tmp/metrics
echo "# TYPE ${SCANNER_METRICS.vulnerabilities} gauge" > "$m"
for img in $IMAGES; do
  f="$out/$(echo "$img" | tr '/:@' '___').json"
  if trivy image --quiet --cache-dir /tmp/trivy --format json --severity "${sev.join(",")}" --output "$f" "$img"; then
    for s in ${sev.join(" ")}; do
      n=$(grep -o "\\"Severity\\": *\\"$s\\"" "$f" | wc -l)
      echo "${SCANNER_METRICS.vulnerabilities}{image=\\"$img\\",severity=\\"$s\\"} $n" >> "$m"
    done
  else
    echo "scanner: scan of $img failed" >&2; rc=1
  fi
done
echo "# TYPE ${SCANNER_METRICS.lastStatus} gauge" >> "$m"
if [ $rc = 0 ]; then
  echo "${SCANNER_METRICS.lastStatus} 1" >> "$m"
  echo "# TYPE ${SCANNER_METRICS.lastSuccess} gauge" >> "$m"
  echo "${SCANNER_METRICS.lastSuccess} $now" >> "$m"
else
  echo "${SCANNER_METRICS.lastStatus} 0" >> "$m"
fi
wget -q -O /dev/null --post-file="$m" "$PUSHGATEWAY/metrics/job/goldengoose-scanner/stage/$STAGE" || echo "scanner: could not push metrics" >&2
find /reports -mindepth 1 -maxdepth 1 -type d -mtime +30 -exec rm -rf {} +
exit $rc
`;
}

/** A CronJob running Trivy (pinned) over the stage's images, keeping reports and metrics. */
export class Scanner extends pulumi.ComponentResource {
  public readonly cronJobName: pulumi.Output<string>;
  /** The images it scans. */
  public readonly images: pulumi.Output<string[]>;

  constructor(name: string, args: ScannerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("goldengoose:security:Scanner", name, {}, opts);
    const cfg = args.config;
    const s = cfg.scanner;
    const ns = args.namespace;
    const child = { parent: this };
    const labels = { ...args.labels, ...selectorLabels("scanner", "scanner") };
    const images = stageImages(cfg);

    const reports = new k8s.core.v1.PersistentVolumeClaim(
      `${name}-reports`,
      {
        metadata: meta("scanner-reports", ns, labels),
        spec: {
          accessModes: ["ReadWriteOnce"],
          storageClassName: cfg.storageClass,
          resources: { requests: { storage: "2Gi" } },
        },
      },
      child,
    );
    const sa = new k8s.core.v1.ServiceAccount(
      `${name}-sa`,
      { metadata: meta("scanner", ns, labels), automountServiceAccountToken: false },
      child,
    );
    const cron = new k8s.batch.v1.CronJob(
      `${name}-job`,
      {
        metadata: meta("scanner", ns, labels),
        spec: {
          schedule: s.schedule,
          concurrencyPolicy: "Forbid",
          successfulJobsHistoryLimit: 3,
          failedJobsHistoryLimit: 3,
          startingDeadlineSeconds: 600,
          jobTemplate: {
            metadata: { labels },
            spec: {
              backoffLimit: 1,
              activeDeadlineSeconds: SCAN_DEADLINE_SECONDS,
              template: {
                metadata: { labels },
                spec: {
                  serviceAccountName: sa.metadata.name,
                  automountServiceAccountToken: false,
                  restartPolicy: "Never",
                  securityContext: podSecurity(10001),
                  containers: [
                    {
                      name: "trivy",
                      image: s.image,
                      command: ["/bin/sh", "-c", scannerScript(cfg)],
                      env: [
                        { name: "IMAGES", value: images.join(" ") },
                        { name: "STAGE", value: cfg.stage },
                        { name: "PUSHGATEWAY", value: serviceUrl(cfg, "pushgateway") },
                        { name: "HOME", value: "/tmp" },
                      ],
                      resources: containerResources(s.resources),
                      securityContext: containerSecurity(),
                      volumeMounts: [
                        { name: "reports", mountPath: "/reports" },
                        { name: "tmp", mountPath: "/tmp" },
                      ],
                    },
                  ],
                  volumes: [
                    {
                      name: "reports",
                      persistentVolumeClaim: { claimName: reports.metadata.name },
                    },
                    { name: "tmp", emptyDir: {} },
                  ],
                },
              },
            },
          },
        },
      },
      child,
    );
    this.cronJobName = cron.metadata.name;
    this.images = pulumi.output(images);
    this.registerOutputs({ cronJobName: this.cronJobName, images: this.images });
  }
}

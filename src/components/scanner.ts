import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { Severity, StageConfig } from "../config/schema.js";
import type { ScanDepth } from "../audit/schemas.js";
import { SCANNER_METRICS } from "../config/metrics.js";
import { stageImageRefs } from "../config/images.js";
import {
  containerResources,
  containerSecurity,
  meta,
  podSecurity,
  selectorLabels,
} from "./common.js";
import { serviceUrl } from "./names.js";
import { blackoutPush } from "./blackout.js";
import { loadComplianceRules } from "../audit/rules.js";
import { DEFAULT_REPO_ROOT } from "../monitoring/files.js";

export interface ScannerArgs {
  /** The validated stage configuration. */
  config: StageConfig;
  /** Namespace the objects go into. */
  namespace: pulumi.Input<string>;
  /** Labels every object carries. */
  labels: Record<string, string>;
  /** Scan depth (default: the stage's `scan.depth` in security/policies/compliance-rules.yaml). */
  depth?: readonly ScanDepth[];
}

/** The scan Job's activeDeadlineSeconds: the pod is stopped then, and its blackout expires. */
export const SCAN_DEADLINE_SECONDS = 3600;

const SEVERITY_ORDER: Severity[] = ["LOW", "MEDIUM", "HIGH", "CRITICAL"];

/** The threshold and every severity above it, as Trivy's `--severity` takes them. */
export function severitiesFrom(threshold: Severity): Severity[] {
  return SEVERITY_ORDER.slice(SEVERITY_ORDER.indexOf(threshold));
}

/** Every image the stage deploys: what the scanner scans (and what the SBOM lists). */
export const stageImages = stageImageRefs;

/** Trivy's `--scanners` and `--pkg-types` for a scan depth of compliance-rules.yaml. */
export function trivyDepthFlags(depth: readonly ScanDepth[]): string {
  const scanners: string[] = [];
  const pkgTypes: string[] = [];
  if (depth.includes("vuln-os")) pkgTypes.push("os");
  if (depth.includes("vuln-library")) pkgTypes.push("library");
  if (pkgTypes.length) scanners.push("vuln");
  for (const d of ["secret", "misconfig", "license"] as const)
    if (depth.includes(d)) scanners.push(d);
  return (
    `--scanners ${scanners.join(",")}` +
    (pkgTypes.length ? ` --pkg-types ${pkgTypes.join(",")}` : "")
  );
}

/** Where the scan job keeps its results, under the reports volume (or a bucket with the same layout). */
export const SCAN_LAYOUT = {
  /** The newest run of a stage: `goldengoose.scan.run/v1`. */
  latest: (stage: string) => `scans/${stage}/latest.json`,
  /** One image digest's result (`goldengoose.scan.result/v1`): when it was scanned, counts. */
  result: (stage: string, key: string) => `scans/${stage}/results/${key}.json`,
  /** Trivy's own JSON report of that digest. */
  report: (stage: string, key: string) => `scans/${stage}/reports/${key}.trivy.json`,
};

/**
 * The scan job (POSIX sh: busybox in the Trivy image, dash in the tests). Environment: IMAGES,
 * STAGE, PUSHGATEWAY, MODE (`full` | `incremental`), PARALLELISM, CACHE_MAX_AGE_HOURS; REPORTS
 * (default /reports) and WORK (default /tmp) for where it writes; PLAIN_HTTP_REGISTRIES (hosts
 * asked over http, for a registry on loopback).
 *
 * 1. Each image's digest is asked of its registry (manifest endpoint, anonymous bearer token when
 *    challenged; an `@sha256:` reference is its own digest).
 * 2. Incremental: an image whose digest has a result of the same depth younger than
 *    CACHE_MAX_AGE_HOURS is not scanned again (a full run rescans all). An unresolved digest is
 *    always scanned.
 * 3. The rest are dealt round-robin into PARALLELISM lanes that run side by side, one Trivy at a
 *    time each: never more than PARALLELISM scans at once. The vulnerability database is
 *    downloaded once before (only when something is scanned); the scans skip its update and keep
 *    their layer cache in memory, so no two Trivy processes share a lock.
 * 4. Per digest: Trivy's JSON report and a result file; per run: `scans/<stage>/latest.json`
 *    (what goose's vulnerability gate reads). Counts by severity per image, the run's status and
 *    last success go to the Pushgateway. Files older than 30 days that no run touched are removed.
 * Exported for testing.
 */
export function scannerScript(cfg: StageConfig, depth: readonly ScanDepth[]): string {
  const sev = severitiesFrom(cfg.scanner.severityThreshold);
  const depthKey = [...depth].sort().join("+");
  const V = SCANNER_METRICS.vulnerabilities;
  // The blackout expires with the Job's activeDeadlineSeconds; busybox sh runs the EXIT trap on
  // SIGTERM only when TERM is trapped too.
  return `set -u
now=$(date +%s); rc=0
deadline=$(( now + ${SCAN_DEADLINE_SECONDS} ))
end_blackout() { ${blackoutPush("scan", 0, "wget")}; }
${blackoutPush("scan", 1, "wget", { deadline: "$deadline" })}
trap end_blackout EXIT
trap 'exit 143' TERM INT
MODE=\${MODE:-incremental}; P=\${PARALLELISM:-1}; MAXAGE=$(( \${CACHE_MAX_AGE_HOURS:-24} * 3600 ))
DEPTH="${depthKey}"; SEV="${sev.join(",")}"
R="\${REPORTS:-/reports}/scans/$STAGE"; W="\${WORK:-/tmp}/goose-scan"
rm -rf "$W"; mkdir -p "$R/results" "$R/reports" "$W"
ACCEPT="application/vnd.oci.image.index.v1+json,application/vnd.docker.distribution.manifest.list.v2+json,application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"
header() { grep -i "^ *$1:" | head -1 | sed 's/^[^:]*: *//' | tr -d '\\r'; }
# The digest the registry serves for an image reference (empty when it cannot tell).
digest_of() {
  case "$1" in *@sha256:*) echo "\${1##*@}"; return;; esac
  ref=$1; name=\${ref%:*}; tag=\${ref##*:}
  case "$tag" in */*) name=$ref; tag=latest;; esac
  [ "$name" = "$ref" ] && tag=latest
  host=\${name%%/*}; repo=\${name#*/}
  case "$host" in *.*|*:*|localhost) ;; *) host=docker.io; repo=$name;; esac
  if [ "$host" = docker.io ]; then
    host=registry-1.docker.io; case "$repo" in */*) ;; *) repo=library/$repo;; esac
  fi
  scheme=https; case " \${PLAIN_HTTP_REGISTRIES:-} " in *" $host "*) scheme=http;; esac
  url="$scheme://$host/v2/$repo/manifests/$tag"
  h=$(wget -S -T 20 -O /dev/null --header "Accept: $ACCEPT" "$url" 2>&1 </dev/null)
  d=$(echo "$h" | header docker-content-digest)
  if [ -z "$d" ]; then
    ch=$(echo "$h" | header www-authenticate)
    realm=$(echo "$ch" | sed -n 's/.*realm="\\([^"]*\\)".*/\\1/p')
    service=$(echo "$ch" | sed -n 's/.*service="\\([^"]*\\)".*/\\1/p')
    [ -n "$realm" ] || return 0
    tok=$(wget -q -T 20 -O - "$realm?service=$service&scope=repository:$repo:pull" </dev/null | sed -n 's/.*"token" *: *"\\([^"]*\\)".*/\\1/p')
    h=$(wget -S -T 20 -O /dev/null --header "Accept: $ACCEPT" --header "Authorization: Bearer $tok" "$url" 2>&1 </dev/null)
    d=$(echo "$h" | header docker-content-digest)
  fi
  case "$d" in sha256:*) echo "$d";; esac
}
field() { sed -n "s/.*\\"$1\\": *\\"*\\([^\\",}]*\\).*/\\1/p" "$2" | head -1; }
# 1-2: digests, and what an incremental run can take from the cache.
: > "$W/todo"; : > "$W/done"
for img in $IMAGES; do
  d=$(digest_of "$img")
  if [ -n "$d" ]; then key=\${d#sha256:}; else key="unresolved-$(echo "$img" | tr '/:@' '___')"; fi
  res="$R/results/$key.json"
  if [ "$MODE" = incremental ] && [ -n "$d" ] && [ -f "$res" ] && [ "$(field depth "$res")" = "$DEPTH" ] \\
    && [ $(( now - $(field scannedAt "$res") )) -lt $MAXAGE ]; then
    echo "cached $img $key $d" >> "$W/done"
  else
    echo "$img $key $d" >> "$W/todo"
  fi
done
# 3: bounded parallel scans.
scan_one() {
  out="$R/reports/$2.trivy.json"
  if trivy image --quiet --cache-dir "$W/trivy" --cache-backend memory --skip-db-update --format json ${trivyDepthFlags(depth)} --severity "$SEV" --output "$out.tmp" "$1" </dev/null; then
    mv "$out.tmp" "$out"; at=$(date +%s)
    c=""; for s in ${sev.join(" ")}; do c="$c\\"$s\\": $(grep -o "\\"Severity\\": *\\"$s\\"" "$out" | wc -l), "; done
    printf '{"kind": "goldengoose.scan.result/v1", "image": "%s", "digest": "%s", "depth": "%s", "scannedAt": %s, "mode": "%s", "counts": {%s}}\\n' \\
      "$1" "$3" "$DEPTH" "$at" "$MODE" "\${c%, }" > "$R/results/$2.json.tmp" && mv "$R/results/$2.json.tmp" "$R/results/$2.json"
    echo "scanned $1 $2 $3"
  else
    rm -f "$out.tmp"; echo "scanner: scan of $1 failed" >&2; echo "failed $1 $2 $3"
  fi
}
if [ -s "$W/todo" ]; then
  if ! trivy image --quiet --cache-dir "$W/trivy" --download-db-only </dev/null; then
    echo "scanner: could not download the vulnerability database" >&2; rc=1
  fi
  i=0
  while read -r img key d; do
    echo "$img $key $d" >> "$W/lane.$(( i % P ))"; i=$(( i + 1 ))
  done < "$W/todo"
  if [ $rc = 0 ]; then
    for l in "$W"/lane.*; do
      ( while read -r img key d; do scan_one "$img" "$key" "$d"; done < "$l" > "$l.out" ) &
    done
    wait
    cat "$W"/lane.*.out >> "$W/done"
  else
    sed 's/^/failed /' "$W/todo" >> "$W/done"
  fi
fi
# 4: the run's index, metrics, retention.
m="$W/metrics"; echo "# TYPE ${V} gauge" > "$m"
entries=""
while read -r result img key d; do
  res="$R/results/$key.json"; at=0
  if [ "$result" = failed ]; then rc=1
  else
    at=$(field scannedAt "$res"); touch "$res" "$R/reports/$key.trivy.json"
    for s in ${sev.join(" ")}; do
      echo "${V}{image=\\"$img\\",severity=\\"$s\\"} $(field "$s" "$res")" >> "$m"
    done
  fi
  entries="$entries{\\"image\\": \\"$img\\", \\"digest\\": \\"$d\\", \\"key\\": \\"$key\\", \\"result\\": \\"$result\\", \\"scannedAt\\": $at}, "
done < "$W/done"
printf '{"kind": "goldengoose.scan.run/v1", "version": 1, "stage": "%s", "mode": "%s", "depth": "%s", "startedAt": %s, "finishedAt": %s, "images": [%s]}\\n' \\
  "$STAGE" "$MODE" "$DEPTH" "$now" "$(date +%s)" "\${entries%, }" > "$R/latest.json.tmp" && mv "$R/latest.json.tmp" "$R/latest.json"
echo "# TYPE ${SCANNER_METRICS.lastStatus} gauge" >> "$m"
if [ $rc = 0 ]; then
  echo "${SCANNER_METRICS.lastStatus} 1" >> "$m"
  echo "# TYPE ${SCANNER_METRICS.lastSuccess} gauge" >> "$m"
  echo "${SCANNER_METRICS.lastSuccess} $now" >> "$m"
else
  echo "${SCANNER_METRICS.lastStatus} 0" >> "$m"
fi
wget -q -O /dev/null --post-file="$m" "$PUSHGATEWAY/metrics/job/goldengoose-scanner/stage/$STAGE" || echo "scanner: could not push metrics" >&2
find "$R/results" "$R/reports" -type f -mtime +30 -exec rm -f {} +
exit $rc
`;
}

/**
 * Two CronJobs running Trivy (pinned) over the stage's images, sharing the reports volume: the
 * incremental scans (`scanner.schedule`) and the full scan off-peak (`scanner.fullScanSchedule`).
 */
export class Scanner extends pulumi.ComponentResource {
  public readonly cronJobName: pulumi.Output<string>;
  public readonly fullScanCronJobName: pulumi.Output<string>;
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
    const depth = args.depth ?? loadComplianceRules(DEFAULT_REPO_ROOT).stages[cfg.stage].scan.depth;
    const script = scannerScript(cfg, depth);

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
    const cronJob = (suffix: string, mode: "incremental" | "full", schedule: string) =>
      new k8s.batch.v1.CronJob(
        `${name}-${suffix}`,
        {
          metadata: meta(mode === "full" ? "scanner-full" : "scanner", ns, labels),
          spec: {
            schedule,
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
                        command: ["/bin/sh", "-c", script],
                        env: [
                          { name: "IMAGES", value: images.join(" ") },
                          { name: "STAGE", value: cfg.stage },
                          { name: "PUSHGATEWAY", value: serviceUrl(cfg, "pushgateway") },
                          { name: "MODE", value: mode },
                          { name: "PARALLELISM", value: String(s.parallelism) },
                          { name: "CACHE_MAX_AGE_HOURS", value: String(s.cacheMaxAgeHours) },
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
    const cron = cronJob("job", "incremental", s.schedule);
    const full = cronJob("full-job", "full", s.fullScanSchedule);
    this.cronJobName = cron.metadata.name;
    this.fullScanCronJobName = full.metadata.name;
    this.images = pulumi.output(images);
    this.registerOutputs({ cronJobName: this.cronJobName, images: this.images });
  }
}

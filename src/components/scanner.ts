import * as pulumi from "@pulumi/pulumi";
import { k8s } from "./k8s.js";
import * as awsConfig from "@pulumi/aws/config/index.js";
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
import { SCANNER_SERVICE_ACCOUNT, serviceUrl } from "./names.js";
import { blackoutPush } from "./blackout.js";
import { curlAuthPush, pushgatewayClient } from "./pushgateway-auth.js";
import type { ScanUpload } from "./backup.js";
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
  /** The Secret with the Pushgateway's password (pushgateway-auth.ts). */
  pushgatewayAuthSecret: pulumi.Input<string>;
  /** Where to upload the results (the stage's backup bucket), when the stage has one. */
  upload?: ScanUpload;
}

/** Where the registry credentials (a dockerconfigjson Secret) are mounted: DOCKER_CONFIG. */
export const DOCKER_CONFIG_DIR = "/etc/goose/registry";

/** The scan Job's activeDeadlineSeconds: the pod is stopped then, and its blackout expires. */
export const SCAN_DEADLINE_SECONDS = 3600;

/** The prepare and publish containers: curl and a few aws CLI calls. */
const SMALL = {
  requests: { cpu: "50m", memory: "64Mi" },
  limits: { cpu: "500m", memory: "256Mi" },
};

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

/** The files the scan job's three steps hand each other under WORK (an emptyDir in the pod). */
export const SCAN_WORK = {
  /** `prepare` → `scan`: one line per image, `<image> <digest or ->`. */
  digests: "goose-scan-digests",
  /** `scan`'s own directory: `metrics`, `rc` (0 or 1), `upload` (paths under REPORTS). */
  scan: "goose-scan",
};

/**
 * Step 1 of the scan job, `prepare` (bash and curl, in the aws-cli image): announces the scan's
 * blackout on the Pushgateway (expiring at the Job's deadline) and asks each image's registry for
 * its digest (manifest endpoint; an `@sha256:` reference is its own digest). A registry that
 * challenges with Bearer gets a token request, one that challenges with Basic the credentials;
 * credentials come from a Docker config (`$DOCKER_CONFIG/config.json`, `auths.<host>.auth`, as an
 * image pull Secret of type kubernetes.io/dockerconfigjson holds them) and reach curl on a pipe
 * (`-K`), never its command line. Environment: IMAGES, STAGE, PUSHGATEWAY, PUSHGATEWAY_AUTH_FILE,
 * WORK, DOCKER_CONFIG (optional), PLAIN_HTTP_REGISTRIES (hosts asked over http, for a registry on
 * loopback). Exported for testing.
 */
export function scanPrepareScript(): string {
  return `set -u
W="\${WORK:-/tmp}"; mkdir -p "$W"
deadline=$(( $(date +%s) + ${SCAN_DEADLINE_SECONDS} ))
${blackoutPush("scan", 1, { deadline: "$deadline" })}
ACCEPT="application/vnd.oci.image.index.v1+json,application/vnd.docker.distribution.manifest.list.v2+json,application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"
header() { grep -i "^ *$1:" | head -1 | sed 's/^[^:]*: *//' | tr -d '\\r'; }
# The registry's credentials (base64 user:password) from the Docker config, empty when none.
registry_auth() {
  local f="\${DOCKER_CONFIG:-}/config.json" k q
  [ -n "\${DOCKER_CONFIG:-}" ] && [ -f "$f" ] || return 0
  for k in "$1" "https://$1" "$2"; do
    q=$(printf '%s' "$k" | sed 's/[][\\\\.*^$/]/\\\\&/g')
    tr -d ' \\n\\t\\r' < "$f" | sed -n "s/.*\\"$q\\":{[^}]*\\"auth\\":\\"\\([^\\"]*\\)\\".*/\\1/p" | head -1 | grep . && return 0
  done
  return 0
}
# curl with its headers (Accept, Authorization) in a config on a pipe: no credential in argv.
ask() { # url auth-header-or-empty
  curl -sS -I -m 20 -K <(printf 'header = "Accept: %s"\\n' "$ACCEPT"; [ -z "$2" ] || printf 'header = "Authorization: %s"\\n' "$2") "$1" 2>&1 </dev/null
}
digest_of() {
  case "$1" in *@sha256:*) echo "\${1##*@}"; return;; esac
  local ref=$1 name tag host repo scheme url h d ch realm service auth tok hubkey=""
  name=\${ref%:*}; tag=\${ref##*:}
  case "$tag" in */*) name=$ref; tag=latest;; esac
  [ "$name" = "$ref" ] && tag=latest
  host=\${name%%/*}; repo=\${name#*/}
  case "$host" in *.*|*:*|localhost) ;; *) host=docker.io; repo=$name;; esac
  if [ "$host" = docker.io ]; then
    host=registry-1.docker.io; hubkey=https://index.docker.io/v1/
    case "$repo" in */*) ;; *) repo=library/$repo;; esac
  fi
  auth=$(registry_auth "$host" "\${hubkey:-$host}")
  scheme=https; case " \${PLAIN_HTTP_REGISTRIES:-} " in *" $host "*) scheme=http;; esac
  url="$scheme://$host/v2/$repo/manifests/$tag"
  h=$(ask "$url" "")
  d=$(echo "$h" | header docker-content-digest)
  if [ -z "$d" ]; then
    ch=$(echo "$h" | header www-authenticate)
    case "$ch" in
      [Bb]asic*)
        [ -n "$auth" ] || { echo "scanner: $host asks for credentials and DOCKER_CONFIG has none for it" >&2; return 0; }
        h=$(ask "$url" "Basic $auth") ;;
      [Bb]earer*)
        realm=$(echo "$ch" | sed -n 's/.*realm="\\([^"]*\\)".*/\\1/p')
        service=$(echo "$ch" | sed -n 's/.*service="\\([^"]*\\)".*/\\1/p')
        [ -n "$realm" ] || return 0
        tok=$(curl -sS -m 20 -K <([ -z "$auth" ] || printf 'header = "Authorization: Basic %s"\\n' "$auth") "$realm?service=$service&scope=repository:$repo:pull" </dev/null | sed -n 's/.*"token" *: *"\\([^"]*\\)".*/\\1/p')
        h=$(ask "$url" "Bearer $tok") ;;
      *) return 0 ;;
    esac
    d=$(echo "$h" | header docker-content-digest)
  fi
  case "$d" in sha256:*) echo "$d";; esac
}
: > "$W/${SCAN_WORK.digests}.tmp"
for img in $IMAGES; do
  d=$(digest_of "$img"); echo "$img \${d:--}" >> "$W/${SCAN_WORK.digests}.tmp"
done
mv "$W/${SCAN_WORK.digests}.tmp" "$W/${SCAN_WORK.digests}"
`;
}

/**
 * Step 2, `scan` (POSIX sh: busybox in the Trivy image, dash in the tests). Environment: IMAGES,
 * STAGE, MODE (`full` | `incremental`), PARALLELISM, CACHE_MAX_AGE_HOURS; REPORTS (default
 * /reports) and WORK (default /tmp) for where it writes. Needs no network but Trivy's own and
 * holds no credential of goose's.
 *
 * 1. Each image's digest comes from `prepare` (WORK/goose-scan-digests).
 * 2. Incremental: an image whose digest has a result of the same depth younger than
 *    CACHE_MAX_AGE_HOURS is not scanned again (a full run rescans all). An unresolved digest is
 *    always scanned.
 * 3. The rest are dealt round-robin into PARALLELISM lanes that run side by side, one Trivy at a
 *    time each: never more than PARALLELISM scans at once. The vulnerability database is
 *    downloaded once before (only when something is scanned); the scans skip its update and keep
 *    their layer cache in memory, so no two Trivy processes share a lock.
 * 4. Per digest: Trivy's JSON report and a result file; per run: `scans/<stage>/latest.json`
 *    (what goose's vulnerability gate reads). For `publish`: the metrics (counts by severity per
 *    image, the run's status and last success), the run's status (`rc`) and the files to upload
 *    (`upload`, latest.json last). Files older than 30 days that no run touched are removed.
 * It exits 0 once it has written them, so `publish` runs; the Job fails through `publish`.
 * Exported for testing.
 */
export function scannerScript(cfg: StageConfig, depth: readonly ScanDepth[]): string {
  const sev = severitiesFrom(cfg.scanner.severityThreshold);
  const depthKey = [...depth].sort().join("+");
  const V = SCANNER_METRICS.vulnerabilities;
  return `set -u
now=$(date +%s); rc=0
trap 'exit 143' TERM INT
MODE=\${MODE:-incremental}; P=\${PARALLELISM:-1}; MAXAGE=$(( \${CACHE_MAX_AGE_HOURS:-24} * 3600 ))
DEPTH="${depthKey}"; SEV="${sev.join(",")}"
R="\${REPORTS:-/reports}/scans/$STAGE"; W="\${WORK:-/tmp}/${SCAN_WORK.scan}"; D="\${WORK:-/tmp}/${SCAN_WORK.digests}"
rm -rf "$W"; mkdir -p "$R/results" "$R/reports" "$W"
field() { sed -n "s/.*\\"$1\\": *\\"*\\([^\\",}]*\\).*/\\1/p" "$2" | head -1; }
# 1-2: digests (from prepare), and what an incremental run can take from the cache.
: > "$W/todo"; : > "$W/done"
for img in $IMAGES; do
  d=""; [ -f "$D" ] && d=$(awk -v i="$img" '$1 == i && $2 != "-" { print $2; exit }' "$D")
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
  rm -rf "$W/trivy"
fi
# 4: the run's index, metrics, what to upload, retention.
m="$W/metrics"; echo "# TYPE ${V} gauge" > "$m"; : > "$W/upload"
entries=""
while read -r result img key d; do
  res="$R/results/$key.json"; at=0
  if [ "$result" = failed ]; then rc=1
  else
    at=$(field scannedAt "$res"); touch "$res" "$R/reports/$key.trivy.json"
    printf 'scans/%s/results/%s.json\\nscans/%s/reports/%s.trivy.json\\n' "$STAGE" "$key" "$STAGE" "$key" >> "$W/upload"
    for s in ${sev.join(" ")}; do
      echo "${V}{image=\\"$img\\",severity=\\"$s\\"} $(field "$s" "$res")" >> "$m"
    done
  fi
  entries="$entries{\\"image\\": \\"$img\\", \\"digest\\": \\"$d\\", \\"key\\": \\"$key\\", \\"result\\": \\"$result\\", \\"scannedAt\\": $at}, "
done < "$W/done"
printf '{"kind": "goldengoose.scan.run/v1", "version": 1, "stage": "%s", "mode": "%s", "depth": "%s", "startedAt": %s, "finishedAt": %s, "images": [%s]}\\n' \\
  "$STAGE" "$MODE" "$DEPTH" "$now" "$(date +%s)" "\${entries%, }" > "$R/latest.json.tmp" && mv "$R/latest.json.tmp" "$R/latest.json"
echo "scans/$STAGE/latest.json" >> "$W/upload"
echo "# TYPE ${SCANNER_METRICS.lastStatus} gauge" >> "$m"
if [ $rc = 0 ]; then
  echo "${SCANNER_METRICS.lastStatus} 1" >> "$m"
  echo "# TYPE ${SCANNER_METRICS.lastSuccess} gauge" >> "$m"
  echo "${SCANNER_METRICS.lastSuccess} $now" >> "$m"
else
  echo "${SCANNER_METRICS.lastStatus} 0" >> "$m"
fi
find "$R/results" "$R/reports" -type f -mtime +30 -exec rm -f {} +
echo $rc > "$W/rc"
`;
}

/**
 * Step 3, `publish` (bash, curl and the aws CLI, in the aws-cli image): uploads the run's files
 * (each image's result and Trivy report, then `latest.json`, in the SCAN_LAYOUT) to the stage's
 * backup bucket under `scans/<stage>/` with SSE-KMS, when BUCKET is set; pushes the run's metrics
 * to the Pushgateway (with its password: PUSHGATEWAY_AUTH_FILE) and withdraws the blackout. Exits
 * 1 when the scan or the upload failed (a failed upload also turns the run's status metric to 0). Environment: STAGE, PUSHGATEWAY, PUSHGATEWAY_AUTH_FILE,
 * REPORTS, WORK, BUCKET, KMS_KEY_ARN, S3_ENDPOINT (optional). Exported for testing.
 */
export function scanPublishScript(): string {
  return `set -u
W="\${WORK:-/tmp}/${SCAN_WORK.scan}"; REPORTS=\${REPORTS:-/reports}
end_blackout() { ${blackoutPush("scan", 0)}; }
trap end_blackout EXIT
rc=$(cat "$W/rc" 2>/dev/null || echo 1)
if [ -n "\${BUCKET:-}" ] && [ -s "$W/upload" ]; then
  ep=(); [ -n "\${S3_ENDPOINT:-}" ] && ep=(--endpoint-url "$S3_ENDPOINT")
  kms=(--sse aws:kms --sse-kms-key-id "$KMS_KEY_ARN" --only-show-errors "\${ep[@]}")
  # The results and reports first, in one call; latest.json (which names them) last.
  rm -rf "$W/out"; mkdir -p "$W/out"
  while IFS= read -r f; do
    case "$f" in */latest.json) continue;; esac
    [ -f "$REPORTS/$f" ] && mkdir -p "$W/out/$(dirname "$f")" && cp "$REPORTS/$f" "$W/out/$f"
  done < "$W/upload"
  if { [ -z "$(ls -A "$W/out")" ] || aws s3 cp --recursive "$W/out/" "s3://$BUCKET/" "\${kms[@]}"; } &&
    aws s3 cp "$REPORTS/scans/$STAGE/latest.json" "s3://$BUCKET/scans/$STAGE/latest.json" --content-type application/json "\${kms[@]}"; then
    echo "scanner: results uploaded to s3://$BUCKET/scans/$STAGE/"
  else
    echo "scanner: uploading the results to s3://$BUCKET/scans/$STAGE/ failed" >&2; rc=1
    # The run did not reach goose: its status is a failure, and it is no success to report.
    sed -i -e 's/^\\(${SCANNER_METRICS.lastStatus}\\) 1$/\\1 0/' -e '/^[#A-Z ]*${SCANNER_METRICS.lastSuccess}/d' "$W/metrics"
  fi
  rm -rf "$W/out"
fi
if [ -f "$W/metrics" ]; then
  { ${curlAuthPush('-fsS -m 20 --data-binary @"$W/metrics" "$PUSHGATEWAY/metrics/job/goldengoose-scanner/stage/$STAGE"')}; } || echo "scanner: could not push metrics" >&2
fi
exit "$rc"
`;
}

/**
 * Two CronJobs running Trivy (pinned) over the stage's images, sharing the reports volume: the
 * incremental scans (`scanner.schedule`) and the full scan off-peak (`scanner.fullScanSchedule`).
 * Each run is three steps in one pod (prepare, scan, publish; see their scripts), the first and
 * last in the backup image (the aws CLI image, already pinned and scanned as the stage's `backup`).
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
    const pg = pushgatewayClient(args.pushgatewayAuthSecret);
    const up = args.upload;
    const registry = s.registryAuthSecret
      ? {
          volume: {
            name: "registry-auth",
            secret: {
              secretName: s.registryAuthSecret,
              items: [{ key: ".dockerconfigjson", path: "config.json" }],
            },
          },
          mount: { name: "registry-auth", mountPath: DOCKER_CONFIG_DIR, readOnly: true },
          env: [{ name: "DOCKER_CONFIG", value: DOCKER_CONFIG_DIR }],
        }
      : undefined;

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
      {
        metadata: meta(SCANNER_SERVICE_ACCOUNT, ns, labels, {
          // IRSA: the upload container's role, allowed to write scans/<stage>/ only.
          annotations: up ? { "eks.amazonaws.com/role-arn": up.roleArn } : {},
        }),
        automountServiceAccountToken: false,
      },
      child,
    );
    const common = [
      { name: "STAGE", value: cfg.stage },
      { name: "PUSHGATEWAY", value: serviceUrl(cfg, "pushgateway") },
      { name: "HOME", value: "/tmp" },
    ];
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
                    // prepare (blackout, digests) → scan (Trivy, no credentials of goose's) →
                    // publish (upload, metrics, blackout withdrawn); they share /tmp.
                    initContainers: [
                      {
                        name: "prepare",
                        image: cfg.backup.image,
                        command: ["/bin/bash", "-c", scanPrepareScript()],
                        env: [
                          { name: "IMAGES", value: images.join(" ") },
                          ...common,
                          ...pg.env,
                          ...(registry?.env ?? []),
                        ],
                        resources: containerResources(SMALL),
                        securityContext: containerSecurity(),
                        volumeMounts: [
                          { name: "tmp", mountPath: "/tmp" },
                          pg.mount,
                          ...(registry ? [registry.mount] : []),
                        ],
                      },
                      {
                        name: "trivy",
                        image: s.image,
                        command: ["/bin/sh", "-c", script],
                        env: [
                          { name: "IMAGES", value: images.join(" ") },
                          { name: "STAGE", value: cfg.stage },
                          { name: "MODE", value: mode },
                          { name: "PARALLELISM", value: String(s.parallelism) },
                          { name: "CACHE_MAX_AGE_HOURS", value: String(s.cacheMaxAgeHours) },
                          { name: "HOME", value: "/tmp" },
                          ...(registry?.env ?? []),
                        ],
                        resources: containerResources(s.resources),
                        securityContext: containerSecurity(),
                        volumeMounts: [
                          { name: "reports", mountPath: "/reports" },
                          { name: "tmp", mountPath: "/tmp" },
                          ...(registry ? [registry.mount] : []),
                        ],
                      },
                    ],
                    containers: [
                      {
                        name: "publish",
                        image: cfg.backup.image,
                        command: ["/bin/bash", "-c", scanPublishScript()],
                        env: [
                          ...common,
                          ...pg.env,
                          ...(up
                            ? [
                                { name: "BUCKET", value: up.bucket },
                                { name: "KMS_KEY_ARN", value: up.kmsKeyArn },
                                ...(awsConfig.region
                                  ? [{ name: "AWS_REGION", value: awsConfig.region }]
                                  : []),
                              ]
                            : []),
                        ],
                        resources: containerResources(SMALL),
                        securityContext: containerSecurity(),
                        volumeMounts: [
                          { name: "reports", mountPath: "/reports", readOnly: true },
                          { name: "tmp", mountPath: "/tmp" },
                          pg.mount,
                        ],
                      },
                    ],
                    volumes: [
                      {
                        name: "reports",
                        persistentVolumeClaim: { claimName: reports.metadata.name },
                      },
                      { name: "tmp", emptyDir: {} },
                      pg.volume,
                      ...(registry ? [registry.volume] : []),
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

import type { StageConfig } from "../config/schema.js";
import { BACKUP_METRICS } from "../config/metrics.js";
import {
  BACKUP_LAYOUT_VERSION,
  BACKUP_MANIFEST_KIND,
  GRAFANA_DB_PATH,
  MANIFEST_FILE,
  PROMETHEUS_SNAPSHOT_DIR,
  type BackupComponent,
} from "../backup/archive-layout.js";
import { blackoutPush } from "./blackout.js";
import { curlAuthPush } from "./pushgateway-auth.js";

/** Where the agents find things inside their pod (and the environment they read). */
export const AGENT_PATHS = {
  /** Prometheus' data volume, shared with the agent (snapshots land under snapshots/). */
  prometheusData: "/prometheus",
  /** Prometheus listens on loopback only; the agent is in the same pod. */
  prometheusUrl: "http://127.0.0.1:9090",
  /** Grafana's database on its volume, mounted read-only into the agent. */
  grafanaDb: "/var/lib/grafana/grafana.db",
  /** The backup volume (target `volume`). */
  backupRoot: "/backup",
  /** Scratch space (an emptyDir). */
  work: "/tmp/backup",
} as const;

/**
 * The backup agent: a sidecar of Prometheus (component `prometheus`) or Grafana (`grafana`),
 * running in the aws-cli image (bash, coreutils, curl; no kubectl, no tar). Every
 * `backup.intervalHours` (aligned to the epoch, UTC) it:
 *
 * 1. announces a backup blackout on the Pushgateway that expires at the run's deadline
 *    (start + `backup.timeoutMinutes`), so a killed agent cannot block past it;
 * 2. captures the data: a TSDB snapshot through Prometheus' admin API on loopback (the admin API
 *    is not reachable from outside the pod), or a stable copy of Grafana's SQLite database;
 * 3. writes the set in the archive layout (src/backup/archive-layout.ts): the files, then the
 *    manifest with every file's size and SHA-256, last — to S3 with SSE-KMS under the stage's key,
 *    or to the backup volume (applying retention there);
 * 4. pushes its result metrics and withdraws the blackout.
 *
 * Every command gets the time left until the deadline (`timeout`). The Prometheus agent works only
 * in pod ordinal 0, so replicas do not each upload a copy. Environment: STAGE, PUSHGATEWAY,
 * TARGET (s3|volume), BUCKET and KMS_KEY_ARN (s3), S3_ENDPOINT (optional, e.g. a VPC endpoint),
 * INTERVAL_SECONDS, TIMEOUT_SECONDS, RETENTION_DAYS (volume), POD_NAME, and the AGENT_PATHS
 * overrides PROMETHEUS_URL, PROMETHEUS_DATA, GRAFANA_DB, BACKUP_ROOT, WORK; PROMETHEUS_AUTH_FILE and
 * PROMETHEUS_AUTH_USER (Prometheus' basic auth); PUSHGATEWAY_AUTH_FILE and PUSHGATEWAY_USER (the
 * Pushgateway's, pushgateway-auth.ts). GOOSE_BACKUP_ONCE=1 runs
 * one backup now and exits with its status (1 when it failed). Exported for testing.
 */
export function backupAgentScript(component: BackupComponent): string {
  const M = BACKUP_METRICS;
  const deadline = { deadline: "$deadline", component };
  const capture =
    component === "prometheus"
      ? `capture() {
  # Prometheus asks for basic auth (PROMETHEUS_AUTH_FILE): the password reaches curl on stdin.
  if [ -n "\${PROMETHEUS_AUTH_FILE:-}" ]; then
    resp=$(printf 'user = "%s:%s"\\n' "\${PROMETHEUS_AUTH_USER:-goose}" "$(cat "$PROMETHEUS_AUTH_FILE")" |
      t curl -K - -fsS -X POST "$PROMETHEUS_URL/api/v1/admin/tsdb/snapshot")
  else
    resp=$(t curl -fsS -X POST "$PROMETHEUS_URL/api/v1/admin/tsdb/snapshot")
  fi
  [ -n "$resp" ] ||
    { fail "the TSDB snapshot request to $PROMETHEUS_URL/api/v1/admin/tsdb/snapshot failed"; return 1; }
  name=$(printf '%s' "$resp" | sed -n 's/.*"name":"\\([^"]*\\)".*/\\1/p')
  [ -n "$name" ] || { fail "the TSDB snapshot returned no name: $resp"; return 1; }
  src="$PROMETHEUS_DATA/snapshots/$name"
  [ -d "$src" ] || { fail "the snapshot $src does not exist (is $PROMETHEUS_DATA Prometheus' data volume?)"; return 1; }
  cleanup_dir="$src"
  sub=${PROMETHEUS_SNAPSHOT_DIR}
  extra='"prometheusSnapshotDir":"${PROMETHEUS_SNAPSHOT_DIR}",'
}`
      : `capture() {
  [ -f "$GRAFANA_DB" ] || { fail "no database at $GRAFANA_DB"; return 1; }
  src="$WORK/$id/${GRAFANA_DB_PATH.split("/")[0]}"
  mkdir -p "$src" || { fail "cannot create $src"; return 1; }
  cleanup_dir="$WORK/$id"
  # SQLite is written in place: copy until two consecutive copies agree (no write in between).
  prev=""
  for _ in 1 2 3 4 5; do
    t cp "$GRAFANA_DB" "$src/grafana.db.tmp" || { fail "copying $GRAFANA_DB failed"; return 1; }
    sum=$(sha256sum < "$src/grafana.db.tmp" | cut -d' ' -f1)
    if [ "$sum" = "$prev" ]; then mv "$src/grafana.db.tmp" "$src/grafana.db"; break; fi
    prev=$sum; sleep 1
  done
  [ -f "$src/grafana.db" ] || { fail "$GRAFANA_DB kept changing while it was copied"; return 1; }
  sub=${GRAFANA_DB_PATH.split("/")[0]}
  extra='"grafanaDb":"${GRAFANA_DB_PATH}",'
}`;
  return `set -u
shopt -s globstar nullglob
COMPONENT=${component}
PROMETHEUS_URL=\${PROMETHEUS_URL:-${AGENT_PATHS.prometheusUrl}}
PROMETHEUS_DATA=\${PROMETHEUS_DATA:-${AGENT_PATHS.prometheusData}}
GRAFANA_DB=\${GRAFANA_DB:-${AGENT_PATHS.grafanaDb}}
BACKUP_ROOT=\${BACKUP_ROOT:-${AGENT_PATHS.backupRoot}}
WORK=\${WORK:-${AGENT_PATHS.work}}
ep=(); [ -n "\${S3_ENDPOINT:-}" ] && ep=(--endpoint-url "$S3_ENDPOINT")
in_run=0; deadline=0
log() { echo "backup-agent($COMPONENT): $*" >&2; }
fail() { log "$1"; }
left() { echo $(( deadline - $(date +%s) )); }
# Runs a command with the time left until the run's deadline.
t() { local l; l=$(left); if [ "$l" -le 0 ]; then log "deadline passed"; return 124; fi; timeout "$l" "$@"; }
announce() { ${blackoutPush("backup", 1, deadline)}; }
withdraw() { ${blackoutPush("backup", 0, deadline)}; }
on_exit() { if [ "$in_run" = 1 ]; then withdraw; fi; }
trap on_exit EXIT
trap 'exit 143' TERM INT
${capture}
# Prints the manifest of the files under $1 (listed as $2/<path>); sets total.
manifest() {
  local f n s first=1
  total=0
  printf '{"kind":"${BACKUP_MANIFEST_KIND}","version":${BACKUP_LAYOUT_VERSION},"stage":"%s","component":"%s","id":"%s","createdAt":"%s",%s"files":[' "$STAGE" "$COMPONENT" "$id" "$created" "$extra"
  while IFS= read -r f; do
    case "$f" in *'"'*|*'\\'*) log "unexpected file name $f"; return 1 ;; esac
    n=$(stat -c %s "$1/$f") || return 1
    s=$(sha256sum < "$1/$f" | cut -d' ' -f1) || return 1
    total=$(( total + n ))
    [ $first = 1 ] || printf ','
    first=0
    printf '{"path":"%s/%s","bytes":%s,"sha256":"%s"}' "$2" "$f" "$n" "$s"
  done < <(cd "$1" && for f in **; do [ -f "$f" ] && printf '%s\\n' "$f"; done)
  [ $first = 0 ] || { log "nothing to back up under $1"; return 1; }
  printf ']}\\n'
}
store() {
  local m="$WORK/$id.${MANIFEST_FILE}"
  manifest "$src" "$sub" > "$m" || { fail "building the manifest failed"; return 1; }
  if [ "$TARGET" = s3 ]; then
    local dest="s3://$BUCKET/$COMPONENT/$id"
    local kms=(--sse aws:kms --sse-kms-key-id "$KMS_KEY_ARN" --only-show-errors "\${ep[@]}")
    t aws s3 cp --recursive "$src" "$dest/$sub/" "\${kms[@]}" || { fail "uploading to $dest failed"; return 1; }
    # The manifest last: a set without it is incomplete and never restored.
    t aws s3 cp "$m" "$dest/${MANIFEST_FILE}" --content-type application/json "\${kms[@]}" ||
      { fail "uploading $dest/${MANIFEST_FILE} failed"; return 1; }
  else
    local dest="$BACKUP_ROOT/$COMPONENT/$id"
    mkdir -p "$dest" && t cp -R "$src" "$dest/$sub" && cp "$m" "$dest/${MANIFEST_FILE}.tmp" &&
      mv "$dest/${MANIFEST_FILE}.tmp" "$dest/${MANIFEST_FILE}" || { fail "writing $dest failed"; return 1; }
    # Retention: sets older than RETENTION_DAYS, and incomplete sets of earlier runs, go.
    local cutoff d n
    cutoff=$(date -u -d "@$(( $(date +%s) - RETENTION_DAYS * 86400 ))" +%Y%m%dT%H%M%SZ)
    for d in "$BACKUP_ROOT/$COMPONENT"/*/; do
      n=$(basename "$d")
      if [[ "$n" < "$cutoff" ]] || { [ "$n" != "$id" ] && [ ! -f "$d${MANIFEST_FILE}" ]; }; then rm -rf "$d"; fi
    done
  fi
  rm -f "$m"
}
push_result() { # status
  local now; now=$(date +%s)
  {
    echo "# TYPE ${M.lastAttempt} gauge"; echo "${M.lastAttempt} $now"
    echo "# TYPE ${M.lastStatus} gauge"; echo "${M.lastStatus} $1"
    if [ "$1" = 1 ]; then
      echo "# TYPE ${M.lastSuccess} gauge"; echo "${M.lastSuccess} $now"
      echo "# TYPE ${M.sizeBytes} gauge"; echo "${M.sizeBytes} $total"
    fi
  } | { ${curlAuthPush('-fsS -m 20 --data-binary @- "$PUSHGATEWAY/metrics/job/goldengoose-backup/stage/$STAGE/component/$COMPONENT"')}; } ||
    log "could not push the result metrics to $PUSHGATEWAY"
}
run_once() {
  local status=0
  id=$(date -u +%Y%m%dT%H%M%SZ); deadline=$(( $(date +%s) + TIMEOUT_SECONDS )); in_run=1
  total=0; cleanup_dir=""
  announce
  mkdir -p "$WORK" && echo "$deadline" > "$WORK/.deadline"
  created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  if capture && store; then status=1; log "backup $id stored ($total bytes)"; else log "backup $id failed"; fi
  [ -z "$cleanup_dir" ] || rm -rf "$cleanup_dir"
  push_result "$status"
  withdraw; in_run=0
  rm -f "$WORK/.deadline"
  [ "$status" = 1 ]
}
if [ "$COMPONENT" = prometheus ]; then
  case "\${POD_NAME:-}" in
    *-0) ;;
    *) log "not ordinal 0 ($POD_NAME): replica 0 takes the backups"; sleep infinity & wait $!; exit 0 ;;
  esac
fi
if [ "\${GOOSE_BACKUP_ONCE:-}" = 1 ]; then run_once; exit $?; fi
while :; do
  sleep $(( INTERVAL_SECONDS - $(date +%s) % INTERVAL_SECONDS )) & wait $!
  run_once || true
done
`;
}

/**
 * The agent's liveness check: a run still going a minute past its deadline is stuck (every
 * command has a timeout), so the kubelet restarts the agent. Between runs it is always live.
 */
export function agentProbeCommand(): string[] {
  const f = `${AGENT_PATHS.work}/.deadline`;
  return ["/bin/sh", "-c", `[ ! -f ${f} ] || [ "$(date +%s)" -le "$(( $(cat ${f}) + 60 ))" ]`];
}

/** The agent's environment for a stage (values that do not depend on resources). */
export function agentEnv(cfg: StageConfig): Record<string, string> {
  return {
    STAGE: cfg.stage,
    TARGET: cfg.backup.target,
    INTERVAL_SECONDS: String(cfg.backup.intervalHours * 3600),
    TIMEOUT_SECONDS: String(cfg.backup.timeoutMinutes * 60),
    RETENTION_DAYS: String(cfg.backup.retentionDays),
    HOME: "/tmp",
  };
}

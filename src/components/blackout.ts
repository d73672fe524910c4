import { TRANSITION_METRICS } from "../config/metrics.js";

/**
 * Shell lines with which a batch job announces a blackout on the stage's Pushgateway
 * (`$PUSHGATEWAY`, `$STAGE` from the environment): 1 while it runs, 0 when it ends. goose reads
 * them before a promotion or rollback (src/locks/cluster.ts). `curl` for images that have it,
 * busybox `wget` otherwise. A failed push is reported and never fails the job.
 */
export function blackoutPush(kind: "backup" | "scan", value: 0 | 1, tool: "curl" | "wget"): string {
  const url = `"$PUSHGATEWAY/metrics/job/goldengoose-blackout/stage/$STAGE/kind/${kind}"`;
  const body = `# TYPE ${TRANSITION_METRICS.blackout} gauge\\n${TRANSITION_METRICS.blackout} ${value}\\n`;
  const push =
    tool === "curl"
      ? `printf '${body}' | curl -fsS --data-binary @- ${url}`
      : `printf '${body}' > /tmp/blackout.prom && wget -q -O /dev/null --post-file=/tmp/blackout.prom ${url}`;
  return `${push} || echo "could not announce the ${kind} blackout (${value}) on $PUSHGATEWAY" >&2`;
}

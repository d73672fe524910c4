import { TRANSITION_METRICS } from "../config/metrics.js";

/**
 * Shell lines with which a batch job announces a blackout on the stage's Pushgateway
 * (`$PUSHGATEWAY`, `$STAGE` from the environment): 1 while it runs; when it ends the group is
 * deleted (curl: DELETE) or, for images with only busybox `wget` (no DELETE), set to 0, which
 * expires it (`goose pushgateway prune` deletes it; monitoring/config/push-groups.yaml). goose
 * reads the group before a promotion or rollback (src/locks/cluster.ts). A failed push is
 * reported and never fails the job.
 */
export function blackoutPush(kind: "backup" | "scan", value: 0 | 1, tool: "curl" | "wget"): string {
  const url = `"$PUSHGATEWAY/metrics/job/goldengoose-blackout/stage/$STAGE/kind/${kind}"`;
  const body = `# TYPE ${TRANSITION_METRICS.blackout} gauge\\n${TRANSITION_METRICS.blackout} ${value}\\n`;
  const push =
    tool === "curl"
      ? value === 0
        ? `curl -fsS -X DELETE ${url}`
        : `printf '${body}' | curl -fsS --data-binary @- ${url}`
      : `printf '${body}' > /tmp/blackout.prom && wget -q -O /dev/null --post-file=/tmp/blackout.prom ${url}`;
  const what = value === 0 && tool === "curl" ? "remove" : "announce";
  return `${push} || echo "could not ${what} the ${kind} blackout (${value}) on $PUSHGATEWAY" >&2`;
}

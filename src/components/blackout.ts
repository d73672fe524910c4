import { TRANSITION_METRICS } from "../config/metrics.js";
import { curlAuthPush } from "./pushgateway-auth.js";

/** Shell arithmetic for "an hour from now", the deadline when a caller names none. */
const DEFAULT_DEADLINE = "$(( $(date +%s) + 3600 ))";

/**
 * Shell lines with which a batch job announces a blackout on the stage's Pushgateway
 * (`$PUSHGATEWAY`, `$STAGE` from the environment): 1 while it runs; when it ends the group is
 * deleted (curl: DELETE) or, for images with only busybox `wget` (no DELETE), set to 0, which
 * expires it (`goose pushgateway prune` deletes it; monitoring/config/push-groups.yaml). Every
 * announcement carries its own expiry (`goldengoose_blackout_expires_timestamp_seconds`, the job's
 * deadline as a shell expression, `opts.deadline`), so a job killed before it could push 0 blocks
 * transitions only until its deadline. goose reads them before a promotion or rollback
 * (src/locks/cluster.ts). `curl` (bash) for images that have it, with the Pushgateway's password
 * from `$PUSHGATEWAY_AUTH_FILE` when set (pushgateway-auth.ts: on a pipe, never in argv); busybox
 * `wget` otherwise, which cannot authenticate without the password on its command line, so only
 * for a Pushgateway without auth. A failed push
 * is reported and never fails the job. The `component` grouping label tells apart jobs of one kind
 * that run side by side (the backup agents of Prometheus and Grafana); by default the scanner's
 * is `scanner`, a backup's `backup`.
 */
export function blackoutPush(
  kind: "backup" | "scan",
  value: 0 | 1,
  tool: "curl" | "wget",
  opts: { deadline?: string; component?: string } = {},
): string {
  const component = opts.component ?? (kind === "scan" ? "scanner" : "backup");
  const group = `kind/${kind}/component/${component}`;
  const url = `"$PUSHGATEWAY/metrics/job/goldengoose-blackout/stage/$STAGE/${group}"`;
  const a = TRANSITION_METRICS.blackout;
  const e = TRANSITION_METRICS.blackoutExpires;
  // Ending: active 0 and an expiry of now, so the group says the same thing either way.
  const expiry = value === 1 ? (opts.deadline ?? DEFAULT_DEADLINE) : "$(date +%s)";
  const body = `printf '# TYPE ${a} gauge\\n${a} ${value}\\n# TYPE ${e} gauge\\n${e} %s\\n' "${expiry}"`;
  const push =
    tool === "curl"
      ? value === 0
        ? curlAuthPush(`-fsS -m 20 -X DELETE ${url}`)
        : `${body} | { ${curlAuthPush(`-fsS -m 20 --data-binary @- ${url}`)}; }`
      : `${body} > /tmp/blackout.prom && wget -q -T 20 -O /dev/null --post-file=/tmp/blackout.prom ${url}`;
  const what = value === 0 && tool === "curl" ? "remove" : "announce";
  return `{ ${push}; } || echo "could not ${what} the ${kind} blackout (${value}) on $PUSHGATEWAY" >&2`;
}

import { TRANSITION_METRICS } from "../config/metrics.js";
import { curlAuthPush } from "./pushgateway-auth.js";

/** Shell arithmetic for "an hour from now", the deadline when a caller names none. */
const DEFAULT_DEADLINE = "$(( $(date +%s) + 3600 ))";

/**
 * Shell lines with which a batch job announces a blackout on the stage's Pushgateway
 * (`$PUSHGATEWAY`, `$STAGE` from the environment): 1 while it runs; when it ends the group is
 * deleted (a group left at 0 by some other writer counts as ended too: `goose pushgateway prune`
 * deletes it; monitoring/config/push-groups.yaml). Every
 * announcement carries its own expiry (`goldengoose_blackout_expires_timestamp_seconds`, the job's
 * deadline as a shell expression, `opts.deadline`), so a job killed before it could push 0 blocks
 * transitions only until its deadline. goose reads them before a promotion or rollback
 * (src/locks/cluster.ts). Pushed with `curl` (bash), with the Pushgateway's password from
 * `$PUSHGATEWAY_AUTH_FILE` when set (pushgateway-auth.ts: on a pipe, never in argv); busybox `wget`
 * is not offered: it cannot authenticate without the password on its command line. A failed push
 * is reported and never fails the job. The `component` grouping label tells apart jobs of one kind
 * that run side by side (the backup agents of Prometheus and Grafana); by default the scanner's
 * is `scanner`, a backup's `backup`.
 */
export function blackoutPush(
  kind: "backup" | "scan",
  value: 0 | 1,
  opts: { deadline?: string; component?: string } = {},
): string {
  const component = opts.component ?? (kind === "scan" ? "scanner" : "backup");
  const group = `kind/${kind}/component/${component}`;
  const url = `"$PUSHGATEWAY/metrics/job/goldengoose-blackout/stage/$STAGE/${group}"`;
  const a = TRANSITION_METRICS.blackout;
  const e = TRANSITION_METRICS.blackoutExpires;
  const expiry = opts.deadline ?? DEFAULT_DEADLINE;
  const body = `printf '# TYPE ${a} gauge\\n${a} 1\\n# TYPE ${e} gauge\\n${e} %s\\n' "${expiry}"`;
  const push =
    value === 0
      ? curlAuthPush(`-fsS -m 20 -X DELETE ${url}`)
      : `${body} | { ${curlAuthPush(`-fsS -m 20 --data-binary @- ${url}`)}; }`;
  const what = value === 0 ? "remove" : "announce";
  return `{ ${push}; } || echo "could not ${what} the ${kind} blackout (${value}) on $PUSHGATEWAY" >&2`;
}

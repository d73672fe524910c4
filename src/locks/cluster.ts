/**
 * Blackouts announced by the in-cluster batch jobs. The backup and scanner CronJobs run in the
 * stage's cluster, far from goose's lock store, so they announce themselves on the stage's
 * Pushgateway instead: `goldengoose_blackout_active{job="goldengoose-blackout", stage, kind} 1`
 * when they start and 0 when they end (see src/components/blackout.ts). A promotion or rollback
 * reads that gauge before it starts and refuses while a job runs.
 *
 * A job killed before it could push 0 leaves a 1 behind. Every announcement carries its own
 * expiry (`goldengoose_blackout_expires_timestamp_seconds`, the job's deadline): past it the
 * announcement is ignored, so a dead job blocks transitions until its deadline at most. An
 * announcement without an expiry (jobs deployed before it existed) falls back to its push time:
 * older than `maxAgeSeconds` is ignored.
 */
import { TRANSITION_METRICS } from "../config/metrics.js";
import type { StageName } from "../config/stages.js";
import { CheckFailedError, InputError } from "../errors.js";
import { pushgatewayAuthHeaders, unauthorizedHint } from "../monitoring/pushgateway-credentials.js";

/** The Pushgateway group the jobs push to: `/metrics/job/<JOB>/stage/<stage>/kind/<kind>`. */
export const BLACKOUT_JOB = "goldengoose-blackout";

/** Jobs end within an hour (activeDeadlineSeconds 3600); older announcements are stale. */
export const DEFAULT_BLACKOUT_MAX_AGE_SECONDS = 3600;

export interface ClusterBlackout {
  stage: string;
  kind: string;
  /** When the job announced itself (the push time). */
  since: Date;
  /** When the announcement stops counting (the job's deadline), when it carries one. */
  expires?: Date;
}

export class ClusterBlackoutError extends CheckFailedError {
  constructor(
    readonly blackouts: ClusterBlackout[],
    message: string,
  ) {
    super(message);
    this.name = "ClusterBlackoutError";
  }
}

/** The Pushgateway could not be read: a prerequisite is missing, exit 2. */
export class PushgatewayUnreachableError extends InputError {
  constructor(message: string) {
    super(message);
    this.name = "PushgatewayUnreachableError";
  }
}

interface MetricFamily {
  time_stamp?: string;
  metrics?: { labels?: Record<string, string>; value?: string }[];
}

/** Active in-cluster blackouts, from the Pushgateway's JSON API (`GET /api/v1/metrics`). */
export async function readClusterBlackouts(
  pushgatewayUrl: string,
  opts: { now?: Date; maxAgeSeconds?: number; timeoutMs?: number } = {},
): Promise<ClusterBlackout[]> {
  const now = opts.now ?? new Date();
  const maxAge = (opts.maxAgeSeconds ?? DEFAULT_BLACKOUT_MAX_AGE_SECONDS) * 1000;
  const url = `${pushgatewayUrl.replace(/\/+$/, "")}/api/v1/metrics`;
  let body: { status?: string; data?: Record<string, unknown>[] };
  const headers = pushgatewayAuthHeaders();
  try {
    const res = await fetch(url, {
      headers,
      signal: AbortSignal.timeout(opts.timeoutMs ?? 5000),
    });
    if (res.status === 401) throw new Error(`HTTP 401: ${unauthorizedHint()}`);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    body = (await res.json()) as typeof body;
  } catch (err) {
    throw new PushgatewayUnreachableError(
      `cannot read in-cluster blackouts from ${url} (${(err as Error).message}); check --pushgateway ` +
        "(or GOOSE_PUSHGATEWAY_URL) points at the stage's Pushgateway, e.g. through kubectl port-forward",
    );
  }
  const out: ClusterBlackout[] = [];
  for (const group of body.data ?? []) {
    const family = group[TRANSITION_METRICS.blackout] as MetricFamily | undefined;
    if (!family) continue;
    const since = new Date(family.time_stamp ?? 0);
    const expiresAt = Number(
      (group[TRANSITION_METRICS.blackoutExpires] as MetricFamily | undefined)?.metrics?.[0]?.value,
    );
    const expires = Number.isFinite(expiresAt) ? new Date(expiresAt * 1000) : undefined;
    if (expires) {
      if (now.getTime() >= expires.getTime()) continue;
    } else if (now.getTime() - since.getTime() > maxAge) continue;
    for (const m of family.metrics ?? []) {
      const labels = m.labels ?? {};
      if (labels["job"] !== BLACKOUT_JOB || Number(m.value) !== 1) continue;
      out.push({
        stage: labels["stage"] ?? "",
        kind: labels["kind"] ?? "",
        since,
        ...(expires ? { expires } : {}),
      });
    }
  }
  return out;
}

/** Throws ClusterBlackoutError (exit 1) when a backup or scan job runs on one of `stages`. */
export async function assertNoClusterBlackout(
  pushgatewayUrl: string,
  stages: readonly StageName[],
  opts: { now?: Date; maxAgeSeconds?: number; blocked?: string } = {},
): Promise<void> {
  const now = opts.now ?? new Date();
  const active = (await readClusterBlackouts(pushgatewayUrl, { ...opts, now })).filter((b) =>
    (stages as readonly string[]).includes(b.stage),
  );
  if (active.length === 0) return;
  const what = active
    .map(
      (b) =>
        `a ${b.kind} job has been running in stage ${b.stage} since ${b.since.toISOString()}` +
        (b.expires ? ` (its announcement expires at ${b.expires.toISOString()})` : ""),
    )
    .join("; ");
  const maxAge = opts.maxAgeSeconds ?? DEFAULT_BLACKOUT_MAX_AGE_SECONDS;
  throw new ClusterBlackoutError(
    active,
    `${opts.blocked ? opts.blocked + ": " : ""}${what} (announced on ${pushgatewayUrl}). Wait for it ` +
      `to finish and run the command again; an announcement past its expiry (or, without one, ` +
      `older than ${maxAge}s) is treated as a lost job and ignored.`,
  );
}

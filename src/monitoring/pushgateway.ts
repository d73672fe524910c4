/**
 * A stage's Pushgateway, read and pruned over its HTTP API: `GET /api/v1/metrics` lists the
 * groups, `DELETE /metrics/job/<job>/<label>@base64/<value>...` removes one. `prunePushgateway`
 * deletes the groups `pruneDecisions` (push-groups.ts) gives up on.
 */
import { InputError } from "../errors.js";
import type { StageName } from "../config/stages.js";
import {
  pruneDecisions,
  type FoundGroup,
  type PruneDecision,
  type PushGroups,
} from "./push-groups.js";
import type { StageThresholds } from "./thresholds.js";
import { pushgatewayAuthHeaders, unauthorizedHint } from "./pushgateway-credentials.js";

interface ApiFamily {
  metrics?: { value?: string }[];
}

const base = (url: string) => url.replace(/\/+$/, "");

function unreachable(url: string, what: string, err: unknown): InputError {
  const refused = (err as Error).message === "HTTP 401";
  return new InputError(`cannot ${what} ${url}: ${(err as Error).message}`, {
    code: refused ? "pushgateway-unauthorized" : "pushgateway-unreachable",
    fix: refused
      ? unauthorizedHint()
      : "check --pushgateway (or GOOSE_PUSHGATEWAY_URL) points at the stage's Pushgateway, e.g. through kubectl port-forward",
  });
}

/** Every group on the Pushgateway, with its push time and sample values. */
export async function listPushGroups(url: string, timeoutMs = 10_000): Promise<FoundGroup[]> {
  const api = `${base(url)}/api/v1/metrics`;
  let body: { data?: Record<string, unknown>[] };
  const headers = pushgatewayAuthHeaders();
  try {
    const res = await fetch(api, {
      headers,
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    body = (await res.json()) as typeof body;
  } catch (err) {
    throw unreachable(api, "read the groups from", err);
  }
  return (body.data ?? []).map((g) => {
    const labels = (g["labels"] ?? {}) as Record<string, string>;
    const values: Record<string, number[]> = {};
    let pushTime = 0;
    for (const [name, fam] of Object.entries(g)) {
      if (name === "labels" || name === "last_push_successful") continue;
      const nums = ((fam as ApiFamily).metrics ?? []).map((m) => Number(m.value));
      if (name === "push_time_seconds") pushTime = nums[0] ?? 0;
      else if (name !== "push_failure_time_seconds") values[name] = nums;
    }
    return { labels, pushTime, values };
  });
}

/** The group's URL path: job first, then every other grouping label base64url-encoded. */
export function groupPath(labels: Record<string, string>): string {
  const { job, ...rest } = labels;
  const enc = (v: string) => Buffer.from(v, "utf8").toString("base64url") || "=";
  return (
    `/metrics/job@base64/${enc(job ?? "")}` +
    Object.keys(rest)
      .sort()
      .map((k) => `/${k}@base64/${enc(rest[k]!)}`)
      .join("")
  );
}

export async function deletePushGroup(
  url: string,
  labels: Record<string, string>,
  timeoutMs = 10_000,
): Promise<void> {
  const target = `${base(url)}${groupPath(labels)}`;
  let res: Response;
  const headers = pushgatewayAuthHeaders();
  try {
    res = await fetch(target, {
      method: "DELETE",
      headers,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw unreachable(target, "delete the group at", err);
  }
  if (!res.ok && res.status !== 404) {
    throw unreachable(target, "delete the group at", new Error(`HTTP ${res.status}`));
  }
}

export interface PruneResult {
  decisions: PruneDecision[];
  deleted: number;
}

/** Lists the groups, decides, and (unless `dryRun`) deletes the ones to delete. */
export async function prunePushgateway(
  url: string,
  stage: StageName,
  groups: PushGroups,
  thresholds: StageThresholds,
  opts: { dryRun?: boolean; now?: number } = {},
): Promise<PruneResult> {
  const found = await listPushGroups(url);
  const now = opts.now ?? Date.now() / 1000;
  const decisions = pruneDecisions(groups, stage, thresholds, found, now);
  let deleted = 0;
  for (const d of decisions) {
    if (d.action !== "delete" || opts.dryRun) continue;
    await deletePushGroup(url, d.group.labels);
    deleted++;
  }
  return { decisions, deleted };
}

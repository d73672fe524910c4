/**
 * monitoring/config/push-groups.yaml: every Pushgateway group the platform pushes, its lifecycle
 * and allowed age. Pure apart from the loaders; `pruneDecisions` says which groups found on a
 * stage's Pushgateway belong to no job any more (src/monitoring/pushgateway.ts deletes them).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { z } from "zod";
import type { StageName } from "../config/stages.js";
import { DEFAULT_REPO_ROOT } from "./files.js";
import type { StageThresholds } from "./thresholds.js";
import { InputError } from "../errors.js";

export const PUSH_GROUPS_PATH = "monitoring/config/push-groups.yaml";

/** Schedule intervals in thresholds.yaml a group's maxAge may be twice of. */
const SCHEDULES = ["backup.scheduleIntervalHours", "scanner.scheduleIntervalHours"] as const;
type Schedule = (typeof SCHEDULES)[number];

const maxAge = z.union([
  z.number().positive(),
  z
    .string()
    .regex(
      new RegExp(`^2x (${SCHEDULES.map((s) => s.replace(".", "\\.")).join("|")})$`),
      `hours, or one of ${SCHEDULES.map((s) => `"2x ${s}"`).join(", ")}`,
    ),
]);

const groupSchema = z.strictObject({
  lifecycle: z.enum(["ephemeral", "result"]),
  /** Grouping labels after `job`, in URL order: `any`, or the closed set of values. */
  labels: z.record(
    z.string().regex(/^[a-zA-Z_]\w*$/),
    z.union([z.literal("any"), z.array(z.string().min(1)).min(1)]),
  ),
  maxAge: maxAge.optional(),
  /** Ephemeral groups a job cannot delete: the metric value that says the job has ended. */
  ended: z.strictObject({ metric: z.string().min(1), value: z.number() }).optional(),
});

export const pushGroupsSchema = z.strictObject({
  groups: z.record(z.string().regex(/^[a-z0-9-]+$/), groupSchema),
});

export type PushGroup = z.infer<typeof groupSchema>;
export type PushGroups = z.infer<typeof pushGroupsSchema>;

export class PushGroupsError extends InputError {
  constructor(message: string) {
    super(message);
    this.name = "PushGroupsError";
  }
}

export function parsePushGroups(raw: unknown, file = PUSH_GROUPS_PATH): PushGroups {
  const result = pushGroupsSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map(
      (i) => `  ${i.path.length ? i.path.join(".") : "(top level)"}: ${i.message}`,
    );
    throw new PushGroupsError(`${file} is invalid:\n${lines.join("\n")}\nFix the fields above.`);
  }
  for (const [job, g] of Object.entries(result.data.groups)) {
    if (g.lifecycle === "ephemeral" && g.maxAge === undefined) {
      throw new PushGroupsError(
        `${file}: groups.${job}: an ephemeral group needs maxAge (how long its job may run)`,
      );
    }
  }
  return result.data;
}

export function loadPushGroupsFile(file: string): PushGroups {
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new PushGroupsError(`${file}: cannot read push groups: ${(err as Error).message}`);
  }
  return parsePushGroups(raw, file);
}

export function loadPushGroups(repoRoot: string = DEFAULT_REPO_ROOT): PushGroups {
  return loadPushGroupsFile(path.join(repoRoot, PUSH_GROUPS_PATH));
}

/** Seconds a group of `job` may go without a push in a stage, or undefined (never stale). */
export function maxAgeSeconds(g: PushGroup, t: StageThresholds): number | undefined {
  if (g.maxAge === undefined) return undefined;
  if (typeof g.maxAge === "number") return g.maxAge * 3600;
  const schedule = g.maxAge.slice(3) as Schedule;
  const hours =
    schedule === "backup.scheduleIntervalHours"
      ? t.backup.scheduleIntervalHours
      : t.scanner.scheduleIntervalHours;
  return 2 * hours * 3600;
}

/** One group as the Pushgateway's `GET /api/v1/metrics` lists it. */
export interface FoundGroup {
  /** Grouping labels, `job` included. */
  labels: Record<string, string>;
  /** Unix seconds of the last push (push_time_seconds). */
  pushTime: number;
  /** Metric name → values of its samples. */
  values: Record<string, number[]>;
}

export interface PruneDecision {
  group: FoundGroup;
  action: "delete" | "keep";
  reason: string;
}

/**
 * What to do with each group on `stage`'s Pushgateway at `now` (Unix seconds): delete groups of
 * jobs this file does not list, with grouping labels or values no job pushes, of another stage,
 * and ephemeral groups whose job has ended or outlived its maxAge. Result groups are kept however
 * old: their staleness is an alert (GoldenGoosePushgatewayGroupStale), not a deletion.
 */
export function pruneDecisions(
  groups: PushGroups,
  stage: StageName,
  thresholds: StageThresholds,
  found: FoundGroup[],
  now: number,
): PruneDecision[] {
  return found.map((group) => {
    const { job, ...rest } = group.labels;
    const del = (reason: string): PruneDecision => ({ group, action: "delete", reason });
    const spec = job === undefined ? undefined : groups.groups[job];
    if (!spec) return del(`no job pushes group job="${job ?? ""}" any more (${PUSH_GROUPS_PATH})`);
    const want = Object.keys(spec.labels).sort();
    const have = Object.keys(rest).sort();
    if (want.join(",") !== have.join(",")) {
      return del(`grouping labels {${have.join(", ")}} are not job ${job}'s {${want.join(", ")}}`);
    }
    for (const [label, allowed] of Object.entries(spec.labels)) {
      const v = rest[label]!;
      if (label === "stage" && v !== stage) return del(`stage="${v}" on the ${stage} Pushgateway`);
      if (allowed !== "any" && !allowed.includes(v)) {
        return del(`${label}="${v}" is not one job ${job} pushes (${allowed.join(", ")})`);
      }
    }
    if (spec.lifecycle === "ephemeral") {
      const vals = spec.ended ? (group.values[spec.ended.metric] ?? []) : [];
      if (spec.ended && vals.length > 0 && vals.every((x) => x === spec.ended!.value)) {
        return del(`its job has ended (${spec.ended.metric} ${spec.ended.value})`);
      }
      const max = maxAgeSeconds(spec, thresholds)!;
      if (now - group.pushTime > max) {
        return del(`ephemeral group older than its job may run (${max}s): the job is gone`);
      }
    }
    return { group, action: "keep", reason: `current group of job ${job}` };
  });
}

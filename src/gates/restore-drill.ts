/**
 * What goose remembers of a stage's disaster-recovery drills, in the store
 * (`dr/<stage>/<drill>.json`): the last drill and the last PASSING one (written by
 * src/workflows/dr), and the check the "rollback tested" gate makes of it: a passing restore
 * drill of the stage within `recovery.drillMaxAgeHours`, whose RPO and RTO still meet the
 * stage's current objectives.
 */
import type { StageName } from "../config/stages.js";
import { DEFAULT_HINTS, HINTS, type HintContext } from "./hints.js";
import type { ObjectStore } from "../store/types.js";

export type DrillKind = "restore" | "failover";

export interface DrillOutcome {
  id: string;
  /** ISO time the drill ended. */
  at: string;
  passed: boolean;
  rpoSeconds?: number;
  rtoSeconds?: number;
  restoredSeries?: number;
  /** Failover drills: seconds from firing after the kill to the notification. */
  failoverSeconds?: number;
  /** The objectives it was judged against. */
  objectives: { rpoSeconds: number; rtoSeconds: number; drillMaxAgeHours: number };
  /** The evidence record of the drill. */
  evidence?: string;
}

export interface DrillState {
  stage: StageName;
  drill: DrillKind;
  last?: DrillOutcome;
  lastPass?: DrillOutcome;
}

export const drillStateKey = (stage: StageName, drill: DrillKind) => `dr/${stage}/${drill}.json`;

export async function readDrillState(
  store: ObjectStore,
  stage: StageName,
  drill: DrillKind,
): Promise<DrillState> {
  const cur = await store.get(drillStateKey(stage, drill));
  return cur ? (JSON.parse(cur.body.toString("utf8")) as DrillState) : { stage, drill };
}

export interface RestoreDrillVerdict {
  ok: boolean;
  summary: string;
  fix?: string;
  details: Record<string, unknown>;
}

/** Is there a passing restore drill of `stage` within its objectives, as of `now`? */
export async function checkRestoreDrill(
  store: ObjectStore,
  stage: StageName,
  objectives: { rpoSeconds: number; rtoSeconds: number; drillMaxAgeHours: number },
  now: Date,
  hints: HintContext = DEFAULT_HINTS,
  backupTarget?: "volume" | "s3",
): Promise<RestoreDrillVerdict> {
  const state = await readDrillState(store, stage, "restore");
  const fix = `run a restore drill: ${HINTS.drDrill(stage, backupTarget, hints)} (docs/recovery.md)`;
  const pass = state.lastPass;
  if (!pass) {
    return {
      ok: false,
      summary: `no passing restore drill of ${stage} on record${state.last ? ` (the last one, ${state.last.id}, failed)` : ""}`,
      fix,
      details: { last: state.last?.id },
    };
  }
  const ageHours = (now.getTime() - Date.parse(pass.at)) / 3_600_000;
  const details = {
    drill: pass.id,
    at: pass.at,
    ageHours: Math.round(ageHours * 10) / 10,
    rpoSeconds: pass.rpoSeconds,
    rtoSeconds: pass.rtoSeconds,
    objectives,
    evidence: pass.evidence,
  };
  if (ageHours > objectives.drillMaxAgeHours) {
    return {
      ok: false,
      summary: `the last passing restore drill of ${stage} (${pass.id}) is ${details.ageHours} h old, more than recovery.drillMaxAgeHours ${objectives.drillMaxAgeHours} h`,
      fix,
      details,
    };
  }
  const over = [
    ...(pass.rpoSeconds === undefined || pass.rpoSeconds > objectives.rpoSeconds
      ? [`RPO ${pass.rpoSeconds ?? "unmeasured"} s > ${objectives.rpoSeconds} s`]
      : []),
    ...(pass.rtoSeconds === undefined || pass.rtoSeconds > objectives.rtoSeconds
      ? [`RTO ${pass.rtoSeconds ?? "unmeasured"} s > ${objectives.rtoSeconds} s`]
      : []),
  ];
  if (over.length > 0) {
    return {
      ok: false,
      summary: `the last passing restore drill of ${stage} (${pass.id}) misses the current objectives: ${over.join(", ")}`,
      fix,
      details,
    };
  }
  return {
    ok: true,
    summary: `restore drill ${pass.id} passed ${details.ageHours} h ago (RPO ${pass.rpoSeconds} s, RTO ${pass.rtoSeconds} s)`,
    details,
  };
}

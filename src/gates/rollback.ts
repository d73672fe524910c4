/**
 * The rollback-tested gate: a rollback drill on the source stage's latest snapshot without
 * importing it. The snapshot is decrypted and passes its integrity checks (src/snapshots
 * `readSnapshotExport`: manifest, ciphertext and plaintext digests, export validation), then its
 * resources go through the policy pack (`analyzeExport`, as `pulumi policy analyze` would). With
 * `restoreDrill` (the stage's `recovery` objectives), the stage's DATA must be proven restorable
 * too: a passing restore drill (`goose dr drill`) within `drillMaxAgeHours` whose RPO and RTO meet
 * the objectives (src/gates/restore-drill.ts).
 */
import { createHash } from "node:crypto";
import type { StageName } from "../config/stages.js";
import { InputError } from "../errors.js";
import { analyzeExport } from "../engine/index.js";
import {
  listSnapshots,
  readSnapshotExport,
  snapshotKeys,
  type SnapshotKeyring,
} from "../snapshots/index.js";
import type { ObjectStore } from "../store/types.js";
import { DEFAULT_HINTS, HINTS, type HintContext } from "./hints.js";
import { checkRestoreDrill } from "./restore-drill.js";
import { timed, type GateResult } from "./types.js";

export interface RollbackGateInput {
  stage: StageName;
  store: ObjectStore;
  env: NodeJS.ProcessEnv;
  /** The keys whose snapshots are trusted (default: the environment's). */
  trust?: SnapshotKeyring;
  policyPackDir?: string;
  /** Drill this snapshot instead of the newest. */
  snapshotId?: string;
  /**
   * Also check for a passing restore drill of the stage within these objectives: a missing or
   * stale one fails the gate, or only warns when `drillRequiredToPromote` is false.
   */
  restoreDrill?: {
    rpoSeconds: number;
    rtoSeconds: number;
    drillMaxAgeHours: number;
    drillRequiredToPromote?: boolean;
  };
  now?: Date;
  /** The flags the promotion ran with, so the fixes' commands run as printed. */
  hints?: HintContext;
  /** Where the stage's data backups go (golden-goose:backup.target), for the drill's hint. */
  backupTarget?: "volume" | "s3";
}

export async function rollbackGate(input: RollbackGateInput): Promise<GateResult> {
  return timed("rollback", async () => {
    const hints = input.hints ?? DEFAULT_HINTS;
    const id = input.snapshotId ?? (await listSnapshots(input.store, input.stage))[0]?.id;
    if (!id) {
      return {
        verdict: "fail" as const,
        summary: `no snapshot of ${input.stage} to roll back to`,
        fix: `take one: ${HINTS.snapshotCreate(input.stage, hints)}`,
        details: {},
        subjects: [],
      };
    }
    let text: string;
    let manifest;
    try {
      ({ text, manifest } = await readSnapshotExport(input.store, id, input.trust ?? input.env));
    } catch (err) {
      if (err instanceof InputError) throw err; // missing key: a prerequisite
      return {
        verdict: "fail" as const,
        summary: `rollback drill: snapshot ${id} does not verify: ${(err as Error).message}`,
        fix: `take a fresh snapshot (${HINTS.snapshotCreate(input.stage, hints)}) and find out how ${id} was damaged (${HINTS.snapshotVerify(id, hints)})`,
        details: { snapshot: id },
        // What the drill looked at: the stored manifest, by its digest (the record stays
        // verifiable evidence even when the snapshot itself is damaged).
        subjects: await storedManifestSubject(input.store, id),
      };
    }
    const subjects = [{ name: `snapshot:${id}`, digest: { sha256: manifest.plaintext.sha256 } }];
    const { violations } = await analyzeExport(text, input.stage, {
      ...(input.policyPackDir ? { policyPackDir: input.policyPackDir } : {}),
    });
    const mandatory = violations.filter((v) => v.enforcementLevel === "mandatory");
    const details = {
      snapshot: id,
      createdAt: manifest.createdAt,
      resources: manifest.resourceCount,
      integrity: "ok",
      mandatory: mandatory.length,
      advisory: violations.length - mandatory.length,
      violations: violations.slice(0, 20).map((v) => ({
        policy: v.policy,
        level: v.enforcementLevel,
        urn: v.urn,
        message: v.message,
      })),
    };
    if (mandatory.length) {
      return {
        verdict: "fail" as const,
        summary: `rollback drill: snapshot ${id} decrypts and verifies but has ${mandatory.length} mandatory policy violation(s); first: ${mandatory[0]?.policy}`,
        fix: `rolling back to ${id} would restore a non-compliant state; promote a compliant release of ${input.stage} and snapshot it`,
        details,
        subjects,
      };
    }
    if (input.restoreDrill) {
      const drill = await checkRestoreDrill(
        input.store,
        input.stage,
        input.restoreDrill,
        input.now ?? new Date(),
        hints,
        input.backupTarget,
      );
      if (!drill.ok) {
        const required = input.restoreDrill.drillRequiredToPromote !== false;
        return {
          verdict: required ? ("fail" as const) : ("warn" as const),
          summary: `rollback drill: snapshot ${id} verifies, but ${drill.summary}${required ? "" : ` (not required to promote out of ${input.stage}: recovery.drillRequiredToPromote is false)`}`,
          ...(drill.fix ? { fix: drill.fix } : {}),
          details: { ...details, restoreDrill: drill.details },
          subjects,
        };
      }
      return {
        verdict: "pass" as const,
        summary: `rollback drill: snapshot ${id} (${manifest.resourceCount} resources) decrypts, verifies and passes the policy pack; ${drill.summary}`,
        details: { ...details, restoreDrill: drill.details },
        subjects,
      };
    }
    return {
      verdict: "pass" as const,
      summary: `rollback drill: snapshot ${id} (${manifest.resourceCount} resources) decrypts, verifies and passes the policy pack`,
      details,
      subjects,
    };
  });
}

async function storedManifestSubject(
  store: ObjectStore,
  id: string,
): Promise<{ name: string; digest: { sha256: string } }[]> {
  const obj = await store.get(snapshotKeys.manifest(id)).catch(() => undefined);
  if (!obj) return [];
  const sha256 = createHash("sha256").update(obj.body).digest("hex");
  return [{ name: `snapshot-manifest:${id}`, digest: { sha256 } }];
}

/**
 * The preview's rotation check: every secret of the stage older than secret-rotation.yaml allows
 * becomes a `secret-rotation-overdue` violation, advisory or mandatory as the stage's level in
 * compliance-rules.yaml. Only a known age counts here (`goose keys status` also fails on secrets
 * with no rotation on record).
 */
import type { ComplianceRules, SecretRotationPolicy } from "../audit/schemas.js";
import type { StageName } from "../config/stages.js";
import type { EvidenceRecord } from "../evidence/index.js";
import type { PolicyViolation } from "../policy/types.js";
import type { ObjectStore } from "../store/types.js";
import { keyStatus } from "./status.js";

export const ROTATION_POLICY = "secret-rotation-overdue";

export async function overdueRotations(opts: {
  stage: StageName;
  store: ObjectStore;
  env: NodeJS.ProcessEnv;
  rotation: SecretRotationPolicy;
  compliance: ComplianceRules;
  records: EvidenceRecord[];
  now?: Date;
}): Promise<PolicyViolation[]> {
  const report = await keyStatus({
    store: opts.store,
    env: opts.env,
    policy: opts.rotation,
    records: opts.records,
    stages: [opts.stage],
    ...(opts.now ? { now: opts.now } : {}),
  });
  const level = opts.compliance.stages[opts.stage].level;
  return report.secrets
    .filter((s) => s.status === "overdue")
    .map((s) => ({
      policy: ROTATION_POLICY,
      pack: "security/policies/secret-rotation.yaml",
      enforcementLevel: level,
      message: `${s.secret} is ${s.ageDays} days old (since ${s.since}; ${s.source}); ${opts.stage} allows ${s.maxAgeDays}: ${s.procedure ? `${s.procedure}; then run ` : "run "}\`${s.fix ?? "goose keys status"}\``,
    }));
}

/**
 * Audit as data: the security data files (security/audit/*.yaml, security/policies/*.yaml),
 * validated by zod schemas with file, line, field and fix, and the code that applies them.
 */
export {
  AUDIT_FILES,
  EvidenceTemplateError,
  REDACTED_VALUE,
  applyRedactions,
  auditedAppender,
  loadAuditRules,
  loadComplianceRules,
  loadSecretRotation,
  requiredKinds,
  retentionDays,
  templateProblems,
  type AuditRules,
  type KnownSteps,
  type RecordShape,
} from "./rules.js";
export {
  checkEvidence,
  type CheckedRecord,
  type EvidenceCheckReport,
  type RunGap,
} from "./gaps.js";
export * from "./schemas.js";
export {
  DataFileError,
  formatProblem,
  loadYamlFile,
  parseYamlFile as parseYamlData,
  type DataFileProblem,
} from "../config/file.js";

/**
 * The audit data files and the secret names, without their schemas or loaders: `goose keys
 * --help` and `goose evidence --help` print these and load nothing else of audit/ (zod, yaml).
 */
export const AUDIT_FILES = {
  template: "security/audit/evidence-template.yaml",
  collection: "security/audit/collection-rules.yaml",
  rotation: "security/policies/secret-rotation.yaml",
  compliance: "security/policies/compliance-rules.yaml",
} as const;

export const SECRET_NAMES = [
  "grafana-admin",
  "prometheus-basic-auth",
  "pushgateway-auth",
  "alertmanager-receivers",
  "snapshot-key",
  "evidence-signing-key",
  "kms-keys",
] as const;
export type SecretName = (typeof SECRET_NAMES)[number];

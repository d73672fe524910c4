/**
 * Deployment features of Pulumi's export format, shared by the offline engine (which writes
 * exports) and the snapshots (which validate them).
 */

/** Deployment features this Pulumi version knows (pkg/resource/stack/deployment.go). */
export const KNOWN_FEATURES = [
  "refreshBeforeUpdate",
  "views",
  "hooks",
  "taint",
  "replaceWith",
  "snippets-prototype",
  "extensionParameterization",
  "byteString",
] as const;

/**
 * Facts of Pulumi's stack export format shared by the offline engine (which writes exports) and
 * the snapshots (which validate them). Dependency-free on purpose: the snapshot path must not load
 * the Pulumi SDK (memory: see bench/snapshot).
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

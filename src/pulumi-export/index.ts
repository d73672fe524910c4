/**
 * Pulumi's stack export format, as data: the types of an export and its resources, URNs, the
 * secret signature, the secrets provider of a document and the deployment features this Pulumi
 * version knows. This folder owns that knowledge and is dependency-free on purpose (no Pulumi SDK,
 * no npm package, no other `src/` folder): the snapshot path imports it and must stay light
 * (memory: see bench/snapshot). Validation against Pulumi's JSON Schema lives in
 * `src/snapshots/validate.ts`; writing exports from a mocked run lives in the offline engine.
 */
export { KNOWN_FEATURES } from "./features.js";
export { isSecretValue, SECRET_SIG, SECRET_SIG_KEY } from "./secrets.js";
export { secretsProviderOf, type ExportResource, type StackExport } from "./types.js";
export { parseUrn, urnName } from "./urn.js";

/**
 * The policy pack as a process, the way the Pulumi CLI drives it: build a TypeScript pack into
 * one file (`pack-build.ts`), start it and speak the Analyzer gRPC protocol (`analyzer.ts`),
 * resolve its config like `--policy-pack-config` (`policy-config.ts`), run one analysis over a
 * set of resources (`policy-run.ts`) and analyze a stack export like `pulumi policy analyze`
 * (`analyze.ts`). Used by the offline preview, by the rollback compliance check and by the
 * rollback drill. Fails closed: a pack that crashes, hangs or errors is a `PolicyPackError`, never
 * "no violations". The pack's own sources live in `policy-pack/`.
 */
export { analyzeExport, exportResources } from "./analyze.js";
export { PolicyPackError } from "./errors.js";
export { ensurePolicyPackBuilt, assertPolicyPackDir } from "./pack-build.js";
export { readPolicyPackConfigFile, resolvePolicyPackConfig } from "./policy-config.js";
export { runPolicies, startPack, type PolicyResource } from "./policy-run.js";
export type { EnforcementLevel, PolicyViolation } from "./types.js";

/**
 * Gates: each a function from its inputs to a GateResult `{gate, verdict: pass | warn | fail,
 * summary, fix?, details, subjects (digests of what it looked at), durationMs}`.
 *
 * - `policyGate(engine, stage)`: the preview has no mandatory violation (policy.ts).
 * - `sbomGate(...)`: CycloneDX 1.6 SBOM of the release, enriched and validated, stored (sbom.ts).
 * - `vulnGate(...)`: OSV matching, per-stage threshold, allow-list, cache (vulns.ts).
 * - `loadTestGate(...)`: src/loadtest run against the stage's baseline (loadtest.ts).
 * - `backupGate(...)`: the last backup is recent enough (backup.ts).
 * - `rollbackGate(...)`: the latest snapshot decrypts, verifies and passes the pack (rollback.ts).
 * - `alertsGate(...)`: promtool check rules and a unit test per alert (alerts.ts).
 */
export * from "./types.js";
export * from "./policy.js";
export * from "./sbom.js";
export * from "./vulns.js";
export * from "./loadtest.js";
export * from "./backup.js";
export * from "./rollback.js";
export * from "./restore-drill.js";
export * from "./alerts.js";

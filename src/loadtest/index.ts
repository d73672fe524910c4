/**
 * Load testing: scenarios from load-test/config/stress-test.yaml, a runner on autocannon,
 * baselines per stage, a Keptn-style verdict, and reports (JSON, HTML, Markdown, Prometheus).
 *
 * - `loadStressConfig(path): StressConfig` (throws LoadTestConfigError, exit 2, naming file:line
 *   and key); `getScenario(cfg, name)`.
 * - `runScenario(scenario, { target, env?, onProgress?, signal?, abortOnFail? }): Promise<RunResult>`
 * - `compareToBaseline(run, baseline | undefined, cfg.tolerances[stage], { baselineLabel? }): Verdict`
 *   → `{ verdict: "pass" | "warn" | "fail"; score; criteria; reasons; baseline }`; throws
 *   ParameterMismatchError (exit 2) when the load parameters differ.
 * - `readBaselineFile(path)`, `baselineFor(file, scenario)`, `saveBaseline(path, stage, entry)`,
 *   `entryFromRun(run)`.
 * - `writeReports(dir, report)`, `renderHtml`, `renderMarkdown`, `renderPrometheus`,
 *   `LOADTEST_METRICS` (metric names).
 * - `withLoadTestLease({ store, stage, holder }, fn)`: the lock protocol around a run.
 * The workflow over these (`runLoadTest`, `compareFiles`: what `goose loadtest` and the promotion
 * gate run) is src/workflows/loadtest/.
 */
export * from "./config.js";
export * from "./thresholds.js";
export * from "./runner.js";
export * from "./compare.js";
export * from "./baseline.js";
export * from "./report.js";
export * from "./metrics.js";
export * from "./errors.js";
export * from "./parameters.js";
export * from "./lease.js";

/**
 * The two operations of `goose loadtest`, as library calls (no terminal I/O):
 * `runLoadTest` (config → lease → run → verdict → baseline → reports) and `compareFiles`
 * (two reports or baselines → verdict). The promotion gate calls `runLoadTest` too.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { isStageName, STAGES, type StageName } from "../../config/stages.js";
import type { ObjectStore } from "../../store/types.js";
import {
  baselineFor,
  defaultBaselinePath,
  entryFromRun,
  readBaselineFile,
  saveBaseline,
  type BaselineFile,
} from "../../loadtest/baseline.js";
import { compareToBaseline, type Measured, type Verdict } from "../../loadtest/compare.js";
import { DEFAULT_CONFIG_PATH, getScenario, loadStressConfig } from "../../loadtest/config.js";
import { LoadTestUsageError, ParameterMismatchError } from "../../loadtest/errors.js";
import { withLoadTestLease } from "../../loadtest/lease.js";
import { diffParameters, parametersOf } from "../../loadtest/parameters.js";
import {
  DEFAULT_REPORT_DIR,
  writeReports,
  type LoadTestReport,
  type ReportFiles,
} from "../../loadtest/report.js";
import { runScenario, type Progress, type RunResult } from "../../loadtest/runner.js";

export interface LoadTestRequest {
  /** Relative paths resolve against it. */
  cwd: string;
  env: NodeJS.ProcessEnv;
  stage: StageName;
  scenario: string;
  target: string;
  /** Default load-test/config/stress-test.yaml. */
  configPath?: string;
  /** Default load-test/baseline/<stage>.json. */
  baselinePath?: string;
  /** Default load-test/reports. */
  reportDir?: string;
  /** Record this run as the scenario's baseline (only when its thresholds pass). */
  saveBaseline?: boolean;
  /** Stored with a saved baseline: what the target was. */
  note?: string;
  /** When given, the run takes part in the lock protocol on this store. */
  store?: ObjectStore;
  holder?: string;
  abortOnFail?: boolean;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

export interface LoadTestOutcome {
  stage: StageName;
  scenario: string;
  result: RunResult;
  verdict: Verdict;
  report: LoadTestReport;
  files: ReportFiles;
  baselineFile: string;
  baselineSaved: boolean;
  /** Things the operator should know (baseline replaced, not saved, …). */
  notes: string[];
}

export async function runLoadTest(req: LoadTestRequest): Promise<LoadTestOutcome> {
  const configPath = resolve(req.cwd, req.configPath ?? DEFAULT_CONFIG_PATH);
  const cfg = loadStressConfig(configPath);
  const scenario = getScenario(cfg, req.scenario);
  const baselineFile = req.baselinePath
    ? resolve(req.cwd, req.baselinePath)
    : defaultBaselinePath(req.cwd, req.stage);
  const baselines = readBaselineFile(baselineFile);
  if (baselines && baselines.stage !== req.stage) {
    throw new LoadTestUsageError(
      `baseline ${baselineFile} is for stage ${baselines.stage}, not ${req.stage}; pass the right --baseline`,
    );
  }
  let baseline = baselineFor(baselines, scenario.name);
  const notes: string[] = [];

  // Refuse a pointless run before spending its duration: the comparison would be refused anyway.
  if (baseline) {
    const diffs = diffParameters(baseline.parameters, parametersOf(scenario));
    if (diffs.length > 0) {
      if (!req.saveBaseline)
        throw new ParameterMismatchError(
          diffs,
          `${baselineFile} (scenario ${scenario.name}) and this run`,
        );
      notes.push(
        `the baseline of ${scenario.name} was measured with other parameters (${diffs.map((d) => d.key).join(", ")}); it is not compared and will be replaced`,
      );
      baseline = undefined;
    }
  }

  const run = (signal?: AbortSignal) =>
    runScenario(scenario, {
      target: req.target,
      env: req.env,
      ...(req.onProgress ? { onProgress: req.onProgress } : {}),
      ...(signal ? { signal } : {}),
      ...(req.abortOnFail !== undefined ? { abortOnFail: req.abortOnFail } : {}),
    });
  const result = req.store
    ? await withLoadTestLease(
        {
          store: req.store,
          stage: req.stage,
          holder: req.holder ?? "goose",
          reason: `load test ${scenario.name} against ${req.target}`,
        },
        (leaseSignal) => run(anySignal(leaseSignal, req.signal)),
      )
    : await run(req.signal);

  if (baseline && baseline.target !== result.target) {
    notes.push(
      `the baseline was measured against ${baseline.target}, this run against ${result.target}; the verdict assumes they are the same service (re-record with --save-baseline if not)`,
    );
  }
  const verdict = compareToBaseline(result, baseline, cfg.tolerances[req.stage], {
    baselineLabel: baselineFile,
  });

  let baselineSaved = false;
  if (req.saveBaseline) {
    const failed = result.thresholds.filter((t) => !t.ok).map((t) => t.threshold);
    if (result.aborted || failed.length > 0) {
      notes.push(
        `baseline not saved: ${result.aborted ? `the run was aborted (${result.aborted.reason})` : `thresholds failed: ${failed.join(", ")}`}`,
      );
    } else {
      saveBaseline(
        baselineFile,
        req.stage,
        entryFromRun(result, { configSha256: cfg.sha256, ...(req.note ? { note: req.note } : {}) }),
      );
      baselineSaved = true;
      notes.push(`saved as the ${scenario.name} baseline in ${baselineFile}`);
    }
  }

  const report: LoadTestReport = {
    kind: "goldengoose.loadtest.report/v1",
    stage: req.stage,
    scenario: scenario.name,
    description: scenario.description,
    config: { file: configPath, sha256: cfg.sha256 },
    ...(baseline
      ? {
          baseline: {
            file: baselineFile,
            savedAt: baseline.savedAt,
            target: baseline.target,
            metrics: baseline.metrics,
          },
        }
      : {}),
    result,
    verdict,
  };
  const files = writeReports(resolve(req.cwd, req.reportDir ?? DEFAULT_REPORT_DIR), report);
  return {
    stage: req.stage,
    scenario: scenario.name,
    result,
    verdict,
    report,
    files,
    baselineFile,
    baselineSaved,
    notes,
  };
}

export interface CompareRequest {
  cwd: string;
  /** The reference: a report JSON or a baseline file. */
  a: string;
  /** The candidate: a report JSON or a baseline file. */
  b: string;
  configPath?: string;
  /** Whose tolerances apply; default the candidate's stage. */
  stage?: StageName;
  /** Needed when a baseline file holds several scenarios and the other side does not say. */
  scenario?: string;
}

export interface CompareOutcome {
  stage: StageName;
  scenario: string;
  a: string;
  b: string;
  verdict: Verdict;
}

interface Loaded {
  path: string;
  stage?: StageName;
  scenario?: string;
  pick(scenario: string | undefined): Measured;
}

/** Compares two measurements (reports or baselines) under a stage's tolerances. */
export function compareFiles(req: CompareRequest): CompareOutcome {
  const cfg = loadStressConfig(resolve(req.cwd, req.configPath ?? DEFAULT_CONFIG_PATH));
  const a = loadMeasured(resolve(req.cwd, req.a));
  const b = loadMeasured(resolve(req.cwd, req.b));
  const scenario = req.scenario ?? b.scenario ?? a.scenario;
  const mb = b.pick(scenario);
  const ma = a.pick(scenario ?? mb.scenario);
  const stage = req.stage ?? b.stage ?? a.stage;
  if (!stage)
    throw new LoadTestUsageError(
      `neither ${req.a} nor ${req.b} says which stage it belongs to; pass --stage (${STAGES.join(", ")})`,
    );
  const verdict = compareToBaseline(mb, ma, cfg.tolerances[stage], {
    baselineLabel: req.a,
    runLabel: req.b,
  });
  return { stage, scenario: mb.scenario, a: a.path, b: b.path, verdict };
}

function loadMeasured(path: string): Loaded {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new LoadTestUsageError(
      code === "ENOENT"
        ? `${path}: no such file; give a report JSON (load-test/reports/*.json) or a baseline file`
        : `${path}: not a readable JSON file (${(err as Error).message})`,
    );
  }
  const obj = json as Partial<LoadTestReport> & Partial<BaselineFile>;
  if (obj && obj.kind === "goldengoose.loadtest.report/v1" && obj.result && obj.stage) {
    const r = obj.result;
    return {
      path,
      stage: obj.stage,
      scenario: r.scenario,
      pick: (s) => {
        if (s !== undefined && s !== r.scenario)
          throw new ParameterMismatchError(
            [{ key: "scenario", baseline: s, run: r.scenario }],
            `${path} and the other side`,
          );
        return r;
      },
    };
  }
  if (obj && obj.version === 1 && obj.scenarios && typeof obj.scenarios === "object") {
    const stage = typeof obj.stage === "string" && isStageName(obj.stage) ? obj.stage : undefined;
    const file = readBaselineFile(path)!;
    const names = Object.keys(file.scenarios);
    return {
      path,
      ...(stage ? { stage } : {}),
      ...(names.length === 1 ? { scenario: names[0]! } : {}),
      pick: (s) => {
        const name = s ?? (names.length === 1 ? names[0] : undefined);
        if (!name)
          throw new LoadTestUsageError(
            `${path} holds several scenarios (${names.join(", ")}); pass --scenario`,
          );
        const e = file.scenarios[name];
        if (!e)
          throw new LoadTestUsageError(
            `${path} has no baseline for scenario "${name}" (it has: ${names.join(", ") || "none"})`,
          );
        return e;
      },
    };
  }
  throw new LoadTestUsageError(
    `${path} is neither a load-test report (kind goldengoose.loadtest.report/v1) nor a baseline file (version 1, scenarios)`,
  );
}

function anySignal(a: AbortSignal, b: AbortSignal | undefined): AbortSignal {
  if (!b) return a;
  const c = new AbortController();
  const abort = () => c.abort();
  if (a.aborted || b.aborted) c.abort();
  a.addEventListener("abort", abort, { once: true });
  b.addEventListener("abort", abort, { once: true });
  return c.signal;
}

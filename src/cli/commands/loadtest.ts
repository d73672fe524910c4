import { Option, type Command } from "commander";
import { InputError } from "../../errors.js";
import { gooseCommand } from "../../command-line.js";
import type { CriterionResult, Progress, Verdict } from "../../loadtest/index.js";
import { formatBytesPerSecond, formatMs } from "../../loadtest/units.js";
import { Output, type CliIo } from "../io.js";
import type { SetExitCode } from "../io.js";
import { jsonOption, openStoreFor, stageArg, storeOption } from "../options.js";
import { invocation } from "../invocation.js";
import { progressReporter } from "../progress.js";
import { paintVerdict } from "../style.js";
import { STAGES, type StageName } from "../../config/stages.js";

// The load-test modules (zod, yaml, autocannon below them) load inside the actions, so `goose
// loadtest --help` loads none of them (tests/cli/lazy-commands.test.ts).
const loadtest = () => import("../../loadtest/index.js");
type Fmt = Awaited<ReturnType<typeof loadtest>>["fmt"];

function criterionLine(fmt: Fmt, c: CriterionResult): string {
  const base = c.baseline !== undefined ? ` baseline ${fmt(c.metric, c.baseline)}` : "";
  const warn = c.warnLimit !== undefined ? `, warn limit ${fmt(c.metric, c.warnLimit)}` : "";
  return `  ${c.status.toUpperCase().padEnd(4)} ${c.kind.padEnd(9)} ${c.name}: ${fmt(c.metric, c.actual)}${base} (limit ${fmt(c.metric, c.limit)}${warn})${c.key ? " [key]" : ""}`;
}

function printVerdict(fmt: Fmt, out: Output, v: Verdict): void {
  for (const c of v.criteria) {
    const status = c.status.toUpperCase().padEnd(4);
    out.line(
      criterionLine(fmt, c).replace(
        status,
        paintVerdict(out.paint, status.trim()) + status.slice(status.trim().length),
      ),
    );
  }
  for (const r of v.reasons) out.line(`  - ${r}`);
}

function progressLine(p: Progress): string {
  const time = p.plannedSeconds
    ? `${p.elapsedSeconds.toFixed(0)}/${p.plannedSeconds}s`
    : `${p.elapsedSeconds.toFixed(0)}s`;
  return `${p.scenario} phase ${p.phase}/${p.phases} ${time}  ${p.requests} responses  ${Math.round(p.rps)} req/s  p99 ${formatMs(p.p99Ms)}  errors ${p.errors}`;
}

/**
 * The stage of `loadtest run`: the positional argument, or the deprecated `--stage` (with a note
 * on stderr naming the new spelling); both given must agree, and one is required.
 */
function loadtestStage(
  io: CliIo,
  positional: string | undefined,
  flag: string | undefined,
  cmd: Command,
): StageName {
  const argv = invocation(cmd);
  const rewritten = (stage: string): string => {
    const rest: string[] = [];
    let positionalSeen = false;
    for (let i = argv.indexOf("run") + 1; i < argv.length; i++) {
      const a = argv[i]!;
      if (a === "--stage") i++;
      else if (a.startsWith("--stage=")) continue;
      else if (!positionalSeen && a === positional) positionalSeen = true;
      else rest.push(a);
    }
    return gooseCommand(["loadtest", "run", stage, ...rest]);
  };
  if (positional !== undefined && flag !== undefined && positional !== flag) {
    throw new InputError(`loadtest run got two stages: "${positional}" and --stage "${flag}"`, {
      code: "usage.stage-twice",
      fix: `give the stage once, as the argument: \`${rewritten(positional)}\``,
    });
  }
  const given = positional ?? flag;
  if (given === undefined) {
    throw new InputError("loadtest run needs the stage whose baseline applies", {
      code: "usage.missing-stage",
      fix: `name it first: \`${rewritten("sandbox")}\` (${STAGES.join(", ")})`,
    });
  }
  const stage = stageArg(given);
  if (positional === undefined) {
    io.stderr.write(
      `goose: --stage is deprecated for loadtest run; the stage is an argument, as everywhere: \`${rewritten(stage)}\`\n`,
    );
  }
  return stage;
}

/** `goose loadtest run|compare`. */
export function registerLoadtest(program: Command, io: CliIo, setExitCode: SetExitCode): void {
  const lt = program
    .command("loadtest")
    .description("load tests against a stage's baseline (load-test/)");

  lt.command("run")
    .description(
      "run a scenario against a target and judge it against the stage's baseline; exit 1 on fail, 2 on bad input or a baseline measured with other parameters",
    )
    .argument(
      "[stage]",
      "stage whose baseline and tolerances apply: sandbox, compliance, production",
    )
    // Before the stage was positional (as everywhere else) it was `--stage`: still accepted so
    // existing scripts keep working, with a note naming the new spelling.
    .addOption(new Option("--stage <stage>", "deprecated: the stage argument").hideHelp())
    .requiredOption(
      "--scenario <name>",
      "scenario in the config (smoke, baseline, stress, spike, soak)",
    )
    .requiredOption("--target <url>", "http(s) URL of the service under test")
    .option("--config <file>", "stress-test config", "load-test/config/stress-test.yaml")
    .option("--baseline <file>", "baseline file (default load-test/baseline/<stage>.json)")
    .option(
      "--save-baseline",
      "record this run as the scenario's baseline (when its thresholds pass)",
    )
    .option("--note <text>", "with --save-baseline: what the target was")
    .option("--report-dir <dir>", "where reports go", "load-test/reports")
    .option("--no-abort", "do not stop early when an abortOnFail threshold fails")
    .option("--holder <name>", "lease holder (default user@host)")
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(
      async (
        stageArgument: string | undefined,
        o: {
          stage?: string;
          scenario: string;
          target: string;
          config: string;
          baseline?: string;
          saveBaseline?: boolean;
          note?: string;
          reportDir: string;
          abort: boolean;
          holder?: string;
          store?: string;
          json?: boolean;
        },
        cmd: Command,
      ) => {
        const out = new Output(io, Boolean(o.json));
        const stage = loadtestStage(io, stageArgument, o.stage, cmd);
        // SIGINT (Ctrl-C) and SIGTERM (CI cancel, kill) stop the run the same way: the result so
        // far is reported, the lease released, and the exit code is 128 + the signal (130, 143).
        const interrupt = new AbortController();
        let signalled: NodeJS.Signals | undefined;
        const onSignal = (sig: NodeJS.Signals) => {
          signalled ??= sig;
          interrupt.abort();
        };
        process.once("SIGINT", onSignal);
        process.once("SIGTERM", onSignal);
        // A live line on a terminal; piped, a plain line every 10 s (src/cli/progress.ts).
        const [{ fmt, describeErrorKinds }, { runLoadTest }, { defaultHolder }] = await Promise.all(
          [loadtest(), import("../../workflows/loadtest/index.js"), import("../../locks/index.js")],
        );
        const progress = progressReporter(io);
        try {
          const outcome = await runLoadTest({
            cwd: io.cwd,
            env: io.env,
            stage,
            scenario: o.scenario,
            target: o.target,
            configPath: o.config,
            ...(o.baseline ? { baselinePath: o.baseline } : {}),
            reportDir: o.reportDir,
            saveBaseline: Boolean(o.saveBaseline),
            ...(o.note ? { note: o.note } : {}),
            store: openStoreFor(io, o.store),
            holder: o.holder ?? defaultHolder(io.env),
            abortOnFail: o.abort,
            signal: interrupt.signal,
            onProgress: (p: Progress) => progress.update(progressLine(p)),
          });
          progress.done();
          const { result, verdict } = outcome;
          const m = result.metrics;
          out.line(
            `loadtest ${outcome.scenario} on ${stage} → ${result.target}: ${paintVerdict(out.paint, verdict.verdict.toUpperCase())} (score ${verdict.score})`,
          );
          out.line(
            `  ${m.requests} responses in ${m.durationSeconds}s: ${m.rps} req/s, ${formatBytesPerSecond(m.throughput)}; ` +
              `p50 ${formatMs(m.latencyMs.p50)} p95 ${formatMs(m.latencyMs.p95)} p99 ${formatMs(m.latencyMs.p99)} max ${formatMs(m.latencyMs.max)}; ` +
              `errors ${m.errors} (${[describeErrorKinds(m), `timeouts ${m.timeouts}`].filter(Boolean).join(", ")}), non-2xx ${m.non2xx}, error rate ${fmt("errors", m.errorRate)}`,
          );
          if (result.aborted)
            out.line(`  aborted after ${result.aborted.atSeconds}s: ${result.aborted.reason}`);
          printVerdict(fmt, out, verdict);
          for (const n of outcome.notes) out.line(`  note: ${n}`);
          out.line(`  reports: ${outcome.files.html} (also .json, .md, .prom)`);
          out.result({
            stage,
            scenario: outcome.scenario,
            target: result.target,
            verdict: verdict.verdict,
            score: verdict.score,
            criteria: verdict.criteria,
            reasons: verdict.reasons,
            baseline: {
              file: outcome.baselineFile,
              compared: verdict.baseline === "compared",
              saved: outcome.baselineSaved,
            },
            metrics: result.metrics,
            parameters: result.parameters,
            ...(result.aborted ? { aborted: result.aborted } : {}),
            reports: outcome.files,
            notes: outcome.notes,
          });
          if (signalled) {
            out.info(`goose: loadtest stopped by ${signalled}; report written, lease released`);
            setExitCode(signalled === "SIGTERM" ? 143 : 130);
          } else {
            setExitCode(verdict.verdict === "fail" ? 1 : 0);
          }
        } finally {
          progress.done();
          process.removeListener("SIGINT", onSignal);
          process.removeListener("SIGTERM", onSignal);
        }
      },
    );

  lt.command("compare <a> <b>")
    .description(
      "judge B (candidate) against A (reference); each a report JSON or a baseline file; exit 1 on fail, 2 when their load parameters differ",
    )
    .option("--stage <stage>", "whose tolerances apply (default B's stage)")
    .option("--scenario <name>", "scenario to take from a baseline file holding several")
    .option("--config <file>", "stress-test config", "load-test/config/stress-test.yaml")
    .addOption(jsonOption())
    .action(
      async (
        a: string,
        b: string,
        o: { stage?: string; scenario?: string; config: string; json?: boolean },
      ) => {
        const out = new Output(io, Boolean(o.json));
        const [{ fmt }, { compareFiles }] = await Promise.all([
          loadtest(),
          import("../../workflows/loadtest/index.js"),
        ]);
        const outcome = compareFiles({
          cwd: io.cwd,
          a,
          b,
          configPath: o.config,
          ...(o.stage ? { stage: stageArg(o.stage) } : {}),
          ...(o.scenario ? { scenario: o.scenario } : {}),
        });
        const v = outcome.verdict;
        out.line(
          `compare ${outcome.scenario} on ${outcome.stage}: ${paintVerdict(out.paint, v.verdict.toUpperCase())} (score ${v.score})`,
        );
        out.line(`  reference ${outcome.a}`);
        out.line(`  candidate ${outcome.b}`);
        printVerdict(fmt, out, v);
        out.result({
          stage: outcome.stage,
          scenario: outcome.scenario,
          a: outcome.a,
          b: outcome.b,
          verdict: v.verdict,
          score: v.score,
          criteria: v.criteria,
          reasons: v.reasons,
        });
        setExitCode(v.verdict === "fail" ? 1 : 0);
      },
    );
}

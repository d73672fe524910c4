/**
 * PROMOTION: moves a release one stage forward (sandbox → compliance → production) through gates.
 *
 * Steps, in order; each is recorded in the evidence chain and a failure stops the workflow:
 *  1. lock          promotion leases on the source and target stages (blocked → exit 1 naming the lease)
 *  2. validate      the source stage: backup recency, rollback drill on its latest snapshot
 *                   (decrypts, verifies, passes the policy pack), its preview has no mandatory violation
 *  3. readiness     the target's alert rules (promtool) and its preview under its policy enforcement
 *                   (cheap static checks before the snapshot and the load test)
 *  4. snapshot      a snapshot of the source stack (`exportStack` → src/snapshots, with evidence)
 *  5. stage-tests   smoke (from sandbox) or the baseline load test (later stages) against --target
 *  6. supply-chain  SBOM (CycloneDX) and the vulnerability scan against the target's threshold
 *  7. decision      evidence: the gate decision (in the style of an SLSA verification summary)
 *  8. deploy        `up` of the target stack through the StackEngine port (offline or real)
 *  9. verify        the target answers its health URL and its stack holds resources
 * 10. record        evidence: the promotion record; reports (JSON + Markdown) and metrics
 *
 * `promote(opts)` returns a PromotionReport whatever happens (result promoted | failed | blocked);
 * the CLI maps failed and blocked to exit 1. Bad usage (not the next stage, no snapshot key,
 * missing --target) throws a InputError (exit 2) before anything runs. To resume after a failure,
 * fix what the failure names and run the same command again: every gate is re-evaluated (the
 * SBOM and the vulnerability scan come from the cache when nothing changed).
 */
import { gooseCommand } from "../../command-line.js";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { InputError } from "../../errors.js";
import { auditedAppender, loadAuditRules, requiredKinds } from "../../audit/index.js";
import { loadStageConfigFile, stackFileName, type StageConfig } from "../../config/index.js";
import { nextStage, STAGES, type StageName } from "../../config/stages.js";
import type { StackEngine } from "../../engine/types.js";
import {
  openEvidenceChain,
  redact,
  type EvidenceChain,
  type EvidenceRecord,
} from "../../evidence/index.js";
import {
  alertsGate,
  backupGate,
  loadEnrichment,
  loadTestGate,
  policyGate,
  rollbackGate,
  sbomGate,
  vulnGate,
  type GateResult,
} from "../../gates/index.js";
import { LeaseHeldError, openLocks, type Lease } from "../../locks/index.js";
import { assertNoClusterBlackout, ClusterBlackoutError } from "../../locks/cluster.js";
import { createSnapshot, keySourceFromEnv, snapshotKeyringFor } from "../../snapshots/index.js";
import type { ObjectStore } from "../../store/types.js";
import { renderPromotionMarkdown } from "./markdown.js";
import {
  PROMOTION_STEPS,
  type PromotionEvent,
  type PromotionFailure,
  type PromotionReport,
  type PromotionStep,
  type StepReport,
} from "./report.js";
import { markTransitionStart, recordTransition, type MetricsSink } from "../transition-metrics.js";

export * from "./report.js";
export { renderPromotionMarkdown } from "./markdown.js";

export interface PromoteOptions {
  from: StageName;
  to: StageName;
  /** The repository: Pulumi.<stage>.yaml, policy-pack/, monitoring/, security/, load-test/, package-lock.json. */
  repoRoot: string;
  env: NodeJS.ProcessEnv;
  store: ObjectStore;
  engine: StackEngine;
  /** Who promotes (lease holder, evidence actor). */
  holder: string;
  /** The command that reruns this promotion as the user typed it (the CLI's argv), for `resume`. */
  rerunCommand?: string;
  /** The source stage's service under test (smoke / load test). */
  target: string;
  /** The target stage's health URL, checked after `up` (default: its prometheusUrl output + /-/healthy). */
  healthUrl?: string;
  loadTest?: { configPath?: string; baselinePath?: string; reportDir?: string; scenario?: string };
  /** Prometheus text endpoint with the backup metrics (default: the newest snapshot stands in). */
  backupMetricsUrl?: string;
  /** Also run the promtool unit tests (not only check that each alert has one). */
  runRuleTests?: boolean;
  security?: {
    dbFile?: string;
    policyFile?: string;
    allowListFile?: string;
    enrichmentFile?: string;
  };
  /** Where the JSON and Markdown reports go (default <repoRoot>/.goose/reports/promotions). */
  reportDir?: string;
  metrics?: MetricsSink;
  /**
   * Pushgateways where the stages' in-cluster backup and scan jobs announce themselves
   * (src/locks/cluster.ts); a running job on the source or target stage blocks the promotion.
   */
  blackoutSources?: string[];
  leaseTtlSeconds?: number;
  onEvent?: (e: PromotionEvent) => void;
  now?: () => Date;
}

/** The one allowed transition from `from` is to its next stage; anything else is bad usage. */
export function checkTransition(from: StageName, to: StageName): void {
  const next = nextStage(from);
  if (to !== next) {
    throw new InputError(
      next
        ? `cannot promote ${from} to ${to}: promotion goes one stage forward only, to ${next} (order: ${STAGES.join(" → ")})`
        : `cannot promote ${from}: it is the last stage (order: ${STAGES.join(" → ")})`,
    );
  }
}

class StepFailed extends Error {
  constructor(readonly failure: Omit<PromotionFailure, "resume">) {
    super(failure.reason);
  }
}

function scenarioFor(from: StageName): string {
  return from === "sandbox" ? "smoke" : "baseline";
}

async function checkHealth(
  url: string,
  attempts = 5,
): Promise<{ ok: boolean; status?: number; error?: string }> {
  let last: { ok: boolean; status?: number; error?: string } = { ok: false };
  for (let i = 0; i < attempts; i++) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      await res.arrayBuffer();
      last = { ok: res.ok, status: res.status };
      if (res.ok) return last;
    } catch (err) {
      last = { ok: false, error: (err as Error).message };
    }
    await new Promise((r) => setTimeout(r, 100 * (i + 1)));
  }
  return last;
}

/** Runs the promotion; see the module comment. */
export async function promote(opts: PromoteOptions): Promise<PromotionReport> {
  checkTransition(opts.from, opts.to);
  if (!opts.target) {
    throw new InputError(
      `--target is required: the URL of the ${opts.from} service the stage tests run against`,
    );
  }
  const now = opts.now ?? (() => new Date());
  const { from, to, repoRoot, env, store, engine } = opts;
  const keys = keySourceFromEnv(env, { kmsKeyFlag: false }); // exit 2 before anything when no snapshot key is configured
  let fromCfg: StageConfig;
  let toCfg: StageConfig;
  try {
    fromCfg = loadStageConfigFile(path.join(repoRoot, stackFileName(from)));
    toCfg = loadStageConfigFile(path.join(repoRoot, stackFileName(to)));
  } catch (err) {
    throw new InputError((err as Error).message);
  }
  const sec = {
    dbFile: opts.security?.dbFile ?? path.join(repoRoot, "security/vulnerability-db.json"),
    policyFile:
      opts.security?.policyFile ?? path.join(repoRoot, "security/vulnerability-policy.yaml"),
    allowListFile: opts.security?.allowListFile ?? path.join(repoRoot, "security/allow-list.yaml"),
    enrichmentFile:
      opts.security?.enrichmentFile ?? path.join(repoRoot, "security/sbom/enrichment.yaml"),
  };
  // Audit as data: which records each step must produce, and what each record holds (exit 2 when
  // the files are missing or invalid, naming file, line and fix).
  const audit = loadAuditRules(repoRoot, { promotion: PROMOTION_STEPS });
  const started = now();
  const id = `promo-${from}-${to}-${started.toISOString().replace(/[-:.]/g, "")}-${randomBytes(3).toString("hex")}`;
  const chain: EvidenceChain = openEvidenceChain(store, env);
  const evidence: EvidenceChain = auditedAppender(chain, audit);
  const locks = openLocks(store, { evidence: chain });
  /** Kinds of the records each step appended (checked against collection-rules.yaml). */
  const produced = new Map<PromotionStep, string[]>();
  const produce = (step: PromotionStep, kind: string) =>
    produced.set(step, [...(produced.get(step) ?? []), kind]);
  const emit = (e: PromotionEvent) => opts.onEvent?.(e);
  const steps: StepReport[] = PROMOTION_STEPS.map((name) => ({
    name,
    status: "pending",
    gates: [],
    evidence: [],
    notes: [],
  }));
  const report: PromotionReport = {
    kind: "goldengoose.promotion.report/v1",
    id,
    from,
    to,
    mode: engine.mode,
    actor: opts.holder,
    startedAt: started.toISOString(),
    finishedAt: "",
    durationMs: 0,
    result: "failed",
    steps,
    evidence: { records: 0 },
  };
  const step = (name: PromotionStep) => steps.find((s) => s.name === name) as StepReport;
  const record = async (
    s: StepReport,
    input: Parameters<EvidenceChain["append"]>[0],
  ): Promise<EvidenceRecord> => {
    const rec = await evidence.append({ ...input, data: { promotion: id, ...input.data } });
    s.evidence.push(rec.id);
    produce(s.name, input.kind);
    report.evidence.records++;
    return rec;
  };
  const gate = async (s: StepReport, result: GateResult, stage: StageName): Promise<GateResult> => {
    s.gates.push(result);
    emit({
      type: "gate",
      step: s.name,
      gate: result,
      message: `${result.gate}: ${result.verdict} — ${result.summary}`,
    });
    await record(s, {
      kind: `gate.${result.gate}`,
      stage,
      subject: result.subjects,
      data: {
        verdict: result.verdict,
        summary: result.summary,
        ...(result.fix ? { fix: result.fix } : {}),
        details: result.details,
        durationMs: result.durationMs,
      },
    });
    if (result.verdict === "fail") {
      throw new StepFailed({
        step: s.name,
        gate: result.gate,
        reason: result.summary,
        fix: result.fix ?? "see the gate details",
      });
    }
    return result;
  };
  /** Records every result first, then stops at the first failing one. */
  const gates = async (s: StepReport, results: GateResult[], stage: StageName) => {
    const failing = results.find((r) => r.verdict === "fail");
    for (const r of results) if (r !== failing) await gate(s, r, stage);
    if (failing) await gate(s, failing, stage);
  };
  const run = async (name: PromotionStep, fn: (s: StepReport) => Promise<void>) => {
    const s = step(name);
    s.status = "running";
    s.startedAt = now().toISOString();
    emit({ type: "step", step: name, status: "running", message: name });
    const t0 = performance.now();
    try {
      await fn(s);
      const have = [...(produced.get(name) ?? [])];
      const missing = requiredKinds(audit, "promotion", name).filter((k) => {
        const i = have.indexOf(k);
        if (i < 0) return true;
        have.splice(i, 1);
        return false;
      });
      if (missing.length > 0) {
        throw new StepFailed({
          step: name,
          reason: `step ${name} produced no ${missing.join(", ")} evidence, which ${audit.files.collection} requires of it`,
          fix: `make the step record it, or change workflows.promotion.steps.${name} in ${audit.files.collection} (a reviewed change)`,
        });
      }
      s.status = s.gates.some((g) => g.verdict === "warn") ? "warned" : "passed";
    } catch (err) {
      s.status = "failed";
      throw err;
    } finally {
      s.durationMs = Math.round(performance.now() - t0);
      emit({ type: "step", step: name, status: s.status, message: `${name} ${s.status}` });
    }
  };

  const leases: Lease[] = [];
  let heartbeat: NodeJS.Timeout | undefined;
  const sink: MetricsSink = {
    ...opts.metrics,
    textfileDir: opts.metrics?.textfileDir ?? path.join(repoRoot, ".goose/metrics"),
  };
  let snapshotSha = "";
  let healthUrl = opts.healthUrl;
  try {
    await run("lock", async (s) => {
      const ttl = opts.leaseTtlSeconds ?? 900;
      for (const stage of [from, to]) {
        leases.push(
          await locks.acquire(stage, "promotion", {
            ttlSeconds: ttl,
            holder: opts.holder,
            reason: id,
          }),
        );
      }
      heartbeat = setInterval(
        () => {
          for (let i = 0; i < leases.length; i++) {
            const l = leases[i] as Lease;
            locks.heartbeat(l).then(
              (n) => (leases[i] = n),
              (err: unknown) => s.notes.push(`heartbeat failed: ${(err as Error).message}`),
            );
          }
        },
        Math.max(1000, (ttl * 1000) / 3),
      );
      heartbeat.unref();
      s.notes.push(`promotion leases on ${from} and ${to} held by ${opts.holder}`);
      for (const url of opts.blackoutSources ?? []) {
        await assertNoClusterBlackout(url, [from, to], { now: now(), blocked: "promotion" });
        s.notes.push(`no backup or scan job running on ${from} or ${to} (${url})`);
      }
      try {
        await markTransitionStart(store, sink, "promotion", to);
      } catch (err) {
        s.notes.push(`metrics: ${(err as Error).message}`);
      }
      await record(s, {
        kind: "promotion.started",
        stage: to,
        subject: [],
        data: { from, to, actor: opts.holder, host: hostname(), mode: engine.mode },
      });
    });

    await run("validate", async (s) => {
      await gate(
        s,
        await backupGate({
          stage: from,
          store,
          intervalHours: fromCfg.backup.intervalHours,
          ...(opts.backupMetricsUrl ? { metricsUrl: opts.backupMetricsUrl } : {}),
          now: now(),
        }),
        from,
      );
      // Both start a policy-pack process: run them side by side, then judge in order.
      const [drill, preview] = await Promise.all([
        rollbackGate({
          stage: from,
          store,
          env,
          // "rollback tested" covers the data too: a passing restore drill within the objective.
          restoreDrill: fromCfg.recovery,
          now: now(),
          trust: snapshotKeyringFor(repoRoot, from, env),
          policyPackDir: path.join(repoRoot, "policy-pack"),
        }),
        policyGate(engine, from),
      ]);
      await gates(s, [drill, preview], from);
    });

    await run("readiness", async (s) => {
      const [alerts, preview] = await Promise.all([
        alertsGate({ stage: to, repoRoot, ...(opts.runRuleTests ? { runTests: true } : {}) }),
        policyGate(engine, to),
      ]);
      await gates(s, [alerts, preview], to);
    });

    await run("snapshot", async (s) => {
      const text = await engine.exportStack(from);
      const manifest = await createSnapshot(store, {
        stage: from,
        source: Readable.from([Buffer.from(text)]),
        sourceKind: "engine",
        reason: `promotion ${id} (${from} → ${to})`,
        keys,
        evidence: {
          append: async (input) => {
            const rec = await evidence.append({ ...input, data: { promotion: id, ...input.data } });
            s.evidence.push(rec.id);
            produce(s.name, input.kind);
            report.evidence.records++;
            return rec;
          },
        },
        now: now(),
      });
      snapshotSha = manifest.plaintext.sha256;
      report.snapshot = { id: manifest.id, sha256: manifest.plaintext.sha256 };
      s.notes.push(`snapshot ${manifest.id} (${manifest.resourceCount} resources)`);
    });

    await run("stage-tests", async (s) => {
      const scenario = opts.loadTest?.scenario ?? scenarioFor(from);
      s.notes.push(`${scenario} against ${opts.target}`);
      await gate(
        s,
        await loadTestGate({
          cwd: repoRoot,
          env,
          stage: from,
          scenario,
          target: opts.target,
          ...(opts.loadTest?.configPath ? { configPath: opts.loadTest.configPath } : {}),
          ...(opts.loadTest?.baselinePath ? { baselinePath: opts.loadTest.baselinePath } : {}),
          reportDir: opts.loadTest?.reportDir ?? path.join(repoRoot, ".goose/reports/loadtest"),
          requireBaseline: to === "production",
        }),
        from,
      );
    });

    await run("supply-chain", async (s) => {
      const out = await sbomGate({
        repoRoot,
        stage: to,
        config: toCfg,
        enrichment: loadEnrichment(sec.enrichmentFile),
        enrichmentFile: sec.enrichmentFile,
        store,
      });
      await gate(s, out.result, to);
      if (!out.sbom)
        throw new StepFailed({
          step: "supply-chain",
          gate: "sbom",
          reason: "no SBOM was produced",
          fix: "see the sbom gate",
        });
      report.sbom = { key: out.sbom.key, sha256: out.sbom.digest };
      await gate(
        s,
        await vulnGate({
          store,
          stage: to,
          sbom: out.sbom,
          dbFile: sec.dbFile,
          policyFile: sec.policyFile,
          allowListFile: sec.allowListFile,
          repoRoot,
          now: now(),
        }),
        to,
      );
    });

    await run("decision", async (s) => {
      const all = steps.flatMap((x) => x.gates);
      await record(s, {
        kind: "promotion.decision",
        stage: to,
        subject: [
          ...(report.snapshot
            ? [{ name: `snapshot:${report.snapshot.id}`, digest: { sha256: snapshotSha } }]
            : []),
          ...(report.sbom
            ? [{ name: report.sbom.key, digest: { sha256: report.sbom.sha256 } }]
            : []),
        ],
        data: {
          predicateType: "https://slsa.dev/verification_summary/v1",
          verifier: { id: "goose promote" },
          timeVerified: now().toISOString(),
          verificationResult: "PASSED",
          gates: all.map((g) => ({ gate: g.gate, verdict: g.verdict, summary: g.summary })),
        },
      });
    });

    await run("deploy", async (s) => {
      const up = await engine.up(to, {
        onProgress: (m) => emit({ type: "info", step: "deploy", message: m }),
      });
      report.deployed = {
        resourceChanges: up.resourceChanges,
        outputs: Object.keys(up.outputs).sort(),
      };
      s.notes.push(
        `up ${to}: ${Object.entries(up.resourceChanges)
          .map(([k, v]) => `${k} ${v}`)
          .join(", ")}`,
      );
      if (!healthUrl && typeof up.outputs.prometheusUrl === "string") {
        healthUrl = `${up.outputs.prometheusUrl.replace(/\/$/, "")}/-/healthy`;
      }
    });

    await run("verify", async (s) => {
      const exported = JSON.parse(await engine.exportStack(to)) as {
        deployment?: { resources?: unknown[] };
      };
      const resources = exported.deployment?.resources?.length ?? 0;
      if (resources === 0) {
        throw new StepFailed({
          step: "verify",
          reason: `the ${to} stack holds no resources after up`,
          fix: `check the engine output: goose preview ${to}`,
        });
      }
      if (!healthUrl) {
        throw new StepFailed({
          step: "verify",
          reason: `no health URL for ${to}`,
          fix: "pass --health-url",
        });
      }
      const h = await checkHealth(healthUrl);
      s.notes.push(`${healthUrl}: ${h.status ?? h.error}`);
      await record(s, {
        kind: "promotion.verify",
        stage: to,
        subject: [],
        data: {
          predicateType: "https://in-toto.io/attestation/test-result/v0.1",
          result: h.ok ? "PASSED" : "FAILED",
          healthUrl,
          status: h.status ?? null,
          error: h.error ?? null,
          resources,
        },
      });
      if (!h.ok) {
        throw new StepFailed({
          step: "verify",
          reason: `${to} is deployed but its health check ${healthUrl} answered ${h.status ?? h.error}`,
          fix: `inspect ${to} (goose preview ${to}; its Prometheus and Grafana pods); roll back with goose rollback ${to} --to <snapshot-id> if it stays unhealthy`,
        });
      }
    });

    await run("record", async (s) => {
      await record(s, {
        kind: "promotion.completed",
        stage: to,
        subject: [
          ...(report.snapshot
            ? [{ name: `snapshot:${report.snapshot.id}`, digest: { sha256: snapshotSha } }]
            : []),
          ...(report.sbom
            ? [{ name: report.sbom.key, digest: { sha256: report.sbom.sha256 } }]
            : []),
        ],
        data: {
          predicateType: "https://in-toto.io/attestation/promotion-record",
          srcRef: from,
          dstRef: to,
          actor: opts.holder,
          resourceChanges: report.deployed?.resourceChanges ?? {},
        },
      });
    });
    report.result = "promoted";
  } catch (err) {
    const current = steps.find((s) => s.status === "failed" || s.status === "running");
    const stepName = current?.name ?? "lock";
    if (current) current.status = "failed";
    let failure: Omit<PromotionFailure, "resume">;
    if (err instanceof StepFailed) failure = err.failure;
    else if (err instanceof LeaseHeldError) {
      report.result = "blocked";
      failure = {
        step: stepName,
        reason: err.message,
        fix: `wait for the ${err.lease.kind} on ${err.lease.stage} to end, or break a stale lease with goose lock release`,
      };
    } else if (err instanceof ClusterBlackoutError) {
      report.result = "blocked";
      failure = {
        step: stepName,
        reason: err.message,
        fix: `wait for the ${err.blackouts.map((b) => `${b.kind} job on ${b.stage}`).join(" and ")} to finish`,
      };
    } else if (err instanceof InputError) {
      throw err; // a missing prerequisite (key, tool, file): exit 2 with its own message
    } else {
      failure = {
        step: stepName,
        reason: (err as Error).message,
        fix: "see the error; rerun when fixed",
      };
    }
    report.failure = {
      ...failure,
      resume: `fix the cause, then rerun \`${
        opts.rerunCommand ??
        gooseCommand([
          "promote",
          from,
          to,
          ...(engine.mode === "offline" ? ["--offline"] : []),
          ...(opts.target ? ["--target", opts.target] : []),
        ])
      }\` (every gate is evaluated again; SBOM and scan come from the cache when unchanged)`,
    };
    try {
      const s = current ?? step("lock");
      await record(s, {
        kind: report.result === "blocked" ? "promotion.blocked" : "promotion.failed",
        stage: to,
        subject: [],
        data: {
          from,
          to,
          step: failure.step,
          ...(failure.gate ? { gate: failure.gate } : {}),
          reason: failure.reason,
          fix: failure.fix,
        },
      });
    } catch (e) {
      report.failure.reason += ` (and the failure could not be recorded: ${(e as Error).message})`;
    }
  } finally {
    if (heartbeat) clearInterval(heartbeat);
    for (const l of leases)
      await locks
        .release(l.stage, "promotion", { token: l.token, missingOk: true })
        .catch(() => undefined);
    for (const s of steps) {
      if (s.status !== "pending") continue;
      s.status = "skipped";
      emit({ type: "step", step: s.name, status: "skipped", message: `${s.name} skipped` });
    }
  }

  const finished = now();
  report.finishedAt = finished.toISOString();
  report.durationMs = finished.getTime() - started.getTime();
  const head = await evidence.head();
  if (head) report.evidence.head = head;
  try {
    const m = await recordTransition(store, sink, {
      kind: "promotion",
      stage: to,
      from,
      result: report.result === "promoted" ? "success" : report.result,
      durationSeconds: report.durationMs / 1000,
      at: finished,
    });
    report.metrics = { published: m.published };
  } catch (err) {
    report.metrics = { error: (err as Error).message };
  }
  await writeReports(opts, report);
  return report;
}

async function writeReports(opts: PromoteOptions, report: PromotionReport): Promise<void> {
  const safe = redact(report, opts.env);
  const dir = opts.reportDir ?? path.join(opts.repoRoot, ".goose/reports/promotions");
  mkdirSync(dir, { recursive: true });
  const json = path.join(dir, `${report.id}.json`);
  const markdown = path.join(dir, `${report.id}.md`);
  report.files = { json, markdown, stored: `promotions/${report.id}.json` };
  safe.files = report.files;
  writeFileSync(json, JSON.stringify(safe, null, 2) + "\n");
  writeFileSync(markdown, renderPromotionMarkdown(safe));
  await opts.store.put(`promotions/${report.id}.json`, JSON.stringify(safe, null, 2) + "\n", {
    contentType: "application/json",
  });
}

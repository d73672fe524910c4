/**
 * Rollback of a stage to a verified snapshot of the same stage. Pulumi has no rollback
 * (pulumi/pulumi#96) and `stack import` restores state, not infrastructure, so the workflow
 * imports, then refreshes and updates to converge. Steps, in order; it stops at the first
 * failing one, says which, and how to resume or undo:
 *
 *  1. lock          the stage is free (no load test, backup, scan, promotion); hold a `rollback` lease;
 *                   no backup or scan job announces itself running in the stage's cluster on any
 *                   `blackoutSources` Pushgateway (src/locks/cluster.ts), else the rollback is
 *                   blocked (exit 1, a `rollback.blocked` record) and the lease released
 *  2. verify        the snapshot verifies (MAC, key, digests, GCM), is of this stage and stack,
 *                   passes validation; integrity issues refuse unless `force`; its secrets
 *                   provider matches the stack's
 *  3. dependencies  its provider plugins against the versions package.json pins now
 *  4. compliance    its resources through the current policy pack (Analyzer protocol, as
 *                   `pulumi policy analyze --file`); a mandatory violation refuses unless
 *                   `acceptViolations: { reason }`, which is recorded as evidence
 *  5. recovery      a snapshot of the current state (the undo)
 *  6. import        engine.importStack (the snapshot is marked as referenced by this rollback)
 *  7. refresh       engine.refresh
 *  8. update        engine.up, to converge the infrastructure to the imported state
 *  9. health        Prometheus `/-/ready` and Grafana `/api/health` (skipped without URLs)
 * 10. annotation    a Grafana annotation (skipped without a Grafana URL)
 * 11. evidence      a `rollback` record with every step
 *
 * Like a promotion, a rollback publishes the transition metrics (src/workflows/transition-metrics.ts,
 * kind rollback): in progress once the lease is held, then success, failed or blocked with its
 * duration, so GoldenGooseTransitionDuringBlackout sees rollbacks too.
 *
 * Every step is appended to the evidence chain as `rollback.<step>`, with the target snapshot
 * as subject. All Pulumi work goes through the StackEngine port.
 */
import path from "node:path";
import { markTransitionStart, recordTransition, type MetricsSink } from "../transition-metrics.js";
import { gooseCommand } from "../../command-line.js";
import { CheckFailedError, InputError } from "../../errors.js";
import type { StageName } from "../../config/stages.js";
import type { PolicyViolation, StackEngine } from "../../engine/types.js";
import {
  assertNoClusterBlackout,
  ClusterBlackoutError,
  type ClusterBlackout,
} from "../../locks/cluster.js";
import type { Locks, Lease } from "../../locks/index.js";
import {
  checkDependencies,
  createSnapshot,
  pinnedProviderVersions,
  readManifest,
  readSnapshotExport,
  SnapshotNotFoundError,
  referenceSnapshot,
  SnapshotVerifyError,
  stageOfId,
  toImportable,
  validateExport,
  type KeySource,
  type SnapshotKeyring,
  type SnapshotManifest,
} from "../../snapshots/index.js";
import type { ObjectStore } from "../../store/types.js";
import { secretsProviderOf } from "../../pulumi-export/index.js";

export const ROLLBACK_STEPS = [
  "lock",
  "verify",
  "dependencies",
  "compliance",
  "recovery",
  "import",
  "refresh",
  "update",
  "health",
  "annotation",
  "evidence",
] as const;
export type RollbackStep = (typeof ROLLBACK_STEPS)[number];

export interface StepReport {
  step: RollbackStep;
  status: "ok" | "warning" | "skipped" | "failed";
  detail: string;
  data?: Record<string, unknown>;
  evidence?: string;
}

export interface RollbackResult {
  ok: boolean;
  stage: StageName;
  snapshotId: string;
  recoverySnapshotId?: string;
  steps: StepReport[];
  failedStep?: RollbackStep;
  /** Set when an in-cluster backup or scan job blocked the rollback (nothing was changed). */
  blocked?: { source: string; blackouts: ClusterBlackout[]; reason: string };
  /** What to do next when a step failed: resume, or undo with the recovery snapshot. */
  next?: string;
  /** Where the transition metrics were published, or why not. */
  metrics?: { published?: string; error?: string };
}

export interface EvidenceAppender {
  append(input: {
    kind: string;
    stage?: StageName;
    subject: Array<{ name: string; digest: Record<string, string> }>;
    data: Record<string, unknown>;
  }): Promise<{ id: string }>;
}

export type AnalyzeFn = (
  exportJson: unknown,
  stage: StageName,
  opts: { policyPackDir?: string; policyPackConfigFile?: string; env?: NodeJS.ProcessEnv },
) => Promise<{ violations: PolicyViolation[] }>;

export interface RollbackOptions {
  stage: StageName;
  /** The snapshot to roll back to. */
  to: string;
  store: ObjectStore;
  engine: StackEngine;
  env: NodeJS.ProcessEnv;
  /** The key for the recovery snapshot. */
  keys: KeySource;
  /**
   * The keys whose snapshots are trusted (configuration only: env, the stage's stack file,
   * --kms-key); default: the environment's GOOSE_SNAPSHOT_KEY / GOOSE_SNAPSHOT_PASSPHRASE.
   */
  trust?: SnapshotKeyring;
  locks: Locks;
  evidence: EvidenceAppender;
  /** The compliance check (analyzeExport from src/engine in production). */
  analyze: AnalyzeFn;
  /** Where package.json pins the provider versions. */
  repoRoot: string;
  /** The Pulumi stack name (default: the stage). */
  stack?: string;
  holder: string;
  /** Proceed despite integrity issues, as `pulumi stack import --force`. */
  force?: boolean;
  /** Proceed despite mandatory violations; the reason is recorded as evidence. */
  acceptViolations?: { reason: string };
  policyPackDir?: string;
  policyPackConfigFile?: string;
  health?: { prometheusUrl?: string; grafanaUrl?: string; timeoutMs?: number };
  /** Grafana annotation target (the grafana health URL's base by default) and token. */
  grafana?: { url?: string; token?: string };
  onStep?: (report: StepReport) => void;
  now?: () => Date;
  /** Lease TTL (default one hour). */
  ttlSeconds?: number;
  /**
   * Pushgateways where the stage's backup and scanner jobs announce themselves (the CLI's
   * --blackout-source, GOOSE_BLACKOUT_SOURCES, default its --pushgateway). Read after the lease
   * is taken; a running job blocks the rollback.
   */
  blackoutSources?: string[];
  /**
   * Where the transition metrics go (kind rollback), as promote publishes them: a Pushgateway, else
   * a textfile (default `<repoRoot>/.goose/metrics`).
   */
  metrics?: MetricsSink;
}

/** A step failed: a failed check (exit 1) unless the cause was bad input (`causedByInput`). */
export class RollbackFailedError extends CheckFailedError {
  constructor(
    readonly result: RollbackResult,
    /** True when the step failed for an input reason (e.g. a missing key): exit 2. */
    readonly causedByInput = false,
  ) {
    const failed = result.steps.find((s) => s.status === "failed");
    super(
      `rollback of ${result.stage} to ${result.snapshotId} stopped at step "${result.failedStep}": ${failed?.detail ?? ""}\n${result.next ?? ""}`,
    );
    this.name = "RollbackFailedError";
  }
}

class StepFailure extends Error {
  constructor(
    message: string,
    readonly data?: Record<string, unknown>,
  ) {
    super(message);
  }
}

async function probe(url: string, timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    try {
      const r = await fetch(url, {
        signal: AbortSignal.timeout(Math.max(500, deadline - Date.now())),
      });
      if (r.ok) return { ok: true, detail: `${url} → ${r.status}` };
      last = `${url} → ${r.status}`;
    } catch (err) {
      last = `${url}: ${(err as Error).message}`;
    }
    if (Date.now() >= deadline) return { ok: false, detail: last };
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function rollback(opts: RollbackOptions): Promise<RollbackResult> {
  const now = opts.now ?? (() => new Date());
  const { stage, store, engine } = opts;
  const stack = opts.stack ?? stage;
  if (stageOfId(opts.to) !== stage) {
    throw new InputError(
      `snapshot ${opts.to} is of stage ${stageOfId(opts.to)}, not ${stage}: a rollback goes to a snapshot of the same stage (goose snapshot list ${stage})`,
    );
  }
  if (opts.acceptViolations && !opts.acceptViolations.reason.trim()) {
    throw new InputError(
      "--accept-violations needs --reason TEXT: the reason is recorded as evidence",
    );
  }
  const result: RollbackResult = { ok: false, stage, snapshotId: opts.to, steps: [] };
  // Unverified until the verify step; only its digest names the subject of early records.
  const listed = await readManifest(store, opts.to);
  if (!listed) throw new SnapshotNotFoundError(opts.to, store.url);
  const subject = (m?: SnapshotManifest) => [
    { name: `snapshot:${opts.to}`, digest: { sha256: (m ?? listed).plaintext.sha256 } },
  ];
  let manifest: SnapshotManifest | undefined;
  let recoveryDigest = "";
  let exportText = "";
  let lease: Lease | undefined;

  const record = async (r: StepReport): Promise<void> => {
    const ev = await opts.evidence.append({
      kind: `rollback.${r.step}`,
      stage,
      subject: subject(manifest),
      data: { status: r.status, detail: r.detail, ...(r.data ?? {}) },
    });
    r.evidence = ev.id;
    result.steps.push(r);
    opts.onStep?.(r);
  };

  const run = async (
    step: RollbackStep,
    fn: () => Promise<{
      status?: StepReport["status"];
      detail: string;
      data?: Record<string, unknown>;
    }>,
  ): Promise<void> => {
    try {
      const r = await fn();
      await record({
        step,
        status: r.status ?? "ok",
        detail: r.detail,
        ...(r.data ? { data: r.data } : {}),
      });
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      await record({
        step,
        status: "failed",
        detail,
        ...(err instanceof StepFailure && err.data ? { data: err.data } : {}),
      }).catch(() => {
        result.steps.push({ step, status: "failed", detail });
      });
      result.failedStep = step;
      result.next = nextAdvice(step, opts, result.recoverySnapshotId);
      throw new RollbackFailedError(result, err instanceof InputError);
    }
  };

  const started = now();
  const sink: MetricsSink = {
    ...opts.metrics,
    textfileDir: opts.metrics?.textfileDir ?? path.join(opts.repoRoot, ".goose/metrics"),
  };
  try {
    await run("lock", async () => {
      await opts.locks.assertStageFree(stage);
      lease = await opts.locks.acquire(stage, "rollback", {
        ttlSeconds: opts.ttlSeconds ?? 3600,
        holder: opts.holder,
        reason: `rollback to ${opts.to}`,
      });
      const checked: string[] = [];
      for (const url of opts.blackoutSources ?? []) {
        try {
          await assertNoClusterBlackout(url, [stage], { now: now(), blocked: "rollback" });
        } catch (err) {
          if (err instanceof ClusterBlackoutError) {
            result.blocked = { source: url, blackouts: err.blackouts, reason: err.message };
            await opts.evidence.append({
              kind: "rollback.blocked",
              stage,
              subject: subject(manifest),
              data: {
                to: opts.to,
                holder: opts.holder,
                step: "lock",
                source: url,
                blackouts: err.blackouts.map((b) => ({ ...b, since: b.since.toISOString() })),
                reason: err.message,
                fix: `wait for the ${err.blackouts.map((b) => `${b.kind} job on ${b.stage}`).join(" and ")} to finish, then run the rollback again`,
              },
            });
          }
          throw err;
        }
        checked.push(url);
      }
      try {
        await markTransitionStart(store, sink, "rollback", stage);
      } catch (err) {
        result.metrics = { error: (err as Error).message };
      }
      return {
        detail:
          `stage ${stage} is free; rollback lease held by ${opts.holder} until ${lease.expiresAt}` +
          (checked.length > 0
            ? `; no backup or scan job running on ${stage} (${checked.join(", ")})`
            : ""),
        data: { blackoutSources: checked },
      };
    });

    let current = "";
    await run("verify", async () => {
      let read;
      try {
        read = await readSnapshotExport(store, opts.to, opts.trust ?? opts.env);
      } catch (err) {
        if (err instanceof SnapshotVerifyError) {
          throw new StepFailure(err.message, { problem: err.report.problem });
        }
        throw err;
      }
      manifest = read.manifest;
      exportText = read.text;
      if (manifest.stage !== stage) {
        throw new StepFailure(
          `snapshot ${opts.to} was taken of stage ${manifest.stage}, not ${stage}`,
        );
      }
      const v = validateExport(exportText, { stack });
      if (!v.ok) {
        throw new StepFailure(
          `snapshot ${opts.to} is not importable into stack ${stack}: ${v.errors.map((e) => e.message).join("; ")}`,
          { errors: v.errors },
        );
      }
      if (!v.intact && !opts.force) {
        throw new StepFailure(
          `snapshot ${opts.to} fails the integrity checks \`pulumi stack import\` makes:\n` +
            v.integrity.map((i) => `  - ${i.message}`).join("\n") +
            "\nRepair the state (pulumi state repair) and take a new snapshot, or pass --force to import it anyway",
          { integrity: v.integrity },
        );
      }
      current = await engine.exportStack(stage);
      const want = secretsProviderOf(current);
      const have = v.summary.secretsProvider;
      if (want && have && want !== have) {
        throw new StepFailure(
          `snapshot ${opts.to} uses the "${have}" secrets provider but stack ${stack} uses "${want}": its secrets would not decrypt after the import. ` +
            `Change the stack's secrets provider (pulumi stack change-secrets-provider) to "${have}" first, or pick a snapshot taken with "${want}"`,
        );
      }
      return {
        status: v.intact && v.warnings.length === 0 ? "ok" : "warning",
        detail:
          `snapshot ${opts.to} verifies: ${manifest.resourceCount} resources of stack ${stack}` +
          (v.intact ? "" : `; ${v.integrity.length} integrity issue(s) accepted with --force`) +
          (v.summary.pendingOperations.length > 0
            ? `; ${v.summary.pendingOperations.length} pending operation(s) will be dropped`
            : ""),
        data: { integrity: v.integrity, warnings: v.warnings, force: Boolean(opts.force) },
      };
    });

    await run("dependencies", async () => {
      const pinned = pinnedProviderVersions(opts.repoRoot);
      const dep = checkDependencies(manifest!.plugins, pinned);
      if (!dep.ok) {
        throw new StepFailure(
          "provider versions do not match:\n" +
            dep.findings
              .filter((f) => f.severity === "error")
              .map((f) => `  - ${f.message}`)
              .join("\n"),
          { findings: dep.findings },
        );
      }
      return {
        status: dep.findings.length > 0 ? "warning" : "ok",
        detail:
          dep.findings.length > 0
            ? dep.findings.map((f) => f.message).join("; ")
            : `${manifest!.plugins.length} provider plugin(s) match the pinned versions`,
        data: { findings: dep.findings },
      };
    });

    await run("compliance", async () => {
      const { violations } = await opts.analyze(JSON.parse(toImportable(exportText)), stage, {
        ...(opts.policyPackDir ? { policyPackDir: opts.policyPackDir } : {}),
        ...(opts.policyPackConfigFile ? { policyPackConfigFile: opts.policyPackConfigFile } : {}),
        env: opts.env,
      });
      const mandatory = violations.filter((v) => v.enforcementLevel === "mandatory");
      const summary = {
        violations,
        mandatory: mandatory.length,
        advisory: violations.length - mandatory.length,
      };
      if (mandatory.length > 0 && !opts.acceptViolations) {
        throw new StepFailure(
          `the snapshot breaks ${mandatory.length} mandatory polic${mandatory.length === 1 ? "y" : "ies"} of the current pack:\n` +
            mandatory
              .map(
                (v) => `  - ${v.policy}${v.urn ? ` on ${v.urn}` : ""}: ${v.message.split("\n")[0]}`,
              )
              .join("\n") +
            "\nChoose another snapshot, or pass --accept-violations --reason TEXT (recorded as evidence)",
          summary,
        );
      }
      if (mandatory.length > 0 && opts.acceptViolations) {
        await opts.evidence.append({
          kind: "rollback.accept-violations",
          stage,
          subject: subject(manifest),
          data: {
            reason: opts.acceptViolations.reason,
            violations: mandatory,
            holder: opts.holder,
          },
        });
        return {
          status: "warning",
          detail: `${mandatory.length} mandatory violation(s) accepted: ${opts.acceptViolations.reason}`,
          data: summary,
        };
      }
      return {
        status: violations.length > 0 ? "warning" : "ok",
        detail: `no mandatory violations (${summary.advisory} advisory)`,
        data: summary,
      };
    });

    await run("recovery", async () => {
      const { Readable } = await import("node:stream");
      const m = await createSnapshot(store, {
        stage,
        source: Readable.from([Buffer.from(current || (await engine.exportStack(stage)), "utf8")]),
        sourceKind: "engine",
        stack,
        reason: `recovery before rollback to ${opts.to}`,
        keys: opts.keys,
        evidence: opts.evidence,
        now: now(),
      });
      result.recoverySnapshotId = m.id;
      recoveryDigest = m.plaintext.sha256;
      return { detail: `recovery snapshot ${m.id} of the current state`, data: { recovery: m.id } };
    });

    await run("import", async () => {
      await referenceSnapshot(store, opts.to, `rollback-${now().getTime()}`, {
        stage,
        recovery: result.recoverySnapshotId,
        holder: opts.holder,
      });
      await engine.importStack(stage, toImportable(exportText));
      return { detail: `imported ${opts.to} into stack ${stack}` };
    });

    await run("refresh", async () => {
      await engine.refresh(stage);
      return { detail: "refreshed the imported state against the infrastructure" };
    });

    await run("update", async () => {
      const up = await engine.up(stage);
      return {
        detail: `update converged: ${JSON.stringify(up.resourceChanges)}`,
        data: { resourceChanges: up.resourceChanges },
      };
    });

    await run("health", async () => {
      const h = opts.health ?? {};
      const targets = [
        ...(h.prometheusUrl ? [`${h.prometheusUrl.replace(/\/$/, "")}/-/ready`] : []),
        ...(h.grafanaUrl ? [`${h.grafanaUrl.replace(/\/$/, "")}/api/health`] : []),
      ];
      if (targets.length === 0) {
        return {
          status: "skipped",
          detail: "no Prometheus or Grafana URL given (--prometheus-url, --grafana-url)",
        };
      }
      const results = await Promise.all(targets.map((t) => probe(t, h.timeoutMs ?? 30_000)));
      const bad = results.filter((r) => !r.ok);
      if (bad.length > 0)
        throw new StepFailure(`not ready: ${bad.map((b) => b.detail).join("; ")}`);
      return { detail: results.map((r) => r.detail).join("; ") };
    });

    await run("annotation", async () => {
      const url = opts.grafana?.url ?? opts.health?.grafanaUrl;
      if (!url) return { status: "skipped", detail: "no Grafana URL given" };
      const r = await fetch(`${url.replace(/\/$/, "")}/api/annotations`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(opts.grafana?.token ? { authorization: `Bearer ${opts.grafana.token}` } : {}),
        },
        body: JSON.stringify({
          time: now().getTime(),
          tags: ["goose", "rollback", stage],
          text: `Rollback of ${stage} to snapshot ${opts.to} (recovery ${result.recoverySnapshotId}) by ${opts.holder}`,
        }),
      });
      if (!r.ok)
        throw new StepFailure(`Grafana refused the annotation: ${r.status} ${await r.text()}`);
      return { detail: `annotation posted to ${url}` };
    });

    await run("evidence", async () => ({
      detail: `rollback of ${stage} to ${opts.to} complete`,
      data: {
        recovery: result.recoverySnapshotId,
        steps: result.steps.map((s) => ({ step: s.step, status: s.status, evidence: s.evidence })),
        acceptedViolations: opts.acceptViolations?.reason,
        force: Boolean(opts.force),
      },
    }));
    await opts.evidence.append({
      kind: "rollback",
      stage,
      subject: [
        ...subject(manifest),
        ...(result.recoverySnapshotId
          ? [{ name: `snapshot:${result.recoverySnapshotId}`, digest: { sha256: recoveryDigest } }]
          : []),
      ],
      data: { to: opts.to, recovery: result.recoverySnapshotId, holder: opts.holder },
    });
    result.ok = true;
    return result;
  } finally {
    // Every rollback that got past its preconditions is a transition: success, failed or blocked.
    try {
      const m = await recordTransition(store, sink, {
        kind: "rollback",
        stage,
        from: stage,
        result: result.ok ? "success" : result.blocked ? "blocked" : "failed",
        durationSeconds: (now().getTime() - started.getTime()) / 1000,
        at: now(),
      });
      result.metrics = { published: m.published };
    } catch (err) {
      result.metrics = { error: (err as Error).message };
    }
    if (lease) {
      await opts.locks
        .release(stage, "rollback", { token: lease.token, missingOk: true })
        .catch(() => {});
    }
  }
}

function nextAdvice(step: RollbackStep, opts: RollbackOptions, recovery?: string): string {
  const offline = opts.engine.mode === "offline" ? ["--offline"] : [];
  const again = gooseCommand(["rollback", opts.stage, "--to", opts.to, ...offline]);
  switch (step) {
    case "lock":
      return "Nothing was changed. Wait for the operation holding the stage (a lease, or a backup or scan job running in its cluster), then run the rollback again.";
    case "verify":
    case "dependencies":
    case "compliance":
      return `Nothing was changed. Fix what is named above and run \`${again}\` again, or choose another snapshot.`;
    case "recovery":
      return `Nothing was changed (no recovery snapshot could be taken). Fix it and run \`${again}\` again.`;
    default:
      return (
        `The stack was changed. Resume: fix the cause and run \`${again}\` again. ` +
        (recovery
          ? `Undo: \`${gooseCommand(["rollback", opts.stage, "--to", recovery, ...offline])}\` (the recovery snapshot).`
          : "")
      );
  }
}

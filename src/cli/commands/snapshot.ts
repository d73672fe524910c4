import { resolve } from "node:path";
import type { Command } from "commander";
import { type StageName } from "../../config/stages.js";
import type { SnapshotManifest, SnapshotMetricsSink } from "../../snapshots/index.js";
import type { ObjectStore } from "../../store/types.js";
import { UsageError } from "../errors.js";
import { progressReporter } from "../progress.js";
import { Output, type CliIo } from "../io.js";
import type { SetExitCode } from "../io.js";
import { jsonOption, openStoreFor, stageArg, storeOption } from "../options.js";

// The snapshot, evidence and workflow modules (zod, ajv, yaml, semver below them) load inside the
// actions, so `goose snapshot --help` loads none of them (tests/cli/lazy-commands.test.ts).
const snapshots = () => import("../../snapshots/index.js");
const evidence = () => import("../../evidence/index.js");

/** `--kms-key`, repeatable, on commands that read snapshots: KMS keys to trust. */
export const TRUST_KMS_OPTION = [
  "--kms-key <id>",
  "trust snapshots whose data key this AWS KMS key wrapped (repeatable; besides golden-goose:snapshots.kmsKeys in Pulumi.<stage>.yaml)",
  (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
] as const;

function summaryLine(m: SnapshotManifest): string {
  return `${m.id}  ${m.createdAt}  ${m.resourceCount} resources  stack ${m.stack}${m.reason ? `  "${m.reason}"` : ""}`;
}

interface CommonOpts {
  store?: string;
  json?: boolean;
}

interface MetricsOpts {
  pushgateway?: string;
  metricsDir?: string;
}

function withMetricsOptions(cmd: Command): Command {
  return cmd
    .option(
      "--pushgateway <url>",
      "push the snapshot metrics here (env GOOSE_PUSHGATEWAY_URL); else a textfile",
    )
    .option(
      "--metrics-dir <dir>",
      "textfile directory for the snapshot metrics (default .goose/metrics)",
    );
}

function metricsSink(io: CliIo, o: MetricsOpts): SnapshotMetricsSink {
  const pushgatewayUrl = o.pushgateway ?? io.env.GOOSE_PUSHGATEWAY_URL;
  return {
    ...(pushgatewayUrl ? { pushgatewayUrl } : {}),
    textfileDir: resolve(io.cwd, o.metricsDir ?? ".goose/metrics"),
  };
}

function reportMetrics(
  out: Output,
  stage: StageName,
  metrics: { published?: string; error?: string } | undefined,
): void {
  if (metrics?.published)
    out.info(`snapshot metrics of ${stage} published to ${metrics.published}`);
  else if (metrics?.error) out.info(`warning: snapshot metrics not published: ${metrics.error}`);
}

/**
 * Publishes the stage's snapshot metrics after verify/prune (create publishes through
 * takeSnapshot). A failure to publish is a warning: the snapshot work itself is done and stays valid.
 */
async function publishMetrics(
  io: CliIo,
  out: Output,
  store: ObjectStore,
  stage: StageName,
  o: MetricsOpts,
  verifiedAt?: Date,
): Promise<{ published?: string; error?: string }> {
  let metrics: { published?: string; error?: string };
  try {
    const { publishSnapshotMetrics } = await snapshots();
    const r = await publishSnapshotMetrics(
      store,
      stage,
      metricsSink(io, o),
      verifiedAt ? { verifiedAt } : {},
    );
    metrics = { published: r.published };
  } catch (err) {
    metrics = { error: (err as Error).message };
  }
  reportMetrics(out, stage, metrics);
  return metrics;
}

/** `goose snapshot create|list|verify|restore|prune|pin|import-history`. */
export function registerSnapshot(program: Command, io: CliIo, setExitCode: SetExitCode): void {
  const snapshot = program
    .command("snapshot")
    .description("encrypted stack exports: take, list, verify, restore, pin, prune, import");

  withMetricsOptions(snapshot.command("create <stage>"))
    .description("take a snapshot of a stage (pulumi stack export, or --from-file)")
    .option("--from-file <export>", "a `pulumi stack export` file or a DIY checkpoint file")
    .option("--stack <name>", "the Pulumi stack the URNs must belong to (default: the stage)")
    .option("--reason <text>", "why it was taken")
    .option("--offline", "export from the offline engine's state instead of the Pulumi CLI")
    .option("--kms-key <id>", "wrap the data key with this AWS KMS key")
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(
      async (
        stageName: string,
        o: CommonOpts &
          MetricsOpts & {
            fromFile?: string;
            stack?: string;
            reason?: string;
            offline?: boolean;
            kmsKey?: string;
          },
      ) => {
        const out = new Output(io, Boolean(o.json));
        const stage = stageArg(stageName);
        const [{ keySourceFor }, { openEvidenceChain }] = await Promise.all([
          snapshots(),
          evidence(),
        ]);
        const keys = keySourceFor(io.cwd, stage, io.env, o.kmsKey);
        const store = openStoreFor(io, o.store);
        const { takeSnapshot } = await import("../../workflows/snapshot.js");
        let source: Parameters<typeof takeSnapshot>[0]["source"];
        if (o.fromFile) source = { file: resolve(io.cwd, o.fromFile) };
        else {
          const { createEngine } = await import("../../engine/index.js");
          const engine = createEngine(o.offline ? "offline" : "real", { cwd: io.cwd, env: io.env });
          out.info(`exporting stack ${stage} (${engine.mode})…`);
          source = { text: await engine.exportStack(stage) };
        }
        const progress = progressReporter(io);
        const { manifest: m, metrics } = await takeSnapshot({
          store,
          evidence: openEvidenceChain(store, io.env),
          stage,
          source,
          ...optional("stack", o.stack ?? (o.fromFile ? undefined : stage)),
          reason: o.reason ?? "",
          keys,
          env: io.env,
          repoRoot: io.cwd,
          metrics: metricsSink(io, o),
          // Big exports take a while: read-so-far on stderr (live, or a line every 10 s piped).
          onProgress: (read, total) =>
            progress.update(
              `snapshot ${stage}: ${mib(read)}${total ? ` of ${mib(total)}` : ""} read, compressed and encrypted`,
            ),
        });
        progress.done();
        out.line(`snapshot ${m.id} taken in ${store.url} (key: ${keys.describe()})`);
        out.line(
          `  ${m.resourceCount} resources, export v${m.exportVersion}, evidence ${m.evidence ?? "-"}`,
        );
        if (m.pendingOperations > 0) {
          out.info(
            `warning: ${m.pendingOperations} pending operation(s); an import drops them, refresh afterwards`,
          );
        }
        if (m.integrity.length > 0) {
          out.info(
            `warning: ${m.integrity.length} integrity issue(s) (a rollback to it needs --force, as \`pulumi stack import\` does):`,
          );
          for (const i of m.integrity.slice(0, 5)) out.info(`  - ${i.message}`);
        }
        reportMetrics(out, stage, metrics);
        out.result({ ...m, metrics });
        setExitCode(0);
      },
    );

  snapshot
    .command("list <stage>")
    .description("snapshots of a stage, newest first")
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(async (stageName: string, o: CommonOpts) => {
      const out = new Output(io, Boolean(o.json));
      const stage = stageArg(stageName);
      const store = openStoreFor(io, o.store);
      const { listSnapshots } = await snapshots();
      const list = await listSnapshots(store, stage);
      if (list.length === 0) out.line(`no snapshots of ${stage} in ${store.url}`);
      for (const s of list) {
        out.line(
          s.manifest
            ? `${summaryLine(s.manifest)}${s.pinned ? "  [pinned]" : ""}`
            : `${s.id}  (manifest unreadable)`,
        );
      }
      out.result({
        stage,
        store: store.url,
        snapshots: list.map((s) => ({
          id: s.id,
          createdAt: s.createdAt,
          reason: s.reason,
          resourceCount: s.resourceCount,
          pinned: s.pinned,
          readable: s.readable,
          stack: s.manifest?.stack,
          evidence: s.manifest?.evidence,
        })),
      });
      setExitCode(0);
    });

  withMetricsOptions(snapshot.command("verify <id>"))
    .description(
      "check manifest MAC, key, payload size, digests and AES-GCM tag; exit 1 naming the problem",
    )
    .option(...TRUST_KMS_OPTION)
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(async (id: string, o: CommonOpts & MetricsOpts & { kmsKey?: string[] }) => {
      const out = new Output(io, Boolean(o.json));
      const { stageOfId, snapshotKeyringFor, verifySnapshot } = await snapshots();
      const stage = stageOfId(id);
      const store = openStoreFor(io, o.store);
      const keyring = snapshotKeyringFor(io.cwd, stage, io.env, o.kmsKey);
      const r = await verifySnapshot(store, id, keyring);
      const metrics = await publishMetrics(io, out, store, stage, o, r.ok ? new Date() : undefined);
      if (r.ok) out.line(`snapshot ${id} verifies (${r.checks.map((c) => c.name).join(", ")})`);
      else out.info(`snapshot ${id} does NOT verify: ${r.problem}: ${r.message}`);
      out.result({
        id: r.id,
        ok: r.ok,
        problem: r.problem,
        message: r.message,
        checks: r.checks,
        metrics,
      });
      setExitCode(r.ok ? 0 : 1);
    });

  snapshot
    .command("restore <id>")
    .description(
      "write the export byte for byte as it was taken (only to --out, only once verified)",
    )
    .requiredOption("--out <file>", "where to write the export")
    .option(...TRUST_KMS_OPTION)
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(async (id: string, o: CommonOpts & { out: string; kmsKey?: string[] }) => {
      const out = new Output(io, Boolean(o.json));
      const { stageOfId, checkOutPath, snapshotKeyringFor, restoreSnapshot } = await snapshots();
      const stage = stageOfId(id);
      const target = resolve(io.cwd, o.out);
      await checkOutPath(target);
      const store = openStoreFor(io, o.store);
      const keyring = snapshotKeyringFor(io.cwd, stage, io.env, o.kmsKey);
      const r = await restoreSnapshot(store, id, keyring, target);
      out.line(
        `snapshot ${id} restored to ${target} (${r.manifest?.plaintext.size} bytes, sha256 ${r.manifest?.plaintext.sha256})`,
      );
      out.result({
        id,
        out: target,
        sha256: r.manifest?.plaintext.sha256,
        size: r.manifest?.plaintext.size,
      });
      setExitCode(0);
    });

  withMetricsOptions(snapshot.command("prune <stage>"))
    .description("apply retention: keep the last N and a maximum age, never the protected ones")
    .option("--dry-run", "only show what would go")
    .option(
      "--keep-last <n>",
      "override keepLast from Pulumi.<stage>.yaml (golden-goose:snapshots)",
    )
    .option("--max-age-days <n>", "override maxAgeDays from Pulumi.<stage>.yaml")
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(
      async (
        stageName: string,
        o: CommonOpts & MetricsOpts & { dryRun?: boolean; keepLast?: string; maxAgeDays?: string },
      ) => {
        const out = new Output(io, Boolean(o.json));
        const stage = stageArg(stageName);
        const store = openStoreFor(io, o.store);
        const [
          { retentionPolicyFor, pruneSnapshots, snapshotKeyringFor, collectEvidenceRefs },
          { openEvidenceChain },
        ] = await Promise.all([snapshots(), evidence()]);
        const policy = retentionPolicyFor(io.cwd, stage, {
          ...optional(
            "keepLast",
            o.keepLast === undefined ? undefined : wholeNumber("--keep-last", o.keepLast),
          ),
          ...optional(
            "maxAgeDays",
            o.maxAgeDays === undefined ? undefined : wholeNumber("--max-age-days", o.maxAgeDays),
          ),
        });
        const records = await openEvidenceChain(store, io.env).list({ stage });
        const plan = await pruneSnapshots(store, stage, {
          policy,
          env: snapshotKeyringFor(io.cwd, stage, io.env),
          evidenceRefs: collectEvidenceRefs(records),
          dryRun: Boolean(o.dryRun),
        });
        const verb = o.dryRun ? "would remove" : "removed";
        out.line(
          `retention for ${stage} (from ${policy.source}): keep last ${policy.keepLast}, max age ${policy.maxAgeDays} days`,
        );
        for (const r of plan.remove) out.line(`  ${verb} ${r.id} (${r.ageDays} days old)`);
        for (const k of plan.keep) out.line(`  keep ${k.id}: ${k.reasons.join(", ")}`);
        for (const p of plan.orphans)
          out.line(`  ${verb} orphan payload ${p} (a create that did not finish)`);
        for (const t of plan.temporaries)
          out.line(`  removed temp file ${t} (a write whose process is gone)`);
        const metrics = o.dryRun ? undefined : await publishMetrics(io, out, store, stage, o);
        out.result({ ...plan, policySource: policy.source, dryRun: Boolean(o.dryRun), metrics });
        setExitCode(0);
      },
    );

  snapshot
    .command("pin <id>")
    .description("protect a snapshot from retention (--remove to unpin)")
    .option("--reason <text>", "why it is pinned")
    .option("--remove", "unpin")
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(async (id: string, o: CommonOpts & { reason?: string; remove?: boolean }) => {
      const out = new Output(io, Boolean(o.json));
      const [{ stageOfId }, { openEvidenceChain }] = await Promise.all([snapshots(), evidence()]);
      const stage = stageOfId(id);
      const store = openStoreFor(io, o.store);
      const { pinWithEvidence } = await import("../../workflows/snapshot.js");
      const rec = await pinWithEvidence({
        store,
        evidence: openEvidenceChain(store, io.env),
        stage,
        id,
        ...optional("remove", o.remove),
        ...optional("reason", o.reason),
      });
      out.line(`snapshot ${id} ${o.remove ? "unpinned" : "pinned"} (evidence ${rec.evidence})`);
      out.result({ id, pinned: !o.remove, evidence: rec.evidence });
      setExitCode(0);
    });

  snapshot
    .command("import-history <stage>")
    .description("take a DIY (file) backend's history checkpoints in as snapshots")
    .requiredOption("--backend <dir>", "the DIY backend directory (containing .pulumi/)")
    .option("--project <name>", "only this project")
    .option("--stack <name>", "only this stack (default: the stage name)")
    .option("--kms-key <id>", "wrap the data keys with this AWS KMS key")
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(
      async (
        stageName: string,
        o: CommonOpts & { backend: string; project?: string; stack?: string; kmsKey?: string },
      ) => {
        const out = new Output(io, Boolean(o.json));
        const stage = stageArg(stageName);
        const [{ keySourceFor }, { openEvidenceChain }] = await Promise.all([
          snapshots(),
          evidence(),
        ]);
        const keys = keySourceFor(io.cwd, stage, io.env, o.kmsKey);
        const store = openStoreFor(io, o.store);
        const stack = o.stack ?? stage;
        const { importHistory } = await import("../../workflows/snapshot.js");
        const r = await importHistory({
          store,
          evidence: openEvidenceChain(store, io.env),
          stage,
          stack,
          backendDir: resolve(io.cwd, o.backend),
          ...optional("project", o.project),
          keys,
          env: io.env,
          onImported: (id, from) => out.line(`${id}  ← ${from}`),
          onRefused: (from, error) => out.info(`refused ${from}: ${error}`),
        });
        const { imported: taken, alreadyPresent: already, refused, skipped } = r;
        for (const s of skipped) out.info(`skipped ${s}`);
        out.line(
          `${taken.length} imported, ${already.length} already present, ${refused.length} refused`,
        );
        out.result({ stage, stack, imported: taken, alreadyPresent: already, refused, skipped });
        setExitCode(refused.length > 0 ? 1 : 0);
      },
    );
}

function wholeNumber(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new UsageError(`${flag} ${v}: a whole number, 0 or more`);
  return n;
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}

/** Bytes as MiB with one decimal. */
function mib(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

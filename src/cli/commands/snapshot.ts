import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { Readable } from "node:stream";
import type { Command } from "commander";
import { type StageName } from "../../config/stages.js";
import { openEvidenceChain } from "../../evidence/index.js";
import {
  collectEvidenceRefs,
  createSnapshot,
  keySourceFor,
  snapshotKeyringFor,
  snapshotMaxBytes,
  listHistoryCheckpoints,
  listSnapshots,
  pinSnapshot,
  snapshotKeys,
  SnapshotNotFoundError,
  pruneSnapshots,
  publishSnapshotMetrics,
  readManifest,
  checkOutPath,
  restoreSnapshot,
  retentionPolicyFor,
  stageOfId,
  unpinSnapshot,
  verifySnapshot,
  type SnapshotManifest,
} from "../../snapshots/index.js";
import type { ObjectStore } from "../../store/types.js";
import { UsageError } from "../errors.js";
import { Output, type CliIo } from "../io.js";
import type { SetExitCode } from "../io.js";
import { jsonOption, openStoreFor, stageArg, storeOption } from "../options.js";

/** `--kms-key`, repeatable, on commands that read snapshots: KMS keys to trust. */
export const TRUST_KMS_OPTION = [
  "--kms-key <id>",
  "trust snapshots whose data key this AWS KMS key wrapped (repeatable; besides golden-goose:snapshots.kmsKeys in Pulumi.<stage>.yaml)",
  (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
] as const;

/** The current git commit of the working directory, when it is a git checkout. */
export function gitCommitOf(cwd: string): string | undefined {
  try {
    return execFileSync("git", ["rev-parse", "HEAD"], { cwd, stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
  } catch {
    return undefined;
  }
}

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

/**
 * Publishes the stage's snapshot metrics after create/verify/prune. A failure to publish is a
 * warning: the snapshot work itself is done and stays valid.
 */
async function publishMetrics(
  io: CliIo,
  out: Output,
  store: ObjectStore,
  stage: StageName,
  o: MetricsOpts,
  verifiedAt?: Date,
): Promise<{ published?: string; error?: string }> {
  const pushgatewayUrl = o.pushgateway ?? io.env.GOOSE_PUSHGATEWAY_URL;
  try {
    const r = await publishSnapshotMetrics(
      store,
      stage,
      {
        ...(pushgatewayUrl ? { pushgatewayUrl } : {}),
        textfileDir: resolve(io.cwd, o.metricsDir ?? ".goose/metrics"),
      },
      verifiedAt ? { verifiedAt } : {},
    );
    out.info(`snapshot metrics of ${stage} published to ${r.published}`);
    return { published: r.published };
  } catch (err) {
    const error = (err as Error).message;
    out.info(`warning: snapshot metrics not published: ${error}`);
    return { error };
  }
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
        const keys = keySourceFor(io.cwd, stage, io.env, o.kmsKey);
        const store = openStoreFor(io, o.store);
        let source: string | Readable;
        if (o.fromFile) source = resolve(io.cwd, o.fromFile);
        else {
          const { createEngine } = await import("../../engine/index.js");
          const engine = createEngine(o.offline ? "offline" : "real", { cwd: io.cwd, env: io.env });
          out.info(`exporting stack ${stage} (${engine.mode})…`);
          source = Readable.from([Buffer.from(await engine.exportStack(stage), "utf8")]);
        }
        const m = await createSnapshot(store, {
          stage,
          source,
          ...(o.fromFile ? {} : { sourceKind: "engine" as const }),
          stack: o.stack ?? (o.fromFile ? undefined : stage),
          reason: o.reason ?? "",
          keys,
          evidence: openEvidenceChain(store, io.env),
          ...optional("gitCommit", gitCommitOf(io.cwd)),
          maxBytes: snapshotMaxBytes(io.env),
        });
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
        const metrics = await publishMetrics(io, out, store, stage, o);
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
      const stage = stageOfId(id);
      const store = openStoreFor(io, o.store);
      const evidence = openEvidenceChain(store, io.env);
      if (!o.remove && !(await store.head(snapshotKeys.manifest(id)))) {
        throw new SnapshotNotFoundError(id, store.url);
      }
      const manifest = await readManifest(store, id);
      // Evidence first: the pin changes only once its record is in the chain.
      const rec = await evidence.append({
        kind: o.remove ? "snapshot.unpin" : "snapshot.pin",
        stage,
        subject: [
          {
            name: `snapshot-pin:${id}`,
            digest: { sha256: manifest?.plaintext.sha256 ?? "" },
          },
        ],
        data: { id, reason: o.reason ?? "" },
      });
      if (o.remove) await unpinSnapshot(store, id);
      else await pinSnapshot(store, id, { ...optional("reason", o.reason) });
      out.line(`snapshot ${id} ${o.remove ? "unpinned" : "pinned"} (evidence ${rec.id})`);
      out.result({ id, pinned: !o.remove, evidence: rec.id });
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
        const keys = keySourceFor(io.cwd, stage, io.env, o.kmsKey);
        const store = openStoreFor(io, o.store);
        const stack = o.stack ?? stage;
        const { checkpoints, skipped } = await listHistoryCheckpoints(resolve(io.cwd, o.backend), {
          stack,
          ...optional("project", o.project),
        });
        if (checkpoints.length === 0) {
          throw new UsageError(
            `no history checkpoints of stack ${stack} under ${resolve(io.cwd, o.backend)}/.pulumi/history/<project>/${stack}/; check --backend and --stack`,
          );
        }
        const existing = await knownPlaintexts(store, stage);
        const evidence = openEvidenceChain(store, io.env);
        const taken: Array<{ id: string; from: string }> = [];
        const already: string[] = [];
        const refused: Array<{ from: string; error: string }> = [];
        for (const cp of checkpoints) {
          const digest = await sha256File(cp.path);
          if (existing.has(digest)) {
            already.push(cp.path);
            continue;
          }
          try {
            const m = await createSnapshot(store, {
              stage,
              source: cp.path,
              sourceKind: "diy-history",
              stack,
              reason: `DIY history ${cp.project}/${cp.stack} at ${cp.time.toISOString()}`,
              keys,
              evidence,
              now: new Date(),
              maxBytes: snapshotMaxBytes(io.env),
            });
            existing.add(digest);
            taken.push({ id: m.id, from: cp.path });
            out.line(`${m.id}  ← ${cp.path}`);
          } catch (err) {
            refused.push({ from: cp.path, error: (err as Error).message });
            out.info(`refused ${cp.path}: ${(err as Error).message}`);
          }
        }
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

async function knownPlaintexts(store: ObjectStore, stage: StageName): Promise<Set<string>> {
  const out = new Set<string>();
  for (const s of await listSnapshots(store, stage))
    if (s.manifest) out.add(s.manifest.plaintext.sha256);
  return out;
}

async function sha256File(path: string): Promise<string> {
  const { createHash } = await import("node:crypto");
  const { createReadStream } = await import("node:fs");
  const h = createHash("sha256");
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest("hex");
}

import { Command } from "commander";
import {
  BLACKOUT_KINDS,
  LEASE_KINDS,
  defaultHolder,
  openLocks,
  parseLeaseKind,
  type LeaseStatus,
} from "../../locks/index.js";
import { UsageError } from "../errors.js";
import { Output, type CliIo } from "../io.js";
import type { SetExitCode } from "../io.js";
import { jsonOption, openStoreFor, stageArg, storeOption } from "../options.js";

function describe(l: LeaseStatus): string {
  if (l.corrupt) {
    return (
      `${l.stage.padEnd(11)} ${l.kind.padEnd(10)} CORRUPT lease file (${l.corrupt}); counts as ` +
      `expired. Free it: goose lock release ${l.stage} --kind ${l.kind} --force --reason "<why>"`
    );
  }
  const state = l.expired
    ? `EXPIRED ${-l.remainingSeconds}s ago`
    : `expires in ${l.remainingSeconds}s`;
  return `${l.stage.padEnd(11)} ${l.kind.padEnd(10)} ${l.holder}  gen ${l.generation}  since ${l.acquiredAt}  ${state}${l.reason ? `  (${l.reason})` : ""}`;
}

/** `goose lock acquire|release|heartbeat|status`. */
export function registerLock(program: Command, io: CliIo, setExitCode: SetExitCode): void {
  const lock = program
    .command("lock")
    .description("operation leases that black out promotion and rollback on a stage");

  lock
    .command("acquire <stage>")
    .description("take a lease (load test, backup or scan) on a stage; exit 1 when it is held")
    .requiredOption("--kind <kind>", `one of ${BLACKOUT_KINDS.join(", ")}`)
    .requiredOption("--ttl <seconds>", "seconds until the lease expires unless renewed")
    .option("--holder <name>", "who holds it (default user@host)")
    .option("--reason <text>", "why, shown to whoever is blocked")
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(
      async (
        stageText: string,
        o: {
          kind: string;
          ttl: string;
          holder?: string;
          reason?: string;
          store?: string;
          json?: boolean;
        },
      ) => {
        const out = new Output(io, Boolean(o.json));
        const stage = stageArg(stageText);
        const kind = parseLeaseKind(o.kind, BLACKOUT_KINDS);
        const ttl = Number(o.ttl);
        if (!/^\d+$/.test(o.ttl)) {
          throw new UsageError(`--ttl ${o.ttl}: a whole number of seconds, e.g. --ttl 900`);
        }
        const lease = await openLocks(openStoreFor(io, o.store)).acquire(stage, kind, {
          ttlSeconds: ttl,
          holder: o.holder ?? defaultHolder(io.env),
          ...(o.reason ? { reason: o.reason } : {}),
        });
        out.line(`acquired ${kind} lease on ${stage} for ${lease.holder} until ${lease.expiresAt}`);
        out.result(lease);
        setExitCode(0);
      },
    );

  lock
    .command("release <stage>")
    .description("release a lease; --force --reason breaks someone else's (recorded as evidence)")
    .requiredOption("--kind <kind>", `one of ${LEASE_KINDS.join(", ")}`)
    .option("--holder <name>", "who releases it (default user@host)")
    .option("--force", "break a lease held by someone else")
    .option("--reason <text>", "why a forced release is needed (required with --force)")
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(
      async (
        stageText: string,
        o: {
          kind: string;
          holder?: string;
          force?: boolean;
          reason?: string;
          store?: string;
          json?: boolean;
        },
      ) => {
        const out = new Output(io, Boolean(o.json));
        const stage = stageArg(stageText);
        const kind = parseLeaseKind(o.kind);
        if (o.reason && !o.force) throw new UsageError("--reason goes with --force");
        const store = openStoreFor(io, o.store);
        // Loaded here, not at the top: `goose lock --help` loads no evidence module.
        const evidence = o.force
          ? (await import("../../evidence/index.js")).openEvidenceChain(store, io.env)
          : undefined;
        const holder = o.holder ?? defaultHolder(io.env);
        await openLocks(store, evidence ? { evidence } : {}).release(stage, kind, {
          holder,
          ...(o.force ? { force: true } : {}),
          ...(o.reason ? { reason: o.reason } : {}),
        });
        out.line(
          `released ${kind} lease on ${stage}${o.force ? " (forced; recorded as evidence)" : ""}`,
        );
        out.result({ stage, kind, released: true, forced: Boolean(o.force) });
        setExitCode(0);
      },
    );

  lock
    .command("heartbeat <stage>")
    .description("renew your lease for another TTL")
    .requiredOption("--kind <kind>", `one of ${LEASE_KINDS.join(", ")}`)
    .option("--holder <name>", "the holder (default user@host)")
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(
      async (
        stageText: string,
        o: { kind: string; holder?: string; store?: string; json?: boolean },
      ) => {
        const out = new Output(io, Boolean(o.json));
        const stage = stageArg(stageText);
        const kind = parseLeaseKind(o.kind);
        const locks = openLocks(openStoreFor(io, o.store));
        const holder = o.holder ?? defaultHolder(io.env);
        const cur = (await locks.status(stage)).find((l) => l.kind === kind);
        if (!cur || cur.holder !== holder) {
          out.info(
            `no ${kind} lease of ${holder} on ${stage}${cur ? ` (held by ${cur.holder})` : ""}`,
          );
          setExitCode(1);
          return;
        }
        const lease = await locks.heartbeat(cur);
        out.line(`renewed ${kind} lease on ${stage} until ${lease.expiresAt}`);
        out.result(lease);
        setExitCode(0);
      },
    );

  lock
    .command("status [stage]")
    .description("list leases (all stages, or one)")
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(async (stageText: string | undefined, o: { store?: string; json?: boolean }) => {
      const out = new Output(io, Boolean(o.json));
      const stage = stageText ? stageArg(stageText) : undefined;
      const leases = await openLocks(openStoreFor(io, o.store)).status(stage);
      if (leases.length === 0) out.line(`no leases${stage ? ` on ${stage}` : ""}`);
      for (const l of leases) out.line(describe(l));
      out.result({ leases });
      setExitCode(0);
    });
}

/**
 * Operation leases per stage: a promotion or rollback must not run while a load test, backup or
 * scan holds the stage, and the other way round.
 *
 * A lease is one object `locks/<stage>/<kind>.json` in the ObjectStore, created with
 * `ifNoneMatch` (file store: link(2), fails when the file exists; S3: `If-None-Match: *`), renewed
 * and taken over with `ifMatch` (compare-and-swap on the etag). It carries a TTL; a heartbeat
 * moves `expiresAt` forward; an expired lease counts as free and the next acquirer replaces it
 * by compare-and-swap, so of N racers exactly one wins.
 *
 * Conflicts between kinds use "create, then check": a transition (promotion, rollback) first
 * writes its own lease, then looks for any other live lease on the stage; a blackout (load test,
 * backup, scan) writes its lease, then looks for a live transition. Whichever finds the other
 * withdraws its own lease, so a transition and a blackout can never both proceed.
 *
 * S3: the endpoint must enforce conditional PUTs (`If-None-Match: *` and `If-Match: <etag>` on
 * PutObject; AWS S3 does). An endpoint that ignores them (s3rver, some older MinIO/Ceph
 * releases) is detected by `supportsConditionalWrites()` and refused with LockStoreUnsupportedError
 * instead of silently losing mutual exclusion.
 *
 * A forced release needs a reason and is recorded in the evidence chain (`lock.force-release`).
 */
import { createHash, randomBytes } from "node:crypto";
import { hostname, userInfo } from "node:os";
import { STAGES, isStageName, type StageName } from "../config/stages.js";
import { PreconditionFailedError, type ObjectStore } from "../store/types.js";
import type { EvidenceChain } from "../evidence/index.js";

export const LEASE_KINDS = ["load-test", "backup", "scan", "promotion", "rollback"] as const;
export type LeaseKind = (typeof LEASE_KINDS)[number];
/** Kinds that move a stage; they exclude every other lease on it. */
export const TRANSITION_KINDS: readonly LeaseKind[] = ["promotion", "rollback"];
/** Kinds that black out transitions while they run. */
export const BLACKOUT_KINDS: readonly LeaseKind[] = ["load-test", "backup", "scan"];

export const MAX_TTL_SECONDS = 7 * 24 * 3600;

export interface Lease {
  stage: StageName;
  kind: LeaseKind;
  /** Who holds it, e.g. `alice@build-7` or `ci:pipeline/123`. */
  holder: string;
  reason?: string;
  /** Random id of this acquisition: heartbeat and release check it. */
  token: string;
  pid: number;
  host: string;
  acquiredAt: string;
  heartbeatAt: string;
  expiresAt: string;
  ttlSeconds: number;
}

/** A lease as `status` reports it. */
export interface LeaseStatus extends Lease {
  expired: boolean;
  /** Seconds until expiry (negative once expired). */
  remainingSeconds: number;
}

export class LeaseHeldError extends Error {
  readonly exitCode = 1;
  constructor(
    readonly lease: Lease,
    message: string,
  ) {
    super(message);
    this.name = "LeaseHeldError";
  }
}

/** The lease is gone or was taken over: the holder must stop. */
export class LeaseLostError extends Error {
  readonly exitCode = 1;
  constructor(message: string) {
    super(message);
    this.name = "LeaseLostError";
  }
}

/** Bad input or a store that cannot hold leases: exit 2. */
export class LockUsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = "LockUsageError";
  }
}

export class LockStoreUnsupportedError extends LockUsageError {
  constructor(url: string) {
    super(
      `the store ${url} does not enforce conditional writes, so leases there would not exclude ` +
        "each other. Locks need an endpoint that refuses PutObject with `If-None-Match: *` on an " +
        "existing key (412) and honours `If-Match: <etag>` on PutObject (AWS S3 does; s3rver does " +
        "not). Use such an endpoint or a file:// store on a shared filesystem with --store",
    );
    this.name = "LockStoreUnsupportedError";
  }
}

export interface AcquireOptions {
  ttlSeconds: number;
  holder: string;
  reason?: string;
}

export interface ReleaseOptions {
  force?: boolean;
  reason?: string;
  /** Only release when the lease has this token (a holder releasing its own lease). */
  token?: string;
  /** Refuse unless the lease belongs to this holder (when not forced). */
  holder?: string;
  /** No error when there is no such lease. */
  missingOk?: boolean;
}

export interface Locks {
  acquire(stage: StageName, kind: LeaseKind, opts: AcquireOptions): Promise<Lease>;
  release(stage: StageName, kind: LeaseKind, opts?: ReleaseOptions): Promise<void>;
  heartbeat(lease: Lease): Promise<Lease>;
  status(stage?: StageName): Promise<LeaseStatus[]>;
  assertStageFree(
    stage: StageName,
    opts?: { ignore?: LeaseKind[]; ignoreTokens?: string[] },
  ): Promise<void>;
}

export interface LocksOptions {
  /** Where forced releases are recorded; required for `release --force`. */
  evidence?: EvidenceChain;
  now?: () => Date;
}

export function isLeaseKind(v: string): v is LeaseKind {
  return (LEASE_KINDS as readonly string[]).includes(v);
}

export function parseLeaseKind(v: string, allowed: readonly LeaseKind[] = LEASE_KINDS): LeaseKind {
  if (isLeaseKind(v) && allowed.includes(v)) return v;
  throw new LockUsageError(`unknown lease kind "${v}": expected one of ${allowed.join(", ")}`);
}

/** `user@host` of this process: the default holder. */
export function defaultHolder(env: NodeJS.ProcessEnv): string {
  let user = env.USER || env.LOGNAME;
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = "unknown";
    }
  }
  return `${user}@${hostname()}`;
}

export function leaseKey(stage: StageName, kind: LeaseKind): string {
  return `locks/${stage}/${kind}.json`;
}

function relative(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  const text = s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

/** The message a blocked operation prints: what holds the stage, since when, and what to do. */
export function describeHeldLease(lease: Lease, now: Date, blocked?: string): string {
  const remaining = Date.parse(lease.expiresAt) - now.getTime();
  return (
    `${blocked ? blocked + ": " : ""}stage ${lease.stage} is held by a ${lease.kind} lease of ` +
    `${lease.holder} (pid ${lease.pid} on ${lease.host}${lease.reason ? `, reason: ${lease.reason}` : ""}) ` +
    `since ${lease.acquiredAt}, last heartbeat ${lease.heartbeatAt}; it expires at ${lease.expiresAt} ` +
    `(${relative(remaining)}) unless renewed. Wait for the ${lease.kind} to finish, or, if its holder ` +
    `is gone, run: goose lock release ${lease.stage} --kind ${lease.kind} --force --reason "<why>"`
  );
}

export function openLocks(store: ObjectStore, opts: LocksOptions = {}): Locks {
  const now = opts.now ?? (() => new Date());
  let checked: Promise<void> | undefined;
  const ensureSupported = (): Promise<void> =>
    (checked ??= store.supportsConditionalWrites().then((ok) => {
      if (!ok) throw new LockStoreUnsupportedError(store.url);
    }));

  const isExpired = (l: Lease, at = now()) => Date.parse(l.expiresAt) <= at.getTime();

  async function read(
    stage: StageName,
    kind: LeaseKind,
  ): Promise<{ lease: Lease; etag: string } | undefined> {
    const obj = await store.get(leaseKey(stage, kind));
    if (!obj) return undefined;
    try {
      return { lease: JSON.parse(obj.body.toString("utf8")) as Lease, etag: obj.etag };
    } catch {
      // A lease file that is not JSON cannot come from us; treat it as expired so it is replaced.
      const at = new Date(0).toISOString();
      return {
        lease: {
          stage,
          kind,
          holder: "unknown (corrupt lease file)",
          token: "",
          pid: 0,
          host: "",
          acquiredAt: at,
          heartbeatAt: at,
          expiresAt: at,
          ttlSeconds: 0,
        },
        etag: obj.etag,
      };
    }
  }

  function validate(stage: StageName, kind: LeaseKind): void {
    if (!isStageName(stage)) {
      throw new LockUsageError(
        `unknown stage "${String(stage)}": expected one of ${STAGES.join(", ")}`,
      );
    }
    if (!isLeaseKind(kind)) parseLeaseKind(kind);
  }

  async function liveLeases(stage: StageName): Promise<Lease[]> {
    const at = now();
    const out: Lease[] = [];
    for (const key of await store.list(`locks/${stage}/`)) {
      const kind = key.slice(`locks/${stage}/`.length).replace(/\.json$/, "");
      if (!isLeaseKind(kind)) continue;
      const r = await read(stage, kind);
      if (r && !isExpired(r.lease, at)) out.push(r.lease);
    }
    return out;
  }

  async function acquire(stage: StageName, kind: LeaseKind, a: AcquireOptions): Promise<Lease> {
    validate(stage, kind);
    if (!Number.isInteger(a.ttlSeconds) || a.ttlSeconds < 1 || a.ttlSeconds > MAX_TTL_SECONDS) {
      throw new LockUsageError(
        `--ttl ${a.ttlSeconds}: a lease TTL is a whole number of seconds from 1 to ${MAX_TTL_SECONDS} (7 days)`,
      );
    }
    if (!a.holder.trim()) throw new LockUsageError("a lease needs a holder name (--holder)");
    await ensureSupported();
    const key = leaseKey(stage, kind);
    let mine: Lease | undefined;
    for (let attempt = 0; attempt < 20 && !mine; attempt++) {
      const at = now();
      const lease: Lease = {
        stage,
        kind,
        holder: a.holder,
        ...(a.reason ? { reason: a.reason } : {}),
        token: randomBytes(12).toString("hex"),
        pid: process.pid,
        host: hostname(),
        acquiredAt: at.toISOString(),
        heartbeatAt: at.toISOString(),
        expiresAt: new Date(at.getTime() + a.ttlSeconds * 1000).toISOString(),
        ttlSeconds: a.ttlSeconds,
      };
      const body = JSON.stringify(lease, null, 2) + "\n";
      try {
        await store.put(key, body, { ifNoneMatch: true, contentType: "application/json" });
        mine = lease;
        break;
      } catch (err) {
        if (!(err instanceof PreconditionFailedError)) throw err;
      }
      const cur = await read(stage, kind);
      if (!cur) continue; // released meanwhile: try to create again
      if (!isExpired(cur.lease)) {
        throw new LeaseHeldError(
          cur.lease,
          describeHeldLease(cur.lease, now(), `cannot acquire ${kind} lease`),
        );
      }
      try {
        await store.put(key, body, { ifMatch: cur.etag, contentType: "application/json" });
        mine = lease;
      } catch (err) {
        if (!(err instanceof PreconditionFailedError)) throw err;
      }
    }
    if (!mine)
      throw new LeaseLostError(
        `could not acquire the ${kind} lease on ${stage}: it kept changing; retry`,
      );
    // Create, then check: withdraw if a conflicting lease is live.
    const conflicts = (await liveLeases(stage)).filter(
      (l) =>
        l.token !== mine.token &&
        (TRANSITION_KINDS.includes(kind) ? true : TRANSITION_KINDS.includes(l.kind)),
    );
    const first = conflicts[0];
    if (first) {
      await releaseOwn(mine);
      throw new LeaseHeldError(
        first,
        describeHeldLease(first, now(), `cannot acquire ${kind} lease`),
      );
    }
    return mine;
  }

  async function releaseOwn(lease: Lease): Promise<void> {
    const cur = await read(lease.stage, lease.kind);
    if (cur && cur.lease.token === lease.token)
      await store.delete(leaseKey(lease.stage, lease.kind));
  }

  async function release(stage: StageName, kind: LeaseKind, r: ReleaseOptions = {}): Promise<void> {
    validate(stage, kind);
    await ensureSupported();
    const cur = await read(stage, kind);
    if (!cur) {
      if (r.missingOk) return;
      throw new LeaseLostError(
        `no ${kind} lease is held on ${stage} (goose lock status lists leases)`,
      );
    }
    const expired = isExpired(cur.lease);
    if (r.force) {
      if (!r.reason?.trim()) {
        throw new LockUsageError(
          `a forced release needs --reason: say why the ${kind} lease on ${stage} is being broken`,
        );
      }
      if (!opts.evidence) {
        throw new LockUsageError(
          "a forced release is recorded as evidence; open the locks with an evidence chain",
        );
      }
      const leaseJson = JSON.stringify(cur.lease);
      await opts.evidence.append({
        kind: "lock.force-release",
        stage,
        subject: [
          {
            name: `lease:${stage}/${kind}`,
            digest: { sha256: createHash("sha256").update(leaseJson).digest("hex") },
          },
        ],
        data: {
          lease: cur.lease as unknown as Record<string, unknown>,
          reason: r.reason,
          by: r.holder ?? "unknown",
          expired,
        },
      });
      await store.delete(leaseKey(stage, kind));
      return;
    }
    if (r.token !== undefined && cur.lease.token !== r.token) {
      if (r.missingOk) return;
      throw new LeaseLostError(
        `the ${kind} lease on ${stage} is no longer ours: ${cur.lease.holder} took it over at ${cur.lease.acquiredAt}`,
      );
    }
    if (!expired && r.holder !== undefined && cur.lease.holder !== r.holder) {
      throw new LeaseHeldError(
        cur.lease,
        `the ${kind} lease on ${stage} belongs to ${cur.lease.holder}, not ${r.holder}; ` +
          `release it as that holder (--holder), or break it: goose lock release ${stage} --kind ${kind} --force --reason "<why>"`,
      );
    }
    await store.delete(leaseKey(stage, kind));
  }

  async function heartbeat(lease: Lease): Promise<Lease> {
    await ensureSupported();
    const cur = await read(lease.stage, lease.kind);
    if (!cur || cur.lease.token !== lease.token) {
      throw new LeaseLostError(
        `the ${lease.kind} lease on ${lease.stage} was lost (${cur ? `now held by ${cur.lease.holder}` : "released or broken"}); stop the operation`,
      );
    }
    const at = now();
    const next: Lease = {
      ...cur.lease,
      heartbeatAt: at.toISOString(),
      expiresAt: new Date(at.getTime() + cur.lease.ttlSeconds * 1000).toISOString(),
    };
    try {
      await store.put(leaseKey(lease.stage, lease.kind), JSON.stringify(next, null, 2) + "\n", {
        ifMatch: cur.etag,
        contentType: "application/json",
      });
    } catch (err) {
      if (err instanceof PreconditionFailedError) {
        throw new LeaseLostError(
          `the ${lease.kind} lease on ${lease.stage} changed under us; stop the operation`,
        );
      }
      throw err;
    }
    return next;
  }

  async function status(stage?: StageName): Promise<LeaseStatus[]> {
    const at = now();
    const out: LeaseStatus[] = [];
    for (const key of await store.list(stage ? `locks/${stage}/` : "locks/")) {
      const m = /^locks\/([^/]+)\/([^/]+)\.json$/.exec(key);
      if (!m || !isStageName(m[1] ?? "") || !isLeaseKind(m[2] ?? "")) continue;
      const r = await read(m[1] as StageName, m[2] as LeaseKind);
      if (!r) continue;
      const remaining = Date.parse(r.lease.expiresAt) - at.getTime();
      out.push({
        ...r.lease,
        expired: remaining <= 0,
        remainingSeconds: Math.round(remaining / 1000),
      });
    }
    return out;
  }

  async function assertStageFree(
    stage: StageName,
    a: { ignore?: LeaseKind[]; ignoreTokens?: string[] } = {},
  ): Promise<void> {
    const live = (await liveLeases(stage)).filter(
      (l) => !(a.ignore ?? []).includes(l.kind) && !(a.ignoreTokens ?? []).includes(l.token),
    );
    const first = live[0];
    if (first) {
      const more =
        live.length > 1
          ? ` (also held: ${live
              .slice(1)
              .map((l) => `${l.kind} by ${l.holder}`)
              .join(", ")})`
          : "";
      throw new LeaseHeldError(first, describeHeldLease(first, now()) + more);
    }
  }

  return { acquire, release, heartbeat, status, assertStageFree };
}

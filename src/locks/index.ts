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
 * Fencing (etcd/ZooKeeper style): every acquisition gets `generation` = the previous one + 1, kept
 * across releases because a release never deletes the object: it replaces the lease, by
 * compare-and-swap on the etag it read, with a `released` tombstone that keeps the generation.
 * So a release removes only the lease it read (never one that someone took over meanwhile), and a
 * holder that lost its lease can be told apart by its smaller generation. A lease file that is
 * not a well-formed lease (null, {}, [], a string, unparsable or absurd times) is reported as
 * corrupt, counts as expired, and can be taken over or released with --force --reason.
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
import { ConditionalWritesUnsupportedError, assertConditionalWrites } from "../store/errors.js";
import type { EvidenceChain } from "../evidence/index.js";
import { CheckFailedError, InputError } from "../errors.js";

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
  /**
   * Fencing token: strictly increasing per stage and kind across acquisitions. Pass it to what
   * the lease protects; a write carrying a smaller generation than one already seen is stale.
   */
  generation: number;
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
  /** Why the lease file is not a well-formed lease (then it counts as expired). */
  corrupt?: string;
  /** Seconds until expiry (negative once expired). */
  remainingSeconds: number;
}

export class LeaseHeldError extends CheckFailedError {
  constructor(
    readonly lease: Lease,
    message: string,
  ) {
    super(message);
    this.name = "LeaseHeldError";
  }
}

/** The lease is gone or was taken over: the holder must stop. */
export class LeaseLostError extends CheckFailedError {
  constructor(message: string) {
    super(message);
    this.name = "LeaseLostError";
  }
}

/** Bad input or a store that cannot hold leases: exit 2. */
export class LockUsageError extends InputError {
  constructor(message: string) {
    super(message);
    this.name = "LockUsageError";
  }
}

/**
 * A store without conditional writes: the store refuses every compare-and-swap user with this one
 * error (exit 2) unless --unsafe-store was given (src/store/errors.ts).
 */
export const LockStoreUnsupportedError = ConditionalWritesUnsupportedError;
export type LockStoreUnsupportedError = ConditionalWritesUnsupportedError;

/** A lease object as found in the store. */
type LeaseRead =
  | { state: "held"; lease: Lease; etag: string; generation: number }
  | { state: "released"; etag: string; generation: number }
  | { state: "corrupt"; lease: Lease; etag: string; generation: number; why: string; raw: Buffer };

/** Leases further in the future than this (beyond the longest TTL) are corrupt, not "held". */
const EXPIRY_SLACK_MS = 3600_000;

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

function placeholder(stage: StageName, kind: LeaseKind, why: string): Lease {
  const at = new Date(0).toISOString();
  return {
    stage,
    kind,
    holder: `unknown (corrupt lease file: ${why})`,
    token: "",
    generation: 0,
    pid: 0,
    host: "",
    acquiredAt: at,
    heartbeatAt: at,
    expiresAt: at,
    ttlSeconds: 0,
  };
}

/** Parses a lease object; anything that is not a well-formed lease is "corrupt". */
export function parseLeaseObject(
  stage: StageName,
  kind: LeaseKind,
  body: Buffer,
  now: Date,
):
  | { state: "held"; lease: Lease }
  | { state: "released"; generation: number }
  | { state: "corrupt"; why: string; generation: number } {
  let v: unknown;
  try {
    v = JSON.parse(body.toString("utf8"));
  } catch {
    return { state: "corrupt", why: "not JSON", generation: 0 };
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    return {
      state: "corrupt",
      why: `not a JSON object (${v === null ? "null" : Array.isArray(v) ? "an array" : typeof v})`,
      generation: 0,
    };
  }
  const o = v as Record<string, unknown>;
  const gen =
    typeof o.generation === "number" && Number.isSafeInteger(o.generation) && o.generation >= 0
      ? o.generation
      : 0;
  if (o.released === true) return { state: "released", generation: gen };
  const problems: string[] = [];
  if (o.stage !== stage) problems.push(`stage is ${JSON.stringify(o.stage)}, not "${stage}"`);
  if (o.kind !== kind) problems.push(`kind is ${JSON.stringify(o.kind)}, not "${kind}"`);
  if (typeof o.holder !== "string" || !o.holder.trim()) problems.push("no holder");
  if (typeof o.token !== "string" || o.token === "") problems.push("no token");
  for (const f of ["acquiredAt", "heartbeatAt", "expiresAt"] as const) {
    if (typeof o[f] !== "string" || Number.isNaN(Date.parse(o[f]))) {
      problems.push(`${f} is not a timestamp`);
    }
  }
  if (
    typeof o.ttlSeconds !== "number" ||
    !Number.isInteger(o.ttlSeconds) ||
    o.ttlSeconds < 1 ||
    o.ttlSeconds > MAX_TTL_SECONDS
  ) {
    problems.push(`ttlSeconds is not 1..${MAX_TTL_SECONDS}`);
  }
  if (typeof o.expiresAt === "string" && !Number.isNaN(Date.parse(o.expiresAt))) {
    const latest = now.getTime() + MAX_TTL_SECONDS * 1000 + EXPIRY_SLACK_MS;
    if (Date.parse(o.expiresAt) > latest) {
      problems.push(`expiresAt ${o.expiresAt} is further away than the longest TTL (7 days)`);
    }
  }
  if (problems.length > 0) return { state: "corrupt", why: problems.join("; "), generation: gen };
  return {
    state: "held",
    lease: {
      ...(o as unknown as Lease),
      generation: gen,
      pid: typeof o.pid === "number" ? o.pid : 0,
      host: typeof o.host === "string" ? o.host : "",
    },
  };
}

export function openLocks(store: ObjectStore, opts: LocksOptions = {}): Locks {
  const now = opts.now ?? (() => new Date());

  const isExpired = (l: Lease, at = now()) => Date.parse(l.expiresAt) <= at.getTime();

  async function read(stage: StageName, kind: LeaseKind): Promise<LeaseRead | undefined> {
    const obj = await store.get(leaseKey(stage, kind));
    if (!obj) return undefined;
    const p = parseLeaseObject(stage, kind, obj.body, now());
    if (p.state === "held") {
      return { state: "held", lease: p.lease, etag: obj.etag, generation: p.lease.generation };
    }
    if (p.state === "released")
      return { state: "released", etag: obj.etag, generation: p.generation };
    return {
      state: "corrupt",
      lease: placeholder(stage, kind, p.why),
      etag: obj.etag,
      generation: p.generation,
      why: p.why,
      raw: obj.body,
    };
  }

  /** Replaces the lease we read (etag) with a released tombstone that keeps its generation. */
  async function tombstone(
    stage: StageName,
    kind: LeaseKind,
    cur: LeaseRead,
    by: string,
  ): Promise<void> {
    const body = {
      released: true,
      stage,
      kind,
      generation: cur.generation,
      releasedAt: now().toISOString(),
      by,
    };
    await store.put(leaseKey(stage, kind), JSON.stringify(body, null, 2) + "\n", {
      ifMatch: cur.etag,
      contentType: "application/json",
    });
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
      if (r?.state === "held" && !isExpired(r.lease, at)) out.push(r.lease);
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
    await assertConditionalWrites(store);
    const key = leaseKey(stage, kind);
    const newLease = (generation: number): Lease => {
      const at = now();
      return {
        stage,
        kind,
        holder: a.holder,
        ...(a.reason ? { reason: a.reason } : {}),
        token: randomBytes(12).toString("hex"),
        generation,
        pid: process.pid,
        host: hostname(),
        acquiredAt: at.toISOString(),
        heartbeatAt: at.toISOString(),
        expiresAt: new Date(at.getTime() + a.ttlSeconds * 1000).toISOString(),
        ttlSeconds: a.ttlSeconds,
      };
    };
    const bodyOf = (l: Lease) => JSON.stringify(l, null, 2) + "\n";
    let mine: Lease | undefined;
    for (let attempt = 0; attempt < 50 && !mine; attempt++) {
      const cur = await read(stage, kind);
      if (!cur) {
        const lease = newLease(1);
        try {
          await store.put(key, bodyOf(lease), {
            ifNoneMatch: true,
            contentType: "application/json",
          });
          mine = lease;
        } catch (err) {
          if (!(err instanceof PreconditionFailedError)) throw err;
        }
        continue;
      }
      if (cur.state === "held" && !isExpired(cur.lease)) {
        throw new LeaseHeldError(
          cur.lease,
          describeHeldLease(cur.lease, now(), `cannot acquire ${kind} lease`),
        );
      }
      // Free (released), expired or corrupt: take it over by compare-and-swap on what we read.
      const lease = newLease(cur.generation + 1);
      try {
        await store.put(key, bodyOf(lease), { ifMatch: cur.etag, contentType: "application/json" });
        mine = lease;
      } catch (err) {
        if (!(err instanceof PreconditionFailedError)) throw err;
      }
    }
    if (!mine)
      throw new LeaseLostError(
        `could not acquire the ${kind} lease on ${stage}: it kept changing; retry`,
      );
    const won = mine;
    // Create, then check: withdraw if a conflicting lease is live.
    const conflicts = (await liveLeases(stage)).filter(
      (l) =>
        l.token !== won.token &&
        (TRANSITION_KINDS.includes(kind) ? true : TRANSITION_KINDS.includes(l.kind)),
    );
    const first = conflicts[0];
    if (first) {
      await releaseOwn(won);
      throw new LeaseHeldError(
        first,
        describeHeldLease(first, now(), `cannot acquire ${kind} lease`),
      );
    }
    return won;
  }

  /** Releases `lease` only while it is still the one in the store (compare-and-swap). */
  async function releaseOwn(lease: Lease): Promise<boolean> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const cur = await read(lease.stage, lease.kind);
      if (cur?.state !== "held" || cur.lease.token !== lease.token) return false;
      try {
        await tombstone(lease.stage, lease.kind, cur, lease.holder);
        return true;
      } catch (err) {
        if (!(err instanceof PreconditionFailedError)) throw err;
      }
    }
    return false;
  }

  async function release(stage: StageName, kind: LeaseKind, r: ReleaseOptions = {}): Promise<void> {
    validate(stage, kind);
    await assertConditionalWrites(store);
    const cur = await read(stage, kind);
    if (!cur || cur.state === "released") {
      if (r.missingOk) return;
      throw new LeaseLostError(
        `no ${kind} lease is held on ${stage} (goose lock status lists leases)`,
      );
    }
    const expired = cur.state === "corrupt" || isExpired(cur.lease);
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
      const digest =
        cur.state === "corrupt"
          ? createHash("sha256").update(cur.raw).digest("hex")
          : createHash("sha256").update(JSON.stringify(cur.lease)).digest("hex");
      await opts.evidence.append({
        kind: "lock.force-release",
        stage,
        subject: [{ name: `lease:${stage}/${kind}`, digest: { sha256: digest } }],
        data: {
          lease: cur.lease as unknown as Record<string, unknown>,
          ...(cur.state === "corrupt" ? { corrupt: cur.why } : {}),
          reason: r.reason,
          by: r.holder ?? "unknown",
          expired,
        },
      });
      try {
        await tombstone(stage, kind, cur, r.holder ?? "unknown");
      } catch (err) {
        if (!(err instanceof PreconditionFailedError)) throw err;
        throw new LeaseLostError(
          `the ${kind} lease on ${stage} changed while it was being broken (someone took it ` +
            `over); nothing was released. Look again: goose lock status ${stage}`,
        );
      }
      return;
    }
    if (cur.state === "corrupt") {
      if (r.missingOk) return;
      throw new LeaseHeldError(
        cur.lease,
        `the ${kind} lease file on ${stage} is corrupt (${cur.why}); it counts as expired. ` +
          `Break it: goose lock release ${stage} --kind ${kind} --force --reason "<why>"`,
      );
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
    try {
      await tombstone(stage, kind, cur, r.holder ?? cur.lease.holder);
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err;
      if (r.missingOk) return;
      throw new LeaseLostError(
        `the ${kind} lease on ${stage} changed before it could be released (taken over or ` +
          `renewed by someone else); nothing was released. Look again: goose lock status ${stage}`,
      );
    }
  }

  async function heartbeat(lease: Lease): Promise<Lease> {
    await assertConditionalWrites(store);
    const cur = await read(lease.stage, lease.kind);
    if (cur?.state !== "held" || cur.lease.token !== lease.token) {
      throw new LeaseLostError(
        `the ${lease.kind} lease on ${lease.stage} was lost (${cur?.state === "held" ? `now held by ${cur.lease.holder}` : "released or broken"}); stop the operation`,
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
      if (!r || r.state === "released") continue;
      const remaining = Date.parse(r.lease.expiresAt) - at.getTime();
      out.push({
        ...r.lease,
        expired: r.state === "corrupt" || remaining <= 0,
        ...(r.state === "corrupt" ? { corrupt: r.why } : {}),
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

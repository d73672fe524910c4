/**
 * What a lease is: its kinds, its stored shape and how a stored object is read back (held,
 * released tombstone or corrupt), the errors of the lease API, and how a held lease is described
 * to the user. No store access: openLocks (index.ts) reads and writes leases.
 */
import { hostname, userInfo } from "node:os";
import type { StageName } from "../config/stages.js";
import { ConditionalWritesUnsupportedError } from "../store/errors.js";
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
export type LeaseRead =
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

export function placeholder(stage: StageName, kind: LeaseKind, why: string): Lease {
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

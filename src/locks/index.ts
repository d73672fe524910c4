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
import { hostname } from "node:os";
import { STAGES, isStageName, type StageName } from "../config/stages.js";
import { PreconditionFailedError, type ObjectStore, type StoredObject } from "../store/types.js";
import { assertConditionalWrites } from "../store/errors.js";
import { updateObject } from "../store/cas.js";
import {
  describeHeldLease,
  isLeaseKind,
  leaseKey,
  LeaseHeldError,
  LeaseLostError,
  LockUsageError,
  MAX_TTL_SECONDS,
  parseLeaseKind,
  parseLeaseObject,
  placeholder,
  TRANSITION_KINDS,
  type AcquireOptions,
  type Lease,
  type LeaseKind,
  type LeaseRead,
  type LeaseStatus,
  type Locks,
  type LocksOptions,
  type ReleaseOptions,
} from "./lease.js";

export * from "./lease.js";

export function openLocks(store: ObjectStore, opts: LocksOptions = {}): Locks {
  const now = opts.now ?? (() => new Date());

  const isExpired = (l: Lease, at = now()) => Date.parse(l.expiresAt) <= at.getTime();

  async function read(stage: StageName, kind: LeaseKind): Promise<LeaseRead | undefined> {
    return readObject(stage, kind, await store.get(leaseKey(stage, kind)));
  }

  function readObject(
    stage: StageName,
    kind: LeaseKind,
    obj: StoredObject | undefined,
  ): LeaseRead | undefined {
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
    await store.put(leaseKey(stage, kind), tombstoneBody(stage, kind, cur.generation, by), {
      ifMatch: cur.etag,
      contentType: "application/json",
    });
  }

  /** A released tombstone: keeps the generation so the next acquisition goes one up. */
  function tombstoneBody(stage: StageName, kind: LeaseKind, generation: number, by: string) {
    const body = { released: true, stage, kind, generation, releasedAt: now().toISOString(), by };
    return JSON.stringify(body, null, 2) + "\n";
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
    // Absent: create it (ifNoneMatch). Free (released), expired or corrupt: take it over by
    // compare-and-swap on what we read (ifMatch), one generation up. Live: held by someone else.
    const won = await updateObject<Lease>(
      store,
      key,
      (obj) => {
        const cur = readObject(stage, kind, obj);
        if (cur?.state === "held" && !isExpired(cur.lease)) {
          throw new LeaseHeldError(
            cur.lease,
            describeHeldLease(cur.lease, now(), `cannot acquire ${kind} lease`),
          );
        }
        const lease = newLease(cur ? cur.generation + 1 : 1);
        return {
          write: JSON.stringify(lease, null, 2) + "\n",
          contentType: "application/json",
          result: lease,
        };
      },
      {
        attempts: 50,
        exhausted: () => {
          throw new LeaseLostError(
            `could not acquire the ${kind} lease on ${stage}: it kept changing; retry`,
          );
        },
      },
    );
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
    return updateObject<boolean>(
      store,
      leaseKey(lease.stage, lease.kind),
      (obj) => {
        const cur = readObject(lease.stage, lease.kind, obj);
        if (cur?.state !== "held" || cur.lease.token !== lease.token) return { keep: false };
        return {
          write: tombstoneBody(lease.stage, lease.kind, cur.generation, lease.holder),
          contentType: "application/json",
          result: true,
        };
      },
      { attempts: 20, exhausted: () => false },
    );
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

/**
 * The load test's place in the lock protocol (src/locks): a run refuses to start while a
 * promotion or rollback holds the stage, and holds a `load-test` lease for its whole duration
 * (heartbeat every third of the TTL, released in `finally`), so no transition starts under it.
 * Losing the lease (broken by force, taken over) stops the run through the abort signal.
 */
import { BLACKOUT_KINDS, LeaseLostError, openLocks, type Lease } from "../locks/index.js";
import type { StageName } from "../config/stages.js";
import type { ObjectStore } from "../store/types.js";

export interface LeaseOptions {
  store: ObjectStore;
  stage: StageName;
  holder: string;
  reason?: string;
  /** Lease TTL; renewed every third of it. Default 60 s. */
  ttlSeconds?: number;
  /** Told when the lease could not be renewed (the run is then aborted). */
  onLost?: (err: Error) => void;
}

/** Runs `fn` under a load-test lease on `opts.stage`. Throws LeaseHeldError when blocked. */
export async function withLoadTestLease<T>(
  opts: LeaseOptions,
  fn: (signal: AbortSignal, lease: Lease) => Promise<T>,
): Promise<T> {
  const locks = openLocks(opts.store);
  // Only transitions block a load test; other blackouts (backup, scan) may overlap with it.
  await locks.assertStageFree(opts.stage, { ignore: [...BLACKOUT_KINDS] });
  const ttlSeconds = opts.ttlSeconds ?? 60;
  let lease = await locks.acquire(opts.stage, "load-test", {
    ttlSeconds,
    holder: opts.holder,
    ...(opts.reason ? { reason: opts.reason } : {}),
  });
  const controller = new AbortController();
  let beating: Promise<void> = Promise.resolve();
  const timer = setInterval(
    () => {
      beating = locks
        .heartbeat(lease)
        .then((l) => {
          lease = l;
        })
        .catch((err: unknown) => {
          const e = err instanceof Error ? err : new Error(String(err));
          opts.onLost?.(e);
          if (err instanceof LeaseLostError) controller.abort(e);
        });
    },
    Math.max(1000, (ttlSeconds * 1000) / 3),
  );
  try {
    return await fn(controller.signal, lease);
  } finally {
    clearInterval(timer);
    await beating;
    await locks.release(opts.stage, "load-test", { token: lease.token, missingOk: true });
  }
}

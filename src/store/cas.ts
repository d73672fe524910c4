/**
 * Compare-and-swap over the object store, in one place: read the object, compute the next body
 * from what was read, write it only if nobody changed it meanwhile (`ifMatch` on the etag read, or
 * `ifNoneMatch` when there was none), and on a lost race read again and recompute. Callers decide
 * what a change is; this module decides how it is written. Used by the evidence chain (append,
 * head, rotation), snapshot metrics and transition metrics.
 */
import { PreconditionFailedError, type ObjectStore, type StoredObject } from "./types.js";

/** What the update function decides for the object it was shown. */
export type CasDecision<R> =
  /** Write `body` in place of what was read; `updateObject` returns `result` once it lands. */
  | {
      write: string | Buffer;
      result: R;
      contentType?: string;
      /** Called when this write lost the race (before the next attempt), e.g. to undo a side write. */
      onConflict?: () => Promise<void>;
    }
  /** Nothing to write: return `result` as is. */
  | { keep: R };

export interface CasOptions<R> {
  /** At most this many attempts (default 20). */
  attempts?: number;
  /** Stop retrying after this many milliseconds from the first attempt (default: no limit). */
  withinMs?: number;
  /** Awaited between a lost race and the next attempt (default: retry at once). */
  backoff?: (attempt: number) => Promise<void>;
  /** What to do when every attempt lost: return a value or throw (default: throw an Error). */
  exhausted?: () => R;
}

/**
 * Updates `key` by compare-and-swap: `fn` sees the current object (undefined when absent) and the
 * attempt number, and returns the body to write or `{ keep }`. A lost race retries with a fresh
 * read, so no concurrent update is ever dropped; errors other than a failed precondition propagate.
 */
export async function updateObject<R>(
  store: ObjectStore,
  key: string,
  fn: (
    current: StoredObject | undefined,
    attempt: number,
  ) => CasDecision<R> | Promise<CasDecision<R>>,
  opts: CasOptions<R> = {},
): Promise<R> {
  const attempts = opts.attempts ?? 20;
  const deadline = opts.withinMs === undefined ? Infinity : Date.now() + opts.withinMs;
  for (let attempt = 0; attempt < attempts && Date.now() < deadline; attempt++) {
    const cur = await store.get(key);
    const decision = await fn(cur, attempt);
    if ("keep" in decision) return decision.keep;
    try {
      await store.put(key, decision.write, {
        ...(cur ? { ifMatch: cur.etag } : { ifNoneMatch: true }),
        ...(decision.contentType ? { contentType: decision.contentType } : {}),
      });
      return decision.result;
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err;
      await decision.onConflict?.();
      await opts.backoff?.(attempt);
    }
  }
  if (opts.exhausted) return opts.exhausted();
  throw new Error(`could not update ${store.url}/${key}: it kept changing; retry`);
}

/** Parses a stored JSON object, or returns `fallback` when there is none. */
export function jsonOf<T>(obj: StoredObject | undefined, fallback: T): T {
  return obj ? (JSON.parse(obj.body.toString("utf8")) as T) : fallback;
}

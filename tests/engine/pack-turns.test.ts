/**
 * PackTurns (src/engine/offline/pack-turns.ts): between two renders of `goose preview --all`, the
 * engine waits until the shared pack has a long request of ours, or nothing is left to give it.
 * Driven here with promises the test settles itself: no pack, no timing.
 */
import { describe, expect, it } from "vitest";
import { PackTurns } from "../../src/engine/offline/pack-turns.js";

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** Whether `p` has settled after the event loop has had a few turns. */
async function settledSoon(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void p.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
  return settled;
}

describe("PackTurns", () => {
  it("does not wait for a pack that is not running yet", async () => {
    const pack = deferred();
    const turns = new PackTurns(pack.promise);
    turns.track(deferred().promise);
    expect(await settledSoon(turns.give())).toBe(true);
  });

  it("waits, once the pack runs, until it has a long request of ours", async () => {
    const pack = deferred();
    const turns = new PackTurns(pack.promise);
    pack.resolve();
    const run = deferred();
    turns.track(run.promise);
    const given = turns.give();
    expect(await settledSoon(given)).toBe(false);
    turns.onPackWork(true);
    expect(await settledSoon(given)).toBe(true);
    // While the pack works on it, the next render does not wait.
    expect(await settledSoon(turns.give())).toBe(true);
    // Between its answer and the next request, it waits again; the run settling ends the wait.
    turns.onPackWork(false);
    const again = turns.give();
    expect(await settledSoon(again)).toBe(false);
    run.reject(new Error("the pack failed"));
    expect(await settledSoon(again)).toBe(true);
  });

  it("does not wait when no analysis is running, nor after the pack failed to start", async () => {
    const ok = deferred();
    const idle = new PackTurns(ok.promise);
    ok.resolve();
    expect(await settledSoon(idle.give())).toBe(true);

    const failing = deferred();
    const turns = new PackTurns(failing.promise);
    turns.track(deferred().promise);
    failing.reject(new Error("no port"));
    expect(await settledSoon(turns.give())).toBe(true);
  });
});

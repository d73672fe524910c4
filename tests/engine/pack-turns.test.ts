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
  it("waits for a pack that is still starting, then until it has a long request of ours", async () => {
    const pack = deferred<{ answered: number }>();
    const turns = new PackTurns(pack.promise);
    turns.track(deferred().promise);
    const given = turns.give();
    expect(await settledSoon(given)).toBe(false);
    pack.resolve({ answered: 0 });
    expect(await settledSoon(given)).toBe(false);
    turns.onPackWork(true);
    expect(await settledSoon(given)).toBe(true);
  });

  it("waits, once the pack runs, until it has a long request of ours", async () => {
    const pack = deferred<{ answered: number }>();
    const turns = new PackTurns(pack.promise);
    pack.resolve({ answered: 0 });
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
    const ok = deferred<{ answered: number }>();
    const idle = new PackTurns(ok.promise);
    ok.resolve({ answered: 0 });
    expect(await settledSoon(idle.give())).toBe(true);

    const failing = deferred<{ answered: number }>();
    const turns = new PackTurns(failing.promise);
    turns.track(deferred().promise);
    failing.reject(new Error("no port"));
    expect(await settledSoon(turns.give())).toBe(true);
  });
});

describe("PackTurns: answers that arrived during a render", () => {
  it("are handled before the next render, for as long as each turn brings more", async () => {
    const pack = deferred<{ answered: number }>();
    const state = { answered: 0 };
    const turns = new PackTurns(pack.promise);
    pack.resolve(state);
    const run = deferred();
    turns.track(run.promise);
    turns.onPackWork(true); // the pack has our Analyze calls
    // Three answers arrive one turn after another: give() keeps turning until one brings none.
    let turnsSeen = 0;
    const arrive = () =>
      setImmediate(() => {
        turnsSeen++;
        if (turnsSeen <= 3) {
          state.answered++;
          arrive();
        }
      });
    arrive();
    await turns.give();
    expect(state.answered).toBe(3);
  });
});

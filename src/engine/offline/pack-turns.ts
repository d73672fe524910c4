/**
 * Turn-taking between the renders and the shared pack of `previewMany` (engine.ts). A render runs in this
 * process's one thread without yielding to its event loop, so while stage 2 renders, the answers
 * of the pack about stage 1 (and the pack's port, at first) wait, and so does the pack, for the
 * requests those answers lead to. Between two renders, `give` lets this process's pending work
 * for the pack run (waiting for the pack to start, when it has not yet) until the pack has a long
 * request of ours (a stage's Analyze calls or its AnalyzeStack), or nothing is left to send; then
 * the next render overlaps with the pack's work.
 */
export class PackTurns {
  private pack: { readonly answered: number } | undefined;
  private failed = false;
  private busy = false;
  private running = 0;
  private waiter: (() => void) | undefined;

  /** `pack`: the shared pack once attached; `answered` counts the answers it has received. */
  constructor(pack: Promise<{ readonly answered: number }>) {
    pack.then(
      (p) => {
        this.pack = p;
        this.wake();
      },
      () => {
        this.failed = true;
        this.wake();
      },
    );
  }

  readonly onPackWork = (busy: boolean): void => {
    this.busy = busy;
    if (busy) this.wake();
  };

  /** Counts an analysis until it settles. */
  track(run: Promise<unknown>): void {
    this.running++;
    const settled = () => {
      this.running--;
      this.wake();
    };
    run.then(settled, settled);
  }

  /**
   * Resolves once the pack has a long request of ours, or nothing is left to give it (no analysis
   * running, or the pack failed to start).
   */
  async give(): Promise<void> {
    // Turns of the event loop for as long as they bring something: the pack's port, the answers
    // that arrived during the render (the pack may have finished a stage's Analyze calls), and
    // what they lead to (its AnalyzeStack); a turn that brings nothing means we have caught up.
    let seen: number;
    do {
      seen = this.pack?.answered ?? -1;
      await new Promise<void>((resolve) => setImmediate(resolve));
    } while ((this.pack?.answered ?? -1) !== seen);
    // A pack still starting is waited for too: once it runs, its work for the stages rendered so
    // far is longer than the next render, so it should not sit idle through that render.
    while (!this.failed && !this.busy && this.running > 0) {
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}

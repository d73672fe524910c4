/**
 * Turn-taking between the renders and the shared pack of `previewMany` (engine.ts). A render runs in this
 * process's one thread without yielding to its event loop, so while stage 2 renders, the answers
 * of the pack about stage 1 (and the pack's port, at first) wait, and so does the pack, for the
 * requests those answers lead to. Between two renders, `give` lets this process's pending work
 * for the pack run until the pack has a long request of ours (a stage's Analyze calls or its
 * AnalyzeStack), or nothing is left to send; then the next render overlaps with the pack's work.
 */
export class PackTurns {
  private attached = false;
  private busy = false;
  private running = 0;
  private waiter: (() => void) | undefined;

  constructor(pack: Promise<unknown>) {
    pack.then(
      () => (this.attached = true),
      () => this.wake(),
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

  /** Resolves once the pack has a long request of ours, or nothing is left to give it. */
  async give(): Promise<void> {
    // One turn of the event loop: the pack's port, answers that have arrived, what they lead to.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.attached && !this.busy && this.running > 0) {
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}

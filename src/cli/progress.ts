/**
 * Progress of long work (load tests, snapshots of big exports, previews) on stderr, never stdout:
 * - on a terminal, one line redrawn in place (`\r` and erase-line) as often as it changes;
 * - piped (CI logs), plain lines — no carriage returns, no escapes — at most one per interval
 *   (GOOSE_PROGRESS_SECONDS, default 10; 0 prints every update), the first one interval after the
 *   start: quick work prints nothing, long work shows it is moving without flooding the log.
 *   `done()` ends the live line, or, piped, prints the last state held back once lines were shown.
 * Under --json nothing of this reaches stdout: the document stays the only thing there.
 */
import type { CliIo } from "./io.js";

/** Piped, at most one progress line per this many milliseconds. */
export const PIPED_PROGRESS_INTERVAL_MS = 10_000;

export interface ProgressReporter {
  /** The current state, as one line (no newline). */
  update(line: string): void;
  /** The work ended: finish the live line, or print the held-back last state when piped. */
  done(): void;
}

/** The piped interval: GOOSE_PROGRESS_SECONDS (a number ≥ 0), else 10 s. */
export function pipedProgressIntervalMs(env: NodeJS.ProcessEnv): number {
  const v = env.GOOSE_PROGRESS_SECONDS;
  const s = v === undefined || v.trim() === "" ? NaN : Number(v);
  return Number.isFinite(s) && s >= 0 ? s * 1000 : PIPED_PROGRESS_INTERVAL_MS;
}

export function progressReporter(
  io: Pick<CliIo, "stderr" | "isTty" | "env">,
  opts: { intervalMs?: number; now?: () => number } = {},
): ProgressReporter {
  const interval = opts.intervalMs ?? pipedProgressIntervalMs(io.env);
  const now = opts.now ?? Date.now;
  if (io.isTty) {
    let live = false;
    return {
      update(line) {
        live = true;
        io.stderr.write(`\r\x1b[2K${line}`);
      },
      done() {
        if (live) io.stderr.write("\n");
        live = false;
      },
    };
  }
  let lastAt = now();
  let printed = false;
  let held: string | undefined;
  return {
    update(line) {
      const t = now();
      if (t - lastAt >= interval) {
        io.stderr.write(line + "\n");
        lastAt = t;
        printed = true;
        held = undefined;
      } else {
        held = line;
      }
    },
    done() {
      if (printed && held !== undefined) io.stderr.write(held + "\n");
      held = undefined;
    },
  };
}

/**
 * Value grammar shared by the stress-test config, thresholds and tolerances: durations
 * (`250us`, `500ms`, `2s`, `1m`; a bare number is milliseconds, as in k6), ratios (`1%` or
 * `0.01`) and byte rates (`512KB/s`, `2MB/s`; a bare number is bytes per second).
 */

/** Parses a duration; returns milliseconds, or undefined when `text` is not one. */
export function parseDurationMs(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s|m|h)?\s*$/.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  switch (m[2]) {
    case "us":
    case "µs":
      return n / 1000;
    case "s":
      return n * 1000;
    case "m":
      return n * 60_000;
    case "h":
      return n * 3_600_000;
    default:
      return n;
  }
}

/** Parses a ratio: `1%` → 0.01, `0.01` → 0.01. Undefined when not a ratio. */
export function parseRatio(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(%)?\s*$/.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  return m[2] ? n / 100 : n;
}

/** Parses a byte rate: `2MB/s` → 2_000_000 (SI units; KiB/MiB for binary). */
export function parseByteRate(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?(?:\/s)?\s*$/.exec(text);
  if (!m) return undefined;
  const factor: Record<string, number> = {
    B: 1,
    KB: 1e3,
    MB: 1e6,
    GB: 1e9,
    KiB: 1024,
    MiB: 1024 ** 2,
    GiB: 1024 ** 3,
  };
  return Number(m[1]) * (factor[m[2] ?? "B"] ?? 1);
}

/** Parses a plain non-negative number. */
export function parseNumber(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*$/.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** `1234.5` ms → `1.23s`; `0.42` → `420µs`; for human output. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms >= 1000) return `${round(ms / 1000, 3)}s`;
  if (ms >= 1) return `${round(ms, 2)}ms`;
  return `${round(ms * 1000, 0)}µs`;
}

export function formatPercent(ratio: number): string {
  return `${round(ratio * 100, 3)}%`;
}

export function formatBytesPerSecond(bps: number): string {
  if (bps >= 1e9) return `${round(bps / 1e9, 2)} GB/s`;
  if (bps >= 1e6) return `${round(bps / 1e6, 2)} MB/s`;
  if (bps >= 1e3) return `${round(bps / 1e3, 2)} KB/s`;
  return `${round(bps, 0)} B/s`;
}

export function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/**
 * A latency histogram with logarithmic buckets (each 1% wider than the last), so every
 * percentile is exact to within 1% at any scale from 1µs to 1000s, in fixed memory (~17 KB).
 * autocannon only reports fixed percentiles (no p95) in whole milliseconds; the runner records
 * every response's latency here instead, which gives honest p95 and sub-millisecond figures.
 */
const MIN_MS = 0.001;
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
const BUCKETS = Math.ceil(Math.log(1_000_000 / MIN_MS) / LOG_GROWTH) + 2;

export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  count = 0;
  sum = 0;
  min = Infinity;
  max = 0;

  /** Records one latency in milliseconds. */
  record(ms: number): void {
    const v = ms > 0 ? ms : 0;
    const i = v <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(v / MIN_MS) / LOG_GROWTH));
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.count++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  /** Adds every sample of `other` to this histogram. */
  merge(other: LatencyHistogram): void {
    for (let i = 0; i < BUCKETS; i++)
      this.counts[i] = (this.counts[i] ?? 0) + (other.counts[i] ?? 0);
    this.count += other.count;
    this.sum += other.sum;
    if (other.min < this.min) this.min = other.min;
    if (other.max > this.max) this.max = other.max;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
    this.min = Infinity;
    this.max = 0;
  }

  /**
   * The value at quantile `q` (0..1): the smallest recorded bucket bound below which at least
   * q of the samples fall, clamped to the exact min and max. 0 when empty.
   */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= rank) {
        const upper = i === 0 ? MIN_MS : MIN_MS * GROWTH ** i;
        return Math.min(this.max, Math.max(this.min, upper));
      }
    }
    return this.max;
  }

  mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }
}

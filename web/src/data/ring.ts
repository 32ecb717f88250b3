// Fixed-size time-keyed ring buffer for per-second live series (uPlot lesson: columnar typed
// arrays, no per-point objects). Slot i holds the bucket whose start time is keys[i]; a later
// write to the same slot with a different key overwrites (the window slid past it).

export class TimeRing {
  readonly capacity: number;
  readonly stepMs: number;
  private readonly keys: Float64Array;
  private readonly vals: Float64Array;
  private latest = -Infinity;

  constructor(capacity: number, stepMs = 1000) {
    this.capacity = capacity;
    this.stepMs = stepMs;
    this.keys = new Float64Array(capacity).fill(NaN);
    this.vals = new Float64Array(capacity).fill(NaN);
  }

  /** Bucket start for a time: floor to the step. */
  bucket(tMs: number): number {
    return Math.floor(tMs / this.stepMs) * this.stepMs;
  }

  private slot(bucketMs: number): number {
    const i = Math.floor(bucketMs / this.stepMs) % this.capacity;
    return i < 0 ? i + this.capacity : i;
  }

  /** Stores `v` (null → NaN, a gap) for the bucket containing `tMs`. Writes older than the
   *  window ending at the latest bucket are ignored. */
  put(tMs: number, v: number | null): void {
    const b = this.bucket(tMs);
    if (b <= this.latest - this.capacity * this.stepMs) return;
    const s = this.slot(b);
    this.keys[s] = b;
    this.vals[s] = v == null ? NaN : v;
    if (b > this.latest) this.latest = b;
  }

  /** Value for the bucket containing `tMs`, NaN when absent. */
  get(tMs: number): number {
    const b = this.bucket(tMs);
    const s = this.slot(b);
    return this.keys[s] === b ? this.vals[s]! : NaN;
  }

  /** Start of the newest bucket written, -Infinity when empty. */
  get latestBucket(): number {
    return this.latest;
  }

  /** Fills `out` with the `out.length` buckets ending with the bucket that contains `endMs`
   *  (oldest first); missing buckets are NaN. Returns the first bucket's start time. */
  window(endMs: number, out: Float64Array): number {
    const last = this.bucket(endMs);
    const first = last - (out.length - 1) * this.stepMs;
    for (let i = 0; i < out.length; i++) {
      const b = first + i * this.stepMs;
      const s = this.slot(b);
      out[i] = this.keys[s] === b ? this.vals[s]! : NaN;
    }
    return first;
  }

  clear(): void {
    this.keys.fill(NaN);
    this.vals.fill(NaN);
    this.latest = -Infinity;
  }
}

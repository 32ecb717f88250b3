// Columnar X-View point storage. Points are never objects: end times, elapsed values and error
// flags live in parallel typed arrays; ids in a plain string array (only needed on selection).

export interface PointColumnsJson {
  id?: string[];
  end_ms: number[];
  elapsed_ms: number[];
  error: (number | boolean)[];
}

/** A growable FIFO of points. Live use appends at the tail and drops from the head as the
 *  window slides; analysis use fills it once from an API response. Not thread-safe (there are
 *  no threads). */
export class PointBuffer {
  end: Float64Array;
  elapsed: Float64Array;
  err: Uint8Array;
  ids: (string | undefined)[];
  /** Index of the first live point. */
  head = 0;
  /** One past the last live point. */
  tail = 0;
  /** Largest elapsed value appended since the last clear (for auto-scaling). */
  maxElapsed = 0;
  /** Bumped whenever indices of existing points change (compaction, clear), so caches keyed
   *  by index (e.g. log10 of elapsed) know to rebuild. */
  version = 0;

  constructor(initialCapacity = 1024) {
    this.end = new Float64Array(initialCapacity);
    this.elapsed = new Float64Array(initialCapacity);
    this.err = new Uint8Array(initialCapacity);
    this.ids = new Array<string | undefined>(initialCapacity);
  }

  get length(): number {
    return this.tail - this.head;
  }

  private reserve(extra: number): void {
    if (this.tail + extra <= this.end.length) return;
    const live = this.tail - this.head;
    // Compact first; grow only when the live part itself needs the room.
    let cap = this.end.length;
    while (live + extra > cap * 0.75) cap *= 2;
    const end = cap === this.end.length ? this.end : new Float64Array(cap);
    const elapsed = cap === this.elapsed.length ? this.elapsed : new Float64Array(cap);
    const err = cap === this.err.length ? this.err : new Uint8Array(cap);
    if (end === this.end) {
      end.copyWithin(0, this.head, this.tail);
      elapsed.copyWithin(0, this.head, this.tail);
      err.copyWithin(0, this.head, this.tail);
    } else {
      end.set(this.end.subarray(this.head, this.tail));
      elapsed.set(this.elapsed.subarray(this.head, this.tail));
      err.set(this.err.subarray(this.head, this.tail));
    }
    const ids = this.ids.slice(this.head, this.tail);
    ids.length = cap;
    this.end = end;
    this.elapsed = elapsed;
    this.err = err;
    this.ids = ids;
    this.head = 0;
    this.tail = live;
    this.version++;
  }

  /** Appends the columns of an API response; `skip` may reject ids already present. */
  appendColumns(cols: PointColumnsJson, skip?: (id: string) => boolean): number {
    const n = Math.min(cols.end_ms.length, cols.elapsed_ms.length);
    this.reserve(n);
    let added = 0;
    for (let i = 0; i < n; i++) {
      const id = cols.id?.[i];
      if (skip && id !== undefined && skip(id)) continue;
      const t = this.tail++;
      this.end[t] = cols.end_ms[i]!;
      const e = cols.elapsed_ms[i]!;
      this.elapsed[t] = e;
      if (e > this.maxElapsed) this.maxElapsed = e;
      this.err[t] = cols.error[i] ? 1 : 0;
      this.ids[t] = id;
      added++;
    }
    return added;
  }

  /** Appends one point. */
  push(endMs: number, elapsedMs: number, error: boolean, id?: string): void {
    this.reserve(1);
    const t = this.tail++;
    this.end[t] = endMs;
    this.elapsed[t] = elapsedMs;
    if (elapsedMs > this.maxElapsed) this.maxElapsed = elapsedMs;
    this.err[t] = error ? 1 : 0;
    this.ids[t] = id;
  }

  /** Drops points from the head while their end time is before `cutoffMs`. Points arrive in
   *  (nearly) end-time order, so a late straggler may survive a little longer; drawing clips. */
  dropBefore(cutoffMs: number): number {
    const h0 = this.head;
    while (this.head < this.tail && this.end[this.head]! < cutoffMs) {
      this.ids[this.head] = undefined;
      this.head++;
    }
    const dropped = this.head - h0;
    if (this.head === this.tail && this.head !== 0) {
      this.head = this.tail = 0;
      this.version++;
    }
    return dropped;
  }

  /** Largest elapsed among live points (O(n); call once per redraw at most). */
  scanMaxElapsed(): number {
    let m = 0;
    for (let i = this.head; i < this.tail; i++) if (this.elapsed[i]! > m) m = this.elapsed[i]!;
    return m;
  }

  /** Number of live points inside the rectangle (end in [x0, x1], elapsed in [y0, y1]). */
  countInRect(x0: number, x1: number, y0: number, y1: number): { count: number; errors: number } {
    let count = 0;
    let errors = 0;
    for (let i = this.head; i < this.tail; i++) {
      const x = this.end[i]!;
      const y = this.elapsed[i]!;
      if (x >= x0 && x <= x1 && y >= y0 && y <= y1) {
        count++;
        errors += this.err[i]!;
      }
    }
    return { count, errors };
  }

  clear(): void {
    this.version++;
    this.head = this.tail = 0;
    this.maxElapsed = 0;
    this.ids.fill(undefined);
  }
}

import { describe, expect, it } from 'vitest';
import { TimeRing } from './ring';

describe('TimeRing', () => {
  it('stores values by second and reads a window oldest first', () => {
    const r = new TimeRing(5);
    r.put(10_000, 1);
    r.put(11_500, 2);
    r.put(13_000, 4);
    const out = new Float64Array(4);
    const first = r.window(13_999, out);
    expect(first).toBe(10_000);
    expect(Array.from(out)).toEqual([1, 2, NaN, 4]);
  });

  it('overwrites slots once the window slides past them', () => {
    const r = new TimeRing(3);
    for (let s = 0; s < 10; s++) r.put(s * 1000, s);
    const out = new Float64Array(3);
    r.window(9000, out);
    expect(Array.from(out)).toEqual([7, 8, 9]);
    expect(r.get(2000)).toBeNaN();
    expect(r.latestBucket).toBe(9000);
  });

  it('ignores writes older than the window and keeps nulls as gaps', () => {
    const r = new TimeRing(3);
    r.put(10_000, 5);
    r.put(5_000, 99);
    expect(r.get(5_000)).toBeNaN();
    r.put(9_000, null);
    expect(r.get(9_000)).toBeNaN();
    expect(r.get(10_000)).toBe(5);
  });

  it('later writes to the same bucket replace earlier ones', () => {
    const r = new TimeRing(10);
    r.put(1000, 1);
    r.put(1999, 7);
    expect(r.get(1000)).toBe(7);
  });
});

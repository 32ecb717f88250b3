import { describe, expect, it } from 'vitest';
import { decimateMinMax, rasterize } from './decimate';
import { linearTicks, logTicks, makeScale, niceMax, timeTicks } from './scale';

describe('decimation', () => {
  it('keeps min and max per pixel column and skips gaps', () => {
    const ys = [1, 5, NaN, 2, 8, 3, NaN, NaN];
    const { min, max } = decimateMinMax(ys, ys.length, 4);
    expect(Array.from(min)).toEqual([1, 2, 3, NaN]);
    expect(Array.from(max)).toEqual([5, 2, 8, NaN]);
  });

  it('maps one value per column when there are fewer values than pixels', () => {
    const { max } = decimateMinMax([1, 2], 2, 4);
    expect(Array.from(max)).toEqual([1, NaN, 2, NaN]);
  });

  it('rasterizes points into per-pixel counts, top row = largest y', () => {
    const w = 10, h = 10;
    const counts = new Uint16Array(w * h);
    const errors = new Uint8Array(w * h);
    const xs = [0, 0, 9.99, 5, 20];
    const ys = [0, 0, 10, 5, 5];
    const err = [1, 0, 0, 0, 0];
    const inside = rasterize(xs, ys, err, 0, xs.length, 0, 10, 0, 10, w, h, counts, errors);
    expect(inside).toBe(4);
    expect(counts[9 * w + 0]).toBe(2);
    expect(errors[9 * w + 0]).toBe(1);
    expect(counts[0 * w + 9]).toBe(1);
    expect(counts[4 * w + 5]).toBe(1);
  });

  it('rasterizes a million points quickly', () => {
    const n = 1_000_000;
    const xs = new Float64Array(n);
    const ys = new Float64Array(n);
    const err = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      xs[i] = i;
      ys[i] = (i * 7919) % 1000;
      err[i] = i % 50 === 0 ? 1 : 0;
    }
    const w = 1600, h = 600;
    const counts = new Uint16Array(w * h);
    const errors = new Uint8Array(w * h);
    const t0 = performance.now();
    const inside = rasterize(xs, ys, err, 0, n, 0, n, 0, 1000, w, h, counts, errors);
    const ms = performance.now() - t0;
    expect(inside).toBe(n);
    expect(ms).toBeLessThan(3000); // generous (shared CI machines): a budget check, not a benchmark
  });
});

describe('scales and ticks', () => {
  it('makes nice linear ticks', () => {
    expect(linearTicks(0, 10, 5)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(linearTicks(0, 1, 4)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceMax(87)).toBe(100);
    expect(niceMax(0)).toBe(1);
  });

  it('makes decade ticks on log axes', () => {
    expect(logTicks(1, 10_000)).toEqual([1, 10, 100, 1000, 10_000]);
    expect(logTicks(1, 100)).toEqual([1, 2, 5, 10, 20, 50, 100]);
  });

  it('aligns time ticks to the step', () => {
    const { ticks, step } = timeTicks(0, 600_000, 6);
    expect(step).toBe(120_000);
    expect(ticks.length).toBeGreaterThanOrEqual(5);
    for (const t of ticks) expect((t - new Date(t).getTimezoneOffset() * -60_000) % 60_000).toBe(0);
  });

  it('maps log and linear scales both ways', () => {
    const lin = makeScale(0, 100, 0, 200);
    expect(lin.toPx(50)).toBe(100);
    expect(lin.fromPx(100)).toBe(50);
    const log = makeScale(1, 1000, 0, 300, true);
    expect(log.toPx(10)).toBeCloseTo(100);
    expect(log.fromPx(200)).toBeCloseTo(100);
  });
});

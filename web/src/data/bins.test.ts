import { describe, expect, it } from 'vitest';
import { binIndex, binStats, cellOf, cellRect, intensity } from './bins';
import type { XViewBins } from '../api/types';

const b: XViewBins = {
  from_ms: 0, to_ms: 600_000, x_bins: 600, y_bins: 4, y_min_ms: 1, y_max_ms: 10_000,
  count: new Array(2400).fill(0), errors: new Array(2400).fill(0),
};

describe('density bins', () => {
  it('indexes cells x-major', () => {
    expect(binIndex(b, 0, 0)).toBe(0);
    expect(binIndex(b, 1, 0)).toBe(4);
    expect(binIndex(b, 2, 3)).toBe(11);
  });

  it('maps cells to log-scaled elapsed ranges and back', () => {
    const r = cellRect(b, 10, 1);
    expect(r.x0).toBe(10_000);
    expect(r.x1).toBe(11_000);
    expect(r.y0).toBeCloseTo(10);
    expect(r.y1).toBeCloseTo(100);
    expect(cellOf(b, 10_500, 50)).toEqual({ x: 10, y: 1 });
    expect(cellOf(b, 599_999, 10_000)).toEqual({ x: 599, y: 3 });
    expect(cellOf(b, 600_000, 50)).toBeNull();
    expect(cellOf(b, 5, 0.5)).toBeNull();
  });

  it('summarizes counts and scales intensity logarithmically', () => {
    const c = { ...b, count: [0, 1, 10, 100], errors: [0, 1, 0, 2] };
    expect(binStats(c)).toEqual({ max: 100, total: 111, errors: 3 });
    expect(intensity(0, 100)).toBe(0);
    expect(intensity(100, 100)).toBe(1);
    expect(intensity(1, 100)).toBeGreaterThan(0.15);
    expect(intensity(10, 100)).toBeLessThan(intensity(50, 100));
  });
});

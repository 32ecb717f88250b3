import { describe, expect, it } from 'vitest';
import { clampRect, pickPoint, pointToParams, selectionToParams } from './selection';
import { queryString } from '../api/client';

const none = { service: '', instance: '', endpoint: '', errorsOnly: false, minMs: null };

describe('selection → query', () => {
  it('covers the rectangle with an exclusive end and widened elapsed bounds', () => {
    const p = selectionToParams({ x0: 2000.7, x1: 1000.2, y0: 150.0004, y1: 10.5 }, none);
    expect(p.from).toBe(1000);
    expect(p.to).toBe(2001);
    expect(p.min_ms).toBe(10.5);
    expect(p.max_ms).toBe(150.001);
    expect(p.sort).toBe('slowest');
  });

  it('carries the filters and keeps the stricter minimum', () => {
    const p = selectionToParams({ x0: 0, x1: 10, y0: 1, y1: 900 }, { ...none, service: 'shop', errorsOnly: true, minMs: 100 }, 'sql', 50);
    expect(queryString(p)).toBe('?service=shop&error=1&min_ms=100&from=0&to=11&max_ms=900&sort=sql&limit=50');
  });

  it('drops a zero minimum', () => {
    expect(selectionToParams({ x0: 0, x1: 1, y0: -5, y1: 1 }, none).min_ms).toBeUndefined();
  });

  it('clamps a drag that left the plot', () => {
    expect(clampRect({ x0: -5, x1: 50, y0: -1, y1: 1e9 }, 0, 10, 0, 100)).toEqual({ x0: 0, x1: 10, y0: 0, y1: 100 });
  });
});

describe('dot without an id → query', () => {
  it('asks for its millisecond and its elapsed time to the microsecond', () => {
    const p = pointToParams(1700000000123.456, 12.345, { ...none, service: 'shop' });
    expect(p.from).toBe(1700000000123);
    expect(p.to).toBe(1700000000124);
    expect(p.min_ms).toBeCloseTo(12.344, 9);
    expect(p.max_ms).toBeCloseTo(12.346, 9);
    expect(p.service).toBe('shop');
  });
  it('picks the exact row, else the nearest', () => {
    const rows = [
      { id: 'a', end_ms: 10.5, elapsed_ms: 3 },
      { id: 'b', end_ms: 10.25, elapsed_ms: 3 },
    ];
    expect(pickPoint(rows, 10.25, 3)?.id).toBe('b');
    expect(pickPoint(rows, 10.49, 3)?.id).toBe('a');
    expect(pickPoint([], 1, 1)).toBeNull();
  });
});

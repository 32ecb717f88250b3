import { describe, expect, it } from 'vitest';
import { PointBuffer } from './points';

describe('PointBuffer', () => {
  it('appends columns and drops from the head as the window slides', () => {
    const b = new PointBuffer(2);
    b.appendColumns({ id: ['a', 'b', 'c'], end_ms: [1, 2, 3], elapsed_ms: [10, 20, 30], error: [0, 1, false] });
    expect(b.length).toBe(3);
    expect(b.maxElapsed).toBe(30);
    expect(b.dropBefore(2)).toBe(1);
    expect(b.length).toBe(2);
    expect(b.ids[b.head]).toBe('b');
    expect(b.err[b.head]).toBe(1);
  });

  it('compacts instead of growing without bound under steady churn', () => {
    const b = new PointBuffer(16);
    for (let t = 0; t < 10_000; t++) {
      b.push(t, 1, false, 'x' + t);
      b.dropBefore(t - 5);
    }
    expect(b.length).toBe(6);
    expect(b.end.length).toBeLessThanOrEqual(16);
    expect(b.end[b.head]).toBe(9994);
    expect(b.ids[b.tail - 1]).toBe('x9999');
  });

  it('skips ids the caller already has', () => {
    const b = new PointBuffer();
    const added = b.appendColumns(
      { id: ['a', 'b'], end_ms: [1, 2], elapsed_ms: [1, 2], error: [0, 0] },
      (id) => id === 'a',
    );
    expect(added).toBe(1);
    expect(b.ids[b.head]).toBe('b');
  });

  it('counts points in a rectangle', () => {
    const b = new PointBuffer();
    b.appendColumns({ end_ms: [1, 2, 3, 4], elapsed_ms: [5, 50, 500, 5000], error: [1, 0, 1, 0] });
    expect(b.countInRect(1, 3, 0, 100)).toEqual({ count: 2, errors: 1 });
    expect(b.countInRect(0, 10, 0, 1e9)).toEqual({ count: 4, errors: 2 });
  });

  it('empties completely when everything is dropped', () => {
    const b = new PointBuffer();
    b.push(1, 1, false);
    b.dropBefore(10);
    expect(b.length).toBe(0);
    expect(b.head).toBe(0);
  });
});

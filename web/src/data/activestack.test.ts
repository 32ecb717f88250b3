import { describe, expect, it } from 'vitest';
import { barWidth, endpointRows, fmtShare, frameKind, frameRows, parseFrameSort, shareOf } from './activestack';

const res = {
  samples: 10,
  frames: [
    { frame: 'method orders::Load', samples: 6, share: 60, self_samples: 1, self_share: 10 },
    { frame: 'GET /orders/{id}', samples: 10, share: 100, self_samples: 0, self_share: 0 },
    { frame: 'sql SELECT * FROM orders', samples: 5, share: 50, self_samples: 5, self_share: 50 },
    { frame: 'b-native', samples: 5, share: 50, self_samples: 4, self_share: 40 },
  ],
};

describe('active stack frames', () => {
  it('sorts by inclusive samples, ties by self samples then name', () => {
    expect(frameRows(res, 'samples').map((r) => r.frame)).toEqual(['GET /orders/{id}', 'method orders::Load', 'sql SELECT * FROM orders', 'b-native']);
  });
  it('sorts by self samples and by name', () => {
    expect(frameRows(res, 'self_samples').map((r) => r.frame)).toEqual(['sql SELECT * FROM orders', 'b-native', 'method orders::Load', 'GET /orders/{id}']);
    expect(frameRows(res, 'frame').map((r) => r.frame)).toEqual(['GET /orders/{id}', 'b-native', 'method orders::Load', 'sql SELECT * FROM orders']);
  });
  it('turns the server percentages into fractions', () => {
    const rows = frameRows(res, 'samples');
    expect(rows.map((r) => [r.share, r.selfShare])).toEqual([[1, 0], [0.6, 0.1], [0.5, 0.5], [0.5, 0.4]]);
  });
  it('does not reorder the response it was given', () => {
    frameRows(res, 'frame');
    expect(res.frames[0]!.frame).toBe('method orders::Load');
  });
  it('computes shares from the counts, else from the server percentage, clamped', () => {
    expect(shareOf(undefined, 3, 12)).toBe(0.25);
    expect(shareOf(25, 3, 12)).toBe(0.25);
    expect(shareOf(40, 0, 0)).toBe(0.4);
    expect(shareOf(null, 3, 0)).toBe(0);
    expect(shareOf(150, NaN, 0)).toBe(1);
    expect(shareOf(undefined, 3, 2)).toBe(1);
    expect(shareOf(-1, NaN, 0)).toBe(0);
    const rows = frameRows({ samples: 4, frames: [{ frame: 'x', samples: 1, self_samples: 1 } as never] }, 'samples');
    expect(rows[0]).toEqual({ frame: 'x', samples: 1, share: 0.25, selfSamples: 1, selfShare: 0.25 });
  });
  it('formats shares', () => {
    expect(fmtShare(1)).toBe('100 %');
    expect(fmtShare(0.425)).toBe('42.5 %');
    expect(fmtShare(0.0314)).toBe('3.14 %');
    expect(fmtShare(0.00001)).toBe('< 0.01 %');
    expect(fmtShare(0)).toBe('0 %');
    expect(fmtShare(NaN)).toBe('0 %');
    expect(barWidth(0)).toBe('0%');
    expect(barWidth(0.000001)).toBe('0.50%');
    expect(barWidth(0.5)).toBe('50.00%');
  });
  it('reads the sort from the URL, defaulting to samples', () => {
    expect(parseFrameSort('frame')).toBe('frame');
    expect(parseFrameSort('bogus')).toBe('samples');
    expect(parseFrameSort(undefined)).toBe('samples');
  });
  it('classifies frames by their step prefix', () => {
    expect(frameKind('sql SELECT 1')).toBe('sql');
    expect(frameKind('SQL SELECT 1')).toBe('sql');
    expect(frameKind('method a::b')).toBe('method');
    expect(frameKind('external GET http://x')).toBe('external');
    expect(frameKind('GET /orders/{id}')).toBe('native');
    expect(frameKind('sqlite3_step')).toBe('native');
  });
  it('orders endpoints by samples with bars relative to the largest', () => {
    expect(endpointRows({ endpoints: [{ endpoint: 'a', samples: 2 }, { endpoint: 'b', samples: 8 }] })).toEqual([
      { endpoint: 'b', samples: 8, rel: 1 },
      { endpoint: 'a', samples: 2, rel: 0.25 },
    ]);
    expect(endpointRows({ endpoints: [] })).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import { bandCounts, bandOf, parseThresholds } from './bands';

describe('equalizer bands', () => {
  const t: [number, number] = [3000, 8000];
  it('puts elapsed times in bands with inclusive lower edges', () => {
    expect(bandOf(2999, t)).toBe(0);
    expect(bandOf(3000, t)).toBe(1);
    expect(bandOf(7999.9, t)).toBe(1);
    expect(bandOf(8000, t)).toBe(2);
  });
  it('counts from the transaction list, or folds server bands', () => {
    expect(bandCounts({ service: 's', instance: 'i', active: [{ elapsed_ms: 10 }, { elapsed_ms: 5000 }, { elapsed_ms: 9000 }, { elapsed_ms: 1 }] }, t)).toEqual([2, 1, 1]);
    expect(bandCounts({ service: 's', instance: 'i', bands: [4, 3, 2, 1] }, t)).toEqual([4, 3, 3]);
    expect(bandCounts({ service: 's', instance: 'i' }, t)).toEqual([0, 0, 0]);
  });
  it('parses thresholds in seconds', () => {
    expect(parseThresholds('3, 8')).toEqual([3000, 8000]);
    expect(parseThresholds('8 3')).toBeNull();
    expect(parseThresholds('x')).toBeNull();
  });
});

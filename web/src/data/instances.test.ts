import { describe, expect, it } from 'vitest';
import { capText, isReported } from './instances';

describe('instance cap', () => {
  it('reads "N of cap instances", with the overflow only when some were folded', () => {
    expect(capText({ max_instances: 20000, instances: 9876, overflowed: 0 })).toEqual({ text: '9,876 of 20,000 instances', overflow: '' });
    expect(capText({ max_instances: 10000, instances: 10000, overflowed: 1 })).toEqual({
      text: '10,000 of 10,000 instances',
      overflow: '1 instance over the cap, filed under (overflow)',
    });
    expect(capText({ max_instances: 10000, instances: 10000, overflowed: 12 })?.overflow).toBe('12 instances over the cap, filed under (overflow)');
  });
  it('shows nothing for a server that sends no cap', () => {
    expect(capText(undefined)).toBeNull();
  });
});

describe('reported instances', () => {
  it('tells an instance without active snapshots from one with 0 active', () => {
    expect(isReported({ service: 's', instance: 'i', reported: true, active_total: 0 })).toBe(true);
    expect(isReported({ service: 's', instance: 'i', reported: false })).toBe(false);
    expect(isReported(undefined)).toBe(false);
    // Servers before `reported` only listed instances that sent snapshots.
    expect(isReported({ service: 's', instance: 'i', active_total: 0 })).toBe(true);
  });
});

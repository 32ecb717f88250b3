import { describe, expect, it } from 'vitest';
import { activeLink, activeStep, pickActiveMatch, bandCounts, bandOf, effectiveThresholds, fmtThresholds, parseThresholds, serverThresholds } from './bands';

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
  it('prefers the server split unless the user set thresholds or the instance is stale', () => {
    const i = { service: 's', instance: 'i', bands: [5, 1, 0], active: [{ elapsed_ms: 10 }, { elapsed_ms: 9000 }] };
    expect(bandCounts(i, t, true)).toEqual([5, 1, 0]);
    expect(bandCounts(i, t, false)).toEqual([1, 0, 1]);
    expect(bandCounts({ ...i, stale: true, bands: [0, 0, 0] }, t, true)).toEqual([1, 0, 1]);
    expect(bandCounts({ service: 's', instance: 'i', bands: [2, 3] }, t, true)).toEqual([2, 3, 0]);
  });
  it('parses thresholds in seconds', () => {
    expect(parseThresholds('3, 8')).toEqual([3000, 8000]);
    expect(parseThresholds('8 3')).toBeNull();
    expect(parseThresholds('x')).toBeNull();
  });
});

describe('band thresholds from the server', () => {
  it('uses the server bands unless the user set their own', () => {
    expect(effectiveThresholds(null, [2000, 5000])).toEqual({ t: [2000, 5000], source: 'server' });
    expect(effectiveThresholds('1, 4', [2000, 5000])).toEqual({ t: [1000, 4000], source: 'user' });
    expect(effectiveThresholds('garbage', [2000, 5000]).source).toBe('server');
    expect(effectiveThresholds(null, undefined)).toEqual({ t: [3000, 8000], source: 'default' });
  });
  it('takes the first two of a longer list and rejects malformed ones', () => {
    expect(serverThresholds([1000, 3000, 8000])).toEqual([1000, 3000]);
    expect(serverThresholds([3000])).toBeNull();
    expect(serverThresholds([8000, 3000])).toBeNull();
    expect(serverThresholds([0, 3000])).toBeNull();
    expect(serverThresholds([NaN, 3000])).toBeNull();
  });
  it('formats thresholds as seconds and reads the step under either name', () => {
    expect(fmtThresholds([2500, 8000])).toBe('2.5, 8');
    expect(activeStep({ elapsed_ms: 1, step: 'SQL x' })).toBe('SQL x');
    expect(activeStep({ elapsed_ms: 1, current_step: 'old' })).toBe('old');
    expect(activeStep({ elapsed_ms: 1 })).toBe('');
  });
});

describe('active transaction → stored transaction', () => {
  it('links by the server tx id, else through the trace', () => {
    expect(activeLink({ elapsed_ms: 1, id: 'aa', tx_id: 'bb', trace_id: 't' }, 'i-1')).toEqual({ id: 'bb', params: { active: '1' } });
    expect(activeLink({ elapsed_ms: 1, id: 'aa', trace_id: 't', start_ms: 1000.4 }, 'i-1')).toEqual({ id: 'aa', params: { active: '1', trace: 't', inst: 'i-1', start: '1000' } });
    expect(activeLink({ elapsed_ms: 1, id: 'aa' }, 'i-1')).toEqual({ id: 'aa', params: { active: '1' } });
    expect(activeLink({ elapsed_ms: 1 }, 'i-1')).toBeNull();
  });
  it('picks this instance\'s transaction nearest the start time', () => {
    const txs = [
      { id: 'a', instance: 'other', start_ms: 1000 },
      { id: 'b', instance: 'i-1', start_ms: 5000 },
      { id: 'c', instance: 'i-1', start_ms: 1002 },
      { id: 'd', instance: 'i-1', start_ms: 998.5 },
    ];
    expect(pickActiveMatch(txs, 'i-1', 1000)?.id).toBe('d');
    expect(pickActiveMatch(txs, 'i-1', 3000)).toBeNull();
    expect(pickActiveMatch(txs, 'other', null)?.id).toBe('a');
    expect(pickActiveMatch(txs, '', 4999)?.id).toBe('b');
    expect(pickActiveMatch([], 'i-1', 1)).toBeNull();
  });
});

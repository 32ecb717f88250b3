import { describe, expect, it } from 'vitest';
import { queryString } from '../api/client';
import { eventFilterFromParams, eventFilterToParams, eventsQuery, levelClass, levelCounts, newestFirst, typeLabel } from './events';

describe('events filters', () => {
  it('turns URL params into the API query', () => {
    const q = eventsQuery({ range: '15m', level: 'warning', type: 'throttle', service: 'orders' }, 10_000_000);
    expect(q).toEqual({ from: 10_000_000 - 900_000, to: 10_000_000, level: 'WARNING', type: 'throttle', service: 'orders', limit: 1000 });
    expect(queryString(q)).toBe('?from=9100000&to=10000000&level=WARNING&type=throttle&service=orders&limit=1000');
  });
  it('leaves out empty filters and defaults to the last hour', () => {
    expect(queryString(eventsQuery({}, 4_000_000))).toBe('?from=400000&to=4000000&limit=1000');
  });
  it('keeps absolute ranges', () => {
    const q = eventsQuery({ from: '100.4', to: '200.6' }, 4_000_000);
    expect([q.from, q.to]).toEqual([100, 201]);
  });
  it('drops unknown levels and round-trips through the URL', () => {
    expect(eventFilterFromParams({ level: 'PANIC' }).level).toBe('');
    const f = { level: 'FATAL', type: 'agent_stop', service: 's' };
    expect(eventFilterFromParams(eventFilterToParams(f))).toEqual(f);
  });
});

describe('events list', () => {
  it('orders newest first, stable for equal times', () => {
    const e = [{ time_ms: 1, k: 'a' }, { time_ms: 3, k: 'b' }, { time_ms: 1, k: 'c' }, { time_ms: 2, k: 'd' }];
    expect(newestFirst(e).map((x) => x.k)).toEqual(['b', 'd', 'a', 'c']);
  });
  it('labels levels and types', () => {
    expect(levelClass('FATAL')).toBe('fatal');
    expect(levelClass('warning')).toBe('warning');
    expect(levelClass('<b>')).toBe('normal');
    expect(levelClass(undefined)).toBe('normal');
    expect(typeLabel('throttle')).toBe('Throttled');
    expect(typeLabel('custom')).toBe('custom');
    expect(levelCounts([{ level: 'FATAL' }, { level: 'NORMAL' }, { level: 'WARNING' }, { level: 'FATAL' }])).toEqual({ normal: 1, warning: 1, fatal: 2 });
  });
});

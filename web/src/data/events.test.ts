import { describe, expect, it } from 'vitest';
import { queryString } from '../api/client';
import { eventFilterFromParams, eventsOfGroup, groupByFromParams, groupCountText, groupEventsQuery, groupTitle, eventFilterToParams, eventsQuery, levelClass, levelCounts, newestFirst, typeLabel } from './events';

describe('events filters', () => {
  it('turns URL params into the API query', () => {
    const q = eventsQuery({ range: '15m', level: 'warning', type: 'THROTTLED', service: 'orders' }, 10_000_000);
    expect(q).toEqual({ from: 10_000_000 - 900_000, to: 10_000_000, level: 'WARNING', type: 'THROTTLED', service: 'orders', limit: 1000 });
    expect(queryString(q)).toBe('?from=9100000&to=10000000&level=WARNING&type=THROTTLED&service=orders&limit=1000');
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
    const f = { level: 'FATAL', type: 'AGENT_STOP', service: 's' };
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
    expect(typeLabel('THROTTLED')).toBe('Throttled');
    expect(typeLabel('custom')).toBe('custom');
    expect(levelCounts([{ level: 'FATAL' }, { level: 'NORMAL' }, { level: 'WARNING' }, { level: 'FATAL' }])).toEqual({ normal: 1, warning: 1, fatal: 2 });
  });
});

describe('grouped events', () => {
  const g = { key: 'AcquirerTimeout', count: 212, first_ms: 0, last_ms: new Date(2026, 0, 1, 17, 35).getTime(), example_tx_id: 'ab', level: 'WARNING', type: 'SERVICE_EXCEPTION', service: 'payment', endpoint: 'POST /payments', message: 'AcquirerTimeout' };
  it('titles a group by what it has in common, then count and last time', () => {
    expect(groupTitle(g) + ' · ' + groupCountText(g)).toBe('AcquirerTimeout · payment · POST /payments · 212 times, last 17:35');
    expect(groupTitle({ ...g, message: '', service: '', endpoint: '' })).toBe('Service exception');
    expect(groupCountText({ count: 1, last_ms: g.last_ms })).toBe('once, last 17:35');
  });
  it('groups by message unless the URL says otherwise', () => {
    expect(groupByFromParams({})).toBe('message');
    expect(groupByFromParams({ group: 'service' })).toBe('service');
    expect(groupByFromParams({ group: 'none' })).toBe('');
  });
  it('narrows a group by its key: in the query for type and service, after fetching otherwise', () => {
    expect(groupEventsQuery({ range: '1h', type: 'SERVICE_EXCEPTION' }, 4_000_000, 'service', 'payment')).toMatchObject({ type: 'SERVICE_EXCEPTION', service: 'payment' });
    expect(groupEventsQuery({ range: '1h' }, 4_000_000, 'message', 'x')).not.toHaveProperty('service', 'payment');
    const ev = [{ type: 'SERVICE_EXCEPTION', service: 'a', endpoint: 'GET /', message: 'x' }, { type: 'SERVICE_EXCEPTION', service: 'a', endpoint: 'GET /b', message: 'x' }];
    expect(eventsOfGroup(ev, 'endpoint', 'GET /b')).toEqual([ev[1]]);
    expect(eventsOfGroup(ev, 'message', 'x')).toEqual(ev);
  });
});

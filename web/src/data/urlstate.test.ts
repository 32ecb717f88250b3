import { describe, expect, it } from 'vitest';
import { filtersFromParams, filtersToParams, formatHash, parseHash, rangeParams, resolveRange } from './urlstate';

describe('URL state', () => {
  it('round-trips a route with filters', () => {
    const h = formatHash({
      page: 'xview',
      params: { project: 'shop & co', range: '1h', endpoint: 'GET /api/posts/{id}', error: '1', min_ms: '500', service: '' },
    });
    expect(h).not.toContain('service=');
    const r = parseHash(h);
    expect(r.page).toBe('xview');
    expect(r.params).toEqual({ project: 'shop & co', range: '1h', endpoint: 'GET /api/posts/{id}', error: '1', min_ms: '500' });
    expect(formatHash(r)).toBe(h);
  });

  it('round-trips a transaction id', () => {
    const r = parseHash(formatHash({ page: 'tx', id: '9f2c0a1b2c3d4e5f', params: { project: 'default' } }));
    expect(r).toEqual({ page: 'tx', id: '9f2c0a1b2c3d4e5f', params: { project: 'default' } });
  });

  it('round-trips a host id and knows the metrics pages', () => {
    const r = parseHash(formatHash({ page: 'host', id: 'web 1/a', params: { range: '6h' } }));
    expect(r).toEqual({ page: 'host', id: 'web 1/a', params: { range: '6h' } });
    expect(formatHash({ page: 'host', id: 'web 1/a', params: {} })).toBe('#/host/web%201%2Fa');
    expect(parseHash('#/servers?sort=cpu_pct').page).toBe('servers');
    expect(parseHash('#/metrics').page).toBe('metrics');
  });

  it('knows the alerting pages', () => {
    for (const page of ['alerts', 'alert-rules', 'alert-channels'] as const) {
      const h = formatHash({ page, params: { project: 'default', edit: 'new' } });
      expect(h).toBe('#/' + page + '?edit=new&project=default');
      expect(parseHash(h).page).toBe(page);
    }
  });
  it('knows the agent pages', () => {
    for (const page of ['active-stack', 'events', 'agent-settings'] as const) {
      const h = formatHash({ page, params: { project: 'default', service: 'orders' } });
      expect(h).toBe('#/' + page + '?project=default&service=orders');
      expect(parseHash(h).page).toBe(page);
    }
  });

  it('falls back to the dashboard for unknown or empty hashes', () => {
    expect(parseHash('').page).toBe('dashboard');
    expect(parseHash('#/nope?x=1').page).toBe('dashboard');
  });

  it('resolves presets relative to now and absolute ranges as given', () => {
    expect(resolveRange({ range: '5m' }, 1_000_000)).toEqual({ from: 700_000, to: 1_000_000, preset: '5m' });
    expect(resolveRange({ from: '10', to: '20' }, 1_000_000)).toEqual({ from: 10, to: 20, preset: '' });
    expect(resolveRange({ from: '20', to: '10' }, 4_000_000).preset).toBe('1h');
    expect(resolveRange({ range: 'bogus' }, 4_000_000, '6h').preset).toBe('6h');
    expect(rangeParams({ from: 10.5, to: 20.5, preset: '' })).toEqual({ range: '', from: '10', to: '21' });
  });

  it('round-trips filters through params', () => {
    const f = { service: 'shop', instance: 'i-1', endpoint: 'GET /', errorsOnly: true, minMs: 250 };
    expect(filtersFromParams(filtersToParams(f))).toEqual(f);
    expect(filtersFromParams({}).minMs).toBeNull();
  });
});

import { describe, expect, it } from 'vitest';
import {
  browserQuery,
  browserStateFromParams,
  browserStateToParams,
  filterHosts,
  lineName,
  sortHosts,
  toCsv,
  toFloat64,
  toLines,
} from './metrics';
import type { Host, MetricQueryResponse } from './metrics';

function host(name: string, cpu: number | null, up = true, instances: string[] = []): Host {
  return {
    id: 'id-' + name,
    name,
    up,
    last_seen_ms: 0,
    cpu_pct: cpu,
    mem_pct: null,
    disk_pct: null,
    net_rx_bps: null,
    net_tx_bps: null,
    load_1m: null,
    instances: instances.map((i) => ({ service: 'svc', instance: i, kind: 'cpp', up: true })),
  };
}

const resp: MetricQueryResponse = {
  from_ms: 1_700_000_000_000,
  step_ms: 60_000,
  series: [
    { labels: { 'host.name': 'web-1', 'cpu.mode': 'idle' }, values: [0.97, null, 0.5] },
    { labels: {}, values: [1, 2, 3] },
  ],
};

describe('metric columns', () => {
  it('turns null into NaN gaps and keeps values', () => {
    const ys = toFloat64([0.97, null, 0.5]);
    expect(Array.from(ys.slice(0, 1))).toEqual([0.97]);
    expect(Number.isNaN(ys[1])).toBe(true);
    expect(ys[2]).toBe(0.5);
  });

  it('names a line by its labels in name order', () => {
    expect(lineName({ 'host.name': 'web-1', 'cpu.mode': 'idle' })).toBe('{cpu.mode="idle", host.name="web-1"}');
    expect(lineName({})).toBe('{}');
    expect(toLines(resp).map((l) => l.name)).toEqual(['{cpu.mode="idle", host.name="web-1"}', '{}']);
  });

  it('exports one CSV row per step with empty cells for gaps', () => {
    expect(toCsv(resp)).toBe(
      'time_ms,time,"{cpu.mode=""idle"", host.name=""web-1""}",{}\n' +
        '1700000000000,2023-11-14T22:13:20.000Z,0.97,1\n' +
        '1700000060000,2023-11-14T22:14:20.000Z,,2\n' +
        '1700000120000,2023-11-14T22:15:20.000Z,0.5,3\n',
    );
  });
});

describe('hosts table', () => {
  const hosts = [host('web-2', 10), host('db-1', null, false, ['orders-1']), host('web-1', 80)];

  it('sorts by a figure with hosts lacking it last in both directions', () => {
    expect(sortHosts(hosts, 'cpu_pct', true).map((h) => h.name)).toEqual(['web-1', 'web-2', 'db-1']);
    expect(sortHosts(hosts, 'cpu_pct', false).map((h) => h.name)).toEqual(['web-2', 'web-1', 'db-1']);
  });

  it('sorts by name, state and instance count', () => {
    expect(sortHosts(hosts, 'name', false).map((h) => h.name)).toEqual(['db-1', 'web-1', 'web-2']);
    expect(sortHosts(hosts, 'up', false).map((h) => h.name)).toEqual(['db-1', 'web-1', 'web-2']);
    expect(sortHosts(hosts, 'instances', true).map((h) => h.name)).toEqual(['db-1', 'web-1', 'web-2']);
  });

  it('filters by name, id, instance or service, ignoring case', () => {
    expect(filterHosts(hosts, 'WEB').map((h) => h.name)).toEqual(['web-2', 'web-1']);
    expect(filterHosts(hosts, 'orders').map((h) => h.name)).toEqual(['db-1']);
    expect(filterHosts(hosts, 'id-web-1').map((h) => h.name)).toEqual(['web-1']);
    expect(filterHosts(hosts, '  ')).toHaveLength(3);
  });
});

describe('performance browser state', () => {
  it('round-trips through URL params, leaving defaults out', () => {
    const s = browserStateFromParams({ metric: 'system.cpu.utilization', group_by: 'host.name', agg: 'max', step: '60', filter: 'cpu.mode=idle\nhost.name=~web.*' });
    expect(s).toEqual({ name: 'system.cpu.utilization', groupBy: 'host.name', agg: 'max', groupAgg: 'sum', step: 60, filters: ['cpu.mode=idle', 'host.name=~web.*'] });
    expect(browserStateToParams(s)).toEqual({ metric: 'system.cpu.utilization', group_by: 'host.name', agg: 'max', group_agg: '', step: '60', filter: 'cpu.mode=idle\nhost.name=~web.*' });
  });

  it('falls back to defaults for unknown or bad values', () => {
    expect(browserStateFromParams({ agg: 'median', group_agg: 'p50', step: '-5' })).toEqual({ name: '', groupBy: '', agg: 'avg', groupAgg: 'sum', step: null, filters: [] });
  });

  it('builds the query: selectors as match[], group_agg only when grouped', () => {
    const q = browserQuery({ name: 'system.cpu.utilization', groupBy: 'host.name', agg: 'last', groupAgg: 'p95', step: 30, filters: ['cpu.mode!=idle'] });
    expect(q.toString()).toBe('name=system.cpu.utilization&group_by=host.name&agg=last&group_agg=p95&step=30&match%5B%5D=cpu.mode%21%3Didle');
    expect(browserQuery({ name: 'x', groupBy: '', agg: 'avg', groupAgg: 'sum', step: null, filters: [] }).toString()).toBe('name=x&agg=avg');
  });

  it('sends apm.* filters as plain parameters and no aggregations', () => {
    const q = browserQuery({ name: 'apm.tps', groupBy: 'service', agg: 'max', groupAgg: 'sum', step: null, filters: ['service=shop'] });
    expect(q.toString()).toBe('name=apm.tps&group_by=service&service=shop');
  });
});

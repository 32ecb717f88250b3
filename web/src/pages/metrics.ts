// Performance browser: any metric of GET /api/v1/metrics/names (host metrics and the apm.*
// statistics) over a range, grouped and aggregated by the server (GET /api/v1/metrics/query).
// The whole state is in the URL; the result can be saved as CSV. Each line gets its own
// chart (the line chart draws one series), at most MAX_CHARTS of them.

import { ApiError } from '../api/client';
import type { App, PageHandle } from '../app';
import { LineChart } from '../charts/line';
import { fmtCompact } from '../data/format';
import { AGGS, GROUP_AGGS, browserQuery, browserStateFromParams, browserStateToParams, toCsv, toLines } from '../data/metrics';
import type { BrowserState, MetricQueryResponse } from '../data/metrics';
import type { Route } from '../data/urlstate';
import { rangeParams, resolveRange } from '../data/urlstate';
import { h, note, replace } from '../ui/dom';

const MAX_CHARTS = 12;
const PALETTE = ['#4cc9f0', '#b388ff', '#ffd166', '#06d6a0', '#ef476f', '#f78c6b'];

function select(testid: string, label: string, values: readonly string[], value: string): HTMLSelectElement {
  const s = h('select', { class: 'sel', testid, attrs: { 'aria-label': label } }, ...values.map((v) => h('option', { text: v, attrs: { value: v } })));
  s.value = value;
  return s;
}

export function metricsPage(app: App, route: Route): PageHandle {
  let r = route;
  let ac = new AbortController();
  let last: MetricQueryResponse | null = null;
  let charts: LineChart[] = [];
  const st = (): BrowserState => browserStateFromParams(r.params);
  const set = (patch: Partial<BrowserState>) => app.setParams(browserStateToParams({ ...st(), ...patch }));

  const s0 = st();
  const names = h('select', { class: 'sel', testid: 'metric-select', attrs: { 'aria-label': 'Metric' } });
  names.addEventListener('change', () => set({ name: names.value }));
  const groupBy = h('input', { class: 'inp', testid: 'group-by', attrs: { type: 'text', placeholder: 'group by: host.name,…', 'aria-label': 'Group by', value: s0.groupBy } });
  groupBy.addEventListener('change', () => set({ groupBy: groupBy.value.replace(/\s+/g, '') }));
  const agg = select('agg-select', 'Aggregation over time', AGGS, s0.agg);
  agg.addEventListener('change', () => set({ agg: agg.value }));
  const groupAgg = select('group-agg-select', 'Aggregation over series', GROUP_AGGS, s0.groupAgg);
  groupAgg.addEventListener('change', () => set({ groupAgg: groupAgg.value }));
  const step = h('input', { class: 'inp', testid: 'step', attrs: { type: 'number', min: '1', placeholder: 'step s', 'aria-label': 'Step in seconds', value: s0.step === null ? '' : String(s0.step) } });
  step.addEventListener('change', () => set({ step: step.value ? Math.max(1, Math.floor(Number(step.value))) : null }));
  const filters = h('textarea', { class: 'inp', testid: 'filters', attrs: { rows: '2', placeholder: 'one filter a line: label=value, label!=value, label=~regex', 'aria-label': 'Filters' } });
  filters.value = s0.filters.join('\n');
  filters.addEventListener('change', () => set({ filters: filters.value.split('\n').map((x) => x.trim()).filter(Boolean) }));
  const presetBtns = ['15m', '1h', '6h', '24h'].map((p) =>
    h('button', { class: 'btn seg', text: p, attrs: { type: 'button' }, on: { click: () => app.setParams(rangeParams({ from: 0, to: 0, preset: p })) } }),
  );
  const csvBtn = h('button', { class: 'btn', text: 'CSV', testid: 'csv-export', attrs: { type: 'button', disabled: '' } });
  csvBtn.addEventListener('click', () => {
    if (!last) return;
    const a = h('a', { attrs: { href: URL.createObjectURL(new Blob([toCsv(last)], { type: 'text/csv' })), download: (st().name || 'metric') + '.csv' } });
    a.click();
    URL.revokeObjectURL(a.href);
  });
  const info = h('span', { class: 'muted', testid: 'metric-info' });
  const msg = h('div');
  const grid = h('div', { class: 'host-charts' });
  const el = h(
    'div',
    { class: 'metrics-page' },
    h('section', { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h2', { text: 'Performance browser' }), names, groupBy, agg, groupAgg, step, h('div', { class: 'seg-group' }, ...presetBtns), csvBtn),
      h('div', { class: 'panel-body' }, filters, info, msg)),
    grid,
  );

  app.api.get<{ names: string[] }>('/metrics/names').then((res) => {
    const cur = st().name;
    const list = res.names ?? [];
    replace(names, h('option', { text: '— metric —', attrs: { value: '' } }), ...list.map((n) => h('option', { text: n, attrs: { value: n } })));
    if (cur && !list.includes(cur)) names.appendChild(h('option', { text: cur, attrs: { value: cur } }));
    names.value = cur;
  }).catch((e) => replace(msg, note(e instanceof ApiError ? e.message : String(e), 'error')));

  async function load(): Promise<void> {
    ac.abort();
    ac = new AbortController();
    const s = st();
    const range = resolveRange(r.params, Date.now(), '1h');
    presetBtns.forEach((b) => b.classList.toggle('active', b.textContent === range.preset));
    groupAgg.disabled = !s.groupBy || s.name.startsWith('apm.');
    agg.disabled = s.name.startsWith('apm.');
    if (!s.name) {
      replace(msg, note('Pick a metric.', 'empty'));
      return;
    }
    const q = browserQuery(s);
    const params: Record<string, string | string[]> = { from: String(Math.floor(range.from)), to: String(Math.ceil(range.to)) };
    for (const [k, v] of q) {
      const prev = params[k];
      if (prev === undefined) params[k] = v;
      else params[k] = Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    try {
      const res = await app.api.get<MetricQueryResponse>('/metrics/query', params, ac.signal);
      last = res;
      csvBtn.removeAttribute('disabled');
      charts.forEach((c) => c.dispose());
      charts = [];
      const lines = toLines(res);
      replace(grid, ...lines.slice(0, MAX_CHARTS).map((line, i) => {
        const body = h('div', { class: 'panel-body chart-body' });
        const panel = h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', { class: 'mono ellipsis', text: line.name, title: line.name })), body);
        const chart = new LineChart(body, { color: PALETTE[i % PALETTE.length]!, format: (v) => fmtCompact(v) }, 'metric-chart');
        chart.setData(res.from_ms, res.step_ms, line.ys);
        charts.push(chart);
        return panel;
      }));
      info.textContent = `${lines.length} line${lines.length === 1 ? '' : 's'}, step ${res.step_ms / 1000} s` +
        (lines.length > MAX_CHARTS ? ` (first ${MAX_CHARTS} drawn; CSV has all)` : '') + (res.truncated ? ' · truncated by the server' : '');
      replace(msg, lines.length ? null : note('No data for this metric and range.', 'empty'));
    } catch (e) {
      if ((e as Error).name === 'AbortError') return;
      replace(msg, note(e instanceof ApiError ? e.message : String(e), 'error'));
    }
  }
  void load();
  return {
    el,
    update(nr) {
      r = nr;
      const s = st();
      names.value = s.name;
      agg.value = s.agg;
      groupAgg.value = s.groupAgg;
      if (document.activeElement !== groupBy) groupBy.value = s.groupBy;
      if (document.activeElement !== step) step.value = s.step === null ? '' : String(s.step);
      if (document.activeElement !== filters) filters.value = s.filters.join('\n');
      void load();
      return true;
    },
    dispose() {
      ac.abort();
      charts.forEach((c) => c.dispose());
    },
  };
}

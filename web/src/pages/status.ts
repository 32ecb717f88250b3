// Application status: per-endpoint statistics, sortable; a click opens the endpoint's X-View
// and its slowest transactions.

import { ApiError } from '../api/client';
import type { EndpointStats } from '../api/types';
import type { App, PageHandle } from '../app';
import { fmtInt, fmtMs, fmtPct } from '../data/format';
import type { Route } from '../data/urlstate';
import { rangeParams, resolveRange } from '../data/urlstate';
import { h, note, replace } from '../ui/dom';
import { TxList } from './txlist';
import { XViewChart } from '../charts/xview';
import { PointBuffer } from '../data/points';

type Key = 'count' | 'avg_ms' | 'p95_ms' | 'max_ms' | 'errors' | 'avg_sql_count' | 'p50_ms' | 'p99_ms' | 'error_rate' | 'avg_sql_ms' | 'avg_external_ms';

interface Col {
  key: Key | null;
  label: string;
  cls: string;
  cell: (e: EndpointStats) => string | Node;
}

const COLS: Col[] = [
  { key: null, label: 'Service', cls: 'ellipsis', cell: (e) => e.service },
  { key: null, label: 'Endpoint', cls: 'mono ellipsis wide', cell: (e) => e.endpoint },
  { key: 'count', label: 'Calls', cls: 'num', cell: (e) => fmtInt(e.count) },
  { key: 'errors', label: 'Errors', cls: 'num', cell: (e) => (e.errors ? h('span', { class: 'err-text', text: fmtInt(e.errors) }) : '0') },
  { key: 'error_rate', label: 'Error %', cls: 'num', cell: (e) => fmtPct(e.error_rate) },
  { key: 'avg_ms', label: 'Avg', cls: 'num', cell: (e) => fmtMs(e.avg_ms) },
  { key: 'p50_ms', label: 'p50', cls: 'num', cell: (e) => fmtMs(e.p50_ms) },
  { key: 'p95_ms', label: 'p95', cls: 'num', cell: (e) => fmtMs(e.p95_ms) },
  { key: 'p99_ms', label: 'p99', cls: 'num', cell: (e) => fmtMs(e.p99_ms) },
  { key: 'max_ms', label: 'Max', cls: 'num', cell: (e) => fmtMs(e.max_ms) },
  { key: 'avg_sql_count', label: 'SQL / call', cls: 'num', cell: (e) => (e.avg_sql_count ? e.avg_sql_count.toFixed(1) : '–') },
  { key: 'avg_sql_ms', label: 'SQL ms', cls: 'num', cell: (e) => (e.avg_sql_ms ? fmtMs(e.avg_sql_ms) : '–') },
  { key: 'avg_external_ms', label: 'External ms', cls: 'num', cell: (e) => (e.avg_external_ms ? fmtMs(e.avg_external_ms) : '–') },
];

export function statusPage(app: App, route: Route): PageHandle {
  let ac = new AbortController();
  let r = route;
  let rows: EndpointStats[] = [];
  let loadedKey = '';
  const presetBtns = ['5m', '1h', '6h', '24h'].map((p) =>
    h('button', { class: 'btn seg', text: p, attrs: { type: 'button' }, on: { click: () => app.setParams({ range: p, from: '', to: '', endpoint: '' }, true) } }),
  );
  const info = h('span', { class: 'muted' });
  const thead = h('thead');
  const tbody = h('tbody');
  const table = h('table', { class: 'tbl endpoint-table', testid: 'endpoint-table' }, thead, tbody);
  const msg = h('div');
  const drill = h('section', { class: 'panel hidden' });
  const el = h(
    'div',
    { class: 'status-page' },
    h('section', { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h2', { text: 'Application status' }), info, h('div', { class: 'header-spacer' }), h('div', { class: 'seg-group' }, ...presetBtns)),
      h('div', { class: 'panel-body table-scroll' }, msg, table)),
    drill,
  );

  const sortKey = (): Key => (COLS.some((c) => c.key === r.params.sort) ? (r.params.sort as Key) : 'count');

  function renderTable(): void {
    const k = sortKey();
    replace(thead, h('tr', null, ...COLS.map((c) => {
      const th = h('th', { class: c.cls.replace('ellipsis', '') + (c.key ? ' sortable' : '') + (c.key === k ? ' sorted' : ''), text: c.label + (c.key === k ? ' ▼' : '') });
      if (c.key) th.addEventListener('click', () => app.setParams({ sort: c.key === 'count' ? '' : c.key! }));
      return th;
    })));
    const sorted = rows.slice().sort((a, b) => (b[k] ?? 0) - (a[k] ?? 0));
    const selected = r.params.endpoint ?? '';
    replace(tbody, ...sorted.map((e) => {
      const tr = h('tr', { class: 'ep-row' + (e.endpoint === selected && (!r.params.ep_service || r.params.ep_service === e.service) ? ' selected' : '') + (e.errors ? ' has-errors' : ''), testid: 'endpoint-row', attrs: { tabindex: '0' } });
      for (const c of COLS) {
        const v = c.cell(e);
        const td = h('td', { class: c.cls }, v);
        if (typeof v === 'string' && c.cls.includes('ellipsis')) td.title = v;
        tr.appendChild(td);
      }
      const open = () => app.setParams({ endpoint: e.endpoint, ep_service: e.service }, true);
      tr.addEventListener('click', open);
      tr.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter') open();
      });
      return tr;
    }));
  }

  let drillKey = '';
  let drillChart: XViewChart | null = null;
  let drillAc = new AbortController();
  function renderDrill(): void {
    const ep = r.params.endpoint ?? '';
    if (!ep) {
      drill.classList.add('hidden');
      drillKey = '';
      drillChart?.dispose();
      drillChart = null;
      return;
    }
    const range = resolveRange(r.params, Date.now(), '1h');
    const svc = r.params.ep_service || r.params.service || '';
    const key = JSON.stringify([app.project, ep, svc, range.preset || [range.from, range.to]]);
    if (key === drillKey) return;
    drillKey = key;
    drill.classList.remove('hidden');
    const list = new TxList(app, 'slowest');
    const xvHref = app.href('xview', { ...rangeParams(range), endpoint: ep, ...(svc ? { service: svc } : {}) });
    const listMsg = h('div', null, note('Loading the slowest transactions…'));
    // The endpoint's own X-View: drag opens the analysis page on the selection, a dot its profile.
    const chartBody = h('div', { class: 'chart-body drill-xview' });
    const xvInfo = h('span', { class: 'muted small-text' });
    replace(
      drill,
      h('div', { class: 'panel-head' }, h('h2', { text: 'Endpoint' }), h('span', { class: 'mono', text: ep }), svc ? h('span', { class: 'muted', text: svc }) : null,
        h('div', { class: 'header-spacer' }), h('a', { class: 'btn', text: 'Open in X-View', testid: 'open-xview', attrs: { href: xvHref } })),
      h('div', { class: 'drill-grid' },
        h('div', { class: 'drill-col' }, h('div', { class: 'drill-title' }, h('span', { text: 'X-View' }), xvInfo), chartBody),
        h('div', { class: 'drill-col' }, h('div', { class: 'drill-title', text: 'Slowest transactions' }), listMsg, list.el)),
    );
    drillChart?.dispose();
    const chart = new XViewChart(chartBody, { zoomable: false, selectable: true }, true);
    drillChart = chart;
    chart.el.removeAttribute('data-testid');
    chart.onPointClick = (id) => app.go('tx', {}, id);
    chart.onSelect = (sel) => {
      if (!sel) return;
      app.go('xview', { ...rangeParams(range), endpoint: ep, ...(svc ? { service: svc } : {}), sel: [Math.floor(sel.x0), Math.ceil(sel.x1), sel.y0.toFixed(3), sel.y1.toFixed(3)].join(',') });
    };
    drillAc.abort();
    drillAc = new AbortController();
    const buf = new PointBuffer(1024);
    app.api
      .xview({ endpoint: ep, service: svc || undefined, from: Math.floor(range.from), to: Math.ceil(range.to), max_points: 200_000 }, drillAc.signal)
      .then((res) => {
        if (res.binned && res.bins) {
          chart.setBins(res.bins, res.total);
          xvInfo.textContent = fmtInt(res.total) + ' transactions (density)';
        } else {
          if (res.points) buf.appendColumns(res.points);
          chart.setPoints(buf, range.from, range.to);
          xvInfo.textContent = fmtInt(buf.length) + ' transactions';
        }
      })
      .catch(() => {
        xvInfo.textContent = 'X-View unavailable';
      });
    const fetchList = (sort: string) =>
      app.api
        .transactions({ endpoint: ep, service: svc || undefined, from: Math.floor(range.from), to: Math.ceil(range.to), sort, limit: 50 }, drillAc.signal)
        .then((res) => {
          list.set(res.transactions ?? []);
          replace(listMsg, (res.transactions ?? []).length ? '' : note('No transactions.', 'empty'));
        })
        .catch((e: unknown) => {
          if (e instanceof DOMException && e.name === 'AbortError') return;
          replace(listMsg, note('Could not list transactions: ' + (e instanceof Error ? e.message : String(e)), 'error'));
        });
    list.onSort = (s) => void fetchList(s);
    void fetchList('slowest');
    drill.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }

  function load(): void {
    const range = resolveRange(r.params, Date.now(), '1h');
    for (const b of presetBtns) b.classList.toggle('active', b.textContent === range.preset);
    const key = JSON.stringify([app.project, r.params.service ?? '', range.preset || [range.from, range.to]]);
    if (key === loadedKey) return;
    loadedKey = key;
    ac.abort();
    ac = new AbortController();
    replace(msg, note('Loading…'));
    app.api
      .endpoints({ from: Math.floor(range.from), to: Math.ceil(range.to), service: r.params.service || undefined }, ac.signal)
      .then((res) => {
        rows = res.endpoints ?? [];
        info.textContent = fmtInt(rows.length) + ' endpoints · ' + fmtInt(rows.reduce((s, e) => s + e.count, 0)) + ' calls';
        replace(msg, rows.length ? '' : note('No transactions in this range.', 'empty'));
        renderTable();
      })
      .catch((e: unknown) => {
        if (e instanceof DOMException && e.name === 'AbortError') return;
        loadedKey = '';
        replace(msg, note('Could not load endpoint statistics: ' + (e instanceof ApiError ? e.message : String(e)), 'error'));
      });
  }

  renderTable();
  load();
  renderDrill();
  return {
    el,
    update(next) {
      r = next;
      load();
      renderTable();
      renderDrill();
      return true;
    },
    dispose() {
      ac.abort();
      drillAc.abort();
      drillChart?.dispose();
    },
  };
}

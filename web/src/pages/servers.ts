// Servers: the hosts the time-series store knows (GET /api/v1/hosts), a sortable, filterable
// table; a row opens the host page (GET /api/v1/hosts/{id}) with CPU, memory, disk and
// network charts over the chosen range and the top processes.

import { ApiError } from '../api/client';
import type { App, PageHandle } from '../app';
import { LineChart } from '../charts/line';
import { COLORS } from '../charts/schedule';
import { fmtCompact, fmtDateTime, fmtPct } from '../data/format';
import { filterHosts, sortHosts, toFloat64 } from '../data/metrics';
import type { Host, HostDetail, HostSortKey } from '../data/metrics';
import type { Route } from '../data/urlstate';
import { rangeParams, resolveRange } from '../data/urlstate';
import { h, note, replace } from '../ui/dom';

const REFRESH_MS = 10_000;

function fmtBps(v: number | null): string {
  return v == null ? '–' : fmtCompact(v) + 'B/s';
}

interface Col {
  key: HostSortKey;
  label: string;
  cls: string;
  cell: (x: Host) => string | Node;
}

function columns(app: App): Col[] {
  return [
    { key: 'name', label: 'Host', cls: 'ellipsis wide', cell: (x) => h('a', { text: x.name, testid: 'host-link', attrs: { href: app.href('host', {}, x.id) } }) },
    { key: 'up', label: 'State', cls: '', cell: (x) => h('span', { class: x.up ? 'ok-text' : 'err-text', text: x.up ? 'up' : 'down' }) },
    { key: 'cpu_pct', label: 'CPU', cls: 'num', cell: (x) => fmtPct(x.cpu_pct) },
    { key: 'mem_pct', label: 'Memory', cls: 'num', cell: (x) => fmtPct(x.mem_pct) },
    { key: 'disk_pct', label: 'Disk', cls: 'num', cell: (x) => fmtPct(x.disk_pct) },
    { key: 'net_rx_bps', label: 'Net in', cls: 'num', cell: (x) => fmtBps(x.net_rx_bps) },
    { key: 'net_tx_bps', label: 'Net out', cls: 'num', cell: (x) => fmtBps(x.net_tx_bps) },
    { key: 'instances', label: 'Instances', cls: 'ellipsis', cell: (x) => x.instances.map((i) => i.instance).join(', ') || '–' },
  ];
}

export function serversPage(app: App, route: Route): PageHandle {
  let r = route;
  let hosts: Host[] = [];
  let ac = new AbortController();
  const cols = columns(app);
  const filter = h('input', { class: 'inp', testid: 'host-filter', attrs: { type: 'search', placeholder: 'Filter hosts, instances', 'aria-label': 'Filter hosts', value: r.params.q ?? '' } });
  filter.addEventListener('input', () => app.setParams({ q: filter.value }));
  const info = h('span', { class: 'muted' });
  const thead = h('thead');
  const tbody = h('tbody');
  const msg = h('div');
  const el = h(
    'div',
    { class: 'servers-page' },
    h('section', { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h2', { text: 'Servers' }), info, h('div', { class: 'header-spacer' }), filter),
      h('div', { class: 'panel-body table-scroll' }, msg, h('table', { class: 'tbl', testid: 'host-table' }, thead, tbody))),
  );

  const sortKey = (): HostSortKey => (cols.some((c) => c.key === r.params.sort) ? (r.params.sort as HostSortKey) : 'name');
  const desc = () => r.params.dir === 'desc';

  function render(): void {
    const k = sortKey();
    replace(thead, h('tr', null, ...cols.map((c) => {
      const th = h('th', { class: c.cls.replace('ellipsis', '') + ' sortable' + (c.key === k ? ' sorted' : ''), text: c.label + (c.key === k ? (desc() ? ' ▼' : ' ▲') : '') });
      th.addEventListener('click', () => app.setParams({ sort: c.key === 'name' ? '' : c.key, dir: c.key === k && !desc() ? 'desc' : '' }));
      return th;
    })));
    const shown = sortHosts(filterHosts(hosts, r.params.q ?? ''), k, desc());
    info.textContent = `${hosts.filter((x) => x.up).length} up, ${hosts.filter((x) => !x.up).length} down` + (shown.length !== hosts.length ? ` · ${shown.length} shown` : '');
    replace(tbody, ...shown.map((x) => h('tr', { class: x.up ? '' : 'has-errors', testid: 'host-row' }, ...cols.map((c) => h('td', { class: c.cls }, c.cell(x))))));
  }

  async function load(): Promise<void> {
    ac.abort();
    ac = new AbortController();
    try {
      const res = await app.api.get<{ hosts: Host[] }>('/hosts', {}, ac.signal);
      hosts = res.hosts ?? [];
      replace(msg, hosts.length ? null : note('No host has reported in the last day. Run `loupe agent --server URL` on a server.', 'empty'));
      render();
    } catch (e) {
      if ((e as Error).name === 'AbortError') return;
      replace(msg, note(e instanceof ApiError ? e.message : String(e), 'error'));
    }
  }
  void load();
  const timer = window.setInterval(() => void load(), REFRESH_MS);
  return {
    el,
    update(nr) {
      r = nr;
      if (document.activeElement !== filter) filter.value = r.params.q ?? '';
      render();
      return true;
    },
    dispose() {
      ac.abort();
      window.clearInterval(timer);
    },
  };
}

interface ChartSpec {
  key: string;
  title: string;
  color: string;
  format: (v: number) => string;
  fixedMax?: number;
}

const fmtPctAxis = (v: number) => (v < 10 && v % 1 ? v.toFixed(1) : v.toFixed(0)) + '%';

const CHARTS: ChartSpec[] = [
  { key: 'cpu_pct', title: 'CPU', color: COLORS.tps, format: fmtPctAxis, fixedMax: 100 },
  { key: 'mem_pct', title: 'Memory', color: COLORS.rt, format: fmtPctAxis, fixedMax: 100 },
  { key: 'disk_pct', title: 'Disk (fullest file system)', color: '#ffd166', format: fmtPctAxis, fixedMax: 100 },
  { key: 'net_rx_bps', title: 'Network in', color: '#06d6a0', format: (v) => fmtCompact(v) + 'B/s' },
  { key: 'net_tx_bps', title: 'Network out', color: '#ef476f', format: (v) => fmtCompact(v) + 'B/s' },
  { key: 'load_1m', title: 'Load (1 min)', color: COLORS.accent, format: (v) => v.toFixed(1) },
];

export function hostPage(app: App, route: Route): PageHandle {
  let r = route;
  let ac = new AbortController();
  const id = route.id ?? '';
  const title = h('h2', { text: id });
  const state = h('span', { class: 'muted' });
  const presetBtns = ['1h', '6h', '24h'].map((p) =>
    h('button', { class: 'btn seg', text: p, attrs: { type: 'button' }, on: { click: () => app.setParams(rangeParams({ from: 0, to: 0, preset: p }), true) } }),
  );
  const msg = h('div');
  const grid = h('div', { class: 'host-charts' });
  const charts = CHARTS.map((c) => {
    const body = h('div', { class: 'panel-body chart-body' });
    grid.appendChild(h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', { text: c.title })), body));
    return new LineChart(body, { color: c.color, format: c.format, fixedMax: c.fixedMax, minMax: c.fixedMax ? undefined : 1 }, 'host-chart-' + c.key);
  });
  const procBody = h('tbody');
  const el = h(
    'div',
    { class: 'host-page' },
    h('section', { class: 'panel' },
      h('div', { class: 'panel-head' }, h('a', { text: '← Servers', attrs: { href: app.href('servers') } }), title, state, h('div', { class: 'header-spacer' }), h('div', { class: 'seg-group' }, ...presetBtns)),
      msg),
    grid,
    h('section', { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h2', { text: 'Top processes' })),
      h('div', { class: 'panel-body table-scroll' },
        h('table', { class: 'tbl', testid: 'process-table' },
          h('thead', null, h('tr', null, ...['PID', 'Name', 'Owner', 'CPU', 'Memory', 'Threads', 'Command line'].map((t) => h('th', { text: t })))),
          procBody))),
  );

  async function load(): Promise<void> {
    ac.abort();
    ac = new AbortController();
    const range = resolveRange(r.params, Date.now(), '1h');
    presetBtns.forEach((b) => b.classList.toggle('active', b.textContent === range.preset));
    try {
      const d = await app.api.get<HostDetail>('/hosts/' + encodeURIComponent(id), { from: Math.floor(range.from), to: Math.ceil(range.to) }, ac.signal);
      title.textContent = d.host.name;
      state.textContent = (d.host.up ? 'up' : 'down') + (d.host.last_seen_ms ? ' · last seen ' + fmtDateTime(d.host.last_seen_ms, false) : '') +
        (d.host.instances.length ? ' · ' + d.host.instances.map((i) => i.instance).join(', ') : '');
      CHARTS.forEach((c, i) => charts[i]!.setData(d.from_ms, d.step_ms, toFloat64(d.series[c.key] ?? [])));
      replace(procBody, ...d.processes.map((p) =>
        h('tr', { testid: 'process-row' },
          h('td', { class: 'num', text: p.pid }), h('td', { text: p.name }), h('td', { text: p.owner }),
          h('td', { class: 'num', text: fmtPct(p.cpu_pct) }), h('td', { class: 'num', text: p.memory_bytes == null ? '–' : fmtCompact(p.memory_bytes) + 'B' }),
          h('td', { class: 'num', text: p.threads == null ? '–' : String(p.threads) }), h('td', { class: 'mono ellipsis wide', text: p.command_line, title: p.command_line }))));
      replace(msg, null);
    } catch (e) {
      if ((e as Error).name === 'AbortError') return;
      replace(msg, note(e instanceof ApiError ? e.message : String(e), 'error'));
    }
  }
  void load();
  const timer = window.setInterval(() => {
    if (resolveRange(r.params, Date.now()).preset) void load();
  }, REFRESH_MS);
  return {
    el,
    update(nr) {
      r = nr;
      void load();
      return true;
    },
    dispose() {
      ac.abort();
      window.clearInterval(timer);
      charts.forEach((c) => c.dispose());
    },
  };
}

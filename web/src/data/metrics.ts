// Data shaping for the Servers page and the Performance browser (docs/api.md "Metrics"):
// the API's JSON columns (null = no data) become Float64Arrays with NaN gaps, hosts are
// filtered and sorted, the browser's state round-trips through the URL, and a query result
// becomes CSV. No DOM here.

export interface MetricSeriesJson {
  labels: Record<string, string>;
  values: (number | null)[];
}

export interface MetricQueryResponse {
  from_ms: number;
  step_ms: number;
  resolution_ms?: number;
  truncated?: boolean;
  series: MetricSeriesJson[];
}

export interface HostInstance {
  service: string;
  instance: string;
  kind: string;
  up: boolean;
}

export interface Host {
  id: string;
  name: string;
  up: boolean;
  last_seen_ms: number | null;
  cpu_pct: number | null;
  mem_pct: number | null;
  disk_pct: number | null;
  net_rx_bps: number | null;
  net_tx_bps: number | null;
  load_1m: number | null;
  instances: HostInstance[];
}

export interface HostProcess {
  pid: string;
  name: string;
  command_line: string;
  owner: string;
  cpu_pct: number | null;
  memory_bytes: number | null;
  threads: number | null;
}

export interface HostDetail {
  host: Host;
  from_ms: number;
  step_ms: number;
  series: Record<string, (number | null)[]>;
  processes_time_ms: number;
  processes: HostProcess[];
}

/** One chart line: its name and values at x0 + i·step (NaN = gap). */
export interface Line {
  name: string;
  ys: Float64Array;
}

export function toFloat64(values: readonly (number | null)[]): Float64Array {
  const ys = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    ys[i] = v === null || v === undefined ? NaN : v;
  }
  return ys;
}

/** `{a="x", b="y"}` in label-name order; `{}` for a line with no labels. */
export function lineName(labels: Record<string, string>): string {
  const keys = Object.keys(labels).sort();
  return '{' + keys.map((k) => `${k}="${labels[k]}"`).join(', ') + '}';
}

export function toLines(r: MetricQueryResponse): Line[] {
  return r.series.map((s) => ({ name: lineName(s.labels), ys: toFloat64(s.values) }));
}

function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

/** One row per step: time_ms (ISO time too), then one column per line; empty where no data. */
export function toCsv(r: MetricQueryResponse): string {
  const names = r.series.map((s) => lineName(s.labels));
  const rows = [['time_ms', 'time', ...names].map(csvField).join(',')];
  const n = r.series.reduce((m, s) => Math.max(m, s.values.length), 0);
  for (let i = 0; i < n; i++) {
    const t = r.from_ms + i * r.step_ms;
    const cells = [String(t), new Date(t).toISOString()];
    for (const s of r.series) {
      const v = s.values[i];
      cells.push(v === null || v === undefined ? '' : String(v));
    }
    rows.push(cells.join(','));
  }
  return rows.join('\n') + '\n';
}

export type HostSortKey = 'name' | 'up' | 'cpu_pct' | 'mem_pct' | 'disk_pct' | 'net_rx_bps' | 'net_tx_bps' | 'instances';

/** Hosts whose name, id or an instance/service contains `text` (case-insensitive). */
export function filterHosts(hosts: readonly Host[], text: string): Host[] {
  const q = text.trim().toLowerCase();
  if (!q) return hosts.slice();
  return hosts.filter(
    (h) =>
      h.name.toLowerCase().includes(q) ||
      h.id.toLowerCase().includes(q) ||
      h.instances.some((i) => i.instance.toLowerCase().includes(q) || i.service.toLowerCase().includes(q)),
  );
}

function sortValue(h: Host, key: HostSortKey): number | string | null {
  switch (key) {
    case 'name':
      return h.name.toLowerCase();
    case 'up':
      return h.up ? 1 : 0;
    case 'instances':
      return h.instances.length;
    default:
      return h[key];
  }
}

/** Sorted copy; nulls (no figure) last in either direction, then by name. */
export function sortHosts(hosts: readonly Host[], key: HostSortKey, desc: boolean): Host[] {
  return hosts.slice().sort((a, b) => {
    const va = sortValue(a, key);
    const vb = sortValue(b, key);
    if (va === null && vb !== null) return 1;
    if (vb === null && va !== null) return -1;
    if (va !== null && vb !== null && va !== vb) {
      const c = va < vb ? -1 : 1;
      return desc ? -c : c;
    }
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
}

/** The Performance browser's state, as kept in the URL. */
export interface BrowserState {
  name: string;
  groupBy: string;
  agg: string;
  groupAgg: string;
  step: number | null; // seconds; null = the server's default
  filters: string[]; // match[] selectors: label=value, label!=value, label=~re, label!~re
}

export const AGGS = ['avg', 'min', 'max', 'sum', 'last', 'count', 'rate'] as const;
export const GROUP_AGGS = ['sum', 'avg', 'min', 'max', 'count', 'p95'] as const;

export function browserStateFromParams(p: Record<string, string>): BrowserState {
  const step = Number(p.step);
  return {
    name: p.metric ?? '',
    groupBy: p.group_by ?? '',
    agg: (AGGS as readonly string[]).includes(p.agg ?? '') ? p.agg! : 'avg',
    groupAgg: (GROUP_AGGS as readonly string[]).includes(p.group_agg ?? '') ? p.group_agg! : 'sum',
    step: Number.isInteger(step) && step > 0 ? step : null,
    filters: (p.filter ?? '').split('\n').map((s) => s.trim()).filter(Boolean),
  };
}

/** URL params of a state; defaults are left out so links stay short. */
export function browserStateToParams(s: BrowserState): Record<string, string> {
  return {
    metric: s.name,
    group_by: s.groupBy,
    agg: s.agg === 'avg' ? '' : s.agg,
    group_agg: s.groupAgg === 'sum' ? '' : s.groupAgg,
    step: s.step === null ? '' : String(s.step),
    filter: s.filters.join('\n'),
  };
}

/** The query string of GET /api/v1/metrics/query (without from/to/project). */
export function browserQuery(s: BrowserState): URLSearchParams {
  const q = new URLSearchParams();
  q.set('name', s.name);
  const apm = s.name.startsWith('apm.');
  if (s.groupBy) q.set('group_by', s.groupBy);
  if (!apm) {
    q.set('agg', s.agg);
    if (s.groupBy) q.set('group_agg', s.groupAgg);
  }
  if (s.step !== null) q.set('step', String(s.step));
  for (const f of s.filters) {
    // apm.* takes plain service=/instance=/endpoint= filters only.
    const eq = f.indexOf('=');
    if (apm && eq > 0 && !/[!~]/.test(f.slice(eq - 1, eq + 2))) q.append(f.slice(0, eq), f.slice(eq + 1));
    else q.append('match[]', f);
  }
  return q;
}

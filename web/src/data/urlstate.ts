// The app's state lives in the URL hash so any view can be shared as a link:
//   #/dashboard?project=default
//   #/xview?project=default&range=1h&service=shop&endpoint=GET%20%2Fx&error=1&min_ms=500&y=log
//   #/xview?project=default&from=1700000000000&to=1700003600000
//   #/tx/9f2c0a1b2c3d4e5f?project=default
//   #/status?project=default&range=24h&sort=p95_ms
//   #/active-stack?project=default&range=15m&instance=orders-1&endpoint=GET%20%2Forders&sort=self_samples
//   #/events?project=default&range=1h&level=WARNING&type=throttle
//   #/agent-settings?project=default&service=orders
//   #/alerts?project=default&rule=12
//   #/alert-rules?project=default&edit=12        (edit=new: a new rule)
//   #/alert-channels?project=default&channel=3
//   #/servers?project=default&q=web&sort=cpu_pct&dir=desc
//   #/host/4f1c2a?project=default&range=6h
//   #/metrics?project=default&metric=system.cpu.utilization&group_by=host.name&agg=max&range=1h

export type Page = 'login' | 'dashboard' | 'xview' | 'tx' | 'status' | 'active-stack' | 'events' | 'agent-settings' | 'alerts' | 'alert-rules' | 'alert-channels' | 'servers' | 'host' | 'metrics';

export interface Route {
  page: Page;
  /** Transaction id for `tx`. */
  id?: string;
  params: Record<string, string>;
}

const PAGES: readonly Page[] = ['login', 'dashboard', 'xview', 'tx', 'status', 'active-stack', 'events', 'agent-settings', 'alerts', 'alert-rules', 'alert-channels', 'servers', 'host', 'metrics'];

/** Pages whose second path segment is an id (#/tx/ID, #/host/ID). */
const WITH_ID: readonly Page[] = ['tx', 'host'];

export function parseHash(hash: string): Route {
  const h = hash.replace(/^#/, '');
  const q = h.indexOf('?');
  const path = (q >= 0 ? h.slice(0, q) : h).replace(/^\/+/, '');
  const params: Record<string, string> = {};
  if (q >= 0) {
    for (const [k, v] of new URLSearchParams(h.slice(q + 1))) params[k] = v;
  }
  const parts = path.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  const first = parts[0] ?? 'dashboard';
  const page = (PAGES as readonly string[]).includes(first) ? (first as Page) : 'dashboard';
  const route: Route = { page, params };
  if (WITH_ID.includes(page) && parts[1]) route.id = parts[1];
  return route;
}

export function formatHash(r: Route): string {
  let s = '#/' + r.page;
  if (WITH_ID.includes(r.page) && r.id) s += '/' + encodeURIComponent(r.id);
  const q = new URLSearchParams();
  for (const k of Object.keys(r.params).sort()) {
    const v = r.params[k];
    if (v !== undefined && v !== '') q.set(k, v);
  }
  const qs = q.toString();
  return qs ? s + '?' + qs : s;
}

export const RANGE_PRESETS: Record<string, number> = {
  '5m': 5 * 60_000,
  '15m': 15 * 60_000,
  '1h': 3_600_000,
  '6h': 6 * 3_600_000,
  '24h': 24 * 3_600_000,
};

export interface TimeRange {
  from: number;
  to: number;
  /** The preset name, or '' for an absolute range. */
  preset: string;
}

/** Resolves `range=` (relative to now) or `from=`/`to=` (absolute). Default `defPreset`. */
export function resolveRange(params: Record<string, string>, nowMs: number, defPreset = '1h'): TimeRange {
  const from = Number(params.from);
  const to = Number(params.to);
  if (params.from && params.to && Number.isFinite(from) && Number.isFinite(to) && from < to) {
    return { from, to, preset: '' };
  }
  const preset = params.range && RANGE_PRESETS[params.range] ? params.range : defPreset;
  const span = RANGE_PRESETS[preset] ?? 3_600_000;
  return { from: nowMs - span, to: nowMs, preset };
}

/** Params for a range: a preset stays relative; an absolute range is pinned. */
export function rangeParams(r: TimeRange): Record<string, string> {
  return r.preset ? { range: r.preset, from: '', to: '' } : { range: '', from: String(Math.floor(r.from)), to: String(Math.ceil(r.to)) };
}

/** Filters shared by the X-View, transaction list and endpoint table. */
export interface Filters {
  service: string;
  instance: string;
  endpoint: string;
  errorsOnly: boolean;
  minMs: number | null;
}

export function filtersFromParams(p: Record<string, string>): Filters {
  const min = p.min_ms ? Number(p.min_ms) : NaN;
  return {
    service: p.service ?? '',
    instance: p.instance ?? '',
    endpoint: p.endpoint ?? '',
    errorsOnly: p.error === '1',
    minMs: Number.isFinite(min) && min > 0 ? min : null,
  };
}

export function filtersToParams(f: Filters): Record<string, string> {
  return {
    service: f.service,
    instance: f.instance,
    endpoint: f.endpoint,
    error: f.errorsOnly ? '1' : '',
    min_ms: f.minMs != null ? String(f.minMs) : '',
  };
}

/** Filters as API query parameters. */
export function filtersToApi(f: Filters): Record<string, string | number | boolean | undefined> {
  return {
    service: f.service || undefined,
    instance: f.instance || undefined,
    endpoint: f.endpoint || undefined,
    error: f.errorsOnly || undefined,
    min_ms: f.minMs ?? undefined,
  };
}

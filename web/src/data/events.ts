// Events page: filters in the URL ↔ API query, and ordering / labelling of the list.

import type { ApiEvent, EventGroup } from '../api/types';
import type { Params } from '../api/client';
import { fmtHourMin } from './format';
import { resolveRange } from './urlstate';

export const EVENT_LEVELS = ['NORMAL', 'WARNING', 'FATAL'] as const;
/** Types the server is known to emit; others it sends are shown as they come. */
export const EVENT_TYPES = ['SERVICE_EXCEPTION', 'HTTP_ERROR', 'SQL_EXCEPTION', 'EXTERNALCALL_EXCEPTION', 'BAD_RESPONSE_TIME', 'THROTTLED', 'AGENT_START', 'AGENT_STOP', 'ALERT', 'NATIVE_CRITICAL_ERROR'] as const;
export const EVENT_PRESETS = ['5m', '15m', '1h', '6h', '24h'] as const;
export const EVENTS_LIMIT = 1000;

export interface EventFilter {
  level: string;
  type: string;
  service: string;
}

/** Filters from the URL; an unknown level is dropped (the server would reject it), a type is
 *  kept as typed (servers may add types). */
export function eventFilterFromParams(p: Record<string, string>): EventFilter {
  const level = (p.level ?? '').toUpperCase();
  return {
    level: (EVENT_LEVELS as readonly string[]).includes(level) ? level : '',
    type: (p.type ?? '').trim(),
    service: p.service ?? '',
  };
}

export function eventFilterToParams(f: EventFilter): Record<string, string> {
  return { level: f.level, type: f.type, service: f.service };
}

/** The query for GET /api/v1/events: range (default the last hour), filters, limit. */
export function eventsQuery(p: Record<string, string>, nowMs: number): Params {
  const f = eventFilterFromParams(p);
  const r = resolveRange(p, nowMs, '1h');
  return {
    from: Math.floor(r.from),
    to: Math.ceil(r.to),
    level: f.level || undefined,
    type: f.type || undefined,
    service: f.service || undefined,
    limit: EVENTS_LIMIT,
  };
}

/** Newest first (stable for equal times). */
export function newestFirst<T extends Pick<ApiEvent, 'time_ms'>>(events: readonly T[]): T[] {
  return events.map((e, i) => [e, i] as const).sort((a, b) => b[0].time_ms - a[0].time_ms || a[1] - b[1]).map((x) => x[0]);
}

/** CSS-safe level class: normal / warning / fatal (anything else: normal). */
export function levelClass(level: string | undefined): 'normal' | 'warning' | 'fatal' {
  const l = (level ?? '').toUpperCase();
  return l === 'FATAL' ? 'fatal' : l === 'WARNING' ? 'warning' : 'normal';
}

const TYPE_LABEL: Record<string, string> = {
  SERVICE_EXCEPTION: 'Service exception',
  HTTP_ERROR: 'HTTP error',
  SQL_EXCEPTION: 'SQL exception',
  EXTERNALCALL_EXCEPTION: 'External call exception',
  BAD_RESPONSE_TIME: 'Bad response time',
  THROTTLED: 'Throttled',
  AGENT_START: 'Agent start',
  AGENT_STOP: 'Agent stop',
  ALERT: 'Alert',
  NATIVE_CRITICAL_ERROR: 'Native crash',
};

export function typeLabel(type: string): string {
  return TYPE_LABEL[type] ?? type;
}

/** Counts per level, for the summary line. */
export function levelCounts(events: readonly Pick<ApiEvent, 'level'>[]): Record<'normal' | 'warning' | 'fatal', number> {
  const c = { normal: 0, warning: 0, fatal: 0 };
  for (const e of events) c[levelClass(e.level)]++;
  return c;
}

// ---- Grouped view (GET /api/v1/events?group_by=…)

export const GROUP_BY = ['type', 'service', 'endpoint', 'message'] as const;

/** `group=` in the URL: one of GROUP_BY, or '' for the flat list. Default `message` (a burst of
 *  identical errors is one row). */
export function groupByFromParams(p: Record<string, string>): string {
  const g = p.group ?? 'message';
  return (GROUP_BY as readonly string[]).includes(g) ? g : '';
}

/** "AcquirerTimeout · payment · POST /payments · 212 times, last 17:35": what the group has in
 *  common, most specific first, then its count and last time (local clock). */
export function groupTitle(g: Pick<EventGroup, 'key' | 'message' | 'type' | 'service' | 'endpoint'>): string {
  const parts: string[] = [];
  for (const p of [g.message || typeLabel(g.type), g.service, g.endpoint]) if (p && !parts.includes(p)) parts.push(p);
  if (parts.length === 0) parts.push(g.key || '(none)');
  return parts.join(' · ');
}

export function groupCountText(g: Pick<EventGroup, 'count' | 'last_ms'>): string {
  return (g.count === 1 ? 'once' : g.count.toLocaleString('en-US') + ' times') + ', last ' + fmtHourMin(g.last_ms);
}

/** The events of a group, from a flat list fetched with the group's type and service: the
 *  member the group is keyed on must match (endpoint and message are not API filters). */
export function eventsOfGroup<T extends Pick<ApiEvent, 'type' | 'service' | 'endpoint' | 'message'>>(events: readonly T[], by: string, key: string): T[] {
  const field = by as 'type' | 'service' | 'endpoint' | 'message';
  if (!(GROUP_BY as readonly string[]).includes(by)) return events.slice();
  return events.filter((e) => (e[field] ?? '') === key);
}

/** Query for a group's events: the page's query narrowed by the group's key where the API can
 *  filter on it (type, service); endpoint and message groups are filtered after fetching
 *  (`eventsOfGroup`). The other members of a group describe its example event, not all of it,
 *  so they do not narrow the query. */
export function groupEventsQuery(p: Record<string, string>, nowMs: number, by: string, key: string): Params {
  const q = eventsQuery(p, nowMs);
  if (by === 'type') q.type = key || undefined;
  if (by === 'service') q.service = key || undefined;
  return q;
}

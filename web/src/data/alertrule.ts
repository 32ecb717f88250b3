// Alert rule editor form ↔ the rule JSON of /api/v1/alert-rules (docs/api.md "Alerts"), the
// server's 400 messages mapped to the field they name, and the live preview's query and
// columns. The form checks only what a user would otherwise wait for a round trip to learn
// (empty name, not a number, no threshold, bad HH:MM); the server decides everything else
// and its message is shown next to the field it names.

import type { AlertRuleBody, AlertSignal, QuietHours, RuleTestChange, RuleTestResponse } from '../api/types';
import { fmtHourMin, fmtMs, fmtPct } from './format';

export const SIGNALS: readonly { value: AlertSignal; label: string }[] = [
  { value: 'error_rate', label: 'Error rate (%)' },
  { value: 'error_count', label: 'Errors (count)' },
  { value: 'response_time', label: 'Average response time (ms)' },
  { value: 'p95', label: 'p95 response time (ms)' },
  { value: 'p99', label: 'p99 response time (ms)' },
  { value: 'tps', label: 'TPS' },
  { value: 'calls', label: 'Calls (count)' },
  { value: 'active', label: 'Active transactions (now)' },
  { value: 'throttled', label: 'Throttled requests' },
  { value: 'instance_down', label: 'Instance down (s since last seen)' },
  { value: 'event', label: 'Events of a type' },
];

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

/** Signals whose alerts are about errors: their X-View link shows errors only. */
export const ERROR_SIGNALS: readonly string[] = ['error_rate', 'error_count'];

/** What the inputs hold (strings as typed, so a bad value can be shown and fixed). */
export interface RuleForm {
  name: string;
  enabled: boolean;
  service: string;
  /** 'none' | 'endpoint' | 'instance': what narrows the service. */
  narrow: string;
  /** Endpoint or instance name, or '*' for each one separately. */
  narrowValue: string;
  signal: string;
  eventType: string;
  band: string;
  windowS: string;
  forS: string;
  comparison: string;
  warning: string;
  critical: string;
  baseline: string;
  minVolume: string;
  noData: string;
  channels: number[];
  repeatMinutes: string;
  sendResolved: boolean;
  quiet: boolean;
  quietDays: string[];
  quietFrom: string;
  quietTo: string;
  quietTz: string;
}

/** `field` is the rule member the message is about (`name`, `warning`, `quiet_hours.from` …). */
export interface FieldError {
  field: string;
  message: string;
}

const num = (v: number | null | undefined): string => (v == null || !Number.isFinite(v) ? '' : String(v));

export function newRuleForm(): RuleForm {
  return {
    name: '', enabled: true, service: '', narrow: 'none', narrowValue: '', signal: 'error_rate', eventType: '', band: '-1',
    windowS: '60', forS: '0', comparison: 'above', warning: '', critical: '', baseline: 'none', minVolume: '0', noData: 'keep',
    channels: [], repeatMinutes: '0', sendResolved: true,
    quiet: false, quietDays: ['sat', 'sun'], quietFrom: '22:00', quietTo: '07:00', quietTz: 'UTC',
  };
}

export function ruleToForm(r: AlertRuleBody): RuleForm {
  const f = newRuleForm();
  const q = r.quiet_hours;
  return {
    ...f,
    name: r.name ?? '',
    enabled: r.enabled !== false,
    service: r.service ?? '',
    narrow: r.endpoint ? 'endpoint' : r.instance ? 'instance' : 'none',
    narrowValue: r.endpoint || r.instance || '',
    signal: r.signal ?? 'error_rate',
    eventType: r.event_type ?? '',
    band: num(r.band ?? -1),
    windowS: num(r.window_s),
    forS: num(r.for_s),
    comparison: r.comparison || 'above',
    warning: num(r.warning),
    critical: num(r.critical),
    baseline: r.baseline || 'none',
    minVolume: num(r.min_volume),
    noData: r.no_data || 'keep',
    channels: (r.channels ?? []).slice(),
    repeatMinutes: num(r.repeat_minutes),
    sendResolved: r.send_resolved !== false,
    quiet: !!q,
    quietDays: q ? q.days.slice() : f.quietDays,
    quietFrom: q?.from ?? f.quietFrom,
    quietTo: q?.to ?? f.quietTo,
    quietTz: q?.tz || 'UTC',
  };
}

function parseNum(s: string): number {
  const t = s.trim();
  return t === '' ? NaN : Number(t);
}

const CLOCK = /^([01]\d|2[0-3]):[0-5]\d$/;
const TZ = /^UTC([+-](0\d|1[0-4]):[0-5]\d)?$/;

/** The rule body for POST/PUT and the preview, or the errors that keep it from being sent.
 *  Scope members are always sent (empty = not narrowed); `event_type` and `band` only with
 *  the signal they belong to (the server refuses them otherwise). */
export function formToRule(f: RuleForm): { body: AlertRuleBody | null; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const err = (field: string, message: string) => errors.push({ field, message: field + ': ' + message });
  const name = f.name.trim();
  if (!name) err('name', 'is required');
  const int = (field: string, s: string, min: number, max: number): number => {
    const v = parseNum(s);
    if (!Number.isInteger(v) || v < min || v > max) {
      err(field, 'must be a whole number from ' + min + ' to ' + max);
      return min;
    }
    return v;
  };
  const threshold = (field: string, s: string): number | null => {
    if (s.trim() === '') return null;
    const v = parseNum(s);
    if (!Number.isFinite(v) || v < 0) {
      err(field, 'must be a number ≥ 0');
      return null;
    }
    return v;
  };
  const service = f.service.trim();
  const narrowValue = f.narrowValue.trim();
  if (f.narrow !== 'none' && !service) err(f.narrow, 'needs a service');
  if (f.narrow !== 'none' && !narrowValue) err(f.narrow, 'pick one or * (each separately)');
  const windowS = int('window_s', f.windowS, 5, 86_400);
  const forS = int('for_s', f.forS, 0, 86_400);
  const warning = threshold('warning', f.warning);
  const critical = threshold('critical', f.critical);
  if (warning === null && critical === null && !errors.some((e) => e.field === 'warning' || e.field === 'critical')) {
    err('critical', 'set a warning or a critical threshold (or both)');
  }
  const minVolume = int('min_volume', f.minVolume || '0', 0, 1_000_000_000);
  const repeat = int('repeat_minutes', f.repeatMinutes || '0', 0, 10_080);
  let quiet: QuietHours | null = null;
  if (f.quiet) {
    const days = WEEKDAYS.filter((d) => f.quietDays.includes(d));
    if (days.length === 0) err('quiet_hours.days', 'pick at least one day');
    if (!CLOCK.test(f.quietFrom.trim())) err('quiet_hours.from', 'must be HH:MM (00:00–23:59)');
    const to = f.quietTo.trim();
    if (!CLOCK.test(to) && to !== '24:00') err('quiet_hours.to', 'must be HH:MM (00:00–24:00)');
    else if (to === f.quietFrom.trim()) err('quiet_hours.to', 'must differ from the start');
    const tz = f.quietTz.trim() || 'UTC';
    if (!TZ.test(tz)) err('quiet_hours.tz', 'must be UTC or UTC±HH:MM');
    quiet = { days, from: f.quietFrom.trim(), to, tz };
  }
  if (f.signal === 'event' && !f.eventType.trim()) err('event_type', 'is required for signal event');
  if (errors.length) return { body: null, errors };
  const body: AlertRuleBody = {
    name,
    enabled: f.enabled,
    service,
    instance: f.narrow === 'instance' ? narrowValue : '',
    endpoint: f.narrow === 'endpoint' ? narrowValue : '',
    signal: f.signal,
    window_s: windowS,
    for_s: forS,
    comparison: f.comparison === 'below' ? 'below' : 'above',
    warning,
    critical,
    baseline: f.baseline || 'none',
    min_volume: minVolume,
    no_data: f.noData || 'keep',
    channels: f.channels.slice(),
    repeat_minutes: repeat,
    send_resolved: f.sendResolved,
    quiet_hours: quiet,
  };
  if (f.signal === 'event') body.event_type = f.eventType.trim();
  if (f.signal === 'active') {
    const band = f.band.trim() === '' ? -1 : Number(f.band);
    body.band = Number.isInteger(band) && band >= -1 && band <= 3 ? band : -1;
  }
  return { body, errors };
}

const RULE_MEMBERS = ['name', 'enabled', 'service', 'instance', 'endpoint', 'signal', 'event_type', 'band', 'window_s', 'for_s', 'comparison',
  'warning', 'critical', 'baseline', 'min_volume', 'no_data', 'channels', 'repeat_minutes', 'send_resolved', 'quiet_hours'] as const;

/** The members of a rule as answered that a PUT may send back: the server refuses unknown
 *  members, and answers carry more than a rule (`id`, counts of its alerts). */
export function ruleBodyOf(r: AlertRuleBody): AlertRuleBody {
  const out: Record<string, unknown> = {};
  for (const k of RULE_MEMBERS) if (k in r && (r as unknown as Record<string, unknown>)[k] !== undefined) out[k] = (r as unknown as Record<string, unknown>)[k];
  return out as unknown as AlertRuleBody;
}

/** A server 400 message ("warning: must not be above critical", "quiet_hours.tz: …") as the
 *  field it names; `body` when it names none the form has. */
export function fieldOfMessage(message: string): FieldError {
  const m = /^([a-z_]+(?:\.[a-z_]+)?):\s/.exec(message);
  return { field: m ? m[1]! : 'body', message };
}

/** Step of the 24-hour preview: the smallest of a few round steps (≥ 5 s, the evaluation
 *  interval) that keeps the replay within the server's 2,000 steps. */
export function previewStepS(spanMs: number, maxSteps = 2000): number {
  const need = spanMs / 1000 / maxSteps;
  for (const s of [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600]) if (s >= need) return s;
  return Math.ceil(need);
}

/** One series of a test answer as regularly spaced columns (NaN = no value) from `fromMs`
 *  every `stepMs`, for the line chart. Points outside the range are dropped. */
export function seriesColumns(points: readonly [number, number | null][], fromMs: number, stepMs: number, n: number): Float64Array {
  const ys = new Float64Array(n).fill(NaN);
  for (const [t, v] of points) {
    const i = Math.floor((t - fromMs) / stepMs);
    if (i < 0 || i >= n || v == null || !Number.isFinite(v)) continue;
    ys[i] = Number.isNaN(ys[i]!) ? v : Math.max(ys[i]!, v);
  }
  return ys;
}

/** The series the preview draws: the one that came closest to (or went furthest past) the
 *  thresholds, i.e. the highest peak for `above`, the lowest for `below`. */
export function worstSeries(res: RuleTestResponse, comparison: string): number {
  let best = -1;
  let bestV = NaN;
  res.series.forEach((s, i) => {
    for (const [, v] of s.points) {
      if (v == null || !Number.isFinite(v)) continue;
      const better = Number.isNaN(bestV) || (comparison === 'below' ? v < bestV : v > bestV);
      if (better) {
        bestV = v;
        best = i;
      }
    }
  });
  return best < 0 && res.series.length ? 0 : best;
}

/** How a signal's value reads. */
export function fmtSignal(signal: string, v: number | null | undefined, baseline = 'none'): string {
  if (v == null || !Number.isFinite(v)) return 'no data';
  if (baseline && baseline !== 'none') return '×' + (Math.round(v * 100) / 100);
  switch (signal) {
    case 'error_rate':
      return fmtPct(v);
    case 'response_time':
    case 'p95':
    case 'p99':
      return fmtMs(v);
    case 'instance_down':
      return Math.round(v) + ' s';
    case 'tps':
      return (Math.round(v * 100) / 100).toString();
    default:
      return String(Math.round(v * 100) / 100);
  }
}

/** The Test button's answer: "would have fired 3 times: 10:05 critical, 10:40 warning …"; the
 *  clock is local time. At most `max` changes are listed. */
export function describeTest(changes: readonly RuleTestChange[], max = 6): string {
  const fired = changes.filter((c) => c.kind === 'firing');
  if (fired.length === 0) {
    return changes.length ? 'would not have fired (' + changes.length + ' other state changes)' : 'would not have fired';
  }
  const list = fired.slice(0, max).map((c) => fmtHourMin(c.at_ms) + ' ' + c.level + (scopeText(c.scope) ? ' (' + scopeText(c.scope) + ')' : ''));
  return 'would have fired ' + (fired.length === 1 ? 'once' : fired.length + ' times') + ': ' + list.join(', ') + (fired.length > max ? ' …' : '');
}

/** "identity · POST /login", "identity · instance id-1", "all services". */
export function scopeText(s: { service?: string; instance?: string; endpoint?: string } | null | undefined): string {
  if (!s || !s.service) return '';
  if (s.endpoint) return s.service + ' · ' + (s.endpoint === '*' ? 'each endpoint' : s.endpoint);
  if (s.instance) return s.service + ' · ' + (s.instance === '*' ? 'each instance' : 'instance ' + s.instance);
  return s.service;
}

export function ruleScopeText(r: Pick<AlertRuleBody, 'service' | 'instance' | 'endpoint'>): string {
  return scopeText(r) || 'whole project';
}

export function signalLabel(signal: string): string {
  return SIGNALS.find((s) => s.value === signal)?.label ?? signal;
}

/** "≥ 5 warn · ≥ 10 crit" in the signal's unit. */
export function thresholdsText(r: Pick<AlertRuleBody, 'signal' | 'comparison' | 'warning' | 'critical' | 'baseline'>): string {
  const op = r.comparison === 'below' ? '≤ ' : '≥ ';
  const parts: string[] = [];
  if (r.warning != null) parts.push(op + fmtSignal(r.signal, r.warning, r.baseline) + ' warning');
  if (r.critical != null) parts.push(op + fmtSignal(r.signal, r.critical, r.baseline) + ' critical');
  return parts.join(' · ');
}

// Alerts, silences and channels as the pages show them: ordering and counting of firing
// alerts, the X-View link of an alert, silence durations, and the channel form whose secret
// (webhook URL) is write-only: an edit sends no `url` unless one was typed.

import type { Alert, AlertChannel, AlertChannelBody, ChannelTestResult, SilenceBody } from '../api/types';
import { ERROR_SIGNALS } from './alertrule';
import type { FieldError } from './alertrule';
import { fmtMs } from './format';

/** Firing before pending, critical before warning, then the newest first. */
export function sortAlerts(alerts: readonly Alert[]): Alert[] {
  const rank = (a: Alert) => (a.state === 'firing' ? 0 : 2) + (a.level === 'critical' ? 0 : 1);
  return alerts.slice().sort((a, b) => rank(a) - rank(b) || b.since_ms - a.since_ms || a.id - b.id);
}

export interface AlertCounts {
  critical: number;
  warning: number;
  pending: number;
}

export function countAlerts(alerts: readonly Alert[]): AlertCounts {
  const c = { critical: 0, warning: 0, pending: 0 };
  for (const a of alerts) {
    if (a.state !== 'firing') c.pending++;
    else if (a.level === 'critical') c.critical++;
    else c.warning++;
  }
  return c;
}

/** CSS-safe level: critical / warning / pending / resolved / normal. */
export function alertLevelClass(state: string, level: string): string {
  if (state === 'resolved') return 'resolved';
  if (state === 'pending') return 'pending';
  return level === 'critical' ? 'critical' : level === 'warning' ? 'warning' : 'normal';
}

/** "3 m", "2 h 05 m", "1 d 3 h": how long since `ms`. */
export function fmtSince(ms: number, nowMs: number): string {
  const s = Math.max(0, Math.floor((nowMs - ms) / 1000));
  if (s < 60) return s + ' s';
  const m = Math.floor(s / 60);
  if (m < 60) return m + ' m';
  const h = Math.floor(m / 60);
  if (h < 24) return h + ' h ' + String(m % 60).padStart(2, '0') + ' m';
  return Math.floor(h / 24) + ' d ' + (h % 24) + ' h';
}

/** Params of the X-View page showing an alert: its scope (a `*` scope is left out), from 15
 *  minutes before it started to 15 minutes after (or now), errors only for error signals. */
export function xviewParamsForAlert(a: Pick<Alert, 'scope' | 'since_ms'>, signal: string, nowMs: number): Record<string, string> {
  const from = a.since_ms - 15 * 60_000;
  const to = Math.min(nowMs, a.since_ms + 15 * 60_000);
  const p: Record<string, string> = { from: String(Math.floor(from)), to: String(Math.ceil(Math.max(to, a.since_ms + 60_000))) };
  const s = a.scope ?? { service: '', instance: '', endpoint: '' };
  if (s.service) p.service = s.service;
  if (s.endpoint && s.endpoint !== '*') p.endpoint = s.endpoint;
  if (s.instance && s.instance !== '*') p.instance = s.instance;
  if (ERROR_SIGNALS.includes(signal)) p.error = '1';
  return p;
}

export const SILENCE_DURATIONS: readonly { label: string; seconds: number }[] = [
  { label: '1 hour', seconds: 3600 },
  { label: '4 hours', seconds: 4 * 3600 },
  { label: '1 day', seconds: 86_400 },
];

/** The body of POST /api/v1/silences muting one alert's rule and scope: a preset duration
 *  (`durationS`) or until `untilMs` (custom). Empty matchers are left out (they would match
 *  everything). */
export function silenceBody(a: Pick<Alert, 'rule_id' | 'scope'>, durationS: number | null, untilMs: number | null, nowMs: number, comment: string): { body: SilenceBody | null; error: string } {
  const body: SilenceBody = {};
  if (a.rule_id) body.rule_id = a.rule_id;
  if (a.scope?.service) body.service = a.scope.service;
  if (a.scope?.instance) body.instance = a.scope.instance;
  if (a.scope?.endpoint) body.endpoint = a.scope.endpoint;
  if (durationS != null) body.duration_s = durationS;
  else if (untilMs != null && Number.isFinite(untilMs) && untilMs > nowMs) body.end_ms = Math.round(untilMs);
  else return { body: null, error: 'end_ms: pick an end in the future' };
  if (comment.trim()) body.comment = comment.trim();
  return { body, error: '' };
}

// ---- Channels

export interface ChannelForm {
  name: string;
  type: string;
  /** One address per line or comma-separated. */
  addresses: string;
  /** Typed URL; '' on an edit means "unchanged". */
  url: string;
  /** Editing a channel that has a stored URL. */
  hasStoredUrl: boolean;
}

export function newChannelForm(type = 'email'): ChannelForm {
  return { name: '', type, addresses: '', url: '', hasStoredUrl: false };
}

export function channelToForm(c: AlertChannel): ChannelForm {
  return { name: c.name, type: c.type, addresses: (c.addresses ?? []).join('\n'), url: '', hasStoredUrl: !!c.has_url };
}

export function parseAddresses(s: string): string[] {
  return s.split(/[\s,;]+/).map((x) => x.trim()).filter(Boolean);
}

/** The body for POST (new) or PUT (edit). A URL is sent only when typed; on an edit an empty
 *  URL keeps the stored one (the server keeps it when `url` is absent). */
export function formToChannel(f: ChannelForm, editing: boolean): { body: AlertChannelBody | null; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const name = f.name.trim();
  if (!name) errors.push({ field: 'name', message: 'name: is required' });
  const body: AlertChannelBody = { name, type: f.type };
  if (f.type === 'email') {
    const list = parseAddresses(f.addresses);
    if (list.length === 0) errors.push({ field: 'addresses', message: 'addresses: at least one address' });
    else if (list.length > 50) errors.push({ field: 'addresses', message: 'addresses: at most 50' });
    else if (list.some((a) => !/^[^@\s]+@[^@\s]+$/.test(a))) errors.push({ field: 'addresses', message: 'addresses: not an e-mail address: ' + list.find((a) => !/^[^@\s]+@[^@\s]+$/.test(a)) });
    body.addresses = list;
  } else {
    const url = f.url.trim();
    if (url) {
      if (!/^https?:\/\/[^\s/]+/.test(url)) errors.push({ field: 'url', message: 'url: must be an http:// or https:// URL' });
      body.url = url;
    } else if (!editing || !f.hasStoredUrl) {
      errors.push({ field: 'url', message: 'url: is required' });
    }
  }
  return errors.length ? { body: null, errors } : { body, errors };
}

/** "ops@example.com, dev@example.com" or the reduced URL ("https://hooks.slack.com/…"). */
export function channelTarget(c: AlertChannel): string {
  if (c.type === 'email') return (c.addresses ?? []).join(', ');
  return c.url || (c.has_url ? '(set)' : '');
}

/** A channel test's answer: "Sent · 200 · 41.0 ms" or "Failed: <why>". */
export function testResultText(t: ChannelTestResult): string {
  if (t.ok) return 'Sent' + (t.status ? ' · ' + t.status : '') + (t.latency_ms != null ? ' · ' + fmtMs(t.latency_ms) : '');
  return 'Failed: ' + (t.error || (t.status ? 'HTTP ' + t.status : 'unknown error'));
}

// Agent settings form ↔ the JSON of /api/v1/agent-config, with the server's validation rules
// (src/control/agent_config.cc ValidateAgentConfig) mirrored so mistakes are shown before
// saving. The server still decides: its 400 message is shown as well. All numbers are whole
// milliseconds / counts, as the server reads them.

import type { AgentConfigBody } from '../api/types';

export const MAX_ACTIVE_LIMIT = 1_000_000;
/** Thresholds, the active-stack threshold: at most a day. */
export const MAX_MS = 86_400_000;
export const MIN_INTERVAL_MS = 100;
export const MAX_INTERVAL_MS = 60_000;
/** 1 to 3 band thresholds (2 to 4 bands, JENNIFER-style 4 allowed). */
export const MAX_BANDS = 3;
export const MAX_ENDPOINT_LIMITS = 100;
export const MAX_PATTERNS = 100;
export const MAX_PATTERN_BYTES = 256;
export const MAX_STRING_BYTES = 1024;

/** What the inputs hold (strings as typed, so a bad value can be shown and fixed). */
export interface ConfigForm {
  /** Up to MAX_BANDS thresholds in ms; trailing blanks are left out. */
  bands: [string, string, string];
  thresholdMs: string;
  intervalMs: string;
  throttleEnabled: boolean;
  maxActive: string;
  action: string;
  redirectUrl: string;
  endpoints: { endpoint: string; limit: string }[];
  methods: string[];
}

/** `field` names the input: bands, threshold_ms, interval_ms, max_active, action,
 *  redirect_url, endpoints (the list), endpoints.N, methods (the list), methods.N. */
export interface FieldError {
  field: string;
  message: string;
}

const num = (v: number | undefined | null): string => (v == null || !Number.isFinite(v) ? '' : String(v));

export function configToForm(c: AgentConfigBody): ConfigForm {
  const b = c.bands_ms ?? [];
  return {
    bands: [num(b[0]), num(b[1]), num(b[2])],
    thresholdMs: num(c.active_stack?.threshold_ms),
    intervalMs: num(c.active_stack?.interval_ms),
    throttleEnabled: !!c.throttle?.enabled,
    maxActive: num(c.throttle?.max_active),
    action: c.throttle?.action || 'reject',
    redirectUrl: c.throttle?.redirect_url ?? '',
    endpoints: Object.entries(c.throttle?.endpoints ?? {})
      .sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))
      .map(([endpoint, limit]) => ({ endpoint, limit: num(limit) })),
    methods: (c.profiling?.methods ?? []).slice(),
  };
}

function utf8Bytes(s: string): number {
  return new TextEncoder().encode(s).length;
}

/** A number typed into an input: NaN when empty or not a number. */
function parseNum(s: string): number {
  const t = s.trim();
  return t === '' ? NaN : Number(t);
}

/** A redirect target, as the server checks it: a path on the same site ("/busy.html", not
 *  "//host") or an absolute http(s) URL; no spaces, backslashes or control characters. */
export function isValidRedirectUrl(s: string): boolean {
  if (!s || /[ \\\u0000-\u001f\u007f]/.test(s)) return false;
  if (s[0] === '/') return s.length === 1 || s[1] !== '/';
  for (const scheme of ['http://', 'https://']) {
    if (s.length > scheme.length && s.startsWith(scheme) && s[scheme.length] !== '/') return true;
  }
  return false;
}

function isIntIn(v: number, lo: number, hi: number): boolean {
  return Number.isInteger(v) && v >= lo && v <= hi;
}

/** Validates the form and builds the PUT body. Blank endpoint rows and blank patterns are
 *  left out (an added row not filled in is not an error). */
export function formToBody(f: ConfigForm): { body: AgentConfigBody | null; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const err = (field: string, message: string) => errors.push({ field, message });

  let last = f.bands.length;
  while (last > 0 && f.bands[last - 1]!.trim() === '') last--;
  const bands = f.bands.slice(0, last).map(parseNum);
  if (bands.length === 0) err('bands', 'Give at least one band threshold.');
  else if (bands.some((v) => !isIntIn(v, 1, MAX_MS))) err('bands', 'Band thresholds must be whole milliseconds from 1 to 86,400,000 (a day), without gaps.');
  else if (bands.some((v, i) => i > 0 && v <= bands[i - 1]!)) err('bands', 'Band thresholds must increase: each one above the one before.');

  const threshold = parseNum(f.thresholdMs);
  const interval = parseNum(f.intervalMs);
  if (!isIntIn(threshold, 0, MAX_MS)) err('threshold_ms', 'The active-stack threshold must be whole milliseconds from 0 to 86,400,000.');
  if (!isIntIn(interval, MIN_INTERVAL_MS, MAX_INTERVAL_MS)) err('interval_ms', 'The sampling interval must be whole milliseconds from 100 to 60,000.');

  // 0 = no per-instance limit (only per-endpoint limits, or throttling off).
  const maxActive = f.maxActive.trim() === '' ? 0 : parseNum(f.maxActive);
  if (!isIntIn(maxActive, 0, MAX_ACTIVE_LIMIT)) err('max_active', 'Max active must be a whole number from 0 (no per-instance limit) to 1,000,000.');
  if (f.action !== 'reject' && f.action !== 'redirect') err('action', 'The action must be reject or redirect.');
  const redirect = f.redirectUrl.trim();
  if (redirect) {
    if (!isValidRedirectUrl(redirect)) err('redirect_url', 'The redirect URL must be a path on the same site (/busy.html) or an http(s):// URL.');
    else if (utf8Bytes(redirect) > MAX_STRING_BYTES) err('redirect_url', 'The redirect URL is longer than 1,024 bytes.');
  } else if (f.action === 'redirect') {
    err('redirect_url', 'Redirecting needs a redirect URL.');
  }

  const endpoints: Record<string, number> = {};
  const rows = f.endpoints.map((r, i) => ({ i, endpoint: r.endpoint.trim(), limit: r.limit.trim() })).filter((r) => r.endpoint || r.limit);
  if (rows.length > MAX_ENDPOINT_LIMITS) err('endpoints', 'At most 100 per-endpoint limits (' + rows.length + ' given).');
  for (const r of rows) {
    const field = 'endpoints.' + r.i;
    const lim = parseNum(r.limit);
    if (!r.endpoint) err(field, 'A per-endpoint limit needs an endpoint.');
    else if (utf8Bytes(r.endpoint) > MAX_STRING_BYTES) err(field, 'The endpoint is longer than 1,024 bytes.');
    else if (Object.prototype.hasOwnProperty.call(endpoints, r.endpoint)) err(field, 'The endpoint "' + r.endpoint + '" is listed twice.');
    else if (!isIntIn(lim, 1, MAX_ACTIVE_LIMIT)) err(field, 'The limit for "' + r.endpoint + '" must be a whole number from 1 to 1,000,000.');
    else endpoints[r.endpoint] = lim;
  }

  const methods: string[] = [];
  const pats = f.methods.map((m, i) => ({ i, m: m.trim() })).filter((p) => p.m);
  if (pats.length > MAX_PATTERNS) err('methods', 'At most 100 method patterns (' + pats.length + ' given).');
  for (const p of pats) {
    if (utf8Bytes(p.m) > MAX_PATTERN_BYTES) err('methods.' + p.i, 'The pattern "' + p.m.slice(0, 40) + '…" is longer than 256 bytes.');
    else if (/[\u0000-\u001f\u007f]/.test(p.m)) err('methods.' + p.i, 'Patterns cannot hold control characters.');
    else if (!methods.includes(p.m)) methods.push(p.m);
  }

  if (f.throttleEnabled && maxActive === 0 && Object.keys(endpoints).length === 0 && !errors.some((e) => e.field === 'max_active' || e.field.startsWith('endpoints'))) {
    err('max_active', 'Throttling needs a max active from 1 to 1,000,000, or per-endpoint limits.');
  }

  if (errors.length) return { body: null, errors };
  return {
    body: {
      bands_ms: bands,
      active_stack: { threshold_ms: threshold, interval_ms: interval },
      throttle: { enabled: f.throttleEnabled, max_active: maxActive, action: f.action, redirect_url: redirect, endpoints },
      profiling: { methods },
    },
    errors,
  };
}

/** True when the form differs from the configuration it was loaded from. */
export function formChanged(f: ConfigForm, loaded: AgentConfigBody): boolean {
  const a = formToBody(f).body;
  if (!a) return true;
  const b = formToBody(configToForm(loaded)).body;
  return !b || canonical(a) !== canonical(b);
}

function canonical(c: AgentConfigBody): string {
  const endpoints = Object.entries(c.throttle.endpoints).sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  return JSON.stringify([c.bands_ms, c.active_stack, { ...c.throttle, endpoints }, c.profiling]);
}

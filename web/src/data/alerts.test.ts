import { describe, expect, it } from 'vitest';
import type { Alert, AlertChannel } from '../api/types';
import { testResultText, channelTarget, channelToForm, countAlerts, fmtSince, formToChannel, newChannelForm, silenceBody, sortAlerts, xviewParamsForAlert } from './alerts';

const scope = { service: 'identity', instance: '', endpoint: 'POST /login' };
const alert = (id: number, state: string, level: string, since: number): Alert =>
  ({ id, rule_id: 12, rule_name: 'r', state, level, value: 1, threshold: 1, since_ms: since, scope, muted: false });

describe('firing alerts', () => {
  it('orders firing critical, firing warning, then pending, newest first within', () => {
    const list = [alert(1, 'pending', 'critical', 9), alert(2, 'firing', 'warning', 5), alert(3, 'firing', 'critical', 1), alert(4, 'firing', 'critical', 7)];
    expect(sortAlerts(list).map((a) => a.id)).toEqual([4, 3, 2, 1]);
  });
  it('counts by level, pending apart', () => {
    expect(countAlerts([alert(1, 'pending', 'critical', 0), alert(2, 'firing', 'warning', 0), alert(3, 'firing', 'critical', 0)])).toEqual({ critical: 1, warning: 1, pending: 1 });
  });
  it('says how long ago', () => {
    expect(fmtSince(0, 59_999)).toBe('59 s');
    expect(fmtSince(0, 3 * 60_000)).toBe('3 m');
    expect(fmtSince(0, 125 * 60_000)).toBe('2 h 05 m');
    expect(fmtSince(0, 27 * 3_600_000)).toBe('1 d 3 h');
    expect(fmtSince(10, 0)).toBe('0 s');
  });
  it('links to the X-View of its scope around its start, errors only for error signals', () => {
    const since = 10_000_000;
    expect(xviewParamsForAlert({ scope, since_ms: since }, 'error_rate', since + 3_600_000)).toEqual({
      from: String(since - 900_000), to: String(since + 900_000), service: 'identity', endpoint: 'POST /login', error: '1',
    });
    const p = xviewParamsForAlert({ scope: { service: 's', instance: '*', endpoint: '' }, since_ms: since }, 'p95', since + 120_000);
    expect(p).toEqual({ from: String(since - 900_000), to: String(since + 120_000), service: 's' });
  });
});

describe('silences', () => {
  it('mutes the alert rule and scope for a preset duration', () => {
    expect(silenceBody(alert(1, 'firing', 'critical', 0), 3600, null, 0, ' deploy ')).toEqual({
      body: { rule_id: 12, service: 'identity', endpoint: 'POST /login', duration_s: 3600, comment: 'deploy' }, error: '',
    });
  });
  it('takes a custom end only in the future', () => {
    expect(silenceBody(alert(1, 'firing', 'critical', 0), null, 5000.4, 1000, '').body).toEqual({ rule_id: 12, service: 'identity', endpoint: 'POST /login', end_ms: 5000 });
    expect(silenceBody(alert(1, 'firing', 'critical', 0), null, 500, 1000, '').body).toBeNull();
    expect(silenceBody(alert(1, 'firing', 'critical', 0), null, NaN, 1000, '').body).toBeNull();
  });
});

describe('channel form', () => {
  const slack: AlertChannel = { id: 3, name: 'ops-slack', type: 'slack', url: 'https://hooks.slack.com/…', has_url: true };
  it('sends no url on an edit unless one is typed ("unchanged")', () => {
    const f = channelToForm(slack);
    expect(f.url).toBe('');
    expect(formToChannel(f, true)).toEqual({ body: { name: 'ops-slack', type: 'slack' }, errors: [] });
    f.url = 'https://hooks.slack.com/services/T/B/x';
    expect(formToChannel(f, true).body).toEqual({ name: 'ops-slack', type: 'slack', url: 'https://hooks.slack.com/services/T/B/x' });
  });
  it('needs a url for a new webhook and checks its scheme', () => {
    const f = newChannelForm('webhook');
    f.name = 'hook';
    expect(formToChannel(f, false).errors.map((e) => e.field)).toEqual(['url']);
    f.url = 'ftp://x';
    expect(formToChannel(f, false).errors[0]!.message).toBe('url: must be an http:// or https:// URL');
  });
  it('reads addresses from lines and commas', () => {
    const f = newChannelForm('email');
    f.name = 'ops-mail';
    f.addresses = 'ops@example.com,\n dev@example.com; ';
    expect(formToChannel(f, false).body).toEqual({ name: 'ops-mail', type: 'email', addresses: ['ops@example.com', 'dev@example.com'] });
    f.addresses = 'ops@example.com, nobody';
    expect(formToChannel(f, false).errors[0]!.message).toBe('addresses: not an e-mail address: nobody');
  });
  it('shows addresses or the reduced url', () => {
    expect(channelTarget(slack)).toBe('https://hooks.slack.com/…');
    expect(channelTarget({ id: 1, name: 'm', type: 'email', addresses: ['a@b', 'c@d'] })).toBe('a@b, c@d');
  });
});

describe('channel test', () => {
  it('says how the attempt went', () => {
    expect(testResultText({ ok: true, status: 200, latency_ms: 41 })).toBe('Sent · 200 · 41.0 ms');
    expect(testResultText({ ok: false, status: 0, error: 'connection refused' })).toBe('Failed: connection refused');
    expect(testResultText({ ok: false, status: 429 })).toBe('Failed: HTTP 429');
  });
});

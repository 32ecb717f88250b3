import { describe, expect, it } from 'vitest';
import type { AlertRuleBody, RuleTestResponse } from '../api/types';
import { ruleBodyOf, describeTest, fieldOfMessage, formToRule, newRuleForm, previewStepS, ruleToForm, seriesColumns, thresholdsText, worstSeries } from './alertrule';

const rule: AlertRuleBody = {
  name: 'identity errors', enabled: true, service: 'identity', instance: '', endpoint: 'POST /login',
  signal: 'error_rate', window_s: 60, for_s: 30, comparison: 'above', warning: 5, critical: 10,
  baseline: 'none', min_volume: 20, no_data: 'ok', channels: [3, 7], repeat_minutes: 15, send_resolved: false,
  quiet_hours: { days: ['sun', 'sat'], from: '22:00', to: '07:00', tz: 'UTC+09:00' },
};

describe('rule form ↔ JSON', () => {
  it('round-trips every member of a rule, quiet hours included', () => {
    const r = formToRule(ruleToForm(rule));
    expect(r.errors).toEqual([]);
    expect(r.body).toEqual(rule);
  });
  it('sends null quiet hours when they are off, and keeps the days in weekday order', () => {
    const f = ruleToForm(rule);
    f.quiet = false;
    expect(formToRule(f).body!.quiet_hours).toBeNull();
    f.quiet = true;
    f.quietDays = ['sun', 'mon', 'sat'];
    expect(formToRule(f).body!.quiet_hours!.days).toEqual(['sun', 'mon', 'sat']);
    f.quietDays = ['fri', 'mon'];
    expect(formToRule(f).body!.quiet_hours!.days).toEqual(['mon', 'fri']);
  });
  it('checks quiet hours before sending', () => {
    const f = ruleToForm(rule);
    f.quietFrom = '25:00';
    f.quietTo = '7:00';
    f.quietTz = 'Asia/Seoul';
    f.quietDays = [];
    const fields = formToRule(f).errors.map((e) => e.field);
    expect(fields).toEqual(['quiet_hours.days', 'quiet_hours.from', 'quiet_hours.to', 'quiet_hours.tz']);
    expect(formToRule(f).body).toBeNull();
  });
  it('allows 24:00 as the end of quiet hours but not an empty period', () => {
    const f = ruleToForm(rule);
    f.quietTo = '24:00';
    expect(formToRule(f).errors).toEqual([]);
    f.quietTo = '22:00';
    expect(formToRule(f).errors.map((e) => e.field)).toEqual(['quiet_hours.to']);
  });
  it('maps the scope picker to service, endpoint or instance', () => {
    const f = ruleToForm(rule);
    f.narrow = 'instance';
    f.narrowValue = '*';
    const b = formToRule(f).body!;
    expect([b.service, b.instance, b.endpoint]).toEqual(['identity', '*', '']);
    f.narrow = 'none';
    expect(formToRule(f).body!.instance).toBe('');
    f.service = '';
    f.narrow = 'endpoint';
    expect(formToRule(f).errors[0]!.field).toBe('endpoint');
  });
  it('needs a name and a threshold, and leaves an empty threshold null', () => {
    const f = newRuleForm();
    expect(formToRule(f).errors.map((e) => e.field)).toEqual(['name', 'critical']);
    f.name = 'x';
    f.warning = '5';
    const b = formToRule(f).body!;
    expect(b.warning).toBe(5);
    expect(b.critical).toBeNull();
    f.warning = 'five';
    expect(formToRule(f).errors).toEqual([{ field: 'warning', message: 'warning: must be a number ≥ 0' }]);
  });
  it('sends event_type and band only with their signals', () => {
    const f = newRuleForm();
    f.name = 'x';
    f.critical = '1';
    f.eventType = 'SQL_EXCEPTION';
    f.band = '2';
    expect(formToRule(f).body).not.toHaveProperty('event_type');
    expect(formToRule(f).body).not.toHaveProperty('band');
    f.signal = 'event';
    expect(formToRule(f).body!.event_type).toBe('SQL_EXCEPTION');
    f.signal = 'active';
    expect(formToRule(f).body!.band).toBe(2);
    f.band = '0';
    expect(formToRule(f).body!.band).toBe(0);
    f.band = '';
    expect(formToRule(f).body!.band).toBe(-1);
    f.signal = 'event';
    f.eventType = ' ';
    expect(formToRule(f).errors.map((e) => e.field)).toEqual(['event_type']);
  });
  it('refuses windows outside 5 s … 1 day', () => {
    const f = ruleToForm(rule);
    f.windowS = '4';
    expect(formToRule(f).errors.map((e) => e.field)).toEqual(['window_s']);
    f.windowS = '60.5';
    expect(formToRule(f).errors.map((e) => e.field)).toEqual(['window_s']);
  });
});

describe('rule answers', () => {
  it('send back only rule members (answers carry id and alert counts)', () => {
    const answered = { ...rule, id: 12, firing: 1, pending: 0, event_type: undefined };
    expect(ruleBodyOf(answered)).toEqual(rule);
    expect(ruleBodyOf({ ...rule, signal: 'active', band: 2 }).band).toBe(2);
  });
});

describe('server errors', () => {
  it('names the field a 400 message starts with', () => {
    expect(fieldOfMessage('warning: must not be above critical')).toEqual({ field: 'warning', message: 'warning: must not be above critical' });
    expect(fieldOfMessage('quiet_hours.tz: must be UTC or UTC±HH:MM').field).toBe('quiet_hours.tz');
    expect(fieldOfMessage('too many rules').field).toBe('body');
    expect(fieldOfMessage('Warning: x').field).toBe('body');
  });
});

describe('preview', () => {
  it('keeps 24 hours within 2,000 steps with a round step', () => {
    expect(previewStepS(86_400_000)).toBe(60);
    expect(previewStepS(3_600_000)).toBe(5);
    expect(previewStepS(2_000 * 5_000)).toBe(5);
    expect(previewStepS(2_000 * 5_000 + 1)).toBe(10);
    expect(86_400 / previewStepS(86_400_000)).toBeLessThanOrEqual(2000);
  });
  it('lays points out on the step grid with gaps', () => {
    const ys = seriesColumns([[1000, 1], [3000, 3], [3500, 4], [9000, 9], [-5, 7], [2000, null]], 1000, 1000, 4);
    expect(Array.from(ys)).toEqual([1, NaN, 4, NaN]);
  });
  it('draws the scope that came closest to the thresholds', () => {
    const res: RuleTestResponse = { changes: [], series: [
      { scope: { service: 'a', instance: '', endpoint: '' }, points: [[0, 3], [1, 9]] },
      { scope: { service: 'b', instance: '', endpoint: '' }, points: [[0, 1], [1, null]] },
    ] };
    expect(worstSeries(res, 'above')).toBe(0);
    expect(worstSeries(res, 'below')).toBe(1);
    expect(worstSeries({ changes: [], series: [] }, 'above')).toBe(-1);
  });
  it('says when the rule would have fired', () => {
    const at = new Date(2026, 0, 1, 10, 5).getTime();
    const s = { service: 'identity', instance: '', endpoint: '' };
    expect(describeTest([])).toBe('would not have fired');
    expect(describeTest([
      { kind: 'firing', level: 'critical', at_ms: at, value: 12, threshold: 10, scope: s },
      { kind: 'resolved', level: 'critical', at_ms: at + 60_000, value: 1, threshold: 10, scope: s },
      { kind: 'firing', level: 'warning', at_ms: at + 35 * 60_000, value: 6, threshold: 5, scope: s },
    ])).toBe('would have fired 2 times: 10:05 critical (identity), 10:40 warning (identity)');
  });
  it('writes thresholds in the signal unit', () => {
    expect(thresholdsText(rule)).toBe('≥ 5.00 % warning · ≥ 10.0 % critical');
    expect(thresholdsText({ ...rule, signal: 'p95', comparison: 'below', warning: null, critical: 1500 })).toBe('≤ 1.50 s critical');
    expect(thresholdsText({ ...rule, baseline: 'yesterday', warning: 2, critical: null })).toBe('≥ ×2 warning');
  });
});

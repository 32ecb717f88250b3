// The alert rule editor: every member of a rule (docs/api.md "Alerts"), a live preview of the
// signal over the last 24 h with the warning and critical lines (the server replays the unsaved
// rule: POST /api/v1/alert-rules/test), a Test button over the last hour, and the server's
// 400 shown next to the field it names.

import { ApiError } from '../api/client';
import type { AlertChannel, AlertRule, RuleTestResponse } from '../api/types';
import type { App } from '../app';
import { LineChart } from '../charts/line';
import { COLORS } from '../charts/schedule';
import { SIGNALS, WEEKDAYS, describeTest, fieldOfMessage, fmtSignal, formToRule, newRuleForm, previewStepS, ruleToForm, scopeText, seriesColumns, worstSeries } from '../data/alertrule';
import type { FieldError, RuleForm } from '../data/alertrule';
import { EVENT_TYPES } from '../data/events';
import { h, replace } from '../ui/dom';

const PREVIEW_SPAN_MS = 24 * 3_600_000;
const PREVIEW_DEBOUNCE_MS = 700;
/** The preview follows new data while the editor is open (one request; the step is a minute). */
const PREVIEW_REFRESH_MS = 30_000;
const WARN_COLOR = '#ffc857';
const CRIT_COLOR = '#ff4d4f';

const previewSteps = (stepS: number) => Math.floor(PREVIEW_SPAN_MS / (stepS * 1000));

export interface RuleEditor {
  el: HTMLElement;
  dispose(): void;
}

/** `rule` null: a new rule. `done(saved)` is called after a save or delete (true) or cancel. */
export function ruleEditor(app: App, rule: AlertRule | null, channels: AlertChannel[], done: (changed: boolean) => void): RuleEditor {
  const ac = new AbortController();
  let previewAc = new AbortController();
  let previewTimer = 0;
  let busy = false;
  const form: RuleForm = rule ? ruleToForm(rule) : newRuleForm();

  // ---- Inputs (each knows the form member it edits)
  const text = (testid: string, label: string, attrs: Record<string, string> = {}) =>
    h('input', { class: 'inp', testid, attrs: { type: 'text', spellcheck: 'false', 'aria-label': label, ...attrs } });
  const number = (testid: string, label: string, attrs: Record<string, string> = {}) =>
    h('input', { class: 'inp num-in', testid, attrs: { type: 'number', step: 'any', 'aria-label': label, ...attrs } });
  const select = (testid: string, label: string, options: [string, string][]) =>
    h('select', { class: 'sel', testid, attrs: { 'aria-label': label } }, ...options.map(([v, t]) => h('option', { text: t, attrs: { value: v } })));

  const name = text('rule-name', 'Name', { maxlength: '200', placeholder: 'identity errors' });
  name.classList.add('wide');
  const enabled = h('input', { testid: 'rule-enabled', attrs: { type: 'checkbox' } });
  // The rule's own service is an option from the start: the list of services arrives later,
  // and reading the inputs before then must not drop the rule's scope.
  const service = select('rule-service', 'Service', [['', 'Whole project'], ...(form.service ? [[form.service, form.service] as [string, string]] : [])]);
  const narrow = select('rule-narrow', 'Narrow to', [['none', 'the whole service'], ['endpoint', 'an endpoint'], ['instance', 'an instance']]);
  const narrowList = h('datalist', { attrs: { id: 'rule-narrow-list' } });
  const narrowValue = text('rule-narrow-value', 'Endpoint or instance', { list: 'rule-narrow-list', placeholder: '* = each one separately' });
  narrowValue.classList.add('wide');
  const signal = select('rule-signal', 'Signal', SIGNALS.map((s) => [s.value, s.label]));
  const typeList = h('datalist', { attrs: { id: 'rule-event-types' } }, ...EVENT_TYPES.map((t) => h('option', { attrs: { value: t } })));
  const eventType = text('rule-event-type', 'Event type', { list: 'rule-event-types', placeholder: 'SQL_EXCEPTION', maxlength: '64' });
  const band = select('rule-band', 'Band', [['-1', 'all bands'], ['0', 'band 1 (normal)'], ['1', 'band 2 (slow)'], ['2', 'band 3 (very slow)'], ['3', 'band 4']]);
  const windowS = number('rule-window', 'Window (s)', { min: '5', max: '86400', step: '1' });
  const forS = number('rule-for', 'For (s)', { min: '0', max: '86400', step: '1' });
  const comparison = select('rule-comparison', 'Comparison', [['above', 'at or above'], ['below', 'at or below']]);
  const warning = number('rule-warning', 'Warning threshold', { min: '0' });
  const critical = number('rule-critical', 'Critical threshold', { min: '0' });
  const baseline = select('rule-baseline', 'Compare with', [['none', 'the threshold as is'], ['yesterday', 'the same window yesterday (ratio)'], ['last_week', 'the same window last week (ratio)']]);
  const minVolume = number('rule-min-volume', 'Minimum calls', { min: '0', step: '1' });
  const noData = select('rule-no-data', 'No data', [['keep', 'keep the state'], ['ok', 'counts as normal'], ['alerting', 'fires critical']]);
  const chanBox = h('div', { class: 'chk-list', testid: 'rule-channels' });
  const repeat = number('rule-repeat', 'Repeat every (minutes)', { min: '0', max: '10080', step: '1' });
  const sendResolved = h('input', { testid: 'rule-send-resolved', attrs: { type: 'checkbox' } });
  const quiet = h('input', { testid: 'rule-quiet', attrs: { type: 'checkbox' } });
  const dayBoxes = WEEKDAYS.map((d) => h('input', { testid: 'rule-quiet-' + d, attrs: { type: 'checkbox', value: d } }));
  // HH:MM as text, not <input type=time>: the end may be 24:00.
  const quietFrom = h('input', { class: 'inp clock-in', testid: 'rule-quiet-from', attrs: { type: 'text', maxlength: '5', placeholder: '22:00', 'aria-label': 'Quiet from' } });
  const quietTo = h('input', { class: 'inp clock-in', testid: 'rule-quiet-to', attrs: { type: 'text', maxlength: '5', placeholder: '07:00', 'aria-label': 'Quiet until' } });
  // IANA zones follow daylight saving; the browser's own comes first.
  const browserTz = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  const zones = [browserTz, 'UTC', 'Europe/London', 'Europe/Berlin', 'America/New_York', 'America/Los_Angeles', 'Asia/Seoul', 'Asia/Tokyo', 'Asia/Kolkata', 'Australia/Sydney', 'UTC+09:00', 'UTC-05:00'];
  const tzList = h('datalist', { attrs: { id: 'rule-tz-list' } }, ...[...new Set(zones)].map((t) => h('option', { attrs: { value: t } })));
  const quietTz = text('rule-quiet-tz', 'Time zone', { list: 'rule-tz-list', placeholder: browserTz });

  // ---- Rows with a place for the field's error
  const errSpans = new Map<string, HTMLElement>();
  const row = (label: string, fields: string[], ...inputs: (Node | string | null)[]) => {
    const err = h('span', { class: 'field-err', testid: 'err-' + fields[0], attrs: { role: 'alert' } });
    for (const f of fields) errSpans.set(f, err);
    return h('div', { class: 'form-row rule-row' }, h('span', { class: 'form-label', text: label }), h('div', { class: 'rule-inputs' }, ...inputs), err);
  };
  const rowEventType = row('Event type', ['event_type'], eventType, typeList);
  const rowBand = row('Band', ['band'], band);
  const rowMinVolume = row('Minimum calls', ['min_volume'], minVolume, h('span', { class: 'form-help', text: 'scopes with fewer calls in the window stay normal' }));
  const quietRows = h('div', { class: 'form-grid' },
    row('Days', ['quiet_hours.days', 'quiet_hours'], ...WEEKDAYS.map((d, i) => h('label', { class: 'fld chk' }, dayBoxes[i]!, d))),
    row('From … to', ['quiet_hours.from', 'quiet_hours.to'], quietFrom, '…', quietTo, h('span', { class: 'form-help', text: 'an end before the start runs past midnight' })),
    row('Time zone', ['quiet_hours.tz'], quietTz, tzList));

  const generalErr = h('div', { class: 'form-errors', testid: 'rule-errors', attrs: { role: 'alert' } });
  const saveBtn = h('button', { class: 'btn primary', text: rule ? 'Save rule' : 'Create rule', testid: 'rule-save', attrs: { type: 'submit' } });
  const cancelBtn = h('button', { class: 'btn', text: 'Cancel', testid: 'rule-cancel', attrs: { type: 'button' } });
  const testBtn = h('button', { class: 'btn', text: 'Test (last hour)', testid: 'rule-test', attrs: { type: 'button' } });
  const deleteBtn = rule ? h('button', { class: 'btn danger', text: 'Delete rule', testid: 'rule-delete', attrs: { type: 'button' } }) : null;
  const testOut = h('div', { class: 'test-out', testid: 'rule-test-result', attrs: { role: 'status' } });
  const previewInfo = h('div', { class: 'status-line', testid: 'rule-preview-info' });
  const previewBody = h('div', { class: 'chart-body preview-chart' });
  const chart = new LineChart(previewBody, { color: COLORS.accent, format: (v) => fmtSignal(form.signal, v, form.baseline) }, 'rule-preview');

  const formEl = h('form', { class: 'rule-form', testid: 'rule-form', attrs: { novalidate: '' } },
    h('section', { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h2', { text: rule ? 'Edit rule' : 'New rule' }), rule ? h('span', { class: 'muted small-text', text: '#' + rule.id }) : null),
      h('div', { class: 'panel-body form-grid' },
        row('Name', ['name'], name, h('label', { class: 'fld chk' }, enabled, 'enabled')),
        row('Scope', ['service'], service),
        row('Narrow to', ['endpoint', 'instance'], narrow, narrowValue, narrowList),
        row('Signal', ['signal'], signal),
        rowEventType,
        rowBand,
        row('Window', ['window_s'], windowS, h('span', { class: 'form-help', text: 's · the span the signal is computed over' })),
        row('For', ['for_s'], forS, h('span', { class: 'form-help', text: 's · how long it must hold before firing (pending meanwhile)' })),
        row('Fires when', ['comparison'], comparison),
        row('Warning', ['warning'], warning),
        row('Critical', ['critical'], critical),
        row('Compare with', ['baseline'], baseline),
        rowMinVolume,
        row('No data', ['no_data'], noData))),
    h('section', { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h2', { text: 'Preview · last 24 h' }), previewInfo),
      previewBody,
      h('div', { class: 'panel-head' }, h('h2', { text: 'Notifications' })),
      h('div', { class: 'panel-body form-grid' },
        row('Channels', ['channels'], chanBox),
        row('Repeat every', ['repeat_minutes'], repeat, h('span', { class: 'form-help', text: 'minutes while firing (0: never)' })),
        row('Resolved', ['send_resolved'], h('label', { class: 'fld chk' }, sendResolved, 'send a message when it resolves')),
        row('Quiet hours', [], h('label', { class: 'fld chk' }, quiet, 'hold notifications at these times')),
        quietRows)),
    h('div', { class: 'form-actions panel' },
      generalErr,
      h('div', { class: 'form-buttons' }, saveBtn, cancelBtn, testBtn, h('div', { class: 'header-spacer' }), deleteBtn),
      testOut));

  // ---- Form ↔ inputs
  function fillInputs(): void {
    name.value = form.name;
    enabled.checked = form.enabled;
    service.value = form.service;
    narrow.value = form.narrow;
    narrowValue.value = form.narrowValue;
    signal.value = form.signal;
    eventType.value = form.eventType;
    band.value = form.band || '-1';
    windowS.value = form.windowS;
    forS.value = form.forS;
    comparison.value = form.comparison;
    warning.value = form.warning;
    critical.value = form.critical;
    baseline.value = form.baseline;
    minVolume.value = form.minVolume;
    noData.value = form.noData;
    repeat.value = form.repeatMinutes;
    sendResolved.checked = form.sendResolved;
    quiet.checked = form.quiet;
    dayBoxes.forEach((b) => (b.checked = form.quietDays.includes(b.value)));
    quietFrom.value = form.quietFrom;
    quietTo.value = form.quietTo;
    quietTz.value = form.quietTz;
    renderChannels();
  }

  function readInputs(): void {
    form.name = name.value;
    form.enabled = enabled.checked;
    form.service = service.value;
    form.narrow = narrow.value;
    form.narrowValue = narrowValue.value;
    form.signal = signal.value;
    form.eventType = eventType.value;
    form.band = band.value;
    form.windowS = windowS.value;
    form.forS = forS.value;
    form.comparison = comparison.value;
    form.warning = warning.value;
    form.critical = critical.value;
    form.baseline = baseline.value;
    form.minVolume = minVolume.value;
    form.noData = noData.value;
    form.repeatMinutes = repeat.value;
    form.sendResolved = sendResolved.checked;
    form.quiet = quiet.checked;
    form.quietDays = dayBoxes.filter((b) => b.checked).map((b) => b.value);
    form.quietFrom = quietFrom.value;
    form.quietTo = quietTo.value;
    form.quietTz = quietTz.value;
  }

  function sync(): void {
    // Without a service there is nothing to narrow (and the picker is disabled).
    if (!form.service && form.narrow !== 'none') {
      form.narrow = 'none';
      narrow.value = 'none';
    }
    rowEventType.classList.toggle('hidden', form.signal !== 'event');
    rowBand.classList.toggle('hidden', form.signal !== 'active');
    rowMinVolume.classList.toggle('hidden', form.baseline === 'none');
    narrowValue.classList.toggle('hidden', form.narrow === 'none');
    narrow.disabled = !form.service;
    quietRows.classList.toggle('dim', !form.quiet);
    for (const x of quietRows.querySelectorAll<HTMLInputElement>('input')) x.disabled = !form.quiet;
  }

  function renderChannels(): void {
    if (channels.length === 0) {
      replace(chanBox, h('span', { class: 'muted small-text' }, 'No channels yet: ', h('a', { text: 'add one', attrs: { href: app.href('alert-channels') } }), ' (the rule still fires and shows here).'));
      return;
    }
    replace(chanBox, ...channels.map((c) => {
      const b = h('input', { attrs: { type: 'checkbox', value: String(c.id), 'data-name': c.name } });
      b.checked = form.channels.includes(c.id);
      b.addEventListener('change', () => {
        form.channels = b.checked ? [...form.channels.filter((x) => x !== c.id), c.id] : form.channels.filter((x) => x !== c.id);
        changed();
      });
      return h('label', { class: 'fld chk', testid: 'rule-channel' }, b, c.name, h('span', { class: 'muted small-text', text: ' (' + c.type + ')' }));
    }));
  }

  function showErrors(list: FieldError[]): void {
    for (const s of errSpans.values()) s.textContent = '';
    for (const x of formEl.querySelectorAll('.invalid')) x.classList.remove('invalid');
    const general: string[] = [];
    for (const e of list) {
      const span = errSpans.get(e.field) ?? errSpans.get(e.field.split('.')[0]!);
      if (!span) {
        general.push(e.message);
        continue;
      }
      span.textContent = span.textContent ? span.textContent + '; ' + e.message : e.message;
      span.closest('.form-row')?.querySelectorAll('input, select').forEach((x) => x.classList.add('invalid'));
    }
    replace(generalErr, ...general.map((m) => h('div', { class: 'err-text', text: m })));
  }

  // ---- Scope pickers: services from the instances, endpoints of the chosen service (24 h).
  let scopeKey = '';
  function loadScopeOptions(): void {
    const key = form.service + '|' + form.narrow;
    if (key === scopeKey) return;
    scopeKey = key;
    replace(narrowList, h('option', { attrs: { value: '*' } }, 'each one separately'));
    if (!form.service || form.narrow === 'none') return;
    const fill = (names: string[]) => {
      if (scopeKey !== key) return;
      replace(narrowList, h('option', { attrs: { value: '*' } }, 'each one separately'), ...names.map((n) => h('option', { attrs: { value: n } })));
    };
    if (form.narrow === 'instance') {
      app.instances().then((list) => fill(list.filter((i) => i.service === form.service).map((i) => i.instance))).catch(() => {});
    } else {
      const now = Date.now();
      app.api.endpoints({ service: form.service, from: now - PREVIEW_SPAN_MS, to: now }, ac.signal)
        .then((r) => fill((r.endpoints ?? []).map((e) => e.endpoint)))
        .catch(() => {});
    }
  }
  app.instances().then((list) => {
    const names = Array.from(new Set(list.map((i) => i.service).concat(form.service ? [form.service] : []))).sort();
    replace(service, h('option', { text: 'Whole project', attrs: { value: '' } }), ...names.map((n) => h('option', { text: n, attrs: { value: n } })));
    service.value = form.service;
  }).catch(() => {
    if (form.service) service.appendChild(h('option', { text: form.service, attrs: { value: form.service } }));
    service.value = form.service;
  });

  // ---- Preview: the unsaved rule replayed over the last 24 h.
  function schedulePreview(): void {
    window.clearTimeout(previewTimer);
    previewTimer = window.setTimeout(runPreview, PREVIEW_DEBOUNCE_MS);
  }

  function runPreview(): void {
    window.clearTimeout(previewTimer);
    previewTimer = window.setTimeout(runPreview, PREVIEW_REFRESH_MS);
    const res = formToRule({ ...form, name: form.name.trim() || 'preview' });
    if (!res.body) {
      previewInfo.textContent = 'Preview waits for: ' + res.errors.map((e) => e.field).join(', ');
      return;
    }
    previewAc.abort();
    previewAc = new AbortController();
    // The replay evaluates at from, from + step, … before `to`: start the grid so that its last
    // step falls a second before now, or the newest minute (all a fresh server has) is missed.
    const to = Date.now();
    const stepS = previewStepS(PREVIEW_SPAN_MS);
    const from = to - (previewSteps(stepS) - 1) * stepS * 1000 - 1000;
    previewInfo.textContent = 'Loading…';
    formEl.setAttribute('data-preview', 'loading');
    const body = res.body;
    app.api.testAlertRule({ body }, { from, to, step_s: stepS }, previewAc.signal)
      .then((t) => {
        drawPreview(t, from, stepS, body.warning, body.critical);
        formEl.setAttribute('data-preview', 'ready');
      })
      .catch((e: unknown) => {
        if (e instanceof DOMException && e.name === 'AbortError') return;
        formEl.setAttribute('data-preview', 'error');
        previewInfo.textContent = 'No preview: ' + (e instanceof Error ? e.message : String(e));
      });
  }

  function drawPreview(t: RuleTestResponse, from: number, stepS: number, warn: number | null, crit: number | null): void {
    const n = previewSteps(stepS);
    const i = worstSeries(t, form.comparison);
    const s = i >= 0 ? t.series[i]! : null;
    chart.setData(from, stepS * 1000, s ? seriesColumns(s.points, from, stepS * 1000, n) : new Float64Array(n).fill(NaN));
    const fmt = (v: number) => fmtSignal(form.signal, v, form.baseline);
    chart.setMarks({
      levels: [
        ...(warn != null ? [{ value: warn, color: WARN_COLOR, label: 'warning ' + fmt(warn) }] : []),
        ...(crit != null ? [{ value: crit, color: CRIT_COLOR, label: 'critical ' + fmt(crit) }] : []),
      ],
      marks: (t.changes ?? []).map((c) => ({ t: c.at_ms, color: c.kind === 'resolved' ? '#3ddc97' : c.level === 'critical' ? CRIT_COLOR : WARN_COLOR })),
    });
    const parts: string[] = [];
    if (t.series.length > 1 && s) parts.push(t.series.length + ' scopes, showing ' + (scopeText(s.scope) || 'the project'));
    else if (t.series.length === 0) parts.push('no data in the last 24 h');
    parts.push(describeTest(t.changes ?? [], 3));
    previewInfo.textContent = parts.join(' · ');
  }

  // ---- Events
  let errorsShown = false;
  function changed(): void {
    readInputs();
    sync();
    loadScopeOptions();
    if (errorsShown) showErrors(formToRule(form).errors);
    schedulePreview();
  }
  for (const x of [name, narrowValue, eventType, windowS, forS, warning, critical, minVolume, repeat, quietFrom, quietTo, quietTz]) x.addEventListener('input', changed);
  for (const x of [enabled, service, narrow, signal, band, comparison, baseline, noData, sendResolved, quiet, ...dayBoxes]) x.addEventListener('change', changed);

  const serverError = (e: unknown): void => {
    if (e instanceof DOMException && e.name === 'AbortError') return;
    if (e instanceof ApiError && e.status === 400) showErrors([fieldOfMessage(e.message)]);
    else showErrors([{ field: 'body', message: (e instanceof ApiError ? e.status + ' ' + e.code + ': ' : '') + (e instanceof Error ? e.message : String(e)) }]);
  };

  formEl.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (busy) return;
    readInputs();
    const res = formToRule(form);
    errorsShown = true;
    showErrors(res.errors);
    if (!res.body) return;
    busy = true;
    saveBtn.disabled = true;
    const p = rule ? app.api.updateAlertRule(rule.id, res.body, ac.signal) : app.api.createAlertRule(res.body, ac.signal);
    p.then(() => done(true)).catch(serverError).finally(() => {
      busy = false;
      saveBtn.disabled = false;
    });
  });
  cancelBtn.addEventListener('click', () => done(false));
  testBtn.addEventListener('click', () => {
    readInputs();
    const res = formToRule(form);
    errorsShown = true;
    showErrors(res.errors);
    if (!res.body) return;
    testOut.textContent = 'Replaying the last hour…';
    testBtn.disabled = true;
    app.api.testAlertRule({ body: res.body }, {}, ac.signal)
      .then((t) => (testOut.textContent = 'Over the last hour this rule ' + describeTest(t.changes ?? [])))
      .catch((e: unknown) => {
        testOut.textContent = '';
        serverError(e);
      })
      .finally(() => (testBtn.disabled = false));
  });
  deleteBtn?.addEventListener('click', () => {
    if (!rule || !window.confirm('Delete the rule "' + rule.name + '"? Its alerts stop and its history stays.')) return;
    app.api.deleteAlertRule(rule.id, ac.signal).then(() => done(true)).catch(serverError);
  });

  fillInputs();
  readInputs();
  sync();
  loadScopeOptions();
  runPreview();
  return {
    el: formEl,
    dispose() {
      window.clearTimeout(previewTimer);
      ac.abort();
      previewAc.abort();
      chart.dispose();
    },
  };
}

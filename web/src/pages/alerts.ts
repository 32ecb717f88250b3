// Alerts: what is pending or firing now (level, rule, scope, value against threshold, since,
// muted) with a link to the X-View of its scope and time and "Silence…"; the history of state
// changes (filterable by rule, `rule=` in the URL); and the silences, which can be deleted.
// Refreshed every 5 s, the evaluation interval.

import { ApiError, isUnsupported } from '../api/client';
import type { Alert, AlertChange, AlertRule, Silence } from '../api/types';
import type { App, PageHandle } from '../app';
import { fmtSignal, scopeText } from '../data/alertrule';
import { SILENCE_DURATIONS, alertLevelClass, countAlerts, fmtSince, silenceBody, sortAlerts, xviewParamsForAlert } from '../data/alerts';
import { fmtDateTime, fromDateTimeLocal, toDateTimeLocal } from '../data/format';
import type { Route } from '../data/urlstate';
import { h, note, replace } from '../ui/dom';
import { alertTabs } from './alertnav';

const POLL_MS = 5000;
const HISTORY_PRESETS: Record<string, number> = { '1h': 3_600_000, '6h': 6 * 3_600_000, '24h': 24 * 3_600_000 };

export function alertsPage(app: App, route: Route): PageHandle {
  let r = route;
  let ac = new AbortController();
  let timer = 0;
  /** Only the newest poll draws and re-arms the timer (a range change polls at once). */
  let pollSeq = 0;
  let disposed = false;
  let rules = new Map<number, AlertRule>();
  let alerts: Alert[] = [];
  let history: AlertChange[] = [];
  let silences: Silence[] = [];

  const info = h('span', { class: 'status-line', testid: 'alerts-info' });
  const ruleSel = h('select', { class: 'sel', testid: 'alerts-rule', attrs: { 'aria-label': 'Rule' } });
  ruleSel.addEventListener('change', () => app.setParams({ rule: ruleSel.value }, true));
  const presetBtns = Object.keys(HISTORY_PRESETS).map((p) =>
    h('button', { class: 'btn seg', text: p, testid: 'history-' + p, attrs: { type: 'button' }, on: { click: () => app.setParams({ range: p }, true) } }));

  const nowMsg = h('div');
  const nowBody = h('tbody');
  const nowTable = h('table', { class: 'tbl alerts-table', testid: 'alerts-now' },
    h('thead', null, h('tr', null, h('th', { text: 'Level' }), h('th', { text: 'Rule' }), h('th', { text: 'Scope' }), h('th', { class: 'num', text: 'Value' }),
      h('th', { class: 'num', text: 'Threshold' }), h('th', { text: 'Since' }), h('th'), h('th'))), nowBody);
  const silenceHost = h('div');
  const histMsg = h('div');
  const histBody = h('tbody');
  const histTable = h('table', { class: 'tbl alerts-table', testid: 'alerts-history' },
    h('thead', null, h('tr', null, h('th', { text: 'Time' }), h('th', { text: 'Change' }), h('th', { text: 'Rule' }), h('th', { text: 'Scope' }),
      h('th', { class: 'num', text: 'Value' }), h('th', { class: 'num', text: 'Threshold' }), h('th', { text: 'Notified' }))), histBody);
  const silMsg = h('div');
  const silBody = h('tbody');
  const silTable = h('table', { class: 'tbl', testid: 'silences' },
    h('thead', null, h('tr', null, h('th', { text: 'Rule' }), h('th', { text: 'Scope' }), h('th', { text: 'From' }), h('th', { text: 'Until' }), h('th', { text: 'Comment' }), h('th'))), silBody);

  const el = h('div', { class: 'alerting-page', testid: 'alerts-page' },
    alertTabs(app, 'alerts', h('span', { class: 'tb-sep' }), info),
    h('section', { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h2', { text: 'Firing and pending now' })),
      silenceHost,
      h('div', { class: 'panel-body table-scroll' }, nowMsg, nowTable)),
    h('section', { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h2', { text: 'History' }), h('div', { class: 'header-spacer' }),
        h('label', { class: 'fld' }, h('span', { text: 'Rule' }), ruleSel), h('div', { class: 'seg-group' }, ...presetBtns)),
      h('div', { class: 'panel-body table-scroll history-scroll' }, histMsg, histTable)),
    h('section', { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h2', { text: 'Silences' }), h('span', { class: 'muted small-text', text: 'muted alerts still change state; their notifications are held' })),
      h('div', { class: 'panel-body table-scroll' }, silMsg, silTable)));

  const signalOf = (ruleId: number) => rules.get(ruleId)?.signal ?? '';
  const baselineOf = (ruleId: number) => rules.get(ruleId)?.baseline ?? 'none';
  const ruleLink = (id: number, name: string) =>
    rules.has(id) ? h('a', { text: name, attrs: { href: app.href('alert-rules', { edit: String(id) }) } }) : h('span', { text: name });

  function renderNow(): void {
    const now = Date.now();
    const list = sortAlerts(alerts);
    nowTable.classList.toggle('hidden', list.length === 0);
    replace(nowMsg, list.length === 0 ? note('Nothing is firing.', 'empty') : null);
    replace(nowBody, ...list.map((a) => {
      const lvl = alertLevelClass(a.state, a.level);
      const sig = signalOf(a.rule_id);
      const silenceBtn = h('button', { class: 'btn small', text: 'Silence…', testid: 'alert-silence', attrs: { type: 'button' }, on: { click: () => openSilence(a) } });
      return h('tr', { class: 'alert-row lvl-' + lvl, testid: 'alert-row', attrs: { 'data-level': lvl, 'data-state': a.state, 'data-rule': String(a.rule_id) } },
        h('td', null, h('span', { class: 'lvl-badge ' + lvl, text: a.state === 'pending' ? 'pending' : a.level })),
        h('td', null, ruleLink(a.rule_id, a.rule_name)),
        h('td', { class: 'ellipsis', text: scopeText(a.scope) || 'whole project', title: scopeText(a.scope) }),
        h('td', { class: 'num', text: fmtSignal(sig, a.value, baselineOf(a.rule_id)) }),
        h('td', { class: 'num muted', text: fmtSignal(sig, a.threshold, baselineOf(a.rule_id)) }),
        h('td', { class: 'nowrap', title: fmtDateTime(a.since_ms, false) }, fmtSince(a.since_ms, now), h('span', { class: 'muted small-text', text: ' · ' + fmtDateTime(a.since_ms, false).slice(11) })),
        h('td', null, a.muted ? h('span', { class: 'badge', text: 'MUTED', testid: 'alert-muted' }) : null),
        h('td', { class: 'nowrap' },
          h('a', { class: 'btn small ghost', text: 'X-View', testid: 'alert-xview', attrs: { href: app.href('xview', xviewParamsForAlert(a, sig, now)) } }), ' ', silenceBtn));
    }));
  }

  function renderHistory(): void {
    const ruleId = Number(r.params.rule) || 0;
    const list = ruleId ? history.filter((c) => c.rule_id === ruleId) : history;
    const sorted = list.slice().sort((a, b) => b.at_ms - a.at_ms);
    histTable.classList.toggle('hidden', sorted.length === 0);
    replace(histMsg, sorted.length === 0 ? note('No state changes in this range' + (ruleId ? ' for this rule' : '') + '.', 'empty') : null);
    replace(histBody, ...sorted.slice(0, 500).map((c) => {
      const lvl = c.kind === 'resolved' ? 'resolved' : alertLevelClass('firing', c.level);
      const sig = signalOf(c.rule_id);
      const label = c.kind === 'resolved' ? 'resolved' : c.kind === 'level' ? 'now ' + c.level : 'fired ' + c.level;
      return h('tr', { class: 'lvl-' + lvl, testid: 'history-row', attrs: { 'data-kind': c.kind } },
        h('td', { class: 'nowrap muted', text: fmtDateTime(c.at_ms, false) }),
        h('td', null, h('span', { class: 'lvl-text ' + lvl, text: label })),
        h('td', null, ruleLink(c.rule_id, c.rule_name)),
        h('td', { class: 'ellipsis', text: scopeText(c.scope) || 'whole project', title: scopeText(c.scope) }),
        h('td', { class: 'num', text: fmtSignal(sig, c.value, baselineOf(c.rule_id)) }),
        h('td', { class: 'num muted', text: fmtSignal(sig, c.threshold, baselineOf(c.rule_id)) }),
        h('td', { class: c.notified ? '' : 'muted', text: c.notified ? 'yes' : 'no' }));
    }));
  }

  function fillRuleSel(): void {
    const cur = r.params.rule ?? '';
    const names = new Map<number, string>();
    for (const [id, rule] of rules) names.set(id, rule.name);
    for (const c of history) if (!names.has(c.rule_id)) names.set(c.rule_id, c.rule_name);
    replace(ruleSel, h('option', { text: 'All rules', attrs: { value: '' } }),
      ...Array.from(names).sort((a, b) => a[1].localeCompare(b[1])).map(([id, n]) => h('option', { text: n, attrs: { value: String(id) } })));
    if (cur && !names.has(Number(cur))) ruleSel.appendChild(h('option', { text: 'rule #' + cur, attrs: { value: cur } }));
    ruleSel.value = cur;
  }

  function renderSilences(): void {
    silTable.classList.toggle('hidden', silences.length === 0);
    replace(silMsg, silences.length === 0 ? note('No silences.', 'empty') : null);
    replace(silBody, ...silences.slice().sort((a, b) => a.end_ms - b.end_ms).map((s) => {
      const del = h('button', { class: 'btn small ghost danger', text: 'Delete', testid: 'silence-delete', attrs: { type: 'button' } });
      del.addEventListener('click', () => {
        if (!window.confirm('Delete this silence? Held notifications of still-firing alerts are then sent.')) return;
        app.api.deleteSilence(s.id, ac.signal).then(() => loadSilences()).catch((e: unknown) => replace(silMsg, note('Could not delete: ' + (e instanceof Error ? e.message : String(e)), 'error')));
      });
      return h('tr', { testid: 'silence-row' },
        h('td', null, s.rule_id ? ruleLink(s.rule_id, rules.get(s.rule_id)?.name ?? 'rule #' + s.rule_id) : h('span', { class: 'muted', text: 'all rules' })),
        h('td', { class: 'ellipsis', text: scopeText({ service: s.service ?? '', instance: s.instance ?? '', endpoint: s.endpoint ?? '' }) || 'everything' }),
        h('td', { class: 'nowrap muted', text: fmtDateTime(s.start_ms, false) }),
        h('td', { class: 'nowrap', text: fmtDateTime(s.end_ms, false) }),
        h('td', { class: 'ellipsis', text: s.comment ?? '' }),
        h('td', null, del));
    }));
  }

  /** "Silence…": the alert's rule and scope, for 1 h / 4 h / 1 d or until a chosen time. */
  function openSilence(a: Alert): void {
    let duration: number | null = SILENCE_DURATIONS[0]!.seconds;
    const btns = SILENCE_DURATIONS.map((d) => h('button', { class: 'btn seg', text: d.label, attrs: { type: 'button', 'data-s': String(d.seconds) } }));
    const customBtn = h('button', { class: 'btn seg', text: 'custom', testid: 'silence-custom', attrs: { type: 'button' } });
    const until = h('input', { class: 'inp hidden', testid: 'silence-until', attrs: { type: 'datetime-local', 'aria-label': 'Until' } });
    until.value = toDateTimeLocal(Date.now() + 2 * 3_600_000);
    const comment = h('input', { class: 'inp wide', testid: 'silence-comment', attrs: { type: 'text', placeholder: 'why (optional)', maxlength: '500' } });
    const err = h('span', { class: 'err-text', attrs: { role: 'alert' } });
    const pick = (s: number | null) => {
      duration = s;
      btns.forEach((b) => b.classList.toggle('active', Number(b.getAttribute('data-s')) === s));
      customBtn.classList.toggle('active', s === null);
      until.classList.toggle('hidden', s !== null);
    };
    btns.forEach((b) => b.addEventListener('click', () => pick(Number(b.getAttribute('data-s')))));
    customBtn.addEventListener('click', () => pick(null));
    pick(duration);
    const ok = h('button', { class: 'btn primary', text: 'Silence', testid: 'silence-create', attrs: { type: 'button' } });
    const cancel = h('button', { class: 'btn', text: 'Cancel', attrs: { type: 'button' }, on: { click: () => replace(silenceHost) } });
    ok.addEventListener('click', () => {
      const res = silenceBody(a, duration, fromDateTimeLocal(until.value), Date.now(), comment.value);
      if (!res.body) {
        err.textContent = res.error;
        return;
      }
      ok.disabled = true;
      app.api.createSilence(res.body, ac.signal)
        .then(() => {
          replace(silenceHost);
          loadSilences();
          poll();
        })
        .catch((e: unknown) => (err.textContent = e instanceof Error ? e.message : String(e)))
        .finally(() => (ok.disabled = false));
    });
    replace(silenceHost, h('div', { class: 'silence-box', testid: 'silence-form' },
      h('div', null, h('span', { class: 'muted', text: 'Silence ' }), h('b', { text: a.rule_name }), h('span', { class: 'muted', text: ' · ' + (scopeText(a.scope) || 'whole project') })),
      h('div', { class: 'form-buttons' }, h('span', { class: 'muted', text: 'for' }), h('div', { class: 'seg-group' }, ...btns, customBtn), until, comment, ok, cancel, err)));
  }

  function loadSilences(): void {
    app.api.silences(ac.signal)
      .then((s) => {
        silences = s.silences ?? [];
        renderSilences();
      })
      .catch((e: unknown) => {
        if (e instanceof DOMException && e.name === 'AbortError') return;
        replace(silMsg, note('Could not load silences: ' + (e instanceof Error ? e.message : String(e)), 'error'));
      });
  }

  function poll(): void {
    window.clearTimeout(timer);
    const seq = ++pollSeq;
    const preset = HISTORY_PRESETS[r.params.range ?? ''] ? r.params.range! : '24h';
    for (const b of presetBtns) b.classList.toggle('active', b.textContent === preset);
    const to = Date.now();
    app.api.alerts({ from: to - HISTORY_PRESETS[preset]!, to, limit: 2000 }, ac.signal)
      .then((res) => {
        if (seq !== pollSeq) return;
        alerts = res.alerts ?? [];
        history = res.history ?? [];
        const c = countAlerts(alerts);
        info.textContent = [c.critical + ' critical', c.warning + ' warning', c.pending + ' pending', 'updated ' + fmtDateTime(to, false).slice(11)].join(' · ');
        renderNow();
        fillRuleSel();
        renderHistory();
        el.setAttribute('data-ready', '1');
      })
      .catch((e: unknown) => {
        if (e instanceof DOMException && e.name === 'AbortError') return;
        replace(nowMsg, isUnsupported(e)
          ? h('div', { class: 'note note-error', testid: 'unsupported', text: 'This Loupe server does not provide alerts (GET /api/v1/alerts answered ' + (e as ApiError).status + '). Upgrade the server.' })
          : note('Could not load alerts: ' + (e instanceof Error ? e.message : String(e)), 'error'));
      })
      .finally(() => {
        if (!disposed && seq === pollSeq) timer = window.setTimeout(poll, POLL_MS);
      });
  }

  function start(): void {
    ac.abort();
    ac = new AbortController();
    app.api.alertRules(ac.signal)
      .then((rr) => {
        rules = new Map((rr.rules ?? []).map((x) => [x.id, x]));
        renderNow();
        fillRuleSel();
        renderHistory();
        renderSilences();
      })
      .catch(() => {});
    loadSilences();
    poll();
  }

  start();
  return {
    el,
    update(next: Route) {
      const rangeChanged = (next.params.range ?? '') !== (r.params.range ?? '');
      r = next;
      fillRuleSel();
      renderHistory();
      if (rangeChanged) poll();
      return true;
    },
    dispose() {
      disposed = true;
      window.clearTimeout(timer);
      ac.abort();
    },
  };
}

// Alert rules: the project's rules (scope, signal, thresholds, how many alerts fire, enabled),
// and the editor (`edit=<id>` or `edit=new` in the URL) with its live preview.

import { ApiError, isUnsupported } from '../api/client';
import type { Alert, AlertChannel, AlertRule } from '../api/types';
import type { App, PageHandle } from '../app';
import { ruleBodyOf, ruleScopeText, signalLabel, thresholdsText } from '../data/alertrule';
import type { Route } from '../data/urlstate';
import { h, note, replace } from '../ui/dom';
import { alertTabs } from './alertnav';
import { ruleEditor } from './ruleeditor';
import type { RuleEditor } from './ruleeditor';

export function alertRulesPage(app: App, route: Route): PageHandle {
  let r = route;
  let ac = new AbortController();
  let rules: AlertRule[] = [];
  let channels: AlertChannel[] = [];
  let alerts: Alert[] = [];
  let loaded = false;
  let editor: RuleEditor | null = null;
  let editorKey = '';

  const newBtn = h('button', { class: 'btn primary', text: '+ New rule', testid: 'rule-new', attrs: { type: 'button' }, on: { click: () => app.setParams({ edit: 'new' }, true) } });
  const info = h('span', { class: 'status-line', testid: 'rules-info' });
  const msg = h('div');
  const tbody = h('tbody');
  const table = h('table', { class: 'tbl rules-table', testid: 'rules-table' },
    h('thead', null, h('tr', null,
      h('th', { text: 'Name' }), h('th', { text: 'Scope' }), h('th', { text: 'Signal' }), h('th', { text: 'Thresholds' }),
      h('th', { text: 'State' }), h('th', { text: 'Enabled' }), h('th'))),
    tbody);
  const editorHost = h('div', { class: 'rule-editor-host' });
  const listPanel = h('section', { class: 'panel' },
    h('div', { class: 'panel-head' }, h('h2', { text: 'Alert rules' }), h('span', { class: 'muted small-text', text: 'evaluated every 5 s' })),
    h('div', { class: 'panel-body table-scroll' }, msg, table));
  const el = h('div', { class: 'alerting-page', testid: 'alert-rules-page' }, alertTabs(app, 'alert-rules', h('span', { class: 'tb-sep' }), newBtn, info), editorHost, listPanel);

  function stateCell(rule: AlertRule): HTMLElement {
    const mine = alerts.filter((a) => a.rule_id === rule.id);
    const firing = mine.filter((a) => a.state === 'firing');
    const crit = firing.filter((a) => a.level === 'critical').length;
    const pending = mine.length - firing.length;
    const td = h('td', { class: 'nowrap', testid: 'rule-state' });
    if (!rule.enabled) td.append(h('span', { class: 'muted', text: 'off' }));
    else if (mine.length === 0) td.append(h('span', { class: 'lvl-text normal', text: 'normal' }));
    else {
      if (firing.length) td.append(h('a', { class: 'lvl-text ' + (crit ? 'critical' : 'warning'), text: firing.length + ' firing', attrs: { href: app.href('alerts', { rule: String(rule.id) }) } }));
      if (pending) td.append(' ', h('span', { class: 'lvl-text pending', text: pending + ' pending' }));
    }
    return td;
  }

  function render(): void {
    table.classList.toggle('hidden', rules.length === 0);
    replace(tbody, ...rules.map((rule) => {
      const toggle = h('input', { testid: 'rule-toggle', attrs: { type: 'checkbox', 'aria-label': 'Enabled' } });
      toggle.checked = rule.enabled;
      toggle.addEventListener('change', () => {
        toggle.disabled = true;
        app.api.updateAlertRule(rule.id, { ...ruleBodyOf(rule), enabled: toggle.checked }, ac.signal)
          .then((saved) => {
            Object.assign(rule, saved.id ? saved : { enabled: toggle.checked });
            render();
          })
          .catch((e: unknown) => {
            toggle.checked = rule.enabled;
            replace(msg, note('Could not change the rule: ' + (e instanceof Error ? e.message : String(e)), 'error'));
          })
          .finally(() => (toggle.disabled = false));
      });
      const del = h('button', { class: 'btn small ghost danger', text: 'Delete', testid: 'rule-row-delete', attrs: { type: 'button' } });
      del.addEventListener('click', () => {
        if (!window.confirm('Delete the rule "' + rule.name + '"? Its alerts stop and its history stays.')) return;
        app.api.deleteAlertRule(rule.id, ac.signal).then(() => reload()).catch((e: unknown) =>
          replace(msg, note('Could not delete: ' + (e instanceof Error ? e.message : String(e)), 'error')));
      });
      const extra = rule.signal === 'event' ? ' · ' + (rule.event_type ?? '') : '';
      return h('tr', { class: 'rule-row' + (rule.enabled ? '' : ' disabled'), testid: 'rule-row', attrs: { 'data-id': String(rule.id) } },
        h('td', null, h('a', { text: rule.name, testid: 'rule-link', attrs: { href: app.href('alert-rules', { edit: String(rule.id) }) } })),
        h('td', { class: 'ellipsis', text: ruleScopeText(rule), title: ruleScopeText(rule) }),
        h('td', { text: signalLabel(rule.signal) + extra + ' · ' + rule.window_s + ' s' }),
        h('td', { class: 'nowrap', text: thresholdsText(rule) }),
        stateCell(rule),
        h('td', null, toggle),
        h('td', { class: 'nowrap' }, h('a', { class: 'btn small ghost', text: 'Edit', attrs: { href: app.href('alert-rules', { edit: String(rule.id) }) } }), ' ', del));
    }));
  }

  function syncEditor(): void {
    const edit = r.params.edit ?? '';
    const key = edit && loaded ? edit + '|' + app.project : '';
    if (key === editorKey) return;
    editorKey = key;
    editor?.dispose();
    editor = null;
    listPanel.classList.toggle('hidden', !!edit);
    if (!edit) {
      replace(editorHost);
      return;
    }
    if (!loaded) {
      replace(editorHost, note('Loading…'));
      return;
    }
    const rule = edit === 'new' ? null : rules.find((x) => String(x.id) === edit) ?? null;
    if (edit !== 'new' && !rule) {
      replace(editorHost, note('No rule #' + edit + ' in this project.', 'error'));
      return;
    }
    editor = ruleEditor(app, rule, channels, (changed) => {
      app.setParams({ edit: '' }, true);
      if (changed) reload();
    });
    replace(editorHost, editor.el);
  }

  function reload(): void {
    ac.abort();
    ac = new AbortController();
    info.textContent = 'Loading…';
    Promise.all([
      app.api.alertRules(ac.signal),
      app.api.alertChannels(ac.signal).catch(() => ({ channels: [] as AlertChannel[] })),
      app.api.alerts({ limit: 1 }, ac.signal).catch(() => ({ alerts: [] as Alert[] })),
    ])
      .then(([rr, cr, ar]) => {
        rules = (rr.rules ?? []).slice().sort((a, b) => a.name.localeCompare(b.name) || a.id - b.id);
        channels = cr.channels ?? [];
        alerts = ar.alerts ?? [];
        loaded = true;
        const firing = alerts.filter((a) => a.state === 'firing').length;
        info.textContent = rules.length + (rules.length === 1 ? ' rule' : ' rules') + (firing ? ' · ' + firing + ' firing' : '');
        replace(msg, rules.length === 0 ? note('No alert rules yet. "New rule" watches a signal (error rate, response time, TPS, an instance going down…) and notifies channels.', 'empty') : null);
        render();
        syncEditor();
        el.setAttribute('data-ready', '1');
      })
      .catch((e: unknown) => {
        if (e instanceof DOMException && e.name === 'AbortError') return;
        info.textContent = '';
        replace(msg, isUnsupported(e)
          ? h('div', { class: 'note note-error', testid: 'unsupported', text: 'This Loupe server does not provide alert rules (GET /api/v1/alert-rules answered ' + (e as ApiError).status + '). Upgrade the server.' })
          : note('Could not load the rules: ' + (e instanceof Error ? e.message : String(e)), 'error'));
      });
  }

  reload();
  syncEditor();
  return {
    el,
    update(next: Route) {
      r = next;
      syncEditor();
      return true;
    },
    dispose() {
      ac.abort();
      editor?.dispose();
    },
  };
}

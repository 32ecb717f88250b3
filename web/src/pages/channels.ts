// Notification channels: the list (type, name, addresses or the URL reduced to its host), the
// add/edit form (`edit=new|<id>`; a stored URL is write-only: the edit form says "unchanged"
// and sends none unless one is typed), Test (sends a message now and shows the attempt), and a
// channel's delivery log (`channel=<id>`).

import { ApiError, isUnsupported } from '../api/client';
import type { AlertChannel, Delivery } from '../api/types';
import type { App, PageHandle } from '../app';
import { fieldOfMessage } from '../data/alertrule';
import type { FieldError } from '../data/alertrule';
import { channelTarget, channelToForm, formToChannel, newChannelForm, testResultText } from '../data/alerts';
import { fmtDateTime, fmtMs } from '../data/format';
import type { Route } from '../data/urlstate';
import { h, note, replace } from '../ui/dom';
import { alertTabs } from './alertnav';

const TYPES: [string, string][] = [['email', 'E-mail'], ['slack', 'Slack webhook'], ['webhook', 'Webhook (Alertmanager format)']];

export function channelsPage(app: App, route: Route): PageHandle {
  let r = route;
  let ac = new AbortController();
  let channels: AlertChannel[] = [];
  let loaded = false;
  let formKey = '';
  let logKey = '';
  /** The last Test answer per channel, kept across re-renders of the list. */
  const lastTest = new Map<number, { cls: string; text: string }>();

  const addBtn = h('button', { class: 'btn primary', text: '+ Add channel', testid: 'channel-new', attrs: { type: 'button' }, on: { click: () => app.setParams({ edit: 'new' }, true) } });
  const info = h('span', { class: 'status-line', testid: 'channels-info' });
  const msg = h('div');
  const tbody = h('tbody');
  const table = h('table', { class: 'tbl', testid: 'channels-table' },
    h('thead', null, h('tr', null, h('th', { text: 'Name' }), h('th', { text: 'Type' }), h('th', { text: 'Sends to' }), h('th'), h('th', { text: 'Last test' }))), tbody);
  const formHost = h('div');
  const logHost = h('div');
  const el = h('div', { class: 'alerting-page', testid: 'channels-page' },
    alertTabs(app, 'alert-channels', h('span', { class: 'tb-sep' }), addBtn, info),
    formHost,
    h('section', { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h2', { text: 'Channels' }), h('span', { class: 'muted small-text', text: 'the SMTP server for e-mail is server configuration (--smtp-host)' })),
      h('div', { class: 'panel-body table-scroll' }, msg, table)),
    logHost);

  function render(): void {
    table.classList.toggle('hidden', channels.length === 0);
    replace(msg, channels.length === 0 ? note('No channels yet. Add an e-mail, Slack or webhook channel, then pick it in a rule.', 'empty') : null);
    replace(tbody, ...channels.map((c) => {
      const shown = lastTest.get(c.id);
      const result = h('td', { class: 'small-text ' + (shown?.cls ?? ''), testid: 'channel-test-result', text: shown?.text ?? '' });
      const setResult = (cls: string, text: string) => {
        lastTest.set(c.id, { cls, text });
        result.className = 'small-text ' + cls;
        result.textContent = text;
      };
      const testBtn = h('button', { class: 'btn small', text: 'Test', testid: 'channel-test', attrs: { type: 'button' } });
      testBtn.addEventListener('click', () => {
        testBtn.disabled = true;
        setResult('muted', 'Sending…');
        app.api.testAlertChannel(c.id, ac.signal)
          .then((t) => {
            setResult(t.ok ? 'ok-text' : 'err-text', testResultText(t));
            if (r.params.channel === String(c.id)) showLog(true);
          })
          .catch((e: unknown) => {
            setResult('err-text', 'Failed: ' + (e instanceof Error ? e.message : String(e)));
          })
          .finally(() => (testBtn.disabled = false));
      });
      const del = h('button', { class: 'btn small ghost danger', text: 'Delete', testid: 'channel-delete', attrs: { type: 'button' } });
      del.addEventListener('click', () => {
        if (!window.confirm('Delete the channel "' + c.name + '"?')) return;
        app.api.deleteAlertChannel(c.id, ac.signal).then(() => load()).catch((e: unknown) =>
          replace(msg, note('Could not delete: ' + (e instanceof Error ? e.message : String(e)), 'error')));
      });
      return h('tr', { class: r.params.channel === String(c.id) ? 'current' : '', testid: 'channel-row', attrs: { 'data-id': String(c.id), 'data-type': c.type } },
        h('td', { text: c.name }),
        h('td', { text: TYPES.find((t) => t[0] === c.type)?.[1] ?? c.type }),
        h('td', { class: 'ellipsis mono', text: channelTarget(c), title: channelTarget(c) }),
        h('td', { class: 'nowrap' },
          h('a', { class: 'btn small ghost', text: 'Edit', testid: 'channel-edit', attrs: { href: app.href('alert-channels', { edit: String(c.id), channel: r.params.channel ?? '' }) } }), ' ',
          testBtn, ' ',
          h('a', { class: 'btn small ghost', text: 'Delivery log', testid: 'channel-log', attrs: { href: app.href('alert-channels', { channel: String(c.id) }) } }), ' ',
          del),
        result);
    }));
  }

  function showForm(): void {
    const edit = r.params.edit ?? '';
    const key = loaded && edit ? edit + '|' + app.project : '';
    if (key === formKey) return;
    formKey = key;
    if (!key) {
      replace(formHost);
      return;
    }
    const ch = edit === 'new' ? null : channels.find((c) => String(c.id) === edit) ?? null;
    if (edit !== 'new' && !ch) {
      replace(formHost, note('No channel #' + edit + ' in this project.', 'error'));
      return;
    }
    const f = ch ? channelToForm(ch) : newChannelForm();
    const name = h('input', { class: 'inp wide', testid: 'channel-name', attrs: { type: 'text', maxlength: '200', placeholder: 'ops-mail', 'aria-label': 'Name' } });
    name.value = f.name;
    const type = h('select', { class: 'sel', testid: 'channel-type', attrs: { 'aria-label': 'Type' } }, ...TYPES.map(([v, t]) => h('option', { text: t, attrs: { value: v } })));
    type.value = f.type;
    type.disabled = !!ch;
    const addresses = h('textarea', { class: 'inp addr-in', testid: 'channel-addresses', attrs: { rows: '3', placeholder: 'ops@example.com\ndev@example.com', spellcheck: 'false', 'aria-label': 'Addresses' } });
    addresses.value = f.addresses;
    const url = h('input', { class: 'inp url-in', testid: 'channel-url', attrs: { type: 'password', autocomplete: 'off', spellcheck: 'false', 'aria-label': 'URL', placeholder: f.hasStoredUrl ? 'unchanged (' + (ch?.url ?? 'set') + ')' : 'https://hooks.slack.com/services/…' } });
    const errs = new Map<string, HTMLElement>();
    const row = (label: string, field: string, input: HTMLElement, help: string) => {
      const e = h('span', { class: 'field-err', testid: 'channel-err-' + field, attrs: { role: 'alert' } });
      errs.set(field, e);
      return h('div', { class: 'form-row rule-row' }, h('span', { class: 'form-label', text: label }), h('div', { class: 'rule-inputs' }, input, help ? h('span', { class: 'form-help', text: help }) : null), e);
    };
    const addrRow = row('Addresses', 'addresses', addresses, 'one per line; up to 50');
    const urlRow = row('URL', 'url', url, f.hasStoredUrl ? 'write-only: leave empty to keep the stored URL' : 'http:// or https://; stored write-only');
    const general = h('div', { class: 'form-errors', testid: 'channel-errors', attrs: { role: 'alert' } });
    const syncType = () => {
      addrRow.classList.toggle('hidden', type.value !== 'email');
      urlRow.classList.toggle('hidden', type.value === 'email');
    };
    type.addEventListener('change', syncType);
    syncType();
    const showErrors = (list: FieldError[]) => {
      for (const e of errs.values()) e.textContent = '';
      const rest: string[] = [];
      for (const x of list) {
        const span = errs.get(x.field);
        if (span) span.textContent = x.message;
        else rest.push(x.message);
      }
      replace(general, ...rest.map((m) => h('div', { class: 'err-text', text: m })));
    };
    const save = h('button', { class: 'btn primary', text: ch ? 'Save channel' : 'Add channel', testid: 'channel-save', attrs: { type: 'submit' } });
    const cancel = h('button', { class: 'btn', text: 'Cancel', attrs: { type: 'button' }, on: { click: () => app.setParams({ edit: '' }, true) } });
    const formEl = h('form', { class: 'panel', testid: 'channel-form', attrs: { novalidate: '' } },
      h('div', { class: 'panel-head' }, h('h2', { text: ch ? 'Edit channel' : 'New channel' })),
      h('div', { class: 'panel-body form-grid' },
        row('Name', 'name', name, ''),
        row('Type', 'type', type, ch ? 'the type of a channel cannot change' : ''),
        addrRow, urlRow,
        general,
        h('div', { class: 'form-buttons' }, save, cancel)));
    formEl.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const form = { ...f, name: name.value, type: type.value, addresses: addresses.value, url: url.value };
      const res = formToChannel(form, !!ch);
      showErrors(res.errors);
      if (!res.body) return;
      save.disabled = true;
      (ch ? app.api.updateAlertChannel(ch.id, res.body, ac.signal) : app.api.createAlertChannel(res.body, ac.signal))
        .then(() => {
          app.setParams({ edit: '' }, true);
          load();
        })
        .catch((e: unknown) => {
          if (e instanceof DOMException && e.name === 'AbortError') return;
          showErrors([e instanceof ApiError && e.status === 400 ? fieldOfMessage(e.message) : { field: 'body', message: e instanceof Error ? e.message : String(e) }]);
        })
        .finally(() => (save.disabled = false));
    });
    replace(formHost, formEl);
    name.focus();
  }

  function showLog(force = false): void {
    const id = r.params.channel ?? '';
    const key = id + '|' + app.project;
    if (!force && key === logKey) return;
    logKey = key;
    if (!id) {
      replace(logHost);
      return;
    }
    const ch = channels.find((c) => String(c.id) === id);
    const body = h('div', { class: 'panel-body table-scroll history-scroll' }, note('Loading…'));
    replace(logHost, h('section', { class: 'panel', testid: 'delivery-log' },
      h('div', { class: 'panel-head' }, h('h2', { text: 'Delivery log · ' + (ch?.name ?? '#' + id) }), h('span', { class: 'muted small-text', text: 'newest first, every attempt' }),
        h('div', { class: 'header-spacer' }), h('button', { class: 'btn small', text: 'Reload', attrs: { type: 'button' }, on: { click: () => showLog(true) } }),
        h('a', { class: 'btn small ghost', text: 'Close', attrs: { href: app.href('alert-channels') } })),
      body));
    app.api.channelDeliveries(Number(id), ac.signal)
      .then((d) => replace(body, deliveriesTable(d.deliveries ?? [])))
      .catch((e: unknown) => {
        if (e instanceof DOMException && e.name === 'AbortError') return;
        replace(body, note('Could not load the delivery log: ' + (e instanceof Error ? e.message : String(e)), 'error'));
      });
  }

  function load(): void {
    ac.abort();
    ac = new AbortController();
    app.api.alertChannels(ac.signal)
      .then((res) => {
        channels = (res.channels ?? []).slice().sort((a, b) => a.name.localeCompare(b.name) || a.id - b.id);
        loaded = true;
        info.textContent = channels.length + (channels.length === 1 ? ' channel' : ' channels');
        render();
        formKey = formKey ? 'stale' : '';
        showForm();
        showLog(true);
        el.setAttribute('data-ready', '1');
      })
      .catch((e: unknown) => {
        if (e instanceof DOMException && e.name === 'AbortError') return;
        replace(msg, isUnsupported(e)
          ? h('div', { class: 'note note-error', testid: 'unsupported', text: 'This Loupe server does not provide alert channels (GET /api/v1/alert-channels answered ' + (e as ApiError).status + '). Upgrade the server.' })
          : note('Could not load channels: ' + (e instanceof Error ? e.message : String(e)), 'error'));
      });
  }

  load();
  return {
    el,
    update(next: Route) {
      r = next;
      if (loaded) render();
      showForm();
      showLog();
      return true;
    },
    dispose() {
      ac.abort();
    },
  };
}

function deliveriesTable(list: Delivery[]): HTMLElement {
  if (list.length === 0) return note('No deliveries yet. Test the channel or wait for an alert.', 'empty');
  return h('table', { class: 'tbl compact', testid: 'deliveries' },
    h('thead', null, h('tr', null, h('th', { text: 'Time' }), h('th', { text: 'Result' }), h('th', { text: 'Alert' }), h('th', { text: 'Kind' }),
      h('th', { class: 'num', text: 'Status' }), h('th', { class: 'num', text: 'Latency' }), h('th', { class: 'num', text: 'Attempt' }), h('th', { text: 'Error' }))),
    h('tbody', null, ...list.map((d) => h('tr', { testid: 'delivery-row', attrs: { 'data-ok': d.ok ? '1' : '0' } },
      h('td', { class: 'nowrap muted', text: fmtDateTime(d.at_ms, false) }),
      h('td', { class: d.ok ? 'ok-text' : 'err-text', text: d.ok ? 'sent' : 'failed' }),
      h('td', { class: 'mono', text: d.alert_id ? String(d.alert_id) : 'test' }),
      h('td', { text: d.kind }),
      h('td', { class: 'num', text: d.status ? String(d.status) : '–' }),
      h('td', { class: 'num', text: fmtMs(d.latency_ms) }),
      h('td', { class: 'num', text: String(d.attempt) }),
      h('td', { class: 'ellipsis', text: d.error || '', title: d.error || '' })))));
}

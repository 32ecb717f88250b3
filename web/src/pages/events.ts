// Events: errors by type, throttling, agent start/stop… over a range, newest first, filtered by
// level, type and service (the header's service). A row with a transaction opens its profile.

import { ApiError, isUnsupported } from '../api/client';
import type { ApiEvent } from '../api/types';
import type { App, PageHandle } from '../app';
import { EVENT_LEVELS, EVENT_PRESETS, EVENT_TYPES, eventFilterFromParams, eventsQuery, levelClass, levelCounts, newestFirst, typeLabel } from '../data/events';
import { fmtDateTime, fmtInt } from '../data/format';
import type { Route } from '../data/urlstate';
import { resolveRange } from '../data/urlstate';
import { h, note, replace } from '../ui/dom';

/** Rows drawn at most (the API answers up to EVENTS_LIMIT). */
const MAX_ROWS = 1000;

export function eventsPage(app: App, route: Route): PageHandle {
  let r = route;
  let ac = new AbortController();
  let loadedKey = '';
  let events: ApiEvent[] = [];

  const presetBtns = EVENT_PRESETS.map((p) =>
    h('button', { class: 'btn seg', text: p, testid: 'range-' + p, attrs: { type: 'button' }, on: { click: () => app.setParams({ range: p, from: '', to: '' }, true) } }),
  );
  const levelSel = h('select', { class: 'sel', testid: 'events-level', attrs: { 'aria-label': 'Level' } },
    h('option', { text: 'All levels', attrs: { value: '' } }), ...EVENT_LEVELS.map((l) => h('option', { text: l, attrs: { value: l } })));
  levelSel.addEventListener('change', () => app.setParams({ level: levelSel.value }, true));
  const typeSel = h('select', { class: 'sel', testid: 'events-type', attrs: { 'aria-label': 'Type' } });
  typeSel.addEventListener('change', () => app.setParams({ type: typeSel.value }, true));
  const reloadBtn = h('button', { class: 'btn', text: 'Reload', attrs: { type: 'button' }, on: { click: () => { loadedKey = ''; load(); } } });
  const info = h('span', { class: 'status-line', testid: 'events-info' });
  const msg = h('div');
  const tbody = h('tbody');
  const table = h('table', { class: 'tbl events-table', testid: 'events-table' },
    h('thead', null, h('tr', null,
      h('th', { text: 'Time' }), h('th', { text: 'Level' }), h('th', { text: 'Type' }), h('th', { text: 'Service / instance' }),
      h('th', { text: 'Endpoint' }), h('th', { text: 'Message' }), h('th', { text: 'Transaction' }))),
    tbody);

  const el = h(
    'div',
    { class: 'events-page', testid: 'events-page' },
    h('section', { class: 'panel' },
      h('div', { class: 'toolbar' },
        h('div', { class: 'seg-group' }, ...presetBtns),
        h('span', { class: 'tb-sep' }),
        h('label', { class: 'fld' }, h('span', { text: 'Level' }), levelSel),
        h('label', { class: 'fld' }, h('span', { text: 'Type' }), typeSel),
        h('span', { class: 'tb-sep' }),
        reloadBtn,
        info)),
    h('section', { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h2', { text: 'Events' }), h('span', { class: 'muted small-text', text: 'Newest first' })),
      h('div', { class: 'panel-body table-scroll' }, msg, table)),
  );

  function fillTypes(): void {
    const current = eventFilterFromParams(r.params).type;
    const types = new Set<string>(EVENT_TYPES);
    for (const e of events) if (e.type) types.add(e.type);
    if (current) types.add(current);
    replace(typeSel, h('option', { text: 'All types', attrs: { value: '' } }), ...Array.from(types).map((t) => h('option', { text: typeLabel(t) + (typeLabel(t) !== t ? ' (' + t + ')' : ''), attrs: { value: t } })));
    typeSel.value = current;
  }

  function render(): void {
    table.classList.toggle('hidden', events.length === 0);
    replace(tbody, ...events.slice(0, MAX_ROWS).map((e) => {
      const lvl = levelClass(e.level);
      const where = [e.service, e.instance].filter(Boolean).join(' / ');
      return h('tr', { class: 'event-row level-' + lvl + (e.type === 'throttle' ? ' throttle' : ''), testid: 'event-row', attrs: { 'data-type': e.type, 'data-level': lvl } },
        h('td', { class: 'muted nowrap', text: fmtDateTime(e.time_ms) }),
        h('td', null, h('span', { class: 'badge', text: (e.level || 'NORMAL').toUpperCase() })),
        h('td', { class: 'feed-type', text: typeLabel(e.type) }),
        h('td', { class: 'ellipsis', text: where, title: where }),
        h('td', { class: 'mono ellipsis', text: e.endpoint || '', title: e.endpoint || '' }),
        h('td', { class: 'event-msg', text: e.message }),
        h('td', { class: 'mono' }, e.tx_id ? h('a', { text: e.tx_id, testid: 'event-tx', attrs: { href: app.href('tx', {}, e.tx_id) } }) : ''));
    }));
  }

  function load(): void {
    const range = resolveRange(r.params, Date.now(), '1h');
    for (const b of presetBtns) b.classList.toggle('active', b.textContent === range.preset);
    const f = eventFilterFromParams(r.params);
    levelSel.value = f.level;
    fillTypes();
    const key = JSON.stringify([app.project, range.preset || [range.from, range.to], f]);
    if (key === loadedKey) return;
    loadedKey = key;
    ac.abort();
    ac = new AbortController();
    info.textContent = 'Loading…';
    el.setAttribute('data-loading', '1');
    app.api
      .events(eventsQuery(r.params, Date.now()), ac.signal)
      .then((res) => {
        events = newestFirst(res.events ?? []);
        el.removeAttribute('data-loading');
        const c = levelCounts(events);
        const parts = [fmtInt(events.length) + (res.truncated ? '+' : '') + (events.length === 1 ? ' event' : ' events')];
        if (c.fatal) parts.push(fmtInt(c.fatal) + ' fatal');
        if (c.warning) parts.push(fmtInt(c.warning) + ' warning');
        parts.push(fmtDateTime(range.from, false) + ' → ' + fmtDateTime(range.to, false));
        info.textContent = parts.join(' · ');
        const filtered = f.level || f.type || f.service;
        replace(msg,
          res.truncated ? note('Showing the newest ' + fmtInt(events.length) + ' events; narrow the range or filters to see the rest.', 'info') : null,
          events.length === 0 ? note('No events' + (filtered ? ' matching these filters' : '') + ' in this range. Events are errors by type, throttled requests, and agents starting or stopping.', 'empty') : null);
        fillTypes();
        render();
        el.setAttribute('data-ready', '1');
      })
      .catch((e: unknown) => {
        if (e instanceof DOMException && e.name === 'AbortError') return;
        el.removeAttribute('data-loading');
        loadedKey = '';
        events = [];
        info.textContent = '';
        render();
        replace(msg, isUnsupported(e)
          ? h('div', { class: 'note note-error', testid: 'unsupported', text: 'This Loupe server does not provide events (GET /api/v1/events answered ' + (e as ApiError).status + '). Upgrade the server to a version with agent support.' })
          : note('Could not load events: ' + (e instanceof Error ? e.message : String(e)), 'error'));
      });
  }

  load();
  return {
    el,
    update(next: Route) {
      r = next;
      load();
      return true;
    },
    dispose() {
      ac.abort();
    },
  };
}

// Events: errors by type, throttling, agent start/stop… over a range, newest first, filtered by
// level, type and service (the header's service). A row with a transaction opens its profile.
// Grouped by message (default), type, service or endpoint (`group=`, `none` for the flat
// list), a burst of identical errors is one row that opens to its events.

import { ApiError, isUnsupported } from '../api/client';
import type { ApiEvent, EventGroup } from '../api/types';
import type { App, PageHandle } from '../app';
import { EVENT_LEVELS, EVENT_PRESETS, EVENT_TYPES, GROUP_BY, eventFilterFromParams, eventsOfGroup, eventsQuery, groupByFromParams, groupCountText, groupEventsQuery, groupTitle, levelClass, levelCounts, newestFirst, typeLabel } from '../data/events';
import { fmtDateTime, fmtInt } from '../data/format';
import type { Route } from '../data/urlstate';
import { resolveRange } from '../data/urlstate';
import { h, note, replace } from '../ui/dom';

/** Rows drawn at most (the API answers up to EVENTS_LIMIT). */
const MAX_ROWS = 1000;
/** Events shown under an opened group; the rest are one click away in the list. */
const GROUP_ROWS = 50;

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
  const groupSel = h('select', { class: 'sel', testid: 'events-group', attrs: { 'aria-label': 'Group by' } },
    h('option', { text: 'No grouping (list)', attrs: { value: 'none' } }), ...GROUP_BY.map((g) => h('option', { text: g, attrs: { value: g } })));
  groupSel.addEventListener('change', () => app.setParams({ group: groupSel.value === 'message' ? '' : groupSel.value }, true));
  const groupBody = h('tbody');
  const groupTable = h('table', { class: 'tbl events-table groups-table hidden', testid: 'event-groups' },
    h('thead', null, h('tr', null, h('th', { text: 'Level' }), h('th', { text: 'Group' }), h('th', { class: 'num', text: 'Count' }), h('th', { text: 'First' }), h('th', { text: 'Last' }), h('th', { text: 'Example' }))),
    groupBody);
  const listTitle = h('h2', { text: 'Events' });
  const listSub = h('span', { class: 'muted small-text', text: 'Newest first' });
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
        h('label', { class: 'fld' }, h('span', { text: 'Group by' }), groupSel),
        h('span', { class: 'tb-sep' }),
        reloadBtn,
        info)),
    h('section', { class: 'panel' },
      h('div', { class: 'panel-head' }, listTitle, listSub),
      h('div', { class: 'panel-body table-scroll' }, msg, groupTable, table)),
  );

  function fillTypes(): void {
    const current = eventFilterFromParams(r.params).type;
    const types = new Set<string>(EVENT_TYPES);
    for (const e of events) if (e.type) types.add(e.type);
    if (current) types.add(current);
    replace(typeSel, h('option', { text: 'All types', attrs: { value: '' } }), ...Array.from(types).map((t) => h('option', { text: typeLabel(t) + (typeLabel(t) !== t ? ' (' + t + ')' : ''), attrs: { value: t } })));
    typeSel.value = current;
  }

  function eventRow(e: ApiEvent): HTMLElement {
    const lvl = levelClass(e.level);
    const where = [e.service, e.instance].filter(Boolean).join(' / ');
    return h('tr', { class: 'event-row level-' + lvl + (e.type === 'THROTTLED' ? ' throttle' : ''), testid: 'event-row', attrs: { 'data-type': e.type, 'data-level': lvl } },
      h('td', { class: 'muted nowrap', text: fmtDateTime(e.time_ms) }),
      h('td', null, h('span', { class: 'badge', text: (e.level || 'NORMAL').toUpperCase() })),
      h('td', { class: 'feed-type', text: typeLabel(e.type) }),
      h('td', { class: 'ellipsis', text: where, title: where }),
      h('td', { class: 'mono ellipsis', text: e.endpoint || '', title: e.endpoint || '' }),
      h('td', { class: 'event-msg', text: e.message }),
      h('td', { class: 'mono' }, e.tx_id ? h('a', { text: e.tx_id, testid: 'event-tx', attrs: { href: app.href('tx', {}, e.tx_id) } }) : ''));
  }

  function render(): void {
    table.classList.toggle('hidden', events.length === 0);
    replace(tbody, ...events.slice(0, MAX_ROWS).map(eventRow));
  }

  /** One row per group; a click opens the group's events under it (fetched on demand). */
  function renderGroups(by: string, groups: EventGroup[]): void {
    groupTable.classList.toggle('hidden', groups.length === 0);
    replace(groupBody, ...groups.flatMap((g) => {
      const lvl = levelClass(g.level);
      const sub = h('tr', { class: 'group-events hidden' }, h('td', { attrs: { colspan: '6' } }));
      const toggle = h('button', { class: 'btn small ghost group-toggle', text: '▸', testid: 'group-open', attrs: { type: 'button', 'aria-expanded': 'false', 'aria-label': 'Show the events of this group' } });
      const open = () => {
        const opening = sub.classList.contains('hidden');
        sub.classList.toggle('hidden', !opening);
        toggle.textContent = opening ? '▾' : '▸';
        toggle.setAttribute('aria-expanded', String(opening));
        if (!opening || sub.hasAttribute('data-loaded')) return;
        const cell = sub.firstChild as HTMLElement;
        replace(cell, note('Loading…'));
        app.api.events(groupEventsQuery(r.params, Date.now(), by, g.key), ac.signal)
          .then((res) => {
            const list = newestFirst(eventsOfGroup(res.events ?? [], by, g.key));
            sub.setAttribute('data-loaded', '1');
            const shown = list.slice(0, GROUP_ROWS);
            const listParams: Record<string, string> = { group: 'none' };
            if (by === 'type' || by === 'service') listParams[by] = g.key;
            replace(cell, list.length === 0 ? note('The events of this group are no longer in the list (newest ' + fmtInt(res.events?.length ?? 0) + ' fetched).', 'empty')
              : h('table', { class: 'tbl compact events-table', testid: 'group-events' }, h('tbody', null, ...shown.map(eventRow))),
            shown.length < g.count ? h('div', { class: 'muted small-text' }, 'Showing the newest ' + fmtInt(shown.length) + ' of ' + fmtInt(g.count) + ' · ',
              h('a', { text: 'open the list', attrs: { href: app.href('events', { ...r.params, ...listParams }) } })) : null);
          })
          .catch((e: unknown) => {
            if (e instanceof DOMException && e.name === 'AbortError') return;
            replace(cell, note('Could not load the events: ' + (e instanceof Error ? e.message : String(e)), 'error'));
          });
      };
      toggle.addEventListener('click', open);
      const title = h('span', { class: 'group-title', text: groupTitle(g) });
      title.addEventListener('click', open);
      const row = h('tr', { class: 'event-row group-row level-' + lvl, testid: 'group-row', attrs: { 'data-key': g.key, 'data-count': String(g.count), 'data-level': lvl } },
        h('td', null, h('span', { class: 'badge', text: (g.level || 'NORMAL').toUpperCase() })),
        h('td', { class: 'event-msg' }, toggle, ' ', title, h('span', { class: 'muted', text: ' · ' + groupCountText(g) })),
        h('td', { class: 'num', text: fmtInt(g.count) }),
        h('td', { class: 'muted nowrap', text: fmtDateTime(g.first_ms, false) }),
        h('td', { class: 'muted nowrap', text: fmtDateTime(g.last_ms, false) }),
        h('td', { class: 'mono' }, g.example_tx_id ? h('a', { text: g.example_tx_id, testid: 'group-tx', attrs: { href: app.href('tx', {}, g.example_tx_id) } }) : ''));
      return [row, sub];
    }));
  }

  function load(): void {
    const range = resolveRange(r.params, Date.now(), '1h');
    for (const b of presetBtns) b.classList.toggle('active', b.textContent === range.preset);
    const f = eventFilterFromParams(r.params);
    levelSel.value = f.level;
    fillTypes();
    const by = groupByFromParams(r.params);
    groupSel.value = by || 'none';
    const key = JSON.stringify([app.project, range.preset || [range.from, range.to], f, by]);
    if (key === loadedKey) return;
    loadedKey = key;
    ac.abort();
    ac = new AbortController();
    info.textContent = 'Loading…';
    el.setAttribute('data-loading', '1');
    if (by) loadGroups(by, range, f);
    else loadFlat(range, f, '');
  }

  function loadGroups(by: string, range: ReturnType<typeof resolveRange>, f: ReturnType<typeof eventFilterFromParams>): void {
    app.api
      .eventGroups(by, eventsQuery(r.params, Date.now()), ac.signal)
      .then((res) => {
        // A server without grouping ignores group_by and answers the flat list.
        if (!Array.isArray(res.groups)) {
          loadFlat(range, f, 'This Loupe server does not group events yet; showing the list.');
          return;
        }
        const groups = res.groups.slice().sort((a, b) => b.last_ms - a.last_ms || b.count - a.count);
        events = [];
        render();
        el.removeAttribute('data-loading');
        const total = groups.reduce((n, g) => n + g.count, 0);
        info.textContent = [fmtInt(groups.length) + (groups.length === 1 ? ' group' : ' groups'), fmtInt(total) + (total === 1 ? ' event' : ' events'),
          fmtDateTime(range.from, false) + ' → ' + fmtDateTime(range.to, false)].join(' · ');
        listTitle.textContent = 'Events by ' + by;
        listSub.textContent = 'latest first · open a group to see its events';
        replace(msg, groups.length === 0 ? note('No events' + (f.level || f.type || f.service ? ' matching these filters' : '') + ' in this range.', 'empty') : null);
        renderGroups(by, groups);
        el.setAttribute('data-ready', '1');
      })
      .catch((e: unknown) => {
        if (e instanceof DOMException && e.name === 'AbortError') return;
        if (e instanceof ApiError && e.status === 400 && /group_by/.test(e.message)) loadFlat(range, f, 'This Loupe server does not group events by ' + by + '; showing the list.');
        else showLoadError(e);
      });
  }

  function showLoadError(e: unknown): void {
    el.removeAttribute('data-loading');
    loadedKey = '';
    events = [];
    info.textContent = '';
    render();
    renderGroups('', []);
    replace(msg, isUnsupported(e)
      ? h('div', { class: 'note note-error', testid: 'unsupported', text: 'This Loupe server does not provide events (GET /api/v1/events answered ' + (e as ApiError).status + '). Upgrade the server to a version with agent support.' })
      : note('Could not load events: ' + (e instanceof Error ? e.message : String(e)), 'error'));
  }

  function loadFlat(range: ReturnType<typeof resolveRange>, f: ReturnType<typeof eventFilterFromParams>, notice: string): void {
    renderGroups('', []);
    listTitle.textContent = 'Events';
    listSub.textContent = 'Newest first';
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
          notice ? note(notice, 'info') : null,
          res.truncated ? note('Showing the newest ' + fmtInt(events.length) + ' events; narrow the range or filters to see the rest.', 'info') : null,
          events.length === 0 ? note('No events' + (filtered ? ' matching these filters' : '') + ' in this range. Events are errors by type, throttled requests, and agents starting or stopping.', 'empty') : null);
        fillTypes();
        render();
        el.setAttribute('data-ready', '1');
      })
      .catch((e: unknown) => {
        if (e instanceof DOMException && e.name === 'AbortError') return;
        showLoadError(e);
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

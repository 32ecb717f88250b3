// Active stack: which frames (the transaction, its open steps, native frames) the sampled
// stacks of long-running active transactions spent their time in over a range, with inclusive
// and self shares of the samples, and the samples per endpoint (a click filters by it).

import { ApiError, isUnsupported } from '../api/client';
import type { ActiveStackResponse } from '../api/types';
import type { App, PageHandle } from '../app';
import { barWidth, endpointRows, fmtShare, frameKind, frameRows, parseFrameSort } from '../data/activestack';
import type { FrameSort } from '../data/activestack';
import { fmtDateTime, fmtInt } from '../data/format';
import type { Route } from '../data/urlstate';
import { resolveRange } from '../data/urlstate';
import { h, note, replace } from '../ui/dom';

const PRESETS = ['5m', '15m', '1h'];
const DEFAULT_PRESET = '15m';
/** Rows drawn at most; the rest are summarised (the server sorts by samples already). */
const MAX_ROWS = 500;

const KIND_LABEL: Record<string, string> = { sql: 'SQL', method: 'METHOD', external: 'HTTP', message: 'MSG', native: '' };

interface Col {
  key: FrameSort | null;
  label: string;
  cls: string;
}

const COLS: Col[] = [
  { key: 'frame', label: 'Frame', cls: 'wide' },
  { key: 'samples', label: 'Samples', cls: 'num' },
  { key: null, label: 'Inclusive share', cls: 'share-col' },
  { key: 'self_samples', label: 'Self samples', cls: 'num' },
  { key: null, label: 'Self share', cls: 'num' },
];

export function activeStackPage(app: App, route: Route): PageHandle {
  let r = route;
  let ac = new AbortController();
  let res: ActiveStackResponse | null = null;
  let loadedKey = '';

  const presetBtns = PRESETS.map((p) =>
    h('button', { class: 'btn seg', text: p, testid: 'range-' + p, attrs: { type: 'button' }, on: { click: () => app.setParams({ range: p, from: '', to: '' }, true) } }),
  );
  const instSel = h('select', { class: 'sel', testid: 'stack-instance', attrs: { 'aria-label': 'Instance' } });
  instSel.addEventListener('change', () => app.setParams({ instance: instSel.value }, true));
  const endpointIn = h('input', { class: 'inp wide', testid: 'stack-endpoint', attrs: { type: 'text', placeholder: 'Endpoint (exact)', spellcheck: 'false', 'aria-label': 'Endpoint' } });
  endpointIn.addEventListener('change', () => app.setParams({ endpoint: endpointIn.value.trim() }, true));
  const clearEp = h('button', { class: 'btn small', text: 'Clear', attrs: { type: 'button' }, on: { click: () => app.setParams({ endpoint: '' }, true) } });
  const reloadBtn = h('button', { class: 'btn', text: 'Reload', attrs: { type: 'button' }, on: { click: () => { loadedKey = ''; load(); } } });
  const info = h('span', { class: 'status-line', testid: 'stack-info' });

  const thead = h('thead');
  const tbody = h('tbody');
  const framesMsg = h('div');
  const framesTable = h('table', { class: 'tbl stack-table', testid: 'stack-frames' }, thead, tbody);
  const framesFoot = h('div', { class: 'muted small-text' });
  const epBody = h('div', { class: 'stack-endpoints', testid: 'stack-endpoints' });
  const epPanel = h('section', { class: 'panel' },
    h('div', { class: 'panel-head' }, h('h2', { text: 'Samples by endpoint' })),
    h('div', { class: 'panel-body' }, epBody));

  const el = h(
    'div',
    { class: 'stack-page', testid: 'active-stack' },
    h('section', { class: 'panel' },
      h('div', { class: 'toolbar' },
        h('div', { class: 'seg-group' }, ...presetBtns),
        h('span', { class: 'tb-sep' }),
        h('label', { class: 'fld' }, h('span', { text: 'Instance' }), instSel),
        h('label', { class: 'fld' }, h('span', { text: 'Endpoint' }), endpointIn),
        clearEp,
        h('span', { class: 'tb-sep' }),
        reloadBtn,
        info)),
    h('div', { class: 'stack-grid' },
      h('section', { class: 'panel' },
        h('div', { class: 'panel-head' }, h('h2', { text: 'Active stack' }),
          h('span', { class: 'muted small-text', text: 'Share of samples: inclusive = the frame is anywhere on the stack, self = it is the innermost frame' })),
        h('div', { class: 'panel-body table-scroll' }, framesMsg, framesTable, framesFoot)),
      epPanel),
  );

  const sortKey = (): FrameSort => parseFrameSort(r.params.sort);

  function renderFrames(): void {
    const k = sortKey();
    replace(thead, h('tr', null, ...COLS.map((c) => {
      const th = h('th', { class: c.cls + (c.key ? ' sortable' : '') + (c.key === k ? ' sorted' : ''), text: c.label + (c.key === k ? (k === 'frame' ? ' ▲' : ' ▼') : '') });
      if (c.key) {
        const key = c.key;
        th.addEventListener('click', () => app.setParams({ sort: key === 'samples' ? '' : key }));
      }
      return th;
    })));
    if (!res) {
      replace(tbody);
      framesTable.classList.add('hidden');
      return;
    }
    const rows = frameRows(res, k);
    framesTable.classList.toggle('hidden', rows.length === 0);
    replace(tbody, ...rows.slice(0, MAX_ROWS).map((f) => {
      const kind = frameKind(f.frame);
      const bar = h('div', { class: 'share-bar kind-' + kind });
      bar.style.width = barWidth(f.share);
      const selfBar = h('div', { class: 'self-bar' });
      selfBar.style.width = barWidth(f.selfShare);
      return h('tr', { class: 'frame-row', testid: 'stack-frame', attrs: { 'data-share': f.share.toFixed(4) } },
        h('td', { class: 'frame-name', title: f.frame },
          KIND_LABEL[kind] ? h('span', { class: 'kind kind-' + kind, text: KIND_LABEL[kind]! }) : null,
          h('span', { class: 'mono frame-text', text: f.frame })),
        h('td', { class: 'num', text: fmtInt(f.samples) }),
        h('td', { class: 'share-col' }, h('div', { class: 'share-track' }, bar), h('span', { class: 'share-pct', testid: 'frame-share', text: fmtShare(f.share) })),
        h('td', { class: 'num', text: fmtInt(f.selfSamples) }),
        h('td', { class: 'num self-share' }, h('div', { class: 'self-track' }, selfBar), h('span', { class: 'share-pct', text: fmtShare(f.selfShare) })));
    }));
    framesFoot.textContent = rows.length > MAX_ROWS ? fmtInt(rows.length - MAX_ROWS) + ' more frames with fewer samples are not shown.' : '';
  }

  function renderEndpoints(): void {
    const sel = r.params.endpoint ?? '';
    if (!res) {
      replace(epBody);
      return;
    }
    const rows = endpointRows(res);
    if (rows.length === 0) {
      replace(epBody, note('No endpoints.', 'empty'));
      return;
    }
    replace(epBody, ...rows.map((e) => {
      const bar = h('div', { class: 'ep-bar' });
      bar.style.width = barWidth(e.rel);
      const open = () => app.setParams({ endpoint: sel === e.endpoint ? '' : e.endpoint }, true);
      return h('button', {
        class: 'ep-sample' + (sel === e.endpoint ? ' selected' : ''),
        testid: 'stack-endpoint-row',
        title: sel === e.endpoint ? 'Show all endpoints again' : 'Show only the stacks of ' + e.endpoint,
        attrs: { type: 'button' },
        on: { click: open },
      },
      h('span', { class: 'mono ep-name', text: e.endpoint || '(no endpoint)' }),
      h('span', { class: 'ep-count', text: fmtInt(e.samples) }),
      h('div', { class: 'ep-track' }, bar));
    }));
  }

  function fillInstances(): void {
    const service = r.params.service ?? '';
    const current = r.params.instance ?? '';
    app.instances().then((list) => {
      const names = Array.from(new Set(list.filter((i) => !service || i.service === service).map((i) => i.instance)));
      if (current && !names.includes(current)) names.push(current);
      names.sort();
      replace(instSel, h('option', { text: 'All instances', attrs: { value: '' } }), ...names.map((n) => h('option', { text: n, attrs: { value: n } })));
      instSel.value = current;
    }).catch(() => {});
  }

  function load(): void {
    const range = resolveRange(r.params, Date.now(), DEFAULT_PRESET);
    for (const b of presetBtns) b.classList.toggle('active', b.textContent === range.preset);
    endpointIn.value = r.params.endpoint ?? '';
    clearEp.classList.toggle('hidden', !r.params.endpoint);
    const q = {
      from: Math.floor(range.from),
      to: Math.ceil(range.to),
      service: r.params.service || undefined,
      instance: r.params.instance || undefined,
      endpoint: r.params.endpoint || undefined,
      limit: 1000,
    };
    const key = JSON.stringify([app.project, range.preset || [range.from, range.to], q.service, q.instance, q.endpoint]);
    if (key === loadedKey) return;
    loadedKey = key;
    ac.abort();
    ac = new AbortController();
    info.textContent = 'Loading…';
    el.setAttribute('data-loading', '1');
    app.api
      .activeStack(q, ac.signal)
      .then((got) => {
        res = got;
        epPanel.classList.remove('hidden');
        el.removeAttribute('data-loading');
        const n = got.samples ?? 0;
        info.textContent = fmtInt(n) + ' samples · ' + fmtInt((got.frames ?? []).length) + ' frames · ' + fmtDateTime(range.from, false) + ' → ' + fmtDateTime(range.to, false);
        info.setAttribute('data-samples', String(n));
        if (n === 0 || (got.frames ?? []).length === 0) {
          const filtered = !!(q.endpoint || q.instance || q.service);
          replace(framesMsg, h('div', { class: 'note note-empty', testid: 'stack-empty' },
            h('p', { text: 'No stack samples' + (filtered ? ' for these filters' : '') + ' in this range.' }),
            h('p', { text: 'Samples come from Loupe agents: while a transaction runs past the active-stack threshold, the agent samples its stack (the transaction, its open steps and native frames) at the configured interval. Fast transactions never appear here, and OpenTelemetry SDKs send no samples.' }),
            h('p', null, 'The threshold and interval are set in ', h('a', { text: 'Agent settings', attrs: { href: app.href('agent-settings', r.params.service ? { service: r.params.service } : {}) } }), '.')));
        } else replace(framesMsg);
        renderFrames();
        renderEndpoints();
        el.setAttribute('data-ready', '1');
      })
      .catch((e: unknown) => {
        if (e instanceof DOMException && e.name === 'AbortError') return;
        el.removeAttribute('data-loading');
        loadedKey = '';
        res = null;
        info.textContent = '';
        renderFrames();
        renderEndpoints();
        epPanel.classList.toggle('hidden', isUnsupported(e));
        replace(framesMsg, isUnsupported(e)
          ? h('div', { class: 'note note-error', testid: 'unsupported', text: 'This Loupe server does not provide the active stack (GET /api/v1/active-stack answered ' + (e as ApiError).status + '). Upgrade the server to a version with agent support.' })
          : note('Could not load the active stack: ' + (e instanceof Error ? e.message : String(e)), 'error'));
      });
  }

  fillInstances();
  load();
  renderFrames();
  return {
    el,
    update(next: Route) {
      const svcChanged = (next.params.service ?? '') !== (r.params.service ?? '');
      r = next;
      if (svcChanged) fillInstances();
      else instSel.value = r.params.instance ?? '';
      load();
      renderFrames();
      renderEndpoints();
      return true;
    },
    dispose() {
      ac.abort();
    },
  };
}

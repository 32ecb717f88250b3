// X-View analysis: any time range with filters, every point up to 1,000,000 (density bins
// beyond), zoom / pan, drag-select → transaction list → profile.

import { ApiError } from '../api/client';
import type { XViewResponse } from '../api/types';
import type { App, PageHandle } from '../app';
import { XViewChart } from '../charts/xview';
import { fmtDateTime, fmtInt, fmtMs, fromDateTimeLocal, toDateTimeLocal } from '../data/format';
import { PointBuffer } from '../data/points';
import type { SelectionRect } from '../data/selection';
import { pickPoint, pointToParams, selectionToParams } from '../data/selection';
import type { Filters, Route } from '../data/urlstate';
import { filtersFromParams, filtersToApi, filtersToParams, resolveRange } from '../data/urlstate';
import { h, note, replace } from '../ui/dom';
import { TxList } from './txlist';
import type { TxSort } from './txlist';

const PRESETS = ['5m', '1h', '6h', '24h'];
/** Up to this many points the X-View is loaded with ids; beyond, without (`ids=0`). */
const IDS_MAX = 50_000;

function parseSel(s: string | undefined): SelectionRect | null {
  if (!s) return null;
  const p = s.split(',').map(Number);
  if (p.length !== 4 || p.some((v) => !Number.isFinite(v))) return null;
  return { x0: p[0]!, x1: p[1]!, y0: p[2]!, y1: p[3]! };
}

function fmtSel(r: SelectionRect): string {
  return [Math.floor(r.x0), Math.ceil(r.x1), r.y0.toFixed(3), r.y1.toFixed(3)].join(',');
}

export function xviewPage(app: App, route: Route): PageHandle {
  let ac = new AbortController();
  let listAc = new AbortController();
  let r = route;
  const buf = new PointBuffer(1024);
  let loadedKey = '';
  let logY = r.params.y !== 'lin';

  // ---- Toolbar
  const presetBtns = PRESETS.map((p) =>
    h('button', { class: 'btn seg', text: p, testid: 'range-' + p, attrs: { type: 'button' }, on: { click: () => app.setParams({ range: p, from: '', to: '', sel: '' }, true) } }),
  );
  const fromIn = h('input', { class: 'inp', attrs: { type: 'datetime-local', 'aria-label': 'From' } });
  const toIn = h('input', { class: 'inp', attrs: { type: 'datetime-local', 'aria-label': 'To' } });
  const applyRange = h('button', { class: 'btn', text: 'Apply', attrs: { type: 'button' } });
  applyRange.addEventListener('click', () => {
    const f = fromDateTimeLocal(fromIn.value);
    const t = fromDateTimeLocal(toIn.value);
    if (Number.isFinite(f) && Number.isFinite(t) && f < t) app.setParams({ range: '', from: String(f), to: String(t), sel: '' }, true);
    else status.textContent = 'Pick a start before the end.';
  });
  const instSel = h('select', { class: 'sel', attrs: { 'aria-label': 'Instance' } });
  const endpointIn = h('input', { class: 'inp wide', testid: 'filter-endpoint', attrs: { type: 'text', placeholder: 'Endpoint (exact)', list: 'endpoint-options', spellcheck: 'false' } });
  const endpointList = h('datalist', { attrs: { id: 'endpoint-options' } });
  const errorsIn = h('input', { attrs: { type: 'checkbox' }, testid: 'filter-errors' });
  const minIn = h('input', { class: 'inp num-in', attrs: { type: 'number', min: '0', step: 'any', placeholder: 'ms' }, testid: 'filter-min' });
  const logBtn = h('button', { class: 'btn', attrs: { type: 'button' }, testid: 'xview-log' });
  const resetBtn = h('button', { class: 'btn', text: 'Reset zoom', attrs: { type: 'button', disabled: '' } });
  const useRangeBtn = h('button', { class: 'btn hidden', text: 'Load this time range', title: 'Make the zoomed time range the query range (exact points when the full range was binned)', attrs: { type: 'button' } });
  useRangeBtn.addEventListener('click', () => {
    const v = chart.visible();
    app.setParams({ range: '', from: String(Math.floor(v.x0)), to: String(Math.ceil(v.x1)), sel: '' }, true);
  });
  const reloadBtn = h('button', { class: 'btn', text: 'Reload', attrs: { type: 'button' } });

  const applyFilters = () => {
    const min = Number(minIn.value);
    const f: Filters = {
      service: r.params.service ?? '',
      instance: instSel.value,
      endpoint: endpointIn.value.trim(),
      errorsOnly: errorsIn.checked,
      minMs: Number.isFinite(min) && min > 0 ? min : null,
    };
    app.setParams({ ...filtersToParams(f), sel: '' }, true);
  };
  instSel.addEventListener('change', applyFilters);
  endpointIn.addEventListener('change', applyFilters);
  errorsIn.addEventListener('change', applyFilters);
  minIn.addEventListener('change', applyFilters);
  logBtn.addEventListener('click', () => app.setParams({ y: logY ? 'lin' : '' }));
  resetBtn.addEventListener('click', () => chart.resetZoom());
  reloadBtn.addEventListener('click', () => {
    loadedKey = '';
    load();
  });

  const toolbar = h(
    'div',
    { class: 'toolbar' },
    h('div', { class: 'seg-group' }, ...presetBtns),
    h('label', { class: 'fld' }, h('span', { text: 'From' }), fromIn),
    h('label', { class: 'fld' }, h('span', { text: 'To' }), toIn),
    applyRange,
    h('span', { class: 'tb-sep' }),
    h('label', { class: 'fld' }, h('span', { text: 'Instance' }), instSel),
    h('label', { class: 'fld' }, h('span', { text: 'Endpoint' }), endpointIn, endpointList),
    h('label', { class: 'fld chk' }, errorsIn, h('span', { text: 'Errors only' })),
    h('label', { class: 'fld' }, h('span', { text: 'Min elapsed' }), minIn),
    h('span', { class: 'tb-sep' }),
    logBtn,
    resetBtn,
    useRangeBtn,
    reloadBtn,
  );

  // ---- Chart
  const status = h('div', { class: 'status-line', testid: 'xview-status' });
  const chartBody = h('div', { class: 'panel-body chart-body xview-big' });
  const chart = new XViewChart(chartBody, { zoomable: true, selectable: true }, logY);
  chart.onViewChange = (z) => {
    if (z) resetBtn.removeAttribute('disabled');
    else resetBtn.setAttribute('disabled', '');
    useRangeBtn.classList.toggle('hidden', !z);
  };
  chart.onSelect = (rect) => app.setParams({ sel: rect ? fmtSel(rect) : '' });
  chart.onPointClick = (id) => app.go('tx', {}, id);
  // Large X-Views come without ids (ids=0): a clicked dot's id is looked up by its end time and
  // elapsed time.
  chart.resolvePoint = async (endMs, elapsedMs) => {
    const res = await app.api.transactions(pointToParams(endMs, elapsedMs, filters));
    return pickPoint(res.transactions ?? [], endMs, elapsedMs)?.id ?? null;
  };
  chart.setEmptyText('No transactions in this range with these filters.');
  const hint = h('span', { class: 'muted small-text', text: 'Drag: select · Click a dot: open it · Wheel: zoom time · Shift+wheel: zoom elapsed · Shift+drag: pan · Double-click: reset' });

  // ---- Selection / list
  const selInfo = h('div', { class: 'sel-info', testid: 'tx-count' });
  const zoomSelBtn = h('button', { class: 'btn small', text: 'Zoom to selection', attrs: { type: 'button' } });
  const clearSelBtn = h('button', { class: 'btn small', text: 'Clear', attrs: { type: 'button' } });
  const listMsg = h('div');
  const txList = new TxList(app, (r.params.sort as TxSort) || 'slowest');
  txList.onSort = (s) => {
    app.setParams({ sort: s === 'slowest' ? '' : s });
  };
  const listPanel = h(
    'section',
    { class: 'panel list-panel hidden' },
    h('div', { class: 'panel-head' }, h('h2', { text: 'Transactions in selection' }), selInfo, h('div', { class: 'header-spacer' }), zoomSelBtn, clearSelBtn),
    h('div', { class: 'panel-body' }, listMsg, txList.el),
  );
  zoomSelBtn.addEventListener('click', () => {
    const s = parseSel(r.params.sel);
    if (s) {
      chart.zoomTo(s);
      app.setParams({ sel: '' });
    }
  });
  clearSelBtn.addEventListener('click', () => app.setParams({ sel: '' }));

  const el = h(
    'div',
    { class: 'xview-page' },
    h('section', { class: 'panel' }, toolbar),
    h('section', { class: 'panel xview-panel' }, h('div', { class: 'panel-head' }, h('h2', { text: 'X-View' }), status, h('div', { class: 'header-spacer' }), hint), chartBody),
    listPanel,
  );

  // ---- Data
  let range = resolveRange(r.params, Date.now(), '1h');
  let filters = filtersFromParams(r.params);

  function syncControls(): void {
    for (const b of presetBtns) b.classList.toggle('active', b.textContent === range.preset);
    fromIn.value = toDateTimeLocal(range.from);
    toIn.value = toDateTimeLocal(range.to);
    endpointIn.value = filters.endpoint;
    errorsIn.checked = filters.errorsOnly;
    minIn.value = filters.minMs != null ? String(filters.minMs) : '';
    logBtn.textContent = logY ? 'Log scale' : 'Linear scale';
    if (instSel.value !== filters.instance) instSel.value = filters.instance;
  }

  function fillInstances(): void {
    app.instances().then((list) => {
      const names = Array.from(new Set(list.filter((i) => !filters.service || i.service === filters.service).map((i) => i.instance)));
      if (filters.instance && !names.includes(filters.instance)) names.push(filters.instance);
      names.sort();
      replace(instSel, h('option', { text: 'All instances', attrs: { value: '' } }), ...names.map((n) => h('option', { text: n, attrs: { value: n } })));
      instSel.value = filters.instance;
    }).catch(() => {});
    app.api.endpoints({ from: range.from, to: range.to, service: filters.service || undefined }).then((res) => {
      const eps = Array.from(new Set((res.endpoints ?? []).map((e) => e.endpoint))).slice(0, 500);
      replace(endpointList, ...eps.map((e) => h('option', { attrs: { value: e } })));
    }).catch(() => {});
  }

  function dataKey(): string {
    return JSON.stringify([app.project, range.preset || [range.from, range.to], filtersToApi(filters)]);
  }

  function load(): void {
    const key = dataKey();
    if (key === loadedKey) return;
    loadedKey = key;
    ac.abort();
    ac = new AbortController();
    range = resolveRange(r.params, Date.now(), '1h');
    syncControls();
    status.textContent = 'Loading…';
    el.setAttribute('data-loading', '1');
    const t0 = performance.now();
    const q = { from: Math.floor(range.from), to: Math.ceil(range.to), ...filtersToApi(filters) };
    const sig = ac.signal;
    // Ids are most of a large answer (a million 16-hex ids: ~19 MB of JSON to transfer and
    // parse) and only needed for a clicked dot, which resolvePoint looks up. So first ask for
    // at most IDS_MAX points with ids (a single density cell when there are more, i.e. just the
    // total), and only then for up to a million without ids.
    app.api
      .xview({ ...q, max_points: IDS_MAX, x_bins: 1, y_bins: 1 }, sig)
      .then((small: XViewResponse) => (small.binned ? app.api.xview({ ...q, max_points: 1_000_000, ids: 0 }, sig) : small))
      .then((res: XViewResponse) => {
        const tFetch = performance.now() - t0;
        chart.resetZoom();
        if (res.binned && res.bins) {
          buf.clear();
          chart.setBins(res.bins, res.total);
          status.textContent = fmtInt(res.total) + ' transactions · density view (more than 1,000,000 points)';
        } else {
          buf.clear();
          if (res.points) buf.appendColumns(res.points);
          chart.setPoints(buf, range.from, range.to);
          let errs = 0;
          for (let i = buf.head; i < buf.tail; i++) errs += buf.err[i]!;
          status.textContent =
            fmtInt(buf.length) + ' transactions' + (errs ? ' · ' + fmtInt(errs) + ' errors' : '') + ' · ' + fmtDateTime(range.from, false) + ' → ' + fmtDateTime(range.to, false) +
            ' · fetched in ' + Math.round(tFetch) + ' ms';
          if (buf.length === 0) status.textContent = 'No transactions in this range' + (filters.endpoint || filters.instance || filters.errorsOnly || filters.minMs ? ' with these filters' : '') + '.';
        }
        el.removeAttribute('data-loading');
        showSelection();
      })
      .catch((e: unknown) => {
        if (e instanceof DOMException && e.name === 'AbortError') return;
        el.removeAttribute('data-loading');
        status.textContent = 'Could not load the X-View: ' + (e instanceof ApiError ? e.message : String(e));
        loadedKey = '';
      });
  }

  let listKey = '';
  function showSelection(): void {
    const sel = parseSel(r.params.sel);
    chart.setSelection(sel);
    if (!sel) {
      listPanel.classList.add('hidden');
      listKey = '';
      return;
    }
    listPanel.classList.remove('hidden');
    const local = buf.length ? buf.countInRect(sel.x0, sel.x1 + 1, sel.y0, sel.y1) : null;
    const params = selectionToParams(sel, filters, txList.sort, 1000);
    const key = JSON.stringify([app.project, params]);
    if (key === listKey) return;
    listKey = key;
    listAc.abort();
    listAc = new AbortController();
    selInfo.textContent = 'Loading…';
    replace(listMsg);
    app.api
      .transactions(params, listAc.signal)
      .then((res) => {
        const rows = res.transactions ?? [];
        txList.set(rows);
        const parts = [fmtInt(rows.length) + (res.truncated ? '+' : '') + ' transactions'];
        if (local && res.truncated) parts.push(fmtInt(local.count) + ' in the selection, showing the first ' + fmtInt(rows.length) + ' by ' + txList.sort);
        parts.push(fmtDateTime(sel.x0, false).slice(11) + ' → ' + fmtDateTime(sel.x1, false).slice(11));
        parts.push(fmtMs(sel.y0) + ' – ' + fmtMs(sel.y1));
        selInfo.textContent = parts.join(' · ');
        selInfo.setAttribute('data-count', String(rows.length));
        if (rows.length === 0) replace(listMsg, note('No transactions in the selected area.', 'empty'));
        // Bring the list into view only when its header would be off-screen.
        // (a few rows' worth, so most of the chart stays in view).
        const top = listPanel.getBoundingClientRect().top;
        if (top > window.innerHeight - 160) window.scrollBy({ top: top - window.innerHeight + 260, behavior: 'smooth' });
      })
      .catch((e: unknown) => {
        if (e instanceof DOMException && e.name === 'AbortError') return;
        selInfo.textContent = '';
        listKey = '';
        replace(listMsg, note('Could not list transactions: ' + (e instanceof ApiError ? e.message : String(e)), 'error'));
      });
  }

  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'Escape' && r.params.sel && !(e.target instanceof HTMLInputElement)) app.setParams({ sel: '' });
  };
  window.addEventListener('keydown', onKey);

  syncControls();
  fillInstances();
  load();

  return {
    el,
    update(next: Route) {
      r = next;
      const wantLog = r.params.y !== 'lin';
      if (wantLog !== logY) {
        logY = wantLog;
        chart.setLogY(logY);
      }
      if (r.params.sort && r.params.sort !== txList.sort) txList.sort = r.params.sort as TxSort;
      const nf = filtersFromParams(r.params);
      const nr = resolveRange(r.params, Date.now(), '1h');
      const changed = JSON.stringify(nf) !== JSON.stringify(filters) || nr.preset !== range.preset || (!nr.preset && (nr.from !== range.from || nr.to !== range.to));
      filters = nf;
      if (changed) {
        range = nr;
        fillInstances();
        load();
      } else {
        syncControls();
        showSelection();
      }
      return true;
    },
    dispose() {
      window.removeEventListener('keydown', onKey);
      ac.abort();
      listAc.abort();
      chart.dispose();
    },
  };
}


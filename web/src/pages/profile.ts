// Transaction profile: summary, call tree with share-of-total bars, SQL / external / error
// details, a Gantt timeline and the other transactions of the same distributed trace.

import { ApiError } from '../api/client';
import type { Step, TraceTx, TxDetail } from '../api/types';
import type { App, PageHandle } from '../app';
import { gantt, safeKind } from '../charts/gantt';
import { pickActiveMatch } from '../data/bands';
import { fmtDateTime, fmtInt, fmtMs } from '../data/format';
import type { Route } from '../data/urlstate';
import { h, link, note, replace } from '../ui/dom';

function plural(n: number, word: string): string {
  return fmtInt(n) + ' ' + word + (n === 1 ? '' : 's');
}

/** How long a transaction opened from the active list is waited for. */
const STILL_RUNNING_WAIT_MS = 10 * 60_000;

const KIND_LABEL: Record<string, string> = { method: 'METHOD', sql: 'SQL', external: 'HTTP', message: 'MSG', error: 'ERROR', other: 'STEP' };

export function profilePage(app: App, route: Route): PageHandle {
  const ac = new AbortController();
  const el = h('div', { class: 'profile-page', testid: 'profile' }, note('Loading transaction…'));
  const id = route.id ?? '';

  // Opened from the active-service list (`active=1`): the transaction may still be running, so
  // a 404 means "not finished yet" and the page keeps asking until it is stored.
  const fromActive = route.params.active === '1';
  const waitStart = Date.now();
  let retry = 0;
  // The agent's id is a root span id: with `trace`, find the stored transaction through the
  // trace (same instance, nearest start) and replace this URL with the transaction's own.
  const viaTrace = fromActive ? route.params.trace ?? '' : '';
  const startParam = Number(route.params.start);
  const fetchTx = (): Promise<TxDetail> => {
    if (!viaTrace) return app.api.transaction(id, ac.signal);
    return app.api.trace(viaTrace, ac.signal).then((t) => {
      const m = pickActiveMatch(t.transactions ?? [], route.params.inst ?? '', route.params.start && Number.isFinite(startParam) ? startParam : null);
      if (!m) throw new ApiError(404, 'not_found', 'not stored yet');
      window.location.replace(app.href('tx', {}, m.id));
      return new Promise<TxDetail>(() => {}); // the page is rebuilt for the new URL
    });
  };
  const load = () => {
    fetchTx()
      .then((tx) => {
        el.removeAttribute('data-still-running');
        render(tx);
        el.setAttribute('data-loaded', '1');
      })
      .catch((e: unknown) => {
        if (e instanceof DOMException && e.name === 'AbortError') return;
        const notFound = e instanceof ApiError && e.status === 404;
        if (notFound && fromActive && Date.now() - waitStart < STILL_RUNNING_WAIT_MS) {
          el.setAttribute('data-still-running', '1');
          replace(el, h('div', { class: 'note still-running', testid: 'still-running' },
            h('span', { class: 'live-dot connecting' }),
            h('span', { text: 'Transaction ' + id + ' is still running. Its profile opens here as soon as it finishes (checking every 2 s).' })));
          retry = window.setTimeout(load, 2000);
          return;
        }
        el.removeAttribute('data-still-running');
        replace(
          el,
          note(notFound
            ? fromActive
              ? 'Transaction ' + id + ' has not finished after ' + Math.round(STILL_RUNNING_WAIT_MS / 60_000) + ' minutes, or its agent did not export it. Reload to keep waiting.'
              : 'Transaction ' + id + ' was not found (it may have aged out of retention, or belongs to another project).'
            : 'Could not load the transaction: ' + (e instanceof Error ? e.message : String(e)), 'error'),
        );
      });
  };
  load();

  function field(label: string, value: string | Node, cls = ''): HTMLElement {
    return h('div', { class: 'kv' }, h('div', { class: 'kv-k', text: label }), h('div', { class: 'kv-v ' + cls }, value));
  }

  function render(tx: TxDetail): void {
    document.title = tx.endpoint + ' · Loupe';
    const steps = tx.steps ?? [];
    const total = tx.elapsed_ms > 0 ? tx.elapsed_ms : 1;
    const head = h(
      'section',
      { class: 'panel profile-head' + (tx.error ? ' error' : '') },
      h('div', { class: 'profile-title' },
        h('button', { class: 'btn small', text: '← Back', attrs: { type: 'button' }, on: { click: () => (history.length > 1 ? history.back() : app.go('dashboard')) } }),
        h('span', { class: 'badge ' + (tx.error ? 'bad' : 'ok'), text: tx.error ? 'ERROR' : 'OK' }),
        h('h1', { class: 'mono', testid: 'profile-endpoint', text: tx.endpoint || tx.method || '(no endpoint)' }),
        h('div', { class: 'header-spacer' }),
        h('a', { class: 'btn small', text: 'Endpoint in X-View', attrs: { href: app.href('xview', { endpoint: tx.endpoint, service: tx.service, from: String(Math.floor(tx.end_ms - 1_800_000)), to: String(Math.ceil(tx.end_ms + 1_800_000)) }) } }),
        h('div', { class: 'profile-elapsed', text: fmtMs(tx.elapsed_ms) })),
      h('div', { class: 'kv-grid' },
        field('Service', tx.service),
        field('Instance', tx.instance),
        field('User', tx.user || '–'),
        field('Client IP', tx.client_ip || '–', 'mono'),
        field('Start', fmtDateTime(tx.start_ms)),
        field('End', fmtDateTime(tx.end_ms)),
        field('Elapsed', fmtMs(tx.elapsed_ms)),
        field('Status', (tx.status ? String(tx.status) : '–') + (tx.error ? ' · ' + (tx.error_type || 'error') : ''), tx.error ? 'err-text' : ''),
        field('SQL', tx.sql_count ? plural(tx.sql_count, 'call') + ' · ' + fmtMs(tx.sql_ms) : '–'),
        field('External', tx.external_count ? plural(tx.external_count, 'call') + ' · ' + fmtMs(tx.external_ms) : '–'),
        field('CPU', tx.cpu_ms != null ? fmtMs(tx.cpu_ms) : '–'),
        field('Transaction id', tx.id, 'mono'),
        field('Trace id', tx.trace_id || '–', 'mono'),
        tx.url ? field('URL', tx.url, 'mono break') : null,
        tx.host ? field('Host', tx.host, 'mono') : null),
    );

    // Call tree.
    const rows: HTMLElement[] = [];
    steps.forEach((s, i) => rows.push(...stepRows(s, i, total)));
    const tree = h(
      'section',
      { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h2', { text: 'Profile' }), h('span', { class: 'muted', text: plural(steps.length, 'step') }),
        tx.dropped_steps ? h('span', { class: 'warn-text', text: ' · ' + fmtInt(tx.dropped_steps) + ' steps dropped by limits' }) : null),
      steps.length
        ? h('table', { class: 'tbl profile-tree' },
            h('thead', null, h('tr', null, h('th', { text: 'Step' }), h('th', { class: 'num', text: 'Start' }), h('th', { class: 'num', text: 'Elapsed' }), h('th', { class: 'share-col', text: 'Share of total' }))),
            h('tbody', null, ...rows))
        : note('This transaction has no recorded steps.', 'empty'),
    );

    const timeline = h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', { text: 'Timeline' })),
      steps.length ? gantt(steps, total, (i) => document.getElementById('step-' + i)?.scrollIntoView({ block: 'center', behavior: 'smooth' })) : note('No steps.', 'empty'));

    const traceBox = h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', { text: 'Distributed trace' })), h('div', { class: 'panel-body', testid: 'trace' }, note(tx.trace_id ? 'Loading trace…' : 'No trace id.')));
    replace(el, head, traceBox, tree, timeline);
    if (tx.trace_id) loadTrace(tx, traceBox.lastElementChild as HTMLElement);
  }

  function stepRows(s: Step, i: number, total: number): HTMLElement[] {
    const kind = safeKind(s.kind);
    const share = Math.max(0, Math.min(1, s.elapsed_ms / total));
    const bar = h('div', { class: 'share-bar kind-' + kind });
    bar.style.width = (share * 100).toFixed(2) + '%';
    const nameCell = h('td', { class: 'step-name' },
      h('span', { class: 'kind kind-' + kind, text: KIND_LABEL[kind] ?? 'STEP' }),
      h('span', { class: 'step-text' + (kind === 'sql' ? ' mono' : ''), text: s.name || s.kind }));
    nameCell.style.paddingLeft = 8 + Math.max(0, s.depth - 1) * 18 + 'px';
    const row = h('tr', { class: 'step-row' + (s.error ? ' error' : ''), testid: 'profile-step', attrs: { id: 'step-' + i, 'data-kind': kind } },
      nameCell,
      h('td', { class: 'num muted', text: '+' + fmtMs(s.offset_ms) }),
      h('td', { class: 'num', text: fmtMs(s.elapsed_ms) }),
      h('td', { class: 'share-col' }, h('div', { class: 'share-track' }, bar), h('span', { class: 'share-pct', text: (share * 100).toFixed(1) + '%' })));
    const details = stepDetails(s);
    if (!details) return [row];
    const td = h('td', { attrs: { colspan: '4' } }, details);
    td.style.paddingLeft = 8 + Math.max(0, s.depth - 1) * 18 + 26 + 'px';
    return [row, h('tr', { class: 'step-detail' + (s.error ? ' error' : '') }, td)];
  }

  function stepDetails(s: Step): HTMLElement | null {
    const parts: HTMLElement[] = [];
    if (s.sql) {
      parts.push(h('pre', { class: 'code sql-text', testid: 'sql-text', text: s.sql }));
      const meta: string[] = [];
      if (s.db_system) meta.push(s.db_system);
      if (s.rows) meta.push(fmtInt(s.rows) + ' rows');
      if (meta.length) parts.push(h('div', { class: 'muted small-text', text: meta.join(' · ') }));
      if (s.binds && s.binds.length) {
        parts.push(h('div', { class: 'binds' }, h('span', { class: 'muted', text: 'Binds: ' }),
          ...s.binds.map((b, k) => h('span', { class: 'bind mono', text: '[' + (k + 1) + '] ' + b }))));
      }
    }
    if (s.url || s.host) {
      parts.push(h('div', { class: 'ext' },
        s.http_status ? h('span', { class: 'badge ' + (s.http_status >= 400 ? 'bad' : 'ok'), text: String(s.http_status) }) : null,
        h('span', { class: 'mono break', text: s.url || s.host })));
    }
    if (s.message) parts.push(h('div', { class: 'msg' + (s.error ? ' err-text' : '') , text: s.message }));
    if (s.stack) parts.push(h('pre', { class: 'code stack', text: s.stack }));
    const attrs = s.attributes ? Object.entries(s.attributes) : [];
    if (attrs.length) {
      const d = h('details', { class: 'attrs' }, h('summary', { text: attrs.length + ' attributes' }),
        h('table', { class: 'tbl compact' }, h('tbody', null, ...attrs.map(([k, v]) => h('tr', null, h('td', { class: 'mono muted', text: k }), h('td', { class: 'mono break', text: String(v) }))))));
      parts.push(d);
    }
    return parts.length ? h('div', { class: 'step-details' }, ...parts) : null;
  }

  function loadTrace(tx: TxDetail, box: HTMLElement): void {
    app.api
      .trace(tx.trace_id, ac.signal)
      .then((t) => {
        const list = t.transactions ?? [];
        if (list.length <= 1) {
          replace(box, note('Only this transaction belongs to trace ' + tx.trace_id + '.', 'empty'));
          return;
        }
        // Parent → child tree, in start order.
        const kids = new Map<string, TraceTx[]>();
        const ids = new Set(list.map((x) => x.id));
        const roots: TraceTx[] = [];
        for (const x of list) {
          if (x.parent_id && ids.has(x.parent_id)) {
            const k = kids.get(x.parent_id) ?? [];
            k.push(x);
            kids.set(x.parent_id, k);
          } else roots.push(x);
        }
        const t0 = Math.min(...list.map((x) => x.start_ms));
        const rows: HTMLElement[] = [];
        const walk = (x: TraceTx, depth: number) => {
          const cur = x.id === tx.id;
          const name = h('td', { class: 'mono' }, cur ? h('strong', { text: x.endpoint }) : link(app.href('tx', {}, x.id), x.endpoint || x.id));
          name.style.paddingLeft = 8 + depth * 18 + 'px';
          rows.push(h('tr', { class: (cur ? 'current' : '') + (x.error ? ' error' : ''), testid: 'trace-row' },
            name,
            h('td', { text: x.service + ' / ' + x.instance }),
            h('td', { class: 'num muted', text: '+' + fmtMs(x.start_ms - t0) }),
            h('td', { class: 'num', text: fmtMs(x.elapsed_ms) }),
            h('td', { class: x.error ? 'err-text' : '', text: x.error ? 'error' : String(x.status || '') })));
          for (const c of (kids.get(x.id) ?? []).sort((a, b) => a.start_ms - b.start_ms)) walk(c, depth + 1);
        };
        for (const x of roots.sort((a, b) => a.start_ms - b.start_ms)) walk(x, 0);
        replace(box, h('table', { class: 'tbl' },
          h('thead', null, h('tr', null, h('th', { text: 'Transaction' }), h('th', { text: 'Service / instance' }), h('th', { class: 'num', text: 'Start' }), h('th', { class: 'num', text: 'Elapsed' }), h('th', { text: 'Status' }))),
          h('tbody', null, ...rows)));
      })
      .catch((e: unknown) => {
        if (e instanceof DOMException && e.name === 'AbortError') return;
        replace(box, note('Could not load the trace: ' + (e instanceof Error ? e.message : String(e)), 'error'));
      });
  }

  return {
    el,
    dispose() {
      ac.abort();
      window.clearTimeout(retry);
    },
  };
}

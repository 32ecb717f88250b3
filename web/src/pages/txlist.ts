// The transaction list (X-View selection, endpoint drill-down): sortable, one click to the
// profile. Server-side sort for elapsed / SQL / external so a truncated list still holds the
// worst ones.

import type { TxSummary } from '../api/types';
import type { App } from '../app';
import { fmtDateTime, fmtMs } from '../data/format';
import { h, replace } from '../ui/dom';

export type TxSort = 'newest' | 'slowest' | 'sql' | 'external';

interface Col {
  label: string;
  cls?: string;
  sort?: TxSort;
  cell: (t: TxSummary) => Node | string;
}

export class TxList {
  readonly el: HTMLElement;
  private readonly head: HTMLElement;
  private readonly body: HTMLElement;
  private rows: TxSummary[] = [];
  sort: TxSort;
  onSort: ((s: TxSort) => void) | null = null;

  constructor(private readonly app: App, sort: TxSort = 'slowest') {
    this.sort = sort;
    this.head = h('thead');
    this.body = h('tbody');
    this.el = h('div', { class: 'tx-list-wrap' }, h('table', { class: 'tbl tx-list', testid: 'tx-list' }, this.head, this.body));
    this.renderHead();
  }

  private cols(): Col[] {
    return [
      { label: 'End time', sort: 'newest', cell: (t) => fmtDateTime(t.end_ms) },
      { label: 'Endpoint', cls: 'mono ellipsis wide', cell: (t) => t.endpoint },
      { label: 'Instance', cls: 'ellipsis', cell: (t) => t.service + ' / ' + t.instance },
      { label: 'Elapsed', cls: 'num', sort: 'slowest', cell: (t) => fmtMs(t.elapsed_ms) },
      { label: 'SQL', cls: 'num', sort: 'sql', cell: (t) => (t.sql_count ? t.sql_count + ' · ' + fmtMs(t.sql_ms) : '–') },
      { label: 'External', cls: 'num', sort: 'external', cell: (t) => (t.external_count ? t.external_count + ' · ' + fmtMs(t.external_ms) : '–') },
      { label: 'Status', cls: 'num', cell: (t) => (t.error ? h('span', { class: 'err-text', text: (t.status || '') + ' ' + (t.error_type || 'error') }) : String(t.status || '')) },
      { label: 'User', cls: 'ellipsis', cell: (t) => t.user || t.client_ip || '' },
    ];
  }

  private renderHead(): void {
    replace(
      this.head,
      h('tr', null, ...this.cols().map((c) => {
        const th = h('th', { class: (c.cls ?? '').replace('ellipsis', '') + (c.sort ? ' sortable' : '') + (c.sort === this.sort ? ' sorted' : ''), text: c.label + (c.sort === this.sort ? (c.sort === 'newest' ? ' ▼' : ' ▼') : '') });
        if (c.sort) {
          const s = c.sort;
          th.addEventListener('click', () => {
            this.sort = s;
            this.applySort();
            this.renderHead();
            this.onSort?.(s);
          });
        }
        return th;
      })),
    );
  }

  private applySort(): void {
    const key: Record<TxSort, (t: TxSummary) => number> = {
      newest: (t) => t.end_ms,
      slowest: (t) => t.elapsed_ms,
      sql: (t) => t.sql_ms,
      external: (t) => t.external_ms,
    };
    const k = key[this.sort];
    this.rows.sort((a, b) => k(b) - k(a));
    this.renderBody();
  }

  set(rows: TxSummary[]): void {
    this.rows = rows.slice();
    this.applySort();
  }

  private renderBody(): void {
    const cols = this.cols();
    replace(
      this.body,
      ...this.rows.map((t) => {
        const tr = h('tr', { class: 'tx-row' + (t.error ? ' error' : ''), testid: 'tx-row', attrs: { 'data-id': t.id, tabindex: '0' } });
        for (const c of cols) {
          const v = c.cell(t);
          const td = h('td', { class: c.cls ?? '' }, v);
          if (c.cls?.includes('ellipsis') && typeof v === 'string') td.title = v;
          tr.appendChild(td);
        }
        const open = () => this.app.go('tx', {}, t.id);
        tr.addEventListener('click', open);
        tr.addEventListener('keydown', (e) => {
          if (e.key === 'Enter') open();
        });
        return tr;
      }),
    );
  }
}

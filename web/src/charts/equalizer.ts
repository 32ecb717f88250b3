// The active-service equalizer: one vertical bar per instance, stacked by elapsed band
// (normal / slow / very slow). DOM bars: a few hundred instances at most per screen, and each
// bar is a click target.

import { fmtCompact } from '../data/format';
import { h, replace } from '../ui/dom';

export interface EqBar {
  key: string;
  service: string;
  instance: string;
  up: boolean;
  counts: [number, number, number];
  /** False while no active-service data exists for the instance (shown as "–", not 0). */
  known: boolean;
  /** False for an instance that sends no active snapshots at all (a plain OpenTelemetry SDK):
   *  its count is "not reported", shown as "–". */
  reported?: boolean;
  /** The instance's last snapshot is too old to trust: drawn greyed. */
  stale?: boolean;
  /** Requests the instance's agent throttled since it started (absent: unknown). */
  throttled?: number;
}

export class Equalizer {
  readonly el: HTMLElement;
  private readonly bars: HTMLElement;
  onClick: ((key: string) => void) | null = null;
  selected = '';

  constructor(parent: HTMLElement) {
    this.el = h('div', { class: 'equalizer', testid: 'equalizer' });
    this.bars = h('div', { class: 'eq-bars' });
    this.el.appendChild(this.bars);
    parent.appendChild(this.el);
  }

  render(bars: EqBar[]): void {
    let max = 4;
    for (const b of bars) max = Math.max(max, b.counts[0] + b.counts[1] + b.counts[2]);
    const cols = bars.map((b) => {
      const total = b.counts[0] + b.counts[1] + b.counts[2];
      const stack = h('div', { class: 'eq-stack' });
      // Bottom-up: normal, slow, very slow.
      for (let band = 0; band < 3; band++) {
        const n = b.counts[band as 0 | 1 | 2];
        if (!n) continue;
        const seg = h('div', { class: 'eq-seg eq-band' + band, title: n + ['', ' slow', ' very slow'][band]! });
        seg.style.height = (100 * n) / max + '%';
        stack.appendChild(seg);
      }
      const throttled = b.throttled ?? 0;
      const title =
        b.service + ' / ' + b.instance +
        (b.reported === false
          ? '\nactive services not reported: this instance sends no active snapshots (e.g. a plain OpenTelemetry SDK)'
          : b.known
            ? '\n' + b.counts[0] + ' normal · ' + b.counts[1] + ' slow · ' + b.counts[2] + ' very slow'
            : '') +
        (b.throttled != null ? '\n' + throttled + ' requests throttled since the agent started' : '') +
        (b.stale ? '\nstale: no recent active snapshot from this instance' : b.up ? '' : '\nnot reporting');
      const col = h(
        'button',
        {
          class: 'eq-col' + (b.key === this.selected ? ' selected' : '') + (b.up ? '' : ' down') + (b.stale ? ' stale' : '') + (b.reported === false ? ' unreported' : ''),
          title,
          attrs: { 'data-instance': b.instance, 'data-stale': b.stale ? '1' : '0', 'data-reported': b.reported === false ? '0' : '1', 'data-throttled': String(throttled), type: 'button' },
          on: { click: () => this.onClick?.(b.key) },
        },
        h('div', { class: 'eq-count', text: b.known && b.reported !== false && !b.stale ? String(total) : '–' }),
        b.reported === false ? h('div', { class: 'eq-unreported', text: 'not reported' }) : null,
        stack,
        h('div', { class: 'eq-name', text: b.instance }),
        throttled > 0 ? h('div', { class: 'eq-throttled', testid: 'eq-throttled', text: '⊘ ' + fmtCompact(throttled) }) : null,
      );
      return col;
    });
    replace(this.bars, ...cols);
    this.el.setAttribute('data-instances', String(bars.length));
  }
}

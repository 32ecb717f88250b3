// Timeline (Gantt) of a transaction's steps: one row per step, a bar from offset_ms for
// elapsed_ms, on the transaction's own time axis. DOM bars positioned in percent.

import type { Step } from '../api/types';
import { fmtMs } from '../data/format';
import { h } from '../ui/dom';

export function gantt(steps: Step[], totalMs: number, onPick: (i: number) => void): HTMLElement {
  const total = totalMs > 0 ? totalMs : Math.max(1, ...steps.map((s) => s.offset_ms + s.elapsed_ms));
  const rows = steps.map((s, i) => {
    const bar = h('div', { class: 'gantt-bar kind-' + safeKind(s.kind) + (s.error ? ' error' : '') });
    const left = Math.max(0, Math.min(100, (100 * s.offset_ms) / total));
    const width = Math.max(0.25, Math.min(100 - left, (100 * s.elapsed_ms) / total));
    bar.style.left = left + '%';
    bar.style.width = width + '%';
    const label = h('div', { class: 'gantt-label', title: s.name }, indentText(s.depth), s.name || s.kind);
    return h(
      'div',
      { class: 'gantt-row', on: { click: () => onPick(i) } },
      label,
      h('div', { class: 'gantt-track' }, bar),
      h('div', { class: 'gantt-ms', text: '+' + fmtMs(s.offset_ms) + ' · ' + fmtMs(s.elapsed_ms) }),
    );
  });
  // Time axis: 0, quarters and the total.
  const track = h('div', { class: 'gantt-axis-track' });
  for (let q = 0; q <= 4; q++) {
    const t = h('span', { class: 'gantt-tick', text: fmtMs((total * q) / 4) });
    t.style.left = q * 25 + '%';
    track.appendChild(t);
  }
  const axis = h('div', { class: 'gantt-axis' }, h('div'), track, h('div'));
  return h('div', { class: 'gantt' }, axis, ...rows);
}

function indentText(depth: number): string {
  return depth > 1 ? '\u00a0\u00a0'.repeat(Math.min(depth - 1, 12)) : '';
}

export function safeKind(kind: string): string {
  return ['method', 'sql', 'external', 'message', 'error'].includes(kind) ? kind : 'other';
}

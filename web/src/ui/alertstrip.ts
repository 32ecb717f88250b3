// The firing-alerts strip at the top of the dashboard: counts by level and the newest few
// firing alerts; a click opens the Alerts page. Polls GET /api/v1/alerts every 5 s (the
// evaluation interval) and hides itself when nothing fires or the server has no alerts API.

import type { Alert } from '../api/types';
import type { App } from '../app';
import { scopeText } from '../data/alertrule';
import { countAlerts, fmtSince, sortAlerts } from '../data/alerts';
import { h, replace } from './dom';

const POLL_MS = 5000;
const SHOWN = 3;

export class AlertStrip {
  readonly el: HTMLElement;
  /** Called when the strip shows or hides (the dashboard makes room for it). */
  onVisible: ((visible: boolean) => void) | null = null;
  private timer = 0;
  private ac = new AbortController();
  private disposed = false;
  private visible = false;

  constructor(private readonly app: App) {
    this.el = h('a', { class: 'alert-strip hidden', testid: 'alert-strip', attrs: { href: app.href('alerts'), 'aria-live': 'polite' } });
    this.poll();
  }

  private poll(): void {
    const now = Date.now();
    // A one-second history window: only the alerts firing now are wanted here.
    this.app.api.alerts({ from: now - 1000, to: now, limit: 1 }, this.ac.signal)
      .then((r) => this.render((r.alerts ?? []).filter((a) => a.state === 'firing')))
      .catch((e: unknown) => {
        if (e instanceof DOMException && e.name === 'AbortError') return;
        this.render([]);
      })
      .finally(() => {
        if (!this.disposed) this.timer = window.setTimeout(() => this.poll(), POLL_MS);
      });
  }

  private render(firing: Alert[]): void {
    const show = firing.length > 0;
    this.el.classList.toggle('hidden', !show);
    this.el.setAttribute('data-count', String(firing.length));
    if (show !== this.visible) {
      this.visible = show;
      this.onVisible?.(show);
    }
    if (!show) return;
    const c = countAlerts(firing);
    const now = Date.now();
    this.el.classList.toggle('critical', c.critical > 0);
    this.el.setAttribute('href', this.app.href('alerts'));
    replace(this.el,
      h('span', { class: 'strip-title', text: 'Firing' }),
      c.critical ? h('span', { class: 'lvl-badge critical', testid: 'strip-critical', text: c.critical + ' critical' }) : null,
      c.warning ? h('span', { class: 'lvl-badge warning', testid: 'strip-warning', text: c.warning + ' warning' }) : null,
      ...sortAlerts(firing).sort((a, b) => b.since_ms - a.since_ms).slice(0, SHOWN).map((a) =>
        h('span', { class: 'strip-alert lvl-text ' + (a.level === 'critical' ? 'critical' : 'warning'), testid: 'strip-alert' },
          a.rule_name + (scopeText(a.scope) ? ' · ' + scopeText(a.scope) : '') + ' · ' + fmtSince(a.since_ms, now))),
      firing.length > SHOWN ? h('span', { class: 'muted', text: '+' + (firing.length - SHOWN) + ' more' }) : null,
      h('span', { class: 'header-spacer' }),
      h('span', { class: 'strip-more', text: 'Alerts →' }));
  }

  dispose(): void {
    this.disposed = true;
    window.clearTimeout(this.timer);
    this.ac.abort();
  }
}

// The tabs shared by the three alerting pages (alerts, rules, channels), so the header keeps
// one "Alerts" entry on a laptop screen.

import type { App } from '../app';
import type { Page } from '../data/urlstate';
import { h } from '../ui/dom';

const TABS: readonly { page: Page; label: string }[] = [
  { page: 'alerts', label: 'Alerts' },
  { page: 'alert-rules', label: 'Rules' },
  { page: 'alert-channels', label: 'Channels' },
];

export function alertTabs(app: App, current: Page, ...extra: (Node | null)[]): HTMLElement {
  return h('section', { class: 'panel' },
    h('div', { class: 'toolbar' },
      h('div', { class: 'seg-group' }, ...TABS.map((t) =>
        h('a', { class: 'btn seg' + (t.page === current ? ' active' : ''), text: t.label, testid: 'tab-' + t.page, attrs: { href: app.href(t.page) } }))),
      ...extra));
}

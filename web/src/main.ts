// Entry point: owns start-up, sign-in/out, the header and routing (the URL hash is the state).

import './styles.css';
import { Api } from './api/client';
import { App, TOKEN_KEY } from './app';
import type { PageHandle } from './app';
import { parseHash } from './data/urlstate';
import type { Route } from './data/urlstate';
import { activeStackPage } from './pages/activestack';
import { agentSettingsPage } from './pages/agentsettings';
import { alertRulesPage } from './pages/alertrules';
import { alertsPage } from './pages/alerts';
import { channelsPage } from './pages/channels';
import { dashboardPage } from './pages/dashboard';
import { eventsPage } from './pages/events';
import { loginPage } from './pages/login';
import { metricsPage } from './pages/metrics';
import { profilePage } from './pages/profile';
import { hostPage, serversPage } from './pages/servers';
import { statusPage } from './pages/status';
import { xviewPage } from './pages/xview';
import { h, replace } from './ui/dom';

const root = document.getElementById('app')!;
let app: App | null = null;
let page: PageHandle | null = null;
let pageKey = '';
let projects: string[] = [];
let header: ReturnType<typeof buildHeader> | null = null;

function signOut(message = ''): void {
  sessionStorage.removeItem(TOKEN_KEY);
  page?.dispose();
  page = null;
  pageKey = '';
  app = null;
  header = null;
  showLogin(message);
}

function showLogin(message: string): void {
  document.title = 'Sign in · Loupe';
  replace(
    root,
    loginPage(message, (token, names) => {
      sessionStorage.setItem(TOKEN_KEY, token);
      projects = names;
      start(token);
    }),
  );
}

function start(token: string): void {
  const route = parseHash(window.location.hash);
  if (route.page === 'login') route.page = 'dashboard';
  const wanted = route.params.project;
  const project = wanted && (projects.length === 0 || projects.includes(wanted)) ? wanted : projects[0] ?? 'default';
  const api = new Api(token, project);
  api.onUnauthorized = () => signOut('Your session expired or the token was revoked. Sign in again.');
  app = new App(api, route);
  header = buildHeader(app);
  const main = h('main', { class: 'page-host' });
  replace(root, header.el, main);
  if (projects.length === 0) {
    api.projects().then((r) => {
      projects = (r.projects ?? []).map((p) => p.name);
      header?.setProjects(projects);
    }).catch(() => {});
  }
  header.setProjects(projects);
  route.params.project = project;
  app.setParams({ project });
  render();
}

function render(): void {
  if (!app || !header) return;
  const route = parseHash(window.location.hash);
  if (route.page === 'login') {
    signOut();
    return;
  }
  if (route.params.project && route.params.project !== app.project) {
    app.api.project = route.params.project;
    pageKey = ''; // different project: rebuild the page
  }
  app.route = route;
  header.update(route);
  const key = route.page + '/' + (route.id ?? '');
  if (page && key === pageKey && page.update?.(route)) return;
  page?.dispose();
  pageKey = key;
  const host = root.querySelector('.page-host')!;
  page = makePage(app, route);
  replace(host, page.el);
  window.scrollTo(0, 0);
}

function makePage(a: App, r: Route): PageHandle {
  switch (r.page) {
    case 'xview':
      document.title = 'X-View · Loupe';
      return xviewPage(a, r);
    case 'tx':
      document.title = 'Transaction · Loupe';
      return profilePage(a, r);
    case 'status':
      document.title = 'Application status · Loupe';
      return statusPage(a, r);
    case 'active-stack':
      document.title = 'Active stack · Loupe';
      return activeStackPage(a, r);
    case 'events':
      document.title = 'Events · Loupe';
      return eventsPage(a, r);
    case 'agent-settings':
      document.title = 'Agent settings · Loupe';
      return agentSettingsPage(a, r);
    case 'alerts':
      document.title = 'Alerts · Loupe';
      return alertsPage(a, r);
    case 'alert-rules':
      document.title = 'Alert rules · Loupe';
      return alertRulesPage(a, r);
    case 'alert-channels':
      document.title = 'Alert channels · Loupe';
      return channelsPage(a, r);
    case 'servers':
      document.title = 'Servers · Loupe';
      return serversPage(a, r);
    case 'host':
      document.title = 'Server · Loupe';
      return hostPage(a, r);
    case 'metrics':
      document.title = 'Performance browser · Loupe';
      return metricsPage(a, r);
    default:
      document.title = 'Dashboard · Loupe';
      return dashboardPage(a, r);
  }
}

function buildHeader(a: App) {
  const nav = [
    { page: 'dashboard' as const, label: 'Dashboard' },
    { page: 'xview' as const, label: 'X-View' },
    { page: 'status' as const, label: 'Application status' },
    { page: 'active-stack' as const, label: 'Active stack' },
    { page: 'events' as const, label: 'Events' },
    { page: 'agent-settings' as const, label: 'Agent settings' },
    { page: 'servers' as const, label: 'Servers' },
    { page: 'metrics' as const, label: 'Performance' },
    // One entry for the three alerting pages (they share tabs).
    { page: 'alerts' as const, label: 'Alerts' },
  ].map((n) => {
    const el = h('a', { class: 'nav-link', text: n.label, testid: 'nav-' + n.page, attrs: { href: '#/' + n.page } });
    return { ...n, el };
  });
  const projectSel = h('select', { class: 'sel', testid: 'project-select', attrs: { 'aria-label': 'Project' } });
  projectSel.addEventListener('change', () => {
    a.go(a.route.page === 'tx' ? 'dashboard' : a.route.page === 'host' ? 'servers' : a.route.page, { project: projectSel.value });
  });
  const serviceSel = h('select', { class: 'sel', testid: 'service-select', attrs: { 'aria-label': 'Service' } });
  serviceSel.addEventListener('change', () => a.setParams({ service: serviceSel.value }, true));
  const signOutBtn = h('button', { class: 'btn ghost', text: 'Sign out', testid: 'sign-out', attrs: { type: 'button' }, on: { click: () => signOut('Signed out.') } });
  const el = h(
    'header',
    { class: 'app-header' },
    h('a', { class: 'brand', attrs: { href: '#/dashboard' } }, h('span', { class: 'brand-mark', text: '◉' }), 'Loupe'),
    h('nav', { class: 'nav' }, ...nav.map((n) => n.el)),
    h('div', { class: 'header-spacer' }),
    h('label', { class: 'hdr-field' }, h('span', { class: 'muted', text: 'Project' }), projectSel),
    h('label', { class: 'hdr-field' }, h('span', { class: 'muted', text: 'Service' }), serviceSel),
    signOutBtn,
  );
  let services: string[] = [];
  const fillServices = (current: string) => {
    const opts = [h('option', { text: 'All services', attrs: { value: '' } })];
    const all = new Set(services);
    if (current) all.add(current);
    for (const s of Array.from(all).sort()) opts.push(h('option', { text: s, attrs: { value: s } }));
    replace(serviceSel, ...opts);
    serviceSel.value = current;
  };
  const loadServices = () => {
    a.instances()
      .then((list) => {
        services = Array.from(new Set(list.map((i) => i.service)));
        fillServices(a.route.params.service ?? '');
      })
      .catch(() => {});
  };
  loadServices();
  let lastProject = a.project;
  return {
    el,
    setProjects(names: string[]) {
      const all = names.length ? names : [a.project];
      if (!all.includes(a.project)) all.push(a.project);
      replace(projectSel, ...all.map((n) => h('option', { text: n, attrs: { value: n } })));
      projectSel.value = a.project;
    },
    update(r: Route) {
      const navPage = r.page === 'alert-rules' || r.page === 'alert-channels' ? 'alerts' : r.page === 'host' ? 'servers' : r.page;
      for (const n of nav) n.el.classList.toggle('active', n.page === navPage);
      for (const n of nav) n.el.setAttribute('href', a.href(n.page, r.params.service ? { service: r.params.service } : {}));
      projectSel.value = a.project;
      if (a.project !== lastProject) {
        lastProject = a.project;
        services = [];
        loadServices();
      }
      fillServices(r.params.service ?? '');
    },
  };
}

window.addEventListener('hashchange', render);

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) {
  // Re-validate quietly; a 401 sends the user back to sign-in with a message.
  new Api(saved, 'default')
    .projects()
    .then((r) => {
      projects = (r.projects ?? []).map((p) => p.name);
      start(saved);
    })
    .catch((e: unknown) => {
      if (e instanceof Error && 'status' in e && (e as { status: number }).status === 401) signOut('Your session expired. Sign in again.');
      else start(saved);
    });
} else {
  showLogin('');
}

// The real-time dashboard (the wall-monitor screen): tiles, active-service equalizer, live
// X-View and 10-minute TPS / response time / error rate charts, updated from the one-a-second
// WebSocket after a backfill of the last 10 minutes.

import { typeLabel } from '../data/events';
import { ApiError } from '../api/client';
import { LiveSocket } from '../api/live';
import type { LiveStatus } from '../api/live';
import type { ActiveInstance, ActiveResponse, Instance, LiveEvent, LiveFrame } from '../api/types';
import type { App, PageHandle } from '../app';
import { Equalizer } from '../charts/equalizer';
import type { EqBar } from '../charts/equalizer';
import { LineChart } from '../charts/line';
import { COLORS } from '../charts/schedule';
import { XViewChart } from '../charts/xview';
import { capText, isReported } from '../data/instances';
import { activeLink, activeList, activeStep, bandCounts, bandOf, effectiveThresholds, fmtThresholds, parseThresholds, serverThresholds } from '../data/bands';
import { fmtClock, fmtCompact, fmtInt, fmtMs, fmtMsAxis, fmtPct } from '../data/format';
import { LIVE_SECONDS, LIVE_WINDOW_MS, LiveState } from '../data/live';
import type { Route } from '../data/urlstate';
import { AlertStrip } from '../ui/alertstrip';
import { h, replace, note, setText } from '../ui/dom';

const BANDS_KEY = 'loupe.bands';

const STEP_KIND_LABEL: Record<string, string> = { sql: 'SQL', method: 'METHOD', external: 'HTTP', message: 'MSG' };

export function dashboardPage(app: App, route: Route): PageHandle {
  const ac = new AbortController();
  const state = new LiveState();
  let logY = route.params.y !== 'lin';
  // Band thresholds: the user's own (kept in this browser) win over the server's (the agent
  // configuration, sent with /api/v1/active), which win over the defaults.
  let userBands = localStorage.getItem(BANDS_KEY);
  let serverBands: number[] | undefined;
  let bandSource: 'user' | 'server' | 'default' = 'default';
  let thresholds: [number, number] = [0, 0];
  const computeThresholds = (): boolean => {
    const e = effectiveThresholds(userBands, serverBands);
    const changed = e.t[0] !== thresholds[0] || e.t[1] !== thresholds[1] || e.source !== bandSource;
    thresholds = e.t;
    bandSource = e.source;
    return changed;
  };
  computeThresholds();
  let disposed = false;

  // ---- Tiles
  const tile = (id: string, label: string, subText: string) => {
    const value = h('div', { class: 'tile-value', text: '–' });
    const sub = h('div', { class: 'tile-sub', text: subText });
    const el = h('div', { class: 'tile', testid: 'tile-' + id }, h('div', { class: 'tile-label', text: label }), value, sub);
    return { el, value, sub };
  };
  const tiles = {
    today: tile('today', "Today's calls", 'since midnight (server time)'),
    tps: tile('tps', 'TPS', 'last second'),
    rt: tile('rt', 'Avg response time', 'last second'),
    err: tile('err', 'Error rate', 'last second'),
    users: tile('users', 'Concurrent users', 'distinct users, last 5 min'),
  };
  const liveDot = h('span', { class: 'live-dot connecting' });
  const liveText = h('span', { class: 'live-text', text: 'Connecting…' });
  const fsBtn = h('button', { class: 'btn small', text: 'Full screen', attrs: { type: 'button' }, title: 'Wall-monitor mode (Esc to leave)' });
  fsBtn.addEventListener('click', () => {
    if (document.fullscreenElement) void document.exitFullscreen();
    else void document.documentElement.requestFullscreen().catch(() => {});
  });
  const liveBox = h('div', { class: 'live-box', testid: 'live-status', title: 'WebSocket /api/v1/live' }, h('div', { class: 'live-row' }, liveDot, liveText), fsBtn);

  // ---- X-View
  const xvPanel = h('section', { class: 'panel xview-panel' });
  const logBtn = h('button', { class: 'btn small', attrs: { type: 'button' }, testid: 'xview-log' });
  const xvInfo = h('span', { class: 'muted small-text' });
  xvPanel.appendChild(
    h('div', { class: 'panel-head' }, h('h2', { text: 'X-View · last 10 minutes' }), xvInfo, h('div', { class: 'header-spacer' }),
      h('span', { class: 'muted small-text', text: 'Drag to select · click a dot to open it' }), logBtn),
  );
  const xvBody = h('div', { class: 'panel-body chart-body' });
  xvPanel.appendChild(xvBody);
  const xview = new XViewChart(xvBody, { zoomable: false, selectable: true }, logY);
  xview.onSelect = (r) => {
    if (!r) return;
    app.go('xview', {
      from: String(Math.floor(Math.min(r.x0, state.windowEnd() - LIVE_WINDOW_MS))),
      to: String(Math.ceil(state.windowEnd()) + 1),
      sel: [Math.floor(r.x0), Math.ceil(r.x1), r.y0.toFixed(3), r.y1.toFixed(3)].join(','),
      y: logY ? '' : 'lin',
      ...(app.route.params.service ? { service: app.route.params.service } : {}),
    });
  };
  xview.onPointClick = (id) => app.go('tx', {}, id);
  xview.setEmptyText('No transactions in the last 10 minutes. Point an OpenTelemetry SDK or agent at this server\'s OTLP port (4318 HTTP / 4317 gRPC) with the project\'s ingest key.');
  const syncLogBtn = () => {
    logBtn.textContent = logY ? 'Log scale' : 'Linear scale';
    logBtn.title = 'Switch the elapsed axis to ' + (logY ? 'linear' : 'log');
  };
  syncLogBtn();
  logBtn.addEventListener('click', () => {
    logY = !logY;
    xview.setLogY(logY);
    syncLogBtn();
    app.setParams({ y: logY ? '' : 'lin' });
  });

  // ---- Series charts
  const chartPanel = (title: string, testid: string, color: string, format: (v: number) => string, extra: { minMax?: number; fixedMax?: number; integer?: boolean } = {}) => {
    const value = h('span', { class: 'panel-value' });
    const body = h('div', { class: 'panel-body chart-body' });
    const el = h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', { text: title }), h('div', { class: 'header-spacer' }), value), body);
    const chart = new LineChart(body, { color, format, ...extra }, testid);
    return { el, chart, value, buf: new Float64Array(LIVE_SECONDS) };
  };
  const tpsC = chartPanel('TPS', 'tps-chart', COLORS.tps, (v) => fmtCompact(v), { minMax: 5, integer: true });
  const rtC = chartPanel('Response time', 'rt-chart', COLORS.rt, fmtMsAxis, { minMax: 10 });
  const errC = chartPanel('Error rate', 'error-chart', COLORS.err, (v) => v.toFixed(v < 10 && v % 1 ? 1 : 0) + '%', { minMax: 5, fixedMax: 100 });

  // ---- Equalizer
  const eqPanel = h('section', { class: 'panel eq-panel' });
  const bandsInput = h('input', {
    class: 'bands-input',
    testid: 'bands-input',
    attrs: { type: 'text', value: fmtThresholds(thresholds), 'aria-label': 'Band thresholds in seconds' },
  });
  const syncBandsInput = () => {
    if (document.activeElement !== bandsInput) bandsInput.value = fmtThresholds(thresholds);
    bandsInput.classList.toggle('user-set', bandSource === 'user');
    bandsInput.title =
      'Band thresholds in seconds: slow, very slow. ' +
      (bandSource === 'user' ? 'Set in this browser; clear the field to use the server\'s bands.' : bandSource === 'server' ? 'From the agent configuration (Agent settings).' : 'Defaults.');
  };
  syncBandsInput();
  const legend = h('div', { class: 'eq-legend' });
  const renderLegend = () =>
    replace(
      legend,
      h('span', { class: 'lg lg0', text: '< ' + thresholds[0] / 1000 + ' s' }),
      h('span', { class: 'lg lg1', text: thresholds[0] / 1000 + '–' + thresholds[1] / 1000 + ' s' }),
      h('span', { class: 'lg lg2', text: '≥ ' + thresholds[1] / 1000 + ' s' }),
    );
  renderLegend();
  bandsInput.addEventListener('change', () => {
    const v = bandsInput.value.trim();
    if (v && !parseThresholds(v)) {
      bandsInput.classList.add('invalid');
      return;
    }
    bandsInput.classList.remove('invalid');
    userBands = v || null;
    if (v) localStorage.setItem(BANDS_KEY, v);
    else localStorage.removeItem(BANDS_KEY);
    computeThresholds();
    bandsInput.blur();
    syncBandsInput();
    renderLegend();
    renderEq();
  });
  const eqTotal = h('span', { class: 'panel-value' });
  const eqThrottled = h('span', { class: 'warn-text small-text', testid: 'eq-throttled-total' });
  const instCap = h('span', { class: 'inst-cap', testid: 'instance-cap' });
  const instOverflow = h('span', { class: 'warn-text small-text', testid: 'instance-overflow' });
  eqPanel.appendChild(h('div', { class: 'panel-head' }, h('h2', { text: 'Active services' }), eqTotal, eqThrottled, instCap, instOverflow, h('div', { class: 'header-spacer' }), legend, bandsInput));
  const eqBody = h('div', { class: 'panel-body eq-body' });
  eqPanel.appendChild(eqBody);
  const eqMsg = h('div', { class: 'eq-msg muted' });
  const equalizer = new Equalizer(eqBody);
  eqBody.appendChild(eqMsg);
  const activeList_ = h('div', { class: 'active-list' });
  eqBody.appendChild(activeList_);
  let instances: Instance[] = [];
  let active: ActiveResponse | null = null;
  let activeUnsupported = false;
  let selectedInst = '';
  equalizer.onClick = (key) => {
    selectedInst = selectedInst === key ? '' : key;
    equalizer.selected = selectedInst;
    renderEq();
  };

  function renderEq(): void {
    const service = app.route.params.service ?? '';
    const byKey = new Map<string, ActiveInstance>();
    for (const a of active?.instances ?? []) byKey.set(a.service + '\u0000' + a.instance, a);
    const bars: EqBar[] = [];
    const seen = new Set<string>();
    for (const i of instances) {
      if (service && i.service !== service) continue;
      const key = i.service + '\u0000' + i.instance;
      seen.add(key);
      const a = byKey.get(key);
      const bar: EqBar = { key, service: i.service, instance: i.instance, up: i.up, counts: a ? bandCounts(a, thresholds, bandSource !== 'user') : [0, 0, 0], known: !!active && !activeUnsupported };
      // Without a snapshot the active count is unknown ("not reported"), not 0.
      if (active && !activeUnsupported && !isReported(a)) bar.reported = false;
      if (a?.stale) bar.stale = true;
      if (a?.throttled_total != null) bar.throttled = a.throttled_total;
      bars.push(bar);
    }
    for (const [key, a] of byKey) {
      if (seen.has(key) || (service && a.service !== service)) continue;
      const bar: EqBar = { key, service: a.service, instance: a.instance, up: true, counts: bandCounts(a, thresholds, bandSource !== 'user'), known: true };
      if (!isReported(a)) bar.reported = false;
      if (a.stale) bar.stale = true;
      if (a.throttled_total != null) bar.throttled = a.throttled_total;
      bars.push(bar);
    }
    bars.sort((x, y) => (x.service + x.instance).localeCompare(y.service + y.instance));
    equalizer.render(bars);
    let total = 0;
    let throttled = 0;
    for (const b of bars) {
      if (!b.stale) total += b.counts[0] + b.counts[1] + b.counts[2];
      throttled += b.throttled ?? 0;
    }
    eqTotal.textContent = active ? fmtInt(total) + ' active' : '';
    eqThrottled.textContent = throttled ? fmtInt(throttled) + ' throttled' : '';
    eqThrottled.title = throttled ? 'Requests rejected or redirected by agent throttling since the agents started' : '';
    if (bars.length === 0) eqMsg.textContent = 'No instances have reported yet.';
    else if (!active || activeUnsupported) eqMsg.textContent = 'No instance reports active services yet.';
    else eqMsg.textContent = '';
    // Active transactions of the clicked instance.
    if (!selectedInst) {
      replace(activeList_);
      return;
    }
    const a = byKey.get(selectedInst);
    const name = selectedInst.split('\u0000')[1] ?? '';
    const list = a ? activeList(a).slice().sort((x, y) => y.elapsed_ms - x.elapsed_ms) : [];
    const staleNote = a?.stale ? h('div', { class: 'warn-text small-text', text: 'Stale: this instance has not sent an active snapshot recently; the list may be out of date.' }) : null;
    const throttledNote = a?.throttled_total ? h('div', { class: 'warn-text small-text', text: fmtInt(a.throttled_total) + ' requests throttled since the agent started.' }) : null;
    if (!a || list.length === 0) {
      replace(activeList_, h('div', { class: 'muted', text: name + ': no active transactions reported.' }), staleNote, throttledNote);
      return;
    }
    // A row links to the transaction's profile; until the transaction finishes (and is
    // stored) the profile page says it is still running and opens it once it is there.
    // Rows are coloured with the thresholds the instance's counts use: its service's own
    // (server) bands unless the user set thresholds in this browser.
    const tt = (bandSource !== 'user' && serverThresholds(a.bands_ms)) || thresholds;
    const rows = list.slice(0, 50).map((t) => {
      const step = activeStep(t);
      const kind = t.step_kind && STEP_KIND_LABEL[t.step_kind] ? t.step_kind : '';
      const tr = h('tr', { class: 'band-row active-row b' + bandOf(t.elapsed_ms, tt), testid: 'active-row', attrs: t.id ? { 'data-id': t.id, tabindex: '0' } : {} },
        h('td', { class: 'num', text: fmtMs(t.elapsed_ms) }),
        h('td', { class: 'mono ellipsis', text: t.endpoint ?? '', title: t.endpoint ?? '' }),
        h('td', { class: 'ellipsis step-cell', title: step + (t.thread ? '\nthread ' + t.thread : '') },
          kind ? h('span', { class: 'kind kind-' + kind, text: STEP_KIND_LABEL[kind]! }) : null,
          h('span', { class: 'mono', testid: 'active-step', text: step || '–' })));
      const target = activeLink(t, a.instance);
      if (target) {
        tr.title = 'Open this transaction (its profile appears when it finishes)';
        const open = () => app.go('tx', target.params, target.id);
        tr.addEventListener('click', open);
        tr.addEventListener('keydown', (ev) => {
          if (ev.key === 'Enter') open();
        });
      }
      return tr;
    });
    replace(
      activeList_,
      h('div', { class: 'active-title', text: name + ' · ' + fmtInt(Math.max(list.length, a.active_total ?? 0)) + ' active' + ((a.active_total ?? 0) > list.length ? ' (' + fmtInt(list.length) + ' listed)' : '') }),
      staleNote,
      throttledNote,
      h('table', { class: 'tbl compact', testid: 'active-list' }, h('thead', null, h('tr', null, h('th', { text: 'Elapsed' }), h('th', { text: 'Endpoint' }), h('th', { text: 'Current step' }))), h('tbody', null, ...rows)),
    );
  }

  async function pollInstances(): Promise<void> {
    try {
      instances = await app.instances();
      const cap = capText(await app.instanceCap());
      instCap.textContent = cap ? cap.text : '';
      instCap.title = cap ? 'Instances this project keeps by name (loupe server --max-instances-per-project); instances silent for a day stop counting' : '';
      instOverflow.textContent = cap?.overflow ?? '';
    } catch {
      /* keep the last list */
    }
    if (!disposed) renderEq();
  }
  async function pollActive(): Promise<void> {
    try {
      active = await app.api.active({}, ac.signal);
      activeUnsupported = false;
      serverBands = active.bands_ms;
      if (computeThresholds()) {
        syncBandsInput();
        renderLegend();
      }
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 405 || e.status === 501)) activeUnsupported = true;
      active = null;
    }
    if (!disposed) renderEq();
  }

  // ---- Events feed
  const feed = h('div', { class: 'feed', testid: 'events' });
  const feedPanel = h('section', { class: 'panel feed-panel' }, h('div', { class: 'panel-head' }, h('h2', { text: 'Recent errors & events' })), h('div', { class: 'panel-body feed-body' }, feed));
  let feedShown: LiveEvent | null = null;
  function renderFeed(): void {
    if (state.events[0] === feedShown && feed.firstChild) return;
    feedShown = state.events[0] ?? null;
    if (state.events.length === 0) {
      replace(feed, note('No errors or events in this session yet.', 'empty'));
      return;
    }
    replace(
      feed,
      ...state.events.slice(0, 100).map((e) => {
        const row = h('div', { class: 'feed-row level-' + (e.level || 'NORMAL').toLowerCase() },
          h('span', { class: 'feed-time', text: fmtClock(e.time_ms) }),
          h('span', { class: 'badge', text: e.level || 'EVENT' }),
          h('span', { class: 'feed-type', text: typeLabel(e.type) }),
          h('span', { class: 'feed-where mono', text: [e.service, e.endpoint].filter(Boolean).join(' · ') }),
          h('span', { class: 'feed-msg', text: e.message }));
        if (!e.tx_id) return row;
        const a = h('a', { class: 'feed-link', attrs: { href: app.href('tx', {}, e.tx_id) } });
        a.appendChild(row);
        return a;
      }),
    );
  }

  // ---- Layout
  const strip = new AlertStrip(app);
  const el = h(
    'div',
    { class: 'dashboard', testid: 'dashboard' },
    strip.el,
    h('div', { class: 'tiles' }, tiles.today.el, tiles.tps.el, tiles.rt.el, tiles.err.el, tiles.users.el, liveBox),
    h('div', { class: 'dash-main' }, xvPanel, eqPanel),
    h('div', { class: 'dash-bottom' }, tpsC.el, rtC.el, errC.el, feedPanel),
  );
  strip.onVisible = (v) => el.classList.toggle('with-strip', v);

  // ---- Updates
  function renderTiles(): void {
    const t = state.tiles;
    setText(tiles.today.value, fmtInt(t.todayCalls));
    setText(tiles.tps.value, t.tps == null ? '–' : fmtCompact(t.tps));
    if (tiles.tps.el.getAttribute('data-value') !== String(t.tps ?? '')) tiles.tps.el.setAttribute('data-value', String(t.tps ?? ''));
    setText(tiles.rt.value, fmtMs(t.avgMs));
    setText(tiles.err.value, fmtPct(t.errorRate));
    tiles.err.el.classList.toggle('alarm', (t.errorRate ?? 0) >= 5);
    setText(tiles.users.value, fmtInt(t.users));
  }
  function renderSeries(): void {
    const end = state.windowEnd() - 1000; // the newest whole second
    for (const [c, ring] of [[tpsC, state.tps], [rtC, state.rt], [errC, state.errRate]] as const) {
      const first = ring.window(end, c.buf);
      c.chart.setData(first, 1000, c.buf);
    }
    setText(tpsC.value, fmtCompact(state.tiles.tps) + ' tps');
    setText(rtC.value, fmtMs(state.tiles.avgMs));
    setText(errC.value, fmtPct(state.tiles.errorRate));
  }
  function renderXView(): void {
    const end = state.windowEnd();
    xview.setPoints(state.points, end - LIVE_WINDOW_MS, end);
    const svc = app.route.params.service;
    setText(xvInfo, fmtInt(state.points.length) + ' transactions' + (state.pointsDropped ? ' · ' + fmtInt(state.pointsDropped) + ' not drawn (over 5,000/s)' : '') +
      (svc ? ' · all services (the live stream is per project; the equalizer shows ' + svc + ')' : ''));
  }
  function onFrame(f: LiveFrame): void {
    state.merge(f);
    renderXView();
    // Tiles, series and events change once a second (tick frames); the 250 ms points frames
    // only bring dots.
    if (f.type !== 'tick') return;
    renderTiles();
    renderSeries();
    renderFeed();
  }
  function onStatus(s: LiveStatus): void {
    liveDot.className = 'live-dot ' + s;
    liveText.textContent = s === 'live' ? 'Live' : s === 'stale' ? 'No data for a few seconds' : s === 'reconnecting' ? 'Reconnecting…' : s === 'closed' ? 'Closed' : 'Connecting…';
  }

  // Frames that arrive before the backfill are held, then merged on top of it.
  let pending: LiveFrame[] | null = [];
  const socket = new LiveSocket(app.api.liveUrl(), (f) => (pending ? pending.push(f) : onFrame(f)), onStatus);

  async function backfill(): Promise<void> {
    const to = Date.now();
    const from = to - LIVE_WINDOW_MS;
    const p = { from, to, step: 1 };
    const sig = ac.signal;
    const results = await Promise.allSettled([
      app.api.series('tps', p, sig),
      app.api.series('response_time', p, sig),
      app.api.series('error_rate', p, sig),
      app.api.xview({ from, to, max_points: 200_000 }, sig),
      app.api.summary(sig),
    ]);
    if (disposed) return;
    const [tps, rt, er, xv, sum] = results;
    if (tps.status === 'fulfilled') state.backfillSeries(state.tps, tps.value);
    if (rt.status === 'fulfilled') state.backfillSeries(state.rt, rt.value);
    if (er.status === 'fulfilled') state.backfillSeries(state.errRate, er.value);
    if (xv.status === 'fulfilled') state.backfillXView(xv.value, to);
    else state.nowMs = to;
    if (sum.status === 'fulfilled') {
      const s = sum.value;
      state.tiles = { todayCalls: s.today_calls, tps: s.tps, avgMs: s.avg_ms, errorRate: s.error_rate, users: s.concurrent_users };
    }
    const failed = results.filter((r) => r.status === 'rejected').length;
    if (failed === results.length) xvInfo.textContent = 'Backfill failed: ' + String((results[0] as PromiseRejectedResult).reason?.message ?? '');
    // Recent events (GET /api/v1/events, not in every server yet): fill the feed so errors
    // from before the page opened show too.
    try {
      const ev = await app.api.events({ limit: 50, from, to }, sig);
      if (!disposed && ev.events && ev.events.length && state.events.length === 0) {
        state.events = ev.events.slice().sort((a, b) => b.time_ms - a.time_ms);
      }
    } catch {
      /* 404 until the events API exists */
    }
    if (disposed) return;
    const held = pending ?? [];
    pending = null;
    for (const f of held) state.merge(f);
    renderTiles();
    renderSeries();
    renderXView();
    renderFeed();
    el.setAttribute('data-ready', '1');
  }
  void backfill();
  void pollInstances();
  void pollActive();
  const timers = [
    window.setInterval(() => void pollInstances(), 15_000),
    window.setInterval(() => void (activeUnsupported ? null : pollActive()), 2_000),
    window.setInterval(() => void (activeUnsupported ? pollActive() : null), 30_000),
    // Keep the window sliding (and the status honest) even when no frame arrives.
    window.setInterval(() => {
      if (socket.status !== 'live' && !pending) {
        state.points.dropBefore(state.windowEnd() - LIVE_WINDOW_MS);
        renderSeries();
        renderXView();
      }
    }, 1000),
  ];

  return {
    el,
    update(r: Route) {
      const wantLog = r.params.y !== 'lin';
      if (wantLog !== logY) {
        logY = wantLog;
        xview.setLogY(logY);
        syncLogBtn();
      }
      renderEq();
      return true;
    },
    dispose() {
      disposed = true;
      ac.abort();
      strip.dispose();
      socket.close();
      for (const t of timers) window.clearInterval(t);
      xview.dispose();
      tpsC.chart.dispose();
      rtC.chart.dispose();
      errC.chart.dispose();
    },
  };
}

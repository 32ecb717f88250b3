// Browser benchmark: CPU used by the real-time dashboard while 1,000 transactions a second
// stream in (issue 4 budget: ≤ 10 % of one core). Not a pass/fail test.
//
//   LOUPE_BIN=/work/main/build/loupe node e2e/bench-live.mjs [runs=3] [tps=1000] [seconds=15] [prefill=0]
//
// For each run: a fresh `loupe server`; optionally `prefill` transactions spread over the
// last 10 minutes (so the live X-View starts with a full window, as on a wall monitor that has
// been open for a while; at most 200,000 come back in the backfill); the dashboard opened
// signed in (1920×1080 headless Chromium); then `tps` single-span transactions a second as
// OTLP/JSON (one POST of tps/10 spans every 100 ms, unique trace ids, end time = now) from
// this process. After a 5 s warm-up the page's main-thread busy time is read over `seconds`
// through CDP `Performance.getMetrics` (TaskDuration, ScriptDuration, LayoutDuration…), and
// the CPU time of every Chromium process (utime+stime from /proc, i.e. renderer main and
// helper threads, compositor, GPU/software raster, network service) over the same interval.
// Long animation frames (> 50 ms, PerformanceObserver 'long-animation-frame') are counted as a
// stand-in for dropped frames. TRACE=1 adds a 5 s CDP CPU profile (self time by function;
// '(program)' is native main-thread work: style, layout, paint) to stderr.

import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';

import { ARTIFACTS, launchBrowser, startLoupe } from './lib.mjs';

const RUNS = Number(process.argv[2] || 3);
const TPS = Number(process.argv[3] || 1000);
const SECONDS = Number(process.argv[4] || 15);
const PREFILL = Number(process.argv[5] || 0);
const WARMUP_S = 5;
const TICKS = 10; // POSTs a second
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const CLK = 100; // USER_HZ on Linux

mkdirSync(ARTIFACTS, { recursive: true });

/** utime+stime (seconds) of every descendant of this process except `exclude`. */
function childCpuSeconds(exclude) {
  const procs = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync('/proc/' + d + '/stat', 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      procs.set(Number(d), { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / CLK });
    } catch {
      /* gone */
    }
  }
  const isOurs = (pid) => {
    for (let p = pid, n = 0; p > 1 && n < 20; n++) {
      if (p === exclude) return false;
      if (p === process.pid) return true;
      p = procs.get(p)?.ppid ?? 0;
    }
    return false;
  };
  let sum = 0;
  for (const [pid, p] of procs) if (pid !== process.pid && isOurs(pid)) sum += p.cpu;
  return sum;
}

let seq = 0;
function otlpBody(n, endUsOf) {
  const spans = [];
  for (let i = 0; i < n; i++) {
    const endUs = Math.round(endUsOf(i));
    const elapsedUs = Math.round(Math.exp(Math.random() * 5 + 1) * 1000);
    const err = Math.random() < 0.02;
    spans.push({
      traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), name: 'GET /bench/' + (seq % 20), kind: 2,
      startTimeUnixNano: String(BigInt(endUs - elapsedUs) * 1000n),
      endTimeUnixNano: String(BigInt(endUs) * 1000n),
      attributes: [{ key: 'http.request.method', value: { stringValue: 'GET' } },
        { key: 'http.route', value: { stringValue: '/bench/' + (seq++ % 20) } },
        { key: 'http.response.status_code', value: { intValue: err ? 500 : 200 } },
        { key: 'enduser.id', value: { stringValue: 'u' + (seq % 300) } }],
      ...(err ? { status: { code: 2, message: 'boom' } } : {}),
    });
  }
  return JSON.stringify({ resourceSpans: [{ resource: { attributes: [
    { key: 'service.name', value: { stringValue: 'bench' } },
    { key: 'service.instance.id', value: { stringValue: 'bench-' + (seq % 4) } }] },
  scopeSpans: [{ spans }] }] });
}

async function post(loupe, body) {
  const r = await fetch(loupe.otlpUrl, { method: 'POST', body,
    headers: { 'content-type': 'application/json', authorization: 'Bearer ' + loupe.creds.ingest_key } });
  await r.arrayBuffer();
  if (r.status !== 200) throw new Error('export answered ' + r.status);
}

async function oneRun(browser, run) {
  const loupe = await startLoupe({ logName: 'bench-live-loupe.log' });
  try {
    if (PREFILL > 0) {
      const now = Date.now();
      const per = 5000;
      for (let k = 0; k < PREFILL; k += per) {
        const n = Math.min(per, PREFILL - k);
        await post(loupe, otlpBody(n, (i) => (now - 600_000 + ((k + i) / PREFILL) * 590_000) * 1000 + ((k + i) % 1000)));
      }
    }
    // Feed from now on, at a fixed cadence independent of the browser.
    let sent = 0;
    let late = 0;
    let stop = false;
    const perTick = Math.round(TPS / TICKS);
    const feeder = (async () => {
      const t0 = Date.now();
      for (let k = 0; !stop; k++) {
        const at = t0 + k * (1000 / TICKS);
        const wait = at - Date.now();
        if (wait > 0) await sleep(wait);
        else late++;
        const nowUs = Date.now() * 1000;
        await post(loupe, otlpBody(perTick, (i) => nowUs - (perTick - i)));
        sent += perTick;
      }
    })();

    const ctx = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
    const page = await ctx.newPage();
    await page.addInitScript((t) => {
      sessionStorage.setItem('loupe.token', t);
      window.__loaf = { n: 0, ms: 0, max: 0 };
      try {
        new PerformanceObserver((l) => {
          for (const e of l.getEntries()) {
            window.__loaf.n++;
            window.__loaf.ms += e.duration;
            window.__loaf.max = Math.max(window.__loaf.max, e.duration);
          }
        }).observe({ type: 'long-animation-frame', buffered: false });
      } catch {
        window.__loaf = null;
      }
    }, loupe.creds.api_token);
    await page.goto(loupe.base + '/#/dashboard?project=' + encodeURIComponent(loupe.creds.project));
    await page.locator('[data-testid=dashboard][data-ready="1"]').waitFor({ timeout: 60_000 });
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('Performance.enable', { timeDomain: 'timeTicks' });
    await sleep(WARMUP_S * 1000);

    const metrics = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
    const loaf0 = await page.evaluate(() => ({ ...window.__loaf }));
    const m0 = await metrics();
    const c0 = childCpuSeconds(loupe.proc.pid);
    const w0 = performance.now();
    const sent0 = sent;
    const load0 = loadavg()[0];
    await sleep(SECONDS * 1000);
    const m1 = await metrics();
    const c1 = childCpuSeconds(loupe.proc.pid);
    const wall = (performance.now() - w0) / 1000;
    const sent1 = sent;
    const loaf1 = await page.evaluate(() => ({ ...window.__loaf }));
    const pts = Number(await page.locator('[data-testid=xview]').first().getAttribute('data-points'));
    const drawMs = Number(await page.locator('[data-testid=xview]').first().getAttribute('data-draw-ms'));
    const tpsTile = await page.locator('[data-testid=tile-tps]').getAttribute('data-value');
    if (process.env.TRACE) {
      // Where the main thread's time goes: a 5 s CPU profile (JS sampled; '(program)' is
      // native work such as style, layout, paint; '(idle)' is idle), self time by function.
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
      await cdp.send('Profiler.start');
      await sleep(5000);
      const { profile } = await cdp.send('Profiler.stop');
      const self = new Map();
      const byId = new Map(profile.nodes.map((n) => [n.id, n]));
      const dts = profile.timeDeltas;
      for (let i = 0; i < profile.samples.length; i++) {
        const n = byId.get(profile.samples[i]);
        const cf = n.callFrame;
        const k = (cf.functionName || '(anon)') + ' ' + (cf.url ? cf.url.split('/').pop() + ':' + cf.lineNumber + ':' + cf.columnNumber : '');
        self.set(k, (self.get(k) ?? 0) + (dts[i + 1] ?? 0));
      }
      const total = profile.endTime - profile.startTime;
      const top = [...self].sort((x, y) => y[1] - x[1]).slice(0, 30).map(([n, us]) => n + ' ' + ((100 * us) / total).toFixed(2) + '%');
      console.error(JSON.stringify({ profile_self_time: top }, null, 1));
    }
    stop = true;
    await feeder;
    await page.screenshot({ path: join(ARTIFACTS, 'bench-live-' + run + '.png') });
    await ctx.close();
    const d = (k) => m1[k] - m0[k];
    const pct = (s) => +((100 * s) / wall).toFixed(2);
    return {
      wall_s: +wall.toFixed(2),
      sent_tps: Math.round((sent1 - sent0) / wall),
      feeder_late_ticks: late,
      tile_tps: Number(tpsTile),
      live_points: pts,
      xview_draw_ms: drawMs,
      main_thread_pct: pct(d('TaskDuration')),
      script_pct: pct(d('ScriptDuration')),
      layout_style_pct: pct(d('LayoutDuration') + d('RecalcStyleDuration')),
      chromium_all_processes_pct: pct(c1 - c0),
      long_frames: loaf0 && loaf1 ? { count: loaf1.n - loaf0.n, total_ms: Math.round(loaf1.ms - loaf0.ms), max_ms: Math.round(loaf1.max) } : null,
      js_heap_mb: +(m1.JSHeapUsedSize / 1e6).toFixed(1),
      loadavg_1m: [+load0.toFixed(2), +loadavg()[0].toFixed(2)],
    };
  } finally {
    await loupe.stop();
  }
}

const browser = await launchBrowser();
const results = { tps: TPS, seconds: SECONDS, warmup_s: WARMUP_S, prefill: PREFILL, viewport: '1920x1080', chromium: browser.version(), cores: cpus().length, runs: [] };
try {
  for (let i = 0; i < RUNS; i++) {
    const r = await oneRun(browser, i);
    console.error(JSON.stringify(r));
    results.runs.push(r);
  }
} finally {
  await browser.close();
}
const med = (k) => {
  const v = results.runs.map((r) => r[k]).sort((a, b) => a - b);
  return v[v.length >> 1];
};
results.median = { main_thread_pct: med('main_thread_pct'), script_pct: med('script_pct'), chromium_all_processes_pct: med('chromium_all_processes_pct') };
writeFileSync(join(ARTIFACTS, 'bench-live' + (PREFILL ? '-prefill' : '') + '.json'), JSON.stringify(results, null, 2) + '\n');
console.log(JSON.stringify(results, null, 2));

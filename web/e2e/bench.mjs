// Browser benchmark of the dashboard (numbers for docs/benchmarks.md, not a pass/fail test):
//  - dashboard usable time after navigation (signed in → backfill drawn),
//  - X-View load + draw time for 1,000,000 points (the /xview answer is synthesized in the
//    browser's network layer, so the number is the UI's own cost; with REAL=1 the points are
//    ingested into loupe instead (OTLP/JSON, end times over the last hour) and the page asks
//    the real server),
//  - wheel-zoom and shift-drag pan frame rate over those points (the raster moves with a CSS
//    transform while input continues) and the full redraw once input pauses.
//   LOUPE_BIN=/work/main/build/loupe node e2e/bench.mjs [points]

import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { ARTIFACTS, launchBrowser, startLoupe } from './lib.mjs';

const POINTS = Number(process.argv[2] || 1_000_000);
mkdirSync(ARTIFACTS, { recursive: true });
const loupe = await startLoupe({ logName: 'bench-loupe.log' });
const browser = await launchBrowser();
const results = { points: POINTS, viewport: '1920x1080', chromium: browser.version(), source: process.env.REAL ? 'real loupe' : 'synthesized in page.route', loadavg_start: (await import('node:os')).loadavg().map((v) => +v.toFixed(2)) };
try {
  const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
  await page.addInitScript((t) => sessionStorage.setItem('loupe.token', t), loupe.creds.api_token);

  // 1. Dashboard usable time.
  const runs = [];
  for (let i = 0; i < 3; i++) {
    await page.goto('about:blank');
    const t0 = Date.now();
    await page.goto(loupe.base + '/#/dashboard?project=' + encodeURIComponent(loupe.creds.project));
    await page.locator('[data-testid=dashboard][data-ready="1"]').waitFor({ timeout: 30_000 });
    runs.push(Date.now() - t0);
  }
  results.dashboard_usable_ms = { runs, best: Math.min(...runs), median: runs.slice().sort((a, b) => a - b)[runs.length >> 1] };

  // 2. X-View with POINTS points over one hour.
  const to = Date.now();
  const from = to - 3_600_000;
  const cols = { id: new Array(POINTS), end_ms: new Array(POINTS), elapsed_ms: new Array(POINTS), error: new Array(POINTS) };
  let seed = 7;
  const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  for (let i = 0; i < POINTS; i++) {
    cols.id[i] = (i + 0x1000000000000000).toString(16).slice(-16);
    cols.end_ms[i] = Math.round((from + rnd() * 3_600_000) * 1000) / 1000; // µs, as the server writes
    cols.elapsed_ms[i] = Math.round(Math.exp(rnd() * 7 + rnd() * 2) * 1000) / 1000;
    cols.error[i] = rnd() < 0.02 ? 1 : 0;
  }
  if (process.env.REAL) {
    // Ingest the same points as single-span transactions (5,000 a request).
    const t = Date.now();
    for (let k = 0; k < POINTS; k += 5000) {
      const spans = [];
      for (let i = k; i < Math.min(POINTS, k + 5000); i++) {
        const endUs = BigInt(Math.round(cols.end_ms[i] * 1000));
        spans.push({ traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), name: 'GET /b', kind: 2,
          startTimeUnixNano: String((endUs - BigInt(Math.round(cols.elapsed_ms[i] * 1000))) * 1000n), endTimeUnixNano: String(endUs * 1000n),
          ...(cols.error[i] ? { status: { code: 2 } } : {}) });
      }
      const r = await fetch(loupe.otlpUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + loupe.creds.ingest_key },
        body: JSON.stringify({ resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'bench' } }] }, scopeSpans: [{ spans }] }] }) });
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error('ingest answered ' + r.status);
    }
    results.ingest_s = (Date.now() - t) / 1000;
    for (let i = 0; i < 100; i++) { // until the store has them all
      const r = await fetch(loupe.base + '/api/v1/xview?max_points=1&x_bins=1&y_bins=1&from=' + Math.floor(from) + '&to=' + Math.ceil(to), { headers: { authorization: 'Bearer ' + loupe.creds.api_token } });
      if ((await r.json()).total >= POINTS) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    // Dashboard usable time with data: its backfill asks for the last 10 minutes' points.
    const runs2 = [];
    for (let i = 0; i < 3; i++) {
      await page.goto('about:blank');
      const t0 = Date.now();
      await page.goto(loupe.base + '/#/dashboard?project=' + encodeURIComponent(loupe.creds.project));
      await page.locator('[data-testid=dashboard][data-ready="1"]').waitFor({ timeout: 30_000 });
      runs2.push(Date.now() - t0);
    }
    results.dashboard_usable_with_data_ms = { runs: runs2, median: runs2.slice().sort((a, b) => a - b)[1], backfill_points: Number(await page.locator('[data-testid=xview]').getAttribute('data-points')) };
  } else {
    // The server's answer, ids only when asked (ids=0 leaves them out), a single density cell
    // (just the total) for the dashboard's "how many?" probe.
    const bodies = new Map();
    const answer = (url) => {
      const q = new URL(url).searchParams;
      const maxPoints = Number(q.get('max_points') || 200_000);
      if (POINTS > maxPoints) {
        const xb = Number(q.get('x_bins') || 600);
        const yb = Number(q.get('y_bins') || 100);
        return JSON.stringify({ total: POINTS, binned: true, bins: { from_ms: from, to_ms: to, x_bins: xb, y_bins: yb, y_min_ms: 1, y_max_ms: 1e4, count: new Array(xb * yb).fill(Math.floor(POINTS / (xb * yb))), errors: new Array(xb * yb).fill(0) } });
      }
      const ids = q.get('ids') !== '0';
      if (!bodies.has(ids)) bodies.set(ids, JSON.stringify({ total: POINTS, binned: false, points: ids ? cols : { end_ms: cols.end_ms, elapsed_ms: cols.elapsed_ms, error: cols.error } }));
      return bodies.get(ids);
    };
    results.xview_json_mb = { with_ids: +(answer('http://x/?max_points=1000000').length / 1e6).toFixed(1), ids_0: +(answer('http://x/?max_points=1000000&ids=0').length / 1e6).toFixed(1) };
    await page.route('**/api/v1/xview?**', (route) => {
      const body = answer(route.request().url());
      results.xview_requests = [...(results.xview_requests ?? []), route.request().url().split('?')[1].replace(/project=[^&]*&?/, '') + ' → ' + (body.length / 1e6).toFixed(1) + ' MB'];
      return route.fulfill({ status: 200, contentType: 'application/json; charset=utf-8', body });
    });
  }
  const t1 = Date.now();
  await page.goto(loupe.base + '/#/xview?project=' + encodeURIComponent(loupe.creds.project) + '&from=' + from + '&to=' + to);
  await page.waitForFunction((n) => Number(document.querySelector('[data-testid=xview]')?.getAttribute('data-points')) === n, POINTS, { timeout: 120_000 });
  await page.waitForFunction(() => document.querySelector('[data-testid=xview]')?.hasAttribute('data-draw-ms') && Number(document.querySelector('[data-testid=xview]')?.getAttribute('data-drawn')) > 0, null, { timeout: 60_000 });
  results.xview_load_and_draw_ms = Date.now() - t1;
  results.xview_draw_ms = Number(await page.locator('[data-testid=xview]').getAttribute('data-draw-ms'));
  // "fetched in N ms" on the status line: request(s) + JSON parse, before the columns are copied.
  results.xview_fetch_parse_ms = Number((await page.locator('[data-testid=xview-status]').textContent()).match(/fetched in (\d+) ms/)?.[1]);

  // 3. Zoom (wheel) and pan (shift-drag) frame rates: one input per animation frame.
  const fps = await page.evaluate(async () => {
    const plot = document.querySelector('.xview-plot');
    const chart = document.querySelector('[data-testid=xview]');
    const r = plot.getBoundingClientRect();
    const raf = () => new Promise((res) => requestAnimationFrame(() => res()));
    const measure = async (frames, step) => {
      const draws = [];
      await raf();
      const t0 = performance.now();
      for (let i = 0; i < frames; i++) {
        step(i);
        await raf();
        await raf(); // the chart draws in the frame after the input
        draws.push(Number(chart.getAttribute('data-frame-ms')));
      }
      const dt = performance.now() - t0;
      draws.sort((a, b) => a - b);
      // The full raster is redrawn once input pauses; measure that too.
      await new Promise((res) => setTimeout(res, 250));
      await raf();
      await raf();
      return {
        fps: +((frames / dt) * 1000 * 2).toFixed(1),
        frame_ms_median: draws[draws.length >> 1],
        frame_ms_p95: draws[Math.floor(draws.length * 0.95)],
        settled_redraw_ms: Number(chart.getAttribute('data-draw-ms')),
      };
    };
    const cx = r.left + r.width / 2;
    const cy = r.top + r.height / 2;
    const zoom = await measure(60, (i) => plot.dispatchEvent(new WheelEvent('wheel', { deltaY: i < 30 ? -120 : 120, clientX: cx, clientY: cy, bubbles: true, cancelable: true })));
    plot.dispatchEvent(new PointerEvent('pointerdown', { clientX: cx, clientY: cy, shiftKey: true, button: 0, pointerId: 1, bubbles: true }));
    const pan = await measure(60, (i) => plot.dispatchEvent(new PointerEvent('pointermove', { clientX: cx + (i % 30) * 8, clientY: cy, shiftKey: true, pointerId: 1, bubbles: true })));
    plot.dispatchEvent(new PointerEvent('pointerup', { clientX: cx, clientY: cy, shiftKey: true, pointerId: 1, bubbles: true }));
    return { zoom, pan };
  });
  results.zoom = fps.zoom;
  results.pan = fps.pan;
  await page.screenshot({ path: join(ARTIFACTS, 'bench-xview-1m.png') });
} finally {
  await browser.close();
  await loupe.stop();
}
writeFileSync(join(ARTIFACTS, process.env.REAL ? 'bench-real.json' : 'bench.json'), JSON.stringify(results, null, 2) + '\n');
console.log(JSON.stringify(results, null, 2));

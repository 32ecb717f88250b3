// Browser benchmark of the dashboard (numbers for docs/benchmarks.md, not a pass/fail test):
//  - dashboard usable time after navigation (signed in → backfill drawn),
//  - X-View load + draw time for 1,000,000 points (the /xview answer is synthesized in the
//    browser's network layer, so the number is the UI's own cost),
//  - wheel-zoom and shift-drag pan frame rate over those points (the raster moves with a CSS
//    transform while input continues) and the full redraw once input pauses.
//   LOUPE_BIN=/work/main/build/loupe node e2e/bench.mjs [points]

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { ARTIFACTS, launchBrowser, startLoupe } from './lib.mjs';

const POINTS = Number(process.argv[2] || 1_000_000);
mkdirSync(ARTIFACTS, { recursive: true });
const loupe = await startLoupe({ logName: 'bench-loupe.log' });
const browser = await launchBrowser();
const results = { points: POINTS, viewport: '1920x1080', chromium: browser.version() };
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
  results.dashboard_usable_ms = { runs, best: Math.min(...runs) };

  // 2. X-View with POINTS points over one hour.
  const to = Date.now();
  const from = to - 3_600_000;
  const cols = { id: new Array(POINTS), end_ms: new Array(POINTS), elapsed_ms: new Array(POINTS), error: new Array(POINTS) };
  let seed = 7;
  const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  for (let i = 0; i < POINTS; i++) {
    cols.id[i] = (i + 0x1000000000000000).toString(16).slice(-16);
    cols.end_ms[i] = from + rnd() * 3_600_000;
    cols.elapsed_ms[i] = Math.round(Math.exp(rnd() * 7 + rnd() * 2) * 1000) / 1000;
    cols.error[i] = rnd() < 0.02 ? 1 : 0;
  }
  const body = JSON.stringify({ total: POINTS, binned: false, points: cols });
  results.xview_json_mb = +(body.length / 1e6).toFixed(1);
  await page.route('**/api/v1/xview?**', (route) => route.fulfill({ status: 200, contentType: 'application/json; charset=utf-8', body }));
  const t1 = Date.now();
  await page.goto(loupe.base + '/#/xview?project=' + encodeURIComponent(loupe.creds.project) + '&from=' + from + '&to=' + to);
  await page.waitForFunction((n) => Number(document.querySelector('[data-testid=xview]')?.getAttribute('data-points')) === n, POINTS, { timeout: 120_000 });
  await page.waitForFunction(() => document.querySelector('[data-testid=xview]')?.hasAttribute('data-draw-ms') && Number(document.querySelector('[data-testid=xview]')?.getAttribute('data-drawn')) > 0, null, { timeout: 60_000 });
  results.xview_load_and_draw_ms = Date.now() - t1;
  results.xview_draw_ms = Number(await page.locator('[data-testid=xview]').getAttribute('data-draw-ms'));

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
writeFileSync(join(ARTIFACTS, 'bench.json'), JSON.stringify(results, null, 2) + '\n');
console.log(JSON.stringify(results, null, 2));

// End-to-end test of the agent features against the real `loupe server`: an agent's active
// snapshot (docs/format/agent-protocol.md: active transactions, stack samples, throttling)
// posted to /v1/loupe/active shows in the equalizer with its current step, on the Active stack
// page with shares, and on the Events page as a throttle event; Agent settings saves a
// throttle limit, reloads it, and the agent endpoint serves it. Screenshots go to
// e2e/artifacts/agent-*.png.
//   LOUPE_BIN=/work/wt-server/build-server/loupe node --test e2e/agent.e2e.mjs
// A server without the agent endpoints (404) runs only the "older server" case; every other
// case is skipped with a message saying so.

import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { ARTIFACTS, LOUPE_BIN, launchBrowser, signIn, startLoupe } from './lib.mjs';

const SERVICE = 'e2e-agent';
const INSTANCE = 'e2e-agent-1';
const TX_SQL = '00f067aa0ba902b7'; // the long-running transaction, in a SQL step
const TRACE_SQL = '4bf92f3577b34da6a3ce929d0e0e4736';
const SQL_STEP = 'SQL SELECT * FROM orders WHERE id = ?';
const XSS = '<img src=x onerror=window.__xss=1>';
const FRAMES_A = ['GET /orders/{id}', 'method orders::Load', 'sql SELECT * FROM orders WHERE id = ?'];
const FRAMES_B = ['POST /checkout', 'external POST http://payments/charge'];

let loupe, browser, page;
let supported = false;
let unsupportedWhy = '';
let snapTimer = null;
const consoleLines = [];

before(async () => {
  assert.ok(existsSync(LOUPE_BIN), 'no loupe binary at ' + LOUPE_BIN + ' (run make build)');
  loupe = await startLoupe({ logName: 'loupe-agent.log' });
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
  page.on('console', (m) => consoleLines.push(m.type() + ': ' + m.text()));
  page.on('pageerror', (e) => consoleLines.push('pageerror: ' + e.message));
  // Does this server have the agent endpoints? (They exist only in builds with issue 5.)
  const r = await api('/agent-config');
  supported = r.status !== 404 && r.status !== 405 && r.status !== 501;
  if (!supported) unsupportedWhy = 'the server at ' + LOUPE_BIN + ' answers ' + r.status + ' for GET /api/v1/agent-config (no agent endpoints in this build); set LOUPE_BIN to a build with them';
});

after(async () => {
  if (snapTimer) clearInterval(snapTimer);
  if (consoleLines.length) writeFileSync(join(ARTIFACTS, 'console-agent.log'), consoleLines.join('\n') + '\n');
  await browser?.close();
  await loupe?.stop();
});

function api(path, init = {}) {
  const sep = path.includes('?') ? '&' : '?';
  return fetch(loupe.base + '/api/v1' + path + sep + 'project=' + encodeURIComponent(loupe.creds.project), {
    ...init,
    headers: { Authorization: 'Bearer ' + loupe.creds.api_token, ...(init.body ? { 'Content-Type': 'application/json' } : {}) },
  });
}

/** The OTLP HTTP port's base URL (the extensions live next to /v1/traces). */
const otlpBase = () => loupe.otlpUrl.replace(/\/v1\/traces$/, '');

async function shot(name) {
  await page.waitForTimeout(400);
  await page.evaluate(() => window.scrollTo({ top: 0, behavior: 'instant' }));
  await page.screenshot({ path: join(ARTIFACTS, name + '.png'), fullPage: true });
}

const started = Date.now() - 60_000;
const t0 = Date.now();

/** One snapshot as the C++ agent sends it every second; the first carries stack samples and
 *  a throttling decision, later ones only the (aging) active list. */
function snapshot(first) {
  const now = Date.now();
  const age = now - t0;
  const body = {
    service: SERVICE, instance: INSTANCE, host: 'web-e2e', pid: 4242, agent: 'loupe-cpp/0.1',
    started_ms: started, time_ms: now,
    active: [
      { id: TX_SQL, trace_id: TRACE_SQL, endpoint: 'GET /orders/{id}', start_ms: t0 - 4500, elapsed_ms: 4500 + age,
        thread: '140213', step: SQL_STEP, step_kind: 'sql', user: 'u-17', client_ip: '10.0.0.5' },
      { id: '00f067aa0ba902b8', trace_id: '4bf92f3577b34da6a3ce929d0e0e4737', endpoint: 'POST /checkout', start_ms: t0 - 9500,
        elapsed_ms: 9500 + age, thread: '140214', step: 'external POST http://payments/charge', step_kind: 'external' },
      { id: '00f067aa0ba902b9', trace_id: '4bf92f3577b34da6a3ce929d0e0e4738', endpoint: 'GET /x/' + XSS, start_ms: now - 120,
        elapsed_ms: 120, thread: '140215', step: 'method ' + XSS, step_kind: 'method' },
    ],
    counters: { transactions: 1000, exported: 997, dropped: 0, throttled: 12 },
  };
  if (first) {
    body.stacks = [];
    for (let i = 0; i < 6; i++) body.stacks.push({ time_ms: now - 900 + i * 100, tx_id: TX_SQL, endpoint: 'GET /orders/{id}', elapsed_ms: 3000 + i * 100, frames: FRAMES_A });
    for (let i = 0; i < 4; i++) body.stacks.push({ time_ms: now - 850 + i * 100, tx_id: '00f067aa0ba902b8', endpoint: 'POST /checkout', elapsed_ms: 8000 + i * 100, frames: FRAMES_B });
    body.throttled = [{ time_ms: now - 100, endpoint: 'POST /checkout', action: 'reject', active: 51, limit: 50, count: 12 }];
  }
  return body;
}

async function postSnapshot(first) {
  const r = await fetch(otlpBase() + '/v1/loupe/active', {
    method: 'POST',
    headers: { Authorization: 'Bearer ' + loupe.creds.ingest_key, 'Content-Type': 'application/json' },
    body: JSON.stringify(snapshot(first)),
  });
  return { status: r.status, body: await r.text() };
}

test('agent pages say so when the server has no agent endpoints', async (ctx) => {
  if (supported) {
    ctx.skip('this server has the agent endpoints (the other cases test them)');
    return;
  }
  await signIn(page, loupe.base, loupe.creds.api_token);
  for (const [p, name] of [['active-stack', 'agent-00a-stack-unsupported'], ['events', 'agent-00b-events-unsupported'], ['agent-settings', 'agent-00c-settings-unsupported']]) {
    await page.goto(loupe.base + '/#/' + p + '?project=' + encodeURIComponent(loupe.creds.project));
    const msg = page.locator('[data-testid=unsupported]');
    await msg.waitFor({ timeout: 10_000 });
    assert.match(await msg.textContent(), /does not provide .* answered 404/);
    await shot(name);
  }
});

test('an active snapshot shows in the equalizer, the active stack and the events', { timeout: 120_000 }, async (ctx) => {
  if (!supported) {
    ctx.skip(unsupportedWhy);
    return;
  }
  const first = await postSnapshot(true);
  assert.equal(first.status, 200, 'POST /v1/loupe/active: ' + first.body);
  assert.equal(typeof JSON.parse(first.body).config_version, 'number', 'the answer carries config_version');
  // Keep the instance fresh (snapshots older than a few seconds are stale), as an agent does.
  snapTimer = setInterval(() => void postSnapshot(false).catch(() => {}), 1000);

  // ---- Dashboard: the equalizer bar of the instance, its active list with the current step.
  await signIn(page, loupe.base, loupe.creds.api_token);
  const bar = page.locator('[data-testid=equalizer] .eq-col[data-instance="' + INSTANCE + '"]');
  await bar.waitFor({ timeout: 15_000 });
  await page.waitForFunction((inst) => document.querySelector('.eq-col[data-instance="' + inst + '"] .eq-count')?.textContent === '3', INSTANCE, { timeout: 15_000 })
    .catch(async (e) => {
      await shot('agent-01-dashboard-failed');
      throw new Error('equalizer count of ' + INSTANCE + ': ' + (await bar.locator('.eq-count').textContent()) + ': ' + e.message);
    });
  assert.equal(await bar.getAttribute('data-stale'), '0');
  assert.equal(await bar.getAttribute('data-throttled'), '12', 'throttled_total reaches the bar');
  assert.match(await page.locator('[data-testid=eq-throttled-total]').textContent(), /12 throttled/);
  await bar.click();
  const stepCell = page.locator('[data-testid=active-step]', { hasText: SQL_STEP });
  await stepCell.waitFor({ timeout: 10_000 });
  const row = page.locator('[data-testid=active-row][data-id="' + TX_SQL + '"]');
  assert.equal(await row.locator('.kind-sql').count(), 1, 'the step kind is shown');
  assert.ok((await page.locator('[data-testid=active-list]').textContent()).includes('method ' + XSS), 'payloads in steps are literal text');
  // The throttle event reaches the dashboard feed (backfilled from /api/v1/events or live).
  await page.locator('[data-testid=events] .feed-row', { hasText: 'throttle' }).first().waitFor({ timeout: 15_000 });
  await shot('agent-01-dashboard');

  // ---- A click on the running transaction: "still running", then its profile once it ends.
  await row.click();
  await page.locator('[data-testid=still-running]').waitFor({ timeout: 10_000 });
  await shot('agent-02-still-running');
  const end = Date.now();
  const otlp = {
    resourceSpans: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: SERVICE } }, { key: 'service.instance.id', value: { stringValue: INSTANCE } }, { key: 'telemetry.sdk.name', value: { stringValue: 'loupe-cpp' } }] },
      scopeSpans: [{ spans: [{
        traceId: TRACE_SQL, spanId: TX_SQL, name: 'GET /orders/{id}', kind: 2,
        startTimeUnixNano: String((t0 - 4500) * 1e6), endTimeUnixNano: String(end * 1e6),
        attributes: [{ key: 'http.request.method', value: { stringValue: 'GET' } }, { key: 'http.route', value: { stringValue: '/orders/{id}' } }, { key: 'http.response.status_code', value: { intValue: '200' } }],
      }] }],
    }],
  };
  const tr = await fetch(loupe.otlpUrl, { method: 'POST', headers: { Authorization: 'Bearer ' + loupe.creds.ingest_key, 'Content-Type': 'application/json' }, body: JSON.stringify(otlp) });
  assert.equal(tr.status, 200, 'OTLP/JSON export of the finished transaction');
  await page.locator('[data-testid=profile][data-loaded="1"]').waitFor({ timeout: 15_000 });
  assert.equal(await page.locator('[data-testid=profile-endpoint]').textContent(), 'GET /orders/{id}');

  // ---- Active stack: frames with inclusive / self shares, per-endpoint samples, filter.
  await page.goto(loupe.base + '/#/active-stack?project=' + encodeURIComponent(loupe.creds.project) + '&range=15m');
  const frames = page.locator('[data-testid=stack-frames] [data-testid=stack-frame]');
  await frames.first().waitFor({ timeout: 15_000 }).catch(async (e) => {
    await shot('agent-03-stack-failed');
    throw e;
  });
  assert.equal(await frames.count(), FRAMES_A.length + FRAMES_B.length, 'one row per distinct frame');
  const shareOf = async (frame) => (await page.locator('[data-testid=stack-frame]', { hasText: frame }).first().locator('[data-testid=frame-share]').textContent()).trim();
  assert.equal(await shareOf('method orders::Load'), '60.0 %');
  assert.equal(await shareOf('external POST http://payments/charge'), '40.0 %');
  assert.match(await page.locator('[data-testid=stack-info]').textContent(), /^10 samples/);
  const firstFrame = (await frames.first().locator('.frame-text').textContent()).trim();
  assert.ok(FRAMES_A.slice(0, 3).includes(firstFrame), 'sorted by samples, a 60 % frame first: ' + firstFrame);
  const epRows = page.locator('[data-testid=stack-endpoint-row]');
  assert.equal(await epRows.count(), 2);
  assert.match(await epRows.first().textContent(), /GET \/orders\/\{id\}\s*6/);
  await shot('agent-03-active-stack');
  await epRows.first().click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=stack-frame]').length === 3, null, { timeout: 10_000 });
  assert.ok(page.url().includes('endpoint=GET'), 'the endpoint filter is in the URL');
  assert.equal(await shareOf('method orders::Load'), '100 %');
  await shot('agent-04-active-stack-endpoint');

  // ---- Events: the throttle event, filtered by type.
  await page.goto(loupe.base + '/#/events?project=' + encodeURIComponent(loupe.creds.project) + '&range=15m&type=THROTTLED&group=none');
  const ev = page.locator('[data-testid=event-row][data-type=THROTTLED]');
  await ev.first().waitFor({ timeout: 15_000 }).catch(async (e) => {
    await shot('agent-05-events-failed');
    throw e;
  });
  const evText = await ev.first().textContent();
  assert.ok(evText.includes('POST /checkout'), 'the throttle event names the endpoint: ' + evText);
  assert.equal(await page.locator('[data-testid=event-row]:not([data-type=THROTTLED])').count(), 0, 'the type filter holds');
  await shot('agent-05-events-throttle');
  await page.locator('[data-testid=events-type]').selectOption('');
  await page.waitForFunction(() => !document.querySelector('[data-testid=events-page]')?.hasAttribute('data-loading') && !location.hash.includes('type='), null, { timeout: 10_000 });
  await shot('agent-06-events-all');

  // ---- Once the agent stops reporting, the instance turns stale and is greyed.
  clearInterval(snapTimer);
  snapTimer = null;
  await page.goto(loupe.base + '/#/dashboard?project=' + encodeURIComponent(loupe.creds.project));
  await page.locator('[data-testid=equalizer] .eq-col[data-instance="' + INSTANCE + '"][data-stale="1"]').waitFor({ timeout: 20_000 });
  assert.equal(await page.locator('[data-testid=eq-throttled-total]').textContent(), '12 throttled');
  await shot('agent-11-dashboard-stale');
  // The same at laptop size (1366×768): the header with the new entries still fits.
  await page.setViewportSize({ width: 1366, height: 768 });
  await shot('agent-12-dashboard-laptop');
  await page.setViewportSize({ width: 1920, height: 1080 });
});

test('agent settings validate, save a throttle limit, reload it and serve it to agents', { timeout: 90_000 }, async (ctx) => {
  if (!supported) {
    ctx.skip(unsupportedWhy);
    return;
  }
  // The server's own validation errors have the documented shape.
  const bad = await api('/agent-config', { method: 'PUT', body: JSON.stringify({ throttle: { enabled: true, max_active: 2_000_000 } }) });
  assert.equal(bad.status, 400);
  const badBody = await bad.json();
  assert.equal(badBody.error.code, 'invalid_argument');
  assert.match(badBody.error.message, /max_active/);

  if (!(await page.locator('[data-testid=sign-out]').count())) await signIn(page, loupe.base, loupe.creds.api_token);
  await page.goto(loupe.base + '/#/agent-settings?project=' + encodeURIComponent(loupe.creds.project) + '&service=' + SERVICE);
  const settings = page.locator('[data-testid=agent-settings][data-loaded="1"]');
  await settings.waitFor({ timeout: 15_000 });
  const v0 = Number(await page.locator('[data-testid=settings-version]').getAttribute('data-version'));
  assert.ok(v0 >= 1, 'a version is shown');
  assert.match(await page.locator('[data-testid=settings-scope]').textContent(), /follows the project default/);
  await shot('agent-07-settings-loaded');

  // Client-side validation stops a bad redirect URL before any request.
  await page.locator('[data-testid=cfg-throttle-enabled]').check();
  await page.locator('[data-testid=cfg-max-active]').fill('50');
  await page.locator('[data-testid=cfg-action]').selectOption('redirect');
  await page.locator('[data-testid=cfg-redirect]').fill('javascript:alert(1)');
  await page.locator('[data-testid=settings-save]').click();
  await page.locator('[data-testid=settings-errors]', { hasText: 'redirect URL' }).waitFor({ timeout: 5000 });
  assert.ok(await page.locator('[data-testid=cfg-redirect].invalid').count(), 'the field is marked');
  await shot('agent-08-settings-invalid');
  assert.equal((await (await api('/agent-config?service=' + SERVICE)).json()).version, v0, 'nothing was saved');

  // A valid configuration: redirect to a relative page, a per-endpoint limit, a pattern.
  await page.locator('[data-testid=cfg-redirect]').fill('/busy.html');
  await page.locator('[data-testid=cfg-add-endpoint]').click();
  await page.locator('[data-testid=cfg-endpoint-name]').last().fill('POST /checkout');
  await page.locator('[data-testid=cfg-endpoint-limit]').last().fill('10');
  await page.locator('[data-testid=cfg-pattern-input]').fill('orders::*');
  await page.locator('[data-testid=cfg-add-pattern]').click();
  await page.locator('[data-testid=settings-save]').click();
  await page.locator('[data-testid=settings-saved]', { hasText: 'Saved as version' }).waitFor({ timeout: 10_000 }).catch(async (e) => {
    await shot('agent-09-settings-save-failed');
    throw new Error('save failed: ' + (await page.locator('[data-testid=settings-errors]').textContent()) + ' ' + e.message);
  });
  const v1 = Number(await page.locator('[data-testid=settings-version]').getAttribute('data-version'));
  assert.ok(v1 > v0, 'the version was bumped: ' + v0 + ' → ' + v1);
  await shot('agent-09-settings-saved');

  // Reload: the form shows what the server stored.
  await page.reload();
  await settings.waitFor({ timeout: 15_000 });
  assert.equal(await page.locator('[data-testid=cfg-endpoint-name]').first().inputValue(), 'POST /checkout');
  assert.equal(await page.locator('[data-testid=cfg-endpoint-limit]').first().inputValue(), '10');
  assert.equal(await page.locator('[data-testid=cfg-max-active]').inputValue(), '50');
  assert.equal(await page.locator('[data-testid=cfg-action]').inputValue(), 'redirect');
  assert.ok(await page.locator('[data-testid=cfg-throttle-enabled]').isChecked());
  assert.equal(await page.locator('[data-testid=cfg-pattern]', { hasText: 'orders::*' }).count(), 1);
  assert.match(await page.locator('[data-testid=settings-scope]').textContent(), /Service override/);
  await shot('agent-10-settings-reloaded');

  // Agents of the service get it from the control endpoint.
  const cfg = await fetch(otlpBase() + '/v1/loupe/config?service=' + SERVICE + '&instance=' + INSTANCE, { headers: { Authorization: 'Bearer ' + loupe.creds.ingest_key } });
  assert.equal(cfg.status, 200);
  const agentCfg = await cfg.json();
  assert.equal(agentCfg.version, v1);
  assert.deepEqual(agentCfg.throttle.endpoints, { 'POST /checkout': 10 });
  assert.deepEqual(agentCfg.profiling.methods, ['orders::*']);

  // Removing the override returns the service to the project default.
  page.once('dialog', (d) => void d.accept());
  await page.locator('[data-testid=settings-remove]').click();
  await page.locator('[data-testid=settings-saved]', { hasText: 'Override removed' }).waitFor({ timeout: 10_000 });
  assert.match(await page.locator('[data-testid=settings-scope]').textContent(), /follows the project default/);
  assert.equal(await page.locator('[data-testid=cfg-endpoint-name]').count(), 0);

  assert.equal(await page.evaluate(() => window.__xss), undefined, 'window.__xss stays undefined');
  const csp = consoleLines.filter((l) => /Content Security Policy|Refused to/i.test(l));
  assert.deepEqual(csp, [], 'no CSP violations');
});

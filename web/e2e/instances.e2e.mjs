// End-to-end: the dashboard's equalizer tells an instance that never sent an active snapshot
// (a plain OpenTelemetry SDK) — "not reported", "–" — from an agent reporting 0 active ("0"),
// and the Active services panel shows the project's instance cap ("N of cap instances").
// Screenshot: e2e/artifacts/instances-equalizer.png.
//   LOUPE_BIN=$PWD/../build/loupe node --test e2e/instances.e2e.mjs

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { ARTIFACTS, LOUPE_BIN, launchBrowser, otelTracer, recordTransaction, signIn, startLoupe } from './lib.mjs';

let loupe, browser, page, otel;

before(async () => {
  assert.ok(existsSync(LOUPE_BIN), 'no loupe binary at ' + LOUPE_BIN + ' (run make build)');
  loupe = await startLoupe({ logName: 'loupe-instances.log' });
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
});

after(async () => {
  await otel?.provider.shutdown();
  await browser?.close();
  await loupe?.stop();
});

test('an instance without active snapshots is "not reported", an agent with none active shows 0', { timeout: 90_000 }, async () => {
  // A plain OpenTelemetry SDK: transactions only.
  otel = otelTracer(loupe.otlpUrl, loupe.creds.ingest_key, 'shop', 'otel-1');
  recordTransaction(otel.tracer, { method: 'GET', route: '/x', startMs: Date.now() - 50, elapsedMs: 20 });
  await otel.provider.forceFlush();
  // A Loupe agent reporting an empty active list.
  const started = Date.now() - 60_000;
  const snap = () => fetch(loupe.otlpUrl.replace(/\/v1\/traces$/, '') + '/v1/loupe/active', {
    method: 'POST',
    headers: { Authorization: 'Bearer ' + loupe.creds.ingest_key, 'Content-Type': 'application/json' },
    body: JSON.stringify({ service: 'shop', instance: 'agent-1', host: 'web-1', agent: 'loupe-cpp/0.1', started_ms: started, time_ms: Date.now(), active: [] }),
  });
  assert.equal((await snap()).status, 200);
  const timer = setInterval(() => void snap().catch(() => {}), 1000);
  try {
    await signIn(page, loupe.base, loupe.creds.api_token);
    const otelCol = page.locator('[data-testid=equalizer] .eq-col[data-instance="otel-1"]');
    const agentCol = page.locator('[data-testid=equalizer] .eq-col[data-instance="agent-1"]');
    await otelCol.waitFor({ timeout: 20_000 });
    await agentCol.waitFor({ timeout: 20_000 });
    await page.waitForFunction(() => document.querySelector('[data-testid=equalizer] .eq-col[data-instance="otel-1"]')?.getAttribute('data-reported') === '0', null, { timeout: 20_000 });
    assert.equal(await otelCol.locator('.eq-count').textContent(), '–');
    assert.equal(await otelCol.locator('.eq-unreported').textContent(), 'not reported');
    assert.match(await otelCol.getAttribute('title'), /not reported/);
    assert.equal(await agentCol.getAttribute('data-reported'), '1');
    assert.equal(await agentCol.locator('.eq-count').textContent(), '0');
    await page.waitForFunction(() => /of 20,000 instances/.test(document.querySelector('[data-testid=instance-cap]')?.textContent ?? ''), null, { timeout: 20_000 });
    assert.equal(await page.locator('[data-testid=instance-cap]').textContent(), '1 of 20,000 instances');
    assert.equal(await page.locator('[data-testid=instance-overflow]').textContent(), '');
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(ARTIFACTS, 'instances-equalizer.png'), fullPage: false });
  } finally {
    clearInterval(timer);
  }
});

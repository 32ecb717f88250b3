// End-to-end: `loupe agent` over the cgroup v2 fixture host reports to a real server; the
// Servers page lists the host as up with its memory use, the host page draws its charts and
// lists its top processes, and the Performance browser charts a metric it sent.
// Needs the server's OTLP metrics ingest (/v1/metrics into the tsdb).
// Screenshots: e2e/artifacts/servers.png, host.png, performance.png.
//   LOUPE_BIN=$PWD/../build/loupe node --test e2e/servers.e2e.mjs

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';

import { ARTIFACTS, LOUPE_BIN, WEB_DIR, launchBrowser, signIn, startLoupe } from './lib.mjs';

const FIXTURE = resolve(WEB_DIR, '..', 'tests', 'fixtures', 'hostagent', 'v2');

let loupe, browser, page, agent;

before(async () => {
  assert.ok(existsSync(LOUPE_BIN), 'no loupe binary at ' + LOUPE_BIN + ' (run make build)');
  loupe = await startLoupe({ logName: 'loupe-servers.log' });
  const otlpBase = loupe.otlpUrl.replace(/\/v1\/traces$/, '');
  agent = spawn(LOUPE_BIN, ['agent', '--root', FIXTURE, '--server', otlpBase, '--key', loupe.creds.ingest_key,
    '--interval-seconds', '1', '--host-name', 'fixture-v2'], { stdio: 'ignore' });
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
});

after(async () => {
  agent?.kill('SIGTERM');
  await browser?.close();
  await loupe?.stop();
});

test('the agent\'s host shows on Servers, its page and the Performance browser', { timeout: 90_000 }, async () => {
  await signIn(page, loupe.base, loupe.creds.api_token);
  await page.locator('[data-testid=nav-servers]').click();
  const row = page.locator('[data-testid=host-row]').first();
  await row.waitFor({ timeout: 30_000 });
  assert.equal(await page.locator('[data-testid=host-link]').first().textContent(), 'fixture-v2');
  assert.match(await row.textContent(), /up/);
  // Memory utilization is sent from the first collection on.
  await page.waitForFunction(() => /\d %/.test(document.querySelector('[data-testid=host-row] td:nth-child(4)')?.textContent ?? ''), null, { timeout: 20_000 });
  await page.locator('[data-testid=host-filter]').fill('nomatch');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=host-row]').length === 0);
  await page.locator('[data-testid=host-filter]').fill('fixture');
  await row.waitFor();
  await page.screenshot({ path: join(ARTIFACTS, 'servers.png') });

  await page.locator('[data-testid=host-link]').first().click();
  await page.waitForFunction(() => location.hash.startsWith('#/host/'));
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=host-chart-mem_pct]')?.getAttribute('data-max')) > 0, null, { timeout: 20_000 });
  await page.locator('[data-testid=process-row]').first().waitFor({ timeout: 20_000 });
  await page.screenshot({ path: join(ARTIFACTS, 'host.png') });

  await page.locator('[data-testid=nav-metrics]').click();
  await page.locator('[data-testid=metric-select] option[value="system.memory.usage"]').waitFor({ state: 'attached', timeout: 20_000 });
  await page.locator('[data-testid=metric-select]').selectOption('system.memory.usage');
  await page.locator('[data-testid=group-by]').fill('system.memory.state');
  await page.locator('[data-testid=group-by]').press('Enter');
  await page.waitForFunction(() => /group_by=system.memory.state/.test(location.hash));
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=metric-chart]').length === 4, null, { timeout: 20_000 });
  assert.match(await page.locator('[data-testid=metric-info]').textContent(), /^4 lines/);
  assert.equal(await page.locator('[data-testid=csv-export]').isDisabled(), false);
  await page.screenshot({ path: join(ARTIFACTS, 'performance.png') });
});

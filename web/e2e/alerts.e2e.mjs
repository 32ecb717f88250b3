// End-to-end, as a new user would (issue 12 §5): a fresh server receives traffic with errors
// from the OpenTelemetry JS SDK; in the browser the user adds an e-mail channel and an
// error-rate rule (a 400 shows next to the field it names; the preview and Test answer), sees
// the alert firing on the Alerts page and on the dashboard strip, receives its e-mail (Debian's
// python3-aiosmtpd as the SMTP sink), opens the mail's link and lands on the failing
// transactions in the X-View, silences the alert, and finds the errors grouped on the Events
// page. Screenshots of each page (laptop screen, 1366×768) go to
// e2e/artifacts/alerts-*.png.
//   LOUPE_BIN=$PWD/../build/loupe node --test e2e/alerts.e2e.mjs

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { ARTIFACTS, LOUPE_BIN, WEB_DIR, freePort, launchBrowser, otelTracer, recordTransaction, signIn, startLoupe } from './lib.mjs';

let loupe, browser, page, otel, timer, sink, mailDir;

/** The SMTP sink of notify's tests: each message becomes mailDir/<n>.json. */
async function startSmtpSink() {
  const port = await freePort();
  mailDir = mkdtempSync(join(tmpdir(), 'loupe-e2e-mail-'));
  sink = spawn('/usr/bin/python3', [join(WEB_DIR, '..', 'tests', 'notify', 'smtp_sink.py'), String(port), mailDir], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    sink.stdout.on('data', (d) => { if (String(d).includes('READY')) resolve(); });
    sink.once('exit', (c) => reject(new Error('smtp sink exited ' + c)));
  });
  return port;
}

before(async () => {
  assert.ok(existsSync(LOUPE_BIN), 'no loupe binary at ' + LOUPE_BIN + ' (run make build)');
  const smtpPort = await startSmtpSink();
  loupe = await startLoupe({ logName: 'loupe-alerts.log', args: ['--smtp-host', '127.0.0.1', '--smtp-port', String(smtpPort), '--smtp-starttls', 'off', '--smtp-from', 'loupe@example.com'] });
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
});

after(async () => {
  clearInterval(timer);
  await otel?.provider.shutdown();
  await browser?.close();
  await loupe?.stop();
  sink?.kill('SIGTERM');
  if (mailDir) rmSync(mailDir, { recursive: true, force: true });
});

const api = async (path) => {
  const r = await fetch(loupe.base + path, { headers: { Authorization: 'Bearer ' + loupe.creds.api_token } });
  assert.equal(r.status, 200, path);
  return r.json();
};

const shot = (name) => page.screenshot({ path: join(ARTIFACTS, 'alerts-' + name + '.png'), fullPage: true });

/** Every 500 ms: 10 logins to identity, 3 of them failing (30 %), and 5 healthy orders. */
function startTraffic() {
  otel = otelTracer(loupe.otlpUrl, loupe.creds.ingest_key, 'identity', 'identity-1');
  const orders = otelTracer(loupe.otlpUrl, loupe.creds.ingest_key, 'orders', 'orders-1');
  const tick = () => {
    const now = Date.now();
    for (let i = 0; i < 10; i++) {
      recordTransaction(otel.tracer, { method: 'POST', route: '/login', startMs: now - 40 - i, elapsedMs: 25, status: i < 3 ? 500 : 200, error: i < 3 ? 'AcquirerTimeout' : undefined });
    }
    for (let i = 0; i < 5; i++) recordTransaction(orders.tracer, { method: 'GET', route: '/orders', startMs: now - 30 - i, elapsedMs: 12 });
  };
  tick();
  timer = setInterval(tick, 500);
}

test('a new user adds an e-mail channel and an error-rate rule and sees the alert fire', { timeout: 180_000 }, async () => {
  try {
    await newUserFlow();
  } catch (e) {
    await shot('failed').catch(() => {});
    throw e;
  }
});

async function newUserFlow() {
  if (process.env.DEBUG_E2E) page.on('response', async (r) => { if (r.url().includes('/alert-rules/test')) console.log('DBG', r.url(), (await r.text()).slice(0, 300)); });
  startTraffic();
  await signIn(page, loupe.base, loupe.creds.api_token);
  assert.equal(await page.locator('[data-testid=alert-strip]').isHidden(), true, 'no strip while nothing fires');

  // ---- Alerts page, empty.
  await page.locator('[data-testid=nav-alerts]').click();
  await page.locator('[data-testid=alerts-page][data-ready]').waitFor({ timeout: 15_000 });
  assert.match(await page.locator('[data-testid=alerts-page]').textContent(), /Nothing is firing/);

  // ---- Channel: e-mail to ops@example.com.
  await page.locator('[data-testid=tab-alert-channels]').click();
  await page.locator('[data-testid=channels-page][data-ready]').waitFor({ timeout: 15_000 });
  await page.locator('[data-testid=channel-new]').click();
  await page.locator('[data-testid=channel-name]').fill('ops-mail');
  await page.locator('[data-testid=channel-type]').selectOption('email');
  await page.locator('[data-testid=channel-addresses]').fill('ops@example.com, not-an-address');
  await page.locator('[data-testid=channel-save]').click();
  assert.match(await page.locator('[data-testid=channel-err-addresses]').textContent(), /^addresses: not an e-mail address: not-an-address$/);
  await page.locator('[data-testid=channel-addresses]').fill('ops@example.com');
  await page.locator('[data-testid=channel-save]').click();
  const chRow = page.locator('[data-testid=channel-row][data-type=email]');
  await chRow.waitFor({ timeout: 10_000 });
  assert.match(await chRow.textContent(), /ops-mail.*ops@example\.com/);
  assert.equal(await page.locator('[data-testid=channel-form]').count(), 0, 'the form closes after saving');
  // Test: the SMTP sink takes the test message.
  await chRow.locator('[data-testid=channel-test]').click();
  await page.waitForFunction(() => /^(Sent|Failed: .+)/.test(document.querySelector('[data-testid=channel-test-result]')?.textContent ?? ''), null, { timeout: 20_000 });
  assert.match(await chRow.locator('[data-testid=channel-test-result]').textContent(), /^Sent/);
  await chRow.locator('[data-testid=channel-log]').click();
  await page.locator('[data-testid=delivery-log]').waitFor({ timeout: 10_000 });
  assert.match(await chRow.locator('[data-testid=channel-test-result]').textContent(), /^(Sent|Failed: .+)/, 'the test result stays');
  await shot('channels');

  // A webhook's URL is write-only: listed reduced to its host; an edit keeps it unless retyped.
  await page.locator('[data-testid=channel-new]').click();
  await page.locator('[data-testid=channel-name]').fill('hook');
  await page.locator('[data-testid=channel-type]').selectOption('webhook');
  await page.locator('[data-testid=channel-url]').fill('https://hooks.example.com/services/T0/B0/s3cr3t');
  await page.locator('[data-testid=channel-save]').click();
  const hookRow = page.locator('[data-testid=channel-row][data-type=webhook]');
  await hookRow.waitFor({ timeout: 10_000 });
  assert.equal(await hookRow.locator('td').nth(2).textContent(), 'https://hooks.example.com/…');
  await hookRow.locator('[data-testid=channel-edit]').click();
  assert.match(await page.locator('[data-testid=channel-url]').getAttribute('placeholder'), /^unchanged/);
  assert.equal(await page.locator('[data-testid=channel-url]').inputValue(), '');
  await page.locator('[data-testid=channel-name]').fill('hook-2');
  await page.locator('[data-testid=channel-save]').click();
  await page.locator('[data-testid=channel-row][data-type=webhook]', { hasText: 'hook-2' }).waitFor({ timeout: 10_000 });
  const hook = (await api('/api/v1/alert-channels')).channels.find((c) => c.type === 'webhook');
  assert.equal(hook.name, 'hook-2');
  assert.equal(hook.has_url, true, 'the stored URL was kept');

  // ---- Rule: identity's error rate over 60 s, warning 5 %, critical 10 %.
  await page.locator('[data-testid=tab-alert-rules]').click();
  await page.locator('[data-testid=alert-rules-page][data-ready]').waitFor({ timeout: 15_000 });
  await page.locator('[data-testid=rule-new]').click();
  await page.locator('[data-testid=rule-form]').waitFor({ timeout: 10_000 });
  await page.locator('[data-testid=rule-name]').fill('identity errors');
  await page.waitForFunction(() => !!document.querySelector('[data-testid=rule-service] option[value="identity"]'), null, { timeout: 20_000 });
  await page.locator('[data-testid=rule-service]').selectOption('identity');
  await page.locator('[data-testid=rule-signal]').selectOption('error_rate');
  await page.locator('[data-testid=rule-window]').fill('60');
  await page.locator('[data-testid=rule-channel]', { hasText: 'ops-mail' }).locator('input').check();
  // Warning above critical: the server's 400 lands next to the warning field.
  await page.locator('[data-testid=rule-warning]').fill('20');
  await page.locator('[data-testid=rule-critical]').fill('10');
  await page.locator('[data-testid=rule-save]').click();
  await page.waitForFunction(() => (document.querySelector('[data-testid=err-warning]')?.textContent ?? '').startsWith('warning: '), null, { timeout: 10_000 });
  assert.match(await page.locator('[data-testid=err-warning]').textContent(), /^warning: must not be above critical/);
  await page.locator('[data-testid=rule-warning]').fill('5');
  // The live preview replays the unsaved rule over 24 h with both thresholds drawn (it
  // refreshes every 30 s: a fresh server's first minute of data may come after it opened).
  await page.waitForFunction(() => {
    const c = document.querySelector('[data-testid=rule-preview]');
    return document.querySelector('[data-testid=rule-form]')?.getAttribute('data-preview') === 'ready' && c?.getAttribute('data-levels') === '5,10' && Number(c.getAttribute('data-max')) > 10;
  }, null, { timeout: 70_000 });
  await page.locator('[data-testid=rule-test]').click();
  await page.waitForFunction(() => /^Over the last hour this rule would (have|not have) fired/.test(document.querySelector('[data-testid=rule-test-result]')?.textContent ?? ''), null, { timeout: 20_000 });
  assert.match(await page.locator('[data-testid=rule-test-result]').textContent(), /would have fired once: \d\d:\d\d critical \(identity\)/);
  await shot('rule-editor');
  await page.locator('[data-testid=rule-save]').click();
  const ruleRow = page.locator('[data-testid=rule-row]');
  await ruleRow.waitFor({ timeout: 10_000 });
  assert.match(await ruleRow.textContent(), /identity errors.*identity.*Error rate.*≥ 5\.00 % warning · ≥ 10\.0 % critical/);

  // ---- The alert fires (evaluation every 5 s) and shows on the Alerts page.
  await page.locator('[data-testid=tab-alerts]').click();
  const alertRow = page.locator('[data-testid=alert-row][data-state=firing][data-level=critical]');
  await alertRow.waitFor({ timeout: 45_000 });
  const text = await alertRow.textContent();
  assert.match(text, /identity errors/);
  assert.match(text, /30\.0 %/);
  const xv = await alertRow.locator('[data-testid=alert-xview]').getAttribute('href');
  assert.match(xv, /^#\/xview\?error=1&from=\d+&project=default&service=identity&to=\d+$/);
  await page.locator('[data-testid=history-row][data-kind=firing]').first().waitFor({ timeout: 10_000 });
  await shot('alerts');

  // ---- The e-mail arrives; its link opens the failing transactions in the X-View.
  let mail;
  for (let i = 0; i < 200 && !mail; i++) {
    for (const f of readdirSync(mailDir).filter((n) => n.endsWith('.json')).sort()) {
      const m = JSON.parse(readFileSync(join(mailDir, f), 'utf8'));
      if (/identity errors/.test(m.subject)) mail = m;
    }
    if (!mail) await page.waitForTimeout(100);
  }
  assert.ok(mail, 'no alert e-mail in the SMTP sink');
  assert.deepEqual(mail.rcpt_tos, ['ops@example.com']);
  const link = mail.text.match(/http:\/\/127\.0\.0\.1:\d+\/#\/xview\?\S+/)?.[0];
  assert.ok(link, 'no dashboard link in the mail:\n' + mail.text);
  await page.goto(link);
  await page.waitForFunction(() => /^[\d,]+ transactions · [\d,]+ errors/.test(document.querySelector('[data-testid=xview-status]')?.textContent ?? ''), null, { timeout: 20_000 });
  const status = await page.locator('[data-testid=xview-status]').textContent();
  const [, txs, errs] = status.match(/^([\d,]+) transactions · ([\d,]+) errors/);
  assert.equal(txs, errs, 'the link shows the failing transactions only: ' + status);
  assert.equal(await page.locator('[data-testid=filter-errors]').isChecked(), true);
  await shot('mail-link-xview');
  await page.locator('[data-testid=nav-alerts]').click();
  await page.locator('[data-testid=alerts-page][data-ready]').waitFor({ timeout: 15_000 });

  // ---- The dashboard's strip shows it and leads back to the Alerts page.
  await page.locator('[data-testid=nav-dashboard]').click();
  await page.locator('[data-testid=alert-strip]:not(.hidden)').waitFor({ timeout: 15_000 });
  assert.equal(await page.locator('[data-testid=strip-critical]').textContent(), '1 critical');
  assert.match(await page.locator('[data-testid=strip-alert]').first().textContent(), /^identity errors · identity · /);
  await page.waitForTimeout(500);
  await page.screenshot({ path: join(ARTIFACTS, 'alerts-dashboard-strip.png') });
  await page.locator('[data-testid=alert-strip]').click();
  await page.locator('[data-testid=alerts-page]').waitFor({ timeout: 10_000 });

  // ---- Silence it for an hour: the silence is listed and the alert shows muted.
  await page.locator('[data-testid=alert-row][data-state=firing]').first().waitFor({ timeout: 15_000 });
  await page.locator('[data-testid=alert-silence]').first().click();
  await page.locator('[data-testid=silence-comment]').fill('deploying a fix');
  await page.locator('[data-testid=silence-create]').click();
  const silRow = page.locator('[data-testid=silence-row]');
  await silRow.waitFor({ timeout: 10_000 });
  assert.match(await silRow.textContent(), /identity errors.*identity.*deploying a fix/);
  await page.locator('[data-testid=alert-row] [data-testid=alert-muted]').first().waitFor({ timeout: 20_000 });
  page.once('dialog', (d) => void d.accept());
  await silRow.locator('[data-testid=silence-delete]').click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=silence-row]').length === 0, null, { timeout: 10_000 });

  // ---- Events grouped: the failed logins (error events carry the exception type) are one
  // group that opens to its events; the alert's own event is another.
  await page.locator('[data-testid=nav-events]').click();
  const group = page.locator('[data-testid=group-row][data-key=E2EError]');
  await group.waitFor({ timeout: 15_000 });
  assert.match(await group.textContent(), /E2EError · identity · POST \/login · [\d,]+ times, last \d\d:\d\d/);
  assert.equal(await page.locator('[data-testid=group-row]', { hasText: 'identity errors' }).count(), 1, 'the alert event groups apart');
  assert.ok(Number(await group.getAttribute('data-count')) >= 3);
  await group.locator('[data-testid=group-open]').click();
  await page.locator('[data-testid=group-events] [data-testid=event-row]').first().waitFor({ timeout: 10_000 });
  await page.screenshot({ path: join(ARTIFACTS, 'alerts-events-grouped.png') });

  // ---- Editing keeps the rule's scope; disabling it from the list.
  await page.locator('[data-testid=nav-alerts]').click();
  await page.locator('[data-testid=tab-alert-rules]').click();
  await page.locator('[data-testid=rule-link]').click();
  await page.locator('[data-testid=rule-form][data-preview=ready]').waitFor({ timeout: 15_000 });
  assert.equal(await page.locator('[data-testid=rule-service]').inputValue(), 'identity');
  await page.locator('[data-testid=rule-for]').fill('10');
  await page.locator('[data-testid=rule-save]').click();
  await page.locator('[data-testid=rule-row]').waitFor({ timeout: 10_000 });
  const edited = (await api('/api/v1/alert-rules')).rules[0];
  assert.deepEqual([edited.service, edited.for_s, edited.warning, edited.critical], ['identity', 10, 5, 10]);
  await page.locator('[data-testid=rule-row] [data-testid=rule-toggle]').uncheck();
  await page.locator('[data-testid=rule-row].disabled').waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('[data-testid=rule-row] [data-testid=rule-state]').textContent(), 'off');
  const rules = (await api('/api/v1/alert-rules')).rules;
  assert.equal(rules[0].enabled, false);
  assert.deepEqual(rules[0].channels, [(await api('/api/v1/alert-channels')).channels.find((c) => c.name === 'ops-mail').id]);
}

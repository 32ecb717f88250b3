// Alert notifications end to end (issue 12 §3): real receivers on loopback —
// a webhook receiver that can answer 503 and an SMTP sink (Debian's
// python3-aiosmtpd under /usr/bin/python3) — traffic from the OpenTelemetry
// JS SDK, the Alertmanager-format body, the e-mail, repeat-free resolve,
// the allow-list refusing loopback by default, and a `kill -9` between firing
// and delivery losing nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { startServer, poll, withServerLog, freePort, REPO_ROOT } from './lib/server.mjs';
import { makeClient, emitTransaction, webSpec } from './lib/otel.mjs';

// A webhook receiver: records every request; answers `status()` (default 200).
async function receiver() {
  const got = [];
  let status = () => 200;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const code = status();
      got.push({ at: Date.now(), headers: req.headers, body: body ? JSON.parse(body) : null, answered: code });
      res.writeHead(code, code === 503 ? { 'retry-after': '1' } : {});
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}/hook`,
    got,
    answer(fn) { status = fn; },
    close: () => new Promise((r) => server.close(r)),
  };
}

async function smtpSink() {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'loupe-smtp-'));
  const child = spawn('/usr/bin/python3', [path.join(REPO_ROOT, 'tests', 'notify', 'smtp_sink.py'), String(port), dir],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => { if (String(d).includes('READY')) resolve(); });
    child.once('exit', (c) => reject(new Error(`smtp sink exited ${c}`)));
  });
  return {
    port,
    messages: () => readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
      .map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8'))),
    close() { child.kill('SIGTERM'); rmSync(dir, { recursive: true, force: true }); },
  };
}

async function send(srv, p, method, body) {
  return srv.apiRaw(p, {}, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
}

async function failingLogins(srv, n = 60, errors = 30, routes = ['/login']) {
  const client = makeClient(srv, { protocol: 'proto', service: 'identity', instance: 'identity-1' });
  const end = Date.now() - 3000;
  for (const route of routes) {
    for (let i = 0; i < n; i++) {
      const spec = webSpec({ start_ms: end - 3000 + i * 40, elapsed_ms: 20, error: i < errors });
      Object.assign(spec, { method: 'POST', route, path: route });
      emitTransaction(client.tracer, spec);
    }
  }
  await client.flush();
  await client.shutdown();
}

async function errorRule(srv, channels, extra = {}) {
  const r = await send(srv, '/api/v1/alert-rules', 'POST', {
    name: 'identity errors', service: 'identity', signal: 'error_rate', window_s: 60, warning: 5, critical: 10, channels, ...extra });
  assert.equal(r.status, 201, r.text);
  return r.json.id;
}

test('a firing alert reaches a webhook in Alertmanager format and resolves; e-mail reaches the SMTP sink', { timeout: 120_000 }, async () => {
  const hook = await receiver();
  const sink = await smtpSink();
  const srv = await startServer({ args: ['--notify-allow-hosts', '127.0.0.1', '--smtp-host', '127.0.0.1',
    '--smtp-port', String(sink.port), '--smtp-starttls', 'off', '--smtp-from', 'loupe@example.com',
    '--external-url', 'http://loupe.example.com:7070'] });
  try {
    await withServerLog(srv, async () => {
      const wh = await send(srv, '/api/v1/alert-channels', 'POST', { name: 'hook', type: 'webhook', url: hook.url + '?token=s3cr3t' });
      assert.equal(wh.status, 201, wh.text);
      const mail = await send(srv, '/api/v1/alert-channels', 'POST', { name: 'ops-mail', type: 'email', addresses: ['ops@example.com', 'dev@example.com'] });
      assert.equal(mail.status, 201, mail.text);
      const ruleId = await errorRule(srv, [wh.json.id, mail.json.id]);

      // The test button goes through the same path.
      const t = await send(srv, `/api/v1/alert-channels/${mail.json.id}/test`, 'POST');
      assert.equal(t.status, 200, t.text);
      assert.equal(t.json.ok, true, t.text);
      assert.equal(t.json.result, 'delivered');

      const t0 = Date.now();
      await failingLogins(srv);
      await poll(async () => hook.got.length, (n) => n >= 1, { timeoutMs: 30_000, intervalMs: 200 });
      const firing = hook.got[0];
      const latencyMs = firing.at - t0;
      assert.equal(firing.body.version, '4');
      assert.equal(firing.body.status, 'firing');
      assert.equal(firing.body.receiver, 'hook');
      const alert = firing.body.alerts[0];
      assert.equal(alert.labels.alertname, 'identity errors');
      assert.equal(alert.labels.severity, 'critical');
      assert.equal(alert.labels.service, 'identity');
      assert.match(alert.generatorURL, /^http:\/\/loupe\.example\.com:7070\/#\/xview\?project=default&service=identity&from=\d+&to=\d+&error=1$/);
      assert.equal(firing.headers['idempotency-key'], firing.body.notificationId);
      console.log(`breach exported → webhook received: ${latencyMs} ms`);

      const mails = await poll(async () => sink.messages(), (m) => m.length >= 2, { timeoutMs: 20_000, intervalMs: 200 });
      const alertMail = mails.find((m) => /identity errors/.test(m.subject));
      assert.ok(alertMail, JSON.stringify(mails.map((m) => m.subject)));
      assert.deepEqual(alertMail.rcpt_tos.sort(), ['dev@example.com', 'ops@example.com']);
      assert.equal(alertMail.mail_from, 'loupe@example.com');
      assert.match(alertMail.text, /error_rate 50 ?% ≥ 10 ?% \(critical\)/);
      assert.match(alertMail.text, /http:\/\/loupe\.example\.com:7070\/#\/xview/);

      // Resolve: raise the thresholds.
      const up = await send(srv, `/api/v1/alert-rules/${ruleId}`, 'PUT', { name: 'identity errors', service: 'identity',
        signal: 'error_rate', window_s: 60, warning: 80, critical: 90, channels: [wh.json.id, mail.json.id] });
      assert.equal(up.status, 200, up.text);
      await poll(async () => hook.got.length, (n) => n >= 2, { timeoutMs: 20_000, intervalMs: 200 });
      assert.equal(hook.got[1].body.status, 'resolved');
      assert.equal(hook.got[1].body.alerts[0].fingerprint, alert.fingerprint);
      assert.notEqual(hook.got[1].body.notificationId, firing.body.notificationId);

      const log = await srv.api(`/api/v1/alert-channels/${wh.json.id}/deliveries`);
      assert.deepEqual(log.deliveries.map((d) => `${d.kind}:${d.result}`), ['resolved:delivered', 'firing:delivered']);
      assert.equal(JSON.stringify(log).includes('s3cr3t'), false, 'no secret in the delivery log');
      assert.equal(srv.output().includes('s3cr3t'), false, 'no secret in the server log');
      const metrics = (await srv.metricsText()).text;
      const delivered = Number(metrics.match(/^loupe_notify_deliveries_total\{result="delivered"\} (\d+)$/m)?.[1]);
      assert.ok(delivered >= 4, `test mail, firing webhook and mail, resolved webhook: ${delivered}`);
      assert.match(metrics, /^loupe_notify_pending \d+$/m);
    });
  } finally {
    await srv.stop();
    await hook.close();
    sink.close();
  }
});

test('loopback targets are refused unless allowed', { timeout: 60_000 }, async () => {
  const hook = await receiver();
  const srv = await startServer();
  try {
    await withServerLog(srv, async () => {
      const wh = await send(srv, '/api/v1/alert-channels', 'POST', { name: 'internal', type: 'webhook', url: hook.url });
      assert.equal(wh.status, 201, wh.text);
      const t = await send(srv, `/api/v1/alert-channels/${wh.json.id}/test`, 'POST');
      assert.equal(t.json.ok, false, t.text);
      assert.equal(t.json.result, 'failed');
      assert.match(t.json.error, /loopback/);
      assert.equal(hook.got.length, 0, 'nothing reached the internal service');
    });
  } finally {
    await srv.stop();
    await hook.close();
  }
});

test('an alert that fired before kill -9 is delivered after the restart, with the same id', { timeout: 120_000 }, async () => {
  const hook = await receiver();
  hook.answer(() => 503);  // down: the notification stays queued
  let srv = await startServer({ args: ['--notify-allow-hosts', '127.0.0.1'] });
  const { dataDir, credentials } = srv;
  try {
    let firstId;
    await withServerLog(srv, async () => {
      const wh = await send(srv, '/api/v1/alert-channels', 'POST', { name: 'hook', type: 'webhook', url: hook.url });
      await errorRule(srv, [wh.json.id]);
      await failingLogins(srv);
      await poll(async () => hook.got.length, (n) => n >= 1, { timeoutMs: 30_000, intervalMs: 200 });
      firstId = hook.got[0].body.notificationId;
    });
    await srv.kill9();
    hook.answer(() => 200);
    srv = await startServer({ dataDir, credentials, args: ['--notify-allow-hosts', '127.0.0.1'] });
    await withServerLog(srv, async () => {
      const ok = await poll(async () => hook.got.filter((g) => g.answered === 200), (l) => l.length >= 1, { timeoutMs: 30_000, intervalMs: 200 });
      assert.equal(ok[0].body.notificationId, firstId, 'the queued notification, not a new one');
      assert.equal(ok[0].body.status, 'firing');
    });
  } finally {
    await srv.stop();
    await hook.close();
  }
});

test('a firing alert survives kill -9: same id and history after the restart, one firing message', { timeout: 120_000 }, async () => {
  const hook = await receiver();
  let srv = await startServer({ args: ['--notify-allow-hosts', '127.0.0.1'] });
  const { dataDir, credentials } = srv;
  try {
    let before;
    await withServerLog(srv, async () => {
      const wh = await send(srv, '/api/v1/alert-channels', 'POST', { name: 'hook', type: 'webhook', url: hook.url });
      await errorRule(srv, [wh.json.id]);
      await failingLogins(srv);
      const got = await poll(() => srv.api('/api/v1/alerts'), (b) => b.alerts.some((a) => a.state === 'firing'),
        { timeoutMs: 30_000, intervalMs: 200 });
      before = got.alerts.find((a) => a.state === 'firing');
      await poll(async () => hook.got.length, (n) => n >= 1, { timeoutMs: 20_000, intervalMs: 200 });
    });
    await srv.kill9();
    srv = await startServer({ dataDir, credentials, args: ['--notify-allow-hosts', '127.0.0.1'] });
    await withServerLog(srv, async () => {
      const now = await srv.api('/api/v1/alerts');
      const same = now.alerts.find((a) => a.id === before.id);
      assert.ok(same, `alert ${before.id} after the restart: ${JSON.stringify(now.alerts)}`);
      assert.equal(same.state, 'firing');
      assert.equal(same.since_ms, before.since_ms);
      assert.ok(now.history.some((h) => h.id === before.id && h.kind === 'firing'), 'history from before the restart');
      // Three ticks on the restarted server, the breach still in its window.
      await new Promise((r) => setTimeout(r, 15_000));
      const after = await srv.api('/api/v1/alerts');
      assert.deepEqual(after.alerts.map((a) => a.id), [before.id], 'still the same alert, no new one');
      const firing = hook.got.filter((g) => g.body.status === 'firing');
      assert.equal(new Set(firing.map((g) => g.body.notificationId)).size, 1,
        `one firing notification id: ${JSON.stringify(firing.map((g) => g.body.notificationId))}`);
    });
  } finally {
    await srv.stop();
    await hook.close();
  }
});

test('the alerts of one rule in one tick are one webhook message listing them', { timeout: 90_000 }, async () => {
  const hook = await receiver();
  const srv = await startServer({ args: ['--notify-allow-hosts', '127.0.0.1'] });
  try {
    await withServerLog(srv, async () => {
      const wh = await send(srv, '/api/v1/alert-channels', 'POST', { name: 'hook', type: 'webhook', url: hook.url });
      await errorRule(srv, [wh.json.id], { endpoint: '*' });
      await failingLogins(srv, 60, 30, ['/login', '/token', '/logout']);
      await poll(() => srv.api('/api/v1/alerts'), (b) => b.alerts.filter((a) => a.state === 'firing').length === 3,
        { timeoutMs: 30_000, intervalMs: 200 });
      await poll(async () => hook.got.length, (n) => n >= 1, { timeoutMs: 20_000, intervalMs: 200 });
      await new Promise((r) => setTimeout(r, 6_000));  // a tick more: nothing else arrives
      assert.equal(hook.got.length, 1, JSON.stringify(hook.got.map((g) => g.body.alerts.length)));
      const body = hook.got[0].body;
      assert.equal(body.status, 'firing');
      assert.equal(body.alerts.length, 3);
      assert.deepEqual(body.alerts.map((a) => a.labels.endpoint).sort(), ['POST /login', 'POST /logout', 'POST /token']);
      assert.ok(body.alerts.every((a) => a.status === 'firing'));
      assert.equal(body.commonLabels.alertname, 'identity errors');
      assert.equal(body.commonLabels.endpoint, undefined);
      assert.equal(hook.got[0].headers['idempotency-key'], body.notificationId);
    });
  } finally {
    await srv.stop();
    await hook.close();
  }
});

test('a channel test message is sent once, answered synchronously and never retried', { timeout: 60_000 }, async () => {
  const hook = await receiver();
  hook.answer(() => 500);
  const srv = await startServer({ args: ['--notify-allow-hosts', '127.0.0.1'] });
  try {
    await withServerLog(srv, async () => {
      const wh = await send(srv, '/api/v1/alert-channels', 'POST', { name: 'hook', type: 'webhook', url: hook.url });
      const t0 = Date.now();
      const t = await send(srv, `/api/v1/alert-channels/${wh.json.id}/test`, 'POST');
      assert.equal(t.status, 200, t.text);
      assert.ok(Date.now() - t0 < 10_000);
      assert.equal(t.json.ok, false, t.text);
      assert.equal(t.json.result, 'failed');
      assert.equal(t.json.status, 500);
      assert.equal(hook.got.length, 1, 'the receiver saw it once, before the answer');
      await new Promise((r) => setTimeout(r, 4_000));  // back-off would have retried by now
      assert.equal(hook.got.length, 1, 'not retried');
      const log = await srv.api(`/api/v1/alert-channels/${wh.json.id}/deliveries`);
      assert.deepEqual(log.deliveries.map((d) => `${d.kind}:${d.result}:${d.status}`), ['test:failed:500']);
      const metrics = (await srv.metricsText()).text;
      assert.match(metrics, /^loupe_notify_pending 0$/m, 'nothing left in the queue');
    });
  } finally {
    await srv.stop();
    await hook.close();
  }
});

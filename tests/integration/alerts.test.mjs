// Alerts end to end (issue 12 §2, docs/api.md "Alerts"): rules and channels
// through the API, traffic from the OpenTelemetry JS SDK, an error-rate rule
// that fires within a few evaluation ticks and resolves, `alert` events, the
// test button, validation that names the field, write-only secrets, and
// rules, channels and silences kept across a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer, poll, withServerLog } from './lib/server.mjs';
import { makeClient, emitTransaction, webSpec } from './lib/otel.mjs';

async function send(srv, path, method, body) {
  return srv.apiRaw(path, {}, { method, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
}

// n transactions of identity's POST /login ending over `spreadMs` up to 6 s
// ago (windows end 5 s before an evaluation: the newest seconds are still
// arriving), `errors` of them failing, exported through the SDK's batch
// processor.
async function traffic(client, n, errors, spreadMs = 4000) {
  const now = Date.now() - 6000;
  for (let i = 0; i < n; i++) {
    const spec = webSpec({ start_ms: now - spreadMs + (i * spreadMs) / n - 30, elapsed_ms: 25, error: i < errors });
    spec.method = 'POST';
    spec.route = '/login';
    spec.path = '/login';
    emitTransaction(client.tracer, spec);
  }
  await client.flush();
}

test('an error-rate rule fires on SDK traffic, shows as an alert event, and resolves', { timeout: 120_000 }, async () => {
  const srv = await startServer();
  try {
    await withServerLog(srv, async () => {
      const ch = await send(srv, '/api/v1/alert-channels', 'POST',
        { name: 'hook', type: 'webhook', url: 'https://hooks.example.com/services/T0/B0/s3cr3t' });
      assert.equal(ch.status, 201, ch.text);
      assert.ok(ch.json.id > 0);
      assert.equal(ch.text.includes('s3cr3t'), false, 'the secret is write-only');
      assert.equal(ch.json.url, 'https://hooks.example.com/…');

      const rule = await send(srv, '/api/v1/alert-rules', 'POST', {
        name: 'identity errors', service: 'identity', signal: 'error_rate', window_s: 60,
        warning: 5, critical: 10, channels: [ch.json.id] });
      assert.equal(rule.status, 201, rule.text);
      const ruleId = rule.json.id;

      const client = makeClient(srv, { protocol: 'proto', service: 'identity', instance: 'identity-1' });
      // 20 % errors: past critical (10 %).
      await traffic(client, 100, 20);
      const firing = await poll(() => srv.api('/api/v1/alerts'),
        (b) => b.alerts.some((a) => a.rule_id === ruleId && a.state === 'firing'), { timeoutMs: 30_000, intervalMs: 500 });
      const a = firing.alerts.find((x) => x.rule_id === ruleId);
      assert.equal(a.level, 'critical');
      assert.ok(Math.abs(a.value - 20) < 1e-9, `value ${a.value}`);
      assert.equal(a.threshold, 10);
      assert.deepEqual(a.scope, { service: 'identity', instance: '', endpoint: '' });
      assert.equal(a.rule_name, 'identity errors');
      assert.match(a.link, /^\/#\/xview\?project=default&service=identity&from=\d+&to=\d+&error=1$/);
      assert.ok(a.since_ms > Date.now() - 60_000);

      const ev = await srv.api('/api/v1/events', { type: 'ALERT' });
      assert.equal(ev.events.length, 1);
      assert.equal(ev.events[0].level, 'FATAL');
      assert.match(ev.events[0].message, /^identity errors · error_rate 20 ≥ 10 \(critical\) · identity$/);

      // Grouped events: the 20 failed logins are one row, with an example.
      const grouped = await srv.api('/api/v1/events', { group_by: 'type' });
      const errors = grouped.groups.find((g) => g.key === 'SERVICE_EXCEPTION');
      assert.ok(errors, JSON.stringify(grouped));
      assert.equal(errors.message, 'TemplateError', 'named by the exception in the failing step');
      assert.equal(errors.count, 20, JSON.stringify(grouped));
      assert.match(errors.example_tx_id, /^[0-9a-f]{16}$/);
      assert.ok(errors.first_ms <= errors.last_ms);
      assert.equal(grouped.groups.find((g) => g.key === 'ALERT').count, 1);
      const byMessage = await srv.api('/api/v1/events', { group_by: 'message', type: 'SERVICE_EXCEPTION' });
      assert.equal(byMessage.groups.length, 1, JSON.stringify(byMessage));
      assert.equal(byMessage.groups[0].service, 'identity');
      assert.equal((await srv.apiRaw('/api/v1/events', { group_by: 'colour' })).status, 400);

      const rules = await srv.api('/api/v1/alert-rules');
      assert.equal(rules.rules[0].firing, 1);

      // The test button replays the last hour.
      const t = await send(srv, `/api/v1/alert-rules/${ruleId}/test`, 'POST');
      assert.equal(t.status, 200, t.text);
      assert.ok(t.json.changes.some((c) => c.kind === 'firing' && c.level === 'critical'), t.text);
      assert.ok(t.json.series[0].points.some(([, v]) => v >= 10), 'the series shows the breach');

      // Raising the thresholds resolves it at the next tick.
      const raised = await send(srv, `/api/v1/alert-rules/${ruleId}`, 'PUT', {
        name: 'identity errors', service: 'identity', signal: 'error_rate', window_s: 60,
        warning: 50, critical: 90, channels: [ch.json.id] });
      assert.equal(raised.status, 200, raised.text);
      const resolved = await poll(() => srv.api('/api/v1/alerts'),
        (b) => b.alerts.length === 0 && b.history.some((h) => h.kind === 'resolved'), { timeoutMs: 20_000, intervalMs: 500 });
      assert.equal(resolved.history[0].kind, 'resolved');
      assert.equal(resolved.history[0].id, a.id, 'one alert id from firing to resolved');

      const metrics = await srv.metricsText();
      assert.match(metrics.text, /^loupe_alert_rules 1$/m);
      assert.match(metrics.text, /^loupe_alert_evaluations_total [1-9]/m);
      await client.shutdown();
    });
  } finally {
    await srv.stop();
  }
});

test('bad rules and channels get a 400 naming the field', { timeout: 60_000 }, async () => {
  const srv = await startServer();
  try {
    await withServerLog(srv, async () => {
      const cases = [
        ['/api/v1/alert-rules', { name: 'x', signal: 'error_rate', warning: 20, critical: 10 }, /^warning: /],
        ['/api/v1/alert-rules', { name: 'x', signal: 'errors', critical: 10 }, /^signal: /],
        ['/api/v1/alert-rules', { name: 'x', signal: 'tps', critical: 1, window_s: 2 }, /^window_s: /],
        ['/api/v1/alert-rules', { name: 'x', signal: 'tps', critical: 1, channels: [999] }, /^channels: /],
        ['/api/v1/alert-rules', { name: 'x', signal: 'tps', critical: 1, colour: 'red' }, /^colour: unknown member/],
        ['/api/v1/alert-channels', { name: 'm', type: 'email', addresses: ['a@b.c\r\nBcc: x@evil.example'] }, /^addresses: /],
        ['/api/v1/alert-channels', { name: 'h', type: 'webhook', url: 'file:///etc/passwd' }, /^url: /],
        ['/api/v1/silences', { service: 'identity' }, /^end_ms: /],
        ['/api/v1/alert-rules', { name: 'x', signal: 'tps', critical: 1,
          quiet_hours: { days: ['sat'], from: '22:00', to: '07:00', tz: 'Mars/Olympus' } }, /^quiet_hours\.tz: /],
        ['/api/v1/alert-rules', { name: 'x', signal: 'tps', critical: 1,
          quiet_hours: { days: ['sat'], from: '22:00', to: '07:00', tz: '../../etc/passwd' } }, /^quiet_hours\.tz: /],
      ];
      for (const [path, body, re] of cases) {
        const r = await send(srv, path, 'POST', body);
        assert.equal(r.status, 400, `${path} ${JSON.stringify(body)}: ${r.text}`);
        assert.equal(r.json.error.code, 'invalid_argument');
        assert.match(r.json.error.message, re, JSON.stringify(body));
      }
      const berlin = await send(srv, '/api/v1/alert-rules', 'POST', { name: 'quiet in Berlin', signal: 'tps', critical: 1,
        quiet_hours: { days: ['sat', 'sun'], from: '22:00', to: '07:00', tz: 'Europe/Berlin' } });
      assert.equal(berlin.status, 201, berlin.text);
      const got = await srv.api(`/api/v1/alert-rules/${berlin.json.id}`);
      assert.equal(got.quiet_hours.tz, 'Europe/Berlin', JSON.stringify(got));
      const bad = await srv.apiRaw('/api/v1/alert-rules', {}, { method: 'POST', body: '{"name": ' });
      assert.equal(bad.status, 400);
      assert.equal((await send(srv, '/api/v1/alert-rules/77', 'GET')).status, 404);
      assert.equal((await send(srv, '/api/v1/alert-rules/abc', 'GET')).status, 400);
      const patch = await srv.apiRaw('/api/v1/alert-rules', {}, { method: 'PATCH' });
      assert.equal(patch.status, 405);
      assert.equal(patch.headers.get('allow'), 'GET, POST');
      const anon = await srv.apiRaw('/api/v1/alert-rules', {}, { token: null });
      assert.equal(anon.status, 401);
    });
  } finally {
    await srv.stop();
  }
});

test('rules, channels and silences survive a restart; secrets stay write-only', { timeout: 60_000 }, async () => {
  let srv = await startServer();
  const { dataDir, credentials } = srv;
  let ruleId, channelId, silenceId;
  try {
    await withServerLog(srv, async () => {
      const ch = await send(srv, '/api/v1/alert-channels', 'POST', { name: 'ops-mail', type: 'email', addresses: ['ops@example.com'] });
      assert.equal(ch.status, 201, ch.text);
      channelId = ch.json.id;
      const r = await send(srv, '/api/v1/alert-rules', 'POST', { name: 'slow checkout', service: 'shop', endpoint: 'POST /checkout',
        signal: 'p95', window_s: 300, for_s: 60, critical: 2000, channels: [channelId], repeat_minutes: 30,
        quiet_hours: { days: ['sat', 'sun'], from: '22:00', to: '07:00', tz: 'UTC+09:00' } });
      assert.equal(r.status, 201, r.text);
      ruleId = r.json.id;
      const s = await send(srv, '/api/v1/silences', 'POST', { rule_id: ruleId, duration_s: 3600, comment: 'deploy' });
      assert.equal(s.status, 201, s.text);
      silenceId = s.json.id;
      // A channel a rule uses cannot go.
      const del = await send(srv, `/api/v1/alert-channels/${channelId}`, 'DELETE');
      assert.equal(del.status, 400, del.text);
      assert.match(del.json.error.message, /slow checkout/);
    });
    await srv.stop({ keepData: true });
    srv = await startServer({ dataDir, credentials });
    await withServerLog(srv, async () => {
      const rule = await srv.api(`/api/v1/alert-rules/${ruleId}`);
      assert.equal(rule.name, 'slow checkout');
      assert.equal(rule.endpoint, 'POST /checkout');
      assert.deepEqual(rule.quiet_hours, { days: ['sun', 'sat'], from: '22:00', to: '07:00', tz: 'UTC+09:00' });
      assert.deepEqual(rule.channels, [channelId]);
      const chans = await srv.api('/api/v1/alert-channels');
      assert.deepEqual(chans.channels[0].addresses, ['ops@example.com']);
      const sil = await srv.api('/api/v1/silences');
      assert.equal(sil.silences[0].id, silenceId);
      assert.equal(sil.silences[0].comment, 'deploy');
      assert.equal((await send(srv, `/api/v1/silences/${silenceId}`, 'DELETE')).status, 204);
      assert.equal((await send(srv, `/api/v1/alert-rules/${ruleId}`, 'DELETE')).status, 204);
      assert.equal((await send(srv, `/api/v1/alert-channels/${channelId}`, 'DELETE')).status, 204);
      assert.deepEqual((await srv.api('/api/v1/alert-rules')).rules, []);
    });
  } finally {
    await srv.stop();
  }
});

test('a transaction slower than its service\'s highest band is a BAD_RESPONSE_TIME event', { timeout: 60_000 }, async () => {
  const srv = await startServer();
  try {
    await withServerLog(srv, async () => {
      const client = makeClient(srv, { protocol: 'proto', service: 'reports', instance: 'reports-1' });
      const now = Date.now();
      for (const [i, elapsed] of [[0, 9000], [1, 7000], [2, 20]].entries()) {
        const spec = webSpec({ start_ms: now - 30_000 + i * 1000, elapsed_ms: elapsed[1] });
        Object.assign(spec, { method: 'GET', route: '/export', path: '/export', children: [] });
        emitTransaction(client.tracer, spec);
      }
      await client.flush();
      const ev = await poll(() => srv.api('/api/v1/events', { type: 'BAD_RESPONSE_TIME' }), (b) => b.events.length >= 1, { timeoutMs: 10_000 });
      assert.equal(ev.events.length, 1, 'only the 9-second one passes the default 8 s band');
      assert.equal(ev.events[0].message, '9000 ms');
      assert.equal(ev.events[0].endpoint, 'GET /export');
      assert.equal(ev.events[0].instance, 'reports-1');
      assert.match(ev.events[0].tx_id, /^[0-9a-f]{16}$/);
      await client.shutdown();
    });
  } finally {
    await srv.stop();
  }
});

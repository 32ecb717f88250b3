// Loupe agent extensions (docs/format/agent-protocol.md) end to end: active
// snapshots POSTed to the OTLP HTTP port with the ingest key, read back
// through /api/v1/active, /api/v1/active-stack and /api/v1/events; agent
// configuration changed through /api/v1/agent-config and seen by agents as a
// new config_version; bad input answered as documented while the server keeps
// serving.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { promisify } from 'node:util';

import { startServer, poll, withServerLog } from './lib/server.mjs';
import { assertApiError } from './lib/expect.mjs';

const gzip = promisify(zlib.gzip);
const MiB = 1024 * 1024;

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv?.stop(); });
const it = (name, fn) => test(name, { timeout: 60_000 }, (t) => withServerLog(srv, () => fn(t)));

// POST a snapshot (object or raw string/Buffer) to /v1/loupe/active.
async function postActive(body, { key = srv.ingestKey, headers = {} } = {}) {
  const h = { 'content-type': 'application/json', ...headers };
  if (key !== null) h.authorization = `Bearer ${key}`;
  const res = await fetch(`${srv.otlpHttpBase}/v1/loupe/active`, {
    method: 'POST', headers: h, body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(15000),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

async function getConfig(service, key = srv.ingestKey) {
  const res = await fetch(`${srv.otlpHttpBase}/v1/loupe/config?service=${encodeURIComponent(service)}`, {
    headers: { authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(15000),
  });
  return { status: res.status, json: await res.json() };
}

function snapshot({ service = 'orders', instance = 'orders-1', startedMs, timeMs = Date.now(), active = [], stacks = [], throttled = [], counters } = {}) {
  return {
    service, instance, host: 'web-3', pid: 4242, agent: 'loupe-cpp/0.1',
    started_ms: startedMs ?? timeMs - 60_000, time_ms: timeMs, active, stacks, throttled,
    counters: counters ?? { transactions: 10, exported: 10, dropped: 0, throttled: 0 },
  };
}

function tx(id, elapsedMs, now, extra = {}) {
  return {
    id, trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', endpoint: 'GET /orders/{id}',
    start_ms: now - elapsedMs, elapsed_ms: elapsedMs, thread: '140213',
    step: 'SQL SELECT * FROM orders WHERE id = ?', step_kind: 'sql', user: 'u-17', client_ip: '10.0.0.5', ...extra,
  };
}

it('active snapshots show up in /api/v1/active with bands and extrapolated elapsed', async () => {
  const now = Date.now();
  const r = await postActive(snapshot({
    instance: 'act-1', timeMs: now,
    active: [tx('00000000000000a1', 500, now), tx('00000000000000a2', 4000, now), tx('00000000000000a3', 9000, now)],
  }));
  assert.equal(r.status, 200, r.text);
  assert.equal(typeof r.json.config_version, 'number');

  const body = await srv.api('/api/v1/active', { service: 'orders', instance: 'act-1' });
  assert.deepEqual(body.bands_ms, [3000, 8000]);
  assert.equal(body.instances.length, 1);
  const inst = body.instances[0];
  assert.equal(inst.service, 'orders');
  assert.equal(inst.instance, 'act-1');
  assert.equal(inst.host, 'web-3');
  assert.equal(inst.stale, false);
  assert.deepEqual(inst.bands, [1, 1, 1]);
  assert.deepEqual(inst.active.map((a) => a.id), ['00000000000000a3', '00000000000000a2', '00000000000000a1']);
  const longest = inst.active[0];
  assert.ok(longest.elapsed_ms >= 9000 && longest.elapsed_ms < 9000 + 5000, `elapsed ${longest.elapsed_ms}`);
  assert.equal(longest.step_kind, 'sql');
  assert.equal(longest.client_ip, '10.0.0.5');

  const limited = await srv.api('/api/v1/active', { instance: 'act-1', limit: 1 });
  assert.equal(limited.instances[0].active.length, 1);
  assert.deepEqual(limited.instances[0].bands, [1, 1, 1]);
});

it('stack samples aggregate into frame shares and endpoint counts', async () => {
  const now = Date.now();
  const frames = (leaf) => ['GET /orders/{id}', 'method orders::Load', leaf];
  const stacks = [];
  for (let i = 0; i < 3; i++) stacks.push({ time_ms: now - 100, tx_id: 'a1', endpoint: 'GET /orders/{id}', elapsed_ms: 3000, frames: frames('sql SELECT orders') });
  stacks.push({ time_ms: now - 100, tx_id: 'a2', endpoint: 'GET /orders/{id}', elapsed_ms: 3000, frames: frames('external GET http://pay') });
  stacks.push({ time_ms: now - 100, tx_id: 'a3', endpoint: 'POST /checkout', elapsed_ms: 2500, frames: ['POST /checkout'] });
  const r = await postActive(snapshot({ service: 'stk', instance: 'stk-1', timeMs: now, stacks }));
  assert.equal(r.status, 200, r.text);

  const agg = await srv.api('/api/v1/active-stack', { service: 'stk', from: now - 60_000, to: now + 60_000 });
  assert.equal(agg.samples, 5);
  const byFrame = Object.fromEntries(agg.frames.map((f) => [f.frame, f]));
  assert.equal(byFrame['method orders::Load'].samples, 4);
  assert.equal(byFrame['method orders::Load'].share, 80);
  assert.equal(byFrame['method orders::Load'].self_samples, 0);
  assert.equal(byFrame['sql SELECT orders'].self_samples, 3);
  assert.equal(byFrame['sql SELECT orders'].self_share, 60);
  assert.equal(byFrame['POST /checkout'].self_samples, 1);
  assert.deepEqual(agg.endpoints, [{ endpoint: 'GET /orders/{id}', samples: 4 }, { endpoint: 'POST /checkout', samples: 1 }]);

  const one = await srv.api('/api/v1/active-stack', { service: 'stk', endpoint: 'POST /checkout', from: now - 60_000, to: now + 60_000 });
  assert.equal(one.samples, 1);
  const none = await srv.api('/api/v1/active-stack', { service: 'stk', from: now - 600_000, to: now - 300_000 });
  assert.equal(none.samples, 0);
});

it('agent start, restart and throttling become events', async () => {
  const now = Date.now();
  assert.equal((await postActive(snapshot({ service: 'evt', instance: 'evt-1', startedMs: now - 5000, timeMs: now }))).status, 200);
  assert.equal((await postActive(snapshot({
    service: 'evt', instance: 'evt-1', startedMs: now - 5000, timeMs: now + 1,
    throttled: [{ time_ms: now, endpoint: 'POST /checkout', action: 'reject', active: 51, limit: 50, count: 12 }],
  }))).status, 200);
  assert.equal((await postActive(snapshot({ service: 'evt', instance: 'evt-1', startedMs: now + 2, timeMs: now + 3 }))).status, 200);

  const all = await srv.api('/api/v1/events', { service: 'evt', from: now - 60_000, to: now + 60_000 });
  assert.equal(all.truncated, false);
  const types = all.events.map((e) => e.type);
  assert.deepEqual(types, ['AGENT_START', 'THROTTLED', 'AGENT_START'], JSON.stringify(all.events));
  const th = all.events[1];
  assert.equal(th.level, 'WARNING');
  assert.equal(th.endpoint, 'POST /checkout');
  assert.equal(th.instance, 'evt-1');
  assert.match(th.message, /12 requests/);
  assert.equal(all.events[0].level, 'NORMAL');
  assert.equal(all.events[0].tx_id, '');

  const warn = await srv.api('/api/v1/events', { service: 'evt', level: 'WARNING', from: now - 60_000, to: now + 60_000 });
  assert.deepEqual(warn.events.map((e) => e.type), ['THROTTLED']);
  const one = await srv.api('/api/v1/events', { service: 'evt', limit: 1, from: now - 60_000, to: now + 60_000 });
  assert.equal(one.events.length, 1);
  assert.equal(one.truncated, true);
  assertApiError(await srv.apiRaw('/api/v1/events', { level: 'LOUD' }), 400, 'invalid_argument', 'bad level');
});

it('agent config changes bump config_version seen by the next snapshot', async () => {
  const before = await srv.api('/api/v1/agent-config', { service: 'cfg' });
  assert.deepEqual(before.bands_ms, [3000, 8000]);
  assert.deepEqual(before.active_stack, { threshold_ms: 2000, interval_ms: 1000 });
  assert.equal(before.throttle.enabled, false);
  assert.deepEqual(before.profiling.methods, []);
  assert.equal(before.overridden, false);
  const v0 = (await postActive(snapshot({ service: 'cfg', instance: 'cfg-1' }))).json.config_version;
  assert.equal(v0, before.version);

  const put = await srv.apiRaw('/api/v1/agent-config', { service: 'cfg' }, {
    method: 'PUT', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      bands_ms: [1000, 2000],
      throttle: { enabled: true, max_active: 50, action: 'redirect', redirect_url: '/busy.html', endpoints: { 'POST /checkout': 10 } },
      profiling: { methods: ['orders::*'] },
    }),
  });
  assert.equal(put.status, 200, put.text);
  assert.equal(put.json.overridden, true);
  assert.ok(put.json.version > v0);
  assert.deepEqual(put.json.bands_ms, [1000, 2000]);

  const v1 = (await postActive(snapshot({ service: 'cfg', instance: 'cfg-1' }))).json.config_version;
  assert.equal(v1, put.json.version);
  const agentView = await getConfig('cfg');
  assert.equal(agentView.status, 200);
  assert.equal(agentView.json.version, v1);
  assert.equal(agentView.json.throttle.max_active, 50);
  assert.deepEqual(agentView.json.profiling.methods, ['orders::*']);
  assert.equal(agentView.json.overridden, undefined);
  assert.deepEqual((await getConfig('other')).json.bands_ms, [3000, 8000]);

  // The service's bands count the equalizer.
  const now = Date.now();
  await postActive(snapshot({ service: 'cfg', instance: 'cfg-1', timeMs: now, active: [tx('b1', 1500, now), tx('b2', 100, now)] }));
  const act = await srv.api('/api/v1/active', { service: 'cfg' });
  assert.deepEqual(act.instances[0].bands_ms, [1000, 2000]);
  assert.deepEqual(act.instances[0].bands, [1, 1, 0]);

  const bad = await srv.apiRaw('/api/v1/agent-config', {}, { method: 'PUT', body: JSON.stringify({ bands_ms: [8000, 3000] }) });
  assertApiError(bad, 400, 'invalid_argument', 'decreasing bands');
  const badUrl = await srv.apiRaw('/api/v1/agent-config', {}, { method: 'PUT', body: JSON.stringify({ throttle: { action: 'redirect', redirect_url: 'javascript:alert(1)' } }) });
  assertApiError(badUrl, 400, 'invalid_argument', 'bad redirect');

  const del = await srv.apiRaw('/api/v1/agent-config', { service: 'cfg' }, { method: 'DELETE' });
  assert.equal(del.status, 200, del.text);
  assert.equal(del.json.overridden, false);
  assert.ok(del.json.version > v1);
  assert.equal((await postActive(snapshot({ service: 'cfg', instance: 'cfg-1' }))).json.config_version, del.json.version);
  assertApiError(await srv.apiRaw('/api/v1/agent-config', { service: 'cfg' }, { method: 'DELETE' }), 404, 'not_found', 'no override');
});

it('bad input is refused as documented and the server keeps serving', async () => {
  const ok = () => snapshot({ service: 'bad', instance: 'bad-1' });
  assertApiError(await postActive(ok(), { key: 'lk_wrong' }), 401, 'unauthenticated', 'bad key');
  assertApiError(await postActive(ok(), { key: null }), 401, 'unauthenticated', 'no key');
  assertApiError(await postActive('{"service": "bad", "instance": '), 400, 'invalid_argument', 'malformed');
  assertApiError(await postActive({ instance: 'x', time_ms: 1 }), 400, 'invalid_argument', 'no service');
  assertApiError(await postActive(ok(), { headers: { 'content-type': 'text/plain' } }), 415, 'invalid_argument', 'content type');

  const tooMany = ok();
  tooMany.active = Array.from({ length: 10_001 }, (_, i) => ({ id: String(i) }));
  const r = await postActive(tooMany);
  assertApiError(r, 400, 'invalid_argument', 'too many entries');
  assert.match(r.json.error.message, /10001 entries exceed the limit of 10000/);

  const big = ok();
  big.host = 'x'.repeat(MiB + 10);
  assertApiError(await postActive(big), 413, 'resource_exhausted', 'oversized');
  // A gzip bomb: small on the wire, over 1 MiB inflated.
  const bomb = await gzip(Buffer.from(JSON.stringify({ ...ok(), host: ' '.repeat(2 * MiB) })));
  assertApiError(await postActive(bomb, { headers: { 'content-encoding': 'gzip' } }), 413, 'resource_exhausted', 'gzip bomb');

  // Long strings are cut at 1 KiB, not refused; gzip is accepted.
  const long = ok();
  long.active = [{ id: 'l1', endpoint: 'E'.repeat(5000), elapsed_ms: 1 }];
  const gz = await postActive(await gzip(Buffer.from(JSON.stringify(long))), { headers: { 'content-encoding': 'gzip' } });
  assert.equal(gz.status, 200, gz.text);
  const act = await srv.api('/api/v1/active', { service: 'bad' });
  assert.equal(act.instances[0].active[0].endpoint.length, 1024);

  assert.equal((await postActive(ok())).status, 200);
  assertApiError(await srv.apiRaw('/api/v1/active', {}, { token: 'lt_nope' }), 401, 'unauthenticated', 'api token');
  assertApiError(await srv.apiRaw('/api/v1/active', { project: 'nope' }), 404, 'not_found', 'project');
  const health = await fetch(`${srv.baseUrl}/healthz`);
  assert.equal(health.status, 200);
});

it('a silent agent is reported stopped after 30 s', async () => {
  const now = Date.now();
  assert.equal((await postActive(snapshot({ service: 'stop', instance: 'stop-1', timeMs: now, active: [tx('c1', 10, now)] }))).status, 200);
  const stale = await poll(() => srv.api('/api/v1/active', { service: 'stop' }), (b) => b.instances[0]?.stale === true, { timeoutMs: 10_000, intervalMs: 250 });
  assert.deepEqual(stale.instances[0].active, []);
  const ev = await poll(
    () => srv.api('/api/v1/events', { service: 'stop', type: 'AGENT_STOP', from: now - 1000, to: Date.now() + 60_000 }),
    (b) => b.events.length === 1, { timeoutMs: 40_000, intervalMs: 500 });
  assert.equal(ev.events[0].level, 'WARNING');
  assert.equal(ev.events[0].instance, 'stop-1');
});

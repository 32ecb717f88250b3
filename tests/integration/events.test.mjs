// Events are kept by the store (issue 12 §1): they survive a restart and
// `kill -9`, exactly once. After a crash the ingest log replays the requests
// logged since its last checkpoint and the replay makes their transactions'
// events again; the store must keep one copy, whether the crash came before
// or after the checkpoint that covered them.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';

import { startServer, poll, sleep, withServerLog } from './lib/server.mjs';
import { KIND, msToNs, request, sendRequest, span } from './lib/otlp_raw.mjs';

const resource = { 'service.name': 'ev-svc', 'service.instance.id': 'ev-1' };

// n failed requests (HTTP 500, no exception): n HTTP_ERROR events.
async function sendErrors(srv, n, tag) {
  const now = Date.now();
  const spans = [];
  for (let i = 0; i < n; i++) {
    spans.push(span({
      name: `GET /ev/${tag}`, kind: KIND.SERVER, startNs: msToNs(now - 20 - i), endNs: msToNs(now - i),
      attrs: { 'http.request.method': 'GET', 'http.route': `/ev/${tag}`, 'http.response.status_code': 500 },
    }));
  }
  const r = await sendRequest(srv, request({ resource, spans }), { format: 'proto' });
  assert.equal(r.status, 200, 'the errors are acknowledged');
}

async function httpErrors(srv) {
  const r = await srv.api('/api/v1/events', {
    type: 'HTTP_ERROR', from: Date.now() - 3_600_000, to: Date.now() + 60_000, limit: 10000,
  });
  return r.events;
}

function expectOnce(events, n, what) {
  const ids = events.map((e) => e.tx_id);
  assert.equal(ids.length, n, `${what}: ${ids.length} HTTP_ERROR events, expected ${n}`);
  assert.equal(new Set(ids).size, n, `${what}: an event is there twice`);
}

it('events survive kill -9 exactly once, before and after a checkpoint', { timeout: 120_000 }, async () => {
  // No timed checkpoint: the first crash comes before any.
  const args = ['--checkpoint-seconds', '3600'];
  let srv = await startServer({ args });
  const { dataDir, credentials } = srv;
  try {
    await withServerLog(srv, async () => {
      await sendErrors(srv, 5, 'a');
      await poll(() => httpErrors(srv), (e) => e.length === 5, { timeoutMs: 10_000 });

      // 1. Crash before any checkpoint: the five come back from the journal
      // and again from the replay of the ingest log; one copy stays.
      await srv.kill9();
      srv = await startServer({ dataDir, credentials, args });
      expectOnce(await httpErrors(srv), 5, 'after a crash before a checkpoint');
    });
    await withServerLog(srv, async () => {
      // 2. The restart checkpointed (recovery does); three more, then a
      // clean restart keeps all eight.
      await sendErrors(srv, 3, 'b');
      await poll(() => httpErrors(srv), (e) => e.length === 8, { timeoutMs: 10_000 });
      const stopped = await srv.stop();
      assert.equal(stopped.code, 0);
      srv = await startServer({ dataDir, credentials, args });
      expectOnce(await httpErrors(srv), 8, 'after a clean restart');
      const byType = await srv.api('/api/v1/events', { group_by: 'type', from: Date.now() - 3_600_000 });
      const g = byType.groups.find((x) => x.key === 'HTTP_ERROR');
      assert.equal(g?.count, 8, JSON.stringify(byType.groups));
      assert.match(g.example_tx_id, /^[0-9a-f]{16}$/);
    });
    await withServerLog(srv, async () => {
      // 3. Crash with events of two checkpoint intervals behind it.
      await sendErrors(srv, 4, 'c');
      await poll(() => httpErrors(srv), (e) => e.length === 12, { timeoutMs: 10_000 });
      await sleep(200);
      await srv.kill9();
      srv = await startServer({ dataDir, credentials, args });
      expectOnce(await httpErrors(srv), 12, 'after a second crash');
      // And a crash right after recovery (whose checkpoint ended the
      // de-duplication) loses and doubles nothing either.
      await srv.kill9();
      srv = await startServer({ dataDir, credentials, args });
      expectOnce(await httpErrors(srv), 12, 'after a crash right after recovery');
    });
  } finally {
    await srv.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

it('an agent crash report is a NATIVE_CRITICAL_ERROR event, kept once acknowledged', { timeout: 60_000 }, async () => {
  let srv = await startServer();
  const { dataDir, credentials } = srv;
  const post = (body) => fetch(`${srv.otlpHttpBase}/v1/loupe/crash`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${srv.ingestKey}` },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  try {
    await withServerLog(srv, async () => {
      const now = Date.now();
      const r = await post({
        service: 'native-svc', instance: 'native-1', pid: 777, time_ms: now, signal: 'SIGSEGV',
        signal_number: 11, address: '0x0', endpoint: 'GET /boom', tx_id: '00000000000000aa',
        frames: ['0x1 crash_here+0x4 (app)', '0x2 main+0x10 (app)'],
      });
      assert.equal(r.status, 200, await r.text());
      // Acknowledged: durable now, whatever happens next.
      await srv.kill9();
      srv = await startServer({ dataDir, credentials });
      const ev = await srv.api('/api/v1/events', { type: 'NATIVE_CRITICAL_ERROR', from: now - 60_000 });
      assert.equal(ev.events.length, 1, JSON.stringify(ev));
      const e = ev.events[0];
      assert.equal(e.level, 'FATAL');
      assert.equal(e.service, 'native-svc');
      assert.equal(e.instance, 'native-1');
      assert.equal(e.endpoint, 'GET /boom');
      assert.equal(e.tx_id, '00000000000000aa');
      assert.equal(e.message, 'SIGSEGV (11) at 0x0, pid 777\n#0 0x1 crash_here+0x4 (app)\n#1 0x2 main+0x10 (app)');
      assert.equal(Math.round(e.time_ms), now);

      // Bad reports: 400 naming the field; the server goes on.
      const bad = await post({ service: 'native-svc', instance: 'native-1', time_ms: now });
      assert.equal(bad.status, 400);
      assert.match(await bad.text(), /signal/);
      assert.equal((await post('{"service":')).status, 400);
      const unauth = await fetch(`${srv.otlpHttpBase}/v1/loupe/crash`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}',
      });
      assert.equal(unauth.status, 401);
    });
  } finally {
    await srv.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

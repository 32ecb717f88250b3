// "Today" survives a restart: after `loupe server` restarts on the same data
// directory, the dashboard's tiles (GET /api/v1/summary) and the live frame
// (GET /api/v1/live) say what the store says: today's calls equal
// series?metric=count from local midnight, and the last minute's TPS and
// concurrent users come back too (they said 0 before).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import WebSocket from 'ws';

import { startServer, poll, withServerLog } from './lib/server.mjs';
import { KIND, span, request, sendRequest } from './lib/otlp_raw.mjs';

function firstTick(srv) {
  const ws = new WebSocket(`ws://127.0.0.1:${srv.httpPort}/api/v1/live?token=${encodeURIComponent(srv.token)}`);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { ws.terminate(); reject(new Error('no tick frame within 5 s')); }, 5000);
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString());
      if (f.type !== 'tick') return;
      clearTimeout(timer);
      ws.close();
      resolve(f);
    });
    ws.once('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

async function countSinceMidnight(srv) {
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  const s = await srv.api('/api/v1/series', { metric: 'count', from: midnight.getTime(), to: Date.now() + 1, step: 3600 });
  return s.series.reduce((a, line) => a + line.values.reduce((b, v) => b + (v ?? 0), 0), 0);
}

test('today\'s calls, TPS and concurrent users are rebuilt from the store after a restart', { timeout: 90_000 }, async () => {
  let srv = await startServer();
  const dataDir = srv.dataDir;
  const credentials = srv.credentials;
  try {
    await withServerLog(srv, async () => {
      // 300 transactions of 7 users over the last 20 seconds.
      const now = Date.now();
      const spans = [];
      for (let i = 0; i < 300; i++) {
        const end = now - 20_000 + i * 60;
        spans.push(span({ name: 'GET /t', kind: KIND.SERVER, startMs: end - 12, endMs: end,
          attrs: { 'http.request.method': 'GET', 'http.route': '/t', 'enduser.id': `user-${i % 7}` } }));
      }
      const r = await sendRequest(srv, request({ resource: { 'service.name': 'shop', 'service.instance.id': 'shop-1' }, spans }), { format: 'proto' });
      assert.equal(r.status, 200, r.text);
      const before = await poll(() => srv.api('/api/v1/summary'), (b) => b.today_calls === 300, { timeoutMs: 5000 });
      assert.equal(before.today_calls, 300);
    });
    await srv.stop({ keepData: true });

    srv = await startServer({ dataDir, credentials });
    await withServerLog(srv, async () => {
      const stored = await countSinceMidnight(srv);
      assert.equal(stored, 300, 'the store kept them');
      const summary = await srv.api('/api/v1/summary');
      assert.equal(summary.today_calls, stored, `summary after restart: ${JSON.stringify(summary)}`);
      assert.equal(summary.concurrent_users, 7);
      assert.ok(summary.tps > 0, `tps over the last 60 s: ${summary.tps}`);
      assert.ok(Math.abs(summary.avg_ms - 12) < 0.01, `avg_ms ${summary.avg_ms}`);
      const tick = await firstTick(srv);
      assert.equal(tick.today_calls, stored, `live frame after restart: ${JSON.stringify(tick).slice(0, 300)}`);
      assert.equal(tick.concurrent_users, 7);
      assert.match(srv.output(), /rebuilt today's live figures from the store/);
    });
  } finally {
    await srv.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

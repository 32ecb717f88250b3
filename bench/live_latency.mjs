// live_latency: how long after an export is acknowledged its transaction
// appears (a) in the live WebSocket stream and (b) in the query API.
// Budget (issue 2): p99 <= 1 s for both.
//
//   (cd tests/integration && npm ci) && node bench/live_latency.mjs [tps] [seconds]
//
// Starts build/loupe (or $LOUPE_BIN) on free loopback ports, sends `tps`
// single-span transactions a second as OTLP/JSON in 10 requests a second, and
// matches each transaction by its unique end time in the live frames; every
// 20th transaction is also polled through GET /api/v1/traces/{trace_id}.
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const integ = path.join(here, '..', 'tests', 'integration');
const require = createRequire(path.join(integ, 'package.json'));
const WebSocket = require('ws');
const { startServer, sleep } = await import(path.join(integ, 'lib', 'server.mjs'));

const TPS = Number(process.argv[2] || 1000);
const SECONDS = Number(process.argv[3] || 20);

const srv = await startServer();
const pending = new Map(); // end_us -> ack time (ms, monotonic)
const liveLat = [];
const apiLat = [];

const ws = new WebSocket(`ws://127.0.0.1:${srv.httpPort}/api/v1/live?token=${srv.token}`);
await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
ws.on('message', (data) => {
  const now = performance.now();
  const f = JSON.parse(String(data));
  if (!f.points) return;
  for (const end of f.points.end_ms) {
    const key = Math.round(end * 1000);
    const ack = pending.get(key);
    if (ack !== undefined) {
      liveLat.push(now - ack);
      pending.delete(key);
    }
  }
});

let seq = 0;
const baseUs = Date.now() * 1000;
async function sendBatch(n) {
  const spans = [];
  const traces = [];
  for (let i = 0; i < n; i++) {
    const endUs = Date.now() * 1000 + (seq++ % 1000); // unique within a millisecond
    const traceId = randomBytes(16).toString('hex');
    traces.push({ traceId, endUs });
    spans.push({
      traceId, spanId: randomBytes(8).toString('hex'), name: 'GET /bench', kind: 2,
      startTimeUnixNano: String(BigInt(endUs - 20000) * 1000n),
      endTimeUnixNano: String(BigInt(endUs) * 1000n),
      attributes: [{ key: 'http.request.method', value: { stringValue: 'GET' } },
                   { key: 'http.route', value: { stringValue: '/bench' } }],
    });
  }
  const body = JSON.stringify({ resourceSpans: [{ resource: { attributes: [
    { key: 'service.name', value: { stringValue: 'bench' } }] },
    scopeSpans: [{ spans }] }] });
  const r = await fetch(srv.otlpHttpUrl, { method: 'POST', body,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${srv.ingestKey}` } });
  const ack = performance.now();
  if (r.status !== 200) throw new Error(`export answered ${r.status}`);
  for (const t of traces) pending.set(t.endUs, ack);
  // Sample every 20th transaction through the query API.
  traces.filter((_, i) => (seq + i) % 20 === 0).forEach(async (t) => {
    for (;;) {
      const q = await srv.apiRaw(`/api/v1/traces/${t.traceId}`);
      if (q.status === 200 && q.json.transactions.length > 0) { apiLat.push(performance.now() - ack); return; }
      if (performance.now() - ack > 5000) { apiLat.push(Infinity); return; }
      await sleep(5);
    }
  });
}

const perReq = Math.max(1, Math.round(TPS / 10));
const t0 = performance.now();
for (let tick = 0; tick < SECONDS * 10; tick++) {
  await sendBatch(perReq);
  const next = t0 + (tick + 1) * 100;
  await sleep(Math.max(0, next - performance.now()));
}
await sleep(2500);
ws.close();
await srv.stop();

const q = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const fmt = (x) => (x === Infinity ? 'lost' : x.toFixed(1) + ' ms');
console.log(`sent=${seq} tps=${TPS} seconds=${SECONDS}`);
console.log(`live: seen=${liveLat.length} missing=${pending.size} p50=${fmt(q(liveLat, 0.5))} p99=${fmt(q(liveLat, 0.99))} max=${fmt(Math.max(...liveLat))}`);
console.log(`api:  sampled=${apiLat.length} p50=${fmt(q(apiLat, 0.5))} p99=${fmt(q(apiLat, 0.99))} max=${fmt(Math.max(...apiLat))}`);
process.exit(pending.size === 0 && q(liveLat, 0.99) <= 1000 && q(apiLat, 0.99) <= 1000 ? 0 : 1);

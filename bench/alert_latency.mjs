// alert_latency: breach → notification handed to the receiver (issue 12
// budget: p99 <= 10 s).
//
//   (cd tests/integration && npm ci) && node bench/alert_latency.mjs [trials] [spacing_ms]
//
// Starts build/loupe (or $LOUPE_BIN) on free loopback ports with a webhook
// receiver on loopback (allowed with --notify-allow-hosts), one webhook
// channel, and one error-rate rule per trial service (`svc-N`, critical at
// 10 %, 60 s window). Trial N sends, at a random phase against the 5-second
// evaluation tick, 50 transactions of svc-N of which 25 failed, ending in the
// second before the export, as one OTLP/HTTP request; the breach time is
// when the server acknowledged it (the data is there). Latency = webhook
// request received − breach. Trials start `spacing_ms` (default 2,300 ms,
// not a multiple of the tick) apart, so they fall at every phase of it.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const integ = path.join(here, '..', 'tests', 'integration');
const { startServer, sleep } = await import(path.join(integ, 'lib', 'server.mjs'));
const { KIND, STATUS, span, request, sendRequest } = await import(path.join(integ, 'lib', 'otlp_raw.mjs'));

const TRIALS = Number(process.argv[2] || 40);
const SPACING = Number(process.argv[3] || 2300);

const received = new Map();  // service -> receive time (ms)
const hook = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    const t = Date.now();
    try {
      const b = JSON.parse(body);
      for (const a of b.alerts || []) {
        if (a.status === 'firing' && !received.has(a.labels.service)) received.set(a.labels.service, t);
      }
    } catch { /* not ours */ }
    res.writeHead(200);
    res.end();
  });
});
await new Promise((r) => hook.listen(0, '127.0.0.1', r));
const hookUrl = `http://127.0.0.1:${hook.address().port}/hook`;

const srv = await startServer({ args: ['--notify-allow-hosts', '127.0.0.1'] });
const post = async (p, body) => {
  const r = await srv.apiRaw(p, {}, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  if (r.status !== 201) throw new Error(`${p}: ${r.status} ${r.text}`);
  return r.json;
};
const ch = await post('/api/v1/alert-channels', { name: 'hook', type: 'webhook', url: hookUrl });
for (let i = 0; i < TRIALS; i++) {
  await post('/api/v1/alert-rules', { name: `svc-${i} errors`, service: `svc-${i}`, signal: 'error_rate',
    window_s: 60, critical: 10, channels: [ch.id] });
}

const breach = new Map();
for (let i = 0; i < TRIALS; i++) {
  const service = `svc-${i}`;
  const now = Date.now();
  const spans = [];
  for (let k = 0; k < 50; k++) {
    const end = now - 900 + k * 18;
    spans.push(span({ name: 'POST /pay', kind: KIND.SERVER, startMs: end - 20, endMs: end,
      status: k < 25 ? STATUS.ERROR : STATUS.UNSET, traceId: randomBytes(16).toString('hex'),
      attrs: { 'http.request.method': 'POST', 'http.route': '/pay', 'http.response.status_code': k < 25 ? 500 : 200 } }));
  }
  const r = await sendRequest(srv, request({ resource: { 'service.name': service, 'service.instance.id': `${service}-1` }, spans }), { format: 'proto' });
  if (r.status !== 200) throw new Error(`export: ${r.status} ${r.text}`);
  breach.set(service, Date.now());
  await sleep(SPACING);
}
const deadline = Date.now() + 30_000;
while (received.size < TRIALS && Date.now() < deadline) await sleep(100);

const lat = [...breach].map(([s, t]) => (received.has(s) ? received.get(s) - t : Infinity)).sort((a, b) => a - b);
const q = (p) => lat[Math.min(lat.length - 1, Math.ceil(p * lat.length) - 1)];
const load = (await import('node:os')).loadavg()[0].toFixed(1);
console.log(`alert_latency: ${TRIALS} breaches, spaced ${SPACING} ms; received ${received.size}; ` +
  `breach → webhook p50 ${q(0.5)} ms, p90 ${q(0.9)} ms, p99 ${q(0.99)} ms, max ${lat[lat.length - 1]} ms (load ${load})`);
await srv.stop();
hook.close();
process.exit(received.size === TRIALS && q(0.99) <= 10_000 ? 0 : 1);

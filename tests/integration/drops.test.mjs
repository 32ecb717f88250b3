// Observability of what is dropped (issue 10 §3): every drop, cut and refusal
// on the ingest path is a labelled counter in /metrics, and the first refusal
// of a kind is logged at WARN once, not per request.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';

import { startServer, withServerLog, parsePrometheus } from './lib/server.mjs';
import {
  KIND, span, request, toProto, postRaw, sendRequest, decodeExportResponse, randomTraceId, msToNs,
} from './lib/otlp_raw.mjs';

let srv;
before(async () => { srv = await startServer({ args: ['--max-connections-per-client', '3'] }); });
after(async () => { await srv?.stop(); });
const it = (name, fn) => test(name, { timeout: 60_000 }, (t) => withServerLog(srv, () => fn(t)));

const RESOURCE = { 'service.name': 'drops', 'service.instance.id': 'dr-1' };

async function metric(name, labels = {}) {
  const m = parsePrometheus((await srv.metricsText()).text);
  const s = m.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s ? s.value : 0;
}

function rootSpan(o = {}) {
  const start = Date.now() - 1000;
  return span({
    name: 'GET /d', kind: KIND.SERVER, startMs: start, endMs: start + 5,
    attrs: { 'http.request.method': 'GET', 'http.route': '/d', 'url.path': '/d' }, ...o,
  });
}

// ---------------------------------------------------------------------------
it('spans with invalid ids move loupe_assembler_spans_total{result="rejected_invalid_id"} and are reported', async () => {
  const before = await metric('loupe_assembler_spans_total', { result: 'rejected_invalid_id' });
  // A 4-byte trace id and a 3-byte span id: the decoder skips both spans.
  const bad1 = rootSpan({ traceId: 'abcdef01' });
  const bad2 = rootSpan({ spanId: 'abcdef' });
  const good = rootSpan();
  const r = await sendRequest(srv, request({ resource: RESOURCE, spans: [bad1, good, bad2] }), { format: 'proto' });
  assert.equal(r.status, 200, r.text);
  const resp = decodeExportResponse(r.body);
  assert.equal(resp.rejectedSpans, 2, `partial success: ${JSON.stringify(resp)}`);
  assert.match(resp.errorMessage, /2 invalid trace or span id/);
  assert.equal(await metric('loupe_assembler_spans_total', { result: 'rejected_invalid_id' }), before + 2);
  const warned = srv.stderr.split('\n').filter((l) => / WARN .*spans rejected.*invalid trace or span id/.test(l));
  assert.equal(warned.length, 1, `WARN lines: ${warned.join('\n')}`);
});

it('attributes and events dropped and values cut by the decoder are counted by kind', async () => {
  const cut = (what) => metric('loupe_ingest_decoder_cut_total', { what });
  const before = { attr: await cut('dropped_attribute'), event: await cut('dropped_event'), value: await cut('truncated_value') };
  const attrs = [['http.request.method', 'GET'], ['http.route', '/d'], ['big', 'x'.repeat(20_000)]];
  for (let i = 0; i < 137; i++) attrs.push([`a.${i}`, i]); // 140 attributes: 12 over the 128 kept
  const start = Date.now() - 1000;
  const events = [];
  for (let i = 0; i < 130; i++) events.push({ timeNs: msToNs(start + 1), name: `e${i}` }); // 2 over 128
  const s = rootSpan({ traceId: randomTraceId(), attrs, events });
  const r = await postRaw(srv.otlpHttpUrl, toProto(request({ resource: RESOURCE, spans: [s] })), { key: srv.ingestKey });
  assert.equal(r.status, 200, r.text);
  assert.equal(await cut('dropped_attribute'), before.attr + 12);
  assert.equal(await cut('dropped_event'), before.event + 2);
  assert.equal(await cut('truncated_value'), before.value + 1);
});

it('a refusal is counted per request and logged at WARN once, not per request', async () => {
  const count = () => metric('loupe_ingest_requests_total', { transport: 'http', result: 'unsupported_signal' });
  const before = await count();
  for (let i = 0; i < 5; i++) {
    const r = await postRaw(`${srv.otlpHttpBase}/v1/logs`, Buffer.from('x'), { key: srv.ingestKey });
    assert.equal(r.status, 404);
  }
  assert.equal(await count(), before + 5);
  const lines = srv.stderr.split('\n').filter((l) => / WARN .*refused \(unsupported_signal/.test(l));
  assert.equal(lines.length, 1, `WARN lines for unsupported_signal:\n${lines.join('\n')}`);
});

it('connections past --max-connections-per-client get 429, counted; the others are served', async () => {
  const before = await metric('loupe_http_refused_total', { server: 'otlp_http', reason: 'too_many_client_connections' });
  const open = [];
  try {
    for (let i = 0; i < 3; i++) {
      const sock = net.connect(srv.otlpHttpPort, '127.0.0.1');
      await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
      open.push(sock);
    }
    const answer = await new Promise((resolve) => {
      const sock = net.connect(srv.otlpHttpPort, '127.0.0.1');
      let data = '';
      sock.on('data', (d) => { data += d; });
      sock.on('error', () => {});
      sock.on('close', () => resolve(data));
    });
    assert.match(answer, /^HTTP\/1\.1 429/, answer);
    assert.equal(await metric('loupe_http_refused_total', { server: 'otlp_http', reason: 'too_many_client_connections' }), before + 1);
  } finally {
    for (const s of open) s.destroy();
  }
  // Once they are closed, this address is served again.
  let status = 0;
  for (let i = 0; i < 50 && status !== 200; i++) {
    const r = await sendRequest(srv, request({ resource: RESOURCE, spans: [rootSpan()] }), { format: 'proto' }).catch(() => ({ status: 0 }));
    status = r.status;
    if (status !== 200) await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(status, 200);
});

// Hostile and malformed input to the OTLP/HTTP endpoint and the API. Every
// test checks the status the contract asks for AND that the server still
// accepts a valid export and answers the API afterwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import WebSocket from 'ws';

import { startServer, poll, withServerLog, parsePrometheus } from './lib/server.mjs';
import {
  KIND, STATUS, span, request, toJson, toProto, postRaw, sendRequest, decodeExportResponse, jsonRejectedSpans,
  randomTraceId, randomSpanId,
} from './lib/otlp_raw.mjs';
import { HEX16, assertApiError } from './lib/expect.mjs';
import { makeClient, makeExporter, emitTransaction, nowMs } from './lib/otel.mjs';

const gzip = promisify(zlib.gzip);
const MiB = 1024 * 1024;
const POLL = { timeoutMs: 5000, intervalMs: 100 };
const T0 = Date.now() - 120_000;
const range = () => ({ from: Math.floor(T0 - 600_000), to: Math.ceil(Date.now() + 60_000) });

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv?.stop(); });
// Each test has a deadline so a hung request cannot stall the suite.
const it = (name, fn) => test(name, { timeout: 60_000 }, (t) => withServerLog(srv, () => fn(t)));

const RESOURCE = { 'service.name': 'bad-input', 'service.instance.id': 'bad-1', 'host.name': 'bad-host' };
let seq = 0;

// A valid one-span transaction request; returns {req, traceId}.
function validRequest({ service = 'bad-input', startMs = Date.now() - 1000, elapsedMs = 12.5, attrs = {} } = {}) {
  const traceId = randomTraceId();
  const path = `/ok/${seq++}`;
  const s = span({
    traceId, name: 'GET /ok/{n}', kind: KIND.SERVER, startMs, endMs: startMs + elapsedMs,
    attrs: { 'http.request.method': 'GET', 'http.route': '/ok/{n}', 'url.path': path, 'http.response.status_code': 200, ...attrs },
  });
  return { req: request({ resource: { ...RESOURCE, 'service.name': service }, spans: [s] }), traceId, spanId: s.spanId };
}

async function findTrace(service, traceId, timeoutMs = 5000) {
  const body = await poll(() => srv.api('/api/v1/transactions', { service, ...range(), limit: 10000 }),
    (b) => b.transactions?.some((r) => r.trace_id === traceId), { ...POLL, timeoutMs });
  return body.transactions.filter((r) => r.trace_id === traceId);
}

// The server still takes a valid export (protobuf and JSON) and serves it.
async function assertStillServing(what) {
  for (const format of ['proto', 'json']) {
    const { req, traceId } = validRequest();
    const r = await sendRequest(srv, req, { format });
    assert.equal(r.status, 200, `after ${what}: a valid ${format} export got ${r.status}: ${r.text.slice(0, 300)}`);
    const rows = await findTrace('bad-input', traceId);
    assert.equal(rows.length, 1, `after ${what}: the valid ${format} export is not served by the API`);
  }
  const h = await fetch(`${srv.baseUrl}/healthz`);
  assert.equal(h.status, 200, `after ${what}: /healthz ${h.status}`);
}

const safeJson = (t) => { try { return JSON.parse(t); } catch { return undefined; } };
const post = (body, o = {}) => postRaw(srv.otlpHttpUrl, body, { key: srv.ingestKey, ...o });

// ---------------------------------------------------------------------------
it('a valid export (protobuf, JSON, gzip, x-loupe-key header) is accepted — baseline', async () => {
  await assertStillServing('nothing');
  const { req, traceId } = validRequest();
  const r = await post(await gzip(toProto(req)), { encoding: 'gzip' });
  assert.equal(r.status, 200, `gzip protobuf: ${r.status} ${r.text.slice(0, 300)}`);
  assert.equal((await findTrace('bad-input', traceId)).length, 1);
  const j = validRequest();
  const r2 = await post(await gzip(Buffer.from(toJson(j.req))), { encoding: 'gzip', contentType: 'application/json' });
  assert.equal(r2.status, 200, `gzip JSON: ${r2.status} ${r2.text.slice(0, 300)}`);
  assert.equal((await findTrace('bad-input', j.traceId)).length, 1);
  const k = validRequest();
  const r3 = await postRaw(srv.otlpHttpUrl, toProto(k.req), { key: null, headers: { 'x-loupe-key': srv.ingestKey } });
  assert.equal(r3.status, 200, `x-loupe-key: ${r3.status} ${r3.text.slice(0, 300)}`);
  assert.equal((await findTrace('bad-input', k.traceId)).length, 1);
});

it('malformed protobuf → 400', async () => {
  const valid = toProto(validRequest().req);
  const bodies = {
    'invalid wire type 7': Buffer.from([0x0f, 0x01]),
    'length past the end': Buffer.from([0x0a, 0x7f, 0x0a, 0x02]),
    'truncated valid message': valid.subarray(0, Math.floor(valid.length / 2)),
    'overlong varint': Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
    'random bytes': Buffer.from('9f3a0b77e1c2d4ff00aa55', 'hex'),
  };
  const problems = [];
  for (const [name, body] of Object.entries(bodies)) {
    const r = await post(body);
    if (r.status !== 400) problems.push(`${name}: ${r.status} ${r.text.slice(0, 200)}`);
  }
  assert.deepEqual(problems, [], 'each malformed protobuf body must get 400');
  await assertStillServing('malformed protobuf');
});

it('malformed JSON → 400', async () => {
  const bodies = {
    truncated: '{"resourceSpans": [{"resource": {"attributes": [',
    'not JSON': 'hello',
    'wrong types': '{"resourceSpans": 5}',
  };
  const problems = [];
  for (const [name, body] of Object.entries(bodies)) {
    const r = await post(Buffer.from(body), { contentType: 'application/json' });
    if (r.status !== 400) problems.push(`${name}: ${r.status} ${r.text.slice(0, 200)}`);
  }
  // Ids that are not hex: either the whole request is bad (400) or the span is
  // rejected through partial_success.
  const now = Date.now();
  const badIds = JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'xyz', spanId: 'abc', name: 'x', kind: 2, startTimeUnixNano: String(now * 1e6), endTimeUnixNano: String((now + 1) * 1e6) }] }] }] });
  const r = await post(Buffer.from(badIds), { contentType: 'application/json' });
  if (!(r.status === 400 || (r.status === 200 && jsonRejectedSpans(safeJson(r.text)) === 1))) {
    problems.push(`non-hex ids: ${r.status} ${r.text.slice(0, 200)} (want 400, or 200 with rejected_spans 1)`);
  }
  assert.deepEqual(problems, [], 'each malformed JSON body must get 400');
  await assertStillServing('malformed JSON');
});

it('truncated gzip → 400', async () => {
  const gz = await gzip(toProto(validRequest().req));
  const r = await post(gz.subarray(0, Math.floor(gz.length / 2)), { encoding: 'gzip' });
  assert.equal(r.status, 400, `truncated gzip: ${r.status} ${r.text.slice(0, 200)}`);
  const r2 = await post(Buffer.from('definitely not gzip'), { encoding: 'gzip' });
  assert.equal(r2.status, 400, `non-gzip body with Content-Encoding: gzip: ${r2.status}`);
  await assertStillServing('truncated gzip');
});

it('gzip bomb (200 MiB of zeros) → 413 quickly, memory stays bounded', async () => {
  // Build it chunk by chunk so the test itself stays small.
  const bomb = await new Promise((resolve, reject) => {
    const z = zlib.createGzip({ level: 9 });
    const out = [];
    z.on('data', (c) => out.push(c));
    z.on('end', () => resolve(Buffer.concat(out)));
    z.on('error', reject);
    const chunk = Buffer.alloc(MiB);
    let n = 0;
    const write = () => {
      while (n < 200) {
        n++;
        if (!z.write(chunk)) { z.once('drain', write); return; }
      }
      z.end();
    };
    write();
  });
  assert.ok(bomb.length < 1 * MiB, `bomb is ${bomb.length} bytes`);
  const before = srv.memory();
  const r = await post(bomb, { encoding: 'gzip' });
  const mem = srv.memory();
  assert.equal(r.status, 413, `gzip bomb: ${r.status} ${r.text.slice(0, 200)}`);
  assert.ok(r.ms < 3000, `413 took ${r.ms} ms`);
  assert.ok(mem.hwm < 300 * MiB, `peak RSS ${Math.round(mem.hwm / MiB)} MiB (before: RSS ${Math.round(before.rss / MiB)} MiB), limit 300 MiB`);
  assert.ok(mem.rss < 300 * MiB, `RSS ${Math.round(mem.rss / MiB)} MiB`);
  await assertStillServing('gzip bomb');
});

it('raw body over 20 MiB → 413', async () => {
  // Valid JSON, 21 MiB: only the size is wrong.
  const pad = 'a'.repeat(21 * MiB);
  const body = Buffer.from(`{"resourceSpans":[{"resource":{"attributes":[{"key":"pad","value":{"stringValue":"${pad}"}}]},"scopeSpans":[]}]}`);
  const r = await post(body, { contentType: 'application/json', timeoutMs: 30000 });
  assert.equal(r.status, 413, `21 MiB body: ${r.status} ${r.text.slice(0, 200)}`);
  await assertStillServing('a 21 MiB body');
});

it('missing ingest key → 401, wrong key → 401', async () => {
  const body = toProto(validRequest().req);
  const r1 = await postRaw(srv.otlpHttpUrl, body, { key: null });
  assert.equal(r1.status, 401, `no key: ${r1.status} ${r1.text.slice(0, 200)}`);
  const r2 = await postRaw(srv.otlpHttpUrl, body, { key: 'lk_wrong' });
  assert.equal(r2.status, 401, `wrong key: ${r2.status}`);
  const r3 = await postRaw(srv.otlpHttpUrl, body, { key: srv.token }); // an API token is not an ingest key
  assert.equal(r3.status, 401, `API token used as ingest key: ${r3.status}`);
  const r4 = await postRaw(srv.otlpHttpUrl, body, { key: null, headers: { authorization: srv.ingestKey } }); // no "Bearer"
  assert.ok(r4.status === 401 || r4.status === 200, `Authorization without Bearer: ${r4.status}`);
  await assertStillServing('bad keys');
});

it('gRPC export with a missing or wrong key → UNAUTHENTICATED', async () => {
  const cap = makeClient(srv, { protocol: 'capture', service: 'grpc-auth', instance: 'ga-1' });
  emitTransaction(cap.tracer, { start_ms: nowMs() - 100, elapsed_ms: 5, method: 'GET', route: '/g', path: '/g', status: 200 });
  const spans = cap.captured();
  for (const key of ['', 'lk_wrong']) {
    const ex = makeExporter('grpc', srv, { key });
    const result = await new Promise((resolve) => ex.export(spans, resolve));
    await ex.shutdown();
    assert.notEqual(result.code, 0, `gRPC export with key ${JSON.stringify(key)} succeeded`);
    const e = result.error || {};
    assert.ok(e.code === 16 || /UNAUTHENTICATED/i.test(String(e.message)),
      `gRPC with key ${JSON.stringify(key)}: want status 16 UNAUTHENTICATED, got code ${e.code}: ${e.message}`);
  }
  await cap.shutdown();
  const rows = (await srv.api('/api/v1/transactions', { service: 'grpc-auth', ...range() })).transactions;
  assert.equal(rows.length, 0, 'spans sent with a bad key were stored');
  await assertStillServing('gRPC with bad keys');
});

it('wrong content type → 415', async () => {
  const r = await post(toProto(validRequest().req), { contentType: 'text/plain' });
  assert.equal(r.status, 415, `text/plain: ${r.status} ${r.text.slice(0, 200)}`);
  const r2 = await post(Buffer.from('<x/>'), { contentType: 'application/xml' });
  assert.equal(r2.status, 415, `application/xml: ${r2.status}`);
  await assertStillServing('wrong content type');
});

it('1,000 attributes and a 1 MB value → accepted, truncated, counted in /metrics', async () => {
  // The 1 MB value comes first so it is among the attributes a step keeps.
  const many = [['big.value', 'x'.repeat(1_000_000)]];
  for (let i = 0; i < 1000; i++) many.push([`attr.k${String(i).padStart(4, '0')}`, `value-${i}`]);
  const traceId = randomTraceId();
  const rootId = randomSpanId();
  const start = Date.now() - 2000;
  const root = span({
    traceId, spanId: rootId, name: 'GET /big', kind: KIND.SERVER, startMs: start, endMs: start + 40,
    attrs: [['http.request.method', 'GET'], ['http.route', '/big'], ['url.path', '/big'], ['http.response.status_code', 200], ...many],
  });
  const child = span({
    traceId, parentSpanId: rootId, name: 'work', kind: KIND.INTERNAL, startMs: start + 5, endMs: start + 25, attrs: many,
  });
  const req = request({ resource: { ...RESOURCE, 'service.name': 'big-attrs' }, spans: [root, child] });
  const r = await sendRequest(srv, req, { format: 'proto' });
  assert.equal(r.status, 200, `big attributes: ${r.status} ${r.text.slice(0, 300)}`);
  const rows = await findTrace('big-attrs', traceId);
  assert.equal(rows.length, 1, 'the transaction is stored');
  assert.equal(rows[0].endpoint, 'GET /big');
  const d = await srv.api(`/api/v1/transactions/${rows[0].id}`);
  assert.equal(d.steps.length, 1, `steps: ${JSON.stringify(d.steps).slice(0, 500)}`);
  const attrs = d.steps[0].attributes || {};
  const n = Object.keys(attrs).length;
  const longest = Math.max(0, ...Object.values(attrs).map((v) => String(v).length));
  assert.ok(n < 1000, `step has ${n} attributes (want them capped)`);
  assert.ok('big.value' in attrs, `the first attribute (big.value) was not kept: ${Object.keys(attrs).slice(0, 20)}`);
  assert.ok(attrs['big.value'].length > 0 && attrs['big.value'].length < 1_000_000 && longest < 1_000_000,
    `big.value kept with ${attrs['big.value'].length} chars, longest ${longest} (want it truncated)`);
  const m = parsePrometheus((await srv.metricsText()).text);
  const cut = m.samples.filter((s) => s.name.startsWith('loupe_') && /truncat|dropped_attr|attributes_dropped|dropped/.test(s.name) && s.value > 0);
  assert.ok(cut.length > 0, `no loupe_*truncat*/dropped* metric > 0 in /metrics; candidates: ${m.samples.filter((s) => /truncat|drop/.test(s.name)).map((s) => `${s.name}=${s.value}`).join(', ') || 'none'}`);
  await assertStillServing('huge attributes');
});

it('spans 30 days in the past and 1 day in the future → 200 with partial_success.rejected_spans = 2', async () => {
  const day = 86_400_000;
  for (const format of ['proto', 'json']) {
    const service = `time-${format}`;
    const now = Date.now();
    const mk = (startMs, route) => span({
      name: `GET ${route}`, kind: KIND.SERVER, startMs, endMs: startMs + 10, status: STATUS.UNSET,
      attrs: { 'http.request.method': 'GET', 'http.route': route, 'url.path': route, 'http.response.status_code': 200 },
    });
    const old = mk(now - 30 * day, '/old');
    const future = mk(now + day, '/future');
    const ok = mk(now - 1000, '/now');
    const req = request({ resource: { ...RESOURCE, 'service.name': service }, spans: [old, ok, future] });
    const r = await sendRequest(srv, req, { format });
    assert.equal(r.status, 200, `${format}: ${r.status} ${r.text.slice(0, 300)}`);
    let rejected;
    if (format === 'proto') {
      assert.match(String(r.headers['content-type']), /application\/x-protobuf/, `${format} response content-type`);
      const resp = decodeExportResponse(r.body);
      assert.ok(resp.hasPartialSuccess, `no partial_success in the protobuf response (${r.body.toString('hex')})`);
      rejected = resp.rejectedSpans;
    } else {
      assert.match(String(r.headers['content-type']), /application\/json/, `${format} response content-type`);
      rejected = jsonRejectedSpans(JSON.parse(r.text));
    }
    assert.equal(rejected, 2, `${format}: rejected_spans ${rejected}; response ${r.text.slice(0, 300)}`);
    const rows = await findTrace(service, ok.traceId);
    assert.equal(rows.length, 1);
    // Ranges are capped at 31 days: look at the past and the future separately.
    const past = await srv.api('/api/v1/transactions', { service, from: now - 30 * day - 3_600_000, to: now + 3_600_000, limit: 10000 });
    assert.deepEqual(past.transactions.map((t) => t.endpoint), ['GET /now'], 'only the in-range span is stored (past 30 days)');
    const ahead = await srv.api('/api/v1/transactions', { service, from: now - 3_600_000, to: now + 2 * day, limit: 10000 });
    assert.deepEqual(ahead.transactions.map((t) => t.endpoint), ['GET /now'], 'only the in-range span is stored (next 2 days)');
  }
  await assertStillServing('out-of-range timestamps');
});

it('a span started at 1 ns (a 56-year transaction) and one ending before its start → partial_success, stats unskewed', async () => {
  for (const format of ['proto', 'json']) {
    const service = `start-${format}`;
    const now = Date.now();
    const mk = (o) => span({
      name: 'GET /s', kind: KIND.SERVER, status: STATUS.UNSET,
      attrs: { 'http.request.method': 'GET', 'http.route': '/s', 'url.path': '/s', 'http.response.status_code': 200 }, ...o,
    });
    const epoch = mk({ startNs: 1n, endNs: BigInt(now - 1000) * 1_000_000n });
    const backwards = mk({ startMs: now - 500, endMs: now - 600 });
    const ok = mk({ startMs: now - 1000, endMs: now - 990 });
    const req = request({ resource: { ...RESOURCE, 'service.name': service }, spans: [epoch, backwards, ok] });
    const r = await sendRequest(srv, req, { format });
    assert.equal(r.status, 200, `${format}: ${r.status} ${r.text.slice(0, 300)}`);
    const rejected = format === 'proto' ? decodeExportResponse(r.body).rejectedSpans : jsonRejectedSpans(JSON.parse(r.text));
    assert.equal(rejected, 2, `${format}: rejected_spans ${rejected}; response ${r.text.slice(0, 300)}`);
    await findTrace(service, ok.traceId);
    const ep = await srv.api('/api/v1/endpoints', { service, from: now - 3_600_000, to: now + 60_000 });
    assert.equal(ep.endpoints.length, 1);
    assert.equal(ep.endpoints[0].count, 1);
    assert.ok(ep.endpoints[0].max_ms < 100, `max_ms ${ep.endpoints[0].max_ms}: a rejected span skewed the statistics`);
  }
  const m = parsePrometheus((await srv.metricsText()).text);
  const spans = (result) => m.samples.find((x) => x.name === 'loupe_assembler_spans_total' && x.labels.result === result)?.value;
  assert.equal(spans('rejected_start_past'), 2);
  assert.equal(spans('rejected_end_before_start'), 2);
  await assertStillServing('bad start times');
});

it('20,000 distinct URL paths without http.route → endpoints capped at 2,000 per service + (overflow)', async () => {
  // Word-like, digit-free, non-hex path segments so no normalization can fold them.
  const cons = 'ghjklmnprstvwz';
  const vow = 'aiou';
  let x = 12345;
  const rnd = (n) => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % n; }; // xorshift32
  const word = (syll) => { let w = ''; for (let i = 0; i < syll; i++) w += cons[rnd(cons.length)] + vow[rnd(vow.length)]; return w; };
  const paths = new Set();
  while (paths.size < 20_000) paths.add(`/catalog/${word(3)}/${word(3)}`);
  const list = [...paths];
  const service = 'many-paths';
  const start = Date.now() - 5000;
  for (let b = 0; b < list.length; b += 5000) {
    const spans = list.slice(b, b + 5000).map((p, i) => span({
      name: 'GET', kind: KIND.SERVER, startMs: start + (b + i) * 0.1, endMs: start + (b + i) * 0.1 + 1,
      attrs: { 'http.request.method': 'GET', 'url.path': p, 'http.response.status_code': 200 },
    }));
    const r = await sendRequest(srv, request({ resource: { ...RESOURCE, 'service.name': service }, spans }), { format: 'proto' });
    assert.equal(r.status, 200, `batch ${b / 5000}: ${r.status} ${r.text.slice(0, 300)}`);
  }
  const body = await poll(() => srv.api('/api/v1/endpoints', { service, ...range() }),
    (e) => e.endpoints?.reduce((a, x) => a + x.count, 0) >= 20_000, { timeoutMs: 15000, intervalMs: 250 });
  const eps = body.endpoints.filter((e) => e.service === service);
  const total = eps.reduce((a, e) => a + e.count, 0);
  const overflow = eps.filter((e) => /\(overflow\)$/.test(e.endpoint));
  assert.equal(total, 20_000, 'every transaction is counted under some endpoint');
  assert.equal(overflow.length, 1, `want one "(overflow)" endpoint, got ${JSON.stringify(overflow)}; ${eps.length} endpoints`);
  assert.ok(eps.length <= 2001, `${eps.length} endpoints listed (cap 2,000 + overflow)`);
  assert.ok(eps.length >= 1000, `only ${eps.length} endpoints: were the paths folded? e.g. ${eps.slice(0, 5).map((e) => e.endpoint).join(', ')}`);
  const named = eps.filter((e) => e !== overflow[0]);
  const folded = named.filter((e) => e.count !== 1);
  assert.deepEqual(folded.map((e) => `${e.endpoint}=${e.count}`), [], 'every path is distinct: each named endpoint has count 1');
  assert.equal(overflow[0].count, 20_000 - named.length, 'the overflow bucket holds every transaction past the cap');
  const m = parsePrometheus((await srv.metricsText()).text);
  const ov = m.samples.filter((s) => s.name.startsWith('loupe_') && /overflow/.test(s.name) && s.value > 0);
  assert.ok(ov.length > 0, `no loupe_*overflow* metric > 0; candidates: ${m.samples.filter((s) => /overflow|cardinal/.test(s.name)).map((s) => `${s.name}${JSON.stringify(s.labels)}=${s.value}`).join(', ') || 'none'}`);
  await assertStillServing('20,000 endpoints');
});

it('hostile strings come back verbatim (JSON-escaped); invalid UTF-8 still gives valid JSON', async () => {
  const user = 'ユーザー "q" \\ \u0001\u001f <script>alert(1)</script> 🚀';
  const sql = "SELECT '\u2028', \"x\"\nFROM t\tWHERE a = '</script>'";
  const traceId = randomTraceId();
  const rootId = randomSpanId();
  const start = Date.now() - 3000;
  const spans = [
    span({ traceId, spanId: rootId, name: 'GET /h', kind: KIND.SERVER, startMs: start, endMs: start + 20,
      attrs: { 'http.request.method': 'GET', 'http.route': '/h/"{x}"\\', 'url.path': '/h/1', 'enduser.id': user, 'http.response.status_code': 200 } }),
    span({ traceId, parentSpanId: rootId, name: 'q', kind: KIND.CLIENT, startMs: start + 1, endMs: start + 2,
      attrs: { 'db.system': 'postgresql', 'db.query.text': sql } }),
  ];
  const r = await sendRequest(srv, request({ resource: { ...RESOURCE, 'service.name': 'hostile' }, spans }), { format: 'proto' });
  assert.equal(r.status, 200, r.text);
  const rows = await findTrace('hostile', traceId);
  assert.equal(rows.length, 1);
  assert.equal(rows[0].user, user);
  assert.equal(rows[0].endpoint, 'GET /h/"{x}"\\');
  const d = await srv.api(`/api/v1/transactions/${rows[0].id}`);
  assert.equal(d.steps[0].sql, sql);

  // Invalid UTF-8 in a protobuf string: whatever the server keeps, the API must stay valid JSON.
  const bad = { ...request({ resource: { ...RESOURCE, 'service.name': 'hostile-utf8' }, spans: [span({ name: 'GET /u', kind: KIND.SERVER, startMs: start, endMs: start + 5, attrs: { 'http.request.method': 'GET', 'http.route': '/u', 'enduser.id': 'PLACEHOLDER' } })] }) };
  const body = toProto(bad);
  const at = body.indexOf(Buffer.from('PLACEHOLDER'));
  Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82, 0x41, 0x80, 0xed, 0xa0, 0x80]).copy(body, at); // same length
  const r2 = await post(body);
  assert.ok(r2.status === 200 || r2.status === 400, `invalid UTF-8: ${r2.status} ${r2.text.slice(0, 200)}`);
  const l = await srv.apiRaw('/api/v1/transactions', { service: 'hostile-utf8', ...range() });
  assert.equal(l.status, 200);
  assert.ok(l.json !== undefined, `the API returned invalid JSON: ${JSON.stringify(l.text.slice(0, 300))}`);
  const x = await srv.apiRaw('/api/v1/xview', { ...range() });
  assert.ok(x.status === 200 && x.json !== undefined, 'xview is not valid JSON');
  await assertStillServing('hostile strings');
});

it('bad API parameters → 400 invalid_argument JSON errors', async () => {
  const cases = [
    ['/api/v1/transactions', { from: 2000, to: 1000 }],
    ['/api/v1/transactions', { from: 'yesterday' }],
    ['/api/v1/transactions', { limit: 'abc' }],
    ['/api/v1/transactions', { limit: -1 }],
    ['/api/v1/transactions', { min_ms: 'slow' }],
    ['/api/v1/transactions', { sort: 'sideways' }],
    ['/api/v1/series', { metric: 'bogus' }],
    ['/api/v1/series', { metric: 'tps', step: 0 }],
    ['/api/v1/series', { metric: 'tps', group_by: 'colour' }],
    ['/api/v1/xview', { max_points: 'many' }],
    ['/api/v1/xview', { x_bins: 0 }],
  ];
  const problems = [];
  for (const [p, params] of cases) {
    const r = await srv.apiRaw(p, params);
    try { assertApiError(r, 400, 'invalid_argument', `${p} ${JSON.stringify(params)}`); } catch (e) { problems.push(e.message.split('\n')[0]); }
  }
  assert.deepEqual(problems, []);
  const nf = await srv.apiRaw('/api/v1/transactions/0123456789abcdef');
  assertApiError(nf, 404, 'not_found', 'unknown transaction id');
  const nt = await srv.apiRaw(`/api/v1/traces/${'ab'.repeat(16)}`);
  assert.ok(nt.status === 404 || (nt.status === 200 && nt.json?.transactions?.length === 0), `unknown trace: ${nt.status} ${nt.text.slice(0, 200)}`);
  await assertStillServing('bad API parameters');
});

it('missing or wrong API token → 401 unauthenticated (HTTP and WebSocket)', async () => {
  for (const p of ['/api/v1/projects', '/api/v1/transactions', '/api/v1/xview']) {
    assertApiError(await srv.apiRaw(p, {}, { token: null }), 401, 'unauthenticated', `${p} without token`);
    assertApiError(await srv.apiRaw(p, {}, { token: 'lt_wrong' }), 401, 'unauthenticated', `${p} with a wrong token`);
    assertApiError(await srv.apiRaw(p, {}, { token: srv.ingestKey }), 401, 'unauthenticated', `${p} with the ingest key`);
  }
  for (const q of ['', '?token=lt_wrong']) {
    const status = await new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${srv.httpPort}/api/v1/live${q}`);
      ws.once('unexpected-response', (_req, res) => { resolve(res.statusCode); ws.terminate(); });
      ws.once('open', () => { resolve('open'); ws.terminate(); });
      ws.once('error', reject);
    });
    assert.equal(status, 401, `live WebSocket ${q || 'without token'}: ${status}`);
  }
  await assertStillServing('unauthenticated API calls');
});

it('/metrics is valid Prometheus text with loupe_ metrics', async () => {
  const m = await srv.metricsText();
  assert.equal(m.status, 200);
  assert.match(m.contentType, /^text\/plain/, `content-type ${m.contentType}`);
  const parsed = parsePrometheus(m.text);
  const loupe = parsed.samples.filter((s) => s.name.startsWith('loupe_'));
  assert.ok(loupe.length >= 5, `only ${loupe.length} loupe_ samples`);
  for (const [name, type] of parsed.types) {
    if (!name.startsWith('loupe_')) continue;
    const own = parsed.samples.filter((s) => s.name === name || (type === 'histogram' && [`${name}_bucket`, `${name}_sum`, `${name}_count`].includes(s.name)));
    assert.ok(own.length > 0, `TYPE ${name} ${type} without samples`);
    if (type === 'counter') assert.ok(own.every((s) => s.value >= 0), `${name}: negative counter`);
  }
  // Ingest was counted by now (earlier tests sent spans).
  const ingestish = loupe.filter((s) => /span|ingest|request|export/.test(s.name) && s.value > 0);
  assert.ok(ingestish.length > 0, 'no loupe_ ingest counter > 0 after ingest');
  // Memory and queue figures (issue 2 §7).
  const rss = parsed.samples.find((s) => s.name === 'process_resident_memory_bytes');
  assert.ok(rss && rss.value > 1e6, `process_resident_memory_bytes missing or implausible: ${rss?.value}`);
  assert.ok(parsed.samples.some((s) => s.name === 'loupe_ingest_inflight_batches'), 'no ingest queue depth gauge');
  assert.ok(parsed.samples.some((s) => s.name === 'loupe_assembler_pending_spans'), 'no pending spans gauge');
  // No secrets in /metrics.
  assert.ok(!m.text.includes(srv.ingestKey) && !m.text.includes(srv.token), 'a secret appears in /metrics');
});

it('HTTP/1.1 path and method errors on the OTLP port: GET /v1/traces → 405, unknown path → 404', async () => {
  const r = await fetch(srv.otlpHttpUrl, { headers: { authorization: `Bearer ${srv.ingestKey}` } });
  await r.arrayBuffer();
  assert.equal(r.status, 405, `GET /v1/traces: ${r.status}`);
  const r2 = await postRaw(`${srv.otlpHttpBase}/v1/nope`, toProto(validRequest().req), { key: srv.ingestKey });
  assert.equal(r2.status, 404, `POST /v1/nope: ${r2.status}`);
  await assertStillServing('wrong paths');
});

it('the server survived everything: still healthy, memory bounded', async () => {
  await assertStillServing('the whole file');
  const mem = srv.memory();
  assert.ok(mem.hwm < 300 * MiB, `peak RSS ${Math.round(mem.hwm / MiB)} MiB`);
  assert.match((await srv.api('/api/v1/transactions', { limit: 1, ...range() })).transactions[0].id, HEX16);
});

test('a port already in use stops a second server with a clear error (gRPC must not share it via SO_REUSEPORT)', async () => {
  const { spawn } = await import('node:child_process');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const { LOUPE_BIN, freePort } = await import('./lib/server.mjs');
  for (const [flag, port] of [['--otlp-grpc-port', srv.grpcPort], ['--otlp-http-port', srv.otlpHttpPort], ['--http-port', srv.httpPort]]) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'loupe-port-'));
    const args = ['server', '--data-dir', dir, '--bind', '127.0.0.1', '--http-port', String(await freePort()),
      '--otlp-http-port', String(await freePort()), '--otlp-grpc-port', String(await freePort()), flag, String(port)];
    const child = spawn(LOUPE_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const code = await new Promise((resolve) => {
      const timer = setTimeout(() => { child.kill('SIGKILL'); resolve('still running after 10 s'); }, 10_000);
      child.on('exit', (c) => { clearTimeout(timer); resolve(c); });
    });
    rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 1, `${flag} ${port} in use: exit ${code}; stderr: ${stderr.slice(-500)}`);
    assert.match(stderr, /cannot listen|already in use/i, `${flag}: ${stderr.slice(-500)}`);
  }
  // The first server still serves.
  assert.equal((await srv.apiRaw('/api/v1/projects')).status, 200);
});

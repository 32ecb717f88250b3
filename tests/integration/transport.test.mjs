// Transport hardening (issue 10 §1, §2): compression bombs over OTLP/gRPC,
// request deadlines on the HTTP ports, media types and content codings, and
// 413s in the request's own format. Each test drives the real binary with
// real clients: node's http2 speaking the gRPC wire format by hand (so the
// test controls the compressed flag and grpc-encoding), the OpenTelemetry
// gRPC exporter with gzip, and raw sockets for the slow body.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import zlib from 'node:zlib';

import { startServer, poll, withServerLog, parsePrometheus } from './lib/server.mjs';
import {
  KIND, span, request, toJson, toProto, postRaw, protoFields, randomTraceId,
} from './lib/otlp_raw.mjs';
import { makeClient, emitTransaction, nowMs } from './lib/otel.mjs';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import grpc from '@grpc/grpc-js';

const MiB = 1024 * 1024;
const EXPORT = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const REQUEST_TIMEOUT_S = 2;

let srv;
before(async () => { srv = await startServer({ args: ['--request-timeout-seconds', String(REQUEST_TIMEOUT_S)] }); });
after(async () => { await srv?.stop(); });
const it = (name, fn) => test(name, { timeout: 120_000 }, (t) => withServerLog(srv, () => fn(t)));

const RESOURCE = { 'service.name': 'transport', 'service.instance.id': 'tr-1', 'host.name': 'tr-host' };

function validRequest(route = '/ok') {
  const traceId = randomTraceId();
  const start = Date.now() - 1000;
  const s = span({
    traceId, name: `GET ${route}`, kind: KIND.SERVER, startMs: start, endMs: start + 5,
    attrs: { 'http.request.method': 'GET', 'http.route': route, 'url.path': route, 'http.response.status_code': 200 },
  });
  return { req: request({ resource: RESOURCE, spans: [s] }), traceId };
}

async function findTrace(traceId) {
  const range = { from: Date.now() - 600_000, to: Date.now() + 60_000 };
  const body = await poll(() => srv.api('/api/v1/transactions', { service: 'transport', ...range, limit: 10000 }),
    (b) => b.transactions?.some((r) => r.trace_id === traceId), { timeoutMs: 5000, intervalMs: 100 });
  return body.transactions.filter((r) => r.trace_id === traceId);
}

// 1 GiB of zeros, gzip'd by streaming zlib so the test holds only the result (~1 MB).
let bombCache;
function gzipBomb(totalMiB = 1024) {
  if (bombCache) return bombCache;
  bombCache = new Promise((resolve, reject) => {
    const z = zlib.createGzip({ level: 9 });
    const out = [];
    z.on('data', (c) => out.push(c));
    z.on('end', () => resolve(Buffer.concat(out)));
    z.on('error', reject);
    const chunk = Buffer.alloc(MiB);
    let n = 0;
    const write = () => {
      while (n < totalMiB) {
        n++;
        if (!z.write(chunk)) { z.once('drain', write); return; }
      }
      z.end();
    };
    write();
  });
  return bombCache;
}

// One unary gRPC call by hand over HTTP/2: the 5-byte message prefix
// (compressed flag, big-endian length), then the message. Resolves
// {status, message, ms}; status is the grpc-status (from the trailers, or the
// headers of a trailers-only answer), null if none came.
function grpcCall(payload, { key = srv.ingestKey, encoding = 'gzip', compressed = true, path = EXPORT } = {}) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const client = http2.connect(srv.grpcUrl);
    let status = null;
    let message = '';
    let settled = false;
    const take = (h) => {
      if (h['grpc-status'] !== undefined && status === null) {
        status = Number(h['grpc-status']);
        message = decodeURIComponent(String(h['grpc-message'] || ''));
      }
    };
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.close();
      resolve({ status, message, ms: Date.now() - started });
    };
    const timer = setTimeout(() => { client.destroy(); if (!settled) { settled = true; reject(new Error('gRPC call timed out')); } }, 60_000);
    client.on('error', () => finish());
    const headers = {
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-accept-encoding': 'identity',
    };
    if (encoding) headers['grpc-encoding'] = encoding;
    if (key) headers.authorization = `Bearer ${key}`;
    const stream = client.request(headers);
    stream.on('response', take);
    stream.on('trailers', take);
    stream.on('data', () => {});
    stream.on('error', () => { /* reset after the status: keep what came */ });
    stream.on('close', finish);
    const prefix = Buffer.alloc(5);
    prefix[0] = compressed ? 1 : 0;
    prefix.writeUInt32BE(payload.length, 1);
    stream.end(Buffer.concat([prefix, payload]));
  });
}

async function metricValue(name, labels) {
  const m = parsePrometheus((await srv.metricsText()).text);
  const s = m.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s ? s.value : 0;
}

// A valid export still works over gRPC (by hand, gzip) and over HTTP.
async function assertStillServing(what) {
  const { req, traceId } = validRequest('/after');
  const r = await grpcCall(zlib.gzipSync(toProto(req)));
  assert.equal(r.status, 0, `after ${what}: a gzip'd gRPC export got status ${r.status}: ${r.message}`);
  assert.equal((await findTrace(traceId)).length, 1, `after ${what}: the export is not served by the API`);
  const h = validRequest('/after-http');
  const rh = await postRaw(srv.otlpHttpUrl, toProto(h.req), { key: srv.ingestKey });
  assert.equal(rh.status, 200, `after ${what}: OTLP/HTTP export got ${rh.status}`);
}

// ---------------------------------------------------------------------------
it('gRPC messages arrive compressed and are inflated by Loupe: gzip, deflate, identity, flag off', async () => {
  const cases = [
    ['gzip', true, zlib.gzipSync],
    ['deflate', true, zlib.deflateSync],
    ['identity', false, (b) => b],
    // grpc-encoding names the algorithm, the flag says whether this message uses it.
    ['gzip', false, (b) => b],
  ];
  for (const [encoding, compressed, pack] of cases) {
    const { req, traceId } = validRequest(`/enc/${encoding}/${compressed}`);
    const r = await grpcCall(pack(toProto(req)), { encoding, compressed });
    assert.equal(r.status, 0, `${encoding} (flag ${compressed}): status ${r.status}: ${r.message}`);
    assert.equal((await findTrace(traceId)).length, 1, `${encoding} (flag ${compressed}): not stored`);
  }
  // The OpenTelemetry gRPC exporter with gzip compression.
  const cap = makeClient(srv, { protocol: 'capture', service: 'transport', instance: 'tr-otel' });
  const spec = { start_ms: nowMs() - 100, elapsed_ms: 5, method: 'GET', route: '/otel-gzip', path: '/otel-gzip', status: 200 };
  emitTransaction(cap.tracer, spec);
  const spans = cap.captured();
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${srv.ingestKey}`);
  const ex = new GrpcExporter({ url: srv.grpcUrl, metadata: md, credentials: grpc.credentials.createInsecure(), compression: 'gzip', timeoutMillis: 10000 });
  const result = await new Promise((resolve) => ex.export(spans, resolve));
  await ex.shutdown();
  await cap.shutdown();
  assert.equal(result.code, 0, `OTel gRPC exporter with gzip: ${result.error?.message}`);
  // A corrupt gzip message is INVALID_ARGUMENT, counted.
  const bad = await grpcCall(Buffer.from('definitely not gzip'));
  assert.equal(bad.status, 3, `corrupt gzip: status ${bad.status}: ${bad.message}`);
  assert.ok(await metricValue('loupe_ingest_requests_total', { transport: 'grpc', result: 'bad_gzip' }) >= 1);
});

it('gzip bomb (1 GiB of zeros) over gRPC without a key → UNAUTHENTICATED, the message is never inflated', async () => {
  const bomb = await gzipBomb();
  assert.ok(bomb.length < 2 * MiB, `bomb is ${bomb.length} bytes`);
  const before = srv.memory();
  for (const key of [null, 'lk_wrong']) {
    const r = await grpcCall(bomb, { key });
    assert.equal(r.status, 16, `key ${key}: status ${r.status}: ${r.message}`);
  }
  const mem = srv.memory();
  assert.ok(mem.hwm < before.rss + 100 * MiB,
    `peak RSS ${Math.round(mem.hwm / MiB)} MiB, started at ${Math.round(before.rss / MiB)} MiB: want under start + 100 MiB`);
  await assertStillServing('a bomb without a key');
});

it('gzip bomb (1 GiB of zeros) over gRPC with a key → RESOURCE_EXHAUSTED at 20 MiB, memory bounded and given back', async () => {
  const bomb = await gzipBomb();
  const before = srv.memory();
  const tooLargeBefore = await metricValue('loupe_ingest_requests_total', { transport: 'grpc', result: 'too_large' });
  for (let i = 0; i < 3; i++) {
    const r = await grpcCall(bomb);
    assert.equal(r.status, 8, `bomb ${i}: status ${r.status}: ${r.message}`);
    assert.match(r.message, /decompressed message exceeds the limit of 20971520 bytes/, `bomb ${i}: message`);
    assert.ok(r.ms < 10_000, `bomb ${i}: answered after ${r.ms} ms`);
  }
  const mem = srv.memory();
  assert.ok(mem.hwm < before.rss + 100 * MiB,
    `peak RSS ${Math.round(mem.hwm / MiB)} MiB, started at ${Math.round(before.rss / MiB)} MiB: want under start + 100 MiB`);
  // The 20 MiB buffers of the refused calls go back to the system.
  assert.ok(mem.rss < before.rss + 30 * MiB,
    `RSS ${Math.round(mem.rss / MiB)} MiB after the refusals, ${Math.round(before.rss / MiB)} MiB before`);
  assert.equal(await metricValue('loupe_ingest_requests_total', { transport: 'grpc', result: 'too_large' }), tooLargeBefore + 3);
  await assertStillServing('bombs with a key');
});

it('a gRPC message over 20 MiB as sent is refused by gRPC before it is inflated, and counted', async () => {
  const before = await metricValue('loupe_ingest_requests_total', { transport: 'grpc', result: 'no_message' });
  const r = await grpcCall(Buffer.alloc(21 * MiB), { encoding: 'identity', compressed: false });
  assert.equal(r.status, 8, `21 MiB message: status ${r.status}: ${r.message}`);
  await poll(() => metricValue('loupe_ingest_requests_total', { transport: 'grpc', result: 'no_message' }), (v) => v === before + 1);
  assert.equal(await metricValue('loupe_ingest_requests_total', { transport: 'grpc', result: 'no_message' }), before + 1);
  await assertStillServing('a 21 MiB gRPC message');
});

it('an unknown grpc-encoding inflates nothing: the message is read as sent and refused as malformed', async () => {
  // gRPC core drops a grpc-encoding it does not know (and logs it); the
  // message is then taken as uncompressed, so compressed bytes cannot decode.
  const { req } = validRequest('/unknown-enc');
  const r = await grpcCall(zlib.gzipSync(toProto(req)), { encoding: 'snappy' });
  assert.equal(r.status, 3, `grpc-encoding snappy: status ${r.status}: ${r.message} (want INVALID_ARGUMENT)`);
  await assertStillServing('an unknown encoding');
});

it('OTLP/HTTP gzip bomb (1 GiB) → 413 in the request\'s format, memory bounded', async () => {
  const bomb = await gzipBomb();
  const before = srv.memory();
  const r = await postRaw(srv.otlpHttpUrl, bomb, { key: srv.ingestKey, encoding: 'GZIP', contentType: 'Application/Json; charset=utf-8' });
  assert.equal(r.status, 413, `${r.status} ${r.text.slice(0, 200)}`);
  assert.match(String(r.headers['content-type']), /application\/json/);
  assert.equal(JSON.parse(r.text).code, 8, r.text);
  const mem = srv.memory();
  assert.ok(mem.hwm < before.rss + 100 * MiB, `peak RSS ${Math.round(mem.hwm / MiB)} MiB, started at ${Math.round(before.rss / MiB)} MiB`);
  await assertStillServing('an HTTP bomb');
});

it('media types and content codings are matched case-insensitively, parameters ignored', async () => {
  const cases = [
    ['APPLICATION/X-PROTOBUF', undefined, 'proto'],
    ['application/x-protobuf; charset=binary', 'GZIP', 'proto'],
    ['Application/Json; charset=utf-8', undefined, 'json'],
    ['application/JSON', 'Gzip', 'json'],
    ['application/protobuf', 'identity', 'proto'],
  ];
  for (const [contentType, encoding, format] of cases) {
    const { req, traceId } = validRequest(`/case/${contentType}/${encoding}`);
    let body = format === 'json' ? Buffer.from(toJson(req)) : toProto(req);
    if (encoding && encoding.toLowerCase() === 'gzip') body = zlib.gzipSync(body);
    const r = await postRaw(srv.otlpHttpUrl, body, { key: srv.ingestKey, contentType, encoding });
    assert.equal(r.status, 200, `${contentType} / ${encoding}: ${r.status} ${r.text.slice(0, 200)}`);
    if (format === 'json') assert.match(String(r.headers['content-type']), /application\/json/);
    assert.equal((await findTrace(traceId)).length, 1, `${contentType} / ${encoding}: not stored`);
  }
  const r = await postRaw(srv.otlpHttpUrl, Buffer.from('x'), { key: srv.ingestKey, contentType: 'text/plain' });
  assert.equal(r.status, 415);
  const r2 = await postRaw(srv.otlpHttpUrl, Buffer.from('x'), { key: srv.ingestKey, encoding: 'br' });
  assert.equal(r2.status, 415);
});

it('a declared body over 20 MiB gets 413 in the request\'s own content type, unread', async () => {
  const send = (contentType) => new Promise((resolve, reject) => {
    const sock = net.connect(srv.otlpHttpPort, '127.0.0.1');
    let data = Buffer.alloc(0);
    sock.on('data', (d) => { data = Buffer.concat([data, d]); });
    sock.on('error', reject);
    sock.on('close', () => resolve(data));
    sock.write(`POST /v1/traces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${srv.ingestKey}\r\n` +
      `Content-Type: ${contentType}\r\nContent-Length: ${21 * MiB}\r\n\r\n`);
  });
  const parse = (raw) => {
    const end = raw.indexOf('\r\n\r\n');
    const head = raw.subarray(0, end).toString();
    return { status: Number(head.split(' ')[1]), contentType: (head.match(/content-type: ([^\r]*)/i) || [])[1], body: raw.subarray(end + 4) };
  };
  const j = parse(await send('application/json'));
  assert.equal(j.status, 413);
  assert.match(j.contentType, /application\/json/);
  assert.equal(JSON.parse(j.body.toString()).code, 8, j.body.toString());
  const p = parse(await send('application/x-protobuf'));
  assert.equal(p.status, 413);
  assert.match(p.contentType, /application\/x-protobuf/);
  const fields = [...protoFields(p.body)];
  assert.deepEqual(fields.filter(([f]) => f === 1).map(([, , v]) => Number(v)), [8], `google.rpc.Status code: ${p.body.toString('hex')}`);
  await assertStillServing('413s');
});

it('a body sent one byte a second is cut with 408 at the request deadline on both HTTP ports', async () => {
  for (const [port, label, path] of [[srv.otlpHttpPort, 'otlp_http', '/v1/traces'], [srv.httpPort, 'api', '/api/v1/projects']]) {
    const before = await metricValue('loupe_http_refused_total', { server: label, reason: 'request_timeout' });
    const started = Date.now();
    const raw = await new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1');
      let data = Buffer.alloc(0);
      let timer;
      sock.on('data', (d) => { data = Buffer.concat([data, d]); });
      sock.on('error', () => {});
      sock.on('close', () => { clearInterval(timer); resolve(data); });
      sock.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${srv.ingestKey}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n');
      timer = setInterval(() => { if (!sock.destroyed) sock.write('x'); }, 1000);
      setTimeout(() => { sock.destroy(); reject(new Error('no answer within 30 s')); }, 30_000);
    });
    const elapsed = Date.now() - started;
    const head = raw.toString().split('\r\n\r\n')[0];
    assert.match(head, /^HTTP\/1\.1 408/, `${label}: ${head}`);
    // Cut at the deadline, not by the idle timeout (60 s) nor never.
    assert.ok(elapsed < (REQUEST_TIMEOUT_S + 5) * 1000, `${label}: cut after ${elapsed} ms`);
    if (label === 'otlp_http') assert.match(head, /content-type: application\/json/i, 'OTLP 408 in the request\'s format');
    assert.equal(await metricValue('loupe_http_refused_total', { server: label, reason: 'request_timeout' }), before + 1);
  }
  await assertStillServing('slow bodies');
});

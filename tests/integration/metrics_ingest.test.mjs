// OTLP metrics into the time-series store (issue 13 §1–2): the OpenTelemetry
// JS metrics SDK sends a gauge, a counter and a histogram over OTLP/HTTP
// protobuf; raw requests go as JSON, gzip and gRPC; what was acknowledged
// survives kill -9 exactly once; bad input is a 400 and the server keeps
// serving; `loupe agent` on the fixture tree is accepted. What landed is read
// from /metrics and from `loupe store verify` (the tsdb's blocks), until the
// metrics query API exists.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import http2 from 'node:http2';
import path from 'node:path';
import zlib from 'node:zlib';

import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';

import { LOUPE_BIN, REPO_ROOT, parsePrometheus, sleep, startServer } from './lib/server.mjs';
import { postRaw } from './lib/otlp_raw.mjs';

const servers = [];
after(async () => { for (const s of servers) await s.stop().catch(() => {}); });

async function start(opts) {
  const srv = await startServer(opts);
  servers.push(srv);
  return srv;
}

// The value of one /metrics sample (0 when absent).
async function metric(srv, name, labels = {}) {
  const m = parsePrometheus((await srv.metricsText()).text);
  const s = m.samples.find((x) => x.name === name &&
    Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s ? s.value : 0;
}

function verify(dataDir) {
  const r = spawnSync(LOUPE_BIN, ['store', 'verify', dataDir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const m = r.stdout.match(/time-series store .*: (\d+) blocks ok, (\d+) series \(summed over blocks\), (\d+) samples/);
  assert.ok(m, r.stdout);
  return { blocks: Number(m[1]), series: Number(m[2]), samples: Number(m[3]), text: r.stdout };
}

// OTLP/JSON: one gauge point per time (ms), service `svc`.
function gaugeJson(name, timesMs, svc = 'it-metrics') {
  return JSON.stringify({
    resourceMetrics: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: svc } }] },
      scopeMetrics: [{
        metrics: [{
          name,
          gauge: { dataPoints: timesMs.map((t, i) => ({ timeUnixNano: String(BigInt(t) * 1000000n), asDouble: i + 0.5 })) },
        }],
      }],
    }],
  });
}

// Protobuf by hand: ExportMetricsServiceRequest{ResourceMetrics{ScopeMetrics{
// Metric{name, gauge{NumberDataPoint{time_unix_nano, as_double}}}}}}.
function lenField(field, buf) {
  const out = [];
  let n = buf.length;
  out.push((field << 3) | 2);
  do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; out.push(b); } while (n);
  return Buffer.concat([Buffer.from(out), buf]);
}
function gaugeProto(name, timeMs, value) {
  const point = Buffer.alloc(18);
  point[0] = (3 << 3) | 1; // time_unix_nano, fixed64
  point.writeBigUInt64LE(BigInt(timeMs) * 1000000n, 1);
  point[9] = (4 << 3) | 1; // as_double
  point.writeDoubleLE(value, 10);
  const metric = Buffer.concat([lenField(1, Buffer.from(name)), lenField(5, lenField(1, point))]);
  return lenField(1, lenField(2, lenField(2, metric)));
}

function postMetrics(srv, body, o = {}) {
  return postRaw(srv.otlpHttpUrl, body, { key: srv.ingestKey, path: '/v1/metrics', timeoutMs: 10000, ...o });
}

// One unary gRPC call over HTTP/2, uncompressed: resolves the grpc-status.
function grpcCall(srv, method, payload) {
  return new Promise((resolve, reject) => {
    const client = http2.connect(srv.grpcUrl);
    let status = null;
    const take = (h) => { if (h['grpc-status'] !== undefined && status === null) status = Number(h['grpc-status']); };
    const timer = setTimeout(() => { client.destroy(); reject(new Error('gRPC call timed out')); }, 20_000);
    client.on('error', () => {});
    const stream = client.request({
      ':method': 'POST', ':path': method, 'content-type': 'application/grpc', te: 'trailers',
      authorization: `Bearer ${srv.ingestKey}`,
    });
    stream.on('response', take);
    stream.on('trailers', take);
    stream.on('data', () => {});
    stream.on('error', () => {});
    stream.on('close', () => { clearTimeout(timer); client.close(); resolve(status); });
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(payload.length, 1);
    stream.end(Buffer.concat([prefix, payload]));
  });
}

test('the OpenTelemetry metrics SDK sends a gauge, a counter and a histogram: all stored', { timeout: 60_000 }, async () => {
  const srv = await start();
  const exporter = new OTLPMetricExporter({
    url: `${srv.otlpHttpBase}/v1/metrics`,
    headers: { authorization: `Bearer ${srv.ingestKey}` },
  });
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': 'it-sdk', 'host.name': 'h1' }),
    readers: [reader],
  });
  const meter = provider.getMeter('it');
  meter.createObservableGauge('queue.depth').addCallback((r) => r.observe(7, { queue: 'q1' }));
  meter.createCounter('orders').add(3, { shop: 'a' });
  const latency = meter.createHistogram('latency', { unit: 'ms' });
  for (const v of [3, 12, 700]) latency.record(v, { route: '/x' });
  await reader.forceFlush(); // rejects when the export is not a success

  // gauge 1 + counter 1 + histogram (15 default bounds → 16 buckets, sum, count) 18.
  assert.equal(await metric(srv, 'loupe_ingest_metric_points_total', { result: 'accepted' }), 3);
  assert.equal(await metric(srv, 'loupe_ingest_metric_samples_total'), 20);
  assert.equal(await metric(srv, 'loupe_tsdb_samples_total', { result: 'stored' }), 20);
  assert.equal(await metric(srv, 'loupe_tsdb_series'), 20);
  assert.equal(await metric(srv, 'loupe_ingest_requests_total', { transport: 'http', result: 'ok' }), 1);

  // Shutting down exports once more (the same series, a later time).
  await provider.shutdown();
  const stored = await metric(srv, 'loupe_tsdb_samples_total', { result: 'stored' });
  assert.equal(await metric(srv, 'loupe_tsdb_series'), 20);
  await srv.stop({ keepData: true });
  const v = verify(srv.dataDir);
  assert.deepEqual([v.blocks, v.series, v.samples], [1, 20, stored], v.text);
});

test('the SDK\'s OTLP/JSON exporter is stored the same way', { timeout: 60_000 }, async () => {
  const srv = await start();
  const reader = new PeriodicExportingMetricReader({
    exporter: new JsonMetricExporter({
      url: `${srv.otlpHttpBase}/v1/metrics`,
      headers: { authorization: `Bearer ${srv.ingestKey}` },
    }),
    exportIntervalMillis: 3_600_000,
  });
  const provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': 'it-json' }), readers: [reader] });
  const meter = provider.getMeter('it');
  meter.createCounter('jobs').add(5, { queue: 'q' });
  meter.createUpDownCounter('inflight').add(-2);
  const h = meter.createHistogram('size', { advice: { explicitBucketBoundaries: [10, 100] } });
  h.record(50);
  await reader.forceFlush();
  // counter 1 + up-down counter (a gauge) 1 + histogram (3 buckets, sum, count) 5.
  assert.equal(await metric(srv, 'loupe_ingest_metric_points_total', { result: 'accepted' }), 3);
  assert.equal(await metric(srv, 'loupe_tsdb_samples_total', { result: 'stored' }), 7);
  assert.equal(await metric(srv, 'loupe_tsdb_series'), 7);
  await provider.shutdown();
});

test('JSON, gzip and gRPC requests are stored; a resend is a duplicate', { timeout: 60_000 }, async () => {
  const srv = await start();
  const now = Date.now();
  let r = await postMetrics(srv, Buffer.from(gaugeJson('temp', [now - 2000, now - 1000])), { contentType: 'application/json' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.text, '{}');
  r = await postMetrics(srv, zlib.gzipSync(gaugeProto('temp.gz', now, 1.5)), { encoding: 'gzip' });
  assert.equal(r.status, 200, r.text);
  const status = await grpcCall(srv, '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
    gaugeProto('temp.grpc', now, 2.5));
  assert.equal(status, 0);
  r = await postMetrics(srv, Buffer.from(gaugeJson('temp', [now - 2000, now - 1000])), { contentType: 'application/json' });
  assert.equal(r.status, 200, r.text);
  assert.equal(await metric(srv, 'loupe_tsdb_samples_total', { result: 'stored' }), 4);
  assert.equal(await metric(srv, 'loupe_tsdb_samples_total', { result: 'duplicate' }), 2);
  assert.equal(await metric(srv, 'loupe_tsdb_series'), 3);
});

test('bad metrics input is a 400 and the server keeps serving', { timeout: 60_000 }, async () => {
  const srv = await start();
  let r = await postMetrics(srv, Buffer.from('{"resourceMetrics":[{'), { contentType: 'application/json' });
  assert.equal(r.status, 400, r.text);
  r = await postMetrics(srv, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f]));
  assert.equal(r.status, 400, r.text);
  r = await postMetrics(srv, Buffer.from('not gzip'), { encoding: 'gzip' });
  assert.equal(r.status, 400, r.text);
  r = await postMetrics(srv, Buffer.from(gaugeJson('temp', [Date.now()])), { contentType: 'application/json', key: 'wrong' });
  assert.equal(r.status, 401, r.text);
  r = await postMetrics(srv, Buffer.from(gaugeJson('temp', [Date.now()])), { contentType: 'application/json' });
  assert.equal(r.status, 200, r.text);
  assert.equal(await metric(srv, 'loupe_tsdb_samples_total', { result: 'stored' }), 1);
  assert.equal(await metric(srv, 'loupe_ingest_requests_total', { transport: 'http', result: 'malformed' }), 2);
});

test('with --store memory the server takes no metrics: 404 naming what it takes', { timeout: 60_000 }, async () => {
  const srv = await start({ args: ['--store', 'memory'] });
  const r = await postMetrics(srv, Buffer.from(gaugeJson('temp', [Date.now()])), { contentType: 'application/json' });
  assert.equal(r.status, 404, r.text);
  assert.deepEqual(JSON.parse(r.text), {
    code: 12, message: 'this Loupe server accepts OTLP on /v1/traces only; /v1/metrics is not supported yet',
  });
});

test('kill -9 after the acknowledgement loses no sample, and replays none twice', { timeout: 90_000 }, async () => {
  const srv = await start();
  const now = Date.now();
  const times = Array.from({ length: 10 }, (_, i) => now - 10_000 + i * 1000);
  for (let i = 0; i < times.length; i += 2) {
    const r = await postMetrics(srv, Buffer.from(gaugeJson('crash.temp', times.slice(i, i + 2))), { contentType: 'application/json' });
    assert.equal(r.status, 200, r.text);
  }
  await srv.kill9();

  const again = await start({ dataDir: srv.dataDir });
  assert.match(again.output(), /recovered the ingest log/);
  assert.equal(await metric(again, 'loupe_tsdb_samples_total', { result: 'stored' }), 10);
  // The same request once more: already held.
  const r = await postMetrics(again, Buffer.from(gaugeJson('crash.temp', times.slice(0, 2))), { contentType: 'application/json' });
  assert.equal(r.status, 200, r.text);
  assert.equal(await metric(again, 'loupe_tsdb_samples_total', { result: 'duplicate' }), 2);
  await again.stop({ keepData: true });
  const v = verify(srv.dataDir);
  assert.deepEqual([v.series, v.samples], [1, 10], v.text);
});

test('loupe agent on the fixture tree: its requests are accepted and its series stored', { timeout: 60_000 }, async () => {
  const srv = await start();
  const root = path.join(REPO_ROOT, 'tests', 'fixtures', 'hostagent', 'v2');
  const agent = spawn(LOUPE_BIN, ['agent', '--server', srv.otlpHttpBase, '--root', root,
    '--interval-seconds', '1'], { env: { ...process.env, LOUPE_AGENT_KEY: srv.ingestKey }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  agent.stdout.on('data', (d) => { log += d; });
  agent.stderr.on('data', (d) => { log += d; });
  try {
    const end = Date.now() + 20_000;
    while (Date.now() < end && await metric(srv, 'loupe_ingest_requests_total', { transport: 'http', result: 'ok' }) < 2) {
      await sleep(200);
    }
  } finally {
    agent.kill('SIGTERM');
    await new Promise((r) => agent.on('exit', r));
  }
  const m = parsePrometheus((await srv.metricsText()).text);
  const refused = m.samples.filter((x) => x.name === 'loupe_ingest_requests_total' && x.labels.result !== 'ok' && x.value > 0);
  assert.deepEqual(refused, [], log);
  assert.ok(await metric(srv, 'loupe_ingest_requests_total', { transport: 'http', result: 'ok' }) >= 2, log);
  assert.equal(await metric(srv, 'loupe_ingest_metric_points_total', { result: 'skipped' }), 0);
  assert.equal(await metric(srv, 'loupe_tsdb_samples_total', { result: 'invalid' }), 0);
  assert.ok(await metric(srv, 'loupe_tsdb_series') > 50, log);
  assert.doesNotMatch(log, /refused|rejected|error/i);
});

// Late steps (issue 10 §2): an OpenTelemetry SDK's batch processor cuts a
// transaction's spans across export batches, so some steps reach Loupe after
// their transaction was stored. Rows (/transactions), application status
// (/endpoints), /series and /hitmap must still give the same counts and
// sums, from rollups as from raw rows, and after a restart and a kill -9
// (the rollup files rebuilt or reopened count the late steps, the ingest
// log's replay does not count them twice).
//
// Spans go through the real JS SDK: a BatchSpanProcessor with
// maxExportBatchSize 16, the root ended before most of its children (as an
// async handler does), and for half the transactions a flush right after
// the root, so those children are certainly late.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { context, trace, SpanKind } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';

import { startServer, poll, withServerLog } from './lib/server.mjs';
import { makeExporter, msToHr, roundUs } from './lib/otel.mjs';

const STEP_S = 60;
// Whole minutes, so rollup cells answer most of the range.
const FROM = Math.floor((Date.now() - 20 * 60_000) / 60_000) * 60_000;
const TO = FROM + 25 * 60_000;
const ENDPOINTS = [
  { route: '/api/surveys/:id/panels', sql: 60, ext: 2, n: 24 },
  { route: '/api/health', sql: 3, ext: 1, n: 30 },
];

let srv;
after(async () => { await srv?.stop(); });

function makeProvider(server) {
  const exporter = makeExporter('proto', server);
  const proc = new BatchSpanProcessor(exporter, {
    maxExportBatchSize: 16, maxQueueSize: 100000, scheduledDelayMillis: 20,
  });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': 'surveys',
      'service.instance.id': 'surveys-1',
      'telemetry.sdk.language': 'nodejs',
    }),
    spanProcessors: [proc],
  });
  return { provider, tracer: provider.getTracer('late-steps-test') };
}

// Emits every transaction; half of them flush between the root and the
// children that end after it.
async function emitAll(provider, tracer) {
  let k = 0;
  for (const ep of ENDPOINTS) {
    for (let i = 0; i < ep.n; i++, k++) {
      const start = roundUs(FROM + 60_000 + k * 37_003.25);  // spread over ~20 minutes
      const root = tracer.startSpan(`GET ${ep.route}`, {
        kind: SpanKind.SERVER,
        startTime: msToHr(start),
        attributes: { 'http.request.method': 'GET', 'http.route': ep.route, 'http.response.status_code': 200 },
      }, context.active());
      const ctx = trace.setSpan(context.active(), root);
      const children = [];
      for (let s = 0; s < ep.sql; s++) {
        children.push({ name: 'SELECT panels', kind: SpanKind.CLIENT, offset: 1 + s * 0.5, elapsed: 0.25 + (s % 7) * 0.125,
          attributes: { 'db.system': 'postgresql', 'db.query.text': `SELECT * FROM panels WHERE id = ${s}` } });
      }
      for (let e = 0; e < ep.ext; e++) {
        children.push({ name: 'GET', kind: SpanKind.CLIENT, offset: 2 + e, elapsed: 3.5 + e,
          attributes: { 'http.request.method': 'GET', 'url.full': 'http://users/api/u/1', 'server.address': 'users', 'http.response.status_code': 200 } });
      }
      const spans = children.map((c) => [c, tracer.startSpan(c.name, { kind: c.kind, startTime: msToHr(start + c.offset), attributes: c.attributes }, ctx)]);
      // A few children end first, then the root, then the rest.
      const early = Math.min(3, spans.length);
      for (const [c, sp] of spans.slice(0, early)) sp.end(msToHr(start + c.offset + c.elapsed));
      root.end(msToHr(start + 40));
      if (k % 2 === 0) await provider.forceFlush();
      for (const [c, sp] of spans.slice(early)) sp.end(msToHr(start + c.offset + c.elapsed));
    }
  }
  await provider.forceFlush();
}

async function rows(server) {
  const body = await server.api('/api/v1/transactions', { from: FROM, to: TO, limit: 10000 });
  return body.transactions;
}

// The figures every view must agree on, per endpoint.
function fromRows(txs) {
  const by = new Map();
  for (const t of txs) {
    const e = by.get(t.endpoint) || { count: 0, sql_count: 0, sql_ms: 0, external_count: 0, external_ms: 0 };
    e.count++;
    e.sql_count += t.sql_count;
    e.external_count += t.external_count;
    e.sql_ms += t.sql_ms;
    e.external_ms += t.external_ms;
    by.set(t.endpoint, e);
  }
  return by;
}

async function checkAgreement(server, when) {
  const want = ENDPOINTS.reduce((m, ep) => m.set(`GET ${ep.route}`, ep), new Map());
  // Rows first: every transaction with all its steps.
  const txs = await poll(() => rows(server), (r) => r.length === 54 && r.every((t) => t.sql_count === want.get(t.endpoint).sql),
    { timeoutMs: 15000, intervalMs: 200 });
  for (const t of txs) {
    const ep = want.get(t.endpoint);
    assert.equal(t.sql_count, ep.sql, `${when}: ${t.endpoint} row sql_count`);
    assert.equal(t.external_count, ep.ext, `${when}: ${t.endpoint} row external_count`);
  }
  const byRow = fromRows(txs);

  const eps = await server.api('/api/v1/endpoints', { from: FROM, to: TO });
  assert.match(eps.source, /rollups/, `${when}: endpoints should come from rollups`);
  for (const e of eps.endpoints) {
    const r = byRow.get(e.endpoint);
    assert.ok(r, `${when}: unexpected endpoint ${e.endpoint}`);
    assert.equal(e.count, r.count, `${when}: ${e.endpoint} count`);
    assert.ok(Math.abs(e.avg_sql_count * e.count - r.sql_count) < 1e-6 * r.sql_count + 1e-9,
      `${when}: ${e.endpoint} avg_sql_count ${e.avg_sql_count} × ${e.count} vs rows' ${r.sql_count}`);
    assert.ok(Math.abs(e.avg_external_count * e.count - r.external_count) < 1e-6 * r.external_count + 1e-9,
      `${when}: ${e.endpoint} avg_external_count ${e.avg_external_count} × ${e.count} vs rows' ${r.external_count}`);
    assert.ok(Math.abs(e.avg_sql_ms * e.count - r.sql_ms) < 0.01 * e.count,
      `${when}: ${e.endpoint} avg_sql_ms ${e.avg_sql_ms} × ${e.count} vs rows' ${r.sql_ms}`);
    assert.ok(Math.abs(e.avg_external_ms * e.count - r.external_ms) < 0.01 * e.count,
      `${when}: ${e.endpoint} avg_external_ms ${e.avg_external_ms} × ${e.count} vs rows' ${r.external_ms}`);
  }
  assert.equal(eps.endpoints.length, ENDPOINTS.length, `${when}: endpoints`);

  // Raw rows answer the same (a filter rollups cannot answer forces them).
  const raw = await server.api('/api/v1/endpoints', { from: FROM, to: TO, min_ms: 1 });
  assert.equal(raw.source, 'raw');
  for (const e of raw.endpoints) {
    const r = eps.endpoints.find((x) => x.endpoint === e.endpoint);
    assert.equal(e.count, r.count, `${when}: raw ${e.endpoint} count`);
    assert.ok(Math.abs(e.avg_sql_count - r.avg_sql_count) < 1e-9, `${when}: raw vs rollup avg_sql_count of ${e.endpoint}`);
    assert.ok(Math.abs(e.avg_external_ms - r.avg_external_ms) < 0.01, `${when}: raw vs rollup avg_external_ms of ${e.endpoint}`);
  }

  // Series and hitmap count the same transactions.
  const series = await server.api('/api/v1/series', { from: FROM, to: TO, metric: 'count', step: STEP_S });
  const seriesTotal = series.series.reduce((s, l) => s + l.values.reduce((a, v) => a + (v ?? 0), 0), 0);
  assert.equal(seriesTotal, txs.length, `${when}: series count`);
  const hitmap = await server.api('/api/v1/hitmap', { from: FROM, to: TO, step: STEP_S });
  const hitTotal = hitmap.count.reduce((a, v) => a + v, 0);
  assert.equal(hitTotal, txs.length, `${when}: hitmap count`);
}

test('rollups, rows, series and hitmap agree on split traces, across a restart and a kill -9', { timeout: 180_000 }, async () => {
  srv = await startServer();
  await withServerLog(srv, async () => {
    const { provider, tracer } = makeProvider(srv);
    await emitAll(provider, tracer);
    await provider.shutdown();
    const m = (await srv.metricsText()).text;
    const late = Number((m.match(/^loupe_assembler_late_steps_total (\d+)/m) || [])[1] || 0);
    assert.ok(late > 100, `the test must produce late steps (got ${late})`);
    await checkAgreement(srv, 'live');

    const dataDir = srv.dataDir;
    await srv.stop({ keepData: true });
    srv = await startServer({ dataDir });
    await checkAgreement(srv, 'after a restart');

    await srv.kill9();
    srv = await startServer({ dataDir });
    await checkAgreement(srv, 'after kill -9 and the log replay');
  });
});

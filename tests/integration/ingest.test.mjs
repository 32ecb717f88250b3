// Ingest → API round trips with real OpenTelemetry JS exporters (OTLP
// protobuf, JSON, gRPC, protobuf+gzip) against the real loupe binary.
// Every test asserts that exactly what was sent comes back.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';

import { startServer, poll, sleep, withServerLog } from './lib/server.mjs';
import {
  PROTOCOLS, makeClient, makeExporter, exportSpans, emitTransaction, expectedSteps,
  expectedTransaction, webSpec, nowMs, roundUs,
} from './lib/otel.mjs';
import { HEX16, HEX32, assertFields, assertSteps, assertClose, assertApiError, near, sum } from './lib/expect.mjs';

const POLL = { timeoutMs: 5000, intervalMs: 100 };
const T0 = roundUs(Date.now() - 180_000); // all transactions of this file start after T0
const range = () => ({ from: Math.floor(T0 - 600_000), to: Math.ceil(Date.now() + 60_000) });

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv?.stop(); });

// Test body wrapper: on failure, append the server's output.
// Test body wrapper with a deadline; on failure, appends the server's output.
const it = (name, fn, opts) => test(name, { timeout: 60_000, ...opts }, (t) => withServerLog(srv, () => fn(t)));

async function listTx(s, params) {
  return s.api('/api/v1/transactions', { ...range(), limit: 10000, ...params });
}
// Polls the list of a filter until it has `count` rows (or 5 s pass).
async function waitForCount(s, params, count) {
  const body = await poll(() => listTx(s, params), (b) => b.transactions?.length >= count, POLL);
  return body;
}
// Polls for the transaction of a trace (one service) until it has nSteps steps.
async function waitForTxByTrace(s, service, traceId, nSteps) {
  const rows = await poll(async () => (await listTx(s, { service })).transactions.filter((r) => r.trace_id === traceId),
    (r) => r.length >= 1, POLL);
  assert.equal(rows.length, 1, `want exactly one transaction of trace ${traceId} in service ${service}, got ${JSON.stringify(rows, null, 1)}`);
  const detail = await poll(() => s.api(`/api/v1/transactions/${rows[0].id}`), (d) => (d.steps?.length ?? 0) >= nSteps, POLL);
  return { row: rows[0], detail };
}

it('first start writes initial-credentials.json (0600) with project, ingest key and token', () => {
  assert.equal(srv.credentials.project, 'default');
  assert.match(srv.credentials.ingest_key, /^lk_/);
  assert.match(srv.credentials.api_token, /^lt_/);
  assert.equal(srv.credentialsMode, 0o600, `mode is ${srv.credentialsMode?.toString(8)}`);
});

it('GET /api/v1/projects lists the default project (JSON, never cached)', async () => {
  const r = await srv.apiRaw('/api/v1/projects');
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type') || '', /^application\/json/);
  assert.match(r.headers.get('cache-control') || '', /no-store/);
  assert.ok(Array.isArray(r.json?.projects), r.text);
  assert.deepEqual(r.json.projects.map((p) => p.name), ['default']);
});

// ---------------------------------------------------------------------------
// One block per exporter: four web transactions (new/old attribute names,
// ok/error) with SQL, external, method and nested SQL steps.
PROTOCOLS.forEach((protocol, pi) => {
  describe(`ingest via OTLP ${protocol}`, () => {
    const service = `shop-${protocol}`;
    const instance = `shop-${protocol}-1`;
    const host = `host-${protocol}`;
    let client;
    const sent = []; // {label, spec, emitted, exp}

    before(async () => {
      client = makeClient(srv, { protocol, service, instance, host });
      const base = T0 + 1000 + pi * 10_000;
      const specs = [
        ['new-ok', webSpec({ start_ms: base, names: 'new', user: 'u42', client_ip: '10.0.0.7', postId: 42 })],
        ['new-error', webSpec({ start_ms: base + 1000, elapsed_ms: 210.5, names: 'new', error: true, user: 'u7', client_ip: '10.0.0.8', postId: 7 })],
        ['old-ok', webSpec({ start_ms: base + 2000, names: 'old', user: 'u42', client_ip: '10.0.0.7', postId: 42 })],
        ['old-error', webSpec({ start_ms: base + 3000, elapsed_ms: 210.5, names: 'old', error: true, user: 'u7', client_ip: '10.0.0.8', postId: 7 })],
      ];
      for (const [label, spec] of specs) {
        const emitted = emitTransaction(client.tracer, spec);
        sent.push({ label, spec, emitted, exp: expectedTransaction(spec, emitted, { service, instance }) });
      }
      await client.flush();
    });
    after(async () => { await client?.shutdown(); });

    it('the transaction list returns exactly the transactions sent', async () => {
      const body = await waitForCount(srv, { service }, sent.length);
      assert.equal(typeof body.truncated, 'boolean', 'truncated flag missing');
      assert.equal(body.truncated, false);
      assert.equal(body.transactions.length, sent.length,
        `want ${sent.length} transactions of ${service}, got ${body.transactions.length}: ${JSON.stringify(body.transactions, null, 1)}`);
      for (const s of sent) {
        const rows = body.transactions.filter((r) => r.trace_id === s.emitted.traceId);
        assert.equal(rows.length, 1, `${s.label}: want 1 row for trace ${s.emitted.traceId}, got ${rows.length}`);
        const row = rows[0];
        assert.match(row.id, HEX16, `${s.label}: id`);
        assert.match(row.trace_id, HEX32, `${s.label}: trace_id`);
        assertFields(row, s.exp, `${s.label} row`, `row: ${JSON.stringify(row)}`);
        assert.ok(row.cpu_ms === null || row.cpu_ms === undefined, `${s.label}: cpu_ms ${row.cpu_ms}, want null (not reported)`);
        if (s.spec.error) assert.ok(typeof row.error_type === 'string' && row.error_type.length > 0, `${s.label}: error_type empty for an error`);
        else assert.equal(row.error_type ?? '', '', `${s.label}: error_type for a success`);
        s.id = row.id;
      }
    });

    it('transactions/{id} returns the profile: kinds, names, SQL, externals, nesting, error step', async () => {
      for (const s of sent) {
        assert.ok(s.id, `${s.label}: no id (list test failed)`);
        const want = expectedSteps(s.spec, s.emitted);
        const d = await poll(() => srv.api(`/api/v1/transactions/${s.id}`), (x) => (x.steps?.length ?? 0) >= want.length, POLL);
        assertFields(d, {
          ...s.exp,
          id: s.id,
          url: s.spec.path,
          host,
          span_id: s.emitted.spanId,
          parent_span_id: null,
          dropped_steps: 0,
        }, `${s.label} detail`);
        assertSteps(d.steps, want, `${s.label} steps`);
        for (const st of d.steps) {
          if (st.kind !== 'error') assert.match(st.span_id, HEX16, `${s.label}: step span_id`);
          assert.ok(st.attributes === undefined || (st.attributes && typeof st.attributes === 'object' && !Array.isArray(st.attributes)),
            `${s.label}: step attributes must be an object`);
        }
      }
    });

    it('old and new semantic-convention attribute names give identical results', async () => {
      const strip = (d) => ({
        ...Object.fromEntries(Object.entries(d).filter(([k]) => !['id', 'trace_id', 'span_id', 'parent_span_id', 'start_ms', 'end_ms', 'steps'].includes(k))),
        steps: d.steps.map((st) => Object.fromEntries(Object.entries(st).filter(([k]) => !['span_id', 'parent_span_id', 'start_ms', 'attributes'].includes(k)))),
      });
      for (const [n, o] of [['new-ok', 'old-ok'], ['new-error', 'old-error']]) {
        const a = sent.find((s) => s.label === n);
        const b = sent.find((s) => s.label === o);
        assert.ok(a.id && b.id, 'ids missing (list test failed)');
        const [da, db] = await Promise.all([srv.api(`/api/v1/transactions/${a.id}`), srv.api(`/api/v1/transactions/${b.id}`)]);
        assert.deepEqual(strip(db), strip(da), `${o} (old names) differs from ${n} (new names)`);
      }
    });
  });
});

// ---------------------------------------------------------------------------
describe('distributed trace across two services', () => {
  it('traces/{trace_id} returns both transactions, B linked to A', async () => {
    const a = makeClient(srv, { protocol: 'proto', service: 'frontend', instance: 'fe-1', host: 'fe-host' });
    const b = makeClient(srv, { protocol: 'grpc', service: 'backend', instance: 'be-1', host: 'be-host' });
    try {
      const start = T0 + 60_000;
      const aSpec = {
        start_ms: start, elapsed_ms: 100.25, method: 'GET', route: '/checkout', path: '/checkout', status: 200,
        client_ip: '192.0.2.1', user: 'shopper',
        children: [{ type: 'external', name: 'POST', method: 'POST', offset_ms: 10, elapsed_ms: 60.5, url: 'http://backend.internal/api/pay', host: 'backend.internal', status: 200 }],
      };
      const aEm = emitTransaction(a.tracer, aSpec);
      const clientSpanId = aEm.spans[0].spanId;
      const bSpec = {
        start_ms: start + 15, elapsed_ms: 50.125, method: 'POST', route: '/api/pay', path: '/api/pay', status: 200,
        client_ip: '10.9.0.1', user: 'shopper', remoteParent: { traceId: aEm.traceId, spanId: clientSpanId },
        children: [{ type: 'sql', name: 'INSERT payments', offset_ms: 20, elapsed_ms: 10, sql: 'INSERT INTO payments(id) VALUES ($1)', db_system: 'postgresql' }],
      };
      const bEm = emitTransaction(b.tracer, bSpec);
      assert.equal(bEm.traceId, aEm.traceId);
      await Promise.all([a.flush(), b.flush()]);

      const tr = await poll(() => srv.api(`/api/v1/traces/${aEm.traceId}`), (x) => x.transactions?.length >= 2, POLL);
      assert.equal(tr.trace_id, aEm.traceId);
      assert.equal(tr.transactions.length, 2, `want 2 transactions, got ${JSON.stringify(tr, null, 1)}`);
      const [ta, tb] = tr.transactions; // ordered by start
      assertFields(ta, { ...expectedTransaction(aSpec, aEm, { service: 'frontend', instance: 'fe-1' }), parent_id: null }, 'trace[0] (A)');
      assertFields(tb, { ...expectedTransaction(bSpec, bEm, { service: 'backend', instance: 'be-1' }), parent_id: ta.id }, 'trace[1] (B)');
      const db = await srv.api(`/api/v1/transactions/${tb.id}`);
      assert.equal(db.parent_span_id, clientSpanId, 'B.parent_span_id must be A\'s CLIENT span');
      assert.equal(db.span_id, bEm.spanId);
    } finally {
      await Promise.all([a.shutdown(), b.shutdown()]);
    }
  });
});

// ---------------------------------------------------------------------------
describe('arrival order, splitting and duplicates', () => {
  const service = 'joiner';
  const instance = 'joiner-1';
  let cap;
  let proto;
  let json;
  before(() => {
    cap = makeClient(srv, { protocol: 'capture', service, instance, host: 'joiner-host' });
    proto = makeExporter('proto', srv);
    json = makeExporter('json', srv);
  });
  after(async () => { await Promise.all([cap?.shutdown(), proto?.shutdown(), json?.shutdown()]); });

  function capture(spec) {
    cap.resetCaptured();
    const em = emitTransaction(cap.tracer, spec);
    const spans = cap.captured().slice();
    const root = spans.find((s) => s.spanContext().spanId === em.spanId);
    const children = spans.filter((s) => s !== root);
    assert.ok(root && children.length === 4, `captured ${spans.length} spans`);
    return { em, spans, root, children };
  }
  function check(spec, em, got) {
    assertFields(got.row, expectedTransaction(spec, em, { service, instance }), 'row');
    const want = expectedSteps(spec, em);
    assertSteps(got.detail.steps, want, 'steps');
    const ids = got.detail.steps.filter((s) => s.kind !== 'error').map((s) => s.span_id);
    assert.equal(new Set(ids).size, ids.length, `duplicate steps: ${JSON.stringify(ids)}`);
  }

  it('children in one request and the root in a later one → one transaction with every step', async () => {
    const spec = webSpec({ start_ms: T0 + 70_000, elapsed_ms: 171.5, error: true });
    const c = capture(spec);
    await exportSpans(proto, c.children);
    await sleep(300);
    await exportSpans(proto, [c.root]);
    const got = await waitForTxByTrace(srv, service, c.em.traceId, expectedSteps(spec, c.em).length);
    check(spec, c.em, got);
  });

  it('children exported in reverse order, one per request, before the root → nothing lost', async () => {
    const spec = webSpec({ start_ms: T0 + 71_000, elapsed_ms: 172.5 });
    const c = capture(spec);
    for (const s of c.children.slice().reverse()) await exportSpans(json, [s]);
    await exportSpans(json, [c.root]);
    const got = await waitForTxByTrace(srv, service, c.em.traceId, expectedSteps(spec, c.em).length);
    check(spec, c.em, got);
  });

  it('root first, then a late child → the child joins the transaction', async () => {
    const spec = webSpec({ start_ms: T0 + 72_000, elapsed_ms: 173.5 });
    const c = capture(spec);
    const late = c.children.find((s) => s.name === 'SELECT comments'); // the nested SQL
    await exportSpans(proto, c.spans.filter((s) => s !== late));
    const first = await waitForTxByTrace(srv, service, c.em.traceId, 3);
    assert.ok(first.detail.steps.length >= 3);
    await sleep(500);
    await exportSpans(proto, [late]);
    const got = await waitForTxByTrace(srv, service, c.em.traceId, expectedSteps(spec, c.em).length);
    check(spec, c.em, got);
  });

  it('the same spans exported twice (and once more over gRPC) are stored once', async () => {
    const spec = webSpec({ start_ms: T0 + 73_000, elapsed_ms: 174.5 });
    const c = capture(spec);
    await exportSpans(json, c.spans);
    await exportSpans(json, c.spans);
    const grpcEx = makeExporter('grpc', srv);
    try { await exportSpans(grpcEx, c.spans); } finally { await grpcEx.shutdown(); }
    const got = await waitForTxByTrace(srv, service, c.em.traceId, expectedSteps(spec, c.em).length);
    await sleep(500); // let any duplicate land
    const again = await waitForTxByTrace(srv, service, c.em.traceId, 0);
    check(spec, c.em, { row: again.row, detail: again.detail });
    assert.equal(again.row.id, got.row.id);
    const all = (await listTx(srv, { service })).transactions.filter((r) => r.trace_id === c.em.traceId);
    assert.equal(all.length, 1, `stored ${all.length} times`);
  });
});

// ---------------------------------------------------------------------------
// Aggregates on a server of their own so totals are exact.
describe('queries over a known data set', () => {
  let agg;
  const E_A = [5.25, 8.5, 12.75, 15, 20.125, 25, 30.5, 35, 42, 50, 50, 60.25, 70, 80, 95.5, 120, 150, 200, 300, 300];
  const E_B = [11.5, 22.25, 33, 44.75, 55, 66.125];
  const rows = []; // what was sent: {service, instance, endpoint, elapsed, end, error, user, client_ip, traceId}
  let from;
  let to;
  const it2 = (name, fn) => test(name, { timeout: 60_000 }, (t) => withServerLog(agg, () => fn(t)));
  const list = (params) => agg.api('/api/v1/transactions', { from, to, limit: 10000, ...params });

  before(async () => {
    agg = await startServer();
    const a = makeClient(agg, { protocol: 'json', service: 'svc-a', instance: 'a-1', host: 'host-a' });
    const b = makeClient(agg, { protocol: 'grpc', service: 'svc-b', instance: 'b-1', host: 'host-b' });
    const endBase = roundUs(Date.now() - 90_000);
    const errorsA = new Set([14, 19]); // 95.5 and one 300
    E_A.forEach((e, i) => {
      const end = endBase + i * 1000 + 0.5;
      const spec = {
        start_ms: roundUs(end - e), elapsed_ms: e, method: 'GET', route: '/api/items/{id}', path: `/api/items/${i}`,
        status: errorsA.has(i) ? 500 : 200, error: errorsA.has(i), user: i % 2 ? 'bob' : 'alice', client_ip: `10.1.0.${i % 4}`,
      };
      const em = emitTransaction(a.tracer, spec);
      rows.push({ service: 'svc-a', instance: 'a-1', endpoint: 'GET /api/items/{id}', elapsed: e, end, error: spec.error, user: spec.user, client_ip: spec.client_ip, traceId: em.traceId });
    });
    E_B.forEach((e, i) => {
      const end = endBase + i * 1500 + 0.25;
      const spec = {
        start_ms: roundUs(end - e), elapsed_ms: e, method: 'POST', route: '/api/orders', path: '/api/orders',
        status: i === 3 ? 503 : 201, error: i === 3, user: 'carol', client_ip: '10.2.0.1',
        children: [{ type: 'sql', name: 'INSERT orders', offset_ms: 1, elapsed_ms: 5.5, sql: 'INSERT INTO orders VALUES ($1)', db_system: 'postgresql' }],
      };
      const em = emitTransaction(b.tracer, spec);
      rows.push({ service: 'svc-b', instance: 'b-1', endpoint: 'POST /api/orders', elapsed: e, end, error: spec.error, user: 'carol', client_ip: '10.2.0.1', traceId: em.traceId });
    });
    await Promise.all([a.flush(), b.flush()]);
    await Promise.all([a.shutdown(), b.shutdown()]);
    from = Math.floor(endBase - 60_000);
    to = Math.ceil(Date.now() + 60_000);
    await poll(() => list({}), (x) => x.transactions?.length >= rows.length, POLL);
  });
  after(async () => { await agg?.stop(); });

  const ids = (txs) => txs.map((t) => t.trace_id).sort();
  const want = (pred) => rows.filter(pred).map((r) => r.traceId).sort();

  it2('transactions filters: service, instance, endpoint, min_ms, max_ms, error, user, client_ip', async () => {
    const cases = [
      [{}, () => true],
      [{ service: 'svc-b' }, (r) => r.service === 'svc-b'],
      [{ instance: 'a-1' }, (r) => r.instance === 'a-1'],
      [{ endpoint: 'POST /api/orders' }, (r) => r.endpoint === 'POST /api/orders'],
      [{ min_ms: 100 }, (r) => r.elapsed >= 100],
      [{ max_ms: 20 }, (r) => r.elapsed <= 20],
      [{ min_ms: 40, max_ms: 60 }, (r) => r.elapsed >= 40 && r.elapsed <= 60],
      [{ error: 1 }, (r) => r.error],
      [{ user: 'bob' }, (r) => r.user === 'bob'],
      [{ client_ip: '10.1.0.3' }, (r) => r.client_ip === '10.1.0.3'],
      [{ service: 'svc-a', error: 1 }, (r) => r.service === 'svc-a' && r.error],
      [{ service: 'svc-a', user: 'alice', min_ms: 30 }, (r) => r.service === 'svc-a' && r.user === 'alice' && r.elapsed >= 30],
    ];
    const problems = [];
    for (const [params, pred] of cases) {
      const body = await list(params);
      const got = ids(body.transactions);
      const exp = want(pred);
      if (JSON.stringify(got) !== JSON.stringify(exp)) problems.push(`${JSON.stringify(params)}: got ${got.length} rows, want ${exp.length}`);
      if (body.truncated !== false) problems.push(`${JSON.stringify(params)}: truncated ${body.truncated}`);
    }
    assert.deepEqual(problems, []);
  });

  it2('transactions limit + truncated, sort=slowest and sort=newest', async () => {
    const l5 = await list({ limit: 5 });
    assert.equal(l5.transactions.length, 5);
    assert.equal(l5.truncated, true);
    const lAll = await list({ limit: rows.length });
    assert.equal(lAll.transactions.length, rows.length);
    assert.equal(lAll.truncated, false);
    const slow = await list({ sort: 'slowest', limit: 3 });
    assert.deepEqual(slow.transactions.map((t) => t.elapsed_ms), [300, 300, 200]);
    assert.equal(slow.truncated, true);
    const newest = await list({ sort: 'newest' });
    const ends = newest.transactions.map((t) => t.end_ms);
    assert.deepEqual(ends, ends.slice().sort((x, y) => y - x), 'newest first');
  });

  it2('series: tps sums to the count sent, group_by=service gives both services', async () => {
    const problems = [];
    const nErr = rows.filter((r) => r.error).length;
    // tps is per second averaged over the bucket: Σ values × step = transactions.
    for (const step of [60, 3600]) {
      const tps = await agg.api('/api/v1/series', { from, to, metric: 'tps', step });
      if (tps.metric !== 'tps') problems.push(`step=${step}: metric ${tps.metric}`);
      if (tps.step_ms !== step * 1000) problems.push(`step=${step}: step_ms ${tps.step_ms}`);
      if (tps.series?.length !== 1) { problems.push(`step=${step}: ${tps.series?.length} lines`); continue; }
      const total = sum(tps.series[0].values) * step;
      if (!(Math.abs(total - rows.length) < 1e-6)) problems.push(`step=${step}: Σ tps × ${step} s = ${total}, want ${rows.length} (values ${JSON.stringify(tps.series[0].values)})`);
    }
    const count = await agg.api('/api/v1/series', { from, to, metric: 'count', step: 60 });
    if (sum(count.series[0].values) !== rows.length) problems.push(`count: Σ ${sum(count.series[0].values)}, want ${rows.length}`);
    const errors = await agg.api('/api/v1/series', { from, to, metric: 'errors', step: 60 });
    if (sum(errors.series[0].values) !== nErr) problems.push(`errors: Σ ${sum(errors.series[0].values)}, want ${nErr}`);

    const byService = await agg.api('/api/v1/series', { from, to, metric: 'tps', step: 60, group_by: 'service' });
    const keys = byService.series.map((s) => s.key).sort();
    if (JSON.stringify(keys) !== JSON.stringify(['svc-a', 'svc-b'])) problems.push(`group_by=service keys ${JSON.stringify(keys)}`);
    for (const s of byService.series) {
      const n = sum(s.values) * 60;
      const expN = rows.filter((r) => r.service === s.key).length;
      if (!(Math.abs(n - expN) < 1e-6)) problems.push(`group_by=service ${s.key}: Σ tps × 60 = ${n}, want ${expN} (values ${JSON.stringify(s.values)})`);
    }
    // Every line covers the same buckets, covering the range.
    const lens = [...new Set(byService.series.map((s) => s.values.length))];
    if (lens.length !== 1) problems.push(`lines of different lengths ${lens}`);
    else if (!(byService.from_ms <= from && byService.from_ms + byService.step_ms * lens[0] >= to - byService.step_ms)) {
      problems.push(`buckets do not cover [from, to): ${JSON.stringify({ from_ms: byService.from_ms, step_ms: byService.step_ms, n: lens[0], from, to })}`);
    }
    assert.deepEqual(problems, []);
  });

  it2('endpoints: count, errors, avg, max, p50/p95/p99 for a known set', async () => {
    const body = await agg.api('/api/v1/endpoints', { from, to });
    assert.ok(Array.isArray(body.endpoints), JSON.stringify(body));
    assert.deepEqual(body.endpoints.map((e) => `${e.service} ${e.endpoint}`), ['svc-a GET /api/items/{id}', 'svc-b POST /api/orders'],
      'endpoints, sorted by count descending');
    const [ea, eb] = body.endpoints;
    const avg = (xs) => sum(xs) / xs.length;
    assertFields(ea, { count: 20, errors: 2, avg_ms: avg(E_A), max_ms: 300 }, 'svc-a endpoint');
    assert.ok(near(ea.error_rate, 10) || near(ea.error_rate, 0.1), `error_rate ${ea.error_rate}, want 10 (%)`);
    // Quantiles may come from histograms: allow 5 %. The set is built so that
    // every exact definition (nearest rank, interpolation) gives 50 / 300 / 300.
    assertClose(ea.p50_ms, 50, 0.05, 'svc-a p50_ms');
    assertClose(ea.p95_ms, 300, 0.05, 'svc-a p95_ms');
    assertClose(ea.p99_ms, 300, 0.05, 'svc-a p99_ms');
    assertFields(eb, { count: 6, errors: 1, avg_ms: avg(E_B), max_ms: 66.125, avg_sql_ms: 5.5 }, 'svc-b endpoint');
    assert.ok(near(eb.avg_sql_count, 1), `svc-b avg_sql_count ${eb.avg_sql_count}, want 1`);
    assert.ok(near(ea.avg_sql_count, 0), `svc-a avg_sql_count ${ea.avg_sql_count}, want 0`);
  });

  it2('xview: exact points are the transactions sent; max_points smaller → bins summing to the total', async () => {
    const listed = (await list({})).transactions;
    const byTrace = new Map(rows.map((r) => [r.traceId, r]));
    const idToRow = new Map(listed.map((t) => [t.id, byTrace.get(t.trace_id)]));
    const xv = await agg.api('/api/v1/xview', { from, to });
    assert.equal(xv.total, rows.length);
    assert.equal(xv.binned, false);
    const p = xv.points;
    assert.equal(p.id.length, rows.length);
    for (const col of ['end_ms', 'elapsed_ms', 'error']) assert.equal(p[col].length, rows.length, `points.${col} length`);
    const problems = [];
    p.id.forEach((id, i) => {
      const r = idToRow.get(id);
      if (!r) { problems.push(`unknown id ${id}`); return; }
      if (!near(p.elapsed_ms[i], r.elapsed)) problems.push(`${id}: elapsed ${p.elapsed_ms[i]} want ${r.elapsed}`);
      if (!near(p.end_ms[i], r.end)) problems.push(`${id}: end ${p.end_ms[i]} want ${r.end}`);
      if (Number(p.error[i]) !== (r.error ? 1 : 0)) problems.push(`${id}: error ${p.error[i]} want ${r.error ? 1 : 0}`);
    });
    assert.equal(new Set(p.id).size, rows.length, 'duplicate ids in points');
    assert.deepEqual(problems, []);

    const bx = await agg.api('/api/v1/xview', { from, to, max_points: 10, x_bins: 20, y_bins: 10 });
    assert.equal(bx.total, rows.length);
    assert.equal(bx.binned, true);
    assert.equal(bx.bins.x_bins, 20);
    assert.equal(bx.bins.y_bins, 10);
    assert.equal(bx.bins.count.length, 200);
    assert.equal(bx.bins.errors.length, 200);
    assert.equal(sum(bx.bins.count), rows.length, 'bin counts sum to the total');
    assert.equal(sum(bx.bins.errors), rows.filter((r) => r.error).length, 'bin errors sum to the errors');
    assert.ok(bx.bins.y_min_ms > 0 && bx.bins.y_min_ms <= 5.25 && bx.bins.y_max_ms >= 300, `y range ${bx.bins.y_min_ms}..${bx.bins.y_max_ms}`);
  });

  it2('instances: both instances, up', async () => {
    const body = await agg.api('/api/v1/instances');
    const inst = body.instances.slice().sort((x, y) => x.instance.localeCompare(y.instance));
    assert.deepEqual(inst.map((i) => [i.service, i.instance, i.host, i.up]), [['svc-a', 'a-1', 'host-a', true], ['svc-b', 'b-1', 'host-b', true]]);
    for (const i of inst) {
      assert.ok(i.first_seen_ms <= i.last_seen_ms, JSON.stringify(i));
      assert.ok(Math.abs(i.last_seen_ms - Date.now()) < 120_000, `last_seen_ms ${i.last_seen_ms}`);
    }
  });
});

// ---------------------------------------------------------------------------
it('live WebSocket delivers a new transaction within 2 s of the acknowledged export', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${srv.httpPort}/api/v1/live?token=${encodeURIComponent(srv.token)}`);
  const frames = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    let f;
    try { f = JSON.parse(data.toString()); } catch { f = { unparsable: data.toString().slice(0, 200), isBinary }; }
    frames.push({ at: Date.now(), f });
    for (const w of waiters.splice(0)) w();
  });
  const opened = new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
  const waitFrame = async (pred, deadline) => {
    for (;;) {
      const hit = frames.find(pred);
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise((r) => { waiters.push(r); setTimeout(r, left); });
    }
  };
  try {
    await opened;
    const first = await waitFrame(({ f }) => f.type === 'tick', Date.now() + 3000);
    assert.ok(first, 'no tick frame within 3 s of connecting');
    assert.equal(first.f.type, 'tick', `first frame: ${JSON.stringify(first.f).slice(0, 500)}`);
    for (const k of ['t_ms', 'tps', 'today_calls']) assert.equal(typeof first.f[k], 'number', `tick.${k}: ${JSON.stringify(first.f).slice(0, 500)}`);
    assert.ok(first.f.points && Array.isArray(first.f.points.id), 'tick.points.id');

    const client = makeClient(srv, { protocol: 'proto', service: 'live-svc', instance: 'live-1', host: 'live-host' });
    const elapsed = 123.457;
    const end = nowMs();
    const spec = { start_ms: roundUs(end - elapsed), elapsed_ms: elapsed, method: 'GET', route: '/live/{x}', path: '/live/1', status: 200 };
    emitTransaction(client.tracer, spec);
    const ackAt = await client.flush();
    await client.shutdown();

    // Dots come in 'points' frames between ticks, or in the tick itself.
    const hit = await waitFrame(({ f }) => (f.type === 'tick' || f.type === 'points') && f.points?.elapsed_ms?.some((e, i) => near(e, elapsed) && near(f.points.end_ms[i], end, 1)),
      ackAt + 5000);
    assert.ok(hit, `no frame carried the transaction (elapsed ${elapsed}) within 5 s; frames since: ${JSON.stringify(frames.slice(-4).map((x) => x.f)).slice(0, 2000)}`);
    const latency = hit.at - ackAt;
    // A functional bound with slack for a loaded CI machine; the 1 s p99 budget is measured by bench/live_latency.mjs.
    assert.ok(latency <= 2000, `the point arrived ${latency} ms after the export was acknowledged (limit 2000)`);
    const idx = hit.f.points.elapsed_ms.findIndex((e) => near(e, elapsed));
    const listed = await waitForCount(srv, { service: 'live-svc' }, 1);
    assert.equal(hit.f.points.id[idx], listed.transactions[0].id, 'live point id = transaction id');
  } finally {
    ws.terminate();
  }
});

// ---------------------------------------------------------------------------
it('unknown project → 404 not_found', async () => {
  const r = await srv.apiRaw('/api/v1/transactions', { project: 'no-such-project' });
  assertApiError(r, 404, 'not_found', 'project=no-such-project');
});

it('isolation: a second project\'s token cannot see the first project\'s data', async (t) => {
  // docs/api.md has no way to create a project or token. Probe the obvious
  // candidate so the test starts running when one is added.
  const probe = await srv.apiRaw('/api/v1/projects', {}, {
    method: 'POST', body: JSON.stringify({ name: 'second' }), headers: { 'content-type': 'application/json' },
  });
  const p = probe.json;
  if (probe.status !== 200 && probe.status !== 201 || !p?.ingest_key || !p?.api_token) {
    t.skip(`the API offers no way to create a second project with its own token (docs/api.md has none; POST /api/v1/projects → ${probe.status})`);
    return;
  }
  const other = { ...srv, token: p.api_token, ingestKey: p.ingest_key };
  const c = makeClient(other, { protocol: 'proto', service: 'second-svc', instance: 'second-1' });
  emitTransaction(c.tracer, { start_ms: nowMs() - 100, elapsed_ms: 50, method: 'GET', route: '/second', path: '/second', status: 200 });
  await c.flush();
  await c.shutdown();
  const own = await poll(() => srv.api('/api/v1/transactions', { project: 'second', ...range() }, { token: p.api_token }), (x) => x.transactions?.length >= 1, POLL);
  assert.equal(own.transactions.length, 1);
  assert.ok(own.transactions.every((r) => r.service === 'second-svc'));
  const r = await srv.apiRaw('/api/v1/transactions', { project: 'default', ...range() }, { token: p.api_token });
  assertApiError(r, 404, 'not_found', 'second token asking for project=default');
  const projects = await srv.api('/api/v1/projects', {}, { token: p.api_token });
  assert.deepEqual(projects.projects.map((x) => x.name), ['second']);
});

// ---------------------------------------------------------------------------
it('SIGTERM → exit code 0; a restart on the same data dir still has the data', async () => {
  const before = (await listTx(srv, { service: 'shop-proto' })).transactions.map((x) => x.id).sort();
  assert.equal(before.length, 4);
  const r = await srv.stop({ keepData: true });
  assert.equal(r.timedOut, false, 'did not exit within 10 s of SIGTERM');
  assert.equal(r.signal, null, `killed by ${r.signal}`);
  assert.equal(r.code, 0, `exit code ${r.code}`);
  assert.match(srv.output(), /\bstore embedded\b/, 'the durable embedded store is the default');
  const again = await startServer({ dataDir: srv.dataDir, credentials: srv.credentials });
  try {
    const after = (await listTx(again, { service: 'shop-proto' })).transactions.map((x) => x.id).sort();
    assert.deepEqual(after, before, 'transactions acknowledged before SIGTERM are there after restart');
  } finally {
    const r2 = await again.stop();
    assert.equal(r2.code, 0, `restarted server exit code ${r2.code}`);
  }
});

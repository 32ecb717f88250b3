// The demo application (loupe-demo, instrumented with the C++ agent) against
// the real server: transactions of all three services with their SQL and
// external steps, a checkout trace shop -> orders -> payment, the faults as an
// APM user would see them, active snapshots, active-stack samples and
// throttling rejections.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, poll, sleep, withServerLog } from './lib/server.mjs';
import { startDemo } from './lib/demo.mjs';

let srv;
let demo;

before(async () => {
  srv = await startServer();
  demo = await startDemo({
    otlp: srv.otlpHttpBase,
    key: srv.ingestKey,
    args: ['--tps', '25', '--rhythm', 'flat', '--fault-schedule', 'none', '--seed', '42'],
  });
});

after(async () => {
  if (demo) {
    const r = await demo.stop();
    assert.equal(r.timedOut, false, 'loupe-demo did not stop within 20 s of SIGTERM');
    assert.equal(r.code, 0, `loupe-demo exit: ${JSON.stringify(r)}\n${demo.output().slice(-4000)}`);
  }
  if (srv) await srv.stop();
});

const withLogs = (fn) => async () => {
  try {
    await withServerLog(srv, fn);
  } catch (err) {
    err.message += `\n----- loupe-demo output (tail) -----\n${demo?.output().slice(-4000)}`;
    throw err;
  }
};

async function putConfig(config) {
  const r = await srv.apiRaw('/api/v1/agent-config', {}, { method: 'PUT', body: JSON.stringify(config), headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 200, `PUT /api/v1/agent-config: ${r.status} ${r.text}`);
  return r.json;
}

const txList = (params) => srv.api('/api/v1/transactions', { limit: 2000, ...params }).then((b) => b.transactions);
const txOne = (id) => srv.api(`/api/v1/transactions/${id}`);

// The SQL bind values of a step, as the API maps them from the agent's
// `loupe.sql.binds` array (the raw attribute must not be repeated).
function bindsOf(step) {
  assert.equal(step.attributes?.['loupe.sql.binds'], undefined, 'loupe.sql.binds is mapped into binds');
  assert.ok(Array.isArray(step.binds), 'step.binds is an array');
  return step.binds;
}

// Finds the one transaction a request with this unique client IP made.
async function txByIp(ip, service, want = 1) {
  const list = await poll(() => txList({ client_ip: ip, service }), (l) => l.length >= want, { timeoutMs: 10000 });
  assert.ok(list.length >= want, `no ${service} transaction from ${ip} within 10 s`);
  return list;
}

test('transactions of all three services arrive with their profiles', withLogs(async () => {
  await putConfig({
    active_stack: { threshold_ms: 200, interval_ms: 500 },
    profiling: { methods: ['shop::*', 'orders::*', 'payment::*'] },
  });
  // A product page with a known user and client IP.
  const page = await demo.request(demo.shop, '/products/42', { user: 'u-7', ip: '203.0.113.42' });
  assert.equal(page.status, 200, page.text);
  const [tx] = await txByIp('203.0.113.42', 'shop');
  assert.equal(tx.endpoint, 'GET /products/{id}');
  assert.equal(tx.user, 'u-7');
  assert.equal(tx.status, 200);
  assert.equal(tx.error, false);
  assert.equal(tx.instance, 'shop-1');
  const full = await txOne(tx.id);
  const sql = full.steps.filter((s) => s.kind === 'sql');
  assert.ok(sql.length >= 4, `expected >= 4 SQL steps, got ${JSON.stringify(full.steps.map((s) => s.kind + ' ' + s.name))}`);
  const byId = sql.find((s) => s.sql === 'SELECT id, name, price, category, description FROM products WHERE id = ?');
  assert.ok(byId, `no product lookup among ${JSON.stringify(sql.map((s) => s.sql))}`);
  assert.equal(byId.db_system, 'sqlite');
  assert.deepEqual(bindsOf(byId), ['42']);
  assert.equal(tx.sql_count, sql.length);
  const stock = full.steps.find((s) => s.kind === 'method' && s.name === 'shop::ReadStock');
  assert.ok(stock, 'the shop::ReadStock method step is missing');
  assert.ok(full.steps.some((s) => s.kind === 'sql' && s.parent_span_id === stock.span_id && s.sql.includes('FROM inventory')),
    'the stock query is not nested in shop::ReadStock');

  // The generated traffic reaches every service.
  const services = await poll(async () => new Set((await txList({ limit: 5000 })).map((t) => t.service)),
    (s) => s.size === 3, { timeoutMs: 15000 });
  assert.deepEqual([...services].sort(), ['orders', 'payment', 'shop']);
}));

test('a checkout is one trace shop -> orders -> payment with external steps', withLogs(async () => {
  const r = await demo.request(demo.shop, '/checkout', { method: 'POST', body: 'items=3:1,9:2', user: 'u-11', ip: '203.0.113.11' });
  assert.ok(r.status === 201 || r.status === 402, `checkout: ${r.status} ${r.text}`);
  const [shopTx] = await txByIp('203.0.113.11', 'shop');
  assert.equal(shopTx.endpoint, 'POST /checkout');
  assert.equal(shopTx.external_count, 1);
  const trace = await poll(() => srv.api(`/api/v1/traces/${shopTx.trace_id}`), (t) => t.transactions.length >= 3, { timeoutMs: 10000 });
  const byService = Object.fromEntries(trace.transactions.map((t) => [t.service, t]));
  assert.deepEqual(Object.keys(byService).sort(), ['orders', 'payment', 'shop'], JSON.stringify(trace));
  assert.equal(byService.shop.parent_id ?? null, null);
  assert.equal(byService.orders.parent_id, byService.shop.id);
  assert.equal(byService.payment.parent_id, byService.orders.id);
  assert.equal(byService.orders.endpoint, 'POST /orders');
  assert.equal(byService.payment.endpoint, 'POST /payments');
  // User and client IP travel along.
  for (const t of trace.transactions) {
    assert.equal(t.user, 'u-11', `${t.service} user`);
    assert.equal(t.client_ip, '203.0.113.11', `${t.service} client_ip`);
  }
  const shopFull = await txOne(byService.shop.id);
  const ext = shopFull.steps.find((s) => s.kind === 'external');
  assert.equal(ext.url, `${demo.orders}/orders`);
  assert.equal(ext.http_status, r.status);
  // orders' step to payment contains payment's transaction in time.
  const ordersFull = await txOne(byService.orders.id);
  const toPayment = ordersFull.steps.find((s) => s.kind === 'external');
  assert.equal(toPayment.url, `${demo.payment}/payments`);
  assert.ok(toPayment.elapsed_ms >= byService.payment.elapsed_ms, 'the external step is shorter than the call it made');
  const inserts = ordersFull.steps.filter((s) => s.kind === 'sql' && s.sql.startsWith('INSERT INTO order_items'));
  assert.equal(inserts.length, 2);
  assert.deepEqual(bindsOf(inserts[0]).slice(1, 3), ['3', '1']);
}));

test('faults: slow SQL, N+1, external timeout, errors, and a lock ending many requests together', withLogs(async () => {
  await demo.fault('slow_sql', 1);
  await demo.fault('n_plus_one', 1);
  await demo.fault('external_timeout', 1);
  await demo.fault('lock', 1);
  const t0 = Date.now();
  const [search, account, checkout] = await Promise.all([
    demo.request(demo.shop, '/search?q=lamp', { ip: '203.0.113.21' }),
    demo.request(demo.shop, '/account', { user: 'u-22', ip: '203.0.113.22' }),
    demo.request(demo.shop, '/checkout', { method: 'POST', body: 'items=5:1', user: 'u-23', ip: '203.0.113.23' }),
  ]);
  assert.equal(search.status, 200);
  assert.ok(search.ms >= 1400, `slow search took only ${search.ms} ms`);
  assert.equal(account.status, 200);
  assert.equal(checkout.status, 502, `checkout with a hanging payment: ${checkout.status} ${checkout.text}`);

  const [searchTx] = await txByIp('203.0.113.21', 'shop');
  const slow = (await txOne(searchTx.id)).steps.find((s) => s.kind === 'sql' && s.sql.includes('sleep_ms'));
  assert.ok(slow && slow.elapsed_ms >= 1400, `slow SQL step: ${JSON.stringify(slow)}`);
  assert.equal(bindsOf(slow)[0], '%lamp%');

  const [history] = await txByIp('203.0.113.22', 'orders');
  assert.equal(history.endpoint, 'GET /customers/{id}/orders');
  assert.ok(history.sql_count > 20, `N+1: only ${history.sql_count} statements`);

  const [ordersTx] = await txByIp('203.0.113.23', 'orders');
  assert.equal(ordersTx.status, 504);
  assert.equal(ordersTx.error, true);
  assert.ok(ordersTx.elapsed_ms >= 2900 && ordersTx.elapsed_ms < 6000, `orders gave up after ${ordersTx.elapsed_ms} ms`);
  const timeoutStep = (await txOne(ordersTx.id)).steps.find((s) => s.kind === 'external');
  assert.equal(timeoutStep.error, true);

  // The lock: the inventory job holds it 3-5 s; requests waiting on it end
  // within a moment of each other (a vertical line on the X-View).
  const line = await poll(async () => {
    const l = await txList({ service: 'shop', from: t0, min_ms: 1500 });
    const ends = l.filter((t) => t.endpoint !== 'GET /search' && t.endpoint !== 'POST /checkout').map((t) => t.end_ms).sort((a, b) => a - b);
    let best = 0;
    for (let i = 0, j = 0; j < ends.length; j++) {
      while (ends[j] - ends[i] > 250) i++;
      best = Math.max(best, j - i + 1);
    }
    return best;
  }, (n) => n >= 5, { timeoutMs: 20000, intervalMs: 500 });
  assert.ok(line >= 5, `only ${line} slow shop transactions ended within 250 ms of each other`);
  const job = await txList({ service: 'shop', endpoint: 'JOB inventory-sync', from: t0 });
  assert.ok(job.length >= 1 && job[0].elapsed_ms >= 2900, `inventory job: ${JSON.stringify(job)}`);

  for (const f of ['slow_sql', 'n_plus_one', 'external_timeout', 'lock']) await demo.fault(f, 0);

  await demo.fault('error_burst', 1);
  const errs = [];
  for (let i = 0; i < 20; i++) errs.push(await demo.request(demo.shop, '/', { ip: `203.0.113.${100 + i}` }));
  await demo.fault('error_burst', 0);
  const failed = errs.filter((r) => r.status === 500);
  assert.ok(failed.length >= 2, `error_burst: ${failed.length}/20 failed`);
  const errTx = await poll(() => txList({ service: 'shop', error: 1, from: t0 }),
    (l) => l.some((t) => t.error_type === 'TemplateError'), { timeoutMs: 10000 });
  const te = errTx.find((t) => t.error_type === 'TemplateError');
  assert.ok(te, `no TemplateError among ${JSON.stringify(errTx.map((t) => t.error_type))}`);
  assert.equal(te.status, 500);
  const withStack = (await txOne(te.id)).steps.find((s) => s.kind === 'error');
  assert.ok(withStack && /RenderTemplate/.test(withStack.stack), `error step with a stack: ${JSON.stringify(withStack)}`);
}));

test('active snapshots and active-stack samples show the hot logging frame', withLogs(async () => {
  await demo.fault('hot_logging', 1);
  const from = Date.now() + 1000; // samples of earlier tests' faults are not of interest
  try {
    const active = await poll(() => srv.api('/api/v1/active', { service: 'shop' }),
      (b) => b.instances.some((i) => i.instance === 'shop-1' && i.active.some((a) => a.elapsed_ms > 300)),
      { timeoutMs: 15000, intervalMs: 250 });
    const inst = active.instances.find((i) => i.instance === 'shop-1');
    assert.ok(inst, `no shop-1 in ${JSON.stringify(active).slice(0, 2000)}`);
    const a = inst.active.find((x) => x.elapsed_ms > 300);
    assert.ok(a, `no long active transaction: ${JSON.stringify(inst).slice(0, 2000)}`);
    assert.match(a.id, /^[0-9a-f]{16}$/);
    assert.match(a.trace_id, /^[0-9a-f]{32}$/);
    assert.ok(a.endpoint.startsWith('GET ') || a.endpoint.startsWith('POST ') || a.endpoint.startsWith('JOB '), a.endpoint);
    assert.ok(a.step.length > 0, `active transaction without a current step: ${JSON.stringify(a)}`);

    const stacks = await poll(() => srv.api('/api/v1/active-stack', { service: 'shop', from }),
      (b) => b.frames.some((f) => f.frame.includes('shop::AuditLog')), { timeoutMs: 15000, intervalMs: 500 });
    const audit = stacks.frames.find((f) => f.frame.includes('shop::AuditLog'));
    assert.ok(audit, `no shop::AuditLog frame in ${JSON.stringify(stacks).slice(0, 2000)}`);
    assert.ok(audit.share > 20, `shop::AuditLog holds only ${audit.share}% of ${stacks.samples} samples`);
    // The demo turns native frames on: function names of the sampled thread
    // (it links with -rdynamic), below the steps.
    const native = stacks.frames.filter((f) => f.frame.startsWith('native '));
    assert.ok(native.some((f) => /demo::/.test(f.frame)),
      `no native demo frame among ${JSON.stringify(stacks.frames.map((f) => f.frame)).slice(0, 3000)}`);
  } finally {
    await demo.fault('hot_logging', 0);
  }
}));

test('throttling rejects checkouts over the limit and Loupe shows the rejections', withLogs(async () => {
  const t0 = Date.now();
  await putConfig({
    active_stack: { threshold_ms: 200, interval_ms: 500 },
    throttle: { enabled: true, max_active: 1000, action: 'reject', endpoints: { 'POST /checkout': 2 } },
  });
  // Each checkout takes ~3 s with a hanging payment: bursts of 8 exceed the
  // limit of 2 once the agent has the configuration (within about a second).
  await demo.fault('external_timeout', 1);
  await demo.fault('surge', 1);
  let rejected = 0;
  try {
    for (let round = 0; round < 6 && rejected === 0; round++) {
      const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => demo.request(demo.shop, '/checkout',
        { method: 'POST', body: `items=${i + 1}:1`, user: `u-${30 + i}`, ip: `203.0.113.${200 + i}` })));
      rejected = rs.filter((r) => r.status === 503).length;
    }
  } finally {
    await demo.fault('external_timeout', 0);
    await demo.fault('surge', 0);
  }
  assert.ok(rejected >= 1, 'no checkout was rejected with 503');
  const stats = await demo.agentStats();
  assert.ok(stats.throttled >= rejected, `agent counted ${stats.throttled} throttled, the client saw ${rejected}`);

  const events = await poll(() => srv.api('/api/v1/events', { type: 'THROTTLED', from: t0 }),
    (b) => b.events.some((e) => e.service === 'shop'), { timeoutMs: 10000 });
  const ev = events.events.find((e) => e.service === 'shop');
  assert.ok(ev, `no throttle event: ${JSON.stringify(events)}`);
  assert.equal(ev.type, 'THROTTLED');
  assert.equal(ev.endpoint, 'POST /checkout');

  const rejectedTx = await poll(() => txList({ service: 'shop', endpoint: 'POST /checkout', error: 1, from: t0 }),
    (l) => l.some((t) => t.status === 503), { timeoutMs: 10000 });
  assert.ok(rejectedTx.some((t) => t.status === 503), `no 503 checkout transaction: ${JSON.stringify(rejectedTx.map((t) => t.status))}`);

  // On the X-View a rejection is a red dot at (almost) zero elapsed time.
  const rej = rejectedTx.find((t) => t.status === 503);
  const xv = await srv.api('/api/v1/xview', { service: 'shop', endpoint: 'POST /checkout', from: t0, to: Date.now() + 1000 });
  assert.equal(xv.binned, false);
  const at = xv.points.id.indexOf(rej.id);
  assert.ok(at >= 0, `rejected checkout ${rej.id} is not on the X-View (${xv.total} points)`);
  assert.equal(xv.points.error[at], 1, 'a rejected checkout is an error dot');
  assert.ok(xv.points.elapsed_ms[at] < 50, `rejected checkout took ${xv.points.elapsed_ms[at]} ms`);

  // Back to no throttling.
  await putConfig({ active_stack: { threshold_ms: 200, interval_ms: 500 } });
}));

test('a configuration change reaches every agent within 5 s; an instance limit redirects to the static page', withLogs(async () => {
  const t0 = Date.now();
  // Profiling off (no patterns), no throttling.
  const put = await putConfig({ active_stack: { threshold_ms: 200, interval_ms: 500 } });
  assert.ok(put.version > 0, `PUT answered ${JSON.stringify(put)}`);
  // The promise: applied within 5 s, without a restart. Each agent
  // learns the new version from its next snapshot's answer (every second).
  const tPut = Date.now();
  for (const base of [demo.shop, demo.orders, demo.payment]) {
    const s = await poll(() => demo.agentStats(base), (x) => x.config_version >= put.version,
      { timeoutMs: Math.max(0, tPut + 5000 - Date.now()), intervalMs: 100 });
    assert.ok(s.config_version >= put.version,
      `${s.service} still has configuration ${s.config_version}, not ${put.version}, 5 s after the change`);
  }

  // The shop::Home probe (LOUPE_METHOD) records nothing; SQL steps still come.
  const home = await homeSteps(tPut, 60);
  assert.ok(home.some((x) => x.startsWith('sql ')), `no SQL steps: ${home}`);
  assert.ok(!home.includes('method shop::Home'), `shop::Home recorded with profiling off: ${home}`);

  const thr = await putConfig({
    active_stack: { threshold_ms: 200, interval_ms: 500 },
    throttle: { enabled: true, max_active: 2, action: 'redirect', redirect_url: '/busy.html' },
  });
  const st = await poll(() => demo.agentStats(demo.shop), (x) => x.config_version >= thr.version, { timeoutMs: 5000 });
  assert.ok(st.config_version >= thr.version, `shop has configuration ${st.config_version}, not ${thr.version}, 5 s after the change`);

  // No per-endpoint limit this time: the instance limit of 2 active
  // transactions redirects the excess of a burst of slow checkouts.
  await demo.fault('external_timeout', 1);
  let redirected = [];
  try {
    for (let round = 0; round < 6 && redirected.length === 0; round++) {
      const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => demo.request(demo.shop, '/checkout',
        { method: 'POST', body: `items=${i + 1}:1`, user: `u-${50 + i}`, ip: `203.0.113.${220 + i}` })));
      redirected = rs.filter((r) => r.status === 302);
      assert.ok(rs.every((r) => r.status !== 503), `redirect mode answered 503: ${rs.map((r) => r.status)}`);
    }
  } finally {
    await demo.fault('external_timeout', 0);
  }
  assert.ok(redirected.length >= 1, 'no checkout was redirected');
  assert.equal(redirected[0].headers.get('location'), '/busy.html');
  const busy = await demo.request(demo.shop, '/busy.html');
  assert.equal(busy.status, 200);
  assert.match(busy.text, /very busy/);

  const events = await poll(() => srv.api('/api/v1/events', { type: 'THROTTLED', from: t0 }),
    (b) => b.events.some((e) => e.service === 'shop' && e.endpoint === 'POST /checkout'), { timeoutMs: 10000 });
  assert.ok(events.events.some((e) => e.service === 'shop' && e.endpoint === 'POST /checkout'),
    `no throttle event for the redirects: ${JSON.stringify(events)}`);
  // A redirect is recorded as a zero-length 302 transaction, not an error.
  const tx = await poll(() => txList({ service: 'shop', endpoint: 'POST /checkout', from: t0 }),
    (l) => l.some((t) => t.status === 302), { timeoutMs: 10000 });
  const red = tx.find((t) => t.status === 302);
  assert.ok(red, `no 302 checkout transaction: ${JSON.stringify(tx.map((t) => t.status))}`);
  assert.equal(red.error, false);

  // Switched on at run time, without a restart: the probe records.
  const on = await putConfig({ active_stack: { threshold_ms: 200, interval_ms: 500 }, profiling: { methods: ['shop::*'] } });
  const tOn = Date.now();
  const s = await poll(() => demo.agentStats(demo.shop), (x) => x.config_version >= on.version, { timeoutMs: 5000 });
  assert.ok(s.config_version >= on.version, `shop has configuration ${s.config_version}, not ${on.version}, 5 s after the change`);
  const homeOn = await homeSteps(tOn, 70);
  assert.ok(homeOn.includes('method shop::Home'), `shop::Home not recorded with shop::* switched on: ${homeOn}`);

  await putConfig({ active_stack: { threshold_ms: 200, interval_ms: 500 } });
}));

// The steps ("kind name") of one GET / sent now with a fresh client IP
// (retried on another IP if throttling redirected it).
async function homeSteps(from, ipBase) {
  let page;
  let ip;
  for (let i = 0; i < 5 && page?.status !== 200; i++) {
    ip = `203.0.113.${ipBase + i}`;
    page = await demo.request(demo.shop, '/', { user: 'u-8', ip });
  }
  assert.equal(page.status, 200, page.text);
  const full = await poll(async () => {
    const t = (await txList({ service: 'shop', client_ip: ip, from }))[0];
    return t ? txOne(t.id) : null;
  }, (x) => x !== null, { timeoutMs: 10000 });
  assert.ok(full, `the GET / transaction from ${ip} did not arrive`);
  return full.steps.map((x) => `${x.kind} ${x.name}`);
}

test('loupe-demo keeps its agents healthy: nothing dropped, snapshots sent', withLogs(async () => {
  await sleep(1500);
  for (const base of [demo.shop, demo.orders, demo.payment]) {
    const s = await demo.agentStats(base);
    assert.ok(s.transactions > 0 && s.exported > 0, `${s.service}: ${JSON.stringify(s)}`);
    assert.equal(s.dropped_queue_full, 0, `${s.service}: ${JSON.stringify(s)}`);
    assert.equal(s.dropped_export, 0, `${s.service}: ${JSON.stringify(s)}`);
    assert.ok(s.snapshots_sent > 0, `${s.service}: no active snapshots sent: ${JSON.stringify(s)}`);
    assert.ok(s.config_version >= 2, `${s.service}: configuration version ${s.config_version}`);
  }
}));

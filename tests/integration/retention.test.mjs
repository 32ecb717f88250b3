// Retention and disk use end to end: the real binary with a one-second
// maintenance pass. Transactions 5 and 3 days old and from the last minute
// are sent over OTLP/HTTP (the assembler takes spans up to 7 days old); a
// retention of 2 days set through the API makes the old ones disappear from
// queries after the next pass, and /api/v1/storage and /metrics change with
// them. Old data sent afterwards is not stored again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';

import { startServer, poll, withServerLog, parsePrometheus } from './lib/server.mjs';
import { KIND, span, request, sendRequest, randomTraceId } from './lib/otlp_raw.mjs';

const DAY = 24 * 3600 * 1000;
const RESOURCE = { 'service.name': 'keep', 'service.instance.id': 'keep-1', 'host.name': 'keep-host' };

let srv;
let restartedDir; // the second server reuses the first one's directory: removed here
before(async () => {
  srv = await startServer({
    // One-second passes; checkpoints every second so data reaches segment files.
    args: ['--retention-interval-seconds', '1', '--checkpoint-seconds', '1'],
  });
});
after(async () => {
  await srv?.stop();
  if (restartedDir) rmSync(restartedDir, { recursive: true, force: true });
});

const it = (name, fn) => test(name, { timeout: 90_000 }, (t) => withServerLog(srv, () => fn(t)));

// n one-span transactions ending around endMs (spread over a few seconds).
function transactions(n, endMs, tag) {
  const spans = [];
  for (let i = 0; i < n; i++) {
    const end = endMs - i * 100;
    spans.push(span({
      traceId: randomTraceId(), name: `GET /${tag}`, kind: KIND.SERVER, startMs: end - 20, endMs: end,
      attrs: { 'http.request.method': 'GET', 'http.route': `/${tag}`, 'url.path': `/${tag}/${i}`, 'http.response.status_code': 200 },
    }));
  }
  return request({ resource: RESOURCE, spans });
}

async function send(req) {
  const r = await sendRequest(srv, req);
  assert.equal(r.status, 200, r.text);
}

const listAll = () => srv.api('/api/v1/transactions', {
  service: 'keep', from: Date.now() - 7 * DAY, to: Date.now() + 60_000, limit: 10000,
});

async function storage(project = 'default', token) {
  return (await srv.api('/api/v1/storage', { project }, token ? { token } : {})).projects[0];
}

function metric(text, name, labels = {}) {
  const { samples } = parsePrometheus(text);
  const s = samples.find((x) => x.name === name &&
    Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s ? Number(s.value) : undefined;
}

it('drops partitions past a retention set through the API; storage and metrics follow', async () => {
  const now = Date.now();
  await send(transactions(20, now - 5 * DAY, 'five-days'));
  await send(transactions(15, now - 3 * DAY, 'three-days'));
  await send(transactions(10, now - 60_000, 'recent'));
  const all = await poll(listAll, (b) => b.transactions.length === 45, { timeoutMs: 10_000 });
  assert.equal(all.transactions.length, 45);

  // Checkpoints write the memtables to segment files: disk use shows them.
  const full = await poll(() => storage(), (s) => s.disk_bytes > 0 && s.memtable_bytes === 0,
    { timeoutMs: 15_000 });
  assert.ok(full.disk_bytes > 0, JSON.stringify(full));
  assert.equal(full.partitions, 3);
  assert.ok(full.segments >= 3);
  assert.equal(full.retention_days, 31);
  assert.equal(full.rollup_retention_days, 400);
  assert.ok(Math.abs(full.oldest_ms - (now - 5 * DAY)) < 10_000, `oldest ${full.oldest_ms}`);
  assert.ok(full.newest_ms >= now - 61_000);
  let m = (await srv.metricsText()).text;
  assert.equal(metric(m, 'loupe_store_partitions', { project: 'default' }), 3);
  assert.equal(metric(m, 'loupe_store_disk_bytes', { project: 'default' }), full.disk_bytes);
  assert.ok(Math.abs(metric(m, 'loupe_store_oldest_data_seconds', { project: 'default' }) * 1000 -
    (now - 5 * DAY)) < 10_000);

  // A non-admin token may not change retention (404, as for a project it
  // cannot see) and sees only its own project's storage.
  const created = await srv.apiRaw('/api/v1/projects', {}, { method: 'POST', body: JSON.stringify({ name: 'tenant' }) });
  assert.equal(created.status, 201, created.text);
  const tenantToken = created.json.api_token;
  const denied = await srv.apiRaw('/api/v1/projects/default', {}, {
    method: 'PATCH', body: JSON.stringify({ retention_days: 2 }), token: tenantToken,
  });
  assert.equal(denied.status, 404, denied.text);
  const tenantView = await srv.api('/api/v1/storage', {}, { token: tenantToken });
  assert.deepEqual(tenantView.projects.map((p) => p.project), ['tenant']);
  assert.equal(tenantView.projects[0].disk_bytes, 0);
  const invalid = await srv.apiRaw('/api/v1/projects/default', {}, {
    method: 'PATCH', body: JSON.stringify({ retention_days: 500 }), // > rollups (400)
  });
  assert.equal(invalid.status, 400, invalid.text);

  // Two days: the 5- and 3-day-old partitions expire at the next pass.
  const patched = await srv.apiRaw('/api/v1/projects/default', {}, {
    method: 'PATCH', body: JSON.stringify({ retention_days: 2 }),
  });
  assert.equal(patched.status, 200, patched.text);
  assert.deepEqual(patched.json, { name: 'default', retention_days: 2, rollup_retention_days: 400 });
  const projects = await srv.api('/api/v1/projects');
  assert.equal(projects.projects.find((p) => p.name === 'default').retention_days, 2);

  const left = await poll(listAll, (b) => b.transactions.length === 10, { timeoutMs: 15_000 });
  assert.equal(left.transactions.length, 10);
  assert.ok(left.transactions.every((t) => t.endpoint === 'GET /recent'));
  const after = await poll(() => storage(), (s) => s.partitions === 1, { timeoutMs: 10_000 });
  assert.equal(after.partitions, 1);
  assert.ok(after.disk_bytes < full.disk_bytes, `${after.disk_bytes} < ${full.disk_bytes}`);
  assert.ok(after.oldest_ms >= now - 61_000, `oldest ${after.oldest_ms}`);
  assert.equal(after.retention_days, 2);
  m = (await srv.metricsText()).text;
  assert.equal(metric(m, 'loupe_store_partitions', { project: 'default' }), 1);
  assert.equal(metric(m, 'loupe_store_lifecycle', { event: 'partitions_dropped' }), 2);
  assert.equal(metric(m, 'loupe_store_disk_bytes', { project: 'default' }), after.disk_bytes);

  // Late data for the dropped days is acknowledged but not stored again.
  await send(transactions(5, Date.now() - 3 * DAY, 'too-late'));
  await send(transactions(1, Date.now() - 1000, 'marker'));
  await poll(listAll, (b) => b.transactions.some((t) => t.endpoint === 'GET /marker'), { timeoutMs: 10_000 });
  const final = await listAll();
  assert.equal(final.transactions.length, 11);
  assert.ok(!final.transactions.some((t) => t.endpoint === 'GET /too-late'));
  m = (await srv.metricsText()).text;
  assert.equal(metric(m, 'loupe_store_lifecycle', { event: 'expired_rejected' }), 5);
  assert.equal((await storage()).partitions, 1);
});

it('the retention setting survives a restart', async () => {
  const stopped = await srv.stop({ keepData: true });
  assert.equal(stopped.code, 0);
  const dataDir = srv.dataDir;
  restartedDir = dataDir;
  const credentials = srv.credentials;
  srv = await startServer({ dataDir, credentials, args: ['--retention-interval-seconds', '1'] });
  const projects = await srv.api('/api/v1/projects');
  assert.equal(projects.projects.find((p) => p.name === 'default').retention_days, 2);
  const s = await storage();
  assert.equal(s.partitions, 1);
  assert.equal((await listAll()).transactions.length, 11);
});

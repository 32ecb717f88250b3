// The instance cap (docs/operations.md, limits): the seed customer's 10,000
// servers over 50 services in one project all keep their names; the cap
// counts real instances only, and its figures are on GET /api/v1/instances
// and /metrics.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startServer, poll, withServerLog, parsePrometheus } from './lib/server.mjs';
import { KIND, span, request, sendRequest } from './lib/otlp_raw.mjs';

let srv;
before(async () => { srv = await startServer({ args: ['--max-instances-per-project', '10000'] }); });
after(async () => { await srv?.stop(); });
const it = (name, fn) => test(name, { timeout: 120_000 }, () => withServerLog(srv, fn));

const group = (service, instance, t) => ({
  resource: { 'service.name': service, 'service.instance.id': instance, 'host.name': instance },
  spans: [span({ name: 'GET /x', kind: KIND.SERVER, startMs: t - 5, endMs: t, attrs: { 'http.request.method': 'GET', 'http.route': '/x' } })],
});

it('10,000 instances over 50 services all keep their names with a cap of 10,000; the next one is (overflow)', async () => {
  const t = Date.now() - 2000;
  for (let b = 0; b < 10_000; b += 2000) {
    const groups = [];
    for (let i = b; i < b + 2000; i++) groups.push(group(`svc-${i % 50}`, `host-${i}`, t));
    const r = await sendRequest(srv, request(groups), { format: 'proto' });
    assert.equal(r.status, 200, r.text);
  }
  const cap = (body) => body.cap;
  let body = await poll(() => srv.api('/api/v1/instances'), (b) => b.instances.length >= 10_000, { timeoutMs: 20_000, intervalMs: 200 });
  assert.equal(body.instances.filter((i) => i.instance === '(overflow)').length, 0, 'no instance folded');
  assert.equal(body.instances.length, 10_000);
  assert.deepEqual(cap(body), { max_instances: 10_000, instances: 10_000, overflowed: 0 });

  const r = await sendRequest(srv, request([group('svc-7', 'host-10000', t)]), { format: 'proto' });
  assert.equal(r.status, 200, r.text);
  body = await poll(() => srv.api('/api/v1/instances'), (b) => b.cap.overflowed === 1, { timeoutMs: 5000 });
  assert.deepEqual(cap(body), { max_instances: 10_000, instances: 10_000, overflowed: 1 });
  assert.ok(body.instances.some((i) => i.service === 'svc-7' && i.instance === '(overflow)'));
  const m = parsePrometheus((await srv.metricsText()).text);
  const v = (name) => m.samples.find((s) => s.name === name && s.labels.project === 'default')?.value;
  assert.equal(v('loupe_assembler_instances'), 10_000);
  assert.equal(v('loupe_assembler_instance_cap'), 10_000);
  assert.equal(v('loupe_assembler_overflowed_instances'), 1);
  assert.equal(v('loupe_assembler_overflowed_instances_total'), 1);
  assert.equal(m.types.get('loupe_assembler_overflowed_instances_total'), 'counter');
});

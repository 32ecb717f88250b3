// Crash safety (issue 3 §5): heavy ingest, SIGKILL at a random moment, restart
// on the same data directory, and check that every acknowledged transaction
// and step is there exactly once. Several rounds on one data directory, so
// later rounds replay over segments, checkpoints and earlier recoveries.
//
// Each worker sends, per request, complete traces (root + 3 SQL steps) and the
// first half of a split trace (3 steps now, the root in its next request), so
// steps acknowledged before a crash must wait in the assembler — and so in the
// ingest log or a checkpoint — for a root that only arrives after the restart.
//
// LOUPE_CRASH_ROUNDS (default 6) sets the rounds; LOUPE_CRASH_SEED repeats one run.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

import { LOUPE_BIN, startServer } from './lib/server.mjs';
import { KIND, msToNs, postRaw, request, span, toProto, decodeExportResponse } from './lib/otlp_raw.mjs';

const ROUNDS = Number(process.env.LOUPE_CRASH_ROUNDS || 6);
let seed = Number(process.env.LOUPE_CRASH_SEED || Date.now() % 1_000_000);
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);

const hex = (n, width) => n.toString(16).padStart(width, '0');
const traceHex = (worker, seq) => hex(0x5a00 + worker, 16) + hex(seq, 16);
const ROOT = hex(1, 16);

function rootSpan(trace, now) {
  return span({
    traceId: trace, spanId: ROOT, name: 'GET /crash/{id}', kind: KIND.SERVER,
    startNs: msToNs(now - 40), endNs: msToNs(now),
    attrs: { 'http.request.method': 'GET', 'http.route': '/crash/{id}' },
  });
}
function stepSpans(trace, now) {
  return [0, 1, 2].map((i) => span({
    traceId: trace, spanId: hex(0x100 + i, 16), parentSpanId: ROOT, name: 'SELECT', kind: KIND.CLIENT,
    startNs: msToNs(now - 30 + i * 5), endNs: msToNs(now - 28 + i * 5),
    attrs: { 'db.system': 'sqlite', 'db.statement': `SELECT * FROM t${i} WHERE id = ?` },
  }));
}
const resource = { 'service.name': 'crash-svc', 'service.instance.id': 'crash-1' };

async function post(srv, spans) {
  const body = toProto(request({ resource, spans }));
  const r = await postRaw(srv.otlpHttpUrl, body, { key: srv.ingestKey, timeoutMs: 5000 });
  if (r.status !== 200) return false;
  const rejected = decodeExportResponse(r.body).rejectedSpans ?? 0;
  return Number(rejected) === 0;
}

// Runs workers until `stop.now`; records what was acknowledged.
async function load(srv, worker, state, stop) {
  let pendingSplit = null; // a split trace whose steps were acked, root not yet sent
  while (!stop.now) {
    const now = Date.now();
    const spans = [];
    const complete = [];
    for (let k = 0; k < 8; k++) {
      const t = traceHex(worker, state.seq[worker]++);
      complete.push(t);
      spans.push(rootSpan(t, now), ...stepSpans(t, now));
    }
    const splitNow = traceHex(worker, state.seq[worker]++);
    spans.push(...stepSpans(splitNow, now));
    const finishing = pendingSplit;
    if (finishing) spans.push(rootSpan(finishing.trace, finishing.now));
    let ok = false;
    try { ok = await post(srv, spans); } catch { ok = false; }
    if (!ok) break; // the server is gone (or refused): this request is not acknowledged
    for (const t of complete) state.acked.add(t);
    state.splitStepsAcked.set(splitNow, now);
    if (finishing) { state.acked.add(finishing.trace); state.splitStepsAcked.delete(finishing.trace); }
    pendingSplit = { trace: splitNow, now };
  }
}

async function allTransactions(srv) {
  const to = Date.now() + 60_000;
  const out = [];
  // Pages by end time, newest first, 10,000 at a time.
  let cursorTo = to;
  for (;;) {
    const r = await srv.api('/api/v1/transactions', { from: to - 3_600_000, to: cursorTo, service: 'crash-svc', limit: 10000 });
    out.push(...r.transactions);
    if (!r.truncated || r.transactions.length === 0) break;
    // Inclusive of the boundary millisecond (rows sharing it may have been cut
    // off); the overlap is de-duplicated by id below.
    const next = Math.floor(Math.min(...r.transactions.map((x) => x.end_ms))) + 1;
    if (next >= cursorTo) break;
    cursorTo = next;
  }
  return out;
}

it(`SIGKILL during heavy ingest loses no acknowledged transaction or step (${ROUNDS} rounds)`, { timeout: 600_000 }, async () => {
  const startSeed = seed;
  const state = { seq: Array(16).fill(0), acked: new Set(), splitStepsAcked: new Map() };
  // Small memtables and checkpoints so rounds cross flushes and checkpoints.
  const args = ['--memtable-mb', '1', '--checkpoint-mb', '1', '--checkpoint-seconds', '2'];
  let srv = await startServer({ args });
  const credentials = srv.credentials;
  const dataDir = srv.dataDir;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const stop = { now: false };
      const workers = [];
      for (let w = 0; w < 16; w++) workers.push(load(srv, w, state, stop));
      const killAfter = 300 + Math.floor(rand() * 2500);
      await new Promise((r) => setTimeout(r, killAfter));
      await srv.kill9();
      stop.now = true;
      await Promise.all(workers);

      const t0 = Date.now();
      srv = await startServer({ dataDir, credentials, args });
      const restartMs = Date.now() - t0;
      // Roots of split traces whose steps were acknowledged before the crash:
      // they join the steps recovered from the log or a checkpoint.
      const splits = [...state.splitStepsAcked.entries()];
      for (let i = 0; i < splits.length; i += 50) {
        const spans = splits.slice(i, i + 50).map(([t, now]) => rootSpan(t, now));
        assert.ok(await post(srv, spans), 'roots of split traces accepted after restart');
        for (const [t] of splits.slice(i, i + 50)) { state.acked.add(t); state.splitStepsAcked.delete(t); }
      }

      const rows = await allTransactions(srv);
      const byId = new Map();
      for (const r of rows) byId.set(r.id, r);
      const perTrace = new Map();
      for (const r of byId.values()) perTrace.set(r.trace_id, (perTrace.get(r.trace_id) || 0) + 1);
      const missing = [];
      const wrongSteps = [];
      for (const t of state.acked) {
        const n = perTrace.get(t) || 0;
        if (n === 0) missing.push(t);
        if (n > 1) assert.fail(`trace ${t}: ${n} transactions (duplicated) [seed ${startSeed}, round ${round}]`);
      }
      for (const r of byId.values()) {
        if (state.acked.has(r.trace_id) && r.sql_count !== 3) wrongSteps.push(`${r.trace_id}: sql_count ${r.sql_count}`);
      }
      assert.deepEqual(missing.slice(0, 5), [], `round ${round}: ${missing.length} of ${state.acked.size} acknowledged traces missing after SIGKILL + restart [seed ${startSeed}]\n${srv.diag()}`);
      assert.deepEqual(wrongSteps.slice(0, 5), [], `round ${round}: ${wrongSteps.length} transactions lost steps [seed ${startSeed}]`);
      assert.ok(state.acked.size > 0, 'the load generator got acknowledgements');
      console.log(`round ${round}: killed after ${killAfter} ms; ${state.acked.size} acknowledged traces all present once; restart took ${restartMs} ms`);
    }
    const stopped = await srv.stop();
    assert.equal(stopped.code, 0, 'clean stop after the rounds');
    // The data directory the crashes left behind checks out.
    const v = spawnSync(LOUPE_BIN, ['store', 'verify', dataDir], { encoding: 'utf8' });
    assert.equal(v.status, 0, `loupe store verify: exit ${v.status}\n${v.stdout}${v.stderr}`);
    assert.match(v.stdout, /result: ok/);
  } finally {
    await srv.stop();
    if (!process.env.LOUPE_KEEP_DATA) rmSync(dataDir, { recursive: true, force: true });
  }
});

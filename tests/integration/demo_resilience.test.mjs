// The demo application keeps serving, with low latency and bounded memory,
// when Loupe is down (nothing listens), slow (accepts, never answers) or
// failing (answers 503 to everything): the agent must drop, not block or grow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { freePort } from './lib/server.mjs';
import { startDemo } from './lib/demo.mjs';

const REQUESTS = Number(process.env.LOUPE_RESILIENCE_REQUESTS || 12000); // > the agent's 8192 queue
const CONCURRENCY = 16;
// The agents' queues (8192 finished transactions each) fill during the first
// run; once full, a second run of as many requests must not grow the process.
const MAX_FILL_GROWTH = 96 * 1024 * 1024;
const MAX_STEADY_GROWTH = 8 * 1024 * 1024;

// Fake Loupe endpoints. Each returns {url, close}.
async function downServer() {
  const port = await freePort(); // nothing listens there
  return { url: `http://127.0.0.1:${port}`, close: async () => {} };
}

async function slowServer() {
  const sockets = new Set();
  const srv = net.createServer((s) => { sockets.add(s); s.on('error', () => {}); s.on('close', () => sockets.delete(s)); });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${srv.address().port}`,
    close: async () => { for (const s of sockets) s.destroy(); await new Promise((r) => srv.close(r)); },
  };
}

async function failingServer() {
  let hits = 0;
  const srv = http.createServer((req, res) => {
    hits++;
    req.resume();
    req.on('end', () => { res.writeHead(503, { 'retry-after': '1', 'content-type': 'text/plain' }); res.end('overloaded\n'); });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${srv.address().port}`,
    hits: () => hits,
    close: async () => { srv.closeAllConnections(); await new Promise((r) => srv.close(r)); },
  };
}

const percentile = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };

async function drive(demo, n) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const lat = [];
  let errors = 0;
  let next = 0;
  // Shop-only pages, so the shop's queue is full after the first run (pages
  // calling orders would keep filling orders' queue in the second).
  const paths = ['/', '/products/7', '/products/123', '/search?q=mug'];
  const one = (p) => new Promise((resolve) => {
    const t0 = performance.now();
    const req = http.get(`${demo.shop}${p}`, { agent, headers: { 'x-user-id': 'u-5', 'x-forwarded-for': '203.0.113.77' }, timeout: 10000 }, (res) => {
      res.resume();
      res.on('end', () => { lat.push(performance.now() - t0); if (res.statusCode !== 200) errors++; resolve(); });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => { errors++; lat.push(performance.now() - t0); resolve(); });
  });
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < n) {
      const i = next++;
      await one(paths[i % paths.length]);
    }
  }));
  agent.destroy();
  return { lat, errors };
}

for (const [name, make] of [['down', downServer], ['slow', slowServer], ['failing (503)', failingServer]]) {
  test(`the demo keeps serving when Loupe is ${name}`, async () => {
    const fake = await make();
    const demo = await startDemo({ command: 'services', otlp: fake.url, key: 'lk_test', args: ['--fault-schedule', 'none'] });
    try {
      const warm = await drive(demo, 1000);
      assert.equal(warm.errors, 0, 'errors while warming up');
      const rss0 = demo.rss();
      await drive(demo, REQUESTS);
      const rss1 = demo.rss();
      const t0 = performance.now();
      const run = await drive(demo, REQUESTS);
      const secs = (performance.now() - t0) / 1000;
      const rss2 = demo.rss();
      const p50 = percentile(run.lat, 0.5);
      const p99 = percentile(run.lat, 0.99);
      const max = Math.max(...run.lat);
      const stats = await demo.agentStats();
      const summary = `${REQUESTS} requests in ${secs.toFixed(1)} s, p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${max.toFixed(0)} ms, ` +
        `RSS ${(rss0 / 1048576).toFixed(1)} -> ${(rss1 / 1048576).toFixed(1)} -> ${(rss2 / 1048576).toFixed(1)} MiB, agent ${JSON.stringify(stats)}`;
      console.log(`# Loupe ${name}: ${summary}`);
      assert.equal(run.errors, 0, `requests failed: ${summary}`);
      // Requests cost a few ms (SQLite on loopback); a blocked agent would show
      // as seconds (the agent's 5 s export timeout).
      assert.ok(p99 < 250, `p99 latency ${p99} ms: ${summary}`);
      assert.ok(max < 2000, `a request took ${max} ms: ${summary}`);
      assert.ok(rss1 - rss0 < MAX_FILL_GROWTH, `RSS grew by ${((rss1 - rss0) / 1048576).toFixed(1)} MiB filling the queues: ${summary}`);
      assert.ok(rss2 - rss1 < MAX_STEADY_GROWTH, `RSS kept growing, by ${((rss2 - rss1) / 1048576).toFixed(1)} MiB, with full queues: ${summary}`);
      assert.ok(stats.transactions >= 2 * REQUESTS, summary);
      assert.equal(stats.exported, 0, `nothing can have been acknowledged: ${summary}`);
      assert.ok(stats.dropped_queue_full + stats.dropped_export > 0, `the agent dropped nothing: ${summary}`);
      if (fake.hits) assert.ok(fake.hits() > 0, 'the agent never tried to export');
      // The service still stops promptly with exports stuck.
      const t1 = Date.now();
      const stop = await demo.stop();
      assert.equal(stop.timedOut, false);
      assert.equal(stop.code, 0, `exit ${JSON.stringify(stop)}: ${demo.output().slice(-2000)}`);
      assert.ok(Date.now() - t1 < 10000, `stopping took ${Date.now() - t1} ms`);
    } finally {
      await demo.stop();
      await fake.close();
    }
  });
}

// `loupe agent` (issue 13 §3) against a tiny OTLP/HTTP receiver in this test:
// the agent reads the fixture tree tests/fixtures/hostagent/v2 (--root), posts
// OTLP metrics protobuf to /v1/metrics with the project key every interval,
// keeps running and buffers while the receiver is down, and sends what it
// buffered, oldest first, once the receiver is back.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const BIN = process.env.LOUPE_BIN || path.join(REPO, 'build', 'loupe');
const ROOT = path.join(REPO, 'tests', 'fixtures', 'hostagent', 'v2');
const KEY = 'host-agent-test-key';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The receiver: records each request's path, headers and body.
function receiver(port = 0) {
  const requests = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      requests.push({ url: req.url, method: req.method, headers: req.headers, body: Buffer.concat(chunks), at: Date.now() });
      res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      res.end();
    });
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve({
    server, requests, port: server.address().port,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  })));
}

async function until(what, cond, ms = 15_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return;
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${what}`);
}

const children = [];
after(() => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); });

function startAgent(port, extra = []) {
  const child = spawn(BIN, ['agent', '--server', `http://127.0.0.1:${port}`, '--key', KEY,
    '--interval-seconds', '1', '--root', ROOT, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  child.log = '';
  child.stderr.on('data', (d) => { child.log += d; });
  child.stdout.on('data', (d) => { child.log += d; });
  return child;
}

// The body is checked for the fixture's identity, metric names and process
// details, which protobuf carries as plain bytes.
test('loupe agent posts OTLP metrics with the key and keeps sending every interval', { timeout: 60_000 }, async () => {
  const rx = await receiver();
  const agent = startAgent(rx.port);
  try {
    await until('three requests', () => rx.requests.length >= 3);
    for (const r of rx.requests) {
      assert.equal(r.method, 'POST');
      assert.equal(r.url, '/v1/metrics');
      assert.equal(r.headers['content-type'], 'application/x-protobuf');
      assert.equal(r.headers.authorization, `Bearer ${KEY}`);
      const text = r.body.toString('latin1');
      for (const s of ['fixture-host', '0123456789abcdef0123456789abcdef', 'system.cpu.time',
        'system.memory.usage', 'system.network.io', 'process.memory.usage', 'container.memory.usage',
        'container.id', 'nginx: worker', '/usr/bin/java -Xmx2g -jar app.jar']) {
        assert.ok(text.includes(s), `request lacks ${s}`);
      }
    }
    const gaps = rx.requests.slice(1).map((r, i) => r.at - rx.requests[i].at);
    for (const g of gaps) assert.ok(g > 500 && g < 2500, `interval ${g} ms`);
  } finally {
    agent.kill('SIGTERM');
    const code = await new Promise((r) => agent.on('exit', r));
    assert.equal(code, 0, agent.log);
    await rx.close();
  }
});

test('loupe agent keeps running and buffers while the receiver is down', { timeout: 60_000 }, async () => {
  let rx = await receiver();
  const port = rx.port;
  const agent = startAgent(port);
  try {
    await until('a first request', () => rx.requests.length >= 1);
    await rx.close();
    const downAt = Date.now();
    await sleep(4000);  // four intervals with nobody listening
    assert.equal(agent.exitCode, null, `agent exited: ${agent.log}`);
    assert.match(agent.log, /buffering/);
    rx = await receiver(port);
    // The backoff (1, 2, 4 s ...) lets the agent retry within a few seconds;
    // then the buffered requests come at once, before the next interval.
    await until('the buffered requests', () => rx.requests.length >= 4, 20_000);
    const burst = rx.requests.filter((r) => r.at - rx.requests[0].at < 500);
    assert.ok(burst.length >= 3, `only ${burst.length} requests in the first burst`);
    assert.ok(rx.requests[0].at - downAt >= 4000);
  } finally {
    agent.kill('SIGTERM');
    const code = await new Promise((r) => agent.on('exit', r));
    assert.equal(code, 0, agent.log);
    await rx.close();
  }
});

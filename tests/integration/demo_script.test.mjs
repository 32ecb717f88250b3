// `make demo` as a user runs it: scripts/demo.sh with its ports and data
// directory from LOUPE_* variables starts loupe server (embedded store) and
// loupe-demo, prints the dashboard URL and where the sign-in token is, the
// API answers with that token and fills with the demo's transactions, and
// Ctrl-C (SIGINT to the script's process group, as a terminal sends it)
// stops every process and frees every port. Without LOUPE_BIND all of it
// listens on 127.0.0.1 only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { LOUPE_BIN, REPO_ROOT, freePort, poll } from './lib/server.mjs';
import { DEMO_BIN, freePortRun } from './lib/demo.mjs';

function listening(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

// Local IPv4 addresses (dotted) or IPv6 addresses (hex, as the kernel shows
// them) listening on TCP `port`, from /proc/net/tcp{,6}.
function listenAddresses(port) {
  const out = [];
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try { text = readFileSync(f, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4 || cols[3] !== '0A') continue; // 0A: LISTEN
      const [addr, p] = cols[1].split(':');
      if (parseInt(p, 16) !== port) continue;
      // IPv4, or IPv4-mapped IPv6 (::ffff:a.b.c.d, as gRPC binds): dotted.
      const v4 = addr.length === 8 ? addr : addr.startsWith('0000000000000000FFFF0000') ? addr.slice(24) : null;
      out.push(v4 ? v4.match(/../g).reverse().map((h) => parseInt(h, 16)).join('.') : addr);
    }
  }
  return out;
}

// Processes started by the script: their environment has our data directory
// (LOUPE_DATA_DIR; loupe server gets no flag for it).
function processesWith(dataDir) {
  const found = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      if (!environ.includes(`LOUPE_DATA_DIR=${dataDir}`)) continue;
      found.push(`${pid}: ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')}`);
    } catch { /* gone, or not ours */ }
  }
  return found;
}

test('scripts/demo.sh starts server, demo and traffic on LOUPE_* ports, and Ctrl-C stops them all', { timeout: 120_000 }, async () => {
  assert.ok(existsSync(DEMO_BIN), `loupe-demo not found at ${DEMO_BIN}`);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'loupe-demo-script-'));
  const demoPort = await freePortRun(3);
  const ports = { http: await freePort(), otlp: await freePort(), grpc: await freePort(), smtp: await freePort() };
  const env = {
    ...process.env,
    LOUPE_BIN, LOUPE_DEMO_BIN: DEMO_BIN,
    LOUPE_DATA_DIR: dataDir,
    LOUPE_HTTP_PORT: String(ports.http),
    LOUPE_OTLP_HTTP_PORT: String(ports.otlp),
    LOUPE_OTLP_GRPC_PORT: String(ports.grpc),
    LOUPE_DEMO_PORT: String(demoPort),
    LOUPE_DEMO_SMTP_PORT: String(ports.smtp),
    LOUPE_DEMO_TPS: '30',
    LOUPE_DEMO_BUILD_WEB: '0',
  };
  // detached: its own process group, like a shell's foreground job.
  const child = spawn('bash', [path.join(REPO_ROOT, 'scripts', 'demo.sh')], { cwd: REPO_ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const groupKill = (sig) => { try { process.kill(-child.pid, sig); } catch { /* gone */ } };
  try {
    await poll(async () => out, (o) => o.includes('Ctrl-C stops everything'), { timeoutMs: 60000, intervalMs: 200 });
    assert.match(out, new RegExp(`Loupe dashboard:\\s+http://localhost:${ports.http}/`), out);
    const credsPath = out.match(/Sign in with the API token \("api_token"\) in (\S+)/)?.[1];
    assert.ok(credsPath, `no credentials path printed:\n${out}`);
    assert.equal(credsPath, path.join(dataDir, 'demo-credentials.json'));
    const token = JSON.parse(readFileSync(credsPath, 'utf8')).api_token;
    assert.match(token, /^\S{16,}$/);

    // The API on LOUPE_HTTP_PORT with that token fills with the demo's traffic.
    const api = async (p) => {
      const r = await fetch(`http://127.0.0.1:${ports.http}${p}`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(r.status, 200, `${p}: ${r.status}`);
      return r.json();
    };
    const list = await poll(() => api('/api/v1/transactions?limit=500'),
      (b) => ['shop', 'orders', 'payment'].every((s) => b.transactions.some((t) => t.service === s)), { timeoutMs: 30000, intervalMs: 500 });
    for (const s of ['shop', 'orders', 'payment']) {
      assert.ok(list.transactions.some((t) => t.service === s), `no ${s} transaction:\n${out.slice(-3000)}`);
    }
    const shop = await fetch(`http://127.0.0.1:${demoPort}/healthz`);
    assert.equal(shop.status, 200, 'the shop listens on LOUPE_DEMO_PORT');
    assert.ok(existsSync(path.join(dataDir, 'demo-app')), 'the demo keeps its data under LOUPE_DATA_DIR');
    // Without LOUPE_BIND everything listens on loopback only.
    for (const p of [ports.http, ports.otlp, ports.grpc, demoPort, demoPort + 1, demoPort + 2]) {
      assert.deepEqual(listenAddresses(p), ['127.0.0.1'], `port ${p} listens on ${listenAddresses(p)}`);
    }
    assert.doesNotMatch(out, /without TLS/, 'no warning on loopback');

    // Alerts: one rule mailing the demo's own SMTP sink; an error burst sends it.
    assert.match(out, new RegExp(`writes each mail to ${dataDir}/mail/<n>\\.json`), out);
    const rules = await api('/api/v1/alert-rules');
    assert.equal(rules.rules.length, 1, JSON.stringify(rules));
    assert.equal(rules.rules[0].name, 'demo: error rate over 10 %');
    const channels = await api('/api/v1/alert-channels');
    assert.deepEqual(channels.channels.map((c) => [c.name, c.type, c.addresses]), [['demo-mail', 'email', ['ops@demo.localhost']]]);
    const fault = await fetch(`http://127.0.0.1:${demoPort}/admin/faults?name=error_burst&on=1`, { method: 'POST' });
    assert.equal(fault.status, 200, 'error_burst on');
    const mails = await poll(async () => readdirSync(path.join(dataDir, 'mail')).filter((f) => f.endsWith('.json')),
      (l) => l.length >= 1, { timeoutMs: 60000, intervalMs: 500 });
    const mail = JSON.parse(readFileSync(path.join(dataDir, 'mail', mails[0]), 'utf8'));
    assert.match(mail.subject, /demo: error rate over 10 %/, JSON.stringify(mail));
    assert.deepEqual(mail.rcpt_tos, ['ops@demo.localhost']);
    assert.match(mail.text, new RegExp(`http://localhost:${ports.http}/#/xview\\?project=default`), mail.text);
    const running = processesWith(dataDir).join('\n');
    assert.match(running, /loupe server/, running);
    assert.match(running, /loupe-demo all/, running);

    // Ctrl-C.
    const t0 = Date.now();
    groupKill('SIGINT');
    const r = await Promise.race([exited, new Promise((res) => setTimeout(() => res(null), 20000).unref())]);
    assert.ok(r, `demo.sh still running 20 s after SIGINT:\n${out.slice(-3000)}`);
    const left = await poll(async () => processesWith(dataDir), (l) => l.length === 0, { timeoutMs: 5000 });
    assert.deepEqual(left, [], 'processes left after Ctrl-C');
    for (const p of [ports.http, ports.otlp, ports.grpc, ports.smtp, demoPort, demoPort + 1, demoPort + 2]) {
      assert.equal(await listening(p), false, `port ${p} still listening after Ctrl-C`);
    }
    assert.match(out, /stopped cleanly/, `the server did not stop cleanly:\n${out.slice(-3000)}`);
    assert.ok(Date.now() - t0 < 20000);
  } finally {
    groupKill('SIGKILL');
    for (const line of processesWith(dataDir)) {
      try { process.kill(Number(line.split(':')[0]), 'SIGKILL'); } catch { /* gone */ }
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
});

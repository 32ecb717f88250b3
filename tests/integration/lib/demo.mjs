// Starts the demo application (build/demo/loupe-demo, or $LOUPE_DEMO_BIN) on
// free loopback ports and gives tests a small client for its services.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, sleep } from './server.mjs';

export const DEMO_BIN = process.env.LOUPE_DEMO_BIN || path.join(REPO_ROOT, 'build', 'demo', 'loupe-demo');

const live = new Set();
process.on('exit', () => { for (const d of live) try { d.child.kill('SIGKILL'); } catch { /* gone */ } });

function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.unref();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

// A base port with base, base+1 and base+2 free a moment ago.
export async function freePortRun(n = 3) {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 40000);
    let ok = true;
    for (let i = 0; i < n && ok; i++) ok = await portFree(base + i);
    if (ok) return base;
  }
  throw new Error('no run of free ports found');
}

/**
 * Starts `loupe-demo <command>`. Options:
 *   command: all | services (default all)
 *   otlp: OTLP/HTTP base URL; key: ingest key; agent: 'on' | 'off'
 *   args: extra flags
 */
export async function startDemo({ command = 'all', otlp, key, agent = 'on', args = [] } = {}) {
  if (!existsSync(DEMO_BIN)) {
    throw new Error(`loupe-demo not found at ${DEMO_BIN} (set LOUPE_DEMO_BIN or build it: cmake --build build --target loupe-demo)`);
  }
  const port = await freePortRun();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'loupe-demo-it-'));
  const fullArgs = [command, '--port', String(port), '--data-dir', dataDir, '--agent', agent,
    '--status-seconds', '0', ...(otlp ? ['--otlp-endpoint', otlp] : []), ...args];
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('LOUPE_')) delete env[k];
  if (key) env.LOUPE_INGEST_KEY = key;
  const child = spawn(DEMO_BIN, fullArgs, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const add = (d) => { out = (out + d).slice(-64 * 1024); };
  child.stdout.setEncoding('utf8').on('data', add);
  child.stderr.setEncoding('utf8').on('data', add);
  let exited = null;
  const exitPromise = new Promise((resolve) => child.on('exit', (code, signal) => {
    exited = { code, signal };
    live.delete(demo);
    resolve(exited);
  }));
  const shop = `http://127.0.0.1:${port}`;
  const demo = {
    child, pid: child.pid, port, dataDir, exitPromise,
    shop, orders: `http://127.0.0.1:${port + 1}`, payment: `http://127.0.0.1:${port + 2}`,
    output: () => out,
    exited: () => exited,
    // One request to a service: {status, ms, text, json}.
    async request(base, p, { method = 'GET', body, user, ip, headers = {}, timeoutMs = 30000 } = {}) {
      const h = { ...headers };
      if (user) h['x-user-id'] = user;
      if (ip) h['x-forwarded-for'] = ip;
      if (body !== undefined) h['content-type'] = 'application/x-www-form-urlencoded';
      const t0 = performance.now();
      const res = await fetch(base + p, { method, headers: h, body, signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
      const text = await res.text();
      const ms = performance.now() - t0;
      let json;
      try { json = JSON.parse(text); } catch { json = undefined; }
      return { status: res.status, headers: res.headers, ms, text, json };
    },
    async fault(name, on) {
      const r = await demo.request(shop, `/admin/faults?name=${name}&on=${on}`, { method: 'POST' });
      if (r.status !== 200) throw new Error(`switching ${name} ${on}: ${r.status} ${r.text}`);
      return r.json;
    },
    async agentStats(base = shop) { return (await demo.request(base, '/admin/agent')).json; },
    rss() {
      const s = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(s.match(/^VmRSS:\s+(\d+)\s+kB/m)[1]) * 1024;
    },
    async stop({ timeoutMs = 20000 } = {}) {
      let timedOut = false;
      if (!exited) {
        child.kill('SIGTERM');
        const t = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
        await exitPromise;
        clearTimeout(t);
      }
      rmSync(dataDir, { recursive: true, force: true });
      return { ...exited, timedOut };
    },
  };
  live.add(demo);
  // Wait until all three services answer /healthz.
  const deadline = Date.now() + 30000;
  for (;;) {
    if (exited) throw new Error(`loupe-demo exited early (${JSON.stringify(exited)}):\n${out}`);
    try {
      const codes = await Promise.all([demo.shop, demo.orders, demo.payment].map((b) => (
        command === 'all' || command === 'services'
          ? fetch(`${b}/healthz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.status)
          : 200)));
      if (codes.every((c) => c === 200)) break;
    } catch { /* not yet */ }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`loupe-demo not healthy within 30 s:\n${out}`);
    }
    await sleep(100);
  }
  return demo;
}

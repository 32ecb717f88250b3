// Starts the real `loupe server` binary on free loopback ports with a fresh
// data directory, waits until it is healthy and gives tests a small client.
//
//   const srv = await startServer();
//   after(() => srv.stop());
//   const body = await srv.api('/api/v1/transactions', {service: 'shop'});
//
// The binary comes from $LOUPE_BIN (default <repo>/build/loupe). Server stdout
// and stderr are collected (last 256 KiB) so failures can show them:
// wrap test bodies with `withServerLog(srv, fn)` or use `srv.diag()`.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, '..', '..', '..');
export const LOUPE_BIN = process.env.LOUPE_BIN || path.join(REPO_ROOT, 'build', 'loupe');

const LOG_CAP = 256 * 1024;
const live = new Set(); // servers not yet stopped; killed on process exit as a safety net

function killAll() {
  for (const s of live) {
    try { s.child.kill('SIGKILL'); } catch { /* already gone */ }
    try { if (s.ownDir && !process.env.LOUPE_KEEP_DATA) rmSync(s.dataDir, { recursive: true, force: true }); } catch { /* ignore */ }
  }
}
process.on('exit', killAll);
// The test runner (or a CI timeout) may stop this process with a signal:
// do not leave servers behind.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => { killAll(); process.exit(128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 })[sig]); });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A port that was free a moment ago (listen on 0, read it, close). Ports are
// kept distinct within this process.
const handedOut = new Set();
export async function freePort() {
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const s = net.createServer();
      s.unref();
      s.on('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const p = s.address().port;
        s.close(() => resolve(p));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

function appendCapped(prev, chunk) {
  const s = prev + chunk;
  return s.length > LOG_CAP ? s.slice(s.length - LOG_CAP) : s;
}

// Error text with the server's recent output appended.
export function withLog(message, srv) {
  return `${message}\n----- loupe server output (tail) -----\n${srv.output().slice(-8000)}\n-----`;
}

// Runs fn(); on failure rethrows with the server's log tail appended to the message.
export async function withServerLog(srv, fn) {
  try {
    return await fn();
  } catch (err) {
    if (err && typeof err === 'object' && !err.__loupeLog && srv) {
      try {
        err.message = withLog(err.message, srv);
        err.__loupeLog = true;
      } catch { /* read-only message */ }
    }
    throw err;
  }
}

export class ApiError extends Error {
  constructor(method, url, status, body) {
    super(`${method} ${url} → ${status}: ${String(body).slice(0, 2000)}`);
    this.status = status;
    this.body = body;
  }
}

/**
 * Starts a server. Options:
 *   dataDir: reuse this directory (restart tests); default: a fresh temp dir
 *   env: extra environment variables
 *   args: extra command line arguments
 *   healthTimeoutMs: default 15000
 */
export async function startServer(opts = {}) {
  if (!existsSync(LOUPE_BIN)) {
    throw new Error(`loupe binary not found at ${LOUPE_BIN} (set LOUPE_BIN or build it with cmake --build build)`);
  }
  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      lastErr = err;
      // Retry only when a port we picked was taken in the meantime.
      if (!/address already in use|EADDRINUSE|bind/i.test(String(err.message))) throw err;
    }
  }
  throw lastErr;
}

async function startOnce(opts) {
  const ownDir = !opts.dataDir;
  const dataDir = opts.dataDir || mkdtempSync(path.join(os.tmpdir(), 'loupe-it-'));
  const httpPort = await freePort();
  const otlpHttpPort = await freePort();
  const grpcPort = await freePort();
  const args = [
    'server',
    '--data-dir', dataDir,
    '--http-port', String(httpPort),
    '--otlp-http-port', String(otlpHttpPort),
    '--otlp-grpc-port', String(grpcPort),
    '--bind', '127.0.0.1',
    ...(opts.args || []),
  ];
  const child = spawn(LOUPE_BIN, args, {
    env: { ...process.env, ...(opts.env || {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => { out = appendCapped(out, d); });
  child.stderr.on('data', (d) => { out = appendCapped(out, d); stderr = appendCapped(stderr, d); });
  let exited = null; // {code, signal}
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => { exited = { code, signal }; live.delete(srv); resolve(exited); });
  });
  child.on('error', (err) => { out = appendCapped(out, `\n[spawn error] ${err.message}\n`); });

  const base = `http://127.0.0.1:${httpPort}`;
  const srv = {
    child,
    pid: child.pid,
    dataDir,
    ownDir,
    httpPort,
    otlpHttpPort,
    grpcPort,
    baseUrl: base,
    otlpHttpUrl: `http://127.0.0.1:${otlpHttpPort}/v1/traces`,
    otlpHttpBase: `http://127.0.0.1:${otlpHttpPort}`,
    grpcUrl: `http://127.0.0.1:${grpcPort}`,
    ingestKey: null,
    token: null,
    project: null,
    credentials: null,
    args,
    get stderr() { return stderr; },
    output: () => out,
    exited: () => exited,
    exitPromise,

    // Raw API call: {status, headers, text, json}. params: object of query
    // parameters (undefined values skipped). opts.token: null → no auth header;
    // a string → that token; default the admin token.
    async apiRaw(p, params = {}, o = {}) {
      const url = new URL(p, base);
      for (const [k, v] of Object.entries(params || {})) {
        if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
      }
      const headers = { ...(o.headers || {}) };
      const tok = o.token === undefined ? srv.token : o.token;
      if (tok !== null) headers.authorization = `Bearer ${tok}`;
      const res = await fetch(url, { method: o.method || 'GET', headers, body: o.body, signal: AbortSignal.timeout(o.timeoutMs || 15000) });
      const text = await res.text();
      let json;
      try { json = JSON.parse(text); } catch { json = undefined; }
      return { status: res.status, headers: res.headers, text, json, url: url.toString() };
    },

    // GET an API path and return its JSON; throws ApiError on non-200 or non-JSON.
    async api(p, params = {}, o = {}) {
      const r = await srv.apiRaw(p, params, o);
      if (r.status !== 200 || r.json === undefined) throw new ApiError(o.method || 'GET', r.url, r.status, r.text);
      return r.json;
    },

    async metricsText() {
      const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(10000) });
      return { status: res.status, contentType: res.headers.get('content-type') || '', text: await res.text() };
    },

    // Peak and current resident set size in bytes (Linux /proc).
    memory() {
      const s = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const kb = (name) => {
        const m = s.match(new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, 'm'));
        return m ? Number(m[1]) * 1024 : NaN;
      };
      return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
    },

    // SIGTERM and wait for exit; SIGKILL after timeoutMs. Returns {code, signal, timedOut}.
    async stop({ timeoutMs = 10000, keepData = false } = {}) {
      let timedOut = false;
      if (!exited) {
        child.kill('SIGTERM');
        const t = setTimeout(() => { timedOut = true; try { child.kill('SIGKILL'); } catch { /* gone */ } }, timeoutMs);
        await exitPromise;
        clearTimeout(t);
      }
      if (ownDir && !keepData && !process.env.LOUPE_KEEP_DATA) {
        try { rmSync(dataDir, { recursive: true, force: true }); } catch { /* ignore */ }
      }
      return { ...exited, timedOut };
    },

    async kill9() {
      if (!exited) {
        child.kill('SIGKILL');
        await exitPromise;
      }
      return exited;
    },

    // Human-readable context for failure messages.
    diag() {
      return `loupe ${args.join(' ')}\n${out.slice(-8000)}`;
    },
  };
  live.add(srv);

  // Wait for /healthz.
  const deadline = Date.now() + (opts.healthTimeoutMs || 15000);
  let lastProblem = 'no answer yet';
  for (;;) {
    if (exited) {
      if (ownDir) try { rmSync(dataDir, { recursive: true, force: true }); } catch { /* ignore */ }
      throw new Error(`loupe exited before becoming healthy (code ${exited.code}, signal ${exited.signal})\n` +
        `command: ${LOUPE_BIN} ${args.join(' ')}\n----- output -----\n${out.slice(-8000)}`);
    }
    try {
      const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) break;
      lastProblem = `/healthz answered ${res.status}`;
    } catch (err) {
      lastProblem = err.cause?.code || err.message;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exitPromise;
      if (ownDir) try { rmSync(dataDir, { recursive: true, force: true }); } catch { /* ignore */ }
      throw new Error(`loupe did not become healthy within ${opts.healthTimeoutMs || 15000} ms (${lastProblem})\n` +
        `command: ${LOUPE_BIN} ${args.join(' ')}\n----- output -----\n${out.slice(-8000)}`);
    }
    await sleep(50);
  }

  // Credentials (written on first start of an empty data dir).
  const credPath = path.join(dataDir, 'initial-credentials.json');
  let creds;
  try {
    creds = JSON.parse(readFileSync(credPath, 'utf8'));
  } catch (err) {
    if (opts.credentials) {
      creds = opts.credentials; // restart on a data dir whose file was consumed
    } else {
      await srv.stop();
      throw new Error(`cannot read ${credPath}: ${err.message}\n----- output -----\n${out.slice(-8000)}`);
    }
  }
  srv.credentials = creds;
  srv.credentialsMode = existsSync(credPath) ? statSync(credPath).mode & 0o777 : null;
  srv.ingestKey = creds.ingest_key;
  srv.token = creds.api_token;
  srv.project = creds.project;
  return srv;
}

// Polls fn() until pred(value) is true or timeoutMs passes; returns the last
// value either way (the caller asserts on it, so failures show what was seen).
// Errors thrown by fn are retried until the deadline, then rethrown.
export async function poll(fn, pred, { timeoutMs = 5000, intervalMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  let lastErr;
  for (;;) {
    try {
      last = await fn();
      lastErr = undefined;
      if (pred(last)) return last;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() >= deadline) {
      if (lastErr) throw lastErr;
      return last;
    }
    await sleep(intervalMs);
  }
}

// Parses the Prometheus text exposition format strictly enough to catch
// malformed output. Returns {samples: [{name, labels, value}], types: Map}.
export function parsePrometheus(text) {
  const samples = [];
  const types = new Map();
  const helps = new Map();
  const nameRe = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === '' && i === lines.length - 1) continue;
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = line.match(/^# (HELP|TYPE) (\S+)(?: (.*))?$/);
      if (!m) {
        if (/^# (HELP|TYPE)\b/.test(line)) throw new Error(`line ${i + 1}: malformed ${line}`);
        continue; // plain comment
      }
      if (!nameRe.test(m[2])) throw new Error(`line ${i + 1}: bad metric name in ${line}`);
      if (m[1] === 'TYPE') {
        if (!/^(counter|gauge|histogram|summary|untyped)$/.test(m[3] || '')) throw new Error(`line ${i + 1}: bad type in ${line}`);
        if (types.has(m[2])) throw new Error(`line ${i + 1}: second TYPE for ${m[2]}`);
        types.set(m[2], m[3]);
      } else {
        helps.set(m[2], m[3] || '');
      }
      continue;
    }
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?[ \t]+(\S+)(?:[ \t]+(-?\d+))?$/);
    if (!m) throw new Error(`line ${i + 1}: malformed sample: ${JSON.stringify(line)}`);
    const labels = {};
    if (m[3] !== undefined && m[3] !== '') {
      const lre = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\[\\"n])*)"\s*(,|$)/y;
      let pos = 0;
      const body = m[3];
      while (pos < body.length) {
        lre.lastIndex = pos;
        const lm = lre.exec(body);
        if (!lm) throw new Error(`line ${i + 1}: malformed labels: ${JSON.stringify(line)}`);
        labels[lm[1]] = lm[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
        pos = lre.lastIndex;
      }
    }
    const v = m[4];
    let value;
    if (v === '+Inf' || v === 'Inf') value = Infinity;
    else if (v === '-Inf') value = -Infinity;
    else if (v === 'NaN') value = NaN;
    else {
      value = Number(v);
      if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v) || Number.isNaN(value)) {
        throw new Error(`line ${i + 1}: bad value ${JSON.stringify(v)} in ${JSON.stringify(line)}`);
      }
    }
    samples.push({ name: m[1], labels, value });
  }
  return { samples, types, helps };
}

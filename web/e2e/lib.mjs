// Helpers shared by the e2e test and the browser benchmark: start the real `loupe server` on
// free loopback ports, send OTLP traces with the OpenTelemetry JS SDK, drive Chromium.

import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { chromium } from 'playwright-core';

export const WEB_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ARTIFACTS = join(WEB_DIR, 'e2e', 'artifacts');
export const LOUPE_BIN = process.env.LOUPE_BIN || '/work/main/build/loupe';
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts `loupe server` with a fresh data dir; resolves once /healthz answers and the
 *  initial credentials exist. */
export async function startLoupe({ logName = 'loupe.log', args: extraArgs = [] } = {}) {
  if (!existsSync(LOUPE_BIN)) throw new Error('loupe binary not found at ' + LOUPE_BIN + ' (set LOUPE_BIN)');
  if (!existsSync(join(WEB_DIR, 'dist', 'index.html'))) throw new Error('web/dist is missing: run `npm run build` first');
  mkdirSync(ARTIFACTS, { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), 'loupe-e2e-'));
  const [http, otlpHttp, otlpGrpc] = [await freePort(), await freePort(), await freePort()];
  const args = ['server', '--data-dir', dataDir, '--http-port', String(http), '--otlp-http-port', String(otlpHttp),
    '--otlp-grpc-port', String(otlpGrpc), '--bind', '127.0.0.1', '--web-dir', join(WEB_DIR, 'dist'), ...extraArgs];
  const log = createWriteStream(join(ARTIFACTS, logName));
  log.write('$ ' + LOUPE_BIN + ' ' + args.join(' ') + '\n');
  const proc = spawn(LOUPE_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout.pipe(log, { end: false });
  proc.stderr.pipe(log, { end: false });
  let exited = null;
  proc.on('exit', (code, sig) => (exited = { code, sig }));
  const base = 'http://127.0.0.1:' + http;
  const deadline = Date.now() + 30_000;
  let creds = null;
  for (;;) {
    if (exited) throw new Error('loupe exited early (' + JSON.stringify(exited) + '); see e2e/artifacts/' + logName);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error('loupe did not become healthy within 30 s; see e2e/artifacts/' + logName);
    }
    try {
      const r = await fetch(base + '/healthz');
      const credPath = join(dataDir, 'initial-credentials.json');
      if (r.ok && existsSync(credPath)) {
        creds = JSON.parse(readFileSync(credPath, 'utf8'));
        break;
      }
    } catch {
      /* not listening yet */
    }
    await sleep(100);
  }
  return {
    base,
    otlpUrl: 'http://127.0.0.1:' + otlpHttp + '/v1/traces',
    creds,
    dataDir,
    proc,
    async stop() {
      if (!exited) {
        proc.kill('SIGTERM');
        for (let i = 0; i < 50 && !exited; i++) await sleep(100);
        if (!exited) proc.kill('SIGKILL');
      }
      log.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A tracer provider exporting OTLP/protobuf to Loupe, one per (service, instance). */
export function otelTracer(otlpUrl, ingestKey, service, instance) {
  const exporter = new OTLPTraceExporter({ url: otlpUrl, headers: { Authorization: 'Bearer ' + ingestKey } });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'service.instance.id': instance, 'host.name': instance + '.e2e' }),
    spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 100_000, maxExportBatchSize: 2048, scheduledDelayMillis: 100 })],
  });
  return { tracer: provider.getTracer('loupe-e2e'), provider };
}

/** Records one transaction: a SERVER root span with a SQL child span (and an error when
 *  asked). Times are Unix ms. */
export function recordTransaction(tracer, tx) {
  const root = tracer.startSpan(tx.name ?? tx.method + ' ' + tx.route, {
    kind: SpanKind.SERVER,
    startTime: tx.startMs,
    attributes: {
      'http.request.method': tx.method,
      'http.route': tx.route,
      'url.path': tx.path ?? tx.route,
      'http.response.status_code': tx.status ?? 200,
      'client.address': tx.clientIp ?? '10.1.2.3',
      'enduser.id': tx.user ?? 'e2e-user',
      ...(tx.rootAttrs ?? {}),
    },
  });
  const ctx = trace.setSpan(context.active(), root);
  if (tx.sql) {
    const s = tracer.startSpan(tx.sqlName ?? 'SELECT', {
      kind: SpanKind.CLIENT,
      startTime: tx.startMs + tx.elapsedMs * 0.1,
      attributes: { 'db.system': 'postgresql', 'db.query.text': tx.sql, ...(tx.sqlAttrs ?? {}) },
    }, ctx);
    s.end(tx.startMs + tx.elapsedMs * 0.1 + (tx.sqlMs ?? tx.elapsedMs * 0.5));
  }
  if (tx.error) {
    root.recordException({ name: 'E2EError', message: tx.error, stack: 'E2EError: ' + tx.error + '\n    at handler (app.js:1:1)' }, tx.startMs + tx.elapsedMs * 0.9);
    root.setStatus({ code: SpanStatusCode.ERROR, message: tx.error });
  }
  root.end(tx.startMs + tx.elapsedMs);
  return root.spanContext();
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** Opens the app, signs in with the token and waits for the dashboard. */
export async function signIn(page, base, token) {
  await page.goto(base + '/');
  await page.locator('[data-testid=login-token]').fill(token);
  await page.locator('[data-testid=login-submit]').click();
  await page.locator('[data-testid=dashboard]').waitFor({ timeout: 15_000 });
}

// OpenTelemetry JS clients pointed at a test server, and helpers to emit
// transactions with exact, explicit timings.
//
// A transaction is described by a plain "spec" (see emitTransaction) so the
// tests can both send it through a real SDK and compute what the API must
// return for it (expectedTransaction / expectedSteps).
import { context, trace, SpanKind, SpanStatusCode, TraceFlags, ROOT_CONTEXT } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor, InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  ATTR_SERVICE_NAME, ATTR_TELEMETRY_SDK_LANGUAGE, ATTR_TELEMETRY_SDK_NAME, ATTR_TELEMETRY_SDK_VERSION,
  ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_ROUTE, ATTR_URL_PATH, ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_CLIENT_ADDRESS, ATTR_URL_FULL, ATTR_SERVER_ADDRESS, ATTR_EXCEPTION_TYPE, ATTR_EXCEPTION_MESSAGE,
  ATTR_EXCEPTION_STACKTRACE,
} from '@opentelemetry/semantic-conventions';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import grpc from '@grpc/grpc-js';

export { SpanKind, SpanStatusCode };

// Attribute names not (or no longer) exported as constants by semantic-conventions.
const OLD = {
  httpMethod: 'http.method',
  httpTarget: 'http.target',
  httpStatusCode: 'http.status_code',
  httpUrl: 'http.url',
  netPeerIp: 'net.peer.ip',
  netPeerName: 'net.peer.name',
  dbStatement: 'db.statement',
  enduserId: 'enduser.id',
};
const NEW_DB_QUERY_TEXT = 'db.query.text';
const DB_SYSTEM = 'db.system';
const USER_ID = 'user.id';
const SERVICE_INSTANCE_ID = 'service.instance.id';
const HOST_NAME = 'host.name';

// The exporters under test. "proto-gzip" is the protobuf exporter with gzip.
export const PROTOCOLS = ['proto', 'json', 'grpc', 'proto-gzip'];

// ---- time helpers: milliseconds (µs precision) ↔ OTel HrTime ----
export function msToHr(ms) {
  const us = BigInt(Math.round(ms * 1000));
  const ns = us * 1000n;
  return [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
}
export const roundUs = (ms) => Math.round(ms * 1000) / 1000;
// A "now" in ms rounded to whole microseconds.
export const nowMs = () => roundUs(Date.now());

// ---- exporters ----
export function makeExporter(protocol, srv, { key } = {}) {
  const ingestKey = key ?? srv.ingestKey;
  switch (protocol) {
    case 'proto':
    case 'proto-gzip':
      return new ProtoExporter({
        url: srv.otlpHttpUrl,
        headers: { Authorization: `Bearer ${ingestKey}` },
        compression: protocol === 'proto-gzip' ? 'gzip' : 'none', // CompressionAlgorithm values
        timeoutMillis: 10000,
      });
    case 'json':
      return new JsonExporter({
        url: srv.otlpHttpUrl,
        headers: { Authorization: `Bearer ${ingestKey}` },
        timeoutMillis: 10000,
      });
    case 'grpc': {
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${ingestKey}`);
      return new GrpcExporter({
        url: srv.grpcUrl,
        metadata: md,
        credentials: grpc.credentials.createInsecure(),
        timeoutMillis: 10000,
      });
    }
    default:
      throw new Error(`unknown protocol ${protocol}`);
  }
}

// Exports ReadableSpans with an exporter; resolves with the time (Date.now())
// the export was acknowledged, rejects when the exporter reports failure.
export function exportSpans(exporter, spans) {
  return new Promise((resolve, reject) => {
    exporter.export(spans, (result) => {
      if (result.code === 0) resolve(Date.now());
      else reject(new Error(`export of ${spans.length} span(s) failed: ${result.error?.message || result.error || 'code ' + result.code}`));
    });
  });
}

// An exporter wrapper that records every export's outcome, so tests using a
// BatchSpanProcessor can assert all exports were acknowledged.
class RecordingExporter {
  constructor(inner) {
    this.inner = inner;
    this.results = []; // {count, ok, error, at}
  }
  export(spans, cb) {
    this.inner.export(spans, (result) => {
      this.results.push({ count: spans.length, ok: result.code === 0, error: result.error, at: Date.now() });
      cb(result);
    });
  }
  shutdown() { return this.inner.shutdown(); }
  forceFlush() { return this.inner.forceFlush ? this.inner.forceFlush() : Promise.resolve(); }
}

/**
 * A client = one instrumented service instance.
 *   protocol: proto | json | grpc | proto-gzip | capture (no network: spans
 *             are kept in memory, send them with exportSpans)
 *   processor: 'batch' (default) | 'simple'
 */
export function makeClient(srv, { protocol, service, instance, host, processor = 'batch', key, spanLimits } = {}) {
  const resource = resourceFromAttributes({
    [ATTR_SERVICE_NAME]: service,
    [SERVICE_INSTANCE_ID]: instance,
    [HOST_NAME]: host || `${instance}.test`,
    [ATTR_TELEMETRY_SDK_NAME]: 'opentelemetry',
    [ATTR_TELEMETRY_SDK_LANGUAGE]: 'nodejs',
    [ATTR_TELEMETRY_SDK_VERSION]: '2.12.1',
  });
  let exporter;
  let recorder = null;
  const memory = new InMemorySpanExporter();
  if (protocol === 'capture') {
    exporter = memory;
  } else {
    recorder = new RecordingExporter(makeExporter(protocol, srv, { key }));
    exporter = recorder;
  }
  const proc = protocol === 'capture' || processor === 'simple'
    ? new SimpleSpanProcessor(exporter)
    : new BatchSpanProcessor(exporter, { maxExportBatchSize: 512, maxQueueSize: 100000, scheduledDelayMillis: 60000 });
  const provider = new BasicTracerProvider({
    resource,
    spanProcessors: [proc],
    spanLimits: spanLimits || { attributeCountLimit: 256, attributeValueLengthLimit: Infinity, eventCountLimit: 128 },
  });
  const tracer = provider.getTracer('loupe-integration-tests', '1.0.0');
  return {
    protocol, service, instance, host: host || `${instance}.test`,
    provider, tracer, recorder,
    // Spans finished so far (capture mode only).
    captured: () => memory.getFinishedSpans(),
    resetCaptured: () => memory.reset(),
    // Flushes and asserts every export so far was acknowledged. Returns the
    // time of the last acknowledgement.
    async flush() {
      await provider.forceFlush();
      if (recorder) {
        const bad = recorder.results.filter((r) => !r.ok);
        if (bad.length) throw new Error(`${bad.length} export(s) via ${protocol} failed: ${bad.map((b) => b.error?.message || b.error).join('; ')}`);
        return recorder.results.length ? recorder.results[recorder.results.length - 1].at : Date.now();
      }
      return Date.now();
    },
    async shutdown() {
      await provider.shutdown();
    },
  };
}

// ---- transactions from specs ----
//
// spec = {
//   start_ms, elapsed_ms,                 absolute start (ms, µs precision) and duration
//   names: 'new' | 'old',                 semantic-convention generation of attribute names
//   method, route, path, status, client_ip, user,
//   error: bool,                          sets the root status to ERROR
//   kind: SpanKind (default SERVER),
//   name: root span name (default `${method} ${route}`),
//   remoteParent: {traceId, spanId}       continue a trace from another service
//   extraAttrs: {...}                     more attributes on the root
//   children: [child...]
// }
// child = {type: 'sql', name, offset_ms, elapsed_ms, sql, db_system}
//       | {type: 'external', name, offset_ms, elapsed_ms, url, host, status}
//       | {type: 'method', name, offset_ms, elapsed_ms, error, children: [...],
//          exception: {offset_ms, type, message, stack}}
// Offsets are relative to the transaction start.
//
// Returns {traceId, spanId, spans: [{spec, spanId, parentSpanId}], span (the root Span)}.
export function emitTransaction(tracer, spec) {
  const names = spec.names || 'new';
  const attrs = {};
  if (spec.method !== undefined) attrs[names === 'new' ? ATTR_HTTP_REQUEST_METHOD : OLD.httpMethod] = spec.method;
  if (spec.route !== undefined) attrs[ATTR_HTTP_ROUTE] = spec.route;
  if (spec.path !== undefined) attrs[names === 'new' ? ATTR_URL_PATH : OLD.httpTarget] = spec.path;
  if (spec.status !== undefined) attrs[names === 'new' ? ATTR_HTTP_RESPONSE_STATUS_CODE : OLD.httpStatusCode] = spec.status;
  if (spec.client_ip !== undefined) attrs[names === 'new' ? ATTR_CLIENT_ADDRESS : OLD.netPeerIp] = spec.client_ip;
  if (spec.user !== undefined) attrs[names === 'new' ? USER_ID : OLD.enduserId] = spec.user;
  Object.assign(attrs, spec.extraAttrs || {});

  let parentCtx = ROOT_CONTEXT;
  if (spec.remoteParent) {
    parentCtx = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: spec.remoteParent.traceId,
      spanId: spec.remoteParent.spanId,
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
    });
  }
  const root = tracer.startSpan(spec.name || `${spec.method} ${spec.route}`, {
    kind: spec.kind ?? SpanKind.SERVER,
    attributes: attrs,
    startTime: msToHr(spec.start_ms),
    root: !spec.remoteParent,
  }, parentCtx);
  const out = {
    traceId: root.spanContext().traceId,
    spanId: root.spanContext().spanId,
    span: root,
    spans: [],
  };
  const rootCtx = trace.setSpan(context.active(), root);
  emitChildren(tracer, spec, spec.children || [], rootCtx, root.spanContext().spanId, names, out);
  if (spec.error) root.setStatus({ code: SpanStatusCode.ERROR, message: spec.errorMessage || 'failed' });
  root.end(msToHr(spec.start_ms + spec.elapsed_ms));
  return out;
}

function emitChildren(tracer, txSpec, children, parentCtx, parentSpanId, names, out) {
  for (const c of children) {
    const attrs = {};
    let kind = SpanKind.INTERNAL;
    if (c.type === 'sql') {
      kind = SpanKind.CLIENT;
      attrs[DB_SYSTEM] = c.db_system;
      attrs[names === 'new' ? NEW_DB_QUERY_TEXT : OLD.dbStatement] = c.sql;
    } else if (c.type === 'external') {
      kind = SpanKind.CLIENT;
      attrs[names === 'new' ? ATTR_HTTP_REQUEST_METHOD : OLD.httpMethod] = c.method || 'GET';
      attrs[names === 'new' ? ATTR_URL_FULL : OLD.httpUrl] = c.url;
      attrs[names === 'new' ? ATTR_SERVER_ADDRESS : OLD.netPeerName] = c.host;
      attrs[names === 'new' ? ATTR_HTTP_RESPONSE_STATUS_CODE : OLD.httpStatusCode] = c.status;
    } else if (c.type === 'method') {
      kind = SpanKind.INTERNAL;
      attrs['code.function'] = c.name;
    }
    Object.assign(attrs, c.extraAttrs || {});
    const start = txSpec.start_ms + c.offset_ms;
    const span = tracer.startSpan(c.name, { kind, attributes: attrs, startTime: msToHr(start) }, parentCtx);
    const rec = { spec: c, spanId: span.spanContext().spanId, parentSpanId };
    out.spans.push(rec);
    if (c.children?.length) {
      emitChildren(tracer, txSpec, c.children, trace.setSpan(context.active(), span), rec.spanId, names, out);
    }
    if (c.exception) {
      span.addEvent('exception', {
        [ATTR_EXCEPTION_TYPE]: c.exception.type,
        [ATTR_EXCEPTION_MESSAGE]: c.exception.message,
        [ATTR_EXCEPTION_STACKTRACE]: c.exception.stack,
      }, msToHr(txSpec.start_ms + c.exception.offset_ms));
    }
    if (c.error) span.setStatus({ code: SpanStatusCode.ERROR, message: c.exception?.message || 'failed' });
    span.end(msToHr(start + c.elapsed_ms));
  }
}

// Every step of a spec, flattened in the order the API must return them (start
// order; an error step starts at its exception time), with depth and parent.
export function expectedSteps(spec, emitted) {
  const bySpec = new Map(emitted.spans.map((s) => [s.spec, s]));
  const steps = [];
  const walk = (children, depth, parentSpanId) => {
    for (const c of children) {
      const rec = bySpec.get(c);
      const base = {
        span_id: rec.spanId,
        parent_span_id: parentSpanId,
        depth,
        name: c.name,
        offset_ms: c.offset_ms,
        elapsed_ms: c.elapsed_ms,
        start_ms: spec.start_ms + c.offset_ms,
        error: !!c.error,
      };
      if (c.type === 'sql') steps.push({ ...base, kind: 'sql', sql: c.sql, db_system: c.db_system });
      else if (c.type === 'external') steps.push({ ...base, kind: 'external', url: c.url, host: c.host, http_status: c.status });
      else steps.push({ ...base, kind: 'method' });
      if (c.children) walk(c.children, depth + 1, rec.spanId);
      if (c.exception) {
        steps.push({
          span_id: null,
          parent_span_id: rec.spanId,
          depth: depth + 1,
          kind: 'error',
          name: c.exception.type,
          message: c.exception.message,
          stack: c.exception.stack,
          offset_ms: c.exception.offset_ms,
          start_ms: spec.start_ms + c.exception.offset_ms,
          error: true,
        });
      }
    }
  };
  walk(spec.children || [], 1, emitted.spanId);
  // Stable sort by start (ties keep tree order: parents before children).
  return steps.map((s, i) => ({ s, i })).sort((a, b) => a.s.offset_ms - b.s.offset_ms || a.i - b.i).map((x) => x.s);
}

// The list fields the API must return for a spec.
export function expectedTransaction(spec, emitted, { service, instance }) {
  const steps = expectedSteps(spec, emitted);
  const sql = steps.filter((s) => s.kind === 'sql');
  const ext = steps.filter((s) => s.kind === 'external');
  return {
    trace_id: emitted.traceId,
    service,
    instance,
    endpoint: `${spec.method} ${spec.route}`,
    method: spec.method,
    start_ms: spec.start_ms,
    end_ms: spec.start_ms + spec.elapsed_ms,
    elapsed_ms: spec.elapsed_ms,
    error: !!spec.error || (spec.status ?? 0) >= 500,
    status: spec.status ?? 0,
    client_ip: spec.client_ip ?? '',
    user: spec.user ?? '',
    sql_count: sql.length,
    sql_ms: roundUs(sql.reduce((a, s) => a + s.elapsed_ms, 0)),
    external_count: ext.length,
    external_ms: roundUs(ext.reduce((a, s) => a + s.elapsed_ms, 0)),
  };
}

// A typical web transaction: SQL, an external call, and a method with a
// nested SQL; with `error`, the method records an exception and the request
// answers 500.
export function webSpec({ start_ms, elapsed_ms = 150.377, names = 'new', error = false, user = 'u42', client_ip = '10.0.0.7', postId = 42 }) {
  return {
    start_ms,
    elapsed_ms,
    names,
    method: 'GET',
    route: '/api/posts/{id}',
    path: `/api/posts/${postId}`,
    status: error ? 500 : 200,
    client_ip,
    user,
    error,
    children: [
      { type: 'sql', name: 'SELECT posts', offset_ms: 2, elapsed_ms: 12.5, sql: 'SELECT * FROM posts WHERE id = $1', db_system: 'postgresql' },
      { type: 'external', name: 'GET', offset_ms: 20.25, elapsed_ms: 30.125, url: 'http://api.payments.local:8080/v1/charge?id=7', host: 'api.payments.local', status: 200 },
      {
        type: 'method',
        name: 'PostService.render',
        offset_ms: 60,
        elapsed_ms: 50.5,
        error,
        children: [
          { type: 'sql', name: 'SELECT comments', offset_ms: 65.5, elapsed_ms: 7.125, sql: "SELECT id, body FROM comments WHERE post_id = $1 AND state = 'visible'", db_system: 'mysql' },
        ],
        ...(error ? {
          exception: {
            offset_ms: 80.75,
            type: 'TemplateError',
            message: 'missing variable "author" in post.html',
            stack: 'TemplateError: missing variable "author" in post.html\n    at render (/srv/app/views.js:10:5)\n    at PostService.render (/srv/app/posts.js:42:7)',
          },
        } : {}),
      },
    ],
  };
}

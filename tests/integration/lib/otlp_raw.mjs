// Hand-built OTLP trace requests (JSON and protobuf) and raw HTTP posting, for
// the bad-input tests and for sending shapes an SDK will not produce.
//
// Model: request({resource: {k: v}, scope, spans: [span(...)]}) → {resourceSpans: [...]},
// rendered with toJson() or toProto(). Encoders follow the public OTLP
// specification (opentelemetry/proto/collector/trace/v1, trace/v1, common/v1).
import http from 'node:http';
import { randomBytes } from 'node:crypto';

export const randomTraceId = () => randomBytes(16).toString('hex');
export const randomSpanId = () => randomBytes(8).toString('hex');
export const msToNs = (ms) => BigInt(Math.round(ms * 1000)) * 1000n;

export const KIND = { UNSPECIFIED: 0, INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 };
export const STATUS = { UNSET: 0, OK: 1, ERROR: 2 };

// span({traceId, spanId, parentSpanId, name, kind, startMs, endMs | startNs, endNs, attrs, events, status})
export function span(o) {
  return {
    traceId: o.traceId || randomTraceId(),
    spanId: o.spanId || randomSpanId(),
    parentSpanId: o.parentSpanId || '',
    name: o.name ?? 'span',
    kind: o.kind ?? KIND.SERVER,
    startNs: o.startNs ?? msToNs(o.startMs),
    endNs: o.endNs ?? msToNs(o.endMs),
    attrs: o.attrs || {},
    events: o.events || [], // [{timeNs, name, attrs}]
    status: o.status ?? STATUS.UNSET,
    statusMessage: o.statusMessage || '',
  };
}

// groups: [{resource: {...}, spans: [...]}] or a single {resource, spans}.
export function request(groups) {
  const list = Array.isArray(groups) ? groups : [groups];
  return {
    resourceSpans: list.map((g) => ({
      resource: g.resource || {},
      scope: g.scope || { name: 'loupe-it-raw', version: '1' },
      spans: g.spans,
    })),
  };
}

// An attrs object → [[key, value]...]; a Map or array of pairs is kept as is
// (needed for many attributes with generated keys, or duplicate keys).
const pairs = (attrs) => (Array.isArray(attrs) ? attrs : attrs instanceof Map ? [...attrs] : Object.entries(attrs));

// ---- JSON (OTLP/JSON: hex ids, enum ints, 64-bit ints as strings) ----
function jsonValue(v) {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'bigint') return { intValue: v.toString() };
  if (typeof v === 'number') return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
  if (Array.isArray(v)) return { arrayValue: { values: v.map(jsonValue) } };
  throw new Error(`unsupported attribute value ${v}`);
}
const jsonAttrs = (attrs) => pairs(attrs).map(([key, value]) => ({ key, value: jsonValue(value) }));

export function toJsonObject(req) {
  return {
    resourceSpans: req.resourceSpans.map((rs) => ({
      resource: { attributes: jsonAttrs(rs.resource) },
      scopeSpans: [{
        scope: rs.scope,
        spans: rs.spans.map((s) => ({
          traceId: s.traceId,
          spanId: s.spanId,
          ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
          name: s.name,
          kind: s.kind,
          startTimeUnixNano: s.startNs.toString(),
          endTimeUnixNano: s.endNs.toString(),
          attributes: jsonAttrs(s.attrs),
          events: s.events.map((e) => ({ timeUnixNano: e.timeNs.toString(), name: e.name, attributes: jsonAttrs(e.attrs || {}) })),
          status: { code: s.status, ...(s.statusMessage ? { message: s.statusMessage } : {}) },
        })),
      }],
    })),
  };
}
export const toJson = (req) => JSON.stringify(toJsonObject(req));

// ---- protobuf ----
class Writer {
  constructor() { this.chunks = []; this.len = 0; }
  raw(buf) { this.chunks.push(buf); this.len += buf.length; }
  varint(v) {
    let n = BigInt.asUintN(64, BigInt(v));
    const bytes = [];
    do {
      let b = Number(n & 0x7fn);
      n >>= 7n;
      if (n) b |= 0x80;
      bytes.push(b);
    } while (n);
    this.raw(Buffer.from(bytes));
  }
  tag(field, wire) { this.varint((field << 3) | wire); }
  bytesField(field, buf) { this.tag(field, 2); this.varint(buf.length); this.raw(buf); }
  stringField(field, s) { this.bytesField(field, Buffer.from(s, 'utf8')); }
  msgField(field, w) { this.bytesField(field, w.finish()); }
  varintField(field, v) { this.tag(field, 0); this.varint(v); }
  fixed64Field(field, v) { this.tag(field, 1); const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v))); this.raw(b); }
  doubleField(field, v) { this.tag(field, 1); const b = Buffer.alloc(8); b.writeDoubleLE(v); this.raw(b); }
  finish() { return Buffer.concat(this.chunks, this.len); }
}

function protoAnyValue(v) {
  const w = new Writer();
  if (typeof v === 'string') w.stringField(1, v);
  else if (typeof v === 'boolean') w.varintField(2, v ? 1 : 0);
  else if (typeof v === 'bigint') w.varintField(3, v);
  else if (typeof v === 'number' && Number.isInteger(v)) w.varintField(3, BigInt(v));
  else if (typeof v === 'number') w.doubleField(4, v);
  else if (Array.isArray(v)) {
    const arr = new Writer();
    for (const x of v) arr.msgField(1, protoAnyValue(x));
    w.msgField(5, arr);
  } else throw new Error(`unsupported attribute value ${v}`);
  return w;
}
function protoKeyValue(key, value) {
  const w = new Writer();
  w.stringField(1, key);
  w.msgField(2, protoAnyValue(value));
  return w;
}

export function toProto(req) {
  const out = new Writer();
  for (const rs of req.resourceSpans) {
    const rsw = new Writer();
    const res = new Writer();
    for (const [k, v] of pairs(rs.resource)) res.msgField(1, protoKeyValue(k, v));
    rsw.msgField(1, res);
    const ss = new Writer();
    const scope = new Writer();
    if (rs.scope?.name) scope.stringField(1, rs.scope.name);
    if (rs.scope?.version) scope.stringField(2, rs.scope.version);
    ss.msgField(1, scope);
    for (const s of rs.spans) {
      const sw = new Writer();
      sw.bytesField(1, Buffer.from(s.traceId, 'hex'));
      sw.bytesField(2, Buffer.from(s.spanId, 'hex'));
      if (s.parentSpanId) sw.bytesField(4, Buffer.from(s.parentSpanId, 'hex'));
      sw.stringField(5, s.name);
      sw.varintField(6, s.kind);
      sw.fixed64Field(7, s.startNs);
      sw.fixed64Field(8, s.endNs);
      for (const [k, v] of pairs(s.attrs)) sw.msgField(9, protoKeyValue(k, v));
      for (const e of s.events) {
        const ew = new Writer();
        ew.fixed64Field(1, e.timeNs);
        ew.stringField(2, e.name);
        for (const [k, v] of pairs(e.attrs || {})) ew.msgField(3, protoKeyValue(k, v));
        sw.msgField(11, ew);
      }
      if (s.status || s.statusMessage) {
        const st = new Writer();
        if (s.statusMessage) st.stringField(2, s.statusMessage);
        if (s.status) st.varintField(3, s.status);
        sw.msgField(15, st);
      }
      ss.msgField(2, sw);
    }
    rsw.msgField(2, ss);
    out.msgField(1, rsw);
  }
  return out.finish();
}

// ---- protobuf reading (for ExportTraceServiceResponse) ----
function readVarint(buf, pos) {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++];
    result |= BigInt(b & 0x7f) << shift;
    if (!(b & 0x80)) return [result, pos];
    shift += 7n;
    if (shift > 63n) throw new Error('varint too long');
  }
}
// Yields [field, wire, value(BigInt | Buffer)] for one message.
export function* protoFields(buf) {
  let pos = 0;
  while (pos < buf.length) {
    let key;
    [key, pos] = readVarint(buf, pos);
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      let v;
      [v, pos] = readVarint(buf, pos);
      yield [field, wire, v];
    } else if (wire === 2) {
      let len;
      [len, pos] = readVarint(buf, pos);
      const end = pos + Number(len);
      if (end > buf.length) throw new Error('truncated length-delimited field');
      yield [field, wire, buf.subarray(pos, end)];
      pos = end;
    } else if (wire === 1) {
      if (pos + 8 > buf.length) throw new Error('truncated fixed64');
      yield [field, wire, buf.readBigUInt64LE(pos)];
      pos += 8;
    } else if (wire === 5) {
      if (pos + 4 > buf.length) throw new Error('truncated fixed32');
      yield [field, wire, BigInt(buf.readUInt32LE(pos))];
      pos += 4;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
}

// ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1 }
// ExportTracePartialSuccess { int64 rejected_spans = 1; string error_message = 2 }
// Returns {hasPartialSuccess, rejectedSpans, errorMessage}.
export function decodeExportResponse(buf) {
  const r = { hasPartialSuccess: false, rejectedSpans: 0, errorMessage: '' };
  for (const [f, w, v] of protoFields(buf)) {
    if (f === 1 && w === 2) {
      r.hasPartialSuccess = true;
      for (const [pf, pw, pv] of protoFields(v)) {
        if (pf === 1 && pw === 0) r.rejectedSpans = Number(BigInt.asIntN(64, pv));
        if (pf === 2 && pw === 2) r.errorMessage = pv.toString('utf8');
      }
    }
  }
  return r;
}

// The rejected-span count of a JSON ExportTraceServiceResponse (int64 may be a string).
export function jsonRejectedSpans(obj) {
  const ps = obj?.partialSuccess ?? obj?.partial_success;
  if (!ps) return 0;
  const v = ps.rejectedSpans ?? ps.rejected_spans ?? 0;
  return Number(v);
}

/**
 * POSTs a body with node:http (so a response sent before the whole body was
 * read, e.g. an early 413, is still seen). Options:
 *   contentType (default application/x-protobuf), encoding (Content-Encoding),
 *   key: ingest key for "Authorization: Bearer" (null → no auth header),
 *   headers: extra headers, path (default /v1/traces), timeoutMs.
 * Resolves {status, headers, body: Buffer, text, ms}.
 */
export function postRaw(url, body, o = {}) {
  const u = new URL(url);
  const headers = {
    'content-type': o.contentType ?? 'application/x-protobuf',
    'content-length': String(body.length),
    ...(o.encoding ? { 'content-encoding': o.encoding } : {}),
    ...(o.key ? { authorization: `Bearer ${o.key}` } : {}),
    ...(o.headers || {}),
  };
  for (const [k, v] of Object.entries(headers)) if (v === undefined || v === null) delete headers[k];
  const started = Date.now();
  return new Promise((resolve, reject) => {
    let settled = false;
    let writeErr = null;
    const done = (fn, v) => { if (!settled) { settled = true; clearTimeout(timer); fn(v); } };
    const req = http.request({
      host: u.hostname, port: u.port, path: o.path || u.pathname, method: 'POST', headers, agent: false,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', () => { /* connection closed after the response: keep what we have */ });
      const finish = () => {
        const b = Buffer.concat(chunks);
        done(resolve, { status: res.statusCode, headers: res.headers, body: b, text: b.toString('utf8'), ms: Date.now() - started, writeErr });
      };
      res.on('end', finish);
      res.on('close', finish);
    });
    const timer = setTimeout(() => { req.destroy(new Error(`timeout after ${o.timeoutMs || 30000} ms`)); }, o.timeoutMs || 30000);
    req.on('error', (err) => {
      writeErr = err;
      // A server may answer (413) and close before reading everything: give
      // the response a moment to be parsed before declaring failure.
      setTimeout(() => done(reject, new Error(`POST ${url}: ${err.code || err.message} before a response`)), 1000);
    });
    req.end(body);
  });
}

// Posts a model request to a server's /v1/traces as JSON or protobuf.
export async function sendRequest(srv, req, { format = 'json', key = srv.ingestKey, headers } = {}) {
  const body = format === 'json' ? Buffer.from(toJson(req)) : toProto(req);
  return postRaw(srv.otlpHttpUrl, body, {
    contentType: format === 'json' ? 'application/json' : 'application/x-protobuf',
    key,
    headers,
  });
}

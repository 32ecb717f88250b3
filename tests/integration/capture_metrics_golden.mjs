// Captures what the OpenTelemetry JS metrics SDK sends over OTLP/HTTP, as
// golden request bodies for the unit tests of the metrics decoder
// (src/wire/otlp_metrics_proto_test.cc reads tests/fixtures/otlp/js_sdk_metrics.pb).
//
//   node capture_metrics_golden.mjs ../fixtures/otlp
//
// Writes js_sdk_metrics.pb (OTLP/protobuf) and js_sdk_metrics.json (OTLP/JSON)
// and prints what was recorded. The values are fixed; the timestamps are the
// capture's.
import { createServer } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MeterProvider, PeriodicExportingMetricReader, AggregationType,
         AggregationTemporality } from '@opentelemetry/sdk-metrics';
import { OTLPMetricExporter as ProtoExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPMetricExporter as JsonExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ValueType } from '@opentelemetry/api';

const outDir = process.argv[2] ?? '.';
const bodies = [];
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    bodies.push({ type: req.headers['content-type'], body: Buffer.concat(chunks) });
    res.writeHead(200, { 'content-type': req.headers['content-type'] });
    res.end();
  });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${server.address().port}/v1/metrics`;

async function capture(exporter, temporality) {
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60000 });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': 'golden', 'host.name': 'h1' }),
    readers: [reader],
    views: [{ instrumentName: 'exp.latency',
              aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } }],
  });
  const meter = provider.getMeter('golden-meter', '1.0.0');
  const requests = meter.createCounter('http.requests', { unit: '{request}', description: 'requests' });
  requests.add(3, { route: '/a' });
  requests.add(4, { route: '/b' });
  const inflight = meter.createUpDownCounter('http.inflight', { valueType: ValueType.INT });
  inflight.add(5);
  inflight.add(-2);
  const latency = meter.createHistogram('http.latency', {
    unit: 'ms', advice: { explicitBucketBoundaries: [10, 100] } });
  for (const v of [5, 50, 500, 7]) latency.record(v, { route: '/a' });
  const exp = meter.createHistogram('exp.latency', { unit: 's' });
  for (const v of [0.5, 1, 2, 4, 0]) exp.record(v);
  meter.createObservableGauge('temperature', { unit: 'Cel' })
    .addCallback((r) => r.observe(21.5, { room: 'lab' }));
  await provider.forceFlush();
  await provider.shutdown();
}

await capture(new ProtoExporter({ url }));
await capture(new JsonExporter({ url }));
server.close();
const proto = bodies.find((b) => b.type === 'application/x-protobuf');
const json = bodies.find((b) => b.type === 'application/json');
writeFileSync(join(outDir, 'js_sdk_metrics.pb'), proto.body);
writeFileSync(join(outDir, 'js_sdk_metrics.json'), json.body);
console.log(bodies.map((b) => `${b.type} ${b.body.length} bytes`).join('\n'));
console.log(JSON.stringify(JSON.parse(json.body.toString()), null, 1).slice(0, 6000));

#!/usr/bin/node
// Test OTLP/HTTP receiver: decodes every POST /v1/metrics and /v1/traces with the OFFICIAL
// OpenTelemetry protobuf definitions (the code @opentelemetry/otlp-transformer generates from
// opentelemetry-proto; scripts/install-otlp-receiver.sh puts it in the build tree) and writes
// each request as JSON for the test to read:
//   OUT/NNNN.json  {"path", "content_type", "bytes", "reencoded_bytes", "request": decoded}
//   OUT/NNNN.bin   the body as received
// reencoded_bytes is the size of the decoded message encoded again: equal to bytes only if
// the official definitions understood every field (unknown fields are skipped when decoding).
// Decoded 64-bit integers are strings, bytes base64, enums their names.
//
//   /usr/bin/node receiver.mjs --node-dir DIR --out DIR [--port 0] [--ready FILE] [--status CODE]
// --ready FILE gets the port once listening. --status CODE answers every request with CODE
// (a failing collector); otherwise 200 with an empty Export*ServiceResponse.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

function parseArgs(argv) {
  const a = { port: 0, status: 200 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const val = () => argv[++i];
    if (k === '--node-dir') a.nodeDir = val();
    else if (k === '--out') a.out = val();
    else if (k === '--port') a.port = parseInt(val(), 10);
    else if (k === '--ready') a.ready = val();
    else if (k === '--status') a.status = parseInt(val(), 10);
    else throw new Error(`receiver: unknown argument ${k}`);
  }
  if (!a.nodeDir || !a.out) throw new Error('receiver: --node-dir and --out are required');
  return a;
}

const args = parseArgs(process.argv.slice(2));
const require = createRequire(path.resolve(args.nodeDir, 'package.json'));
const root = require(path.resolve(args.nodeDir,
  'node_modules/@opentelemetry/otlp-transformer/build/src/generated/root.js'));
const collector = root.opentelemetry.proto.collector;
const SERVICES = {
  '/v1/metrics': [collector.metrics.v1.ExportMetricsServiceRequest, collector.metrics.v1.ExportMetricsServiceResponse],
  '/v1/traces': [collector.trace.v1.ExportTraceServiceRequest, collector.trace.v1.ExportTraceServiceResponse],
};
const TO_OBJECT = { longs: String, enums: String, bytes: String, arrays: true };

fs.mkdirSync(args.out, { recursive: true });
let seq = 0;

function save(record, body) {
  const base = path.join(args.out, String(++seq).padStart(4, '0'));
  fs.writeFileSync(base + '.bin', body);
  fs.writeFileSync(base + '.json.tmp', JSON.stringify(record));
  fs.renameSync(base + '.json.tmp', base + '.json');  // whole files only, for a test polling OUT
}

function handle(req, body) {
  const service = SERVICES[req.url];
  if (req.method !== 'POST' || !service) return [404, Buffer.alloc(0)];
  const record = { path: req.url, content_type: req.headers['content-type'] || '', bytes: body.length };
  try {
    const msg = service[0].decode(body);
    record.reencoded_bytes = service[0].encode(msg).finish().length;
    record.request = service[0].toObject(msg, TO_OBJECT);
  } catch (e) {
    record.decode_error = String(e);
  }
  save(record, body);
  if (args.status !== 200) return [args.status, Buffer.from('failing on purpose')];
  if (record.decode_error) return [400, Buffer.from(record.decode_error)];
  return [200, Buffer.from(service[1].encode(service[1].create({})).finish())];
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const [status, reply] = handle(req, Buffer.concat(chunks));
    res.writeHead(status, { 'content-type': 'application/x-protobuf', 'content-length': reply.length });
    res.end(reply);
  });
});
server.listen(args.port, '127.0.0.1', () => {
  if (args.ready) fs.writeFileSync(args.ready, String(server.address().port));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));

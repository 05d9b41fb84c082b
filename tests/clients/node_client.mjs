#!/usr/bin/node
// Test client: LLM API requests with node:https (Node's bundled OpenSSL).
// All requests share ONE keep-alive connection (Agent keepAlive, maxSockets 1).
// Prints one JSON line per request: {"i", "status", "body_bytes", ...}; body_bytes
// counts the response body as received (content-encoded, chunk framing removed).
// Exits 0 if every request got a 2xx status and a complete body.
//
//   /usr/bin/node node_client.mjs --base-url https://127.0.0.1:PORT --ca ca.pem \
//       --api openai-chat --stream --requests 3 --body-bytes 100000
import https from 'node:https';
import fs from 'node:fs';
import zlib from 'node:zlib';

const APIS = ['anthropic', 'anthropic-count', 'openai-chat', 'openai-responses', 'gemini', 'gemini-cloudcode'];
const DEFAULT_MODELS = {
  'anthropic': 'claude-sonnet-4-5', 'anthropic-count': 'claude-sonnet-4-5',
  'openai-chat': 'gpt-4o-mini', 'openai-responses': 'gpt-5-mini',
  'gemini': 'gemini-2.5-flash', 'gemini-cloudcode': 'gemini-2.5-pro',
};
const FILLER = 'lorem ipsum dolor sit amet consectetur adipiscing elit ';

function usage(msg) {
  if (msg) console.error(`node_client: ${msg}`);
  console.error('usage: node_client.mjs --base-url URL [--ca FILE] [--api ' + APIS.join('|') + ']\n' +
    '  [--stream] [--no-include-usage] [--requests N] [--body-bytes B] [--header K:V]...\n' +
    '  [--accept-encoding E] [--request-encoding gzip|deflate|br] [--model M] [--timeout S]\n' +
    '  [--interval S]   (pause between requests; the connection stays open)');
  process.exit(2);
}

function parseArgs(argv) {
  const a = { api: 'anthropic', stream: false, includeUsage: true, requests: 1, bodyBytes: 0,
    headers: [], timeout: 60, interval: 0 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const val = () => { if (i + 1 >= argv.length) usage(`${k} needs a value`); return argv[++i]; };
    switch (k) {
      case '--base-url': a.baseUrl = val(); break;
      case '--ca': a.ca = val(); break;
      case '--api': a.api = val(); if (!APIS.includes(a.api)) usage(`bad --api ${a.api}`); break;
      case '--stream': a.stream = true; break;
      case '--no-include-usage': a.includeUsage = false; break;
      case '--requests': a.requests = parseInt(val(), 10); break;
      case '--body-bytes': a.bodyBytes = parseInt(val(), 10); break;
      case '--header': a.headers.push(val()); break;
      case '--accept-encoding': a.acceptEncoding = val(); break;
      case '--request-encoding': a.requestEncoding = val(); break;
      case '--model': a.model = val(); break;
      case '--timeout': a.timeout = parseFloat(val()); break;
      case '--interval': a.interval = parseFloat(val()); break;
      case '-h': case '--help': usage(); break;
      default: usage(`unknown argument ${k}`);
    }
  }
  if (!a.baseUrl) usage('--base-url is required');
  return a;
}

function build(api, model, stream, prompt, includeUsage) {
  if (api === 'anthropic') {
    return ['/v1/messages', { 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' }, {
      model, max_tokens: 1024, stream,
      system: [{ type: 'text', text: 'You are a test assistant.', cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: prompt }],
    }];
  }
  if (api === 'anthropic-count') {
    return ['/v1/messages/count_tokens', { 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' },
      { model, messages: [{ role: 'user', content: prompt }] }];
  }
  if (api === 'openai-chat') {
    const body = { model, messages: [{ role: 'system', content: 'You are a test assistant.' },
      { role: 'user', content: prompt }] };
    if (stream) {
      body.stream = true;
      if (includeUsage) body.stream_options = { include_usage: true };
    }
    return ['/v1/chat/completions', { authorization: 'Bearer sk-test' }, body];
  }
  if (api === 'openai-responses') {
    return ['/v1/responses', { authorization: 'Bearer sk-test' },
      { model, instructions: 'You are a test assistant.', input: prompt, stream }];
  }
  const gem = { contents: [{ role: 'user', parts: [{ text: prompt }] }], generationConfig: { temperature: 0 } };
  const method = stream ? 'streamGenerateContent?alt=sse' : 'generateContent';
  if (api === 'gemini') return [`/v1beta/models/${model}:${method}`, { 'x-goog-api-key': 'test-key' }, gem];
  return [`/v1internal:${method}`, { authorization: 'Bearer ya29.test' },
    { model, project: 'test-project', user_prompt_id: 'p-1', request: gem }];
}

function makeBody(a, model, i) {
  let prompt = `Request ${i}: say something about tokens.`;
  const base = Buffer.byteLength(JSON.stringify(build(a.api, model, a.stream, prompt, a.includeUsage)[2]));
  const pad = Math.max(0, a.bodyBytes - base - 1);
  if (pad > 0) prompt += ' ' + FILLER.repeat(Math.ceil(pad / FILLER.length)).slice(0, pad);
  const [path, headers, obj] = build(a.api, model, a.stream, prompt, a.includeUsage);
  return [path, headers, Buffer.from(JSON.stringify(obj))];
}

function encode(buf, enc) {
  if (enc === 'gzip') return zlib.gzipSync(buf);
  if (enc === 'deflate') return zlib.deflateSync(buf);
  if (enc === 'br') return zlib.brotliCompressSync(buf);
  if (enc === 'zstd') {
    if (typeof zlib.zstdCompressSync !== 'function') usage('this node has no zstd');
    return zlib.zstdCompressSync(buf);
  }
  return buf;
}

function doRequest(agent, url, body, headers, timeoutMs) {
  return new Promise((resolve) => {
    const out = { status: 0, body_bytes: 0 };
    let settled = false;
    const done = (err) => {
      if (settled) return;
      settled = true;
      if (err) out.error = err;
      resolve(out);
    };
    const req = https.request(url, { method: 'POST', agent, headers, timeout: timeoutMs }, (res) => {
      out.status = res.statusCode;
      out.content_encoding = res.headers['content-encoding'] || 'identity';
      res.on('data', (c) => { out.body_bytes += c.length; });
      res.on('end', () => done(res.complete ? null : 'incomplete response'));
      res.on('error', (e) => done(`response error: ${e.code || e.message}`));
      res.on('close', () => done(res.complete ? null : 'connection closed before the response was complete'));
    });
    req.on('timeout', () => { req.destroy(new Error('timeout')); });
    req.on('error', (e) => done(`request error: ${e.code || e.message}`));
    req.end(body);
  });
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const u = new URL(a.baseUrl);
  const prefix = u.pathname.replace(/\/+$/, '');
  const agentOpts = { keepAlive: true, maxSockets: 1 };
  if (a.ca) agentOpts.ca = fs.readFileSync(a.ca);
  const agent = new https.Agent(agentOpts);
  const model = a.model || DEFAULT_MODELS[a.api];
  const extra = a.headers.map((h) => {
    const j = h.indexOf(':');
    return [h.slice(0, j).trim(), h.slice(j + 1).trim()];
  });
  let ok = true;
  for (let i = 0; i < a.requests; i++) {
    let [path, headers, body] = makeBody(a, model, i);
    headers = { ...headers, 'content-type': 'application/json', 'user-agent': 'tokentap-node-client/1.0' };
    if (a.acceptEncoding) headers['accept-encoding'] = a.acceptEncoding;
    if (a.requestEncoding) {
      body = encode(body, a.requestEncoding);
      headers['content-encoding'] = a.requestEncoding;
    }
    for (const [k, v] of extra) headers[k] = v;
    headers['content-length'] = String(body.length);
    const url = `${u.protocol}//${u.host}${prefix}${path}`;
    const out = await doRequest(agent, url, body, headers, a.timeout * 1000);
    if (out.error || out.status < 200 || out.status >= 300) ok = false;
    console.log(JSON.stringify({ i, ...out }));
    if (a.interval > 0 && i + 1 < a.requests) await new Promise((r) => setTimeout(r, a.interval * 1000));
  }
  agent.destroy();
  process.exitCode = ok ? 0 : 1;
}

main().catch((e) => { console.error(e); process.exit(1); });

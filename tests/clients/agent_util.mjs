// agent_util.mjs — what the scripted agents (demo_agent.mjs, session_agent.mjs) share:
// their common options, a keep-alive agent that can resolve vendor host names to
// loopback, a JSON POST that decodes the answer as it streams, and an SSE parser.
import dns from 'node:dns';
import fs from 'node:fs';
import https from 'node:https';
import zlib from 'node:zlib';

// Parses argv into `a` (its defaults set): --base-url URL (else $ANTHROPIC_BASE_URL),
// --ca FILE, --resolve HOST:ADDRESS (repeatable; a.resolve[HOST] = ADDRESS), --model M,
// --event-delay-ms N, --quiet, and the program's own options: extra[flag](val), where
// val() takes the option's value. Exits 2 on a bad command line.
export function parseAgentArgs(prog, argv, a, extra = {}) {
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) { console.error(`${prog}: ${k} needs a value`); process.exit(2); }
      return argv[++i];
    };
    switch (k) {
      case '--base-url': a.baseUrl = val(); break;
      case '--ca': a.ca = val(); break;
      case '--resolve': {
        const [host, addr] = val().split(/:(.*)/s);
        (a.resolve ||= {})[host] = addr;
        break;
      }
      case '--model': a.model = val(); break;
      case '--event-delay-ms': a.eventDelayMs = parseInt(val(), 10); break;
      case '--quiet': a.quiet = true; break;
      default:
        if (!Object.hasOwn(extra, k)) { console.error(`${prog}: unknown argument ${k}`); process.exit(2); }
        extra[k](val);
    }
  }
  a.baseUrl = (a.baseUrl || process.env.ANTHROPIC_BASE_URL || '').replace(/\/+$/, '');
  if (!a.baseUrl) { console.error(`${prog}: give --base-url or set ANTHROPIC_BASE_URL`); process.exit(2); }
  return a;
}

// A keep-alive https.Agent trusting `ca` (a file) and connecting to resolve[host] for the
// names given there, as curl's --resolve does: the test server plays a vendor's host.
export function httpsAgent({ ca, resolve } = {}) {
  const opts = { keepAlive: true };
  if (ca) opts.ca = fs.readFileSync(ca);
  if (resolve) {
    opts.lookup = (host, o, cb) => {
      const addr = resolve[host];
      if (!addr) return dns.lookup(host, o, cb);
      const family = addr.includes(':') ? 6 : 4;
      return o && o.all ? cb(null, [{ address: addr, family }]) : cb(null, addr, family);
    };
  }
  return new https.Agent(opts);
}

function decoderFor(enc) {
  switch ((enc || 'identity').toLowerCase()) {
    case 'gzip': return zlib.createGunzip();
    case 'deflate': return zlib.createInflate();
    case 'br': return zlib.createBrotliDecompress();
    default: return null;
  }
}

// POSTs obj as JSON; calls onText(str) for each decoded piece of the answer. Resolves
// {status, headers, text, aborted}: a connection cut mid-answer resolves with aborted
// true (and what came before), a failure to connect or send rejects.
export function postJson(agent, url, headers, obj, onText, userAgent) {
  const body = Buffer.from(JSON.stringify(obj));
  return new Promise((resolve, reject) => {
    let done = false;
    const req = https.request(url, {
      method: 'POST', agent,
      headers: { 'content-type': 'application/json', 'accept-encoding': 'gzip, deflate, br',
        'user-agent': userAgent, 'content-length': String(body.length), ...headers },
    }, (res) => {
      let text = '';
      const finish = (aborted) => {
        if (!done) { done = true; resolve({ status: res.statusCode, headers: res.headers, text, aborted }); }
      };
      const dec = decoderFor(res.headers['content-encoding']);
      const src = dec ? res.pipe(dec) : res;
      src.setEncoding('utf8');
      src.on('data', (s) => { text += s; if (onText) onText(s); });
      src.on('end', () => finish(!res.complete));
      src.on('error', () => finish(true));
      res.on('error', () => finish(true));
      res.on('close', () => { if (!res.complete) finish(true); });
    });
    req.on('error', (e) => { if (!done) { done = true; reject(e); } });
    req.end(body);
  });
}

// Incremental SSE parser: feed(str) -> calls onEvent(eventName, dataString).
export function sseParser(onEvent) {
  let buf = '';
  return (s) => {
    buf += s;
    let idx;
    while ((idx = buf.search(/\r?\n\r?\n/)) >= 0) {
      const block = buf.slice(0, idx);
      buf = buf.slice(idx).replace(/^\r?\n\r?\n/, '');
      let ev = 'message';
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith('event:')) ev = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length) onEvent(ev, data.join('\n'));
    }
  };
}

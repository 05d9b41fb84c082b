#!/usr/bin/node
// HTTPS bulk client for bench/tls_bulk.sh (Node's own OpenSSL): GETs /bytes/N REQUESTS times on one
// keep-alive connection to 127.0.0.1:PORT, naming HOST (SNI and Host header), and discards the body.
//   node bench/bulk_client.mjs --port P --host bulk.test --ca cert.pem --bytes N --requests R
import https from 'node:https';
import fs from 'node:fs';

const a = { requests: 1 };
for (let i = 2; i < process.argv.length; i += 2) a[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
const ca = fs.readFileSync(a.ca);

function get(i) {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port: +a.port, servername: a.host, ca, agent,
      path: `/bytes/${a.bytes}?i=${i}`, headers: { host: `${a.host}:${a.port}` } }, (res) => {
      let n = 0;
      res.on('data', (c) => { n += c.length; });
      res.on('end', () => (res.statusCode === 200 && n === +a.bytes ? resolve(n)
        : reject(new Error(`status ${res.statusCode}, ${n} bytes`))));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

let total = 0;
for (let i = 0; i < +a.requests; i++) total += await get(i);
agent.destroy();
console.log(JSON.stringify({ bytes: total }));

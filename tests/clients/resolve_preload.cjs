// Host names resolved to chosen addresses inside one Node program, as curl's --resolve does:
// for programs that take no API address of their own and must reach the test server under a
// vendor's name (Auggie's tenant URL, https://d1.api.augmentcode.com:PORT/). Nothing outside the
// process changes (no /etc/hosts), and names not listed resolve as before.
//
//   NODE_OPTIONS="--require /path/resolve_preload.cjs" TT_RESOLVE="d1.api.augmentcode.com=127.0.0.1[,...]"
//
// Node's net.connect (so https, tls and the built-in fetch) looks names up through dns.lookup,
// which this replaces; dns.promises.lookup is replaced to match.
"use strict";
const dns = require("node:dns");
const net = require("node:net");

const table = new Map();
for (const pair of (process.env.TT_RESOLVE || "").split(",")) {
  const at = pair.indexOf("=");
  if (at > 0) table.set(pair.slice(0, at).trim().toLowerCase(), pair.slice(at + 1).trim());
}

function answer(address, options) {
  const family = net.isIPv6(address) ? 6 : 4;
  return options && options.all ? [{ address, family }] : { address, family };
}

if (table.size) {
  const lookup = dns.lookup;
  dns.lookup = function (hostname, options, callback) {
    if (typeof options === "function") [callback, options] = [options, {}];
    const address = table.get(String(hostname).toLowerCase());
    if (address === undefined) return lookup.call(this, hostname, options, callback);
    const a = answer(address, typeof options === "number" ? { family: options } : options);
    process.nextTick(() => (Array.isArray(a) ? callback(null, a) : callback(null, a.address, a.family)));
    return {};
  };
  const lookupPromise = dns.promises.lookup;
  dns.promises.lookup = async function (hostname, options) {
    const address = table.get(String(hostname).toLowerCase());
    if (address === undefined) return lookupPromise.call(this, hostname, options);
    return answer(address, typeof options === "number" ? { family: options } : options);
  };
}

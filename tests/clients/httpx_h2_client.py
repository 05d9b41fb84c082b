#!/usr/bin/python3
"""Test client: LLM API requests multiplexed on ONE HTTP/2 connection
(httpx with h2, Debian python3-httpx; TLS by the system libssl).

Each --call API[:stream] is one request. The first goes alone (so the
connection is known to be HTTP/2 before the others start: a pool racing
several handshakes would open several connections), then all the others are
sent at once as concurrent streams. Prints one JSON line per request:
{"i", "status", "body_bytes", "http_version", "content_encoding"}, body_bytes
as received (content-encoded). Exits 0 iff every request got a 2xx over
HTTP/2 and a complete body.

  /usr/bin/python3 httpx_h2_client.py --base-url https://127.0.0.1:PORT --ca ca.pem \\
      --call anthropic:stream --call gemini --call openai-chat:stream
"""

import argparse
import asyncio
import json
import os
import sys

import httpx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from py_client import APIS, DEFAULT_MODELS, make_body  # noqa: E402


async def call(client, base, i, api, stream, args):
    path, headers, body = make_body(api, DEFAULT_MODELS[api], stream, args.body_bytes, True, i)
    headers = dict(headers)
    headers["content-type"] = "application/json"
    if args.accept_encoding:
        headers["accept-encoding"] = args.accept_encoding
    for h in args.header:
        k, _, v = h.partition(":")
        headers[k.strip()] = v.strip()
    out = {"i": i, "api": api, "stream": stream, "status": 0, "body_bytes": 0}
    try:
        async with client.stream("POST", base + path, content=body, headers=headers) as resp:
            out["status"] = resp.status_code
            out["http_version"] = resp.http_version
            out["content_encoding"] = resp.headers.get("content-encoding", "identity")
            async for chunk in resp.aiter_raw():
                out["body_bytes"] += len(chunk)
    except httpx.HTTPError as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
    return out


async def run(args):
    calls = []
    for spec in args.call:
        api, _, mode = spec.partition(":")
        if api not in APIS or mode not in ("", "stream"):
            raise SystemExit("bad --call %r: API[:stream], API one of %s" % (spec, ", ".join(APIS)))
        calls.append((api, mode == "stream"))
    base = args.base_url.rstrip("/")
    async with httpx.AsyncClient(http2=True, verify=args.ca or True, timeout=args.timeout) as client:
        results = [await call(client, base, 0, *calls[0], args)] if calls else []
        results += await asyncio.gather(*(call(client, base, i, api, stream, args)
                                          for i, (api, stream) in enumerate(calls[1:], 1)))
    ok = True
    for r in results:
        print(json.dumps(r), flush=True)
        ok = ok and "error" not in r and 200 <= r["status"] < 300 and r.get("http_version") == "HTTP/2"
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--ca", help="CA bundle (default: system trust store)")
    ap.add_argument("--call", action="append", default=[], help="API[:stream], repeatable: one request each")
    ap.add_argument("--body-bytes", type=int, default=0, help="pad each JSON body to about this size")
    ap.add_argument("--header", action="append", default=[], help="K:V on every request, repeatable")
    ap.add_argument("--accept-encoding", help="Accept-Encoding header (default: httpx's)")
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args()
    sys.exit(0 if asyncio.run(run(args)) else 1)


if __name__ == "__main__":
    main()

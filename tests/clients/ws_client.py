#!/usr/bin/python3
"""WebSocket test client for the OpenAI Responses WebSocket transport (as Codex CLI
uses it): opens GET <base>/v1/responses with Upgrade: websocket and
permessage-deflate, sends response.create messages on that one connection and reads
each answer's events up to response.completed.  Python standard library + zlib,
over the ssl module (system libssl, so tokentap sees it).

  /usr/bin/python3 ws_client.py --base-url https://127.0.0.1:PORT --ca ca.pem \\
      --requests 3 --prewarm [--fragment 40 --ping] [--header x-test-ws-fragment:25]

Prints one JSON line per response.create:
  {"i", "prewarm", "status" ("completed" | "error" | "closed"), "events",
   "request_bytes", "response_bytes", "usage"}
request_bytes / response_bytes: the uncompressed JSON messages sent / received.
Exit 0 iff every response.create got its response.completed.
"""

import argparse
import base64
import json
import os
import socket
import ssl
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "llmserver"))
from wsframes import WS_TEXT, WsDeflater, WsEndpoint, parse_ws_extensions, ws_accept  # noqa: E402

FILLER = "lorem ipsum dolor sit amet consectetur adipiscing elit "
TERMINAL = ("response.completed", "response.failed", "response.incomplete", "error")


def create_message(model, i, body_bytes, prewarm, metadata):
    prompt = "Request %d: say something about tokens." % i
    msg = {"type": "response.create", "model": model, "instructions": "You are a test assistant.",
           "input": [{"type": "message", "role": "user",
                      "content": [{"type": "input_text", "text": prompt}]}],
           "tools": [], "tool_choice": "auto", "parallel_tool_calls": False, "store": False,
           "stream": True, "include": [], "prompt_cache_key": "ws-client-session"}
    if prewarm:
        msg["generate"] = False
    if metadata:
        msg["client_metadata"] = metadata
    pad = body_bytes - len(json.dumps(msg, separators=(",", ":")))
    if pad > 0 and not prewarm:
        filler = (FILLER * (pad // len(FILLER) + 1))[:pad]
        msg["input"][0]["content"][0]["text"] = prompt + filler
    return json.dumps(msg, separators=(",", ":")).encode()


def handshake(sock, rfile, host, path, headers, deflate, no_context_takeover):
    key = base64.b64encode(os.urandom(16)).decode()
    lines = ["GET %s HTTP/1.1" % path, "Host: " + host, "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"]
    if deflate:
        ext = "permessage-deflate; client_max_window_bits"
        if no_context_takeover:
            ext += "; client_no_context_takeover; server_no_context_takeover"
        lines.append("Sec-WebSocket-Extensions: " + ext)
    lines += ["%s: %s" % kv for kv in headers]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    status = rfile.readline(65537).decode("latin-1").split()
    resp = {}
    while True:
        hl = rfile.readline(65537)
        if hl in (b"\r\n", b"\n", b""):
            break
        k, _, v = hl.decode("latin-1").partition(":")
        resp[k.strip().lower()] = v.strip()
    if len(status) < 2 or status[1] != "101":
        raise SystemExit("ws_client: upgrade refused: %s" % " ".join(status))
    if resp.get("sec-websocket-accept") != ws_accept(key):
        raise SystemExit("ws_client: bad Sec-WebSocket-Accept")
    agreed = dict(parse_ws_extensions(resp.get("sec-websocket-extensions"))).get("permessage-deflate")
    if agreed is None:
        return None, None
    client_bits = agreed.get("client_max_window_bits")
    bits = int(client_bits) if client_bits not in (None, True) else 15
    deflater = WsDeflater(bits, "client_no_context_takeover" not in agreed)
    inflater = WsDeflater(15, "server_no_context_takeover" not in agreed)
    return inflater, deflater


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", required=True, help="https://HOST:PORT[/prefix]; the socket is <prefix>/v1/responses")
    ap.add_argument("--ca", help="CA bundle (default: system trust store)")
    ap.add_argument("--path", default="/v1/responses")
    ap.add_argument("--requests", type=int, default=1, help="response.create messages (after the prewarm)")
    ap.add_argument("--prewarm", action="store_true", help="first a small response.create with generate:false")
    ap.add_argument("--body-bytes", type=int, default=0, help="pad each message to about this size")
    ap.add_argument("--model", default="gpt-5-codex")
    ap.add_argument("--header", action="append", default=[], help="K:V on the upgrade request, repeatable")
    ap.add_argument("--last-metadata", action="append", default=[],
                    help="K=V into client_metadata of the last response.create (test knobs such as "
                         "x-test-abort-after=3), repeatable")
    ap.add_argument("--no-deflate", action="store_true", help="do not offer permessage-deflate")
    ap.add_argument("--no-context-takeover", action="store_true",
                    help="offer client_ and server_no_context_takeover")
    ap.add_argument("--fragment", type=int, default=0, help="send messages in frames of N payload bytes")
    ap.add_argument("--ping", action="store_true", help="send a ping before the last frame of each message")
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args()

    u = urllib.parse.urlsplit(args.base_url)
    ctx = ssl.create_default_context(cafile=args.ca) if args.ca else ssl.create_default_context()
    ctx.set_alpn_protocols(["http/1.1"])
    raw = socket.create_connection((u.hostname, u.port or 443), timeout=args.timeout)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock = ctx.wrap_socket(raw, server_hostname=u.hostname)
    rfile = sock.makefile("rb", buffering=1 << 16)
    host = u.netloc
    headers = [("User-Agent", "tokentap-ws-client/1.0"), ("Authorization", "Bearer sk-test"),
               ("OpenAI-Beta", "responses_websockets=2026-02-06")]
    for h in args.header:
        k, _, v = h.partition(":")
        headers.append((k.strip(), v.strip()))
    inflater, deflater = handshake(sock, rfile, host, u.path.rstrip("/") + args.path, headers,
                                   not args.no_deflate, args.no_context_takeover)
    ws = WsEndpoint(sock, rfile, True, inflater, deflater)
    last_meta = dict(kv.split("=", 1) for kv in args.last_metadata)

    plan = ([True] if args.prewarm else []) + [False] * args.requests
    ok = True
    open_conn = True
    for i, prewarm in enumerate(plan):
        meta = last_meta if i == len(plan) - 1 else None
        body = create_message(args.model, i, args.body_bytes, prewarm, meta)
        out = {"i": i, "prewarm": prewarm, "status": "closed", "events": 0, "request_bytes": len(body),
               "response_bytes": 0, "usage": None}
        try:
            ws.send_message(body, args.fragment, args.ping)
            while True:
                got = ws.read_message()
                if got is None:
                    open_conn = False
                    break
                opcode, data, _ = got
                if opcode != WS_TEXT:
                    continue
                out["events"] += 1
                out["response_bytes"] += len(data)
                ev = json.loads(data)
                if ev.get("type") in TERMINAL:
                    out["status"] = "completed" if ev["type"] == "response.completed" else "error"
                    out["usage"] = (ev.get("response") or {}).get("usage")
                    break
        except (OSError, ValueError) as e:
            out["error"] = str(e)
            open_conn = False
        print(json.dumps(out), flush=True)
        ok = ok and out["status"] == "completed"
        if not open_conn:
            break
    if open_conn:
        try:
            ws.close()
        except OSError:
            pass
    sock.close()
    sys.exit(0 if ok and len(plan) > 0 else 1)


if __name__ == "__main__":
    main()

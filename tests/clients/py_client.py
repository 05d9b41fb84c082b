#!/usr/bin/python3
"""Test client: sends LLM API requests with http.client + ssl (system libssl).

All requests go over ONE keep-alive connection.  Prints one JSON line per
request: {"i", "status", "body_bytes", ...} where body_bytes counts the
response body as received (content-encoded, chunk framing removed).  Exits 0
if every request got a 2xx status and a complete body.

  /usr/bin/python3 py_client.py --base-url https://127.0.0.1:PORT --ca ca.pem \
      --api anthropic --stream --requests 3 --body-bytes 100000
"""

import argparse
import gzip
import http.client
import json
import ssl
import sys
import urllib.parse
import zlib

APIS = ("anthropic", "anthropic-count", "openai-chat", "openai-responses", "gemini", "gemini-cloudcode")
DEFAULT_MODELS = {"anthropic": "claude-sonnet-4-5", "anthropic-count": "claude-sonnet-4-5",
                  "openai-chat": "gpt-4o-mini", "openai-responses": "gpt-5-mini",
                  "gemini": "gemini-2.5-flash", "gemini-cloudcode": "gemini-2.5-pro"}
FILLER = "lorem ipsum dolor sit amet consectetur adipiscing elit "


def build(api, model, stream, prompt, include_usage=True):
    """Returns (method, path, headers, body_obj)."""
    if api == "anthropic":
        body = {"model": model, "max_tokens": 1024, "stream": stream,
                "system": [{"type": "text", "text": "You are a test assistant.",
                            "cache_control": {"type": "ephemeral"}}],
                "messages": [{"role": "user", "content": prompt}]}
        return "/v1/messages", {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}, body
    if api == "anthropic-count":
        body = {"model": model, "messages": [{"role": "user", "content": prompt}]}
        return "/v1/messages/count_tokens", {"x-api-key": "sk-ant-test",
                                             "anthropic-version": "2023-06-01"}, body
    if api == "openai-chat":
        body = {"model": model, "messages": [{"role": "system", "content": "You are a test assistant."},
                                             {"role": "user", "content": prompt}]}
        if stream:
            body["stream"] = True
            if include_usage:
                body["stream_options"] = {"include_usage": True}
        return "/v1/chat/completions", {"authorization": "Bearer sk-test"}, body
    if api == "openai-responses":
        body = {"model": model, "instructions": "You are a test assistant.", "input": prompt,
                "stream": stream}
        return "/v1/responses", {"authorization": "Bearer sk-test"}, body
    gem = {"contents": [{"role": "user", "parts": [{"text": prompt}]}],
           "generationConfig": {"temperature": 0}}
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    if api == "gemini":
        return "/v1beta/models/%s:%s" % (model, method), {"x-goog-api-key": "test-key"}, gem
    body = {"model": model, "project": "test-project", "user_prompt_id": "p-1", "request": gem}
    return "/v1internal:%s" % method, {"authorization": "Bearer ya29.test"}, body


def make_body(api, model, stream, body_bytes, include_usage, i):
    prompt = "Request %d: say something about tokens." % i
    _, _, obj = build(api, model, stream, prompt, include_usage)
    base = len(json.dumps(obj).encode())
    pad = max(0, body_bytes - base - 1)
    if pad:
        filler = (FILLER * (pad // len(FILLER) + 1))[:pad]
        prompt = prompt + " " + filler
    path, headers, obj = build(api, model, stream, prompt, include_usage)
    return path, headers, json.dumps(obj).encode()


def encode(data, enc):
    if enc == "gzip":
        return gzip.compress(data)
    if enc == "deflate":
        return zlib.compress(data)
    if enc == "br":
        import brotli
        return brotli.compress(data)
    if enc == "zstd":
        import zstandard
        return zstandard.ZstdCompressor().compress(data)
    return data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--ca", help="CA bundle (default: system trust store)")
    ap.add_argument("--api", choices=APIS, default="anthropic")
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--no-include-usage", action="store_true",
                    help="openai-chat --stream without stream_options.include_usage")
    ap.add_argument("--requests", type=int, default=1)
    ap.add_argument("--body-bytes", type=int, default=0, help="pad the JSON body to about this size")
    ap.add_argument("--header", action="append", default=[], help="K:V, repeatable")
    ap.add_argument("--accept-encoding", help="Accept-Encoding header (default: identity)")
    ap.add_argument("--request-encoding", choices=("gzip", "deflate", "br", "zstd"),
                    help="compress the request body with this Content-Encoding")
    ap.add_argument("--model")
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args()

    u = urllib.parse.urlsplit(args.base_url)
    prefix = u.path.rstrip("/")
    ctx = ssl.create_default_context(cafile=args.ca) if args.ca else ssl.create_default_context()
    conn = http.client.HTTPSConnection(u.hostname, u.port or 443, context=ctx, timeout=args.timeout)
    model = args.model or DEFAULT_MODELS[args.api]
    extra = []
    for h in args.header:
        k, _, v = h.partition(":")
        extra.append((k.strip(), v.strip()))

    ok = True
    for i in range(args.requests):
        path, headers, body = make_body(args.api, model, args.stream, args.body_bytes,
                                        not args.no_include_usage, i)
        headers = dict(headers)
        headers["content-type"] = "application/json"
        headers["user-agent"] = "tokentap-py-client/1.0"
        if args.accept_encoding:
            headers["accept-encoding"] = args.accept_encoding
        if args.request_encoding:
            body = encode(body, args.request_encoding)
            headers["content-encoding"] = args.request_encoding
        for k, v in extra:
            headers[k] = v
        out = {"i": i, "status": 0, "body_bytes": 0}
        n = 0
        try:
            conn.request("POST", prefix + path, body=body, headers=headers)
            resp = conn.getresponse()
            out["status"] = resp.status
            out["content_encoding"] = resp.getheader("content-encoding", "identity")
            n = 0
            while True:
                chunk = resp.read(65536)
                if not chunk:
                    break
                n += len(chunk)
            out["body_bytes"] = n
            if not 200 <= resp.status < 300:
                ok = False
        except http.client.IncompleteRead as e:
            out["body_bytes"] = n + len(e.partial)
            out["error"] = "incomplete read"
            ok = False
            conn.close()
        except (OSError, http.client.HTTPException) as e:
            out["body_bytes"] = n
            out["error"] = "%s: %s" % (type(e).__name__, e)
            ok = False
            conn.close()
        print(json.dumps(out), flush=True)
    conn.close()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

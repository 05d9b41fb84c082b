#!/usr/bin/python3
"""Writes the test inputs in this directory.

*.http: one direction of one TLS connection, as the capture hands it over
(tests/unit/http1_parser_test.cpp). reply.json.*, zeros_8m.br: compressed bodies
(tests/unit/content_encoding_test.cpp). Deterministic: re-running rewrites identical
files. Needs Debian python3-brotli and python3-zstandard.
"""
import gzip
import json
import os

import brotli
import zstandard

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def chunked(pieces):
    out = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
    return out + b"0\r\n\r\n"


def head(start, headers):
    return (start + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode()


def sse(event, data):
    return (f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n").encode()


# --- Anthropic Messages API, streamed: one SSE event per chunk -----------------------
anthropic_events = [
    sse("message_start", {"type": "message_start", "message": {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
        "content": [], "model": "claude-sonnet-4-20250514", "stop_reason": None,
        "stop_sequence": None, "usage": {"input_tokens": 472, "cache_creation_input_tokens": 0,
                                         "cache_read_input_tokens": 0, "output_tokens": 2}}}),
    sse("content_block_start", {"type": "content_block_start", "index": 0,
                                "content_block": {"type": "text", "text": ""}}),
    b"event: ping\ndata: {\"type\": \"ping\"}\n\n",
]
for text in ["Hello", "! How can", " I help you", " today?"]:
    anthropic_events.append(sse("content_block_delta", {
        "type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}))
anthropic_events += [
    sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
    sse("message_delta", {"type": "message_delta",
                          "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                          "usage": {"output_tokens": 12}}),
    sse("message_stop", {"type": "message_stop"}),
]
write("anthropic_sse_response.http", head("HTTP/1.1 200 OK", [
    ("Date", "Tue, 03 Jun 2025 10:15:02 GMT"),
    ("Content-Type", "text/event-stream; charset=utf-8"),
    ("Transfer-Encoding", "chunked"),
    ("Connection", "keep-alive"),
    ("Cache-Control", "no-cache"),
    ("anthropic-ratelimit-requests-limit", "4000"),
    ("anthropic-ratelimit-requests-remaining", "3999"),
    ("request-id", "req_011CPkXW6GqVYbJ8Ff4dFbzQ"),
    ("anthropic-organization-id", "5c2a1f0e-7d3b-4a59-9a43-0c1e2b3d4f56"),
    ("via", "1.1 google"),
    ("cf-cache-status", "DYNAMIC"),
    ("Server", "cloudflare"),
    ("CF-RAY", "94a1b2c3d4e5f607-FRA"),
]) + chunked(anthropic_events))

# --- OpenAI Chat Completions, streamed: chunks do not line up with events ------------
def oai(delta, finish=None, usage=None):
    d = {"id": "chatcmpl-Bf3kQ2xZ9yH7wV1uT0sR5pO4nM3lK", "object": "chat.completion.chunk",
         "created": 1748945702, "model": "gpt-4o-2024-08-06", "service_tier": "default",
         "system_fingerprint": "fp_07871e2ad8",
         "choices": [] if usage else [{"index": 0, "delta": delta, "logprobs": None,
                                       "finish_reason": finish}]}
    if usage:
        d["usage"] = usage
    return b"data: " + json.dumps(d, separators=(",", ":")).encode() + b"\n\n"


openai_body = b"".join([
    oai({"role": "assistant", "content": "", "refusal": None}),
    oai({"content": "Hi"}), oai({"content": " there"}), oai({"content": "!"}),
    oai({}, finish="stop"),
    oai(None, usage={"prompt_tokens": 19, "completion_tokens": 3, "total_tokens": 22}),
    b"data: [DONE]\n\n",
])
cuts = [0, 300, 301, 650, 1100, len(openai_body)]
write("openai_sse_response.http", head("HTTP/1.1 200 OK", [
    ("Date", "Tue, 03 Jun 2025 10:15:03 GMT"),
    ("Content-Type", "text/event-stream; charset=utf-8"),
    ("Transfer-Encoding", "chunked"),
    ("Connection", "keep-alive"),
    ("access-control-expose-headers", "X-Request-ID"),
    ("openai-organization", "user-abc123"),
    ("openai-processing-ms", "211"),
    ("openai-version", "2020-10-01"),
    ("x-request-id", "req_7f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c"),
    ("strict-transport-security", "max-age=31536000; includeSubDomains; preload"),
    ("Server", "cloudflare"),
]) + chunked([openai_body[a:b] for a, b in zip(cuts, cuts[1:])]))

# --- Keep-alive: three requests, then their three responses ----------------------------
msg_body = json.dumps({"model": "claude-sonnet-4-20250514", "max_tokens": 1024,
                       "messages": [{"role": "user", "content": "Hello, Claude"}]},
                      separators=(",", ":")).encode()
req_common = [("Host", "api.anthropic.com"), ("User-Agent", "claude-cli/1.0.8 (external, cli)"),
              ("Accept", "application/json"), ("x-api-key", "sk-ant-REDACTED"),
              ("anthropic-version", "2023-06-01")]
tool_body = json.dumps({"messages": [{"role": "user", "content": "count me"}],
                        "model": "claude-sonnet-4-20250514"}, separators=(",", ":")).encode()
write("keepalive_requests.http",
      head("POST /v1/messages HTTP/1.1", req_common + [
          ("Content-Type", "application/json"), ("Content-Length", str(len(msg_body)))]) + msg_body
      + head("GET /v1/models?limit=20 HTTP/1.1", req_common)
      + head("POST /v1/messages/count_tokens HTTP/1.1", req_common + [
          ("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")])
      + chunked([tool_body[:40], tool_body[40:]]))

reply = json.dumps({"id": "msg_01Aq9w938a90dw8q", "type": "message", "role": "assistant",
                    "model": "claude-sonnet-4-20250514",
                    "content": [{"type": "text", "text": "Hello! How can I help?"}],
                    "stop_reason": "end_turn", "stop_sequence": None,
                    "usage": {"input_tokens": 12, "output_tokens": 9}},
                   separators=(",", ":")).encode()
models = b'{"data":[{"type":"model","id":"claude-sonnet-4-20250514"}],"has_more":false}'
count = b'{"input_tokens":14}'
resp_common = [("Date", "Tue, 03 Jun 2025 10:15:04 GMT"), ("Content-Type", "application/json"),
               ("Connection", "keep-alive")]
write("keepalive_responses.http",
      head("HTTP/1.1 200 OK", resp_common + [("Content-Length", str(len(reply)))]) + reply
      + head("HTTP/1.1 200 OK", resp_common + [("Content-Length", str(len(models)))]) + models
      + head("HTTP/1.1 200 OK", resp_common + [("Transfer-Encoding", "chunked")]) + chunked([count]))

# --- gzip'd JSON response --------------------------------------------------------------
gz = gzip.compress(reply, mtime=0)
write("gzip_response.http", head("HTTP/1.1 200 OK", [
    ("Content-Type", "application/json"), ("Content-Encoding", "gzip"),
    ("Content-Length", str(len(gz)))]) + gz)
write("reply.json", reply)  # the decoded body of gzip_response.http and reply.json.*

# --- Damaged streams ---------------------------------------------------------------------
anthropic = open(os.path.join(HERE, "anthropic_sse_response.http"), "rb").read()
write("truncated_response.http", anthropic[:1000])
write("malformed_chunk_response.http",
      head("HTTP/1.1 200 OK", [("Transfer-Encoding", "chunked")]) + b"5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n"
      + head("HTTP/1.1 204 No Content", [("Date", "Tue, 03 Jun 2025 10:15:05 GMT")]))

# --- Compressed bodies for tests/unit/content_encoding_test.cpp (which builds its zlib
# and simple zstd cases itself) ---------------------------------------------------------
write("reply.json.br", brotli.compress(reply))
write("reply.json.gz.br", brotli.compress(gzip.compress(reply, mtime=0)))  # "gzip, br"
write("zeros_8m.br", brotli.compress(b"\0" * (8 << 20)))
# Streaming-style zstd: no content size in the frame header, and two frames back to back.
nosize = zstandard.ZstdCompressor(write_content_size=False)
obj = nosize.compressobj()
write("reply.json.nosize.zst", obj.compress(reply) + obj.flush())
half = len(reply) // 2
frames = []
for part in (reply[:half], reply[half:]):
    o = nosize.compressobj()
    frames.append(o.compress(part) + o.flush())
write("reply.json.2frames.zst", b"".join(frames))

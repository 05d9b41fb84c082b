#!/usr/bin/python3
"""Fake LLM API server for tokentap tests (ground truth).

Speaks TLS with ALPN h2 and http/1.1 and imitates the wire formats of the
Anthropic Messages API, the OpenAI Chat Completions and Responses APIs, the
Gemini API and Gemini Code Assist (cloudcode-pa), Amazon Bedrock (InvokeModel,
its eventstream, Converse), Vertex AI, Azure OpenAI and Ollama, with the usage
shapes of the vendor the request's path or Host names.  Every request is logged
as one JSON line *before* the last byte of its response is sent, so a client
that has read its whole response can read the log.  See README.md for details.

Run with /usr/bin/python3 (needs python3-h2, python3-brotli, python3-zstandard).
"""

import argparse
import base64
import email.utils
import hashlib
import http
import itertools
import json
import os
import re
import select
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse
import uuid
import zlib

import brotli
import zstandard

from wsframes import WsDeflater, WsEndpoint, parse_ws_extensions, ws_accept

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

REDACTED_HEADERS = {"authorization", "x-api-key", "x-goog-api-key", "cookie"}
IDLE_TIMEOUT = 300.0

# --------------------------------------------------------------------------
# Logging
# --------------------------------------------------------------------------


class RequestLog:
    def __init__(self, path):
        self._lock = threading.Lock()
        # O_APPEND: a test may truncate the file; later writes go to the new end.
        self._f = open(path, "a", encoding="utf-8")

    def write(self, record):
        line = json.dumps(record, separators=(",", ":"), sort_keys=False)
        with self._lock:
            self._f.write(line + "\n")
            self._f.flush()


LOG = None
DUMP_DIR = None  # --dump-bodies: decoded request bodies, one file per request
NO_WEBSOCKET = False  # --no-websocket: refuse WebSocket upgrades
CONN_TLS = {}  # conn id -> negotiated TLS version ("TLSv1.3"), while the connection lives
CONN_SNI = {}  # conn id -> the server name the client sent in its TLS ClientHello (None if none)
CONN_COUNTER = itertools.count(1)
REQ_COUNTER = itertools.count(1)

# --------------------------------------------------------------------------
# Content codings
# --------------------------------------------------------------------------

KNOWN_ENCODINGS = ("gzip", "deflate", "br", "zstd", "identity")


def decode_body(body, encoding_header):
    """Undo Content-Encoding (possibly a list, applied in order)."""
    if not encoding_header:
        return body
    codings = [c.strip().lower() for c in encoding_header.split(",") if c.strip()]
    for coding in reversed(codings):
        if coding in ("identity", ""):
            continue
        if coding in ("gzip", "x-gzip"):
            body = zlib.decompress(body, 47)  # gzip or zlib, auto-detect
        elif coding == "deflate":
            try:
                body = zlib.decompress(body)
            except zlib.error:
                body = zlib.decompress(body, -15)  # raw deflate, seen in the wild
        elif coding == "br":
            body = brotli.decompress(body)
        elif coding == "zstd":
            body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
        else:
            raise ValueError("unsupported content-encoding %r" % coding)
    return body


class Encoder:
    """Incremental compressor: feed(event) returns bytes ready to send after a
    flush; finish() returns the trailer."""

    def __init__(self, coding):
        self.coding = coding
        if coding == "gzip":
            self._z = zlib.compressobj(6, zlib.DEFLATED, 31)
        elif coding == "deflate":
            self._z = zlib.compressobj(6, zlib.DEFLATED, 15)
        elif coding == "br":
            self._z = brotli.Compressor()
        elif coding == "zstd":
            self._z = zstandard.ZstdCompressor().compressobj()
        else:
            self._z = None

    def feed(self, data):
        if self._z is None:
            return data
        if self.coding in ("gzip", "deflate"):
            return self._z.compress(data) + self._z.flush(zlib.Z_SYNC_FLUSH)
        if self.coding == "br":
            return self._z.process(data) + self._z.flush()
        return self._z.compress(data) + self._z.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)

    def finish(self):
        if self._z is None:
            return b""
        if self.coding in ("gzip", "deflate"):
            return self._z.flush(zlib.Z_FINISH)
        if self.coding == "br":
            return self._z.finish()
        return self._z.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)


def compress_whole(data, coding):
    if coding == "gzip":
        z = zlib.compressobj(6, zlib.DEFLATED, 31)
        return z.compress(data) + z.flush()
    if coding == "deflate":
        return zlib.compress(data)
    if coding == "br":
        return brotli.compress(data)
    if coding == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


def accepts_gzip(accept_encoding):
    for part in (accept_encoding or "").split(","):
        bits = [b.strip() for b in part.split(";")]
        if bits[0].lower() in ("gzip", "x-gzip", "*"):
            q = 1.0
            for b in bits[1:]:
                if b.lower().startswith("q="):
                    try:
                        q = float(b[2:])
                    except ValueError:
                        q = 0.0
            if q > 0:
                return True
    return False


# --------------------------------------------------------------------------
# Requests, replies, usage
# --------------------------------------------------------------------------


class Request:
    def __init__(self, transport, conn_id, client_port, method, target, headers, body):
        self.transport = transport
        self.conn_id = conn_id
        self.client_port = client_port
        self.method = method
        if "?" in target:
            self.path, self.query = target.split("?", 1)
        else:
            self.path, self.query = target, ""
        self.header_list = headers  # [(lower-name, value)]
        self.headers = {}
        for k, v in headers:
            k = k.lower()
            if k in self.headers:
                self.headers[k] += ", " + v
            else:
                self.headers[k] = v
        self.body = body  # as received (content-encoded, no chunk framing)
        self.words_override = None  # reply length fixed by the transport (WebSocket prewarm: 0)

    def h(self, name, default=None):
        return self.headers.get(name, default)


class Reply:
    """A fully computed response.  Either `body` (non-streaming) or `events`
    (streaming; each event is one chunk / DATA write)."""

    def __init__(self, status, content_type, headers=None):
        self.status = status
        self.content_type = content_type
        self.headers = list(headers or [])
        self.body = None
        self.events = None
        self.final_usage_index = None  # index of the first event carrying final usage
        self.partial_usage_indices = set()  # events carrying partial usage
        # filled in by finalize():
        self.encoding = "identity"
        self.wire_body = None
        self.wire_events = None
        self.wire_trailer = b""
        self.abort_after = None
        self.delay_s = 0.0
        self.event_delay_s = 0.0


def parse_test_usage(value):
    out = {}
    if not value:
        return out
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        k, _, v = part.partition("=")
        k = k.strip().lower().replace("-", "_")
        aliases = {"cache_write": "cache_write_5m", "cache_creation": "cache_write_5m",
                   "input_tokens": "input", "output_tokens": "output"}
        k = aliases.get(k, k)
        if k not in ("input", "cache_read", "cache_write_5m", "cache_write_1h", "output", "reasoning"):
            raise ValueError("unknown x-test-usage key %r" % k)
        out[k] = max(0, int(v.strip()))
    return out


WORDS = ("the model considered your request carefully and here is a short answer "
         "about tokens caches streams and the way agents talk to language model "
         "servers over encrypted connections while counting every byte").split()


def reply_text(n_words):
    words = []
    for i in range(n_words):
        w = WORDS[i % len(WORDS)]
        if i % 9 == 0:
            w = w.capitalize()
        if i % 9 == 8 or i == n_words - 1:
            w += "."
        words.append(w)
    return " ".join(words)


def split_text(text, words_per_piece=3):
    """Split text into streaming deltas whose concatenation is text."""
    words = text.split(" ") if text else []
    pieces = []
    for i in range(0, len(words), words_per_piece):
        chunk = " ".join(words[i:i + words_per_piece])
        pieces.append(chunk if i == 0 else " " + chunk)
    return pieces


# Wire formats whose answers are Anthropic messages (Bedrock's InvokeModel wraps them; Converse
# carries the same counters): separate cache-write counters, no reasoning counter.
ANTHROPIC_FAMILY = ("anthropic_messages", "bedrock_invoke", "bedrock_converse")


def usage_caps(call):
    """What a call's answer can carry: (cache reads, cache writes, reasoning). Cache writes are
    "split" (5m and 1h apart), "single" (one counter: all writes count as 5m) or None."""
    if call.wire in ANTHROPIC_FAMILY:
        return True, "split", False
    if call.wire == "ollama" or call.provider == "ollama":
        return False, None, False
    if call.wire == "openai_chat" and call.provider == "openrouter":
        return True, "single", True
    if call.wire == "openai_chat" and call.provider in ("moonshot", "zai"):
        return True, None, False
    return True, None, True


def compute_usage(req, call, decoded_body, extra_output=0):
    """Returns the normalised usage dict (tokentap convention): what the answer on this call's
    wire carries, counters the wire lacks being 0."""
    over = parse_test_usage(req.h("x-test-usage"))
    p_total = max(1, len(decoded_body) // 4)
    reads, writes, has_reasoning = usage_caps(call)
    if not reads:
        default_read = 0
    elif call.wire in ANTHROPIC_FAMILY:
        marked = b"cache_control" in decoded_body or b"cachePoint" in decoded_body
        default_read = p_total // 2 if marked else 0
    else:
        default_read = p_total // 3
    w5 = over.get("cache_write_5m", 0) if writes else 0
    w1 = over.get("cache_write_1h", 0) if writes else 0
    if writes == "single":
        w5, w1 = w5 + w1, 0
    cache_read = over.get("cache_read", default_read) if reads else 0
    if "input" in over:
        inp = over["input"]
    else:
        inp = max(0, p_total - cache_read - w5 - w1)
    n_words = reply_words(req)
    reasoning = over.get("reasoning", 0)
    output = over.get("output", n_words + extra_output + reasoning)
    return {
        "input_tokens": inp,
        "cache_read_tokens": cache_read,
        "cache_write_tokens": w5 + w1,
        "cache_write_5m_tokens": w5,
        "cache_write_1h_tokens": w1,
        "output_tokens": output,
        "reasoning_tokens": min(reasoning, output) if has_reasoning else 0,
    }


def zero_usage():
    return {k: 0 for k in ("input_tokens", "cache_read_tokens", "cache_write_tokens",
                           "cache_write_5m_tokens", "cache_write_1h_tokens",
                           "output_tokens", "reasoning_tokens")}


def reply_words(req):
    if req.words_override is not None:
        return req.words_override
    v = req.h("x-test-reply-words")
    if v is not None:
        return max(0, int(v))
    return 24


def sse(event, data, nl="\n"):
    payload = json.dumps(data, separators=(",", ":")) if not isinstance(data, str) else data
    if event:
        return ("event: %s%sdata: %s%s%s" % (event, nl, payload, nl, nl)).encode()
    return ("data: %s%s%s" % (payload, nl, nl)).encode()


def json_bytes(obj, pretty=False):
    if pretty:
        return json.dumps(obj, indent=2).encode() + b"\n"
    return json.dumps(obj, separators=(",", ":")).encode()


def rand_id(n=24):
    return uuid.uuid4().hex[:n]


# --------------------------------------------------------------------------
# Provider implementations.  Each returns (Reply, log_fields)
# --------------------------------------------------------------------------


def anthropic_error(status, rid):
    kinds = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
             404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
             500: "api_error", 529: "overloaded_error"}
    body = {"type": "error",
            "error": {"type": kinds.get(status, "api_error"), "message": "test error %d" % status},
            "request_id": rid}
    return json_bytes(body)


def openai_error(status):
    kinds = {400: "invalid_request_error", 401: "invalid_request_error", 429: "rate_limit_exceeded",
             500: "server_error", 503: "server_error"}
    body = {"error": {"message": "test error %d" % status, "type": kinds.get(status, "server_error"),
                      "param": None, "code": kinds.get(status, "server_error")}}
    return json_bytes(body, pretty=True)


def gemini_error(status):
    names = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
             404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
    body = {"error": {"code": status, "message": "test error %d" % status,
                      "status": names.get(status, "UNKNOWN")}}
    return json_bytes(body, pretty=True)


BEDROCK_ERRORS = {400: "ValidationException", 403: "AccessDeniedException", 404: "ResourceNotFoundException",
                  408: "ModelTimeoutException", 424: "ModelErrorException", 429: "ThrottlingException",
                  500: "InternalServerException", 503: "ServiceUnavailableException"}


def error_reply(wire, status, rid):
    """The error answer of a wire format (Anthropic family, OpenAI, Gemini, Bedrock, Ollama)."""
    ctype = "application/json"
    if wire == "anthropic_messages":
        body = anthropic_error(status, rid)
        hdrs = [("request-id", rid)]
    elif wire in ("openai_chat", "openai_responses"):
        body = openai_error(status)
        hdrs = [("x-request-id", rid)]
    elif wire in ("bedrock_invoke", "bedrock_converse"):
        kind = BEDROCK_ERRORS.get(status, "InternalServerException")
        body = json_bytes({"message": "test error %d" % status})
        hdrs = [("x-amzn-requestid", rid), ("x-amzn-errortype", kind + ":http://internal.amazon.com/coral/com.amazon.bedrock/")]
    elif wire == "ollama":
        body = json_bytes({"error": "test error %d" % status})
        hdrs = []
        ctype = "application/json; charset=utf-8"
    else:
        body = gemini_error(status)
        hdrs = []
        ctype = "application/json; charset=UTF-8"
    r = Reply(status, ctype, hdrs)
    r.body = body
    return r


def parse_tool_use(req):
    """x-test-tool-use: NAME [JSON-input]  ->  (name, input_obj) or None."""
    v = (req.h("x-test-tool-use") or "").strip()
    if not v:
        return None
    name, _, rest = v.partition(" ")
    try:
        inp = json.loads(rest) if rest.strip() else {}
    except ValueError as e:
        raise ValueError("bad x-test-tool-use JSON: %s" % e)
    return name, inp


# --auto-tool-call NAME=JSON: answer with a call to NAME whenever the request offers that tool
# (harnesses such as Cline only stop once the model calls their "finish" tool).
AUTO_TOOL_CALLS = {}


def offered_tool_names(j):
    """Tool names a request offers: Anthropic {name}, Chat {function:{name}}, Responses {name}."""
    names = set()
    tools = j.get("tools") or (j.get("toolConfig") or {}).get("tools") or []  # Converse: toolConfig.tools
    for t in tools:
        if isinstance(t, dict):
            fn = t.get("function") or t.get("toolSpec")
            name = fn.get("name") if isinstance(fn, dict) else t.get("name")
            if isinstance(name, str):
                names.add(name)
    return names


def tool_call_for(req, j):
    """The tool call to answer with: the x-test-tool-use header, else an --auto-tool-call
    tool that the request offers, else None."""
    tool = parse_tool_use(req)
    if tool or not AUTO_TOOL_CALLS:
        return tool
    for name in sorted(offered_tool_names(j)):
        if name in AUTO_TOOL_CALLS:
            return name, AUTO_TOOL_CALLS[name]
    return None


def tool_output_tokens(tool_json):
    """Tool input counts as output: len(compact input JSON) // 4, at least 1."""
    return max(1, len(tool_json) // 4)


def anthropic_answer(req, call, j, decoded, id_prefix="msg_"):
    """One Anthropic Messages answer, whichever framing carries it (SSE, Bedrock's eventstream):
    the message (non-streaming body) and the stream events [(type, dict)], the usage, and the
    index of the first event with the final usage."""
    model = call.response_model
    tool = tool_call_for(req, j)
    tool_json = json.dumps(tool[1], separators=(",", ":")) if tool else ""
    u = compute_usage(req, call, decoded, extra_output=tool_output_tokens(tool_json) if tool else 0)
    text = reply_text(reply_words(req))
    msg_id = id_prefix + rand_id(24)
    stop_reason = "tool_use" if tool else "end_turn"
    tool_id = "toolu_" + rand_id(24)
    wire_usage = {
        "input_tokens": u["input_tokens"],
        "cache_creation_input_tokens": u["cache_write_tokens"],
        "cache_read_input_tokens": u["cache_read_tokens"],
        "cache_creation": {"ephemeral_5m_input_tokens": u["cache_write_5m_tokens"],
                           "ephemeral_1h_input_tokens": u["cache_write_1h_tokens"]},
        "output_tokens": u["output_tokens"],
        "service_tier": "standard",
    }
    content = [{"type": "text", "text": text}]
    if tool:
        content.append({"type": "tool_use", "id": tool_id, "name": tool[0], "input": tool[1]})
    message = {"id": msg_id, "type": "message", "role": "assistant", "model": model,
               "content": content, "stop_reason": stop_reason, "stop_sequence": None, "usage": wire_usage}
    start_usage = dict(wire_usage)
    start_usage["output_tokens"] = min(1, u["output_tokens"])
    ev = [("message_start", {"type": "message_start", "message": {
        "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": start_usage}})]
    ev.append(("content_block_start", {"type": "content_block_start", "index": 0,
                                       "content_block": {"type": "text", "text": ""}}))
    ev.append(("ping", {"type": "ping"}))
    for piece in split_text(text):
        ev.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                                           "delta": {"type": "text_delta", "text": piece}}))
    ev.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    if tool:
        ev.append(("content_block_start", {"type": "content_block_start", "index": 1,
                                           "content_block": {"type": "tool_use", "id": tool_id,
                                                             "name": tool[0], "input": {}}}))
        for piece in json_pieces(tool_json):
            ev.append(("content_block_delta", {"type": "content_block_delta", "index": 1,
                                               "delta": {"type": "input_json_delta", "partial_json": piece}}))
        ev.append(("content_block_stop", {"type": "content_block_stop", "index": 1}))
    final_idx = len(ev)
    ev.append(("message_delta", {"type": "message_delta",
                                 "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                                 "usage": {"input_tokens": u["input_tokens"],
                                           "cache_creation_input_tokens": u["cache_write_tokens"],
                                           "cache_read_input_tokens": u["cache_read_tokens"],
                                           "output_tokens": u["output_tokens"]}}))
    ev.append(("message_stop", {"type": "message_stop"}))
    fields = {"usage": u, "billable": True, "stop_reason": stop_reason, "response_id": msg_id}
    return message, ev, final_idx, fields


def json_pieces(tool_json):
    """A tool call's input JSON in three streamed pieces."""
    step = max(1, (len(tool_json) + 2) // 3)
    return [tool_json[k:k + step] for k in range(0, len(tool_json), step)]


def do_anthropic_messages(req, call, j, decoded, rid):
    message, events, final_idx, fields = anthropic_answer(req, call, j, decoded)
    # Vertex AI answers without Anthropic's own response headers.
    hdrs = [] if call.provider == "gcp.vertex_ai" else [
        ("request-id", rid), ("anthropic-organization-id", "00000000-0000-0000-0000-000000000000")]
    if not call.stream:
        r = Reply(200, "application/json", hdrs)
        r.body = json_bytes(message)
    else:
        r = Reply(200, "text/event-stream; charset=utf-8", hdrs + [("cache-control", "no-cache")])
        r.events = [sse(name, d) for name, d in events]
        r.final_usage_index = final_idx
        r.partial_usage_indices = {0}
    if call.provider == "gcp.vertex_ai":
        fields["request_id"] = None
    return r, fields


def do_anthropic_count(req, call, j, decoded, rid):
    p_total = max(1, len(decoded) // 4)
    over = parse_test_usage(req.h("x-test-usage"))
    n = over.get("input", p_total)
    r = Reply(200, "application/json", [("request-id", rid)])
    r.body = json_bytes({"input_tokens": n})
    u = zero_usage()
    u["input_tokens"] = n
    return r, {"usage": u, "billable": False}


# OpenRouter reports each request's cost (credits = USD) in its usage: made up here from these
# per-million-token prices, rounded to 1e-9 (x-test-cost: USD overrides the total).
OPENROUTER_PRICES = {"input_tokens": 3.0, "cache_read_tokens": 0.3, "cache_write_tokens": 3.75}
OPENROUTER_OUTPUT_PRICE = 15.0
OPENROUTER_BYOK_FEE = 0.05  # with a key of your own (x-test-byok: 1), OpenRouter bills a fee


def openrouter_cost(req, u):
    """(usage.cost, usage.is_byok, usage.cost_details) of an OpenRouter answer."""
    prompt = round(sum(u[k] * p for k, p in OPENROUTER_PRICES.items()) / 1e6, 9)
    completion = round(u["output_tokens"] * OPENROUTER_OUTPUT_PRICE / 1e6, 9)
    total = round(prompt + completion, 9)
    if (req.h("x-test-cost") or "").strip():
        total = float(req.h("x-test-cost"))
    byok = (req.h("x-test-byok") or "").strip().lower() in ("1", "true", "yes")
    details = {"upstream_inference_cost": total if byok else None,
               "upstream_inference_prompt_cost": prompt, "upstream_inference_completions_cost": completion}
    return (round(total * OPENROUTER_BYOK_FEE, 9) if byok else total), byok, details


def chat_usage_wire(u, call, cost=None):
    """Chat Completions usage in the shape of the vendor the call goes to."""
    p = call.provider
    prompt = u["input_tokens"] + u["cache_read_tokens"] + (u["cache_write_tokens"] if p == "openrouter" else 0)
    w = {"prompt_tokens": prompt, "completion_tokens": u["output_tokens"], "total_tokens": prompt + u["output_tokens"]}
    if p == "ollama":
        return w
    if p == "deepseek":  # hit + miss = prompt_tokens; no OpenAI-style details for the cache
        w.update({"prompt_cache_hit_tokens": u["cache_read_tokens"], "prompt_cache_miss_tokens": u["input_tokens"],
                  "completion_tokens_details": {"reasoning_tokens": u["reasoning_tokens"]}})
        return w
    if p == "moonshot":  # top-level cached_tokens
        w["cached_tokens"] = u["cache_read_tokens"]
        return w
    if p == "zai":
        w["prompt_tokens_details"] = {"cached_tokens": u["cache_read_tokens"]}
        return w
    if p == "openrouter":
        usd, byok, details = cost
        w.update({"cost": usd, "is_byok": byok,
                  "prompt_tokens_details": {"cached_tokens": u["cache_read_tokens"],
                                            "cache_write_tokens": u["cache_write_tokens"], "audio_tokens": 0},
                  "cost_details": details,
                  "completion_tokens_details": {"reasoning_tokens": u["reasoning_tokens"], "image_tokens": 0}})
        return w
    w.update({"prompt_tokens_details": {"cached_tokens": u["cache_read_tokens"], "audio_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": u["reasoning_tokens"], "audio_tokens": 0,
                                            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}})
    return w


# Where a vendor's Chat Completions stream carries its usage:
#   "openai":     a last chunk with "choices": [], only with stream_options.include_usage
#   "always":     the same chunk, always (OpenRouter)
#   "in_choice":  choices[0].usage of the chunk with the finish_reason, always (Moonshot)
#   "in_finish":  top-level usage of the chunk with the finish_reason, always (Z.ai)
CHAT_STREAM_USAGE = {"openrouter": "always", "moonshot": "in_choice", "zai": "in_finish"}

AZURE_FILTERS = {k: {"filtered": False, "severity": "safe"} for k in ("hate", "self_harm", "sexual", "violence")}


def do_openai_chat(req, call, j, decoded, rid):
    model = call.response_model
    include_usage = bool((j.get("stream_options") or {}).get("include_usage"))
    style = CHAT_STREAM_USAGE.get(call.provider, "openai")
    azure = call.provider == "azure.ai.openai"
    tool = tool_call_for(req, j)
    tool_json = json.dumps(tool[1], separators=(",", ":")) if tool else ""
    u = compute_usage(req, call, decoded, extra_output=tool_output_tokens(tool_json) if tool else 0)
    cost = openrouter_cost(req, u) if call.provider == "openrouter" else None
    wire_usage = chat_usage_wire(u, call, cost)
    text = reply_text(reply_words(req))
    cid = ("gen-%d-" % time.time() if call.provider == "openrouter" else "chatcmpl-") + rand_id(29)
    call_id = "call_" + rand_id(24)
    finish = "tool_calls" if tool else "stop"
    created = int(time.time())
    hdrs = [("x-request-id", rid), ("openai-processing-ms", "7"), ("openai-version", "2020-10-01")]
    if azure:
        hdrs += [("apim-request-id", str(uuid.uuid4())), ("x-ms-region", "East US")]
    fields = {"usage": u, "billable": True, "usage_sent": True, "stop_reason": finish, "response_id": cid}
    if cost is not None:
        fields["reported_cost_usd"] = cost[0]
        fields["reported_cost"] = {"cost": cost[0], "is_byok": cost[1], "cost_details": cost[2]}
    if not call.stream:
        message = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
        if tool:
            message["tool_calls"] = [{"id": call_id, "type": "function",
                                      "function": {"name": tool[0], "arguments": tool_json}}]
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
        body = {"id": cid, "object": "chat.completion", "created": created, "model": model,
                "choices": [choice], "usage": wire_usage, "service_tier": "default",
                "system_fingerprint": "fp_test0001"}
        if azure:
            choice["content_filter_results"] = AZURE_FILTERS
            body["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": AZURE_FILTERS}]
        r = Reply(200, "application/json", hdrs)
        r.body = json_bytes(body, pretty=True)
        return r, fields
    r = Reply(200, "text/event-stream; charset=utf-8", hdrs)

    def chunk(delta, finish=None):
        c = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
             "service_tier": "default", "system_fingerprint": "fp_test0001",
             "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if include_usage and style == "openai":
            c["usage"] = None
        return c

    ev = []
    if call.provider == "openrouter":
        ev.append(b": OPENROUTER PROCESSING\n\n")  # an SSE comment, as OpenRouter sends while it waits
    if azure:  # Azure's first chunk: no choices, the prompt's content-filter results
        ev.append(sse(None, {"choices": [], "created": 0, "id": "", "model": "", "object": "",
                             "prompt_filter_results": [{"prompt_index": 0,
                                                        "content_filter_results": AZURE_FILTERS}]}))
    ev.append(sse(None, chunk({"role": "assistant", "content": "", "refusal": None})))
    for piece in split_text(text):
        ev.append(sse(None, chunk({"content": piece})))
    if tool:
        ev.append(sse(None, chunk({"tool_calls": [{"index": 0, "id": call_id, "type": "function",
                                                   "function": {"name": tool[0], "arguments": ""}}]})))
        for piece in json_pieces(tool_json):
            ev.append(sse(None, chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})))
    last = chunk({}, finish)
    if style in ("in_choice", "in_finish"):
        r.final_usage_index = len(ev)
        (last["choices"][0] if style == "in_choice" else last)["usage"] = wire_usage
    ev.append(sse(None, last))
    if style == "always" or (style == "openai" and include_usage):
        r.final_usage_index = len(ev)
        ev.append(sse(None, {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                             "service_tier": "default", "system_fingerprint": "fp_test0001",
                             "choices": [], "usage": wire_usage}))
    elif style == "openai":
        fields["usage_sent"] = False
        r.final_usage_index = len(ev)  # abort withholds [DONE]
    ev.append(sse(None, "[DONE]"))
    r.events = ev
    return r, fields


def do_openai_legacy(req, call, j, decoded, rid):
    """Legacy text completions (POST …/completions) and embeddings: one JSON answer; a completion
    stream as Chat's, its chunks `text_completion` with choices[].text."""
    model = call.response_model
    hdrs = [("x-request-id", rid), ("openai-processing-ms", "5"), ("openai-version", "2020-10-01")]
    if call.api == "embeddings":  # input only: P tokens (x-test-usage input=I)
        u = zero_usage()
        u["input_tokens"] = parse_test_usage(req.h("x-test-usage")).get("input", max(1, len(decoded) // 4))
        inputs = j.get("input")
        n = len(inputs) if isinstance(inputs, list) else 1
        body = {"object": "list", "model": model,
                "data": [{"object": "embedding", "index": i, "embedding": [0.0125, -0.0071, 0.0033]} for i in range(n)],
                "usage": {"prompt_tokens": u["input_tokens"], "total_tokens": u["input_tokens"]}}
        r = Reply(200, "application/json", hdrs)
        r.body = json_bytes(body, pretty=True)
        return r, {"usage": u, "billable": True, "stop_reason": None, "response_id": None}
    u = compute_usage(req, call, decoded)
    text = reply_text(reply_words(req))
    cid = "cmpl-" + rand_id(29)
    created = int(time.time())
    wire_usage = chat_usage_wire(u, call)
    fields = {"usage": u, "billable": True, "stop_reason": "stop", "response_id": cid}

    def completion(choice_text, finish, usage):
        return {"id": cid, "object": "text_completion", "created": created, "model": model,
                "choices": [{"text": choice_text, "index": 0, "logprobs": None, "finish_reason": finish}],
                "usage": usage}

    if not call.stream:
        r = Reply(200, "application/json", hdrs)
        r.body = json_bytes(completion(text, "stop", wire_usage), pretty=True)
        return r, fields
    r = Reply(200, "text/event-stream; charset=utf-8", hdrs)
    ev = [sse(None, completion(piece, None, None)) for piece in split_text(text)]
    ev.append(sse(None, completion("", "stop", None)))
    if (j.get("stream_options") or {}).get("include_usage"):
        r.final_usage_index = len(ev)
        last = completion("", None, wire_usage)
        last["choices"] = []
        ev.append(sse(None, last))
    else:
        fields["usage_sent"] = False
        r.final_usage_index = len(ev)
    ev.append(sse(None, "[DONE]"))
    r.events = ev
    return r, fields


def do_openai_responses(req, call, j, decoded, rid):
    model = call.response_model
    stream = call.stream
    u = compute_usage(req, call, decoded)
    text = reply_text(reply_words(req))
    resp_id = "resp_" + rand_id(32)
    item_id = "msg_" + rand_id(32)
    created = int(time.time())
    hdrs = [("x-request-id", rid), ("openai-processing-ms", "9"), ("openai-version", "2020-10-01")]
    prompt = u["input_tokens"] + u["cache_read_tokens"]
    wire_usage = {"input_tokens": prompt,
                  "input_tokens_details": {"cached_tokens": u["cache_read_tokens"]},
                  "output_tokens": u["output_tokens"],
                  "output_tokens_details": {"reasoning_tokens": u["reasoning_tokens"]},
                  "total_tokens": prompt + u["output_tokens"]}
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
    item = {"id": item_id, "type": "message", "status": "completed", "content": [part], "role": "assistant"}

    def response(status, output, usage):
        return {"id": resp_id, "object": "response", "created_at": created, "status": status,
                "background": False, "error": None, "incomplete_details": None,
                "instructions": j.get("instructions"), "max_output_tokens": j.get("max_output_tokens"),
                "model": model, "output": output, "parallel_tool_calls": True,
                "previous_response_id": j.get("previous_response_id"),
                "reasoning": {"effort": None, "summary": None}, "store": j.get("store", True),
                "temperature": 1.0, "text": {"format": {"type": "text"}}, "tool_choice": "auto",
                "tools": [], "top_p": 1.0, "truncation": "disabled", "usage": usage,
                "user": None, "metadata": {}}

    if not stream:
        r = Reply(200, "application/json", hdrs)
        r.body = json_bytes(response("completed", [item], wire_usage), pretty=True)
    else:
        r = Reply(200, "text/event-stream; charset=utf-8", hdrs)
        seq = itertools.count(0)
        ev = []
        r.ws_events = []  # the same events as WebSocket text messages

        def add(etype, payload):
            d = {"type": etype, "sequence_number": next(seq)}
            d.update(payload)
            ev.append(sse(etype, d))
            r.ws_events.append(json_bytes(d))

        add("response.created", {"response": response("in_progress", [], None)})
        add("response.in_progress", {"response": response("in_progress", [], None)})
        add("response.output_item.added", {"output_index": 0, "item": {
            "id": item_id, "type": "message", "status": "in_progress", "content": [], "role": "assistant"}})
        add("response.content_part.added", {"item_id": item_id, "output_index": 0, "content_index": 0,
                                            "part": {"type": "output_text", "annotations": [],
                                                     "logprobs": [], "text": ""}})
        for piece in split_text(text):
            add("response.output_text.delta", {"item_id": item_id, "output_index": 0,
                                               "content_index": 0, "delta": piece, "logprobs": []})
        add("response.output_text.done", {"item_id": item_id, "output_index": 0, "content_index": 0,
                                          "text": text, "logprobs": []})
        add("response.content_part.done", {"item_id": item_id, "output_index": 0, "content_index": 0,
                                           "part": part})
        add("response.output_item.done", {"output_index": 0, "item": item})
        r.final_usage_index = len(ev)
        add("response.completed", {"response": response("completed", [item], wire_usage)})
        r.events = ev
    return r, {"usage": u, "billable": True, "stop_reason": "completed", "response_id": resp_id}


def schema_instance(schema):
    """A small value matching a JSON schema (Gemini's upper-case types too): first enum value,
    required properties only (all if none are required), one-item arrays."""
    if not isinstance(schema, dict):
        return "ok"
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return schema_instance(schema[key][0])
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if str(x).lower() != "null"), "string")
    t = str(t or ("object" if "properties" in schema else "string")).lower()
    if t == "object":
        props = schema.get("properties") or {}
        names = schema.get("required") or list(props)
        return {n: schema_instance(props.get(n, {})) for n in names}
    if t == "array":
        return [schema_instance(schema.get("items", {}))]
    if t == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if t == "number":
        return 1.0
    if t == "boolean":
        return True
    if t == "null":
        return None
    return "A short answer."


def gemini_json_reply(j, cloudcode):
    """Gemini asks for JSON with generationConfig.responseMimeType application/json (Gemini CLI's
    model router and other structured calls): the reply text is then an instance of
    responseJsonSchema / responseSchema instead of prose.  None if not asked."""
    inner = (j.get("request") or {}) if cloudcode else j
    cfg = inner.get("generationConfig") or {}
    if cfg.get("responseMimeType") != "application/json":
        return None
    schema = cfg.get("responseJsonSchema") or cfg.get("responseSchema") or {"type": "object"}
    return json.dumps(schema_instance(schema))


def gemini_usage_wire(u, candidates_so_far=None):
    prompt = u["input_tokens"] + u["cache_read_tokens"]
    thoughts = u["reasoning_tokens"]
    cand = u["output_tokens"] - thoughts if candidates_so_far is None else candidates_so_far
    return {"promptTokenCount": prompt, "candidatesTokenCount": cand,
            "totalTokenCount": prompt + cand + thoughts,
            "cachedContentTokenCount": u["cache_read_tokens"],
            "thoughtsTokenCount": thoughts,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}]}


def do_gemini(req, call, j, decoded, rid):
    cloudcode = call.cloudcode
    model = call.response_model
    stream = call.stream
    alt_sse = "alt=sse" in req.query.split("&")
    u = compute_usage(req, call, decoded)
    text = gemini_json_reply(j, cloudcode) or reply_text(reply_words(req))
    response_id = rand_id(22)
    model_version = model
    wrap = (lambda x: {"response": x, "traceId": rid}) if cloudcode else (lambda x: x)
    ctype = "application/json; charset=UTF-8"
    hdrs = [("x-goog-request-id", rid)] if not cloudcode else []
    if not stream:
        body = {"candidates": [{"content": {"parts": [{"text": text}], "role": "model"},
                                "finishReason": "STOP", "index": 0}],
                "usageMetadata": gemini_usage_wire(u), "modelVersion": model_version,
                "responseId": response_id}
        r = Reply(200, ctype, hdrs)
        r.body = json_bytes(wrap(body), pretty=True)
    else:
        pieces = split_text(text) or [""]
        nl = "\n" if cloudcode else "\r\n"
        r = Reply(200, "text/event-stream" if alt_sse else ctype, hdrs)
        ev = []
        cand_total = u["output_tokens"] - u["reasoning_tokens"]
        so_far = 0
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            so_far += len(piece.split())
            cand = {"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0}
            if last:
                cand["finishReason"] = "STOP"
                um = gemini_usage_wire(u)
            else:
                um = gemini_usage_wire(u, candidates_so_far=min(so_far, cand_total))
            chunk = wrap({"candidates": [cand], "usageMetadata": um, "modelVersion": model_version,
                          "responseId": response_id})
            if alt_sse:
                ev.append(sse(None, chunk, nl))
            else:
                data = (b"[" if i == 0 else b",\r\n") + json_bytes(chunk, pretty=True).rstrip()
                if last:
                    data += b"]"
                ev.append(data)
        r.events = ev
        r.final_usage_index = len(ev) - 1
        r.partial_usage_indices = set(range(len(ev) - 1))
    return r, {"usage": u, "billable": True, "stop_reason": "STOP", "response_id": response_id}


def do_gemini_count(req, call, j, decoded, rid):
    p_total = max(1, len(decoded) // 4)
    over = parse_test_usage(req.h("x-test-usage"))
    n = over.get("input", p_total)
    r = Reply(200, "application/json; charset=UTF-8")
    r.body = json_bytes({"totalTokens": n, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": n}]},
                        pretty=True)
    u = zero_usage()
    u["input_tokens"] = n
    return r, {"usage": u, "billable": False}


# --------------------------------------------------------------------------
# Amazon Bedrock: InvokeModel (Anthropic Messages bodies), InvokeModelWithResponseStream and
# ConverseStream (application/vnd.amazon.eventstream), Converse.
# --------------------------------------------------------------------------

EVENTSTREAM_TYPE = "application/vnd.amazon.eventstream"
# Bedrock pads every event's JSON with a "p" field of varying length (so that sizes do not
# reveal the text): a prefix of this alphabet.
PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def eventstream_message(headers, payload):
    """One eventstream message: prelude (total length, headers length: big-endian u32), prelude
    CRC32, headers (name length u8, name, type 7 = string, value length u16, value), payload,
    CRC32 of everything before it."""
    hb = b""
    for name, value in headers:
        n, v = name.encode(), value.encode()
        hb += struct.pack(">B", len(n)) + n + b"\x07" + struct.pack(">H", len(v)) + v
    prelude = struct.pack(">II", 12 + len(hb) + len(payload) + 4, len(hb))
    msg = prelude + struct.pack(">I", zlib.crc32(prelude)) + hb + payload
    return msg + struct.pack(">I", zlib.crc32(msg))


def eventstream_event(event_type, obj, i):
    """An event message carrying JSON (padded with "p", its length following the event index)."""
    body = dict(obj)
    body["p"] = PADDING[:1 + (i * 7) % len(PADDING)]
    return eventstream_message([(":event-type", event_type), (":content-type", "application/json"),
                                (":message-type", "event")], json_bytes(body))


def bedrock_anthropic_model(model_id):
    """The Anthropic model name in a Bedrock model id's answer: "us.anthropic.claude-sonnet-4-5-
    20250929-v1:0" -> "claude-sonnet-4-5-20250929" (ARNs and other ids unchanged)."""
    m = re.match(r"^(?:[a-z]{2,6}\.)?anthropic\.(.+?)(?:-v\d+(?::\d+)?)?$", model_id or "")
    return m.group(1) if m else model_id


def bedrock_headers(rid, u=None, latency_ms=None):
    hdrs = [("x-amzn-requestid", rid)]
    if u is not None:
        hdrs += [("x-amzn-bedrock-invocation-latency", str(latency_ms)),
                 ("x-amzn-bedrock-input-token-count", str(u["input_tokens"])),
                 ("x-amzn-bedrock-output-token-count", str(u["output_tokens"])),
                 ("x-amzn-bedrock-cache-read-input-token-count", str(u["cache_read_tokens"])),
                 ("x-amzn-bedrock-cache-write-input-token-count", str(u["cache_write_tokens"]))]
    return hdrs


def bedrock_latency(u):
    """Made-up latencies (ms): (invocation, first byte)."""
    return 200 + 10 * u["output_tokens"], 150


def do_bedrock_invoke(req, call, j, decoded, rid):
    """InvokeModel / InvokeModelWithResponseStream with an Anthropic Messages body: the message
    JSON (token counts also in x-amzn-bedrock-* headers), or each stream event as an eventstream
    `chunk` whose payload is {"bytes": base64(event JSON)}, the last (message_stop) carrying
    amazon-bedrock-invocationMetrics."""
    message, events, final_idx, fields = anthropic_answer(req, call, j, decoded, id_prefix="msg_bdrk_")
    u = fields["usage"]
    latency, first_byte = bedrock_latency(u)
    if not call.stream:
        r = Reply(200, "application/json", bedrock_headers(rid, u, latency))
        r.body = json_bytes(message)
        return r, fields
    events = [(name, d) for name, d in events if name != "ping"]
    final_idx -= 1  # the ping came before it
    events[-1][1]["amazon-bedrock-invocationMetrics"] = {
        "inputTokenCount": u["input_tokens"], "outputTokenCount": u["output_tokens"],
        "invocationLatency": latency, "firstByteLatency": first_byte,
        "cacheReadInputTokenCount": u["cache_read_tokens"], "cacheWriteInputTokenCount": u["cache_write_tokens"]}
    r = Reply(200, EVENTSTREAM_TYPE, bedrock_headers(rid) + [("x-amzn-bedrock-content-type", "application/json")])
    r.events = [eventstream_event("chunk", {"bytes": base64.b64encode(json_bytes(d)).decode()}, i)
                for i, (_, d) in enumerate(events)]
    r.final_usage_index = final_idx
    r.partial_usage_indices = {0}
    return r, fields


def converse_usage_wire(u):
    w = {"inputTokens": u["input_tokens"], "outputTokens": u["output_tokens"],
         "totalTokens": u["input_tokens"] + u["cache_read_tokens"] + u["cache_write_tokens"] + u["output_tokens"],
         "cacheReadInputTokens": u["cache_read_tokens"], "cacheWriteInputTokens": u["cache_write_tokens"]}
    details = [{"ttl": ttl, "inputTokens": u[k]} for ttl, k in (("1h", "cache_write_1h_tokens"),
                                                                ("5m", "cache_write_5m_tokens")) if u[k]]
    if details:
        w["cacheDetails"] = details  # 1h before 5m, absent without cache writes
    return w


def do_bedrock_converse(req, call, j, decoded, rid):
    """Converse (JSON: output.message, stopReason, usage, metrics) and ConverseStream (eventstream
    events messageStart, contentBlockDelta…, contentBlockStop, messageStop, metadata{usage, metrics})."""
    tool = tool_call_for(req, j)
    tool_json = json.dumps(tool[1], separators=(",", ":")) if tool else ""
    u = compute_usage(req, call, decoded, extra_output=tool_output_tokens(tool_json) if tool else 0)
    text = reply_text(reply_words(req))
    stop_reason = "tool_use" if tool else "end_turn"
    tool_id = "tooluse_" + rand_id(22)
    latency, _ = bedrock_latency(u)
    fields = {"usage": u, "billable": True, "stop_reason": stop_reason, "response_id": None}
    if not call.stream:
        content = [{"text": text}]
        if tool:
            content.append({"toolUse": {"toolUseId": tool_id, "name": tool[0], "input": tool[1]}})
        body = {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": stop_reason,
                "usage": converse_usage_wire(u), "metrics": {"latencyMs": latency}}
        r = Reply(200, "application/json", bedrock_headers(rid))
        r.body = json_bytes(body)
        return r, fields
    ev = [("messageStart", {"role": "assistant"})]
    ev += [("contentBlockDelta", {"delta": {"text": piece}, "contentBlockIndex": 0}) for piece in split_text(text)]
    ev.append(("contentBlockStop", {"contentBlockIndex": 0}))
    if tool:
        ev.append(("contentBlockStart", {"start": {"toolUse": {"toolUseId": tool_id, "name": tool[0]}},
                                         "contentBlockIndex": 1}))
        ev += [("contentBlockDelta", {"delta": {"toolUse": {"input": piece}}, "contentBlockIndex": 1})
               for piece in json_pieces(tool_json)]
        ev.append(("contentBlockStop", {"contentBlockIndex": 1}))
    ev.append(("messageStop", {"stopReason": stop_reason}))
    ev.append(("metadata", {"usage": converse_usage_wire(u), "metrics": {"latencyMs": latency}}))
    r = Reply(200, EVENTSTREAM_TYPE, bedrock_headers(rid))
    r.events = [eventstream_event(name, d, i) for i, (name, d) in enumerate(ev)]
    r.final_usage_index = len(ev) - 1
    return r, fields


# --------------------------------------------------------------------------
# Ollama's native API: /api/chat and /api/generate (NDJSON streams unless "stream": false).
# --------------------------------------------------------------------------


def do_ollama(req, call, j, decoded, rid):
    """Each chunk one JSON line {model, created_at, message{role, content} | response, done};
    the last has done: true, done_reason and the counts (prompt_eval_count = input tokens,
    eval_count = output tokens) with durations in nanoseconds."""
    u = compute_usage(req, call, decoded)
    text = reply_text(reply_words(req))
    model = call.response_model
    chat = call.api == "chat"
    created = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".%09dZ" % (time.time_ns() % 10**9)

    def chunk(piece, done):
        c = {"model": model, "created_at": created}
        if chat:
            c["message"] = {"role": "assistant", "content": piece}
        else:
            c["response"] = piece
        c["done"] = done
        if done:
            c["done_reason"] = "stop"
            if not chat:
                c["context"] = [128006, 882, 128007]
            c.update({"total_duration": 1000000 * (60 + u["output_tokens"]), "load_duration": 12000000,
                      "prompt_eval_count": u["input_tokens"], "prompt_eval_duration": 20000000,
                      "eval_count": u["output_tokens"], "eval_duration": 1000000 * u["output_tokens"]})
        return c

    fields = {"usage": u, "billable": True, "stop_reason": "stop", "response_id": None, "request_id": None}
    if not call.stream:
        r = Reply(200, "application/json; charset=utf-8")
        r.body = json_bytes(chunk(text, True))
        return r, fields
    r = Reply(200, "application/x-ndjson")
    r.events = [json_bytes(chunk(piece, False)) + b"\n" for piece in split_text(text)]
    r.events.append(json_bytes(chunk("", True)) + b"\n")
    r.final_usage_index = len(r.events) - 1
    return r, fields


def json_text_bytes(v):
    """UTF-8 bytes of every string value (not keys) in a parsed JSON document: the text a
    request carries, as tokentap measures it (request_text_bytes)."""
    if isinstance(v, str):
        return len(v.encode("utf-8", "surrogatepass"))
    if isinstance(v, dict):
        return sum(json_text_bytes(x) for x in v.values())
    if isinstance(v, list):
        return sum(json_text_bytes(x) for x in v)
    return 0


def estimate_tokens(n_bytes):
    """About 4 bytes of text per token, rounded up (tokentap's estimate_tokens_from_text_bytes)."""
    return (n_bytes + 3) // 4


def augment_estimate(j, output_text):
    """What tokentap must estimate for an Augment call, whose answer carries no usage: input from
    the request's string values, output from the "text" of the answer's lines."""
    in_bytes, out_bytes = json_text_bytes(j), len(output_text.encode("utf-8"))
    return {"input_tokens": estimate_tokens(in_bytes), "output_tokens": estimate_tokens(out_bytes),
            "request_text_bytes": in_bytes, "response_text_bytes": out_bytes}


def do_augment_chat(req, call, j, decoded, rid):
    """Augment's /chat-stream (and /prompt-enhancer): NDJSON, one object per line, each with the
    "text" it adds and the same text again as a raw-response node (type 0); the last line has
    stop_reason 1 (END_TURN). No token usage: the log's estimated_usage says what tokentap must
    estimate instead."""
    text = reply_text(reply_words(req))
    r = Reply(200, "application/json", [("x-request-id", req.h("x-request-id") or rid)])
    r.events = [json_bytes({"text": piece, "nodes": [{"id": i + 1, "type": 0, "content": piece}]}) + b"\n"
                for i, piece in enumerate(split_text(text))]
    r.events.append(json_bytes({"text": "", "nodes": [], "stop_reason": 1}) + b"\n")
    fields = {"usage": zero_usage(), "usage_sent": False, "billable": True, "stop_reason": "end_turn",
              "response_id": None, "request_id": req.h("x-request-id"),
              "estimated_usage": augment_estimate(j, text)}
    return r, fields


# The answers Auggie needs from the rest of Augment's API to run a prompt: its model list (it
# sends the default model's name with each chat) and its remote tools (none); every other call
# (settings, MCP configs, events, error reports) accepts an empty object.
AUGMENT_MODEL = "claude-sonnet-4-5"
AUGMENT_SUPPORT = {
    "/get-models": {"default_model": AUGMENT_MODEL, "models": [
        {"name": AUGMENT_MODEL, "suggested_prefix_char_count": 0, "suggested_suffix_char_count": 0}],
        "languages": [], "feature_flags": {}, "user_tier": "COMMUNITY_TIER"},
    "/agents/list-remote-tools": {"tools": []},
}


def do_augment_support(req, call, j, decoded, rid):
    r = Reply(200, "application/json")
    r.body = json_bytes(AUGMENT_SUPPORT.get(req.path, {}))
    return r, {"usage_sent": False, "billable": False}


# --------------------------------------------------------------------------
# Routing: the wire format from the path; the provider (who bills the call) from the path where
# it belongs to one provider, else from the Host header.  tokentap implements the same rules on
# its own side: keep them as documented in README.md ("Providers").
# --------------------------------------------------------------------------

GEMINI_METHODS = {"generateContent": "generate_content", "streamGenerateContent": "stream_generate_content",
                  "countTokens": "count_tokens"}
GEMINI_RE = re.compile(r"/models/([^/:]+):(generateContent|streamGenerateContent|countTokens)$")
CLOUDCODE_RE = re.compile(r"/v1internal:(generateContent|streamGenerateContent|countTokens)$")
BEDROCK_RE = re.compile(r"/model/([^/]+)/(invoke|invoke-with-response-stream|converse|converse-stream)$")
BEDROCK_APIS = {"invoke": "invoke_model", "invoke-with-response-stream": "invoke_model_stream",
                "converse": "converse", "converse-stream": "converse_stream"}
VERTEX_RE = re.compile(r"^/v1(?:beta1)?/projects/[^/]+/locations/[^/]+/publishers/(anthropic|google)"
                       r"/models/([^/:]+):([A-Za-z]+)$")
AZURE_RE = re.compile(r"^/openai/(?:deployments/([^/]+)|v1)/")
OLLAMA_PATHS = ("/api/chat", "/api/generate")
# Augment's backend (Auggie): its LLM endpoints; everything else it calls is support traffic.
AUGMENT_LLM_PATHS = {"/chat-stream": "chat_stream", "/prompt-enhancer": "prompt_enhancer"}

# Host (lower-case, port dropped) -> provider; then suffixes, then loopback rules.
HOST_PROVIDERS = {
    "api.anthropic.com": "anthropic", "api.openai.com": "openai", "chatgpt.com": "openai",
    "generativelanguage.googleapis.com": "gcp.gemini", "cloudcode-pa.googleapis.com": "gcp.gen_ai",
    "api.deepseek.com": "deepseek", "openrouter.ai": "openrouter",
    "api.moonshot.ai": "moonshot", "api.moonshot.cn": "moonshot",
    "api.z.ai": "zai", "open.bigmodel.cn": "zai",
    "api.minimax.io": "minimax", "api.minimaxi.com": "minimax", "api.x.ai": "x_ai",
}
HOST_SUFFIXES = (("aiplatform.googleapis.com", "gcp.vertex_ai"), (".openai.azure.com", "azure.ai.openai"),
                 (".cognitiveservices.azure.com", "azure.ai.openai"), (".services.ai.azure.com", "azure.ai.openai"))
OLLAMA_PORT = 11434


def split_host(host):
    """"API.X.com:443" -> ("api.x.com", 443); "[::1]:8443" -> ("[::1]", 8443); port None if absent."""
    host = (host or "").strip().lower()
    if host.startswith("["):
        name, _, rest = host.partition("]")
        name += "]"
        port = rest[1:] if rest.startswith(":") else ""
    elif host.count(":") == 1:
        name, _, port = host.partition(":")
    else:
        name, port = host, ""
    return name, (int(port) if port.isdigit() else None)


def is_loopback(name):
    if name in ("localhost", "[::1]", "::1"):
        return True
    parts = name.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts) and parts[0] == "127"


def provider_for_host(host):
    name, port = split_host(host)
    if name in HOST_PROVIDERS:
        return HOST_PROVIDERS[name]
    for suffix, provider in HOST_SUFFIXES:
        if name.endswith(suffix):
            return provider
    if name.startswith("bedrock-runtime.") and name.endswith(".amazonaws.com"):
        return "aws.bedrock"
    if name == "augmentcode.com" or name.endswith(".augmentcode.com"):
        return "augment"  # a tenant's backend: dNN.api.augmentcode.com
    if is_loopback(name):
        return "ollama" if port == OLLAMA_PORT else "local"
    return "unknown"


def provider_for(host, path):
    """Who bills an LLM request: a path that belongs to one provider names it whatever the host."""
    if BEDROCK_RE.search(path):
        return "aws.bedrock"
    if VERTEX_RE.match(path):
        return "gcp.vertex_ai"
    # Only the deployment form: others serve /openai/v1/ too (Groq), named by their host.
    if path.startswith("/openai/deployments/"):
        return "azure.ai.openai"
    if path in OLLAMA_PATHS:
        return "ollama"
    if path in AUGMENT_LLM_PATHS:
        return "augment"  # only Augment's backend speaks its chat format
    return provider_for_host(host)


class Route:
    """What a path asks for: wire format, api, the handler, and what the path itself says."""

    def __init__(self, wire="none", api="not_found", handler=None, path_model=None, stream=None,
                 deployment=None, cloudcode=False):
        self.wire, self.api, self.handler = wire, api, handler
        self.path_model, self.stream, self.deployment, self.cloudcode = path_model, stream, deployment, cloudcode
        self.azure = False  # an Azure OpenAI path: /openai/deployments/{deployment}/… or /openai/v1/…


def route(path, method):
    if path == "/health":
        return Route("none", "health")
    if method != "POST":
        return Route()
    m = BEDROCK_RE.search(path)
    if m:
        op = m.group(2)
        converse = op.startswith("converse")
        return Route("bedrock_converse" if converse else "bedrock_invoke", BEDROCK_APIS[op],
                     do_bedrock_converse if converse else do_bedrock_invoke,
                     path_model=urllib.parse.unquote(m.group(1)), stream=op.endswith("stream"))
    m = VERTEX_RE.match(path)
    if m:
        publisher, model, method_name = m.group(1), urllib.parse.unquote(m.group(2)), m.group(3)
        if publisher == "anthropic" and method_name in ("rawPredict", "streamRawPredict"):
            if model == "count-tokens":
                return Route("anthropic_messages", "count_tokens", do_anthropic_count, stream=False)
            return Route("anthropic_messages", "messages", do_anthropic_messages, path_model=model,
                         stream=method_name == "streamRawPredict")
        if publisher == "google" and method_name in GEMINI_METHODS:
            return gemini_route(method_name, model)
        return Route()
    if path in OLLAMA_PATHS:
        return Route("ollama", path[len("/api/"):], do_ollama)
    if path in AUGMENT_LLM_PATHS:
        return Route("augment", AUGMENT_LLM_PATHS[path], do_augment_chat, stream=True)
    r = Route()
    if path.endswith("/v1/messages/count_tokens"):
        r = Route("anthropic_messages", "count_tokens", do_anthropic_count, stream=False)
    elif path.endswith("/v1/messages"):
        r = Route("anthropic_messages", "messages", do_anthropic_messages)
    elif path.endswith("/chat/completions"):
        r = Route("openai_chat", "chat_completions", do_openai_chat)
    elif path.endswith("/responses"):
        r = Route("openai_responses", "responses", do_openai_responses)
    elif path.endswith("/completions"):
        r = Route("openai_chat", "completions", do_openai_legacy)
    elif path.endswith("/embeddings"):
        r = Route("openai_chat", "embeddings", do_openai_legacy, stream=False)
    elif CLOUDCODE_RE.search(path):
        r = gemini_route(CLOUDCODE_RE.search(path).group(1), None, cloudcode=True)
    elif GEMINI_RE.search(path):
        m = GEMINI_RE.search(path)
        r = gemini_route(m.group(2), m.group(1))
    m = AZURE_RE.match(path)
    if m and r.wire in ("openai_chat", "openai_responses"):
        r.deployment = m.group(1)  # None on the v1 paths: the body's "model" names the deployment
        r.azure = True
    return r


def gemini_route(method_name, model, cloudcode=False):
    return Route("gemini", GEMINI_METHODS[method_name], do_gemini_count if method_name == "countTokens" else do_gemini,
                 path_model=model, stream=method_name == "streamGenerateContent", cloudcode=cloudcode)


# An Azure deployment answers with the model it runs (x-test-response-model: NAME changes it,
# for every wire).
AZURE_DEFAULT_MODEL = "gpt-4o-2024-11-20"
DEFAULT_MODELS = {"anthropic_messages": "claude-unknown", "openai_chat": "gpt-unknown",
                  "openai_responses": "gpt-unknown", "gemini": "gemini-unknown", "ollama": "llama-unknown"}


class Call:
    """Who the server is for one request: wire format, provider, api, stream, and the models."""

    def __init__(self, req, rt, provider, j):
        self.wire, self.api, self.provider, self.cloudcode = rt.wire, rt.api, provider, rt.cloudcode
        body_model = j.get("model") if isinstance(j.get("model"), str) else None
        self.request_model = rt.path_model or body_model
        self.deployment = None
        if rt.azure:
            self.deployment = rt.deployment or body_model
        if rt.stream is not None:
            self.stream = rt.stream
        elif rt.wire == "ollama":
            self.stream = j.get("stream", True) is not False  # Ollama streams unless told not to
        elif rt.api == "responses" and req.transport == "websocket":
            self.stream = True  # WebSocket answers always stream
        else:
            self.stream = bool(j.get("stream"))
        forced = (req.h("x-test-response-model") or "").strip()
        if forced:
            self.response_model = forced
        elif rt.api == "count_tokens" or rt.wire == "bedrock_converse":
            self.response_model = None  # the answer names no model
        elif self.deployment:
            self.response_model = AZURE_DEFAULT_MODEL
        elif rt.wire == "bedrock_invoke":
            self.response_model = bedrock_anthropic_model(self.request_model)
        else:
            self.response_model = self.request_model or DEFAULT_MODELS.get(rt.wire)
        # The model a reader of the traffic should record: Azure's is in the answer.
        self.model = (self.response_model if self.deployment else self.request_model) or self.response_model


# Request body fields that carry a session, user or conversation id (never prompt text), logged
# as body_ids: top level (Anthropic metadata, OpenAI prompt_cache_key/user/..., Code Assist
# user_prompt_id) and inside Code Assist's "request" wrapper.
BODY_ID_FIELDS = ("metadata", "prompt_cache_key", "user", "session_id", "user_prompt_id",
                  "previous_response_id", "conversation", "safety_identifier",
                  "conversation_id", "root_conversation_id")  # Augment's


def body_ids(j):
    out = {k: j[k] for k in BODY_ID_FIELDS if j.get(k) not in (None, "", {})}
    inner = j.get("request")
    if isinstance(inner, dict):
        out.update({"request." + k: inner[k] for k in BODY_ID_FIELDS if inner.get(k) not in (None, "", {})})
    return out


def handle(req):
    """Computes the Reply and the log record for a request."""
    rt = route(req.path, req.method)
    if rt.api == "not_found" and req.method == "POST" and provider_for_host(req.h("host")) == "augment":
        rt = Route("none", "augment_support", do_augment_support)
    provider = provider_for(req.h("host"), req.path) if rt.wire != "none" else "none"
    if rt.wire in ("anthropic_messages", "openai_chat", "openai_responses"):
        rid = "req_" + rand_id(24)
    elif rt.wire in ("bedrock_invoke", "bedrock_converse"):
        rid = str(uuid.uuid4())
    else:
        rid = rand_id(24)
    rec = {
        "ts": time.time(),
        "seq": next(REQ_COUNTER),
        "transport": req.transport,
        "tls": CONN_TLS.get(req.conn_id),
        "sni": CONN_SNI.get(req.conn_id),
        "conn": req.conn_id,
        "client_port": req.client_port,
        "method": req.method,
        "path": req.path,
        "query": req.query,
        "provider": provider,
        "wire": rt.wire,
        "api": rt.api,
        "model": None,
        "request_model": None,
        "response_model": None,
        "deployment": None,
        "stream": False,
        "status": 0,
        "billable": False,
        "request_id": rid,
        "response_id": None,
        "stop_reason": None,
        "request_body_bytes": len(req.body),
        "request_body_decoded_bytes": None,
        "request_content_encoding": (req.h("content-encoding") or "identity").lower(),
        "response_body_bytes": 0,
        "response_content_encoding": "identity",
        "usage_sent": False,
        "usage_partial_sent": False,
        "aborted": False,
        "usage": zero_usage(),
        "reported_cost_usd": None,
        "reported_cost": None,
        "user_agent": req.h("user-agent"),
        "headers": {k: ("<redacted>" if k in REDACTED_HEADERS else v) for k, v in req.headers.items()},
        "body_keys": None,
        "body_ids": None,
        "error": None,
    }
    try:
        decoded = decode_body(req.body, req.h("content-encoding"))
    except Exception as e:  # noqa: BLE001
        decoded = None
        rec["error"] = "bad request body encoding: %s" % e
    if decoded is not None:
        rec["request_body_decoded_bytes"] = len(decoded)
        if DUMP_DIR:
            with open(os.path.join(DUMP_DIR, "%06d.body" % rec["seq"]), "wb") as f:
                f.write(decoded)

    if rt.api == "health":
        r = Reply(200, "text/plain; charset=utf-8")
        r.body = b"ok"
        rec["usage_sent"] = False
        return r, rec
    if rt.api == "not_found":
        r = Reply(404, "application/json")
        r.body = json_bytes({"error": {"type": "not_found_error",
                                       "message": "no route for %s %s" % (req.method, req.path)}})
        return r, rec

    j = None
    if decoded is not None:
        try:
            j = json.loads(decoded) if decoded else {}
            if not isinstance(j, dict):
                raise ValueError("body is not a JSON object")
        except Exception as e:  # noqa: BLE001
            rec["error"] = "bad JSON body: %s" % e
            j = None
    if j is None:
        r = error_reply(rt.wire, 400, rid)
        rec["status"] = 400
        return r, rec
    rec["body_keys"] = sorted(j)
    rec["body_ids"] = body_ids(j)

    # Models and stream flag, also for error replies.
    call = Call(req, rt, provider, j)
    rec.update({"model": call.model, "request_model": call.request_model, "response_model": call.response_model,
                "deployment": call.deployment, "stream": call.stream})

    forced = req.h("x-test-status")
    if forced and forced.strip() not in ("200", ""):
        status = int(forced)
        r = error_reply(rt.wire, status, rid)
        rec["status"] = status
        if rt.api != "count_tokens":
            try:  # what a successful reply would have carried (nothing is billed)
                rec["usage"] = compute_usage(req, call, decoded)
            except ValueError:
                pass
        return r, rec

    try:
        r, f = rt.handler(req, call, j, decoded, rid)
    except ValueError as e:  # bad x-test-* header
        rec["error"] = str(e)
        rec["status"] = 400
        return error_reply(rt.wire, 400, rid), rec
    rec.update(f)
    rec["status"] = r.status
    if "usage_sent" not in f:
        rec["usage_sent"] = True
    return r, rec


def finalize(req, r, rec):
    """Chooses the content coding, compresses, applies abort clamping."""
    forced = (req.h("x-test-encoding") or "").strip().lower()
    if forced:
        if forced not in KNOWN_ENCODINGS:
            forced = "identity"
        enc = forced
    elif r.events is None and accepts_gzip(req.h("accept-encoding")):
        enc = "gzip"
    else:
        enc = "identity"
    r.encoding = enc
    rec["response_content_encoding"] = enc
    try:
        r.delay_s = max(0, int(req.h("x-test-delay-ms", "0"))) / 1000.0
    except ValueError:
        r.delay_s = 0.0
    try:
        r.event_delay_s = max(0, int(req.h("x-test-event-delay-ms", "0"))) / 1000.0
    except ValueError:
        r.event_delay_s = 0.0
    if r.events is None:
        r.wire_body = compress_whole(r.body, enc)
        rec["response_body_bytes"] = len(r.wire_body)
        return
    n_events = len(r.events)
    abort = req.h("x-test-abort-after")
    if abort is not None and abort.strip() != "":
        n = max(0, int(abort))
        if r.final_usage_index is not None:
            n = min(n, r.final_usage_index)
        else:
            n = min(n, n_events - 1)
        r.abort_after = n
        n_events = n
    encoder = Encoder(enc)
    wire = [encoder.feed(e) for e in r.events[:n_events]]
    if r.abort_after is None:
        r.wire_trailer = encoder.finish()
        if r.wire_trailer:
            # Compression trailer goes with the last event (same chunk / frame).
            wire[-1] = wire[-1] + r.wire_trailer
            r.wire_trailer = b""
    r.wire_events = [w for w in wire if w]
    rec["response_body_bytes"] = sum(len(w) for w in r.wire_events)
    if r.abort_after is not None:
        rec["aborted"] = True
        rec["usage_sent"] = False
        rec["usage_partial_sent"] = any(i < n_events for i in r.partial_usage_indices)


def build(req):
    try:
        r, rec = handle(req)
        rec["status"] = r.status
        finalize(req, r, rec)
    except Exception as e:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        r = Reply(500, "application/json")
        r.body = json_bytes({"error": {"message": "llmserver internal error: %s" % e}})
        r.wire_body = r.body
        rec = {"ts": time.time(), "seq": next(REQ_COUNTER), "transport": req.transport,
               "conn": req.conn_id, "client_port": req.client_port, "method": req.method,
               "path": req.path, "query": req.query, "provider": "none", "wire": "none",
               "api": "not_found", "model": None, "stream": False, "status": 500, "billable": False,
               "request_body_bytes": len(req.body), "request_content_encoding":
                   (req.h("content-encoding") or "identity").lower(),
               "response_body_bytes": len(r.body), "response_content_encoding": "identity",
               "usage_sent": False, "usage_partial_sent": False, "aborted": False,
               "usage": zero_usage(), "user_agent": req.h("user-agent"),
               "headers": {k: ("<redacted>" if k in REDACTED_HEADERS else v)
                           for k, v in req.headers.items()},
               "error": "internal: %s" % e}
    return r, rec


def response_headers(r, h2mode):
    hdrs = [("date", email.utils.formatdate(usegmt=True)), ("content-type", r.content_type)]
    hdrs += r.headers
    if r.encoding != "identity":
        hdrs.append(("content-encoding", r.encoding))
        hdrs.append(("vary", "Accept-Encoding"))
    if r.events is None:
        hdrs.append(("content-length", str(len(r.wire_body))))
    elif not h2mode:
        hdrs.append(("transfer-encoding", "chunked"))
    hdrs.append(("server", "llmserver-test"))
    return hdrs


# --------------------------------------------------------------------------
# HTTP/1.1
# --------------------------------------------------------------------------


class ClientGone(Exception):
    pass


def serve_http1(sock, conn_id, client_port):
    rfile = sock.makefile("rb", buffering=1 << 16)
    try:
        while True:
            line = rfile.readline(65537)
            if not line:
                return
            if line in (b"\r\n", b"\n"):
                continue  # tolerate stray CRLF between requests
            parts = line.decode("latin-1").strip().split()
            if len(parts) != 3:
                sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            method, target, version = parts
            headers = []
            while True:
                hl = rfile.readline(65537)
                if not hl:
                    return
                if hl in (b"\r\n", b"\n"):
                    break
                k, _, v = hl.decode("latin-1").partition(":")
                headers.append((k.strip().lower(), v.strip()))
            hd = {}
            for k, v in headers:
                hd[k] = hd[k] + ", " + v if k in hd else v
            if method == "GET" and "websocket" in hd.get("upgrade", "").lower():
                serve_websocket(sock, rfile, conn_id, client_port, target, headers, hd)
                return
            if "100-continue" in hd.get("expect", "").lower():
                sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            te = hd.get("transfer-encoding", "").lower()
            if "chunked" in te:
                chunks = []
                while True:
                    sl = rfile.readline(65537)
                    if not sl:
                        return
                    size = int(sl.split(b";", 1)[0].strip(), 16)
                    if size == 0:
                        # trailers
                        while True:
                            tl = rfile.readline(65537)
                            if not tl or tl in (b"\r\n", b"\n"):
                                break
                        break
                    data = rfile.read(size)
                    if len(data) != size:
                        return
                    chunks.append(data)
                    rfile.readline(3)  # CRLF
                body = b"".join(chunks)
            else:
                length = int(hd.get("content-length", "0") or "0")
                body = rfile.read(length) if length else b""
                if len(body) != length:
                    return
            req = Request("http/1.1", conn_id, client_port, method, target, headers, body)
            keep_alive = "close" not in hd.get("connection", "").lower() and version == "HTTP/1.1"
            r, rec = build(req)
            if not send_http1(sock, r, rec, keep_alive):
                return
            if not keep_alive:
                return
    finally:
        try:
            rfile.close()
        except Exception:  # noqa: BLE001
            pass


def send_http1(sock, r, rec, keep_alive):
    """Returns False if the connection must be closed."""
    try:
        reason = http.HTTPStatus(r.status).phrase
    except ValueError:
        reason = "Unknown"
    head = ["HTTP/1.1 %d %s" % (r.status, reason)]
    for k, v in response_headers(r, False):
        if not k.startswith("x-") and k != "request-id":
            k = "-".join(p.capitalize() for p in k.split("-"))  # Content-Type etc.
        head.append("%s: %s" % (k, v))
    head.append("Connection: %s" % ("keep-alive" if keep_alive else "close"))
    head_b = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
    if r.delay_s:
        time.sleep(r.delay_s)
    if r.events is None:
        LOG.write(rec)
        sock.sendall(head_b + r.wire_body)
        return True
    sock.sendall(head_b)
    for i, w in enumerate(r.wire_events):
        if i and r.event_delay_s:
            time.sleep(r.event_delay_s)
        sock.sendall(b"%x\r\n" % len(w) + w + b"\r\n")
    if r.abort_after is not None:
        LOG.write(rec)
        abrupt_close(sock)
        return False
    LOG.write(rec)
    sock.sendall(b"0\r\n\r\n")
    return True


def abrupt_close(sock):
    """Close TCP without a TLS close_notify and without HTTP termination."""
    try:
        raw = socket.socket(fileno=os.dup(sock.fileno()))
        try:
            raw.shutdown(socket.SHUT_RDWR)
        finally:
            raw.close()
    except OSError:
        pass


# --------------------------------------------------------------------------
# WebSocket (RFC 6455, permessage-deflate RFC 7692): the OpenAI Responses
# WebSocket transport Codex uses, on GET .../responses with Upgrade: websocket.
# Framing and compression: wsframes.py.
# --------------------------------------------------------------------------


def ws_knob(req, name, default=0):
    try:
        return int(req.h(name, default))
    except ValueError:
        return default


def serve_websocket(sock, rfile, conn_id, client_port, target, headers, hd):
    """GET .../responses with Upgrade: websocket: the handshake (101, permessage-deflate
    when offered), then one answer per response.create message, as the HTTP stream's
    events; one log line per response.create (transport "websocket")."""
    up = Request("http/1.1", conn_id, client_port, "GET", target, headers, b"")
    _, rec = handle(up)  # the upgrade is logged as a request of its own (provider none)
    key = hd.get("sec-websocket-key", "")
    if NO_WEBSOCKET:  # --no-websocket: clients must fall back to HTTP (Codex: POST over HTTP/2)
        rec.update({"api": "websocket", "status": 404, "error": "WebSocket refused (--no-websocket)"})
        LOG.write(rec)
        sock.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        return
    if not up.path.endswith("/responses") or not key or hd.get("sec-websocket-version") != "13":
        rec.update({"api": "websocket", "status": 400, "error": "not a Responses WebSocket handshake"})
        LOG.write(rec)
        sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        return
    offer = dict(parse_ws_extensions(hd.get("sec-websocket-extensions"))).get("permessage-deflate")
    knob_off = (up.h("x-test-ws-deflate") or "").strip().lower() in ("0", "off", "false", "no")
    deflate = offer is not None and not knob_off
    resp = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
            "Sec-WebSocket-Accept: " + ws_accept(key)]
    inflater = deflater = None
    ext_desc = None
    if deflate:
        no_takeover = ws_knob(up, "x-test-ws-no-context-takeover") > 0
        server_nct = no_takeover or "server_no_context_takeover" in offer
        client_nct = no_takeover or "client_no_context_takeover" in offer
        bits = ws_knob(up, "x-test-ws-window-bits", 15)
        if offer.get("server_max_window_bits") not in (None, True):
            bits = min(bits, int(offer["server_max_window_bits"]))
        bits = max(9, min(15, bits))
        params = ["permessage-deflate"]
        if server_nct:
            params.append("server_no_context_takeover")
        if client_nct:
            params.append("client_no_context_takeover")
        if bits != 15:
            params.append("server_max_window_bits=%d" % bits)
        if "client_max_window_bits" in offer:
            params.append("client_max_window_bits=15")
        ext_desc = "; ".join(params)
        resp.append("Sec-WebSocket-Extensions: " + ext_desc)
        inflater = WsDeflater(15, not client_nct)
        deflater = WsDeflater(bits, not server_nct)
    rec["request_id"] = "req_" + rec["request_id"]
    resp += ["x-request-id: " + rec["request_id"], "Date: " + email.utils.formatdate(usegmt=True),
             "Server: llmserver-test"]
    rec.update({"api": "websocket", "status": 101, "error": None, "ws_extensions": ext_desc})
    LOG.write(rec)
    sock.sendall(("\r\n".join(resp) + "\r\n\r\n").encode("latin-1"))
    ws = WsEndpoint(sock, rfile, False, inflater, deflater)
    fragment = ws_knob(up, "x-test-ws-fragment")
    ping = ws_knob(up, "x-test-ws-ping") > 0
    while True:
        got = ws.read_message()
        if got is None:
            return
        opcode, data, info = got
        try:
            j = json.loads(data)
        except ValueError:
            j = None
        if isinstance(j, dict) and j.get("type") != "response.create":
            continue  # response.processed and other client notices
        # Test knobs: the upgrade's x-test-* headers, overridden per message by
        # client_metadata entries of the same name.
        meta = (j if isinstance(j, dict) else {}).get("client_metadata") or {}
        over = {k.lower(): str(v) for k, v in meta.items() if k.lower().startswith("x-test-")}
        hdrs = [(k, v) for k, v in headers if k not in over] + sorted(over.items())
        req = Request("websocket", conn_id, client_port, "POST", target, hdrs, data)
        if isinstance(j, dict) and j.get("generate") is False:
            req.words_override = 0  # a prewarm: no output
        r, rec = build(req)
        rec["ws"] = {"deflate": deflate, "request_frames": info["frames"],
                     "request_wire_bytes": info["wire_bytes"], "response_frames": 0, "response_wire_bytes": 0}
        events = getattr(r, "ws_events", None)
        if r.status != 200 or not events:
            try:
                err = json.loads(r.body or b"{}").get("error")
            except ValueError:
                err = None
            events = [json_bytes({"type": "error", "status": r.status, "error": err})]
            r.final_usage_index = 0
        abort = req.h("x-test-abort-after")
        n = len(events)
        if abort is not None and abort.strip() != "":
            n = min(max(0, int(abort)), r.final_usage_index)
            rec["aborted"] = True
            rec["usage_sent"] = False
        rec["response_body_bytes"] = sum(len(e) for e in events[:n])
        rec["response_content_encoding"] = "identity"
        if r.delay_s:
            time.sleep(r.delay_s)
        for i, e in enumerate(events[:n]):
            if i and r.event_delay_s:
                time.sleep(r.event_delay_s)
            wire, info = ws.encode_message(e, fragment, ping)
            rec["ws"]["response_frames"] += info["frames"]
            rec["ws"]["response_wire_bytes"] += info["wire_bytes"]
            if i == len(events) - 1:
                LOG.write(rec)  # before the last event goes out
            sock.sendall(wire)
        if n < len(events):
            LOG.write(rec)
            abrupt_close(sock)
            return


# --------------------------------------------------------------------------
# HTTP/2
# --------------------------------------------------------------------------


class H2Conn:
    """One thread runs the socket loop (the only thread touching the SSL
    object); one worker thread per request computes and queues its reply."""

    def __init__(self, sock, conn_id, client_port):
        self.sock = sock
        self.conn_id = conn_id
        self.client_port = client_port
        cfg = h2.config.H2Configuration(client_side=False, header_encoding="utf-8",
                                        validate_inbound_headers=False)
        self.conn = h2.connection.H2Connection(config=cfg)
        self.cond = threading.Condition(threading.RLock())
        self.streams = {}  # sid -> {"headers": [...], "body": bytearray}
        self.reset = set()
        self.dead = False
        self.abort_requested = False
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)

    def wake(self):
        try:
            os.write(self.wake_w, b"x")
        except OSError:
            pass

    def run(self):
        c = self.conn
        with self.cond:
            c.initiate_connection()
            c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 24,
                               h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 128,
                               h2.settings.SettingCodes.MAX_FRAME_SIZE: 1 << 16})
            c.increment_flow_control_window((1 << 30))
        self.sock.setblocking(False)
        outbuf = bytearray()
        cur = None  # in-flight write slice (must be retried unchanged)
        last_activity = time.monotonic()
        try:
            while True:
                with self.cond:
                    outbuf += self.conn.data_to_send()
                    abort = self.abort_requested
                if abort and not outbuf and cur is None:
                    abrupt_close(self.sock)
                    return
                wl = [self.sock] if (outbuf or cur is not None) else []
                timeout = 0 if self.sock.pending() else 1.0
                r, w, _ = select.select([self.sock, self.wake_r], wl, [], timeout)
                if self.wake_r in r:
                    try:
                        os.read(self.wake_r, 4096)
                    except OSError:
                        pass
                if self.sock in r or self.sock.pending():
                    while True:
                        try:
                            data = self.sock.recv(1 << 18)
                        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                            break
                        if not data:
                            return
                        last_activity = time.monotonic()
                        if not abort and not self._receive(data):
                            return
                        if not self.sock.pending():
                            break
                if self.sock in w:
                    if cur is None:
                        cur = bytes(outbuf[:1 << 18])
                    try:
                        n = self.sock.send(cur)
                        del outbuf[:n]
                        cur = None
                        last_activity = time.monotonic()
                    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                        pass
                if not r and not w and time.monotonic() - last_activity > IDLE_TIMEOUT:
                    with self.cond:
                        if not self.streams:
                            return
        except (OSError, ssl.SSLError):
            return
        finally:
            with self.cond:
                self.dead = True
                self.cond.notify_all()
            os.close(self.wake_r)
            os.close(self.wake_w)

    def _receive(self, data):
        with self.cond:
            try:
                events = self.conn.receive_data(data)
            except h2.exceptions.ProtocolError:
                try:
                    self.sock.setblocking(True)
                    self.sock.sendall(self.conn.data_to_send())
                except Exception:  # noqa: BLE001
                    pass
                return False
            for ev in events:
                if isinstance(ev, h2.events.RequestReceived):
                    self.streams[ev.stream_id] = {"headers": list(ev.headers), "body": bytearray()}
                    for k, v in ev.headers:
                        if k.lower() == "expect" and "100-continue" in v.lower():
                            try:
                                self.conn.send_headers(ev.stream_id, [(":status", "100")])
                            except h2.exceptions.ProtocolError:
                                pass
                elif isinstance(ev, h2.events.DataReceived):
                    st = self.streams.get(ev.stream_id)
                    if st is not None:
                        st["body"] += ev.data
                    try:
                        self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, KeyError):
                        pass
                elif isinstance(ev, h2.events.StreamEnded):
                    st = self.streams.get(ev.stream_id)
                    if st is not None and not st.get("started"):
                        st["started"] = True
                        t = threading.Thread(target=self._worker, args=(ev.stream_id, st), daemon=True)
                        t.start()
                elif isinstance(ev, h2.events.StreamReset):
                    self.reset.add(ev.stream_id)
                    self.streams.pop(ev.stream_id, None)
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    self.cond.notify_all()
                    return False
            self.cond.notify_all()
        return True

    def _worker(self, sid, st):
        hdrs = st["headers"]
        pseudo = {k: v for k, v in hdrs if k.startswith(":")}
        regular = [(k.lower(), v) for k, v in hdrs if not k.startswith(":")]
        if ":authority" in pseudo and not any(k == "host" for k, _ in regular):
            regular.insert(0, ("host", pseudo[":authority"]))
        req = Request("h2", self.conn_id, self.client_port, pseudo.get(":method", "GET"),
                      pseudo.get(":path", "/"), regular, bytes(st["body"]))
        r, rec = build(req)
        try:
            if r.delay_s:
                time.sleep(r.delay_s)
            out_headers = [(":status", str(r.status))] + response_headers(r, True)
            with self.cond:
                self._check(sid)
                self.conn.send_headers(sid, out_headers, end_stream=False)
            self.wake()
            if r.events is None:
                LOG.write(rec)
                self._send_data(sid, r.wire_body, True)
                return
            for i, w in enumerate(r.wire_events):
                if i and r.event_delay_s:
                    time.sleep(r.event_delay_s)
                self._send_data(sid, w, False)
            LOG.write(rec)
            if r.abort_after is not None:
                with self.cond:
                    self.abort_requested = True
                self.wake()
                return
            self._send_data(sid, b"", True)
        except ClientGone:
            pass
        finally:
            with self.cond:
                self.streams.pop(sid, None)

    def _check(self, sid):
        if self.dead or sid in self.reset:
            raise ClientGone()

    def _send_data(self, sid, data, end_stream):
        off = 0
        total = len(data)
        while True:
            with self.cond:
                while True:
                    self._check(sid)
                    try:
                        window = self.conn.local_flow_control_window(sid)
                    except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                        raise ClientGone()
                    if window > 0 or off == total:
                        break
                    self.cond.wait(1.0)
                n = min(window, self.conn.max_outbound_frame_size, total - off)
                last = off + n == total
                try:
                    self.conn.send_data(sid, data[off:off + n], end_stream=end_stream and last)
                except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                    raise ClientGone()
                off += n
            self.wake()
            if off == total:
                return


# --------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------


def remember_sni(sock, server_name, ctx):
    """The TLS server name (SNI) the client sent, kept on its socket for the log."""
    sock.sni = server_name


def serve_conn(ctx, raw, addr):
    conn_id = next(CONN_COUNTER)
    client_port = addr[1]
    try:
        raw.settimeout(30)
        sock = ctx.wrap_socket(raw, server_side=True)
    except (OSError, ssl.SSLError):
        raw.close()
        return
    CONN_TLS[conn_id] = sock.version()
    CONN_SNI[conn_id] = getattr(sock, "sni", None)
    try:
        sock.settimeout(IDLE_TIMEOUT)
        proto = sock.selected_alpn_protocol()
        if proto == "h2":
            H2Conn(sock, conn_id, client_port).run()
        else:
            serve_http1(sock, conn_id, client_port)
    except (OSError, ssl.SSLError, ClientGone, ValueError):
        pass
    finally:
        CONN_TLS.pop(conn_id, None)
        CONN_SNI.pop(conn_id, None)
        try:
            sock.close()
        except OSError:
            pass


def main(argv=None):
    global LOG, DUMP_DIR, NO_WEBSOCKET
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cert-dir", required=True, help="directory with server.pem and server.key")
    ap.add_argument("--log", required=True, help="JSON-lines log file (appended)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--ready-file", help="write the listening port here once ready")
    ap.add_argument("--auto-tool-call", action="append", default=[], metavar="NAME=JSON",
                    help="answer with a call to tool NAME (input JSON) whenever a request offers it")
    ap.add_argument("--dump-bodies", metavar="DIR",
                    help="write each decoded request body to DIR/<seq>.body (debugging; bodies hold prompts)")
    ap.add_argument("--no-websocket", action="store_true",
                    help="refuse WebSocket upgrades with 404 (exercises clients' HTTP fallback)")
    ap.add_argument("--tls12", action="store_true", help="offer TLS 1.2 only (clients' TLS 1.2 record layer)")
    args = ap.parse_args(argv)

    LOG = RequestLog(args.log)
    NO_WEBSOCKET = args.no_websocket
    for spec in args.auto_tool_call:
        name, _, inp = spec.partition("=")
        AUTO_TOOL_CALLS[name.strip()] = json.loads(inp) if inp.strip() else {}
    if args.dump_bodies:
        DUMP_DIR = args.dump_bodies
        os.makedirs(DUMP_DIR, exist_ok=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if args.tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(os.path.join(args.cert_dir, "server.pem"), os.path.join(args.cert_dir, "server.key"))
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    ctx.sni_callback = remember_sni

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    ls = socket.socket(family, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args.host, args.port))
    ls.listen(256)
    port = ls.getsockname()[1]
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.ready_file)
    print("llmserver listening on https://%s:%d" % (args.host, port), file=sys.stderr, flush=True)
    try:
        while True:
            raw, addr = ls.accept()
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=serve_conn, args=(ctx, raw, addr), daemon=True).start()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

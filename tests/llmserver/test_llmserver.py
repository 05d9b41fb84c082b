#!/usr/bin/python3
"""Self-test of llmserver.py: a raw HTTP/1.1 TLS client and `curl --http2`
against every endpoint and knob, the vendors' host names over real TLS, and (when
installed) the real Claude Code in its Bedrock and Vertex AI modes; decodes every
answer here, independently of the server (eventstream framing and CRCs too), and
checks that the log equals what the client received.
Run: /usr/bin/python3 tests/llmserver/test_llmserver.py  (< 60 s)."""

import base64
import gzip
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import zlib

import brotli
import zstandard

try:
    import websockets  # python3-websockets: an independent WebSocket client
except ImportError:
    websockets = None

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from serverctl import LlmServer  # noqa: E402
import wsframes  # noqa: E402

CLIENTS = os.path.join(os.path.dirname(HERE), "clients")


# ------------------------------------------------------------------ helpers


class Resp:
    def __init__(self):
        self.status = 0
        self.headers = {}
        self.body = b""        # as received: content-encoded, chunk framing removed
        self.chunks = []       # chunk sizes (HTTP/1.1 chunked)
        self.complete = False
        self.informational = []


class H1Client:
    """Minimal HTTP/1.1 client on one TLS connection (ALPN http/1.1)."""

    def __init__(self, port, ca, server_hostname="127.0.0.1"):
        """server_hostname: the name sent (SNI) and verified against the certificate."""
        ctx = ssl.create_default_context(cafile=ca)
        ctx.set_alpn_protocols(["http/1.1"])
        raw = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.sock = ctx.wrap_socket(raw, server_hostname=server_hostname)
        assert self.sock.selected_alpn_protocol() == "http/1.1"
        self.f = self.sock.makefile("rb")
        self.local_port = self.sock.getsockname()[1]

    def close(self):
        self.f.close()
        self.sock.close()

    def _read_head(self, r):
        while True:
            line = self.f.readline()
            if not line:
                raise EOFError("connection closed")
            status = int(line.split()[1])
            headers = {}
            while True:
                hl = self.f.readline()
                if hl in (b"\r\n", b"\n", b""):
                    break
                k, _, v = hl.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            if 100 <= status < 200:
                r.informational.append(status)
                continue
            r.status, r.headers = status, headers
            return

    def request(self, method, path, headers=None, body=b"", chunked=False, expect=False, chunk_size=65536):
        hdrs = {"host": "127.0.0.1", "user-agent": "llmserver-selftest"}
        hdrs.update({k.lower(): v for k, v in (headers or {}).items()})
        if chunked:
            hdrs["transfer-encoding"] = "chunked"
        elif body or method == "POST":
            hdrs["content-length"] = str(len(body))
        if expect:
            hdrs["expect"] = "100-continue"
        head = "%s %s HTTP/1.1\r\n" % (method, path) + "".join("%s: %s\r\n" % kv for kv in hdrs.items()) + "\r\n"
        self.sock.sendall(head.encode())
        r = Resp()
        if expect:
            line = self.f.readline()
            assert line.startswith(b"HTTP/1.1 100"), line
            assert self.f.readline() == b"\r\n"
            r.informational.append(100)
        if chunked:
            for i in range(0, len(body), chunk_size):
                c = body[i:i + chunk_size]
                self.sock.sendall(b"%x\r\n" % len(c) + c + b"\r\n")
            self.sock.sendall(b"0\r\n\r\n")
        elif body:
            self.sock.sendall(body)
        self._read_head(r)
        if r.headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                line = self.f.readline()
                if not line:
                    break  # aborted
                size = int(line.strip(), 16)
                if size == 0:
                    self.f.readline()
                    r.complete = True
                    break
                data = self.f.read(size)
                parts.append(data)
                r.chunks.append(size)
                if len(data) < size:
                    break
                self.f.readline()
            r.body = b"".join(parts)
        else:
            n = int(r.headers.get("content-length", "0"))
            r.body = self.f.read(n)
            r.complete = len(r.body) == n
        return r


def curl_h2(base_url, ca, path, headers=None, body=None, tmp=None):
    """Runs curl --http2; returns Resp (body as received, no decoding)."""
    out = os.path.join(tmp, "curl.body")
    hdr = os.path.join(tmp, "curl.headers")
    cmd = ["curl", "-sS", "--http2", "--cacert", ca, "-o", out, "-D", hdr,
           "-w", "%{http_version} %{local_port}", base_url + path]
    for k, v in (headers or {}).items():
        cmd += ["-H", "%s: %s" % (k, v)]
    if body is not None:
        bf = os.path.join(tmp, "curl.req")
        with open(bf, "wb") as f:
            f.write(body)
        cmd += ["--data-binary", "@" + bf]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    r = Resp()
    version, _, port = p.stdout.strip().partition(" ")
    r.http_version = version
    r.local_port = int(port or 0)
    r.curl_rc = p.returncode
    r.complete = p.returncode == 0
    with open(hdr, "rb") as f:
        for line in f.read().decode("latin-1").split("\r\n"):
            if line.startswith("HTTP/"):
                r.status = int(line.split()[1])
                if 100 <= r.status < 200:
                    r.informational.append(r.status)
                r.headers = {}
            elif ":" in line:
                k, _, v = line.partition(":")
                r.headers[k.strip().lower()] = v.strip()
    try:
        with open(out, "rb") as f:
            r.body = f.read()
    except FileNotFoundError:
        r.body = b""
    return r


def decode(data, enc):
    enc = (enc or "identity").lower()
    if enc == "gzip":
        return zlib.decompressobj(31).decompress(data)
    if enc == "deflate":
        return zlib.decompressobj(15).decompress(data)
    if enc == "br":
        d = brotli.Decompressor()
        return d.process(data)
    if enc == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


def sse_events(text):
    """[(event, data_str)] from an SSE body (LF or CRLF)."""
    text = text.replace("\r\n", "\n")
    out = []
    for block in text.split("\n\n"):
        ev, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                ev = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        if data:
            out.append((ev, "\n".join(data)))
    return out


def usage_from_body(api_kind, stream, text):
    """Independent decoder: the normalised usage a client would compute, or None."""
    u = None
    if api_kind == "anthropic":
        if not stream:
            w = json.loads(text)["usage"]
        else:
            w = {}
            final = False
            for ev, data in sse_events(text):
                d = json.loads(data)
                assert d["type"] == ev, (d["type"], ev)
                if ev == "message_start":
                    w.update(d["message"]["usage"])
                elif ev == "message_delta":
                    w.update(d["usage"])
                    final = True
            if not final:
                return None
        cc = w.get("cache_creation") or {}
        u = {"input_tokens": w["input_tokens"], "cache_read_tokens": w.get("cache_read_input_tokens", 0),
             "cache_write_tokens": w.get("cache_creation_input_tokens", 0),
             "cache_write_5m_tokens": cc.get("ephemeral_5m_input_tokens", 0),
             "cache_write_1h_tokens": cc.get("ephemeral_1h_input_tokens", 0),
             "output_tokens": w["output_tokens"], "reasoning_tokens": 0}
    elif api_kind == "anthropic-count":
        u = {"input_tokens": json.loads(text)["input_tokens"]}
    elif api_kind == "chat":
        if not stream:
            w = json.loads(text)["usage"]
        else:
            w = None
            evs = sse_events(text)
            for _, data in evs:
                if data == "[DONE]":
                    continue
                d = json.loads(data)
                assert d["object"] == "chat.completion.chunk"
                if d.get("usage"):
                    assert d["choices"] == []
                    w = d["usage"]
            if w is None:
                return None
        cached = w["prompt_tokens_details"]["cached_tokens"]
        u = {"input_tokens": w["prompt_tokens"] - cached, "cache_read_tokens": cached,
             "output_tokens": w["completion_tokens"],
             "reasoning_tokens": w["completion_tokens_details"]["reasoning_tokens"]}
        assert w["total_tokens"] == w["prompt_tokens"] + w["completion_tokens"]
    elif api_kind == "responses":
        if not stream:
            resp = json.loads(text)
        else:
            resp = None
            seqs = []
            for ev, data in sse_events(text):
                d = json.loads(data)
                assert d["type"] == ev
                seqs.append(d["sequence_number"])
                if ev == "response.completed":
                    resp = d["response"]
            assert seqs == list(range(len(seqs)))
            if resp is None:
                return None
        assert resp["object"] == "response" and resp["status"] == "completed"
        w = resp["usage"]
        cached = w["input_tokens_details"]["cached_tokens"]
        u = {"input_tokens": w["input_tokens"] - cached, "cache_read_tokens": cached,
             "output_tokens": w["output_tokens"],
             "reasoning_tokens": w["output_tokens_details"]["reasoning_tokens"]}
    elif api_kind in ("gemini", "cloudcode"):
        if not stream:
            chunks = [json.loads(text)]
        elif text.lstrip().startswith("["):
            chunks = json.loads(text)
        else:
            chunks = [json.loads(d) for _, d in sse_events(text)]
        if api_kind == "cloudcode":
            chunks = [c["response"] for c in chunks]
        last = chunks[-1]
        if not last["candidates"][0].get("finishReason"):
            return None
        m = last["usageMetadata"]
        cached = m.get("cachedContentTokenCount", 0)
        thoughts = m.get("thoughtsTokenCount", 0)
        assert m["totalTokenCount"] == m["promptTokenCount"] + m["candidatesTokenCount"] + thoughts
        u = {"input_tokens": m["promptTokenCount"] - cached, "cache_read_tokens": cached,
             "output_tokens": m["candidatesTokenCount"] + thoughts, "reasoning_tokens": thoughts}
    elif api_kind == "gemini-count":
        u = {"input_tokens": json.loads(text)["totalTokens"]}
    return u


def reply_text_from_body(api_kind, stream, text):
    if api_kind == "anthropic":
        if not stream:
            return "".join(b["text"] for b in json.loads(text)["content"] if b["type"] == "text")
        return "".join(json.loads(d)["delta"].get("text", "") for e, d in sse_events(text)
                       if e == "content_block_delta")
    if api_kind == "chat":
        if not stream:
            return json.loads(text)["choices"][0]["message"]["content"]
        out = ""
        for _, d in sse_events(text):
            if d != "[DONE]":
                for c in json.loads(d)["choices"]:
                    out += c["delta"].get("content") or ""
        return out
    if api_kind == "responses":
        if not stream:
            return json.loads(text)["output"][0]["content"][0]["text"]
        return "".join(json.loads(d)["delta"] for e, d in sse_events(text) if e == "response.output_text.delta")
    if api_kind in ("gemini", "cloudcode"):
        if not stream:
            chunks = [json.loads(text)]
        elif text.lstrip().startswith("["):
            chunks = json.loads(text)
        else:
            chunks = [json.loads(d) for _, d in sse_events(text)]
        if api_kind == "cloudcode":
            chunks = [c["response"] for c in chunks]
        return "".join(p["text"] for c in chunks for p in c["candidates"][0]["content"]["parts"])
    raise AssertionError(api_kind)


def req_body(kind, stream, model, prompt="Hello there, tell me about tokens.", include_usage=True):
    if kind == "anthropic":
        return ("/v1/messages?beta=true", {"model": model, "max_tokens": 100, "stream": stream,
                                           "system": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
                                           "messages": [{"role": "user", "content": prompt}]})
    if kind == "anthropic-count":
        return ("/v1/messages/count_tokens", {"model": model, "messages": [{"role": "user", "content": prompt}]})
    if kind == "chat":
        b = {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": stream}
        if stream and include_usage:
            b["stream_options"] = {"include_usage": True}
        return ("/v1/chat/completions", b)
    if kind == "responses":
        return ("/v1/responses", {"model": model, "input": prompt, "stream": stream})
    gem = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
    if kind == "gemini":
        return ("/v1beta/models/%s:%s" % (model, "streamGenerateContent?alt=sse" if stream else "generateContent"), gem)
    if kind == "gemini-count":
        return ("/v1beta/models/%s:countTokens" % model, gem)
    if kind == "cloudcode":
        return ("/v1internal:%s" % ("streamGenerateContent?alt=sse" if stream else "generateContent"),
                {"model": model, "project": "p", "request": gem})
    raise AssertionError(kind)


WIRE = {"anthropic": "anthropic_messages", "anthropic-count": "anthropic_messages", "chat": "openai_chat",
        "responses": "openai_responses", "gemini": "gemini", "gemini-count": "gemini", "cloudcode": "gemini"}
API = {"anthropic": "messages", "anthropic-count": "count_tokens", "chat": "chat_completions",
       "responses": "responses", "gemini": "generate_content", "gemini-count": "count_tokens",
       "cloudcode": "generate_content"}
STREAMABLE = ("anthropic", "chat", "responses", "gemini", "cloudcode")


# ------------------------------------------------------------------ tests


class ServerCase(unittest.TestCase):
    """One server for the class; each test reads the log lines its requests added."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="llmserver-test-")
        cls.s = LlmServer(cls.tmp).start()

    @classmethod
    def tearDownClass(cls):
        cls.s.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.mark = self.s.mark()

    def one_record(self):
        recs = self.s.records(self.mark)  # no waiting: logged before the last byte
        self.mark += len(recs)
        self.assertEqual(len(recs), 1, recs)
        return recs[0]

    # Core check: what the log says == what the client got.
    def check(self, kind, stream, r, rec, transport, headers_sent=None, body_sent=b"", provider="local"):
        self.assertEqual(rec["transport"], transport)
        self.assertEqual(rec["status"], r.status)
        self.assertEqual(rec["response_body_bytes"], len(r.body))
        self.assertEqual(rec["response_content_encoding"], r.headers.get("content-encoding", "identity"))
        self.assertEqual(rec["request_body_bytes"], len(body_sent))
        self.assertEqual(rec["provider"], provider)  # every request to 127.0.0.1 is a local server's
        self.assertEqual(rec["wire"], WIRE[kind])
        api = API[kind]
        if stream and kind in ("gemini", "cloudcode"):
            api = "stream_generate_content"
        self.assertEqual(rec["api"], api)
        self.assertEqual(rec["stream"], stream)
        self.assertIsInstance(rec["conn"], int)
        self.assertIsInstance(rec["client_port"], int)
        for k in ("ts", "method", "path", "query", "model", "billable", "request_content_encoding",
                  "usage_sent", "aborted", "usage", "user_agent", "headers"):
            self.assertIn(k, rec)
        text = decode(r.body, r.headers.get("content-encoding")).decode()
        if r.status != 200:
            return text
        self.assertEqual(rec["billable"], kind not in ("anthropic-count", "gemini-count"))
        got = usage_from_body(kind, stream, text)
        if rec["usage_sent"]:
            self.assertIsNotNone(got, "log says usage was sent but the body has none")
            for k, v in got.items():
                self.assertEqual(rec["usage"][k], v, (k, rec["usage"], got))
        else:
            self.assertIsNone(got)
        if kind not in ("anthropic-count", "gemini-count") and rec["usage_sent"]:
            words = len(reply_text_from_body(kind, stream, text).split())
            u = rec["usage"]
            self.assertEqual(u["cache_write_tokens"], u["cache_write_5m_tokens"] + u["cache_write_1h_tokens"])
            if not (headers_sent or {}).get("x-test-usage") and not (headers_sent or {}).get("x-test-tool-use"):
                self.assertEqual(u["output_tokens"], words)
        return text

    def expected_default_usage(self, kind, decoded_len, body):
        p = max(1, decoded_len // 4)
        if kind == "anthropic":
            read = p // 2 if b"cache_control" in body else 0
        else:
            read = p // 3
        return {"input_tokens": p - read, "cache_read_tokens": read}


class LlmServerTest(ServerCase):
    # -------------------------------------------------------------- endpoints

    def test_all_endpoints_http1_and_h2(self):
        models = {"anthropic": "claude-test-1", "anthropic-count": "claude-test-1", "chat": "gpt-test",
                  "responses": "gpt-resp-test", "gemini": "gemini-test-pro", "gemini-count": "gemini-test-pro",
                  "cloudcode": "gemini-cc-test"}
        h1 = H1Client(self.s.port, self.s.ca_path)
        try:
            for kind in models:
                for stream in ((False, True) if kind in STREAMABLE else (False,)):
                    path, obj = req_body(kind, stream, models[kind])
                    body = json.dumps(obj).encode()
                    hdrs = {"content-type": "application/json", "x-api-key": "secret-key",
                            "authorization": "Bearer secret", "accept-encoding": "gzip, br"}
                    with self.subTest(kind=kind, stream=stream, transport="http/1.1"):
                        r = h1.request("POST", path, hdrs, body)
                        rec = self.one_record()
                        self.check(kind, stream, r, rec, "http/1.1", hdrs, body)
                        self.assertEqual(rec["client_port"], h1.local_port)
                        self.assertEqual(rec["model"], models[kind])
                        self.assertEqual(rec["path"], path.split("?")[0])
                        self.assertEqual(rec["query"], path.partition("?")[2])
                        self.assertEqual(rec["headers"]["x-api-key"], "<redacted>")
                        self.assertEqual(rec["headers"]["authorization"], "<redacted>")
                        self.assertEqual(rec["headers"]["content-type"], "application/json")
                        self.assertEqual(rec["user_agent"], "llmserver-selftest")
                        exp = self.expected_default_usage(kind, len(body), body)
                        for k, v in exp.items():
                            if kind in ("anthropic-count", "gemini-count"):
                                self.assertEqual(rec["usage"]["input_tokens"], max(1, len(body) // 4))
                            else:
                                self.assertEqual(rec["usage"][k], v, (k, rec["usage"]))
                        if stream:
                            self.assertTrue(r.headers["content-type"].startswith("text/event-stream"))
                            self.assertEqual(r.headers.get("content-encoding", "identity"), "identity")
                            self.assertGreater(len(r.chunks), 3, "each event should be its own chunk")
                        else:
                            self.assertEqual(r.headers["content-encoding"], "gzip")
                            self.assertIn("content-length", r.headers)
                        if kind == "anthropic":
                            self.assertTrue(r.headers["request-id"].startswith("req_"))
                        if kind in ("chat", "responses"):
                            self.assertIn("x-request-id", r.headers)
                    with self.subTest(kind=kind, stream=stream, transport="h2"):
                        r = curl_h2(self.s.base_url, self.s.ca_path, path, hdrs, body, self.tmp)
                        self.assertEqual(r.http_version, "2")
                        rec = self.one_record()
                        self.check(kind, stream, r, rec, "h2", hdrs, body)
                        self.assertEqual(rec["client_port"], r.local_port)
                        self.assertEqual(rec["model"], models[kind])
            # all HTTP/1.1 requests above shared one connection
            conns = {x["conn"] for x in self.s.records() if x["transport"] == "http/1.1"
                     and x["client_port"] == h1.local_port}
            self.assertEqual(len(conns), 1)
        finally:
            h1.close()

    def test_anthropic_wire_shape(self):
        h1 = H1Client(self.s.port, self.s.ca_path)
        try:
            path, obj = req_body("anthropic", False, "claude-x")
            r = h1.request("POST", path, {"x-test-usage": "cache_write_5m=7,cache_write_1h=3"}, json.dumps(obj).encode())
            m = json.loads(r.body)
            self.assertEqual((m["type"], m["role"], m["model"], m["stop_reason"]), ("message", "assistant", "claude-x", "end_turn"))
            self.assertTrue(m["id"].startswith("msg_"))
            self.assertEqual(m["usage"]["cache_creation"], {"ephemeral_5m_input_tokens": 7, "ephemeral_1h_input_tokens": 3})
            self.assertEqual(m["usage"]["cache_creation_input_tokens"], 10)
            rec = self.one_record()
            self.assertEqual(rec["usage"]["cache_write_tokens"], 10)
            r = h1.request("POST", path.replace("?beta=true", ""), {},
                           json.dumps(dict(obj, stream=True)).encode())
            evs = [e for e, _ in sse_events(r.body.decode())]
            self.assertEqual(evs[:3], ["message_start", "content_block_start", "ping"])
            self.assertEqual(evs[-3:], ["content_block_stop", "message_delta", "message_stop"])
            self.assertGreater(evs.count("content_block_delta"), 2)
            d = json.loads(sse_events(r.body.decode())[-2][1])
            self.assertEqual(d["delta"]["stop_reason"], "end_turn")
            for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens"):
                self.assertIn(k, d["usage"])
            start = json.loads(sse_events(r.body.decode())[0][1])
            self.assertLessEqual(start["message"]["usage"]["output_tokens"], 1)
            self.one_record()
        finally:
            h1.close()

    def test_chat_stream_without_include_usage(self):
        h1 = H1Client(self.s.port, self.s.ca_path)
        try:
            path, obj = req_body("chat", True, "gpt-x", include_usage=False)
            r = h1.request("POST", path, {}, json.dumps(obj).encode())
            rec = self.one_record()
            self.assertFalse(rec["usage_sent"])
            self.assertFalse(rec["aborted"])
            self.assertTrue(r.body.endswith(b"data: [DONE]\n\n"))
            self.assertNotIn(b'"usage"', r.body)
            self.check("chat", True, r, rec, "http/1.1", {}, json.dumps(obj).encode())
            self.assertGreater(rec["usage"]["output_tokens"], 0)  # withheld numbers are still logged
        finally:
            h1.close()

    def test_gemini_json_array_stream(self):
        h1 = H1Client(self.s.port, self.s.ca_path)
        try:
            obj = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
            r = h1.request("POST", "/v1beta/models/gemini-a:streamGenerateContent", {}, json.dumps(obj).encode())
            rec = self.one_record()
            self.assertTrue(r.headers["content-type"].startswith("application/json"))
            self.check("gemini", True, r, rec, "http/1.1", {}, json.dumps(obj).encode())
            self.assertEqual(rec["model"], "gemini-a")
        finally:
            h1.close()

    # -------------------------------------------------------------- codings

    def test_response_encodings(self):
        h1 = H1Client(self.s.port, self.s.ca_path)
        try:
            for enc in ("gzip", "deflate", "br", "zstd", "identity"):
                for kind in ("anthropic", "chat", "responses", "gemini", "cloudcode"):
                    for stream in (False, True):
                        path, obj = req_body(kind, stream, "m-" + enc)
                        body = json.dumps(obj).encode()
                        hdrs = {"x-test-encoding": enc}
                        with self.subTest(enc=enc, kind=kind, stream=stream):
                            r = h1.request("POST", path, hdrs, body)
                            rec = self.one_record()
                            self.assertEqual(r.headers.get("content-encoding", "identity"), enc)
                            self.check(kind, stream, r, rec, "http/1.1", hdrs, body)
                            if stream and enc != "identity":
                                # every chunk decodes on its own (flushed per event)
                                self.assertGreater(len(r.chunks), 3)
            # h2 too
            path, obj = req_body("anthropic", True, "m")
            body = json.dumps(obj).encode()
            r = curl_h2(self.s.base_url, self.s.ca_path, path, {"x-test-encoding": "br"}, body, self.tmp)
            self.check("anthropic", True, r, self.one_record(), "h2", {"x-test-encoding": "br"}, body)
            # no Accept-Encoding: identity
            path, obj = req_body("chat", False, "m")
            r = h1.request("POST", path, {}, json.dumps(obj).encode())
            self.assertNotIn("content-encoding", r.headers)
            self.one_record()
        finally:
            h1.close()

    def test_stream_flush_per_event(self):
        """With gzip, each chunk must be decodable as soon as it arrives."""
        h1 = H1Client(self.s.port, self.s.ca_path)
        try:
            path, obj = req_body("anthropic", True, "m")
            r = h1.request("POST", path, {"x-test-encoding": "gzip"}, json.dumps(obj).encode())
            d = zlib.decompressobj(31)
            off = 0
            for size in r.chunks:
                piece = d.decompress(r.body[off:off + size])
                off += size
                self.assertTrue(piece.endswith(b"\n\n"), piece[-20:])
            self.one_record()
        finally:
            h1.close()

    def test_request_encodings_chunked_expect(self):
        h1 = H1Client(self.s.port, self.s.ca_path)
        try:
            path, obj = req_body("chat", False, "m", prompt="x" * 40000)
            plain = json.dumps(obj).encode()
            encs = {"gzip": gzip.compress(plain), "deflate": zlib.compress(plain), "br": brotli.compress(plain),
                    "zstd": zstandard.ZstdCompressor().compress(plain), "identity": plain}
            for enc, data in encs.items():
                for chunked in (False, True):
                    with self.subTest(enc=enc, chunked=chunked):
                        r = h1.request("POST", path, {"content-encoding": enc}, data, chunked=chunked,
                                       expect=chunked, chunk_size=7000)
                        rec = self.one_record()
                        self.assertEqual(r.status, 200)
                        self.assertEqual(rec["request_body_bytes"], len(data))
                        self.assertEqual(rec["request_body_decoded_bytes"], len(plain))
                        self.assertEqual(rec["request_content_encoding"], enc)
                        self.assertEqual(rec["usage"]["input_tokens"] + rec["usage"]["cache_read_tokens"],
                                         len(plain) // 4)
            # h2 with a compressed body
            r = curl_h2(self.s.base_url, self.s.ca_path, path, {"content-encoding": "zstd"}, encs["zstd"], self.tmp)
            rec = self.one_record()
            self.assertEqual((r.status, rec["request_body_decoded_bytes"]), (200, len(plain)))
        finally:
            h1.close()

    def test_large_bodies(self):
        path, obj = req_body("anthropic", True, "m", prompt="y" * (10 << 20))
        body = json.dumps(obj).encode()
        t0 = time.monotonic()
        r = curl_h2(self.s.base_url, self.s.ca_path, path, {}, body, self.tmp)
        self.check("anthropic", True, r, self.one_record(), "h2", {}, body)
        # curl over HTTP/1.1 sends Expect: 100-continue for bodies > 1 MB
        bf = os.path.join(self.tmp, "big.json")
        with open(bf, "wb") as f:
            f.write(body)
        p = subprocess.run(["curl", "-sS", "--http1.1", "--cacert", self.s.ca_path, "-o", "/dev/null", "-v",
                            "-w", "%{http_code}", "--data-binary", "@" + bf, self.s.base_url + path],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.stdout, "200")
        self.assertIn("100 Continue", p.stderr)
        rec = self.one_record()
        self.assertEqual(rec["request_body_bytes"], len(body))
        h1 = H1Client(self.s.port, self.s.ca_path)
        try:
            r = h1.request("POST", path, {}, body, chunked=True, chunk_size=1 << 20)
            rec = self.one_record()
            self.assertEqual((r.status, rec["request_body_bytes"]), (200, len(body)))
        finally:
            h1.close()
        self.assertLess(time.monotonic() - t0, 15)

    # -------------------------------------------------------------- knobs

    def test_usage_override_and_reply_words(self):
        h1 = H1Client(self.s.port, self.s.ca_path)
        try:
            hdrs = {"x-test-usage": "input=100,cache_read=20,cache_write_5m=3,cache_write_1h=4,output=50,reasoning=7",
                    "x-test-reply-words": "11"}
            for kind in ("anthropic", "chat", "responses", "gemini", "cloudcode"):
                for stream in (False, True):
                    with self.subTest(kind=kind, stream=stream):
                        path, obj = req_body(kind, stream, "m")
                        body = json.dumps(obj).encode()
                        r = h1.request("POST", path, hdrs, body)
                        rec = self.one_record()
                        text = self.check(kind, stream, r, rec, "http/1.1", hdrs, body)
                        u = rec["usage"]
                        self.assertEqual((u["input_tokens"], u["cache_read_tokens"], u["output_tokens"]), (100, 20, 50))
                        if kind == "anthropic":
                            self.assertEqual((u["cache_write_5m_tokens"], u["cache_write_1h_tokens"], u["reasoning_tokens"]), (3, 4, 0))
                        else:
                            self.assertEqual((u["cache_write_tokens"], u["reasoning_tokens"]), (0, 7))
                        self.assertEqual(len(reply_text_from_body(kind, stream, text).split()), 11)
            # reply words only -> output = words (+ reasoning)
            path, obj = req_body("gemini", True, "m")
            r = h1.request("POST", path, {"x-test-reply-words": "30", "x-test-usage": "reasoning=5"}, json.dumps(obj).encode())
            rec = self.one_record()
            self.assertEqual((rec["usage"]["output_tokens"], rec["usage"]["reasoning_tokens"]), (35, 5))
            text = decode(r.body, None).decode()
            self.assertEqual(usage_from_body("gemini", True, text)["output_tokens"], 35)
        finally:
            h1.close()

    def test_tool_use(self):
        h1 = H1Client(self.s.port, self.s.ca_path)
        try:
            for stream in (False, True):
                path, obj = req_body("anthropic", stream, "m")
                hdrs = {"x-test-tool-use": 'read_file {"path": "src/a.c"}'}
                r = h1.request("POST", path, hdrs, json.dumps(obj).encode())
                rec = self.one_record()
                self.check("anthropic", stream, r, rec, "http/1.1", hdrs, json.dumps(obj).encode())
                self.assertEqual(rec["stop_reason"], "tool_use")
                if stream:
                    js = "".join(json.loads(d)["delta"].get("partial_json", "") for e, d in sse_events(r.body.decode())
                                 if e == "content_block_delta")
                    self.assertEqual(json.loads(js), {"path": "src/a.c"})
                else:
                    self.assertEqual(json.loads(r.body)["content"][1]["input"], {"path": "src/a.c"})
        finally:
            h1.close()

    def chat_tool_call(self, stream, text):
        """(name, arguments JSON string, finish_reason) of a Chat Completions reply."""
        if not stream:
            c = json.loads(text)["choices"][0]
            call = c["message"]["tool_calls"][0]
            return call["function"]["name"], call["function"]["arguments"], c["finish_reason"]
        name, args, finish = None, "", None
        for _, d in sse_events(text):
            if d == "[DONE]":
                continue
            for c in json.loads(d)["choices"]:
                for tc in c["delta"].get("tool_calls") or []:
                    self.assertEqual(tc["index"], 0)
                    name = tc["function"].get("name") or name
                    args += tc["function"].get("arguments", "")
                finish = c["finish_reason"] or finish
        return name, args, finish

    def test_chat_tool_calls(self):
        h1 = H1Client(self.s.port, self.s.ca_path)
        try:
            for stream in (False, True):
                path, obj = req_body("chat", stream, "m")
                body = json.dumps(obj).encode()
                hdrs = {"x-test-tool-use": 'read_file {"path": "src/a.c"}'}
                r = h1.request("POST", path, hdrs, body)
                rec = self.one_record()
                text = self.check("chat", stream, r, rec, "http/1.1", hdrs, body)
                self.assertEqual(rec["stop_reason"], "tool_calls")
                name, args, finish = self.chat_tool_call(stream, text)
                self.assertEqual((name, json.loads(args), finish), ("read_file", {"path": "src/a.c"}, "tool_calls"))
                words = len(reply_text_from_body("chat", stream, text).split())
                self.assertEqual(rec["usage"]["output_tokens"], words + max(1, len(args) // 4))
        finally:
            h1.close()

    def test_auto_tool_call_and_body_dump(self):
        """--auto-tool-call answers requests that offer the tool; others get prose."""
        dump = os.path.join(self.tmp, "bodies")
        finish = {"summary": "done and verified", "verified": True}
        with LlmServer(self.tmp, cert_dir=self.s.cert_dir, name="auto", auto_tool_calls={"submit_and_exit": finish},
                       dump_dir=dump) as srv:
            h1 = H1Client(srv.port, srv.ca_path)
            try:
                chat_tools = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
                              for n in ("read_files", "submit_and_exit")]
                for stream in (False, True):
                    path, obj = req_body("chat", stream, "m")
                    obj["tools"] = chat_tools
                    r = h1.request("POST", path, {}, json.dumps(obj).encode())
                    name, args, fin = self.chat_tool_call(stream, decode(r.body, r.headers.get("content-encoding")).decode())
                    self.assertEqual((name, json.loads(args), fin), ("submit_and_exit", finish, "tool_calls"))
                path, obj = req_body("anthropic", False, "m")
                obj["tools"] = [{"name": "submit_and_exit", "input_schema": {"type": "object"}}]
                r = h1.request("POST", path, {}, json.dumps(obj).encode())
                block = json.loads(decode(r.body, r.headers.get("content-encoding")))["content"][1]
                self.assertEqual((block["type"], block["name"], block["input"]), ("tool_use", "submit_and_exit", finish))
                path, obj = req_body("chat", False, "m")  # no tools offered: prose only
                body = json.dumps(obj).encode()
                r = h1.request("POST", path, {}, body)
                c = json.loads(decode(r.body, r.headers.get("content-encoding")))["choices"][0]
                self.assertEqual(c["finish_reason"], "stop")
                self.assertNotIn("tool_calls", c["message"])
            finally:
                h1.close()
            recs = srv.records()
        self.assertEqual([x["stop_reason"] for x in recs if x["api"] != "health"],
                         ["tool_calls", "tool_calls", "tool_use", "stop"])
        with open(os.path.join(dump, "%06d.body" % recs[-1]["seq"]), "rb") as f:
            self.assertEqual(f.read(), body)

    def test_gemini_json_reply(self):
        schema = {"type": "OBJECT", "properties": {"reason": {"type": "STRING"}, "score": {"type": "INTEGER"},
                                                   "kind": {"type": "STRING", "enum": ["a", "b"]},
                                                   "tags": {"type": "ARRAY", "items": {"type": "STRING"}}},
                  "required": ["reason", "score", "kind", "tags"]}
        h1 = H1Client(self.s.port, self.s.ca_path)
        try:
            for kind in ("gemini", "cloudcode"):
                for stream in (False, True):
                    path, obj = req_body(kind, stream, "gemini-flash-lite")
                    inner = obj["request"] if kind == "cloudcode" else obj
                    inner["generationConfig"] = {"responseMimeType": "application/json", "responseJsonSchema": schema}
                    body = json.dumps(obj).encode()
                    r = h1.request("POST", path, {}, body)
                    rec = self.one_record()
                    text = decode(r.body, r.headers.get("content-encoding")).decode()
                    got = json.loads(reply_text_from_body(kind, stream, text))
                    self.assertEqual(got, {"reason": "A short answer.", "score": 1, "kind": "a", "tags": ["A short answer."]})
                    self.assertTrue(rec["usage_sent"])
        finally:
            h1.close()

    def test_body_ids_are_logged(self):
        h1 = H1Client(self.s.port, self.s.ca_path)
        try:
            path, obj = req_body("anthropic", False, "m")
            obj["metadata"] = {"user_id": "user_1_session_abc"}
            h1.request("POST", path, {}, json.dumps(obj).encode())
            rec = self.one_record()
            self.assertEqual(rec["body_ids"], {"metadata": {"user_id": "user_1_session_abc"}})
            self.assertEqual(rec["body_keys"], sorted(obj))
            path, obj = req_body("cloudcode", False, "m")
            obj["user_prompt_id"] = "p-1"
            obj["request"]["session_id"] = "s-1"
            h1.request("POST", path, {}, json.dumps(obj).encode())
            self.assertEqual(self.one_record()["body_ids"], {"user_prompt_id": "p-1", "request.session_id": "s-1"})
            h1.request("GET", "/health")
            self.assertIsNone(self.one_record()["body_ids"])
        finally:
            h1.close()

    def test_error_status(self):
        h1 = H1Client(self.s.port, self.s.ca_path)
        try:
            for kind in ("anthropic", "chat", "responses", "gemini", "cloudcode"):
                for status in (429, 500):
                    path, obj = req_body(kind, True, "m")
                    r = h1.request("POST", path, {"x-test-status": str(status)}, json.dumps(obj).encode())
                    rec = self.one_record()
                    self.assertEqual((r.status, rec["status"]), (status, status))
                    self.assertFalse(rec["usage_sent"])
                    self.assertFalse(rec["billable"])
                    self.assertEqual(rec["response_body_bytes"], len(r.body))
                    err = json.loads(r.body)
                    if kind == "anthropic":
                        self.assertEqual(err["type"], "error")
                        self.assertIn(err["error"]["type"], ("rate_limit_error", "api_error"))
                    elif kind in ("chat", "responses"):
                        self.assertIn("message", err["error"])
                    else:
                        self.assertEqual(err["error"]["code"], status)
        finally:
            h1.close()

    def test_abort_http1(self):
        for kind in ("anthropic", "chat", "responses", "gemini", "cloudcode"):
            for n in (0, 2, 1000):
                with self.subTest(kind=kind, n=n):
                    h1 = H1Client(self.s.port, self.s.ca_path)
                    try:
                        path, obj = req_body(kind, True, "m")
                        body = json.dumps(obj).encode()
                        hdrs = {"x-test-abort-after": str(n), "x-test-encoding": "gzip" if n == 2 else "identity"}
                        r = h1.request("POST", path, hdrs, body)
                        rec = self.one_record()
                        self.assertFalse(r.complete)
                        self.assertTrue(rec["aborted"])
                        self.assertFalse(rec["usage_sent"])
                        self.assertEqual(rec["response_body_bytes"], len(r.body))
                        if n < 1000:
                            self.assertEqual(len(r.chunks), n)
                        text = zlib.decompressobj(31).decompress(r.body).decode() if n == 2 else r.body.decode()
                        self.assertIsNone(usage_from_body(kind, True, text) if text else None)
                        self.assertEqual(rec["usage_partial_sent"],
                                         n > 0 and kind in ("anthropic", "gemini", "cloudcode"))
                        self.assertEqual(h1.f.read(), b"")  # connection closed
                    finally:
                        h1.close()

    def test_abort_h2(self):
        path, obj = req_body("responses", True, "m")
        body = json.dumps(obj).encode()
        r = curl_h2(self.s.base_url, self.s.ca_path, path, {"x-test-abort-after": "5"}, body, self.tmp)
        rec = self.one_record()
        self.assertNotEqual(r.curl_rc, 0)
        self.assertTrue(rec["aborted"])
        self.assertEqual(rec["transport"], "h2")
        self.assertEqual(rec["response_body_bytes"], len(r.body))
        self.assertEqual(len(sse_events(r.body.decode())), 5)

    def test_delay(self):
        h1 = H1Client(self.s.port, self.s.ca_path)
        try:
            path, obj = req_body("chat", False, "m")
            t0 = time.monotonic()
            r = h1.request("POST", path, {"x-test-delay-ms": "300"}, json.dumps(obj).encode())
            self.assertGreaterEqual(time.monotonic() - t0, 0.3)
            self.assertEqual(r.status, 200)
            self.one_record()
        finally:
            h1.close()

    def test_health_and_404(self):
        h1 = H1Client(self.s.port, self.s.ca_path)
        try:
            r = h1.request("GET", "/health", {"cookie": "a=b"})
            self.assertEqual((r.status, r.body), (200, b"ok"))
            rec = self.one_record()
            self.assertEqual((rec["provider"], rec["api"], rec["billable"]), ("none", "health", False))
            self.assertEqual(rec["headers"]["cookie"], "<redacted>")
            r = h1.request("POST", "/v1/nope", {"x-goog-api-key": "k"}, b"{}")
            self.assertEqual(r.status, 404)
            rec = self.one_record()
            self.assertEqual((rec["provider"], rec["api"], rec["status"]), ("none", "not_found", 404))
            self.assertEqual(rec["headers"]["x-goog-api-key"], "<redacted>")
            self.assertEqual(rec["response_body_bytes"], len(r.body))
        finally:
            h1.close()
        r = curl_h2(self.s.base_url, self.s.ca_path, "/health", tmp=self.tmp)
        self.assertEqual((r.http_version, r.status, r.body), ("2", 200, b"ok"))
        self.assertEqual(self.one_record()["transport"], "h2")

    def test_h2_concurrent_streams(self):
        """Several requests multiplexed on one h2 connection (curl --parallel)."""
        path, obj = req_body("chat", True, "m")
        bf = os.path.join(self.tmp, "par.json")
        with open(bf, "w") as f:
            json.dump(obj, f)
        cmd = ["curl", "-sS", "--parallel"]
        for i in range(4):
            cmd += ["--http2", "--cacert", self.s.ca_path, "-w", "%{http_version} %{size_download}\n",
                    "-o", "/dev/null", "--data-binary", "@" + bf, "-H", "x-test-delay-ms: %d" % (100 * (4 - i)),
                    self.s.base_url + path]
            if i < 3:
                cmd.append("--next")
        t0 = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        elapsed = time.monotonic() - t0
        self.assertEqual(p.returncode, 0, p.stderr)
        recs = self.s.wait_for_records(4, self.mark)
        self.mark += len(recs)
        self.assertEqual(len(recs), 4)
        self.assertEqual(len({x["conn"] for x in recs}), 1, recs)
        self.assertLess(elapsed, 0.9, "streams were not served concurrently")
        sizes = sorted(int(line.split()[1]) for line in p.stdout.split("\n") if line.strip())
        self.assertEqual(sizes, sorted(x["response_body_bytes"] for x in recs))

    def test_clients(self):
        """tests/clients/{py_client.py,node_client.mjs}: keep-alive, padding, output format."""
        for prog in (["/usr/bin/python3", os.path.join(CLIENTS, "py_client.py")],
                     ["/usr/bin/node", os.path.join(CLIENTS, "node_client.mjs")]):
            if not os.path.exists(prog[0]):
                continue
            for api, stream in (("anthropic", True), ("openai-responses", False), ("gemini-cloudcode", True)):
                with self.subTest(prog=prog[1], api=api):
                    args = prog + ["--base-url", self.s.base_url, "--ca", self.s.ca_path, "--api", api,
                                   "--requests", "3", "--body-bytes", "200000", "--accept-encoding", "gzip",
                                   "--header", "x-test-reply-words: 9"] + (["--stream"] if stream else [])
                    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
                    self.assertEqual(p.returncode, 0, p.stderr)
                    outs = [json.loads(line) for line in p.stdout.splitlines()]
                    recs = self.s.records(self.mark)
                    self.mark += len(recs)
                    self.assertEqual(len(outs), 3)
                    self.assertEqual(len(recs), 3)
                    self.assertEqual(len({x["conn"] for x in recs}), 1, "one keep-alive connection")
                    for o, rec in zip(outs, recs):
                        self.assertEqual((o["status"], o["body_bytes"]), (rec["status"], rec["response_body_bytes"]))
                        self.assertLess(abs(rec["request_body_bytes"] - 200000), 50)

    # -------------------------------------------------------------- WebSocket

    def ws_open(self, path="/v1/responses", extensions="permessage-deflate; client_max_window_bits",
                headers=None):
        """Raw WebSocket handshake on a new TLS connection: (sock, rfile, status, response headers)."""
        ctx = ssl.create_default_context(cafile=self.s.ca_path)
        ctx.set_alpn_protocols(["http/1.1"])
        raw = socket.create_connection(("127.0.0.1", self.s.port), timeout=20)
        sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
                 "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13", "User-Agent: llmserver-selftest",
                 "Authorization: Bearer sk-secret"]
        if extensions:
            lines.append("Sec-WebSocket-Extensions: " + extensions)
        lines += ["%s: %s" % kv for kv in (headers or {}).items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        rfile = sock.makefile("rb")
        status = int(rfile.readline().split()[1])
        hdrs = {}
        while True:
            hl = rfile.readline()
            if hl in (b"\r\n", b""):
                break
            k, _, v = hl.decode().partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if status == 101:
            self.assertEqual(hdrs["sec-websocket-accept"], wsframes.ws_accept(key))
        return sock, rfile, status, hdrs

    @staticmethod
    def ws_create(i=0, **extra):
        msg = {"type": "response.create", "model": "gpt-ws-test", "instructions": "be brief",
               "input": "request %d over a websocket" % i, "stream": True}
        msg.update(extra)
        return json.dumps(msg).encode()

    def ws_read_answer(self, ep):
        """Frames of one answer, read raw: (events as dicts, payload sizes, frames seen)."""
        events, sizes, frames, parts, compressed = [], [], [], [], False
        while True:
            fin, rsv1, op, payload, masked = ep.read_frame()
            self.assertFalse(masked, "servers do not mask")
            frames.append((op, fin, rsv1, len(payload)))
            if op in (wsframes.WS_PING, wsframes.WS_PONG):
                continue
            if op == wsframes.WS_TEXT:
                parts, compressed = [], rsv1
            else:
                self.assertEqual(op, wsframes.WS_CONT)
                self.assertFalse(rsv1, "RSV1 only on a message's first frame")
            parts.append(payload)
            if not fin:
                continue
            data = b"".join(parts)
            if compressed:
                data = ep.inflater.inflate(data)
            events.append(json.loads(data))
            sizes.append(len(data))
            if events[-1]["type"] in ("response.completed", "error"):
                return events, sizes, frames

    def test_websocket_responses(self):
        """Handshake, permessage-deflate with context takeover both ways, one log line per
        response.create with the HTTP stream's events and usage; acks are not requests."""
        sock, rfile, status, hdrs = self.ws_open()
        self.assertEqual(status, 101)
        self.assertEqual(hdrs["sec-websocket-extensions"], "permessage-deflate; client_max_window_bits=15")
        self.assertTrue(hdrs["x-request-id"].startswith("req_"))
        up = self.one_record()
        self.assertEqual((up["provider"], up["api"], up["status"], up["transport"]), ("none", "websocket", 101, "http/1.1"))
        self.assertEqual(up["headers"]["authorization"], "<redacted>")
        ep = wsframes.WsEndpoint(sock, rfile, True, wsframes.WsDeflater(), wsframes.WsDeflater())
        wire = []
        for i in range(3):
            if i == 1:
                ep.send_message(json.dumps({"type": "response.processed", "response_id": "x"}).encode())
            body = self.ws_create(i, **({"generate": False} if i == 0 else {}))
            wire.append(ep.send_message(body)["wire_bytes"])
            events, sizes, frames = self.ws_read_answer(ep)
            rec = self.one_record()
            self.assertEqual((rec["transport"], rec["provider"], rec["wire"], rec["api"], rec["method"], rec["path"]),
                             ("websocket", "local", "openai_responses", "responses", "POST", "/v1/responses"))
            self.assertEqual(rec["request_body_bytes"], len(body))
            self.assertEqual(rec["response_body_bytes"], sum(sizes))
            self.assertEqual(rec["conn"], up["conn"])
            self.assertTrue(rec["stream"])
            self.assertEqual(rec["user_agent"], "llmserver-selftest")
            self.assertEqual(rec["ws"]["request_frames"], 1)
            self.assertEqual(rec["ws"]["request_wire_bytes"], wire[-1])
            self.assertEqual(rec["ws"]["response_frames"], len(frames))
            self.assertEqual(rec["ws"]["response_wire_bytes"], sum(f[3] for f in frames))
            self.assertTrue(all(f[2] for f in frames), "every server message compressed")
            types = [e["type"] for e in events]
            self.assertEqual(types[0], "response.created")
            self.assertEqual(types[-1], "response.completed")
            self.assertEqual([e["sequence_number"] for e in events], list(range(len(events))))
            as_sse = "".join("event: %s\ndata: %s\n\n" % (e["type"], json.dumps(e)) for e in events)
            got = usage_from_body("responses", True, as_sse)  # the HTTP stream's checks
            for k, v in got.items():
                self.assertEqual(rec["usage"][k], v, (k, rec["usage"], got))
            p = max(1, len(body) // 4)
            self.assertEqual((rec["usage"]["input_tokens"], rec["usage"]["cache_read_tokens"]), (p - p // 3, p // 3))
            # The prewarm (generate: false) has no output text.
            self.assertEqual(rec["usage"]["output_tokens"], 0 if i == 0 else 24)
            self.assertEqual(types.count("response.output_text.delta"), 0 if i == 0 else 8)
        self.assertLess(wire[2], wire[1], "context takeover: a repeated message compresses better")
        ep.close()
        sock.close()
        self.assertEqual(self.s.records(self.mark), [])

    def test_websocket_fragments_pings_and_windows(self):
        """x-test-ws-fragment / x-test-ws-ping shape the server's frames; a fragmented client
        message with pings between its fragments is reassembled; no context takeover and a
        small window when asked."""
        sock, rfile, status, hdrs = self.ws_open(
            extensions="permessage-deflate; client_max_window_bits; client_no_context_takeover",
            headers={"x-test-ws-fragment": "10", "x-test-ws-ping": "1", "x-test-ws-window-bits": "9",
                     "x-test-ws-no-context-takeover": "1"})
        ext = dict(wsframes.parse_ws_extensions(hdrs["sec-websocket-extensions"]))["permessage-deflate"]
        self.assertEqual(ext.get("server_max_window_bits"), "9")
        self.assertIn("server_no_context_takeover", ext)
        self.assertIn("client_no_context_takeover", ext)
        self.one_record()
        ep = wsframes.WsEndpoint(sock, rfile, True, wsframes.WsDeflater(15, False), wsframes.WsDeflater(15, False))
        body = self.ws_create(0, input="x" * 3000)
        sent = ep.send_message(body, fragment=7, ping=True)
        self.assertGreater(sent["frames"], 3)
        events, sizes, frames = self.ws_read_answer(ep)
        rec = self.one_record()
        self.assertEqual(rec["request_body_bytes"], len(body))
        self.assertEqual(rec["ws"]["request_frames"], sent["frames"])
        data_frames = [f for f in frames if f[0] not in (wsframes.WS_PING, wsframes.WS_PONG)]
        self.assertEqual(rec["ws"]["response_frames"], len(data_frames))
        self.assertTrue(all(f[3] <= 10 for f in data_frames))
        self.assertEqual(sum(1 for f in frames if f[0] == wsframes.WS_PING), len(events))
        # Each message inflates on its own (no context takeover).
        self.assertEqual(rec["response_body_bytes"], sum(sizes))
        ep.close()
        sock.close()

    def test_websocket_abort_status_and_refusals(self):
        """client_metadata carries per-message test knobs; a bad path is refused."""
        sock, rfile, status, hdrs = self.ws_open(extensions=None)
        self.assertNotIn("sec-websocket-extensions", hdrs)
        self.one_record()
        ep = wsframes.WsEndpoint(sock, rfile, True)
        ep.send_message(self.ws_create(0, client_metadata={"x-test-status": "429"}))
        events, sizes, _ = self.ws_read_answer(ep)
        self.assertEqual([(e["type"], e["status"]) for e in events], [("error", 429)])
        rec = self.one_record()
        self.assertEqual((rec["status"], rec["billable"], rec["response_body_bytes"]), (429, False, sizes[0]))
        ep.send_message(b"not json")
        events, _, _ = self.ws_read_answer(ep)
        self.assertEqual(events[0]["status"], 400)
        self.assertEqual(self.one_record()["status"], 400)
        ep.send_message(self.ws_create(1, client_metadata={"x-test-abort-after": "3"}))
        got = 0
        with self.assertRaises(OSError):
            while True:
                ep.read_frame()
                got += 1
        self.assertEqual(got, 3)
        rec = self.one_record()
        self.assertTrue(rec["aborted"])
        self.assertFalse(rec["usage_sent"])
        sock.close()

        sock, rfile, status, _ = self.ws_open(path="/v1/chat/completions")
        self.assertEqual(status, 400)
        self.assertEqual(self.one_record()["status"], 400)
        sock.close()

    @unittest.skipUnless(websockets, "python3-websockets is not installed")
    def test_websocket_with_an_independent_client(self):
        """python3-websockets (its own framing and permessage-deflate) talks to the endpoint."""
        import asyncio

        async def run():
            ctx = ssl.create_default_context(cafile=self.s.ca_path)
            uri = "wss://127.0.0.1:%d/v1/responses" % self.s.port
            out = []
            async with websockets.connect(uri, ssl=ctx, compression="deflate", max_size=None,
                                          extra_headers={"x-test-ws-fragment": "5"}) as ws:
                for i in range(2):
                    await ws.send(self.ws_create(i).decode())
                    events = []
                    while True:
                        events.append(json.loads(await ws.recv()))
                        if events[-1]["type"] == "response.completed":
                            break
                    out.append(events)
            return out

        answers = asyncio.run(run())
        recs = self.s.records(self.mark)
        self.assertEqual(len(recs), 3)
        self.assertIn("permessage-deflate", recs[0]["ws_extensions"])
        for events, rec in zip(answers, recs[1:]):
            self.assertEqual(rec["response_body_bytes"],
                             sum(len(json.dumps(e, separators=(",", ":"))) for e in events))
            self.assertEqual(events[-1]["response"]["usage"]["output_tokens"], rec["usage"]["output_tokens"])
            self.assertGreater(rec["ws"]["response_frames"], len(events))

    def test_ws_client(self):
        """tests/clients/ws_client.py: one connection, prewarm, output lines = the log."""
        args = ["/usr/bin/python3", os.path.join(CLIENTS, "ws_client.py"), "--base-url", self.s.base_url,
                "--ca", self.s.ca_path, "--requests", "2", "--prewarm", "--body-bytes", "5000",
                "--fragment", "100", "--ping", "--header", "x-test-ws-fragment: 64"]
        p = subprocess.run(args, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        outs = [json.loads(line) for line in p.stdout.splitlines()]
        recs = self.s.records(self.mark)
        self.assertEqual(len(outs), 3)
        self.assertEqual(len(recs), 4)
        self.assertEqual(len({x["conn"] for x in recs}), 1)
        self.assertEqual([o["prewarm"] for o in outs], [True, False, False])
        for o, rec in zip(outs, recs[1:]):
            self.assertEqual(o["status"], "completed")
            self.assertEqual((o["request_bytes"], o["response_bytes"]),
                             (rec["request_body_bytes"], rec["response_body_bytes"]))
            self.assertEqual(o["usage"]["output_tokens"], rec["usage"]["output_tokens"])
        self.assertLess(abs(recs[2]["request_body_bytes"] - 5000), 50)
        p = subprocess.run(args[:6] + ["--last-metadata", "x-test-abort-after=2"], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(json.loads(p.stdout)["status"], "closed")



# ------------------------------------------------------------------ cloud and vendor formats


def eventstream_messages(data):
    """[(headers, payload)] of an application/vnd.amazon.eventstream body, each message checked:
    its prelude CRC, its message CRC, its lengths, string-typed headers."""
    out, off = [], 0
    while off < len(data):
        total, headers_len = struct.unpack(">II", data[off:off + 8])
        assert struct.unpack(">I", data[off + 8:off + 12])[0] == zlib.crc32(data[off:off + 8]), "prelude CRC"
        msg = data[off:off + total]
        assert len(msg) == total, "truncated message"
        assert struct.unpack(">I", msg[-4:])[0] == zlib.crc32(msg[:-4]), "message CRC"
        raw, headers, i = msg[12:12 + headers_len], {}, 0
        while i < len(raw):
            name = raw[i + 1:i + 1 + raw[i]].decode()
            i += 1 + raw[i]
            assert raw[i] == 7, "header type %d" % raw[i]  # 7: string
            (n,) = struct.unpack(">H", raw[i + 1:i + 3])
            headers[name] = raw[i + 3:i + 3 + n].decode()
            i += 3 + n
        out.append((headers, msg[12 + headers_len:-4]))
        off += total
    return out


def bedrock_stream_events(test, data):
    """The (event type, JSON) of each eventstream message; checks the headers every event carries
    and strips the padding field "p"."""
    out = []
    for headers, payload in eventstream_messages(data):
        test.assertEqual((headers[":message-type"], headers[":content-type"]), ("event", "application/json"))
        obj = json.loads(payload)
        test.assertRegex(obj.pop("p"), "^[a-zA-Z0-9]+$")
        out.append((headers[":event-type"], obj))
    return out


def as_sse(events):
    return "".join("event: %s\ndata: %s\n\n" % (e["type"], json.dumps(e)) for e in events)


def converse_usage(w):
    """Normalised usage of a Converse usage object (inputTokens excludes cache reads and writes)."""
    ttl = {d["ttl"]: d["inputTokens"] for d in w.get("cacheDetails", [])}
    write = w.get("cacheWriteInputTokens", 0)
    assert w["totalTokens"] == w["inputTokens"] + w.get("cacheReadInputTokens", 0) + write + w["outputTokens"]
    assert sum(ttl.values()) in (0, write)
    return {"input_tokens": w["inputTokens"], "cache_read_tokens": w.get("cacheReadInputTokens", 0),
            "cache_write_tokens": write, "cache_write_5m_tokens": ttl.get("5m", write if not ttl else 0),
            "cache_write_1h_tokens": ttl.get("1h", 0), "output_tokens": w["outputTokens"], "reasoning_tokens": 0}


def vendor_chat_usage(provider, w):
    """Normalised usage of a vendor's Chat Completions usage object (and OpenRouter's cost)."""
    if provider == "deepseek":
        hit, miss = w["prompt_cache_hit_tokens"], w["prompt_cache_miss_tokens"]
        assert hit + miss == w["prompt_tokens"] and "prompt_tokens_details" not in w
        cached, write, reasoning = hit, 0, w["completion_tokens_details"]["reasoning_tokens"]
    elif provider == "moonshot":
        cached, write, reasoning = w["cached_tokens"], 0, 0
    elif provider == "zai":
        cached, write, reasoning = w["prompt_tokens_details"]["cached_tokens"], 0, 0
    elif provider == "openrouter":
        d = w["prompt_tokens_details"]
        cached, write, reasoning = d["cached_tokens"], d["cache_write_tokens"], w["completion_tokens_details"]["reasoning_tokens"]
    elif provider == "ollama":
        assert set(w) == {"prompt_tokens", "completion_tokens", "total_tokens"}
        cached, write, reasoning = 0, 0, 0
    else:
        cached, write, reasoning = w["prompt_tokens_details"]["cached_tokens"], 0, w["completion_tokens_details"]["reasoning_tokens"]
    assert w["total_tokens"] == w["prompt_tokens"] + w["completion_tokens"]
    return {"input_tokens": w["prompt_tokens"] - cached - write, "cache_read_tokens": cached,
            "cache_write_tokens": write, "cache_write_5m_tokens": write, "cache_write_1h_tokens": 0,
            "output_tokens": w["completion_tokens"], "reasoning_tokens": reasoning}


def chat_stream_chunks(text):
    """(chunks, SSE comments) of a Chat Completions stream, which must end with [DONE]."""
    blocks = [b for b in text.split("\n\n") if b]
    comments = [b for b in blocks if b.startswith(":")]
    data = [b[len("data: "):] for b in blocks if b.startswith("data: ")]
    assert data[-1] == "[DONE]" and len(comments) + len(data) == len(blocks), blocks
    return [json.loads(d) for d in data[:-1]], comments


BODIES = {
    "anthropic_messages": {"model": "claude-x", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]},
    "openai_chat": {"model": "chat-x", "messages": [{"role": "user", "content": "hi"}]},
    "openai_responses": {"model": "resp-x", "input": "hi"},
    "gemini": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    "cloudcode": {"model": "gemini-cc", "project": "p", "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}},
    "bedrock_converse": {"messages": [{"role": "user", "content": [{"text": "hi"}]}]},
    "ollama": {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}], "prompt": "hi", "stream": False},
}

VERTEX = "/v1/projects/p/locations/us-east5/publishers/%s/models/%s:%s"

# (Host header, path, body, expected provider, expected wire): README.md "Providers".
PROVIDER_CASES = [
    ("api.anthropic.com", "/v1/messages", "anthropic_messages", "anthropic", "anthropic_messages"),
    ("API.Anthropic.COM:443", "/v1/messages?beta=true", "anthropic_messages", "anthropic", "anthropic_messages"),
    ("api.openai.com", "/v1/chat/completions", "openai_chat", "openai", "openai_chat"),
    ("chatgpt.com", "/backend-api/codex/responses", "openai_responses", "openai", "openai_responses"),
    ("generativelanguage.googleapis.com", "/v1beta/models/g:generateContent", "gemini", "gcp.gemini", "gemini"),
    ("cloudcode-pa.googleapis.com", "/v1internal:generateContent", "cloudcode", "gcp.gen_ai", "gemini"),
    ("aiplatform.googleapis.com", "/v1beta/models/g:generateContent", "gemini", "gcp.vertex_ai", "gemini"),
    ("europe-west4-aiplatform.googleapis.com", "/v1/chat/completions", "openai_chat", "gcp.vertex_ai", "openai_chat"),
    ("bedrock-runtime.eu-west-1.amazonaws.com", "/v1/messages", "anthropic_messages", "aws.bedrock", "anthropic_messages"),
    ("myres.openai.azure.com", "/v1/chat/completions", "openai_chat", "azure.ai.openai", "openai_chat"),
    ("r2.cognitiveservices.azure.com:443", "/v1/responses", "openai_responses", "azure.ai.openai", "openai_responses"),
    ("proj.services.ai.azure.com", "/v1/chat/completions", "openai_chat", "azure.ai.openai", "openai_chat"),
    ("api.deepseek.com", "/chat/completions", "openai_chat", "deepseek", "openai_chat"),
    ("api.deepseek.com", "/anthropic/v1/messages", "anthropic_messages", "deepseek", "anthropic_messages"),
    ("openrouter.ai", "/api/v1/chat/completions", "openai_chat", "openrouter", "openai_chat"),
    ("api.moonshot.ai", "/v1/chat/completions", "openai_chat", "moonshot", "openai_chat"),
    ("api.moonshot.cn", "/anthropic/v1/messages", "anthropic_messages", "moonshot", "anthropic_messages"),
    ("api.z.ai", "/api/paas/v4/chat/completions", "openai_chat", "zai", "openai_chat"),
    ("api.z.ai", "/api/anthropic/v1/messages", "anthropic_messages", "zai", "anthropic_messages"),
    ("open.bigmodel.cn", "/api/paas/v4/chat/completions", "openai_chat", "zai", "openai_chat"),
    ("api.minimax.io", "/anthropic/v1/messages", "anthropic_messages", "minimax", "anthropic_messages"),
    ("api.minimaxi.com", "/v1/chat/completions", "openai_chat", "minimax", "openai_chat"),
    ("api.x.ai", "/v1/chat/completions", "openai_chat", "x_ai", "openai_chat"),
    ("localhost:11434", "/v1/chat/completions", "openai_chat", "ollama", "openai_chat"),
    ("127.0.0.1:11434", "/api/chat", "ollama", "ollama", "ollama"),
    ("[::1]:11434", "/v1/chat/completions", "openai_chat", "ollama", "openai_chat"),
    ("localhost:8080", "/v1/chat/completions", "openai_chat", "local", "openai_chat"),
    ("localhost", "/v1/messages", "anthropic_messages", "local", "anthropic_messages"),
    ("127.9.8.7:8000", "/v1/responses", "openai_responses", "local", "openai_responses"),
    ("[::1]:8443", "/v1/chat/completions", "openai_chat", "local", "openai_chat"),
    ("example.com", "/v1/chat/completions", "openai_chat", "unknown", "openai_chat"),
    ("api.anthropic.com.example.com", "/v1/messages", "anthropic_messages", "unknown", "anthropic_messages"),
    ("128.0.0.1", "/v1/chat/completions", "openai_chat", "unknown", "openai_chat"),
    ("10.0.0.5:11434", "/v1/chat/completions", "openai_chat", "unknown", "openai_chat"),
    ("bedrock.us-east-1.amazonaws.com", "/v1/messages", "anthropic_messages", "unknown", "anthropic_messages"),
    # A path that belongs to one provider names it whatever the host.
    ("api.openai.com", "/model/m/converse", "bedrock_converse", "aws.bedrock", "bedrock_converse"),
    ("localhost:11434", VERTEX % ("anthropic", "claude-x", "rawPredict"), "anthropic_messages",
     "gcp.vertex_ai", "anthropic_messages"),
    ("generativelanguage.googleapis.com", VERTEX % ("google", "g", "generateContent"), "gemini", "gcp.vertex_ai", "gemini"),
    ("api.deepseek.com", "/openai/deployments/d/chat/completions", "openai_chat", "azure.ai.openai", "openai_chat"),
    ("api.openai.com", "/openai/v1/responses", "openai_responses", "openai", "openai_responses"),
    ("myres.openai.azure.com", "/openai/v1/responses", "openai_responses", "azure.ai.openai", "openai_responses"),
    ("openrouter.ai", "/api/generate", "ollama", "ollama", "ollama"),
]

# Names in the test certificate (make_certs.sh) with the provider they name.
CERT_HOSTS = [
    ("api.anthropic.com", "anthropic"), ("api.openai.com", "openai"), ("chatgpt.com", "openai"),
    ("generativelanguage.googleapis.com", "gcp.gemini"), ("cloudcode-pa.googleapis.com", "gcp.gen_ai"),
    ("aiplatform.googleapis.com", "gcp.vertex_ai"), ("us-east5-aiplatform.googleapis.com", "gcp.vertex_ai"),
    ("me-central2-aiplatform.googleapis.com", "gcp.vertex_ai"),  # *.googleapis.com
    ("bedrock-runtime.us-east-1.amazonaws.com", "aws.bedrock"), ("bedrock-runtime.ap-south-1.amazonaws.com", "aws.bedrock"),
    ("myres.openai.azure.com", "azure.ai.openai"), ("other-resource.openai.azure.com", "azure.ai.openai"),
    ("x.cognitiveservices.azure.com", "azure.ai.openai"), ("y.services.ai.azure.com", "azure.ai.openai"),
    ("api.deepseek.com", "deepseek"), ("openrouter.ai", "openrouter"), ("api.moonshot.ai", "moonshot"),
    ("api.moonshot.cn", "moonshot"), ("api.z.ai", "zai"), ("open.bigmodel.cn", "zai"), ("api.minimax.io", "minimax"),
    ("api.minimaxi.com", "minimax"), ("api.x.ai", "x_ai"), ("localhost", "local"),
]

CLAUDE = "/var/cache/tokentap/harnesses/claude/node_modules/@anthropic-ai/claude-code/bin/claude.exe"


class VendorTest(ServerCase):
    """Provider rules, the cloud wire formats and the vendors' usage shapes, decoded here."""

    def post(self, h1, host, path, obj, headers=None):
        """POST obj as JSON with that Host; returns (response, log record, body sent, decoded text:
        None for an eventstream, which is binary)."""
        body = json.dumps(obj).encode()
        hdrs = {"host": host, "content-type": "application/json"}
        hdrs.update(headers or {})
        r = h1.request("POST", path, hdrs, body)
        text = decode(r.body, r.headers.get("content-encoding"))
        binary = r.headers.get("content-type") == "application/vnd.amazon.eventstream"
        return r, self.one_record(), body, None if binary else text.decode()

    def assert_usage(self, rec, got):
        for k, v in got.items():
            self.assertEqual(rec["usage"][k], v, (k, rec["usage"], got))

    def test_provider_rules(self):
        """The provider by path, else by Host; the wire by path (one connection, Host varied)."""
        h1 = H1Client(self.s.port, self.s.ca_path)
        try:
            for host, path, body, provider, wire in PROVIDER_CASES:
                with self.subTest(host=host, path=path):
                    r, rec, _, _ = self.post(h1, host, path.split("?")[0] + ("?beta=true" if "?" in path else ""),
                                             BODIES[body])
                    self.assertEqual(r.status, 200, r.body[:200])
                    self.assertEqual((rec["provider"], rec["wire"]), (provider, wire))
                    self.assertIsNone(rec["sni"])  # Python sends no SNI for an IP address
                    self.assertEqual(rec["headers"]["host"], host)
            # Requests that are not LLM calls: provider and wire "none", whatever the host.
            for method, path in (("GET", "/health"), ("POST", "/v1/nope"), ("GET", "/model/m/invoke")):
                r = h1.request(method, path, {"host": "api.openai.com"}, b"{}" if method == "POST" else b"")
                rec = self.one_record()
                self.assertEqual((rec["provider"], rec["wire"]), ("none", "none"))
        finally:
            h1.close()

    def test_vendor_hosts_over_tls(self):
        """Each vendor name verifies against the test certificate (SNI sent, logged) over HTTP/1.1
        (Python) and HTTP/2 (curl --resolve), and names its provider."""
        for host, provider in CERT_HOSTS:
            with self.subTest(host=host):
                h1 = H1Client(self.s.port, self.s.ca_path, server_hostname=host)
                try:
                    r, rec, _, _ = self.post(h1, "%s:%d" % (host, self.s.port), "/v1/chat/completions",
                                             BODIES["openai_chat"])
                finally:
                    h1.close()
                self.assertEqual((r.status, rec["sni"], rec["provider"]), (200, host, provider))
        for host, provider in CERT_HOSTS[::4]:
            with self.subTest(host=host, transport="h2"):
                p = subprocess.run(["curl", "-sS", "--http2", "--cacert", self.s.ca_path, *self.s.curl_resolve(host),
                                    "-o", "/dev/null", "-w", "%{http_version} %{http_code}", "--data-binary",
                                    json.dumps(BODIES["openai_chat"]), self.s.url_for(host) + "/v1/chat/completions"],
                                   capture_output=True, text=True, timeout=30)
                self.assertEqual(p.stdout, "2 200", p.stderr)
                rec = self.one_record()
                self.assertEqual((rec["transport"], rec["sni"], rec["provider"]), ("h2", host, provider))
        # A name the certificate does not carry fails verification.
        with self.assertRaises(ssl.SSLCertVerificationError):
            H1Client(self.s.port, self.s.ca_path, server_hostname="api.example.com")

    # -------------------------------------------------------------- Bedrock

    def test_bedrock_invoke_model(self):
        """InvokeModel: the Anthropic message with the model id URL-encoded in the path, counts in
        x-amzn-bedrock-* headers; InvokeModelWithResponseStream: eventstream chunks wrapping the
        Anthropic events, invocation metrics in the last."""
        host = "bedrock-runtime.us-east-1.amazonaws.com"
        model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
        base = "/model/%s/" % urllib.parse.quote(model, safe="")
        self.assertIn("%3A", base)
        obj = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
               "system": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
               "messages": [{"role": "user", "content": "Hello, tell me about tokens."}]}
        h1 = H1Client(self.s.port, self.s.ca_path, server_hostname=host)
        try:
            r, rec, body, text = self.post(h1, host, base + "invoke", obj, {"accept-encoding": "gzip"})
            msg = json.loads(text)
            self.assertEqual((r.status, r.headers["content-type"], msg["type"], msg["model"]),
                             (200, "application/json", "message", "claude-sonnet-4-5-20250929"))
            self.assertTrue(msg["id"].startswith("msg_bdrk_"))
            self.assertEqual((rec["provider"], rec["wire"], rec["api"], rec["stream"]),
                             ("aws.bedrock", "bedrock_invoke", "invoke_model", False))
            self.assertEqual((rec["model"], rec["request_model"], rec["response_model"]),
                             (model, model, "claude-sonnet-4-5-20250929"))
            self.assertEqual(rec["path"], base + "invoke")
            self.assertEqual(rec["request_id"], r.headers["x-amzn-requestid"])
            got = usage_from_body("anthropic", False, text)
            self.assert_usage(rec, got)
            p = max(1, len(body) // 4)
            self.assertEqual((got["cache_read_tokens"], got["input_tokens"]), (p // 2, p - p // 2))
            for h, k in (("input", "input_tokens"), ("output", "output_tokens"), ("cache-read-input", "cache_read_tokens"),
                         ("cache-write-input", "cache_write_tokens")):
                self.assertEqual(int(r.headers["x-amzn-bedrock-%s-token-count" % h]), got[k])

            knobs = {"x-test-usage": "input=40,cache_read=30,cache_write_5m=7,cache_write_1h=3,output=50"}
            r, rec, _, text = self.post(h1, host, base + "invoke-with-response-stream", obj, knobs)
            self.assertEqual((r.status, r.headers["content-type"]), (200, "application/vnd.amazon.eventstream"))
            events = bedrock_stream_events(self, r.body)
            self.assertEqual(len(events), len(r.chunks), "one eventstream message per chunk")
            self.assertEqual({e for e, _ in events}, {"chunk"})
            inner = [json.loads(base64.b64decode(d["bytes"])) for _, d in events]
            types = [e["type"] for e in inner]
            self.assertEqual(types[:2] + types[-2:], ["message_start", "content_block_start", "message_delta", "message_stop"])
            self.assertNotIn("ping", types)
            self.assertEqual(inner[0]["message"]["model"], "claude-sonnet-4-5-20250929")
            self.assertEqual((rec["api"], rec["stream"], rec["usage_sent"]), ("invoke_model_stream", True, True))
            got = usage_from_body("anthropic", True, as_sse(inner))
            self.assert_usage(rec, got)
            self.assertEqual((got["input_tokens"], got["cache_read_tokens"], got["cache_write_5m_tokens"],
                              got["cache_write_1h_tokens"], got["output_tokens"]), (40, 30, 7, 3, 50))
            metrics = inner[-1]["amazon-bedrock-invocationMetrics"]
            self.assertEqual((metrics["inputTokenCount"], metrics["outputTokenCount"], metrics["cacheReadInputTokenCount"],
                              metrics["cacheWriteInputTokenCount"]), (40, 50, 30, 10))
            self.assertGreater(metrics["invocationLatency"], metrics["firstByteLatency"])
            self.assertEqual(len(reply_text_from_body("anthropic", True, as_sse(inner)).split()), 24)

            # Errors: Bedrock's JSON and x-amzn-errortype.
            r, rec, _, text = self.post(h1, host, base + "invoke-with-response-stream", obj, {"x-test-status": "429"})
            self.assertEqual((r.status, rec["billable"], json.loads(text)), (429, False, {"message": "test error 429"}))
            self.assertTrue(r.headers["x-amzn-errortype"].startswith("ThrottlingException"))
        finally:
            h1.close()
        # Aborted after two events: both complete messages, no usage.
        h1 = H1Client(self.s.port, self.s.ca_path, server_hostname=host)
        try:
            r, rec, _, _ = self.post(h1, host, base + "invoke-with-response-stream", obj, {"x-test-abort-after": "2"})
            self.assertFalse(r.complete)
            self.assertEqual(len(bedrock_stream_events(self, r.body)), 2)
            self.assertEqual((rec["aborted"], rec["usage_sent"], rec["usage_partial_sent"]), (True, False, True))
            self.assertEqual(rec["response_body_bytes"], len(r.body))
        finally:
            h1.close()
        # HTTP/2 (curl), the colon unencoded as Claude Code sends it.
        r = curl_h2(self.s.base_url, self.s.ca_path, "/model/%s/invoke-with-response-stream" % model, {},
                    json.dumps(obj).encode(), self.tmp)
        rec = self.one_record()
        inner = [json.loads(base64.b64decode(d["bytes"])) for _, d in bedrock_stream_events(self, r.body)]
        self.assertEqual((r.http_version, rec["model"], rec["provider"]), ("2", model, "aws.bedrock"))
        self.assert_usage(rec, usage_from_body("anthropic", True, as_sse(inner)))

    def test_bedrock_converse(self):
        """Converse: output.message, stopReason, usage (cache reads and writes, cacheDetails by TTL),
        metrics; ConverseStream: messageStart, contentBlockDelta…, contentBlockStop, messageStop,
        metadata with usage and metrics; tool calls in both."""
        host = "bedrock-runtime.us-west-2.amazonaws.com"
        model = "anthropic.claude-haiku-4-5-20251001-v1:0"
        obj = {"messages": [{"role": "user", "content": [{"text": "Hello there"}]}],
               "system": [{"text": "be brief"}, {"cachePoint": {"type": "default"}}],
               "inferenceConfig": {"maxTokens": 100},
               "toolConfig": {"tools": [{"toolSpec": {"name": "read_file", "inputSchema": {"json": {"type": "object"}}}}]}}
        h1 = H1Client(self.s.port, self.s.ca_path, server_hostname=host)
        try:
            r, rec, body, text = self.post(h1, host, "/model/%s/converse" % urllib.parse.quote(model, safe=""), obj)
            c = json.loads(text)
            self.assertEqual((c["output"]["message"]["role"], c["stopReason"]), ("assistant", "end_turn"))
            self.assertNotIn("cacheDetails", c["usage"])
            self.assertGreater(c["metrics"]["latencyMs"], 0)
            self.assertEqual((rec["provider"], rec["wire"], rec["api"], rec["model"], rec["response_model"]),
                             ("aws.bedrock", "bedrock_converse", "converse", model, None))
            got = converse_usage(c["usage"])
            self.assert_usage(rec, got)
            p = max(1, len(body) // 4)
            self.assertEqual(got["cache_read_tokens"], p // 2)  # a cachePoint, as cache_control
            self.assertEqual(len(c["output"]["message"]["content"][0]["text"].split()), got["output_tokens"])

            knobs = {"x-test-usage": "input=9,cache_read=8,cache_write_5m=5,cache_write_1h=2,output=33",
                     "x-test-tool-use": 'read_file {"path": "a.c"}'}
            r, rec, _, _ = self.post(h1, host, "/model/%s/converse-stream" % model, obj, knobs)
            self.assertEqual(r.headers["content-type"], "application/vnd.amazon.eventstream")
            events = bedrock_stream_events(self, r.body)
            types = [e for e, _ in events]
            self.assertEqual((types[0], types[-2:]), ("messageStart", ["messageStop", "metadata"]))
            self.assertEqual(events[-2][1], {"stopReason": "tool_use"})
            text = "".join(d["delta"].get("text", "") for e, d in events if e == "contentBlockDelta")
            tool_input = "".join(d["delta"]["toolUse"]["input"] for e, d in events
                                 if e == "contentBlockDelta" and "toolUse" in d["delta"])
            start = [d for e, d in events if e == "contentBlockStart"][0]
            self.assertEqual((start["start"]["toolUse"]["name"], json.loads(tool_input)), ("read_file", {"path": "a.c"}))
            meta = events[-1][1]
            self.assertEqual(meta["usage"]["cacheDetails"], [{"ttl": "1h", "inputTokens": 2}, {"ttl": "5m", "inputTokens": 5}])
            got = converse_usage(meta["usage"])
            self.assert_usage(rec, got)
            self.assertEqual((got["input_tokens"], got["cache_write_tokens"], got["output_tokens"]), (9, 7, 33))
            self.assertEqual((rec["stream"], rec["stop_reason"], rec["api"]), (True, "tool_use", "converse_stream"))
            self.assertEqual(len(text.split()), 24)
            self.assertIn("latencyMs", meta["metrics"])
            # Non-streaming tool call.
            r, rec, _, text = self.post(h1, host, "/model/%s/converse" % model, obj, knobs)
            content = json.loads(text)["output"]["message"]["content"]
            self.assertEqual(content[1]["toolUse"]["input"], {"path": "a.c"})
        finally:
            h1.close()

    # -------------------------------------------------------------- Vertex AI

    def test_vertex_ai(self):
        """Anthropic models through rawPredict / streamRawPredict (model from the path, Anthropic's
        answers without its headers), count-tokens; Gemini models through generateContent /
        streamGenerateContent on v1 and v1beta1."""
        host = "us-east5-aiplatform.googleapis.com"
        model = "claude-sonnet-4-5@20250929"
        obj = {"anthropic_version": "vertex-2023-10-16", "max_tokens": 100,
               "messages": [{"role": "user", "content": "Hello"}]}
        h1 = H1Client(self.s.port, self.s.ca_path, server_hostname=host)
        try:
            for method, stream in (("rawPredict", False), ("streamRawPredict", True)):
                with self.subTest(method=method):
                    r, rec, body, text = self.post(h1, host, VERTEX % ("anthropic", model, method),
                                                   dict(obj, stream=stream))
                    self.check("anthropic", stream, r, rec, "http/1.1", {}, body, provider="gcp.vertex_ai")
                    self.assertEqual((rec["model"], rec["api"], rec["request_id"]), (model, "messages", None))
                    self.assertNotIn("request-id", r.headers)
            # streamRawPredict streams whatever the body says.
            r, rec, _, text = self.post(h1, host, VERTEX % ("anthropic", model, "streamRawPredict"), obj)
            self.assertTrue(rec["stream"])
            self.assertTrue(r.headers["content-type"].startswith("text/event-stream"))
            r, rec, body, text = self.post(h1, host, VERTEX % ("anthropic", "count-tokens", "rawPredict"),
                                           dict(obj, model=model))
            self.assertEqual((json.loads(text)["input_tokens"], rec["api"], rec["billable"], rec["model"]),
                             (max(1, len(body) // 4), "count_tokens", False, model))
            gem = {"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]}
            for version, method, kind_stream in (("v1", "generateContent", False), ("v1beta1", "streamGenerateContent?alt=sse", True),
                                                 ("v1", "streamGenerateContent", True)):
                with self.subTest(version=version, method=method):
                    path = (VERTEX % ("google", "gemini-2.5-pro", method)).replace("/v1/", "/%s/" % version)
                    r, rec, body, text = self.post(h1, host, path, gem)
                    self.check("gemini", kind_stream, r, rec, "http/1.1", {}, body, provider="gcp.vertex_ai")
                    self.assertEqual(rec["model"], "gemini-2.5-pro")
        finally:
            h1.close()

    # -------------------------------------------------------------- Azure OpenAI

    def test_azure_openai(self):
        """Deployment paths answer with the model the deployment runs; the stream's first chunk has
        no choices, only the prompt's content-filter results; v1 paths name the deployment in
        the body."""
        host = "myres.openai.azure.com"
        h1 = H1Client(self.s.port, self.s.ca_path, server_hostname=host)
        try:
            body = {"messages": [{"role": "user", "content": "Hello"}]}
            path = "/openai/deployments/prod-chat/chat/completions?api-version=2024-10-21"
            r, rec, _, text = self.post(h1, host, path, body)
            c = json.loads(text)
            self.assertEqual((c["model"], rec["model"], rec["deployment"], rec["request_model"], rec["query"]),
                             ("gpt-4o-2024-11-20", "gpt-4o-2024-11-20", "prod-chat", None, "api-version=2024-10-21"))
            self.assertEqual((rec["provider"], rec["wire"], rec["api"]), ("azure.ai.openai", "openai_chat", "chat_completions"))
            self.assertIn("content_filter_results", c["choices"][0])
            self.assert_usage(rec, vendor_chat_usage("azure.ai.openai", c["usage"]))
            self.assertIn("apim-request-id", r.headers)

            r, rec, _, text = self.post(h1, host, path, dict(body, stream=True, stream_options={"include_usage": True}))
            chunks, _ = chat_stream_chunks(text)
            self.assertEqual((chunks[0]["choices"], chunks[0]["model"]), ([], ""))
            self.assertIn("prompt_filter_results", chunks[0])
            self.assertEqual({c["model"] for c in chunks[1:]}, {"gpt-4o-2024-11-20"})
            self.assertEqual(chunks[-1]["choices"], [])
            self.assert_usage(rec, vendor_chat_usage("azure.ai.openai", chunks[-1]["usage"]))
            self.assertTrue(rec["usage_sent"])

            r, rec, _, text = self.post(h1, host, "/openai/v1/chat/completions", dict(body, model="my-gpt5"),
                                        {"x-test-response-model": "gpt-5-2025-08-07"})
            self.assertEqual((json.loads(text)["model"], rec["model"], rec["deployment"], rec["request_model"]),
                             ("gpt-5-2025-08-07", "gpt-5-2025-08-07", "my-gpt5", "my-gpt5"))
            for path in ("/openai/deployments/prod-resp/responses?api-version=preview", "/openai/v1/responses"):
                r, rec, _, text = self.post(h1, host, path, {"model": "prod-resp", "input": "hi"})
                self.assertEqual((json.loads(text)["model"], rec["wire"], rec["deployment"]),
                                 ("gpt-4o-2024-11-20", "openai_responses", "prod-resp"))
                self.assert_usage(rec, usage_from_body("responses", False, text))
        finally:
            h1.close()

    # -------------------------------------------------------------- vendor usage shapes

    def test_vendor_chat_usage_shapes(self):
        """DeepSeek (cache hit/miss), OpenRouter (cost, cache writes), Moonshot (top-level
        cached_tokens; streamed in choices[0].usage), Z.ai (prompt_tokens_details; streamed with the
        finish_reason), each where its stream carries the usage."""
        knobs = {"x-test-usage": "input=100,cache_read=20,cache_write_5m=3,cache_write_1h=4,output=50,reasoning=7"}
        carried = {"deepseek": (0, 7), "openrouter": (7, 7), "moonshot": (0, 0), "zai": (0, 0)}  # writes, reasoning
        for provider, host, path in (("deepseek", "api.deepseek.com", "/chat/completions"),
                                     ("openrouter", "openrouter.ai", "/api/v1/chat/completions"),
                                     ("moonshot", "api.moonshot.ai", "/v1/chat/completions"),
                                     ("zai", "api.z.ai", "/api/paas/v4/chat/completions")):
            h1 = H1Client(self.s.port, self.s.ca_path, server_hostname=host)
            try:
                for stream, include_usage in ((False, False), (True, True), (True, False)):
                    with self.subTest(provider=provider, stream=stream, include_usage=include_usage):
                        obj = {"model": provider + "-model", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
                        if include_usage:
                            obj["stream_options"] = {"include_usage": True}
                        r, rec, _, text = self.post(h1, host, path, obj, knobs)
                        self.assertEqual((r.status, rec["provider"], rec["wire"]), (200, provider, "openai_chat"))
                        if not stream:
                            w = json.loads(text)["usage"]
                        else:
                            chunks, comments = chat_stream_chunks(text)
                            self.assertEqual(comments, [": OPENROUTER PROCESSING"] if provider == "openrouter" else [])
                            with_usage = [c for c in chunks if c.get("usage") or c["choices"] and c["choices"][0].get("usage")]
                            if provider == "deepseek" and not include_usage:
                                self.assertEqual((with_usage, rec["usage_sent"]), ([], False))
                                continue
                            self.assertEqual(len(with_usage), 1)
                            last = with_usage[0]
                            self.assertIs(last, chunks[-1])
                            if provider == "moonshot":
                                self.assertEqual(last["choices"][0]["finish_reason"], "stop")
                                self.assertNotIn("usage", last)
                                w = last["choices"][0]["usage"]
                            elif provider == "zai":
                                self.assertEqual(last["choices"][0]["finish_reason"], "stop")
                                w = last["usage"]
                            else:
                                self.assertEqual(last["choices"], [])
                                w = last["usage"]
                        got = vendor_chat_usage(provider, w)
                        self.assert_usage(rec, got)
                        self.assertTrue(rec["usage_sent"])
                        self.assertEqual((got["input_tokens"], got["cache_read_tokens"], got["output_tokens"]), (100, 20, 50))
                        self.assertEqual((got["cache_write_tokens"], got["reasoning_tokens"]), carried[provider])
                        if provider == "openrouter":
                            want = round(round((100 * 3 + 20 * 0.3 + 7 * 3.75) / 1e6, 9) + round(50 * 15 / 1e6, 9), 9)
                            self.assertEqual((w["cost"], w["is_byok"], rec["reported_cost_usd"]), (want, False, want))
                            self.assertEqual(rec["reported_cost"]["cost_details"], w["cost_details"])
                        else:
                            self.assertIsNone(rec["reported_cost_usd"])
            finally:
                h1.close()
        # OpenRouter with a key of one's own: a fee as cost, the upstream's in cost_details; x-test-cost.
        h1 = H1Client(self.s.port, self.s.ca_path, server_hostname="openrouter.ai")
        try:
            obj = {"model": "anthropic/claude-sonnet-4.5", "messages": [{"role": "user", "content": "hi"}]}
            r, rec, _, text = self.post(h1, "openrouter.ai", "/api/v1/chat/completions", obj,
                                        {"x-test-byok": "1", "x-test-cost": "0.02"})
            w = json.loads(text)["usage"]
            self.assertEqual((w["is_byok"], w["cost"], w["cost_details"]["upstream_inference_cost"]), (True, 0.001, 0.02))
            self.assertEqual((rec["reported_cost_usd"], rec["reported_cost"]["is_byok"]), (0.001, True))
        finally:
            h1.close()

    def test_vendor_anthropic_endpoints(self):
        """The vendors' Anthropic-wire endpoints answer in Anthropic's shape under their provider."""
        for host, path, provider in (("api.deepseek.com", "/anthropic/v1/messages", "deepseek"),
                                     ("api.moonshot.ai", "/anthropic/v1/messages", "moonshot"),
                                     ("api.z.ai", "/api/anthropic/v1/messages", "zai"),
                                     ("api.minimax.io", "/anthropic/v1/messages", "minimax")):
            h1 = H1Client(self.s.port, self.s.ca_path, server_hostname=host)
            try:
                for stream in (False, True):
                    with self.subTest(host=host, stream=stream):
                        _, obj = req_body("anthropic", stream, "glm-4.6")
                        r, rec, body, _ = self.post(h1, host, path, obj, {"x-test-usage": "cache_write_1h=5"})
                        self.check("anthropic", stream, r, rec, "http/1.1", {}, body, provider=provider)
                        self.assertEqual(rec["usage"]["cache_write_1h_tokens"], 5)
            finally:
                h1.close()

    # -------------------------------------------------------------- Ollama

    def test_ollama_native(self):
        """/api/chat and /api/generate: NDJSON unless "stream": false, the counts in the last
        (done) chunk; no cache counters. Ollama's OpenAI-compatible endpoint on port 11434 too."""
        host = "localhost:11434"
        h1 = H1Client(self.s.port, self.s.ca_path, server_hostname="localhost")
        try:
            for path, key in (("/api/chat", "message"), ("/api/generate", "response")):
                for stream in (None, True, False):
                    with self.subTest(path=path, stream=stream):
                        obj = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}], "prompt": "hi"}
                        if stream is not None:
                            obj["stream"] = stream
                        r, rec, body, text = self.post(h1, host, path, obj, {"x-test-usage": "cache_read=20,reasoning=3"})
                        streamed = stream is not False
                        if streamed:
                            self.assertEqual(r.headers["content-type"], "application/x-ndjson")
                            self.assertTrue(text.endswith("\n"))
                            chunks = [json.loads(line) for line in text.splitlines()]
                            self.assertEqual(len(chunks), len(r.chunks), "one line per chunk")
                        else:
                            chunks = [json.loads(text)]
                        self.assertEqual([c["done"] for c in chunks], [False] * (len(chunks) - 1) + [True])
                        last = chunks[-1]
                        reply = "".join(c[key]["content"] if key == "message" else c[key] for c in chunks)
                        self.assertEqual((last["done_reason"], last["model"]), ("stop", "llama3.2"))
                        self.assertEqual((rec["provider"], rec["wire"], rec["api"], rec["stream"]),
                                         ("ollama", "ollama", path[5:], streamed))
                        for d in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration"):
                            self.assertIsInstance(last[d], int)
                        p = max(1, len(body) // 4)
                        self.assert_usage(rec, {"input_tokens": last["prompt_eval_count"], "cache_read_tokens": 0,
                                                "cache_write_tokens": 0, "output_tokens": last["eval_count"],
                                                "reasoning_tokens": 0})
                        self.assertEqual((last["prompt_eval_count"], last["eval_count"]), (p, len(reply.split()) + 3))
            r, rec, _, _ = self.post(h1, host, "/api/chat", {"model": "m", "messages": []}, {"x-test-abort-after": "2"})
            self.assertEqual((r.complete, len(r.chunks), rec["aborted"], rec["usage_sent"]), (False, 2, True, False))
        finally:
            h1.close()
        h1 = H1Client(self.s.port, self.s.ca_path, server_hostname="localhost")
        try:
            r, rec, _, text = self.post(h1, host, "/v1/chat/completions", BODIES["openai_chat"])
            self.assertEqual((rec["provider"], rec["wire"]), ("ollama", "openai_chat"))
            got = vendor_chat_usage("ollama", json.loads(text)["usage"])
            self.assert_usage(rec, got)
            self.assertEqual(got["cache_read_tokens"], 0)
            r, rec, _, text = self.post(h1, host, "/api/chat", {"model": "m"}, {"x-test-status": "500"})
            self.assertEqual((r.status, json.loads(text)), (500, {"error": "test error 500"}))
        finally:
            h1.close()

    def test_augment_backend(self):
        """Augment's tenant backend (Auggie): /chat-stream answers NDJSON text lines and no usage,
        logging the estimate its text makes; other POSTs on its host are 200 support calls."""
        host = "d1.api.augmentcode.com"
        h1 = H1Client(self.s.port, self.s.ca_path, server_hostname=host)
        try:
            # String values: "" + "say hi" 6 + "é" 2 + "c-1" 3 = 11 bytes -> 3 tokens.
            obj = {"model": "", "chat_history": [], "nodes": [{"type": 0, "text_node": {"content": "say hi"}}],
                   "message": "\u00e9", "conversation_id": "c-1", "silent": False}
            r, rec, _, text = self.post(h1, host, "/chat-stream", obj, {"x-test-reply-words": "7"})
            lines = [json.loads(line) for line in text.splitlines()]
            self.assertEqual(len(lines), len(r.chunks), "one line per chunk")
            reply = "".join(line["text"] for line in lines)
            self.assertEqual(len(reply.split()), 7)
            self.assertEqual([n["content"] for line in lines for n in line["nodes"]], [line["text"] for line in lines[:-1]])
            self.assertEqual(lines[-1], {"text": "", "nodes": [], "stop_reason": 1})
            self.assertEqual((rec["provider"], rec["wire"], rec["api"], rec["stream"], rec["sni"]),
                             ("augment", "augment", "chat_stream", True, host))
            self.assertEqual((rec["usage_sent"], rec["billable"], rec["body_ids"]["conversation_id"]), (False, True, "c-1"))
            n = len(reply.encode())
            self.assertEqual(rec["estimated_usage"], {"input_tokens": 3, "output_tokens": (n + 3) // 4,
                                                      "request_text_bytes": 11, "response_text_bytes": n})
            r, rec, _, text = self.post(h1, host, "/get-models", {})
            self.assertEqual((r.status, rec["provider"], rec["api"]), (200, "none", "augment_support"))
            self.assertEqual(json.loads(text)["default_model"], "claude-sonnet-4-5")
            r, rec, _, text = self.post(h1, host, "/record-session-events", {"events": []})
            self.assertEqual((r.status, json.loads(text), rec["api"]), (200, {}, "augment_support"))
        finally:
            h1.close()
        # Its chat path names the provider on any host; its support paths do not exist elsewhere.
        h1 = H1Client(self.s.port, self.s.ca_path)
        try:
            r, rec, _, _ = self.post(h1, "127.0.0.1", "/chat-stream", obj)
            self.assertEqual((rec["provider"], rec["wire"]), ("augment", "augment"))
            r, rec, _, _ = self.post(h1, "127.0.0.1", "/get-models", {})
            self.assertEqual((r.status, rec["api"]), (404, "not_found"))
        finally:
            h1.close()

    def test_legacy_completions_and_embeddings(self):
        h1 = H1Client(self.s.port, self.s.ca_path)
        try:
            obj = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hello"}
            r, rec, _, text = self.post(h1, "api.openai.com", "/v1/completions", obj)
            c = json.loads(text)
            self.assertEqual((c["object"], rec["api"], rec["wire"], rec["provider"]),
                             ("text_completion", "completions", "openai_chat", "openai"))
            self.assert_usage(rec, vendor_chat_usage("openai", c["usage"]))
            r, rec, _, text = self.post(h1, "api.openai.com", "/v1/completions",
                                        dict(obj, stream=True, stream_options={"include_usage": True}))
            chunks, _ = chat_stream_chunks(text)
            streamed = "".join(ch["choices"][0]["text"] for ch in chunks[:-1])
            self.assertEqual((streamed, chunks[-1]["choices"]), (c["choices"][0]["text"], []))
            self.assert_usage(rec, vendor_chat_usage("openai", chunks[-1]["usage"]))
            r, rec, body, text = self.post(h1, "api.openai.com", "/v1/embeddings",
                                           {"model": "text-embedding-3-small", "input": ["a", "b"]})
            e = json.loads(text)
            self.assertEqual((len(e["data"]), rec["api"], rec["stream"]), (2, "embeddings", False))
            self.assertEqual(e["usage"], {"prompt_tokens": max(1, len(body) // 4), "total_tokens": max(1, len(body) // 4)})
            self.assert_usage(rec, {"input_tokens": e["usage"]["prompt_tokens"], "cache_read_tokens": 0, "output_tokens": 0})
        finally:
            h1.close()

    # -------------------------------------------------------------- certificates

    def test_make_certs_replaces_an_old_leaf(self):
        """A certificate directory from an older make_certs.sh (fewer names) gets a new leaf signed by
        its CA; a current one is left alone."""
        d = os.path.join(self.tmp, "certs-upgrade")
        subprocess.run(["bash", os.path.join(HERE, "make_certs.sh"), d], check=True)

        def read(name):
            with open(os.path.join(d, name), "rb") as f:
                return f.read()

        ca, leaf = read("ca.pem"), read("server.pem")
        subprocess.run(["bash", os.path.join(HERE, "make_certs.sh"), d], check=True)
        self.assertEqual((read("ca.pem"), read("server.pem")), (ca, leaf))
        for stale in ("IP:127.0.0.1, DNS:localhost\n", None):  # other names; no server.san at all
            if stale:
                with open(os.path.join(d, "server.san"), "w") as f:
                    f.write(stale)
            else:
                os.unlink(os.path.join(d, "server.san"))
            subprocess.run(["bash", os.path.join(HERE, "make_certs.sh"), d], check=True)
            self.assertEqual(read("ca.pem"), ca)
            self.assertNotEqual(read("server.pem"), leaf)
            leaf = read("server.pem")
            san = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", os.path.join(d, "server.pem")],
                                 capture_output=True, text=True, check=True).stdout
            for name in ("DNS:bedrock-runtime.us-east-1.amazonaws.com", "DNS:*.openai.azure.com", "DNS:api.z.ai",
                         "IP Address:127.0.0.1"):
                self.assertIn(name, san)
            subprocess.run(["openssl", "verify", "-CAfile", os.path.join(d, "ca.pem"), os.path.join(d, "server.pem")],
                           check=True, capture_output=True)

    # -------------------------------------------------------------- Claude Code on Bedrock and Vertex AI

    def run_claude(self, env):
        run = tempfile.mkdtemp(dir=self.tmp)
        for sub in ("home", "work", "tmp"):
            os.makedirs(os.path.join(run, sub))
        base = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.path.join(run, "home"), "USER": "root",
                "LANG": "C.UTF-8", "TERM": "dumb", "NO_COLOR": "1", "TMPDIR": os.path.join(run, "tmp"),
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
                "ANTHROPIC_CUSTOM_HEADERS": "x-test-usage: cache_write_1h=100,cache_write_5m=50,cache_read=7,input=11"}
        p = subprocess.run([CLAUDE, "-p", "say hi", "--output-format", "json"], env=env(base),
                           cwd=os.path.join(run, "work"), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=240)
        self.assertEqual(p.returncode, 0, p.stdout[-2000:] + p.stderr[-2000:])
        return json.loads(p.stdout)

    @unittest.skipUnless(os.access(CLAUDE, os.X_OK), "Claude Code is not installed (scripts/install-harnesses.sh claude)")
    def test_claude_code_bedrock_and_vertex(self):
        """The real Claude Code in its Bedrock and Vertex AI modes, auth skipped, gets answers it
        accepts, and reports the usage the log holds."""
        for mode, env in (("bedrock", self.s.claude_bedrock_env), ("vertex", self.s.claude_vertex_env)):
            with self.subTest(mode=mode):
                out = self.run_claude(env)
                recs = self.s.records(self.mark)
                self.mark += len(recs)
                llm = [r for r in recs if r["provider"] != "none"]
                self.assertEqual(len(llm), 1, recs)
                rec = llm[0]
                if mode == "bedrock":
                    self.assertEqual([(r["method"], r["path"], r["status"]) for r in recs if r["provider"] == "none"],
                                     [("GET", "/inference-profiles", 404)])
                    self.assertEqual((rec["provider"], rec["wire"], rec["api"]),
                                     ("aws.bedrock", "bedrock_invoke", "invoke_model_stream"))
                    self.assertRegex(rec["path"], r"^/model/[^/]+/invoke-with-response-stream$")
                else:
                    self.assertEqual((rec["provider"], rec["wire"], rec["api"]), ("gcp.vertex_ai", "anthropic_messages", "messages"))
                    self.assertRegex(rec["path"], r"^/v1/projects/p/locations/us-east5/publishers/anthropic/models/[^/:]+:streamRawPredict$")
                self.assertTrue(rec["stream"])
                self.assertNotIn("authorization", rec["headers"])
                self.assertEqual(len(out["result"].split()), 24)
                u = out["usage"]
                self.assertEqual((u["input_tokens"], u["cache_read_input_tokens"], u["cache_creation_input_tokens"],
                                  u["output_tokens"]), (11, 7, 150, 24))
                self.assertEqual((rec["usage"]["input_tokens"], rec["usage"]["cache_read_tokens"],
                                  rec["usage"]["cache_write_5m_tokens"], rec["usage"]["cache_write_1h_tokens"],
                                  rec["usage"]["output_tokens"]), (11, 7, 50, 100, 24))

if __name__ == "__main__":
    unittest.main(verbosity=2)

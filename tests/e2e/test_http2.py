"""End-to-end: LLM API calls over HTTP/2 (ALPN h2), traced by real BPF uprobes.

curl (libcurl + nghttp2) and Python httpx (h2) send several requests, streaming
and not, compressed and not, on one HTTP/2 connection; tokentap's records must
equal the test server's log exactly, as they do for HTTP/1.1.
"""

import json
import os
import subprocess
import unittest

from ttutil import CLIENTS, PY, TOKENTAP, E2ETestCase

ANTHROPIC = ('{"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,'
             '"system":[{"type":"text","text":"be brief","cache_control":{"type":"ephemeral"}}],'
             '"messages":[{"role":"user","content":"hello over h2"}]}')
CHAT = ('{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},'
        '"messages":[{"role":"user","content":"hi"}]}')
GEMINI = '{"contents":[{"role":"user","parts":[{"text":"hello gemini over h2"}]}]}'


class Http2Test(E2ETestCase):
    def write(self, name, text):
        p = os.path.join(self.tmp.name, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def curl_h2(self, *calls):
        """One curl process, one HTTP/2 connection: each call (path, body file, headers...) after --next."""
        args = ["curl"]
        for i, (path, body, *headers) in enumerate(calls):
            if i:
                args.append("--next")
            args += ["--http2", "-sS", "-f", "-o", "/dev/null", "--cacert", self.server.ca_path,
                     "-H", "content-type: application/json", "-H", "x-api-key: sk-test", "--data-binary", "@" + body]
            for h in headers:
                args += ["-H", h]
            args.append(self.server.base_url + path)
        return args

    def assert_one_h2_connection(self, prof, srv):
        self.assertEqual({r["transport"] for r in srv}, {"h2"})
        self.assertEqual(len({r["conn"] for r in srv}), 1, "the client must reuse one connection")
        self.assertEqual(len({r["connection_id"] for r in prof.requests}), 1)
        self.assertEqual(sorted(r["sequence_on_connection"] for r in prof.requests),
                         list(range(1, len(prof.requests) + 1)))
        self.assertEqual(prof.run["capture"]["non_http_connections"], 0)

    def test_curl_streaming_and_gzip_on_one_connection(self):
        anth, chat, gem = self.write("a.json", ANTHROPIC), self.write("c.json", CHAT), self.write("g.json", GEMINI)
        cmd = self.curl_h2(
            ("/v1/messages", anth, "x-test-usage: cache_write_5m=100,cache_write_1h=20", "x-test-event-delay-ms: 5"),
            ("/v1beta/models/gemini-2.5-flash:generateContent", gem, "accept-encoding: gzip"),
            ("/v1/chat/completions", chat),
            ("/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", gem, "x-test-encoding: gzip"),
        )
        mark = self.server.mark()
        prof = self.profile(cmd)
        srv = self.server.records(mark)
        self.assertEqual(len(srv), 4)
        self.assert_same_as_server(prof, srv)
        self.assert_one_h2_connection(prof, srv)
        by_api = {(r["api"], r["model"]): r for r in prof.requests}
        anth_rec = by_api[("messages", "claude-sonnet-4-5")]
        self.assertTrue(anth_rec["stream"])
        self.assertEqual((anth_rec["cache_write_5m_tokens"], anth_rec["cache_write_1h_tokens"]), (100, 20))
        self.assertEqual(anth_rec["host"], "127.0.0.1:%d" % self.server.port)
        self.assertTrue(anth_rec["request_id"].startswith("req_"), anth_rec)
        self.assertGreater(anth_rec["ttfb_ms"], 0)
        self.assertGreaterEqual(anth_rec["latency_ms"], anth_rec["ttfb_ms"])
        self.assertEqual(by_api[("generate_content", "gemini-2.5-flash")]["response_content_encoding"], "gzip")
        self.assertEqual(by_api[("stream_generate_content", "gemini-2.5-pro")]["response_content_encoding"], "gzip")
        self.assertTrue(all(r["harness"] == "curl" for r in prof.requests))

    def test_curl_large_body_in_many_frames(self):
        """A 3 MB request body crosses as ~200 DATA frames, split across reads and writes."""
        body = self.write("big.json", '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"%s"}]}'
                          % ("y" * (3 * 1024 * 1024)))
        mark = self.server.mark()
        prof = self.profile(self.curl_h2(("/v1/chat/completions", body)))
        srv = self.server.records(mark)
        self.assertEqual(len(srv), 1)
        self.assertGreater(srv[0]["request_body_bytes"], 3 * 1024 * 1024)
        self.assert_same_as_server(prof, srv)
        self.assertFalse(prof.requests[0]["request_truncated"])

    def test_aborted_stream_is_estimated_and_flagged(self):
        """The server drops the connection mid-stream: the request is reported incomplete, estimated."""
        anth = self.write("abort.json", ANTHROPIC)
        mark = self.server.mark()
        prof = self.profile(self.curl_h2(("/v1/messages", anth, "x-test-abort-after: 3")), expect_rc=None)
        srv = self.server.records(mark)
        self.assertEqual(len(srv), 1)
        self.assertFalse(srv[0]["usage_sent"])
        self.assertEqual(len(prof.requests), 1)
        r = prof.requests[0]
        self.assertFalse(r["complete"])
        self.assertEqual(r["usage_source"], "estimated")
        self.assertIn("connection closed", r["error"])
        self.assertEqual(r["request_bytes"], srv[0]["request_body_bytes"])
        self.assertEqual(prof.run["capture"]["incomplete_requests"], 1)

    def httpx(self, *args):
        return [PY, os.path.join(CLIENTS, "httpx_h2_client.py"), "--base-url", self.server.base_url,
                "--ca", self.server.ca_path, *args]

    def test_httpx_concurrent_streams(self):
        """httpx multiplexes seven calls, five of them streams at once, their events interleaved on one connection."""
        calls = ["gemini", "anthropic:stream", "openai-chat:stream", "openai-responses:stream", "gemini:stream",
                 "gemini-cloudcode:stream", "anthropic"]
        mark = self.server.mark()
        prof = self.profile(self.httpx(*sum((["--call", c] for c in calls), []),
                                       "--header", "x-test-event-delay-ms:10", "--body-bytes", "30000"))
        srv = self.server.records(mark)
        self.assertEqual(len(srv), len(calls))
        self.assert_same_as_server(prof, srv)
        self.assert_one_h2_connection(prof, srv)
        # The streams really overlapped: each streaming call started before another ended.
        streams = sorted((r["start_unix_ns"], r["end_unix_ns"]) for r in prof.requests if r["stream"])
        self.assertEqual(len(streams), 5)
        self.assertTrue(any(b[0] < a[1] for a, b in zip(streams, streams[1:])), streams)
        self.assertTrue(all(r["harness"] == "python-httpx" for r in prof.requests), prof.requests)
        # httpx asks for gzip: the non-streaming answers came compressed.
        self.assertEqual({r["response_content_encoding"] for r in prof.requests if not r["stream"]}, {"gzip"})

    def test_replay_reproduces_the_records(self):
        mark = self.server.mark()
        prof = self.profile(self.httpx("--call", "anthropic:stream", "--call", "openai-chat:stream",
                                       "--call", "gemini"))
        self.assert_same_as_server(prof, self.server.records(mark))
        out = os.path.join(self.tmp.name, "replay.jsonl")
        p = subprocess.run([TOKENTAP, "replay", "--json", out, "-q", prof.capture],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(out) as f:
            replayed = [json.loads(line) for line in f]
        self.assertEqual([r for r in replayed if r["type"] == "request"], prof.requests)


if __name__ == "__main__":
    unittest.main()

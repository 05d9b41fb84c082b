"""End-to-end: the OpenAI Responses WebSocket transport (Codex CLI's default), traced by real
BPF uprobes: tests/clients/ws_client.py (Python ssl, system libssl) against the test server's
WebSocket endpoint, with permessage-deflate, fragmented messages and pings."""

import os

from ttutil import CLIENTS, E2ETestCase, PY, TOKEN_FIELDS


class WebSocketTest(E2ETestCase):
    def ws_client(self, *args):
        return [PY, os.path.join(CLIENTS, "ws_client.py"), "--base-url", self.server.base_url,
                "--ca", self.server.ca_path, *args]

    def run_ws(self, *args, expect_rc=0):
        """Profiles one ws_client run; returns (profiled, server records of its response.create
        messages, the upgrade's server record)."""
        mark = self.server.mark()
        prof = self.profile(self.ws_client(*args), expect_rc=expect_rc)
        srv = self.server.records(mark)
        upgrades = [r for r in srv if r["api"] == "websocket"]
        self.assertEqual(len(upgrades), 1, srv)
        creates = [r for r in srv if r["transport"] == "websocket"]
        return prof, creates, upgrades[0]

    def assert_one_connection(self, prof, n):
        """n API requests, all on the upgraded connection, after the upgrade (sequence 1)."""
        self.assertEqual(len(prof.requests), n)
        self.assertEqual(len({r["connection_id"] for r in prof.requests}), 1)
        self.assertEqual(sorted(r["sequence_on_connection"] for r in prof.requests), list(range(2, n + 2)))
        for r in prof.requests:
            self.assertEqual((r["provider"], r["wire_format"], r["api"], r["method"], r["path"]),
                             ("local", "openai_responses", "responses", "POST", "/v1/responses"))
            self.assertEqual(r["user_agent"], "tokentap-ws-client/1.0")
        self.assertEqual(prof.run["other_http_requests"], 1)  # the upgrade itself

    def test_several_creates_on_one_deflate_connection(self):
        """A prewarm and three response.create messages on one permessage-deflate connection
        (context takeover both ways): each is a request with the server's exact usage."""
        prof, srv, up = self.run_ws("--requests", "3", "--prewarm", "--body-bytes", "3000",
                                    "--header", "x-test-usage: reasoning=7")
        self.assertEqual(len(srv), 4)
        self.assertIn("permessage-deflate", up["ws_extensions"])
        self.assertTrue(all(r["ws"]["deflate"] for r in srv))
        self.assertEqual(len({r["conn"] for r in srv}), 1)
        self.assert_same_as_server(prof, srv)
        self.assert_one_connection(prof, 4)
        # The prewarm (generate: false) produced no text: its output is the reasoning alone.
        first = min(prof.requests, key=lambda r: r["sequence_on_connection"])
        self.assertEqual((first["output_tokens"], first["reasoning_tokens"]), (7, 7))
        # Bytes are the JSON messages uncompressed; on the wire they were far smaller.
        self.assertLess(sum(r["ws"]["response_wire_bytes"] for r in srv),
                        sum(r["response_bytes"] for r in prof.requests) // 3)
        for r in prof.requests:
            self.assertGreaterEqual(r["latency_ms"], r["ttfb_ms"])
            self.assertTrue(r["response_id"].startswith("resp_"), r)

    def test_fragmented_messages_with_interleaved_pings(self):
        """Both sides split every message into small frames with a ping between fragments."""
        prof, srv, _ = self.run_ws("--requests", "2", "--body-bytes", "5000", "--fragment", "33", "--ping",
                                   "--header", "x-test-ws-fragment: 17", "--header", "x-test-ws-ping: 1")
        self.assertEqual(len(srv), 2)
        self.assertGreater(min(r["ws"]["request_frames"] for r in srv), 1)
        self.assertGreater(min(r["ws"]["response_frames"] for r in srv), 16)
        self.assert_same_as_server(prof, srv)
        self.assert_one_connection(prof, 2)

    def test_no_context_takeover_small_window_and_no_deflate(self):
        for args in (["--no-context-takeover", "--header", "x-test-ws-window-bits: 10"], ["--no-deflate"]):
            with self.subTest(args=args):
                prof, srv, up = self.run_ws("--requests", "2", "--body-bytes", "2000", *args)
                if "--no-deflate" in args:
                    self.assertIsNone(up["ws_extensions"])
                else:
                    self.assertIn("server_no_context_takeover", up["ws_extensions"])
                    self.assertIn("server_max_window_bits=10", up["ws_extensions"])
                self.assert_same_as_server(prof, srv)
                self.assert_one_connection(prof, 2)

    def test_connection_closed_mid_response(self):
        """The server drops the connection (no close frame, no TLS close_notify) after a few
        events of the second answer: that request is incomplete and estimated, the first exact."""
        prof, srv, _ = self.run_ws("--requests", "2", "--body-bytes", "4000",
                                   "--last-metadata", "x-test-abort-after=4", expect_rc=None)
        self.assertEqual(len(srv), 2)
        done, cut = sorted(srv, key=lambda r: r["seq"])
        self.assertTrue(cut["aborted"])
        self.assertFalse(cut["usage_sent"])
        self.assertEqual(len(prof.requests), 2)
        first, second = sorted(prof.requests, key=lambda r: r["sequence_on_connection"])
        self.assertEqual(self.tt_key(first), self.server_key(done))
        self.assertTrue(first["complete"])
        self.assertEqual(first["usage_source"], "exact")
        self.assertFalse(second["complete"])
        self.assertEqual(second["usage_source"], "estimated")
        self.assertIn("stream ended before usage", second["error"])
        self.assertEqual(second["request_bytes"], cut["request_body_bytes"])
        self.assertEqual(second["response_bytes"], cut["response_body_bytes"])
        # About 4 bytes of prompt text per token.
        self.assertGreater(second["input_tokens"], 500)
        self.assertLess(second["input_tokens"], 1500)
        run = prof.run
        self.assertEqual(run["estimated_requests"], 1)
        self.assertEqual(run["capture"]["parse_errors"], 0)
        self.assertEqual(run["capture"]["bytes_unparsed"], 0)

    def test_rejected_create_is_not_billed(self):
        """An "error" event with a status (rate limit) answers a create: not billed, like a 429."""
        prof, srv, _ = self.run_ws("--requests", "2", "--last-metadata", "x-test-status=429", expect_rc=None)
        self.assertEqual(len(srv), 2)
        self.assert_same_as_server(prof, srv)
        rejected = [r for r in prof.requests if r["status"] == 429]
        self.assertEqual(len(rejected), 1)
        self.assertFalse(rejected[0]["billable"])
        self.assertEqual(sum(rejected[0][f] for f in TOKEN_FIELDS), 0)
        self.assertIn("rate_limit", rejected[0]["error"])

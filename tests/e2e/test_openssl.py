"""End-to-end: curl, Python and Node over OpenSSL, traced by real BPF uprobes."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from ttutil import E2ETestCase, NODE, PY, TOKENTAP, TOKEN_FIELDS


class CurlTest(E2ETestCase):
    def curl(self, path, body_file, *headers):
        args = ["curl", "--http1.1", "-sS", "-f", "-o", "/dev/null", "--cacert", self.server.ca_path,
                "-H", "content-type: application/json", "-H", "x-api-key: sk-test", "--data-binary",
                "@" + body_file]
        for h in headers:
            args += ["-H", h]
        return args + [self.server.base_url + path]

    def write(self, name, text):
        p = os.path.join(self.tmp.name, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def test_each_provider_through_a_shell(self):
        """A shell runs one curl per API: the process tree is followed, every call measured."""
        anth = self.write("anth.json", '{"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,'
                                       '"system":[{"type":"text","text":"be brief","cache_control":{"type":"ephemeral"}}],'
                                       '"messages":[{"role":"user","content":"hello there"}]}')
        chat = self.write("chat.json", '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}')
        resp = self.write("resp.json", '{"model":"gpt-5-mini","input":"hello","stream":true}')
        gem = self.write("gem.json", '{"contents":[{"role":"user","parts":[{"text":"hello gemini"}]}]}')
        cca = self.write("cca.json", '{"model":"gemini-2.5-pro","project":"p","request":'
                                     '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}}')
        cmds = [
            self.curl("/v1/messages", anth, "x-test-usage: cache_write_5m=100,cache_write_1h=20"),
            self.curl("/v1/chat/completions", chat),
            self.curl("/v1/responses", resp, "x-test-usage: reasoning=7"),
            self.curl("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", gem),
            self.curl("/v1internal:generateContent", cca),
        ]
        script = " && ".join(subprocess.list2cmdline(c) for c in cmds)
        mark = self.server.mark()
        prof = self.profile(["/bin/sh", "-c", script])
        srv = self.server.records(mark)
        self.assertEqual(len(srv), 5)
        self.assert_same_as_server(prof, srv)
        self.assertEqual(sorted(r["api"] for r in prof.requests),
                         ["chat_completions", "generate_content", "messages", "responses",
                          "stream_generate_content"])
        # Each curl is its own process, a child of the shell.
        pids = {r["pid"] for r in prof.requests}
        self.assertEqual(len(pids), 5)
        shell = [p for p in prof.processes if p["exe"].endswith("/sh") or p["comm"] == "sh"]
        self.assertTrue(shell, prof.processes)
        procs = {p["pid"]: p for p in prof.processes}
        for pid in pids:
            self.assertEqual(procs[pid]["ppid"], shell[0]["pid"])
            self.assertEqual(procs[pid]["comm"], "curl")
        anth_rec = [r for r in prof.requests if r["api"] == "messages"][0]
        self.assertEqual((anth_rec["cache_write_5m_tokens"], anth_rec["cache_write_1h_tokens"]), (100, 20))
        self.assertEqual(anth_rec["stop_reason"], "end_turn")
        self.assertTrue(anth_rec["request_id"].startswith("req_"), anth_rec)
        self.assertGreater(anth_rec["ttfb_ms"], 0)
        self.assertGreaterEqual(anth_rec["latency_ms"], anth_rec["ttfb_ms"])

    def test_five_megabyte_body_with_expect_continue(self):
        """curl sends Expect: 100-continue for a 5 MB body; the body is captured whole."""
        filler = "x" * (5 * 1024 * 1024)
        body = self.write("big.json", '{"model":"claude-sonnet-4-5","max_tokens":10,'
                                      '"messages":[{"role":"user","content":"%s"}]}' % filler)
        mark = self.server.mark()
        prof = self.profile(self.curl("/v1/messages", body))
        srv = self.server.records(mark)
        self.assertEqual(len(srv), 1)
        self.assertGreater(srv[0]["request_body_bytes"], 5 * 1024 * 1024)
        self.assert_same_as_server(prof, srv)
        self.assertFalse(prof.requests[0]["request_truncated"])

    def test_exit_code_is_passed_through(self):
        prof = self.profile(["/bin/sh", "-c", "exit 7"], expect_rc=7)
        self.assertEqual(prof.run["exit_code"], 7)
        self.assertEqual(prof.requests, [])

    def test_command_not_found(self):
        p = subprocess.run([TOKENTAP, "profile", "--", "/nonexistent/tool"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 127)
        self.assertIn("command not found", p.stderr)

    def test_unknown_command_is_an_error(self):
        for args in (["NOSUCHCOMMAND", "--help"], ["NOSUCHCOMMAND"], ["proflie", "--", "/bin/true"]):
            p = subprocess.run([TOKENTAP] + args, capture_output=True, text=True)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn("unknown command '%s'" % args[0], p.stderr)
        p = subprocess.run([TOKENTAP, "inspect", "--help"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)

    def test_not_root_is_a_clear_error(self):
        p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", TOKENTAP, "profile",
                            "--", "/bin/true"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("needs root", p.stderr)
        self.assertIn("sudo", p.stderr)


class PythonClientTest(E2ETestCase):
    def test_keep_alive_connection_carries_every_request(self):
        mark = self.server.mark()
        prof = self.profile(self.client("py", "--api", "anthropic", "--stream", "--requests", "4"))
        srv = self.server.records(mark)
        self.assertEqual(len(srv), 4)
        self.assertEqual(len({r["conn"] for r in srv}), 1, "the client must reuse one connection")
        self.assert_same_as_server(prof, srv)
        self.assertEqual(len({r["connection_id"] for r in prof.requests}), 1)
        self.assertEqual(sorted(r["sequence_on_connection"] for r in prof.requests), [1, 2, 3, 4])

    def test_every_api_non_streaming_and_streaming(self):
        for api in ("anthropic", "openai-chat", "openai-responses", "gemini", "gemini-cloudcode"):
            for stream in (False, True):
                with self.subTest(api=api, stream=stream):
                    mark = self.server.mark()
                    args = ["--api", api, "--requests", "2", "--body-bytes", "20000"]
                    prof = self.profile(self.client("py", *args, *(["--stream"] if stream else [])))
                    srv = self.server.records(mark)
                    self.assertEqual(len(srv), 2)
                    self.assert_same_as_server(prof, srv)
                    self.assertTrue(all(r["stream"] == stream for r in prof.requests))

    def test_five_megabyte_body(self):
        mark = self.server.mark()
        prof = self.profile(self.client("py", "--api", "openai-chat", "--body-bytes", "5000000"))
        srv = self.server.records(mark)
        self.assertGreaterEqual(srv[0]["request_body_bytes"], 5000000)
        self.assert_same_as_server(prof, srv)

    def test_count_tokens_is_not_billed(self):
        mark = self.server.mark()
        prof = self.profile(self.client("py", "--api", "anthropic-count"))
        srv = self.server.records(mark)
        self.assert_same_as_server(prof, srv)
        r = prof.requests[0]
        self.assertEqual((r["api"], r["billable"]), ("count_tokens", False))
        self.assertEqual(sum(r[f] for f in TOKEN_FIELDS), 0)

    def test_aborted_stream_is_estimated_and_flagged(self):
        mark = self.server.mark()
        prof = self.profile(self.client("py", "--api", "anthropic", "--stream", "--body-bytes", "4000",
                                        "--header", "x-test-abort-after:3"), expect_rc=None)
        srv = self.server.records(mark)
        self.assertEqual(len(srv), 1)
        self.assertFalse(srv[0]["usage_sent"])
        self.assertEqual(len(prof.requests), 1)
        r = prof.requests[0]
        self.assertEqual(r["usage_source"], "estimated")
        self.assertFalse(r["complete"])
        self.assertNotEqual(r["error"], "")
        # Estimate: about 4 bytes of prompt text per token.
        self.assertGreater(r["input_tokens"], 500)
        self.assertLess(r["input_tokens"], 1500)
        self.assertEqual(prof.run["estimated_requests"], 1)

    def test_provider_error_status(self):
        mark = self.server.mark()
        prof = self.profile(self.client("py", "--api", "anthropic", "--header", "x-test-status:429"),
                            expect_rc=None)
        srv = self.server.records(mark)
        self.assertEqual(len(prof.requests), 1)
        r = prof.requests[0]
        self.assertEqual(r["status"], 429)
        self.assertEqual(r["response_bytes"], srv[0]["response_body_bytes"])
        # A rejected request is not charged: no tokens, not billable, and the error is kept.
        self.assertFalse(r["billable"])
        self.assertEqual(sum(r[f] for f in TOKEN_FIELDS), 0)
        self.assertIn("rate_limit", r["error"])


class LossAccountingTest(E2ETestCase):
    """What cannot be captured is counted and flagged, never silently dropped."""

    def test_ring_buffer_overflow_is_counted(self):
        mark = self.server.mark()
        prof = self.profile(self.client("py", "--api", "openai-chat", "--body-bytes", "8000000"),
                            extra_args=["--ring-buffer-mb", "1"])
        srv = self.server.records(mark)
        self.assertEqual(len(srv), 1)
        cap = prof.run["capture"]
        self.assertGreater(cap["events_lost"], 0)
        # 8 MB went through one SSL_write into a 1 MiB ring: most of it is lost, and every
        # plaintext byte is either captured or counted as lost (headers add a few KiB).
        bodies = srv[0]["request_body_bytes"] + srv[0]["response_body_bytes"]
        self.assertGreater(cap["bytes_lost"], 4000000)
        self.assertGreaterEqual(cap["bytes_captured"] + cap["bytes_lost"], bodies)
        self.assertLess(cap["bytes_captured"] + cap["bytes_lost"], bodies + 64 * 1024)
        self.assertIn("LOST", prof.report)
        for r in prof.requests:
            self.assertFalse(r["complete"] and r["request_bytes"] == srv[0]["request_body_bytes"]
                             and r["error"] == "", r)
        # The request is still there, once, its size exact: the body's length framed the gap.
        self.assertEqual([r["request_bytes"] for r in prof.requests], [srv[0]["request_body_bytes"]])

    def test_overflow_in_every_request_loses_no_request(self):
        """Every 2 MB body overflows a 1 MiB ring buffer, on one keep-alive connection: chunks
        are lost in every request, and, reported with the client's next write, after the answer
        was read. Decoding resumes after each gap, so every request the server saw has its
        record: those reported complete equal the server's log exactly, the rest are flagged
        incomplete, their sizes still exact (the gaps were inside bodies of known length, unless
        the connection closed before the loss was reported) and their usage exact wherever the
        answer was seen. (With several clients at once a request's head and its answer can both
        be lost in BPF: nothing is left to count it by.)"""
        mark = self.server.mark()
        prof = self.profile(self.client("py", "--api", "openai-chat", "--requests", "5", "--body-bytes", "2000000"),
                            extra_args=["--ring-buffer-mb", "1"])
        srv = self.server.records(mark)
        self.assertEqual(len(srv), 5)
        cap = prof.run["capture"]
        self.assertGreater(cap["events_lost"], 0)
        self.assertGreater(cap["gap_resyncs"], 0)
        self.assertIn("decoding resumed after", prof.report)
        self.assertEqual(len(prof.requests), len(srv), "requests lost wholesale: %s\nreport:\n%s" % (
            [(r["connection_id"], r["sequence_on_connection"], r["error"]) for r in prof.requests], prof.report))
        self.assertEqual(cap.get("non_http_connections", 0), 0)
        complete = [r for r in prof.requests if r["complete"]]
        server_keys = sorted(self.server_key(r) for r in srv)
        for r in complete:
            self.assertIn(self.tt_key(r), server_keys)
            self.assertEqual(r["usage_source"], "exact")
        tokens = {tuple(self.server_key(r)[6:]) for r in srv}
        for r in prof.requests:
            # Exact unless a body's lost end was never reported: the connection closed first.
            if "connection closed" not in r["error"]:
                self.assertEqual(r["request_bytes"], srv[0]["request_body_bytes"], r)
            if not r["complete"]:
                self.assertNotEqual(r["error"], "", r)
            if r["usage_source"] == "exact":
                self.assertIn(tuple(r[f] for f in TOKEN_FIELDS), tokens, r)
        self.assertEqual(prof.run["api_requests"], len(srv))

    def test_per_call_cap_is_counted(self):
        mark = self.server.mark()
        prof = self.profile(self.client("py", "--api", "anthropic", "--body-bytes", "3000000"),
                            extra_args=["--max-call-bytes", "1000000"])
        self.assertEqual(len(self.server.records(mark)), 1)
        cap = prof.run["capture"]
        self.assertGreater(cap["bytes_over_cap"], 1900000)
        self.assertIn("capture cap", prof.report)
        self.assertTrue(all(not r["complete"] for r in prof.requests), prof.requests)

    def test_process_killed_mid_request(self):
        """The client dies while waiting for its response: the request is still reported."""
        args = ["--api", "anthropic", "--stream", "--body-bytes", "8000"]
        # The same request once untraced and unkilled, for the server's byte count.
        mark = self.server.mark()
        subprocess.run(self.client("py", *args), check=True, stdout=subprocess.DEVNULL)
        body_bytes = self.server.records(mark)[0]["request_body_bytes"]
        cmd = ["timeout", "-s", "KILL", "1.5", *self.client("py", *args, "--header", "x-test-delay-ms:4000")]
        prof = self.profile(cmd, expect_rc=137)
        self.assertEqual(len(prof.requests), 1)
        r = prof.requests[0]
        self.assertFalse(r["complete"])
        self.assertEqual(r["status"], 0)
        self.assertEqual(r["usage_source"], "estimated")
        self.assertGreater(r["input_tokens"], 1500)
        self.assertEqual(r["request_bytes"], body_bytes)
        client = [p for p in prof.processes if p["pid"] == r["pid"]][0]
        self.assertEqual(client["exit_code"], 137)
        self.assertEqual(prof.run["capture"]["incomplete_requests"], 1)


class NodeClientTest(E2ETestCase):
    def test_keep_alive_streaming_chat(self):
        mark = self.server.mark()
        prof = self.profile(self.client("node", "--api", "openai-chat", "--stream", "--requests", "3"))
        srv = self.server.records(mark)
        self.assertEqual(len(srv), 3)
        self.assertEqual(len({r["conn"] for r in srv}), 1)
        self.assert_same_as_server(prof, srv)
        self.assertTrue(all(r["comm"] == "node" for r in prof.requests))

    def test_compressed_responses(self):
        for enc in ("gzip", "deflate", "br", "zstd"):
            for stream in (False, True):
                with self.subTest(encoding=enc, stream=stream):
                    mark = self.server.mark()
                    prof = self.profile(self.client("node", "--api", "anthropic", "--accept-encoding", enc,
                                                    "--header", "x-test-encoding:" + enc,
                                                    *(["--stream"] if stream else [])))
                    srv = self.server.records(mark)
                    self.assertEqual(srv[0]["response_content_encoding"], enc)
                    self.assert_same_as_server(prof, srv)
                    self.assertEqual(prof.requests[0]["response_content_encoding"], enc)

    def test_gemini_five_megabytes(self):
        mark = self.server.mark()
        prof = self.profile(self.client("node", "--api", "gemini", "--stream", "--body-bytes", "5000000"))
        srv = self.server.records(mark)
        self.assertGreaterEqual(srv[0]["request_body_bytes"], 5000000)
        self.assert_same_as_server(prof, srv)


class ReplayTest(E2ETestCase):
    def test_replay_reproduces_the_records(self):
        mark = self.server.mark()
        prof = self.profile(self.client("py", "--api", "openai-responses", "--stream", "--requests", "2"))
        self.assert_same_as_server(prof, self.server.records(mark))
        out = os.path.join(self.tmp.name, "replay.jsonl")
        p = subprocess.run([TOKENTAP, "replay", "--json", out, "-q", prof.capture], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(out) as f:
            replayed = [json.loads(line) for line in f]
        self.assertEqual([r for r in replayed if r["type"] == "request"], prof.requests)
        self.assertEqual([r for r in replayed if r["type"] == "run"], [prof.run])

    def test_report_reads_back_every_record_written(self):
        # A User-Agent with a byte that is not UTF-8: once it made the whole --out file unreadable.
        body = '{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}'
        d = tempfile.mkdtemp(dir=self.tmp.name)
        script = os.path.join(d, "calls.sh")
        with open(script, "w") as f:
            f.write("for ua in \"$(printf 'agent\\377/1')\" plain/2; do\n"
                    "  curl --http1.1 -sS -f -o /dev/null -A \"$ua\" --cacert %s -H 'content-type: application/json' "
                    "--data-binary '%s' %s/v1/messages || exit 1\ndone\n" % (self.server.ca_path, body,
                                                                          self.server.base_url))
        pb = os.path.join(d, "out.pb")
        prof = self.profile(["/bin/sh", script], extra_args=("--out", pb))
        self.assertEqual(len(prof.requests), 2)
        self.assertEqual(prof.requests[0]["user_agent"], "agent\ufffd/1")
        out = os.path.join(d, "back.jsonl")
        p = subprocess.run([TOKENTAP, "report", "--json", "-o", out, pb], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(out) as f:
            back = [json.loads(line) for line in f]
        self.assertEqual(back, prof.records)  # every record, field for field
        # Damage after the good records: they are still read, and the error says where.
        with open(pb, "ab") as f:
            f.write(b"\x05abc")
        p = subprocess.run([TOKENTAP, "report", "--json", pb], capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(len(p.stdout.splitlines()), len(prof.records))
        self.assertIn("corrupt record %d" % len(prof.records), p.stderr)

    def test_summaries_do_not_repeat_token_fields(self):
        prof = self.profile(self.client("py", "--api", "anthropic"))
        for r in prof.records:
            if r["type"] != "request":
                self.assertNotIn("input_tokens", r)
                self.assertNotIn("output_tokens", r)


if __name__ == "__main__":
    unittest.main()

class ProcessFollowingTest(E2ETestCase):
    """Binaries and libraries the run meets only after it started are instrumented before they talk."""

    def private_copy(self, src, name=None):
        """A copy of a file with an inode tokentap has never seen."""
        d = tempfile.mkdtemp(dir=self.tmp.name)
        dst = os.path.join(d, name or os.path.basename(src))
        shutil.copy2(src, dst)
        return dst

    def test_exec_of_a_binary_never_seen(self):
        """A shell execs a node binary no one has instrumented: it is held, attached, resumed."""
        node = self.private_copy(NODE, "node-private")
        cmd = [node if a == NODE else a for a in self.client("node", "--api", "anthropic", "--stream",
                                                             "--requests", "2")]
        mark = self.server.mark()
        prof = self.profile(["/bin/sh", "-c", subprocess.list2cmdline(cmd) + " && true"])
        srv = self.server.records(mark)
        self.assertEqual(len(srv), 2)
        self.assert_same_as_server(prof, srv)

    def libssl_dir(self):
        d = tempfile.mkdtemp(dir=self.tmp.name)
        for lib in ("libssl.so.3", "libcrypto.so.3"):
            shutil.copy2(os.path.join("/lib/x86_64-linux-gnu", lib), os.path.join(d, lib))
        return d

    def test_private_libssl_loaded_by_dlopen(self):
        """Python's ssl module dlopens a libssl copy from LD_LIBRARY_PATH: it is attached before use."""
        d = self.libssl_dir()
        env = dict(os.environ, LD_LIBRARY_PATH=d)
        mark = self.server.mark()
        prof = self.profile(self.client("py", "--api", "openai-chat", "--stream", "--requests", "2"), env=env)
        srv = self.server.records(mark)
        self.assertEqual(len(srv), 2)
        self.assert_same_as_server(prof, srv)

    def test_libssl_inside_another_mount_namespace(self):
        """As in a container: the process sees a different libssl at the system path."""
        d = self.libssl_dir()
        target = "/lib/x86_64-linux-gnu/libssl.so.3"
        inner = "mount --bind %s %s && exec %s" % (os.path.join(d, "libssl.so.3"), target,
                                                   subprocess.list2cmdline(self.client("py", "--api", "gemini",
                                                                                       "--stream")))
        mark = self.server.mark()
        prof = self.profile(["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", inner])
        srv = self.server.records(mark)
        self.assertEqual(len(srv), 1)
        self.assert_same_as_server(prof, srv)


class CountingProxy:
    """TCP relay in front of the test server that counts the bytes of each connection: what crossed
    the client's socket, the ground truth for the socket fallback."""

    def __init__(self, port):
        self.target = port
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.conns = []  # [sent by client, sent by server] per connection, in accept order
        self.closed = 0  # connections relayed to their end in both directions
        self.lock = threading.Condition()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            s = socket.create_connection(("127.0.0.1", self.target))
            counts = [0, 0]
            with self.lock:
                self.conns.append(counts)
            done = threading.Barrier(3)
            for i, (a, b) in enumerate(((c, s), (s, c))):
                threading.Thread(target=self.pump, args=(a, b, counts, i, done), daemon=True).start()
            threading.Thread(target=self.close_after, args=(c, s, done), daemon=True).start()

    @staticmethod
    def pump(a, b, counts, i, done):
        while True:
            try:
                data = a.recv(65536)
            except OSError:  # a client that resets instead of closing
                break
            if not data:
                break
            counts[i] += len(data)
            b.sendall(data)
        try:
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        done.wait()

    def close_after(self, c, s, done):
        done.wait()
        c.close()
        s.close()
        with self.lock:
            self.closed += 1
            self.lock.notify_all()

    def counts(self, timeout=10):
        """The per-connection counts once every connection accepted so far has ended."""
        with self.lock:
            self.lock.wait_for(lambda: self.closed == len(self.conns), timeout)
            return [tuple(c) for c in self.conns]

    def close(self):
        self.lsock.close()


class SocketFallbackTest(E2ETestCase):
    """A TLS stack with no plaintext hook (GnuTLS) still shows up: bytes at the socket, tokens estimated."""

    def test_gnutls_client_is_measured_at_the_socket(self):
        body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello from gnutls"}]}'
        req = os.path.join(self.tmp.name, "req.http")
        with open(req, "w") as f:
            f.write("POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                    "Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        proxy = CountingProxy(self.server.port)
        self.addCleanup(proxy.close)
        one = "gnutls-cli --x509cafile %s --port %d localhost < %s > /dev/null 2>&1; true" % (
            self.server.ca_path, proxy.port, req)
        mark = self.server.mark()
        prof = self.profile(["/bin/sh", "-c", one + "; " + one], extra_args=["--api-host", "localhost=openai"])
        self.assertEqual(len(self.server.records(mark)), 2)
        conns = proxy.counts()
        self.assertEqual(len(conns), 2)
        got = sorted((r["request_bytes"], r["response_bytes"]) for r in prof.requests)
        self.assertEqual(got, sorted(conns), prof.report)
        for r in prof.requests:
            self.assertEqual((r["provider"], r["api"], r["capture_method"], r["usage_source"], r["host"]),
                             ("openai", "tls", "socket", "estimated", "localhost"))
            self.assertGreater(r["input_tokens"], 0)
            self.assertGreater(r["output_tokens"], 0)
        self.assertEqual(prof.run["capture"]["socket_fallback_connections"], 2)
        self.assertEqual(prof.run["estimated_requests"], 2)
        # Why, on each request, in the report and once on stderr: the binary, and what discovery said.
        why = "/usr/bin/gnutls-cli carries no TLS library tokentap hooks"
        for r in prof.requests:
            self.assertIn(why, r["error"])
        self.assertIn("seen at the socket only (tokens estimated): " + why, prof.report)
        self.assertEqual(prof.stderr.count("pid "), 1, prof.stderr)
        self.assertIn("(/usr/bin/gnutls-cli) talks TLS to an LLM API with no plaintext hook", prof.stderr)

    def test_inspect_a_running_process(self):
        """`tokentap inspect --pid`: the executable and every mapped file that may carry TLS, with
        what discovery found in each: here GnuTLS, which has no hook, beside libssl, which has."""
        gnutls = subprocess.Popen(["gnutls-cli", "--x509cafile", self.server.ca_path, "--port", str(self.server.port),
                                   "localhost"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        self.addCleanup(gnutls.kill)
        pyssl = subprocess.Popen([PY, "-c", "import ssl, sys; sys.stdin.read()"], stdin=subprocess.PIPE)
        self.addCleanup(pyssl.kill)
        maps = lambda p: open("/proc/%d/maps" % p.pid).read()  # noqa: E731
        deadline = time.time() + 20
        while time.time() < deadline and not ("libgnutls" in maps(gnutls) and "libssl" in maps(pyssl)):
            time.sleep(0.05)
        out = subprocess.run([TOKENTAP, "inspect", "--pid", str(gnutls.pid), "--pid", str(pyssl.pid)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout)
        self.assertIn("pid %d: /usr/bin/gnutls-cli\n/usr/bin/gnutls-cli\n" % gnutls.pid, out.stdout)
        self.assertRegex(out.stdout, r"/usr/bin/gnutls-cli\n  build id: \w+\n  TLS: none found \(no OpenSSL")
        self.assertRegex(out.stdout, r"\S+/libgnutls\.so\.30\S*\n  TLS: gnutls: unsupported: tokentap has no plaintext hook")
        self.assertRegex(out.stdout, r"pid %d: /usr/bin/python3\S*\n" % pyssl.pid)
        self.assertRegex(out.stdout, r"\S+/libssl\.so\.3\n  build id: \w+\n  TLS: openssl\n    method: symbols")
        # A process that is gone: said, and a failure.
        gone = subprocess.run([TOKENTAP, "inspect", "--pid", "999999999"], stdout=subprocess.PIPE, text=True)
        self.assertEqual(gone.returncode, 1)
        self.assertIn("pid 999999999: cannot read /proc/999999999/maps", gone.stdout)

    def test_hooked_clients_are_not_counted_twice(self):
        """Processes whose TLS is seen in plaintext get no socket records, even to an API host."""
        mark = self.server.mark()
        prof = self.profile(self.client("py", "--api", "anthropic", "--requests", "2"),
                            extra_args=["--api-host", "127.0.0.1=anthropic", "--api-host", "localhost=anthropic"])
        # The user's name for the host wins over "local", for plaintext requests too.
        srv = [dict(r, provider="anthropic") for r in self.server.records(mark) if r["provider"] != "none"]
        self.assert_same_as_server(prof, srv)
        self.assertEqual({r["cost_source"] for r in prof.requests}, {"price_table"})
        self.assertTrue(all(r["capture_method"] == "plaintext" for r in prof.requests))
        self.assertEqual(prof.run["capture"].get("socket_fallback_connections", 0), 0)


class GoClientTest(E2ETestCase):
    """Go's crypto/tls (no OpenSSL): hooked by symbol, Read's returns by uprobes on its RETs; HTTP/1.1
    and Go's own HTTP/2."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.go_client = os.path.join(cls.tmp.name, "go_client")
        env = dict(os.environ, GO111MODULE="off", GOFLAGS="", GOCACHE=os.path.join(cls.tmp.name, "gocache"),
                   GOPATH=os.path.join(cls.tmp.name, "gopath"))
        src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "clients", "go_client",
                           "main.go")
        subprocess.run(["go", "build", "-o", cls.go_client, src], env=env, check=True, timeout=600)

    def go(self, *args):
        return [self.go_client, "--base-url", self.server.base_url, "--ca", self.server.ca_path, *args]

    def test_keep_alive_plain_and_streaming(self):
        for api, opts in (("anthropic", []), ("anthropic", ["--stream"]), ("openai-chat", ["--stream"]),
                          ("anthropic", ["--stream", "--http2"]), ("openai-chat", ["--http2"])):
            with self.subTest(api=api, opts=opts):
                mark = self.server.mark()
                prof = self.profile(self.go("--api", api, "--requests", "3", *opts))
                srv = self.server.records(mark)
                self.assertEqual(len(srv), 3)
                self.assertEqual(len({r["conn"] for r in srv}), 1)
                self.assertEqual({r["transport"] for r in srv}, {"h2" if "--http2" in opts else "http/1.1"})
                self.assert_same_as_server(prof, srv)
                self.assertTrue(all(r["capture_method"] == "plaintext" for r in prof.requests))

"""End-to-end: `tokentap daemon` traces the whole host.

One daemon runs while, against the test LLM server:
  - a Node client started BEFORE the daemon keeps making keep-alive requests on the connection it
    already had open;
  - curl, Python and Node clients, Claude Code (a Bun binary) and Codex (rustls) start after it;
  - a burst of short-lived processes runs: curl requests, each its own process, and hundreds of
    execs that never open a connection.
The server's log is the ground truth: every LLM request it logged after the daemon was ready must
be in the daemon's records exactly once, with exactly its tokens and body bytes; the test server
itself (traced too: it is a Python process using OpenSSL) must not be reported as a client; no
event may be lost and no process left stopped.
"""

import collections
import json
import os
import signal
import subprocess
import tempfile
import time
import unittest

from harnesses import HARNESSES, SERVER_TOOL_CALLS
from ttutil import NODE, PY, TOKENTAP, E2ETestCase, run_group

CURL = "/usr/bin/curl"


def stopped_pids(pgids):
    """Processes of the given process groups that are stopped (state T)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rfind(")") + 2:].split()
        if fields[0] == "T" and int(fields[2]) in pgids:
            out.append(int(name))
    return out


class DaemonRun:
    """Mixed into the daemon's test cases: starting and stopping it, the clients they run."""
    server_options = {"auto_tool_calls": SERVER_TOOL_CALLS}

    def start_daemon(self, d, extra_args=()):
        self.daemon_err = open(os.path.join(d, "daemon.err"), "w+")
        self.addCleanup(self.daemon_err.close)
        js = os.path.join(d, "records.jsonl")
        p = subprocess.Popen([TOKENTAP, "daemon", "--json", js, "--summary-interval", "1", *extra_args],
                             stdin=subprocess.DEVNULL, stdout=self.daemon_err, stderr=self.daemon_err,
                             start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            self.daemon_err.seek(0)
            text = self.daemon_err.read()
            if "daemon ready" in text:
                return p, js
            if p.poll() is not None:
                self.fail("tokentap daemon exited %s:\n%s" % (p.returncode, text))
            time.sleep(0.05)
        p.kill()
        self.fail("tokentap daemon not ready after 120 s")

    def stop_daemon(self, p):
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()
            self.fail("tokentap daemon did not stop on SIGTERM")
        self.daemon_err.seek(0)
        self.assertEqual(rc, 0, "tokentap daemon exited %d:\n%s" % (rc, self.daemon_err.read()[-4000:]))

    def curl_cmd(self, i):
        body = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": i % 2 == 1,
                           "messages": [{"role": "user", "content": "burst request %d" % i}]})
        return [CURL, "--http1.1", "-sS", "-f", "-o", "/dev/null", "--cacert", self.server.ca_path,
                "-H", "content-type: application/json", "-H", "x-api-key: sk-ant-test",
                "-H", "anthropic-version: 2023-06-01", "--data-binary", body,
                self.server.base_url + "/v1/messages"]

    def run_harness(self, name, run_dir):
        h = HARNESSES[name]
        why = h.missing()
        if why:
            if os.environ.get("TOKENTAP_SKIP_HARNESSES") == "1":
                return None
            self.fail(why)
        cmd, env, cwd = h.prepare(self.server, run_dir)
        rc, out, err = run_group(cmd, env, cwd, h.timeout)
        self.assertEqual(rc, 0, "%s exited %s\n%s" % (name, rc, err[-3000:]))
        return h


class DaemonTest(DaemonRun, E2ETestCase):
    def test_whole_host(self):
        d = tempfile.mkdtemp(dir=self.tmp.name)
        env = self.server.client_env({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": d})
        interval = 0.3
        # A client already running, its keep-alive connection open, when the daemon starts.
        before = subprocess.Popen(self.client("node", "--requests", "80", "--interval", str(interval)),
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  start_new_session=True)
        early = self.server.wait_for_records(2, timeout=30)
        early_port = early[0]["client_port"]  # the early client's one keep-alive connection
        daemon, js = self.start_daemon(d)
        ready_s = time.time()
        # The mark: the middle of one of the early client's pauses after the daemon was ready,
        # found from the server's own receipt times. Requests start on either side of it, far
        # from it, whatever the load on the machine (a mark taken by watching the log could
        # fall inside a request on a loaded CI machine).
        mark_s = None
        deadline = time.time() + 30
        while mark_s is None and time.time() < deadline:
            ts = [r["ts"] for r in self.server.records() if r.get("client_port") == early_port]
            gaps = [(a, b) for a, b in zip(ts, ts[1:]) if a > ready_s + 2 * interval]
            if gaps:
                mark_s = (gaps[0][0] + gaps[0][1]) / 2
            else:
                time.sleep(0.05)
        self.assertIsNotNone(mark_s, "the early client made no requests after the daemon started")
        mark_ns = mark_s * 1e9

        pgids = {before.pid}
        started = []
        for args in (self.client("py", "--api", "openai-chat", "--stream", "--requests", "3"),
                     self.client("node", "--api", "anthropic", "--stream", "--requests", "3",
                                 "--body-bytes", "200000"),
                     self.curl_cmd(0)):
            rc, out, err = run_group(args, env=env, timeout=120)
            self.assertEqual(rc, 0, "%s: %s" % (args[:2], err[-2000:]))
        harnesses = []
        for name in ("claude-code", "codex"):
            h = self.run_harness(name, tempfile.mkdtemp(dir=d))
            if h:
                harnesses.append(h)
        # The burst: 40 curl processes, 8 at a time, and 400 execs that never connect.
        procs = []
        for i in range(40):
            procs.append(subprocess.Popen(self.curl_cmd(i), env=env, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                          start_new_session=True))
            pgids.add(procs[-1].pid)
            if len(procs) >= 8:
                self.assertEqual(procs.pop(0).wait(timeout=60), 0)
        for p in procs:
            self.assertEqual(p.wait(timeout=60), 0)
        t0 = time.time()
        subprocess.run(["/bin/sh", "-c", "i=0; while [ $i -lt 400 ]; do /bin/true; i=$((i+1)); done"],
                       check=True, timeout=120)
        burst_s = time.time() - t0
        out, err = before.communicate(timeout=120)
        self.assertEqual(before.returncode, 0, err.decode()[-2000:])
        self.assertEqual(stopped_pids(pgids), [], "processes left stopped")
        self.stop_daemon(daemon)

        with open(js) as f:
            records = [json.loads(line) for line in f if line.strip()]
        port = ":%d" % self.server.port
        reqs = [r for r in records if r["type"] == "request" and r["host"].endswith(port)]
        srv = [r for r in self.server.records() if r["provider"] != "none" and r["ts"] >= mark_s]
        self.assertTrue(srv)
        # Each request logged after the mark exactly once, and nothing else but the early
        # client's requests from before the mark.
        after = [r for r in reqs if not (r["pid"] == before.pid and r["start_unix_ns"] < mark_ns)]
        got = collections.Counter(self.tt_key(r) for r in after)
        want = collections.Counter(self.server_key(r) for r in srv)
        missing = want - got
        self.assertEqual(missing, collections.Counter(), "requests the server logged but the daemon did not: %s\n"
                         "server records: %s\nincomplete: %s\ncapture: %s" % (
                             list(missing), [(r["client_port"], r["path"]) for r in srv if self.server_key(r) in missing],
                             [r for r in reqs if not r["complete"]],
                             [r["capture"] for r in records if r["type"] == "run"]))
        extra = got - want
        self.assertEqual(extra, collections.Counter(), "requests reported that the server did not log: %s" % [
            (r["pid"], r["comm"], r["exe"], r["path"]) for r in after if self.tt_key(r) in extra])
        for r in reqs:
            self.assertTrue(r["complete"], r)
            self.assertEqual(r["usage_source"], "exact", r)
        names = collections.Counter(r["harness"] for r in reqs)
        for h in harnesses:
            self.assertIn(h.name, names, "no request attributed to %s" % h.name)
        # The pre-existing connection kept being measured after the daemon joined it.
        self.assertTrue([r for r in reqs if r["pid"] == before.pid and r["start_unix_ns"] >= mark_ns])

        run = [r for r in records if r["type"] == "run"]
        self.assertEqual(len(run), 1)
        cap = run[0]["capture"]
        self.assertEqual((cap["events_lost"], cap["bytes_lost"], cap["map_update_failures"], cap["poll_errors"]),
                         (0, 0, 0, 0), cap)
        self.assertEqual(run[0]["scope"], "host")
        # The test server is traced too: its side is counted, never reported, and once seen
        # to be a server's, a connection is no longer copied.
        self.assertGreater(cap["server_side_exchanges"], 0, cap)
        self.assertGreater(cap["muted_connections"], 0, cap)
        # 400 execs that never connect: nothing is held, so they run at full speed.
        self.assertLess(burst_s, 20, "400 execs took %.1f s under the daemon" % burst_s)
        sessions = [r for r in records if r["type"] == "session" and r["final"]]
        self.assertTrue(sessions)


class DaemonUnhookedTlsTest(DaemonRun, E2ETestCase):
    """A program whose TLS tokentap cannot hook (gnutls-cli: GnuTLS) calls an LLM API while the
    daemon runs: its requests are counted at the socket, byte-exact, and the daemon's log names the
    binary and says why, once."""

    def test_unhooked_tls_is_named_and_counted_at_the_socket(self):
        from test_openssl import CountingProxy
        d = tempfile.mkdtemp(dir=self.tmp.name)
        body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello from gnutls"}]}'
        req = os.path.join(d, "req.http")
        with open(req, "w") as f:
            f.write("POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                    "Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        proxy = CountingProxy(self.server.port)
        self.addCleanup(proxy.close)
        daemon, js = self.start_daemon(d, ["--api-host", "localhost=openai"])
        one = "gnutls-cli --x509cafile %s --port %d localhost < %s > /dev/null 2>&1" % (
            self.server.ca_path, proxy.port, req)
        for _ in range(2):
            subprocess.run(["/bin/sh", "-c", one], timeout=60)
        self.stop_daemon(daemon)
        self.daemon_err.seek(0)
        log = self.daemon_err.read()
        with open(js) as f:
            records = [json.loads(line) for line in f if line.strip()]
        # (The proxy, this test's own process, relays the same TLS: the whole host sees it too.)
        reqs = [r for r in records if r["type"] == "request" and r["comm"] == "gnutls-cli"]
        self.assertEqual(sorted((r["request_bytes"], r["response_bytes"]) for r in reqs), sorted(proxy.counts()), log)
        for r in reqs:  # the second process is not held (its binary is known) and may be gone: still named
            self.assertEqual((r["exe"], r["provider"], r["capture_method"], r["usage_source"]),
                             ("/usr/bin/gnutls-cli", "openai", "socket", "estimated"))
            # Why, on the request: nothing tokentap hooks in the binary, and the library it maps.
            self.assertIn("/usr/bin/gnutls-cli carries no TLS library tokentap hooks", r["error"])
            self.assertRegex(r["error"], r"it maps \S*libgnutls\.so\S* \(gnutls\)")
        # ... and in the log, once for the binary.
        warnings = [ln for ln in log.splitlines()
                    if "(/usr/bin/gnutls-cli) talks TLS to an LLM API with no plaintext hook" in ln]
        self.assertEqual(len(warnings), 1, log)
        self.assertIn("libgnutls", warnings[0])
        run = [r for r in records if r["type"] == "run"][-1]
        hooks = {(h["library"], h["status"]) for h in run.get("tls_hooks", [])}
        self.assertIn(("gnutls", "unsupported"), hooks)
        self.assertIn(("openssl", "hooked"), hooks)  # the system libssl, from the start


if __name__ == "__main__":
    unittest.main()

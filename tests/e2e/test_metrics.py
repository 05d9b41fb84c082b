"""End-to-end: `tokentap daemon --metrics-listen` scraped by a real Prometheus.

A Prometheus server (Debian's `prometheus`) runs on loopback in a temporary directory, scraping the
daemon every second. Python and Node clients make requests against the test LLM server under the
daemon; then Prometheus's HTTP API must give, per provider, model and token type, exactly the
tokens the test server's log says it sent, and per provider, model and status class exactly its
requests. The clients use models named for this run, so traffic of other tests on the host (the
daemon traces all of it) is left out of the sums. The daemon's health metrics must be there, and
its /metrics reader must refuse what it does not serve.
"""

import collections
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import unittest
import urllib.parse
import urllib.request
import uuid

from ttutil import TOKENTAP, E2ETestCase, run_group

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
TOKEN_TYPES = {"input": "input_tokens", "cache_read": "cache_read_tokens", "cache_write": "cache_write_tokens",
               "output": "output_tokens"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raw_request(port, data):
    """Sends data to the daemon's /metrics port; returns what it answers before closing."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


class MetricsTest(E2ETestCase):
    def start(self, d, name, cmd, ready, timeout=120):
        err = open(os.path.join(d, name + ".err"), "w+")
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True)
        self.addCleanup(self.stop, p, err, name)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if ready():
                return p
            if p.poll() is not None:
                err.seek(0)
                self.fail("%s exited %s:\n%s" % (name, p.returncode, err.read()[-4000:]))
            time.sleep(0.1)
        self.fail("%s not ready after %d s" % (name, timeout))

    def stop(self, p, err, name):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        err.seek(0)
        text = err.read()
        err.close()
        if name == "daemon":
            self.assertEqual(p.returncode, 0, "tokentap daemon exited %d:\n%s" % (p.returncode, text[-4000:]))

    def start_prometheus(self, d, target_port):
        self.prom_port = free_port()
        cfg = os.path.join(d, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: tokentap\n    scrape_interval: 1s\n    scrape_timeout: 1s\n"
                    "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % target_port)
        cmd = [PROMETHEUS, "--config.file=" + cfg, "--storage.tsdb.path=" + os.path.join(d, "tsdb"),
               "--web.listen-address=127.0.0.1:%d" % self.prom_port, "--log.level=warn"]
        return self.start(d, "prometheus", cmd, lambda: self.http_ok("/-/ready"))

    def http_ok(self, path):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.prom_port, path), timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def query(self, promql):
        """An instant query: {tuple of label values in key order: float}."""
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (self.prom_port, urllib.parse.urlencode({"query": promql}))
        with urllib.request.urlopen(url, timeout=10) as r:
            res = json.load(r)
        self.assertEqual(res["status"], "success", res)
        return {tuple(v for _, v in sorted(s["metric"].items())): float(s["value"][1]) for s in res["data"]["result"]}

    def start_daemon(self, d, port):
        err_path = os.path.join(d, "daemon.err")

        def ready():
            with open(err_path) as f:
                return "daemon ready" in f.read()
        cmd = [TOKENTAP, "daemon", "--json", os.path.join(d, "records.jsonl"),
               "--metrics-listen", "127.0.0.1:%d" % port]
        return self.start(d, "daemon", cmd, ready)

    def expected(self, models):
        """Token sums per (model, provider, type) and requests per (model, provider, status class)."""
        tokens, requests = collections.Counter(), collections.Counter()
        for r in self.server.records():
            if r.get("model") not in models:
                continue
            u = r["usage"] if r.get("billable", True) and r.get("usage_sent", True) else {}
            for t, field in TOKEN_TYPES.items():
                tokens[(r["model"], r["provider"], t)] += u.get(field, 0)
            requests[(r["model"], r["provider"], "%dxx" % (r["status"] // 100))] += 1
        return dict(tokens), dict(requests)

    def wait_for(self, promql, want, timeout=90):
        got = None
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = self.query(promql)
            if got == want:
                return
            time.sleep(1)
        self.assertEqual(got, want, promql)

    def test_prometheus_counts_what_the_server_logged(self):
        d = self.tmp.name
        mport = free_port()
        self.start_prometheus(d, mport)
        self.start_daemon(d, mport)
        run = uuid.uuid4().hex[:8]
        models = {"mt-%s-claude" % run, "mt-%s-gpt" % run}
        env = self.server.client_env({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": d})
        for cmd in (self.client("py", "--api", "openai-chat", "--stream", "--requests", "3", "--model", "mt-%s-gpt" % run),
                    self.client("node", "--api", "anthropic", "--stream", "--requests", "3", "--model",
                                "mt-%s-claude" % run),
                    self.client("py", "--api", "anthropic", "--requests", "2", "--model", "mt-%s-claude" % run)):
            rc, out, err = run_group(cmd, env=env)
            self.assertEqual(rc, 0, "%s failed:\n%s\n%s" % (cmd, out, err))
        tokens, requests = self.expected(models)
        self.assertEqual(sum(requests.values()), 8, requests)
        sel = '{model=~"mt-%s-.*"}' % run
        self.wait_for("sum by (model, provider, type) (tokentap_tokens_total%s)" % sel, tokens)
        self.wait_for("sum by (model, provider, status_class) (tokentap_requests_total%s)" % sel, requests)
        self.assert_health()
        self.assert_reader_bounds(mport)

    def assert_health(self):
        self.assertEqual(list(self.query('up{job="tokentap"}').values()), [1.0])
        for name in ("tokentap_process_cpu_seconds_total", "tokentap_process_resident_memory_bytes"):
            got = self.query("sum by (process) (%s)" % name)
            self.assertEqual(set(got), {("daemon",), ("parser",)}, name)
            if "memory" in name:
                self.assertTrue(all(v > 0 for v in got.values()), got)
        self.assertTrue(self.query("tokentap_ring_buffer_size_bytes > 0"))
        # How full the ring is: present, and never more than its size.
        self.assertTrue(self.query("tokentap_ring_buffer_used_bytes >= 0"))
        self.assertFalse(self.query("tokentap_ring_buffer_used_bytes > tokentap_ring_buffer_size_bytes"))
        losses = self.query("sum by (kind) (tokentap_capture_losses_total)")
        for kind in ("events_lost", "bytes_lost", "decode_errors", "incomplete_requests"):
            self.assertIn((kind,), losses)
        self.assertEqual(len(self.query("tokentap_limit_hits_total")), 5)

    def assert_reader_bounds(self, port):
        self.assertTrue(raw_request(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 404"))
        self.assertTrue(raw_request(port, b"POST /metrics HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 405"))
        big = b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 9000
        self.assertTrue(raw_request(port, big).startswith(b"HTTP/1.1 431"))
        ok = raw_request(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(ok.startswith(b"HTTP/1.1 200") and b"# TYPE tokentap_tokens_total counter" in ok, ok[:300])


if __name__ == "__main__":
    unittest.main()

"""Shared helpers for tokentap end-to-end tests (real BPF, root, real clients).

Each test runs a real client under `tokentap profile` against the test LLM
server and compares tokentap's records with the server's log (ground truth).
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "llmserver"))

from serverctl import LlmServer  # noqa: E402

TOKENTAP = os.environ.get("TOKENTAP_BIN") or os.path.join(os.path.dirname(TESTS), "build", "tokentap")
CLIENTS = os.path.join(TESTS, "clients")
PY = "/usr/bin/python3"
NODE = "/usr/bin/node"

TOKEN_FIELDS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_5m_tokens",
                "cache_write_1h_tokens", "output_tokens", "reasoning_tokens")


def run_group(cmd, env=None, cwd=None, timeout=300):
    """Runs cmd (stdin closed, output captured) in a session of its own and, on timeout, kills the
    whole process group: wrappers such as Cline's run the real binary with spawnSync, and it
    outlives a killed parent.  Returns (rc, stdout, stderr), rc None on timeout."""
    p = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        rc = None
    return rc, out.decode(errors="replace"), err.decode(errors="replace")


def chown_tree(path, uid, gid):
    """Gives path and everything under it to uid:gid (symbolic links themselves, not their targets)."""
    os.chown(path, uid, gid)
    for d, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(d, name), uid, gid, follow_symlinks=False)


class Profiled:
    """Result of one `tokentap profile` run."""

    def __init__(self, rc, records, report, stderr, capture, stdout="", json_path=None):
        self.rc = rc
        self.records = records
        self.report = report
        self.stderr = stderr
        self.capture = capture
        self.stdout = stdout        # the command's standard output (tokentap writes none)
        self.json_path = json_path  # the --json record file

    @property
    def requests(self):
        return [r for r in self.records if r["type"] == "request"]

    @property
    def run(self):
        runs = [r for r in self.records if r["type"] == "run"]
        assert len(runs) == 1, "expected exactly one run record, got %d" % len(runs)
        return runs[0]

    @property
    def processes(self):
        return [r for r in self.records if r["type"] == "process"]


class E2ETestCase(unittest.TestCase):
    """Starts one test LLM server per test class (LlmServer keyword arguments: server_options)."""

    server_options = {}

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise RuntimeError("end-to-end tests load BPF programs: run them as root")
        if not os.access(TOKENTAP, os.X_OK):
            raise RuntimeError("tokentap binary not found at %s (set TOKENTAP_BIN)" % TOKENTAP)
        cls.tmp = tempfile.TemporaryDirectory(prefix="tokentap-e2e-")
        cls.server = LlmServer(cls.tmp.name, **cls.server_options).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.tmp.cleanup()

    def profile(self, cmd, env=None, extra_args=(), expect_rc=0, cwd=None, timeout=300):
        """Runs cmd under tokentap profile; returns a Profiled."""
        d = tempfile.mkdtemp(dir=self.tmp.name)
        js, rep, cap = (os.path.join(d, n) for n in ("out.jsonl", "report.txt", "capture.ttcap"))
        full = [TOKENTAP, "profile", "--json", js, "--report", rep, "--capture", cap, *extra_args, "--", *cmd]
        rc, stdout, stderr = run_group(full, env, cwd, timeout)
        if rc is None:
            self.fail("tokentap profile %s: killed after %d s\nstderr:\n%s\nstdout:\n%s" % (
                cmd, timeout, stderr[-4000:], stdout[-4000:]))
        records = []
        if os.path.exists(js):
            with open(js) as f:
                records = [json.loads(line) for line in f if line.strip()]
        report = ""
        if os.path.exists(rep):
            with open(rep) as f:
                report = f.read()
        if expect_rc is not None:
            self.assertEqual(rc, expect_rc, "tokentap profile %s exited %d\nstderr:\n%s\nstdout:\n%s" % (
                cmd, rc, stderr, stdout))
        return Profiled(rc, records, report, stderr, cap, stdout, js)

    def client(self, kind, *args):
        """Command line for a test client: kind is 'py' or 'node'."""
        base = ["--base-url", self.server.base_url, "--ca", self.server.ca_path]
        if kind == "py":
            return [PY, os.path.join(CLIENTS, "py_client.py"), *base, *args]
        return [NODE, os.path.join(CLIENTS, "node_client.mjs"), *base, *args]

    # -- comparisons with the server's log --------------------------------

    @staticmethod
    def server_key(rec):
        u = rec["usage"] if rec.get("billable", True) and rec.get("usage_sent", True) else {}
        return (rec["provider"], rec["wire"], rec["api"], rec["model"], rec["request_body_bytes"],
                rec["response_body_bytes"], *(u.get(f, 0) for f in TOKEN_FIELDS))

    @staticmethod
    def tt_key(req):
        return (req["provider"], req.get("wire_format", ""), req["api"], req["model"], req["request_bytes"],
                req["response_bytes"], *(req[f] for f in TOKEN_FIELDS))

    def assert_same_as_server(self, prof, server_recs):
        """Every LLM request the server logged was seen, with exactly its numbers."""
        srv = sorted(self.server_key(r) for r in server_recs if r["provider"] != "none")
        got = sorted(self.tt_key(r) for r in prof.requests)
        self.assertEqual(got, srv, "tokentap records differ from the server log\nreport:\n%s" % prof.report)
        for r in prof.requests:
            self.assertTrue(r["complete"], "incomplete request: %s" % r)
            self.assertEqual(r["usage_source"], "exact")
        # Totals in the run summary equal the sum of the request records.
        run = prof.run
        for f in TOKEN_FIELDS:
            self.assertEqual(run["totals"][f], sum(r[f] for r in prof.requests), f)
        self.assertEqual(run["api_requests"], len(prof.requests))
        cap = run["capture"]
        self.assertEqual((cap["events_lost"], cap["bytes_lost"], cap["bytes_unparsed"], cap["parse_errors"]),
                         (0, 0, 0, 0), "capture losses: %s" % cap)

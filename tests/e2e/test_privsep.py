"""End-to-end: the daemon's privilege split (docs/security.md, "Privilege split").

The daemon parses traffic in a child process: it must run as `nobody` with no capabilities,
no_new_privs and a seccomp filter, hold no BPF object, and still produce exactly the records the
in-process engine did (the server's log is the ground truth; replaying the daemon's capture, in
process and with --isolate, gives the same requests). A parser that dies stops the daemon with
a clear message and a non-zero exit code.
"""

import collections
import json
import os
import pwd
import re
import signal
import subprocess
import tempfile
import time
import unittest

from ttutil import TOKENTAP, E2ETestCase, run_group


def proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def read_varint_records(path):
    """Count of length-delimited protobuf records in a file."""
    with open(path, "rb") as f:
        data = f.read()
    n = at = 0
    while at < len(data):
        length = shift = 0
        while True:
            b = data[at]
            at += 1
            length |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        at += length
        n += 1
    return n


class PrivsepTest(E2ETestCase):
    def start_daemon(self, d):
        self.err = open(os.path.join(d, "daemon.err"), "w+")
        self.addCleanup(self.err.close)
        files = {k: os.path.join(d, n) for k, n in (("json", "records.jsonl"), ("out", "records.pb"),
                                                     ("capture", "capture.ttcap"), ("report", "report.txt"))}
        args = [TOKENTAP, "daemon", "--summary-interval", "1"]
        for k, path in files.items():
            args += ["--" + k, path]
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.err, stderr=self.err,
                             start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            m = re.search(r"daemon ready: .*parser pid (\d+)", self.stderr())
            if m:
                return p, int(m.group(1)), files
            if p.poll() is not None:
                self.fail("tokentap daemon exited %s:\n%s" % (p.returncode, self.stderr()))
            time.sleep(0.05)
        p.kill()
        self.fail("tokentap daemon not ready after 120 s")

    def stderr(self):
        self.err.seek(0)
        return self.err.read()

    def assert_confined(self, daemon_pid, parser_pid, files):
        # "ready" is printed once the parser is forked; it confines itself before its first record.
        deadline = time.time() + 10
        while proc_status(parser_pid).get("Seccomp") != "2" and time.time() < deadline:
            time.sleep(0.02)
        st = proc_status(parser_pid)
        self.assertEqual(int(st["PPid"]), daemon_pid)
        nobody = pwd.getpwnam("nobody")
        self.assertEqual(st["Uid"].split(), [str(nobody.pw_uid)] * 4, st["Uid"])
        self.assertEqual(st["Gid"].split(), [str(nobody.pw_gid)] * 4, st["Gid"])
        self.assertEqual(st["Groups"].strip(), "")
        for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            self.assertEqual(int(st[cap], 16), 0, "%s %s" % (cap, st[cap]))
        self.assertEqual(st["NoNewPrivs"], "1")
        self.assertEqual(st["Seccomp"], "2")
        self.assertNotEqual(int(proc_status(daemon_pid)["CapEff"], 16), 0, "the daemon itself keeps root")
        # Only the record pipe, the back-channel (one unix socket), the output files and stdio:
        # no BPF map, program, link, perf event or ring.
        allowed = set(files.values()) | {self.err.name, "/dev/null"}
        fd_dir = "/proc/%d/fd" % parser_pid
        sockets = 0
        for fd in os.listdir(fd_dir):
            target = os.readlink(os.path.join(fd_dir, fd))
            sockets += target.startswith("socket:")
            self.assertTrue(target.startswith(("pipe:", "socket:")) or target in allowed,
                            "parser fd %s -> %s" % (fd, target))
        self.assertEqual(sockets, 1, "the back-channel and no other socket")
        with open("/proc/%d/maps" % parser_pid) as f:
            bpf = [line for line in f if "anon_inode:bpf" in line]
        self.assertEqual(bpf, [], "BPF objects still mapped in the parser")

    def requests(self, records):
        port = ":%d" % self.server.port
        return [r for r in records if r["type"] == "request" and r["host"].endswith(port)]

    def replay_keys(self, capture, *extra):
        d = tempfile.mkdtemp(dir=self.tmp.name)
        js = os.path.join(d, "replay.jsonl")
        rc, out, err = run_group([TOKENTAP, "replay", "-q", *extra, "--json", js, capture], timeout=120)
        self.assertEqual(rc, 0, err)
        with open(js) as f:
            return collections.Counter(self.tt_key(r) for r in self.requests([json.loads(x) for x in f if x.strip()]))

    def test_parser_confined_records_exact(self):
        d = tempfile.mkdtemp(dir=self.tmp.name)
        daemon, parser_pid, files = self.start_daemon(d)
        try:
            self.assert_confined(daemon.pid, parser_pid, files)
            env = self.server.client_env({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": d})
            for args in (self.client("py", "--api", "openai-chat", "--stream", "--requests", "3"),
                         self.client("node", "--api", "anthropic", "--stream", "--requests", "3",
                                     "--body-bytes", "200000"),
                         self.client("py", "--api", "anthropic", "--requests", "2")):
                rc, out, err = run_group(args, env=env, timeout=120)
                self.assertEqual(rc, 0, "%s: %s" % (args[:2], err[-2000:]))
            self.assert_confined(daemon.pid, parser_pid, files)  # still, after parsing traffic
        finally:
            daemon.send_signal(signal.SIGTERM)
            rc = daemon.wait(timeout=120)
        self.assertEqual(rc, 0, self.stderr()[-4000:])
        self.assertIn("daemon stopped", self.stderr())

        with open(files["json"]) as f:
            records = [json.loads(line) for line in f if line.strip()]
        got = collections.Counter(self.tt_key(r) for r in self.requests(records))
        want = collections.Counter(self.server_key(r) for r in self.server.records() if r["provider"] != "none")
        self.assertEqual(sum(want.values()), 8)
        self.assertEqual(got, want)
        run = [r for r in records if r["type"] == "run"]
        self.assertEqual(len(run), 1)
        cap = run[0]["capture"]
        self.assertEqual((cap["events_lost"], cap["bytes_lost"], cap["poll_errors"]), (0, 0, 0), cap)
        self.assertGreater(cap["muted_connections"], 0, "mute requests reached the parent: %s" % cap)
        # Every output file was written by the parser through the fds it was given.
        self.assertEqual(read_varint_records(files["out"]), len(records))
        # The report counts the whole host (other processes may call APIs too): as many as the records.
        with open(files["report"]) as f:
            self.assertIn("API requests: %d" % len([r for r in records if r["type"] == "request"]), f.read())
        self.assertEqual(self.replay_keys(files["capture"]), want)
        self.assertEqual(self.replay_keys(files["capture"], "--isolate"), want)

    def test_parser_death_stops_daemon(self):
        d = tempfile.mkdtemp(dir=self.tmp.name)
        daemon, parser_pid, files = self.start_daemon(d)
        os.kill(parser_pid, signal.SIGKILL)
        try:
            rc = daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            self.fail("the daemon kept running without its parser:\n%s" % self.stderr())
        err = self.stderr()
        self.assertNotEqual(rc, 0, err)
        self.assertIn("the parser process (pid %d)" % parser_pid, err)
        self.assertIn("killed by signal 9", err)
        self.assertIn("stopping the daemon", err)
        self.assertNotIn("daemon stopped", err)


if __name__ == "__main__":
    unittest.main()

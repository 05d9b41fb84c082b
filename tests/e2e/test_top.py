"""End-to-end: `tokentap top` against `tokentap daemon --top-socket`.

The daemon serves its snapshots on a unix socket in a temporary directory. A Node client (alive for
a while, as a harness is, so the daemon reads its project from /proc) makes requests with a model
and a session id named for this run, from a fresh git repository (with large prompts: the busiest
rows, whatever else runs on the host); then `tokentap top` runs inside
tmux in an 80-column terminal, and the process, session and project rows on screen must show the
requests and tokens the test server's log says it answered. `q` must quit. A user outside the
socket's group is refused with a message that says what to do.
"""

import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid

from ttutil import TOKENTAP, E2ETestCase

import test_daemon

TMUX = shutil.which("tmux") or "/usr/bin/tmux"


class TopTest(E2ETestCase):
    stop_daemon = test_daemon.DaemonTest.stop_daemon

    def start_daemon(self, d, sock):
        self.daemon_err = open(os.path.join(d, "daemon.err"), "w+")
        p = subprocess.Popen([TOKENTAP, "daemon", "--json", os.path.join(d, "records.jsonl"), "--top-socket", sock],
                             stdin=subprocess.DEVNULL, stdout=self.daemon_err, stderr=self.daemon_err,
                             start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            self.daemon_err.seek(0)
            if "daemon ready" in self.daemon_err.read():
                return p
            if p.poll() is not None:
                self.fail("tokentap daemon exited %s" % p.returncode)
            time.sleep(0.05)
        self.fail("tokentap daemon not ready after 120 s")

    def run_client(self, run, repo):
        env = self.server.client_env({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": repo})
        # Large prompts (the server counts a token per 4 bytes): the busiest rows on a host where other
        # tests run too, so they are on screen.
        cmd = self.client("node", "--api", "anthropic", "--stream", "--requests", "4", "--interval", "0.5",
                          "--body-bytes", "1000000",
                          "--model", "top-%s" % run, "--header", "session_id:top-%s" % run)
        p = subprocess.Popen(cmd, env=env, cwd=repo, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, err.decode()[-2000:])
        return p.pid

    def expected(self, run):
        recs = [r for r in self.server.records() if r.get("model") == "top-%s" % run]
        u = [r["usage"] for r in recs]
        tokens = sum(x.get(k, 0) for x in u
                     for k in ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens"))
        return len(recs), tokens

    def once(self, sock, user=None):
        cmd = [TOKENTAP, "top", "--socket", sock, "--once", "--width", "80"]
        if user:
            cmd = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups", "--"] + cmd
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30)

    def row(self, screen, name):
        """(requests/min, tokens/min, requests, tokens) of the row whose name (or detail) has name."""
        for line in screen.splitlines():
            if name in line[:34]:
                f = line.split()
                return int(f[-5]), int(f[-4]), int(f[-2]), int(f[-1])
        return None

    def assert_row(self, screen, name, requests, tokens):
        """Totals exact; the last minute's part of them (records count when the daemon reads them)."""
        got = self.row(screen, name)
        self.assertIsNotNone(got, "no row %r:\n%s" % (name, screen))
        self.assertEqual(got[2:], (requests, tokens), "row %r:\n%s" % (name, screen))
        self.assertTrue(got[0] <= requests and got[1] <= tokens, "row %r:\n%s" % (name, screen))

    def wait_rows(self, sock, rows, requests, tokens):
        screen = ""
        deadline = time.time() + 120
        while time.time() < deadline:
            screen = self.once(sock).stdout
            if all((self.row(screen, r) or ())[2:] == (requests, tokens) for r in rows):
                return screen
            time.sleep(1)
        self.fail("rows %s not at %d requests, %d tokens:\n%s" % (rows, requests, tokens, screen))

    def tmux(self, *args):
        return subprocess.run([TMUX, "-L", self.tmux_server] + list(args), capture_output=True, text=True)

    def test_top_shows_what_the_server_logged(self):
        d = tempfile.mkdtemp(dir=self.tmp.name)
        os.chmod(self.tmp.name, 0o755)
        os.chmod(d, 0o755)  # the socket's own mode must be what refuses other users
        sock = os.path.join(d, "top.sock")
        daemon = self.start_daemon(d, sock)
        self.addCleanup(lambda: daemon.poll() is None and daemon.kill())
        self.assertEqual(os.stat(sock).st_mode & 0o777, 0o660)
        run = uuid.uuid4().hex[:8]
        repo = os.path.realpath(tempfile.mkdtemp(dir=self.tmp.name, prefix="repo-%s-" % run))
        subprocess.run(["git", "init", "-q", repo], check=True)
        pid = self.run_client(run, repo)
        n, tokens = self.expected(run)
        self.assertEqual(n, 4)
        rows = ["node %d " % pid, "top-%s " % run, repo[-15:]]  # a project's path is cut from the left
        self.wait_rows(sock, rows, n, tokens)
        screen = self.in_tmux(sock)
        for r in rows:
            self.assert_row(screen, r, n, tokens)
        self.assertTrue(all(len(line) <= 80 for line in screen.splitlines()), screen)
        self.assert_refused(sock)
        self.stop_daemon(daemon)
        self.assertFalse(os.path.exists(sock), "the daemon left its socket behind")

    def in_tmux(self, sock):
        """The screen of `tokentap top` in an 80x50 tmux window, once it shows rows; then q must quit."""
        self.tmux_server = "tokentap-top-" + uuid.uuid4().hex[:8]
        self.addCleanup(self.tmux, "kill-server")
        r = self.tmux("new-session", "-d", "-s", "top", "-x", "80", "-y", "50",
                      "%s top --socket %s" % (TOKENTAP, sock))
        self.assertEqual(r.returncode, 0, r.stderr)
        screen = ""
        for _ in range(100):
            screen = self.tmux("capture-pane", "-p", "-t", "top").stdout
            if "PROJECT" in screen and "(none yet)" not in screen:
                break
            time.sleep(0.1)
        self.tmux("send-keys", "-t", "top", "q")
        for _ in range(50):
            if self.tmux("has-session", "-t", "top").returncode != 0:
                return screen
            time.sleep(0.1)
        self.fail("tokentap top did not quit on q:\n%s" % self.tmux("capture-pane", "-p", "-t", "top").stdout)

    def assert_refused(self, sock):
        r = self.once(sock, user=65534)  # nobody
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("permission denied on %s: run tokentap top as root, or join the group 'root'" % sock, r.stderr)


if __name__ == "__main__":
    import unittest
    unittest.main()

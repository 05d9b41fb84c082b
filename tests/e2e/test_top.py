"""End-to-end: `tokentap top` against `tokentap daemon --top-socket`.

The daemon serves its snapshots on a unix socket in a temporary directory. A Node client (alive for
a while, as a harness is, so the daemon reads its project from /proc) makes requests with a model
and a session id named for this run, from a fresh git repository (with large prompts: the busiest
rows, whatever else runs on the host); then `tokentap top` runs inside
tmux in an 80-column terminal, and the process, session and project rows on screen must show the
requests and tokens the test server's log says it answered. `q` must quit. The socket's group
comes from the configuration file ([top] group): a user outside it is refused with a message that
says what to do, a member reads the view.
"""

import grp
import os
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

    def make_group(self):
        self.group = "tttop" + uuid.uuid4().hex[:8]
        subprocess.run(["groupadd", "--system", self.group], check=True)
        self.addCleanup(subprocess.run, ["groupdel", self.group], check=False)
        return grp.getgrnam(self.group).gr_gid

    def start_daemon(self, d, sock):
        conf = os.path.join(d, "tokentap.toml")
        with open(conf, "w") as f:
            f.write('[top]\ngroup = "%s"\n' % self.group)
        self.daemon_err = open(os.path.join(d, "daemon.err"), "w+")
        self.addCleanup(self.daemon_err.close)
        p = subprocess.Popen([TOKENTAP, "daemon", "--config", conf, "--json", os.path.join(d, "records.jsonl"),
                              "--top-socket", sock],
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

    def once(self, sock, user=None, group=None):
        cmd = [TOKENTAP, "top", "--socket", sock, "--once", "--width", "80"]
        if user:
            groups = ["--groups=%d" % group] if group else ["--clear-groups"]
            cmd = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user] + groups + ["--"] + cmd
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
        gid = self.make_group()
        daemon = self.start_daemon(d, sock)
        self.addCleanup(lambda: daemon.poll() is None and daemon.kill())
        st = os.stat(sock)
        self.assertEqual((st.st_mode & 0o777, st.st_uid, st.st_gid), (0o660, 0, gid))
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
        self.assert_refused(sock, gid)
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

    def assert_refused(self, sock, gid):
        r = self.once(sock, user=65534)  # nobody
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("permission denied on %s: run tokentap top as root, or join the group '%s'" % (sock, self.group),
                      r.stderr)
        member = self.once(sock, user=65534, group=gid)
        self.assertEqual(member.returncode, 0, member.stderr)
        self.assertIn("PROCESS", member.stdout)


if __name__ == "__main__":
    import unittest
    unittest.main()

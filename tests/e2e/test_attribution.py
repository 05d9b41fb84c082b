"""End-to-end: attribution on a shared machine.

A client runs as a throwaway non-root user, from a subdirectory of a fresh git repository, inside
a cgroup of its own, under `tokentap profile` and under `tokentap daemon`: the Node test client
(AttributionTest), and real harnesses (tests/e2e/harnesses.py) of both runtimes, each with a HOME
of its own owned by that user: Claude Code, a Bun single-file executable, and pi and Gemini CLI on
Node (Gemini CLI relaunches itself as a child process). The request records must carry exactly
that uid and user name, that working directory, the repository's top folder as project and that
cgroup path, and the client's harness name and version; the final session summaries, one for each
session of those requests, the user and project. Request counts, tokens and body bytes must equal
the test server's log.

Under the daemon these one-shot CLIs exit within milliseconds of their answer, often before the
daemon's next read of the ring buffer: it must have read who and where while they ran (their first
plaintext wakes it at once). A missing harness FAILS its test (TOKENTAP_SKIP_HARNESSES=1 skips
instead).
"""

import json
import os
import pwd
import subprocess
import tempfile
import time
import unittest
import uuid

import test_daemon
from harnesses import SERVER_TOOL_CALLS, installed
from ttutil import E2ETestCase, chown_tree, run_group


def cgroup2_root():
    """Where cgroup v2 is mounted: /sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host."""
    with open("/proc/mounts") as f:
        for line in f:
            _, where, fstype = line.split()[:3]
            if fstype == "cgroup2":
                return where
    return None


CGROOT = cgroup2_root()


class Attributed:
    """Mixed into an E2ETestCase: a throwaway user, a git repository and a cgroup, and the runs
    under profile and daemon of what command(daemon) gives: (argv, env, timeout), whose requests
    name the harness (and version) harness_name."""

    start_daemon = test_daemon.DaemonTest.start_daemon
    stop_daemon = test_daemon.DaemonTest.stop_daemon

    def setUp(self):
        if not CGROOT:
            self.skipTest("no cgroup v2 mount")
        tag = uuid.uuid4().hex[:8]
        self.user = "ttattr" + tag
        subprocess.run(["useradd", "--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin",
                        self.user], check=True)
        self.addCleanup(subprocess.run, ["userdel", self.user], check=False)
        self.pw = pwd.getpwnam(self.user)
        self.uid, self.gid = self.pw.pw_uid, self.pw.pw_gid
        self.cgroup = "/tokentap-test-" + tag
        os.mkdir(CGROOT + self.cgroup)
        self.addCleanup(self.remove_cgroup)
        # The user reads the CA and the client from here; the class's directory is 0700.
        os.chmod(self.tmp.name, 0o755)
        self.repo = os.path.realpath(tempfile.mkdtemp(dir=self.tmp.name, prefix="repo-"))
        subprocess.run(["git", "init", "-q", self.repo], check=True)
        self.cwd = os.path.join(self.repo, "src", "pkg")
        os.makedirs(self.cwd)
        chown_tree(self.repo, self.uid, self.gid)

    def remove_cgroup(self):
        # Its processes have exited, but the kernel may take a moment to notice.
        for _ in range(100):
            try:
                os.rmdir(CGROOT + self.cgroup)
                return
            except OSError:
                time.sleep(0.05)
        os.rmdir(CGROOT + self.cgroup)

    def as_test_user(self, cmd):
        """cmd, moved into the test cgroup and then run as the test user."""
        script = ('echo $$ > "$0/cgroup.procs" && u=$1 g=$2 && shift 2 && '
                  'exec setpriv --reuid="$u" --regid="$g" --clear-groups -- "$@"')
        return ["/bin/sh", "-c", script, CGROOT + self.cgroup, str(self.uid), str(self.gid), *cmd]

    def assert_attributed(self, reqs, sessions):
        self.assertTrue(reqs)
        want = {"harness": self.harness_name[0], "harness_version": self.harness_name[1], "uid": self.uid,
                "user": self.user, "cwd": self.cwd, "project": self.repo, "cgroup": self.cgroup, "container_id": "",
                "systemd_unit": ""}
        for r in reqs:
            self.assertEqual({k: r.get(k) for k in want}, want, r)
        # One final summary for each session of these requests.
        self.assertEqual(sorted((s["harness"], s["session_id"]) for s in sessions),
                         sorted({(r["harness"], r["session_id"]) for r in reqs}))
        for s in sessions:
            self.assertEqual((s["uid"], s["user"], s["project"]), (self.uid, self.user, self.repo), s)

    def test_profile(self):
        cmd, env, timeout = self.command(daemon=False)
        since = self.server.mark()
        prof = self.profile(self.as_test_user(cmd), env=env, cwd=self.cwd, timeout=timeout)
        self.assert_same_as_server(prof, self.server.records(since))
        self.assert_attributed(prof.requests, [r for r in prof.records if r["type"] == "session" and r["final"]])
        procs = [p for p in prof.processes if p["api_requests"]]
        self.assertTrue(procs)
        for p in procs:
            self.assertEqual((p["user"], p["project"], p["cgroup"]), (self.user, self.repo, self.cgroup), p)

    def test_daemon(self):
        daemon, js = self.start_daemon(tempfile.mkdtemp(dir=self.tmp.name))
        since = self.server.mark()
        cmd, env, timeout = self.command(daemon=True)
        rc, out, err = run_group(self.as_test_user(cmd), env, self.cwd, timeout)
        self.assertEqual(rc, 0, "exit %s\n%s" % (rc, err[-3000:]))
        # The server logs each request before its last bytes go out: its log is whole now.
        srv = self.server.records(since)
        self.stop_daemon(daemon)
        records = read_records(js)
        port = ":%d" % self.server.port
        reqs = [r for r in records if r["type"] == "request" and r["host"].endswith(port)]
        self.assertEqual(sorted(self.tt_key(r) for r in reqs),
                         sorted(self.server_key(r) for r in srv if r["provider"] != "none"))
        for r in reqs:
            self.assertTrue(r["complete"], r)
        keys = {(r["harness"], r["session_id"]) for r in reqs}
        sessions = [s for s in records
                    if s["type"] == "session" and s["final"] and (s["harness"], s["session_id"]) in keys]
        self.assert_attributed(reqs, sessions)


class AttributionTest(Attributed, E2ETestCase):
    """The Node test client."""
    harness_name = ("", "")

    def command(self, daemon):
        # A harness lives for its session: the daemon reads who and where from /proc while it runs.
        live = ("--stream", "--interval", "0.5") if daemon else ()
        env = self.server.client_env({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": self.repo})
        return self.client("node", "--requests", "3", *live), env, 120


class HarnessAttribution(Attributed):
    """Mixed into one E2ETestCase per harness; `harness` is its key in HARNESSES."""

    harness = None
    server_options = {"auto_tool_calls": SERVER_TOOL_CALLS}
    def setUp(self):
        self.h = installed(self, self.harness)
        self.harness_name = (self.h.name, self.h.version)
        super().setUp()

    def command(self, daemon):
        cmd, env, _ = self.h.prepare(self.server, tempfile.mkdtemp(dir=self.tmp.name), cwd=self.cwd, user=self.pw)
        return cmd, env, self.h.timeout + (0 if daemon else 120)


# One class per harness (ctest runs each as e2e.attribution.<Class>).
for _cls, _name in (("ClaudeCodeAttributionTest", "claude-code"), ("PiAttributionTest", "pi"),
                    ("GeminiCliAttributionTest", "gemini-cli")):
    globals()[_cls] = type(_cls, (HarnessAttribution, E2ETestCase), {"harness": _name, "__module__": __name__})


def read_records(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


if __name__ == "__main__":
    unittest.main()

"""End-to-end: attribution on a shared machine.

A Node client runs as a throwaway non-root user, from a subdirectory of a fresh git repository,
inside a cgroup of its own, first under `tokentap profile`, then under `tokentap daemon`. Its
request records must carry exactly that uid and user name, that working directory, the
repository's top folder as project and that cgroup path; its session summaries the user and
project. Request counts and tokens must equal the test server's log.
"""

import collections
import json
import os
import pwd
import subprocess
import tempfile
import time
import unittest
import uuid

import test_daemon
from ttutil import E2ETestCase



def cgroup2_root():
    """Where cgroup v2 is mounted: /sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host."""
    with open("/proc/mounts") as f:
        for line in f:
            _, where, fstype = line.split()[:3]
            if fstype == "cgroup2":
                return where
    return None


CGROOT = cgroup2_root()


class AttributionTest(E2ETestCase):
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
        pw = pwd.getpwnam(self.user)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        self.cgroup = "/tokentap-test-" + tag
        os.mkdir(CGROOT + self.cgroup)
        self.addCleanup(self.remove_cgroup)
        # The user reads the CA and the client from here; the class's directory is 0700.
        os.chmod(self.tmp.name, 0o755)
        self.repo = os.path.realpath(tempfile.mkdtemp(dir=self.tmp.name, prefix="repo-"))
        subprocess.run(["git", "init", "-q", self.repo], check=True)
        self.cwd = os.path.join(self.repo, "src", "pkg")
        os.makedirs(self.cwd)
        subprocess.run(["chown", "-R", "%d:%d" % (self.uid, self.gid), self.repo], check=True)

    def remove_cgroup(self):
        # Its processes have exited, but the kernel may take a moment to notice.
        for _ in range(100):
            try:
                os.rmdir(CGROOT + self.cgroup)
                return
            except OSError:
                time.sleep(0.05)
        os.rmdir(CGROOT + self.cgroup)

    def wrapped(self, *client_args):
        """The client, moved into the test cgroup and then run as the test user."""
        script = ('echo $$ > "$0/cgroup.procs" && u=$1 g=$2 && shift 2 && '
                  'exec setpriv --reuid="$u" --regid="$g" --clear-groups -- "$@"')
        return ["/bin/sh", "-c", script, CGROOT + self.cgroup, str(self.uid), str(self.gid),
                *self.client("node", *client_args)]

    def env(self):
        return self.server.client_env({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": self.repo})

    def assert_attributed(self, reqs, sessions):
        self.assertTrue(reqs)
        for r in reqs:
            got = {k: r.get(k) for k in ("uid", "user", "cwd", "project", "cgroup", "container_id", "systemd_unit")}
            self.assertEqual(got, {"uid": self.uid, "user": self.user, "cwd": self.cwd, "project": self.repo,
                                   "cgroup": self.cgroup, "container_id": "", "systemd_unit": ""}, r)
        self.assertTrue(sessions)
        for s in sessions:
            self.assertEqual((s["uid"], s["user"], s["project"]), (self.uid, self.user, self.repo), s)

    def test_profile(self):
        since = self.server.mark()
        prof = self.profile(self.wrapped("--requests", "3"), env=self.env(), cwd=self.cwd)
        self.assert_same_as_server(prof, self.server.records(since))
        sessions = [r for r in prof.records if r["type"] == "session"]
        self.assert_attributed(prof.requests, sessions)
        procs = [p for p in prof.processes if p["api_requests"]]
        self.assertTrue(procs)
        for p in procs:
            self.assertEqual((p["user"], p["project"], p["cgroup"]), (self.user, self.repo, self.cgroup), p)

    def test_daemon(self):
        d = tempfile.mkdtemp(dir=self.tmp.name)
        daemon, js = self.start_daemon(d)
        since = self.server.mark()
        # A harness lives for its session: the daemon reads who and where from /proc while it runs.
        p = subprocess.Popen(self.wrapped("--requests", "3", "--stream", "--interval", "0.5"), env=self.env(),
                             cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, err.decode()[-2000:])
        srv = self.server.wait_for_records(3, since=since, timeout=30)
        self.stop_daemon(daemon)
        records = read_records(js)
        reqs = [r for r in records if r["type"] == "request" and r["pid"] == p.pid]
        want = collections.Counter(self.server_key(r) for r in srv if r["provider"] != "none")
        self.assertEqual(collections.Counter(self.tt_key(r) for r in reqs), want)
        for r in reqs:
            self.assertTrue(r["complete"], r)
        sessions = [r for r in records if r["type"] == "session" and r["final"] and p.pid in r["pids"]]
        self.assert_attributed(reqs, sessions)


def read_records(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


if __name__ == "__main__":
    unittest.main()

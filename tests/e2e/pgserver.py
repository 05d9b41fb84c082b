"""A throwaway PostgreSQL server for end-to-end tests: Debian's initdb and pg_ctl in a temporary
directory owned by `nobody` (the server refuses to run as root), listening on a unix socket there
only, stopped and removed by stop()."""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile


def pg_bin(name):
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/" + name))
    if not found:
        raise RuntimeError("PostgreSQL's %s not found: scripts/install-deps.sh installs postgresql" % name)
    return found[-1]


class PgServer:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tt-pg-")
        self.nobody = pwd.getpwnam("nobody")
        os.chown(self.dir, self.nobody.pw_uid, self.nobody.pw_gid)
        os.chmod(self.dir, 0o755)
        self.started = False

    def run(self, *argv):
        cmd = ["setpriv", "--reuid=%d" % self.nobody.pw_uid, "--regid=%d" % self.nobody.pw_gid, "--clear-groups",
               "--", *argv]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=self.dir)
        if r.returncode != 0:
            raise RuntimeError("%s failed: %s%s" % (argv[0], r.stdout, r.stderr))
        return r.stdout

    def start(self):
        data = os.path.join(self.dir, "data")
        self.run(pg_bin("initdb"), "-D", data, "-U", "tokentap", "--auth=trust", "-E", "UTF8")
        opts = "-c listen_addresses='' -k %s -p 5432 -c fsync=on" % self.dir
        self.run(pg_bin("pg_ctl"), "-D", data, "-o", opts, "-l", os.path.join(self.dir, "log"), "-w", "start")
        self.started = True
        return self

    def url(self, db="postgres"):
        return "postgresql:///%s?host=%s&port=5432&user=tokentap" % (db, self.dir)

    def create_database(self, name):
        self.run(pg_bin("createdb"), "-h", self.dir, "-p", "5432", "-U", "tokentap", name)
        return self.url(name)

    def stop(self):
        if self.started:
            subprocess.run(["setpriv", "--reuid=%d" % self.nobody.pw_uid, "--regid=%d" % self.nobody.pw_gid,
                            "--clear-groups", "--", pg_bin("pg_ctl"), "-D", os.path.join(self.dir, "data"),
                            "-m", "fast", "-w", "stop"], capture_output=True, timeout=60)
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)

"""End-to-end: `tokentap daemon --spool DIR` survives a SIGKILL.

Clients make requests continuously, each with a model name of its own (unique to this run: the
daemon traces the whole host), while a daemon spools records. The daemon's process group is
SIGKILLed mid-stream; the ack file then says what had been fsync'd. A torn write is added to the
last segment (what a power cut leaves; a SIGKILL cannot tear a write), a second daemon starts on
the same spool, more requests run, and it stops with SIGTERM. Every record of the spool is read
back with `tokentap report`: no record id (run_id, record_seq) twice, no request twice, every
acknowledged record there, every request made while a daemon was surely tracing there, and the
second run's report says it cut the torn tail.
"""

import glob
import json
import os
import signal
import subprocess
import threading
import time
import unittest
import uuid

from ttutil import TOKENTAP, E2ETestCase

SETTLE_S = 5.0  # a request completed this long before a kill has reached the parser and been fsync'd (fsync_ms 200)


class Clients:
    """One py client per request, one after another, each with its own model name."""

    def __init__(self, test, run):
        self.test, self.run = test, run
        self.done = []  # (model, start, end, rc)
        self.live = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        env = self.test.server.client_env({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": self.test.tmp.name})
        i = 0
        while not self.stop.is_set():
            i += 1
            model = "sp-%s-%d" % (self.run, i)
            cmd = self.test.client("py", "--api", "anthropic", "--stream", "--requests", "1", "--model", model)
            start = time.time()
            p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
            self.live.add(p)
            try:
                rc = p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                rc = p.wait()
            self.live.discard(p)
            self.done.append((model, start, time.time(), rc))

    def resume_held(self):
        """A daemon killed while it held a process (stopped until instrumented) cannot release it."""
        for p in list(self.live):
            try:
                os.killpg(p.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


class SpoolTest(E2ETestCase):
    def start_daemon(self, d, name, spool, config):
        err_path = os.path.join(d, name + ".err")
        err = open(err_path, "w")
        self.addCleanup(err.close)
        cmd = [TOKENTAP, "daemon", "--config", config, "--spool", spool, "--report", os.path.join(d, name + ".report")]
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True)
        self.addCleanup(self.kill_group, p)
        deadline = time.time() + 120
        while time.time() < deadline:
            with open(err_path) as f:
                if "daemon ready" in f.read():
                    return p, time.time()
            if p.poll() is not None:
                break
            time.sleep(0.1)
        with open(err_path) as f:
            self.fail("%s did not start:\n%s" % (name, f.read()[-4000:]))

    @staticmethod
    def kill_group(p):
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()

    def read_records(self, files):
        out = subprocess.run([TOKENTAP, "report", "--json", *files], capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]

    def acknowledged(self, d, spool):
        """The records the ack file says were fsync'd, read from a copy cut at its offset."""
        with open(os.path.join(spool, "ack")) as f:
            seg, off, _ = (int(x) for x in f.read().split())
        files = []
        for path in sorted(glob.glob(os.path.join(spool, "*.pb"))):
            n = int(os.path.basename(path)[:-3])
            if n > seg:
                continue
            cut = os.path.join(d, "acked-" + os.path.basename(path))
            with open(path, "rb") as src, open(cut, "wb") as dst:
                dst.write(src.read(off) if n == seg else src.read())
            files.append(cut)
        return self.read_records(files)

    @staticmethod
    def tear_last_segment(spool):
        """Half of a record appended to the last segment: a write cut by a power cut."""
        last = sorted(glob.glob(os.path.join(spool, "*.pb")))[-1]
        with open(last, "ab") as f:
            f.write(b"\xc8\x01" + b"\x0a" * 60)  # says 200 bytes follow; 60 do
        return last

    def test_kill_and_restart_lose_and_duplicate_nothing_acknowledged(self):
        d = self.tmp.name
        spool = os.path.join(d, "spool")
        config = os.path.join(d, "tokentap.toml")
        with open(config, "w") as f:
            f.write("[spool]\nfsync_ms = 200\nsegment_mb = 1\n")
        run = uuid.uuid4().hex[:8]
        clients = Clients(self, run)

        first, ready1 = self.start_daemon(d, "daemon1", spool, config)
        clients.thread.start()
        time.sleep(10)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        killed = time.time()
        clients.resume_held()
        acked = self.acknowledged(d, spool)
        self.tear_last_segment(spool)

        second, ready2 = self.start_daemon(d, "daemon2", spool, config)
        time.sleep(10)
        clients.stop.set()
        clients.thread.join(timeout=120)
        time.sleep(2)
        stopped = time.time()
        second.send_signal(signal.SIGTERM)
        self.assertEqual(second.wait(timeout=120), 0)

        records = self.read_records(sorted(glob.glob(os.path.join(spool, "*.pb"))))
        self.check(records, acked, clients.done, (ready1, killed - SETTLE_S), (ready2, stopped))
        with open(os.path.join(d, "daemon2.report")) as f:
            self.assertRegex(f.read(), r"spool: a torn tail of .* cut at start")

    def check(self, records, acked, done, *windows):
        ids = [(r["run_id"], r["record_seq"]) for r in records]
        self.assertEqual(len(ids), len(set(ids)), "a record id twice")
        self.assertTrue(set((r["run_id"], r["record_seq"]) for r in acked) <= set(ids),
                        "acknowledged records missing")
        self.assertTrue(len({r["run_id"] for r in records}) >= 2)
        mine = [r["model"] for r in records if r["type"] == "request" and r["model"].startswith("sp-")]
        self.assertEqual(len(mine), len(set(mine)), "a request twice")
        logged = {r["model"] for r in self.server.records() if r.get("model", "").startswith("sp-")}
        # Made while a daemon surely traced it, and (the first daemon) fsync'd before the kill.
        surely = {m for m, start, end, rc in done if rc == 0 and any(lo < start and end < hi for lo, hi in windows)}
        self.assertTrue(len(surely) >= 4, "too few requests in the windows: %s" % done)
        self.assertEqual(surely - logged, set(), "the server did not log them")
        self.assertEqual(surely - set(mine), set(), "requests missing from the spool; windows %s; made %s" % (
            windows, [c for c in done if c[0] in surely - set(mine)]))
        acked_models = {r["model"] for r in acked if r["type"] == "request"}
        first = {m for m, start, end, rc in done if rc == 0 and windows[0][0] < start and end < windows[0][1]}
        self.assertEqual(first - acked_models, set(), "requests completed well before the kill not acknowledged")


if __name__ == "__main__":
    unittest.main()

#!/usr/bin/python3
"""What tokentap costs the host (issue #8): the engine behind bench/tls_bulk.sh, streaming.sh,
instant_stress.sh, concurrent_rss.sh, startup.sh and exec_burst.sh.

    /usr/bin/python3 bench/hostbench.py BENCH [--build DIR] [--rounds N] [--perf]

Each bench runs its workload in ROUNDS rounds; every round runs it once per mode, the order of the
modes rotating from round to round:
    untraced  nothing attached
    traced    `tokentap daemon` running (the whole host), started before and stopped after the
              workload (the `profile` rows wrap the command in `tokentap profile -q --` instead)
    floor     bpftrace counting uprobe (entry and return) hits on the same TLS functions
              (libssl's and node's SSL_read/SSL_write/_ex): the least any uprobe-based tool pays
Results are medians over the rounds; ratios are medians of the per-round ratios (traced /
untraced, floor / untraced), so a burst of load from elsewhere that hits one round moves one
pair, not a whole column. One line per measurement:
    name  untraced  traced  ratio  floor_ratio  target  PASS/MISS
Lines starting with '#' are details (per-round values, the daemon's record and loss counts).
--perf: after the rounds, one more traced run under `perf record -a -g`; prints the top symbols.

Everything it starts (servers, clients, daemons, bpftrace, perf) runs in a session of its own and
is killed on exit, also on SIGINT/SIGTERM; its files live in a temporary directory removed at the
end.
"""

import argparse
import atexit
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "llmserver"))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

PY = "/usr/bin/python3"
NODE = "/usr/bin/node"
CURL = "/usr/bin/curl"
CLIENTS = os.path.join(REPO, "tests", "clients")
LIBSSL = "/lib/x86_64-linux-gnu/libssl.so.3"
SSL_FUNCS = ("SSL_read", "SSL_write", "SSL_read_ex", "SSL_write_ex")
TICK = os.sysconf("SC_CLK_TCK")

# ---------------------------------------------------------------------------------------------
# process bookkeeping: everything started is killed on exit

_started = []
_tmp = None


def spawn(cmd, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    p = subprocess.Popen(cmd, start_new_session=True, **kw)
    _started.append(p)
    return p


def _signal(p, sig):
    """Signals p's process group when p leads one (spawn), else p alone (the LLM server)."""
    try:
        if os.getpgid(p.pid) == p.pid:
            os.killpg(p.pid, sig)
        else:
            p.send_signal(sig)
    except OSError:
        pass


def _kill_all():
    live = [p for p in reversed(_started) if p.returncode is None and p.poll() is None]
    for p in live:
        _signal(p, signal.SIGTERM)
    deadline = time.monotonic() + 5
    for p in live:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal(p, signal.SIGKILL)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
    if _tmp and os.environ.get("BENCH_KEEP") != "1":
        shutil.rmtree(_tmp, ignore_errors=True)


def _on_signal(sig, frame):
    raise SystemExit(128 + sig)


def wait_rusage(p, timeout=None):
    """Waits for p; returns (returncode, its CPU seconds incl. reaped descendants)."""
    if timeout is not None:
        deadline = time.monotonic() + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.killpg(p.pid, signal.SIGKILL)
                pid, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.0005)  # startup rows time short commands
    else:
        _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, ru.ru_utime + ru.ru_stime


def proc_cpu(pid):
    """utime + stime of a running process (all its threads), seconds; None if gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return None
    fields = st[st.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def child_pids(pid):
    """The live children of pid (the daemon's parser process)."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def proc_cpu_threads(pid, children=True):
    """CPU seconds of a process's live threads, from schedstat (ns; the daemon's threads live as
    long as it does), and of its children's (the daemon parses in a child process); None if gone."""
    total = sum(proc_cpu_threads(c, False) or 0 for c in child_pids(pid)) * 1e9 if children else 0
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                    total += int(f.read().split()[0])
            except OSError:
                pass
    except OSError:
        return None
    return total / 1e9


def proc_status(pid, keys=("VmRSS", "RssAnon", "RssFile", "RssShmem"), children=True):
    """Memory of pid and its children, summed (the daemon and its parser process: pages they share
    since the fork count twice, so this is an upper bound)."""
    out = {}
    for p in [pid] + (child_pids(pid) if children else []):
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    k, _, v = line.partition(":")
                    if k in keys:
                        out[k] = out.get(k, 0.0) + int(v.split()[0]) / 1024.0  # MiB
        except OSError:
            pass
        try:  # Pss: a page shared by n mappings counts 1/n (the ring, mapped twice; the binary, in both)
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        out["Pss"] = out.get("Pss", 0.0) + int(line.split()[1]) / 1024.0
        except OSError:
            pass
    return out


def pids_with_exe(path):
    """Processes running the executable at path (tokentap's detached teardown child)."""
    out = []
    real = os.path.realpath(path)
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.readlink("/proc/%s/exe" % name) == real:
                    out.append(int(name))
            except OSError:
                pass
    return out


def wait_teardown(tokentap, limit=30):
    """Waits until no process runs the tokentap binary (a detached teardown child); returns how
    long that took."""
    t0 = time.monotonic()
    while pids_with_exe(tokentap) and time.monotonic() - t0 < limit:
        time.sleep(0.02)
    return time.monotonic() - t0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def load_avg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


# ---------------------------------------------------------------------------------------------
# modes

class Untraced:
    name = "untraced"

    def start(self, tag):
        pass

    def stop(self):
        return {}

    def wrap(self, cmd):
        return cmd


class Daemon:
    """`tokentap daemon --json F` in the foreground; ready once it says so on stderr."""
    name = "traced"

    def __init__(self, bench, extra=()):
        self.bench = bench
        self.extra = list(extra)
        self.p = None
        self.problems = []

    def start(self, tag):
        b = self.bench
        self.json = os.path.join(b.tmp, "daemon-%s.jsonl" % tag)
        self.err_path = os.path.join(b.tmp, "daemon-%s.err" % tag)
        err = open(self.err_path, "w")
        self.p = spawn([b.tokentap, "daemon", "--json", self.json] + self.extra, stdout=err, stderr=err)
        err.close()
        t0 = time.monotonic()
        while True:
            with open(self.err_path) as f:
                text = f.read()
            if "daemon ready" in text:
                break
            if self.p.poll() is not None:
                raise SystemExit("tokentap daemon exited %s before it was ready:\n%s" % (self.p.returncode, text))
            if time.monotonic() - t0 > 60:
                raise SystemExit("tokentap daemon not ready after 60 s:\n" + text)
            time.sleep(0.02)
        self.ready_s = time.monotonic() - t0
        self.pid = self.p.pid

    def stop(self):
        t0 = time.monotonic()
        self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait()
            rc = "hang"
            self.problems.append("daemon did not exit within 60 s of SIGTERM (%s)" % self.err_path)
        stop_s = time.monotonic() - t0
        # the daemon may leave its probe teardown to a detached child: let it finish before the
        # next measurement (it holds the kernel's uprobe locks while it runs)
        teardown_s = wait_teardown(self.bench.tokentap)
        if rc != 0 and rc != "hang":
            self.problems.append("daemon exited %s after SIGTERM: %s" % (rc, open(self.err_path).read()[-2000:]))
        recs = []
        try:
            with open(self.json) as f:
                for line in f:
                    try:
                        recs.append(json.loads(line))
                    except ValueError:
                        self.problems.append("unparsable JSON line in %s" % self.json)
        except OSError:
            self.problems.append("no JSON output %s" % self.json)
        run = [r for r in recs if r.get("type") == "run" and r.get("final")]
        return {"records": recs, "run": run[-1] if run else None, "ready_s": self.ready_s, "stop_s": stop_s,
                "teardown_s": teardown_s}

    def wrap(self, cmd):
        return cmd


class Profile:
    """The row's command wrapped in `tokentap profile -q --`."""
    name = "traced"

    def __init__(self, bench):
        self.bench = bench

    def start(self, tag):
        pass

    def stop(self):
        # profile leaves a detached child tearing the probes down: let it finish before the next
        # measurement, and say how long it took.
        return {"teardown_s": wait_teardown(self.bench.tokentap)}

    def wrap(self, cmd):
        return [self.bench.tokentap, "profile", "-q", "--"] + cmd


def bpftrace_program(targets, extra_probes=()):
    """targets: [(binary, [function or 0xADDR...])]: entry and return probes counting hits."""
    probes = []
    for binary, funcs in targets:
        for fn in funcs:
            probes.append("uprobe:%s:%s" % (binary, fn))
            probes.append("uretprobe:%s:%s" % (binary, fn))
    probes += list(extra_probes)
    return "BEGIN { printf(\"ready\\n\"); } %s { @hits = count(); }" % ", ".join(probes)


class Floor:
    """bpftrace counting hits on the same functions; ready once BEGIN has run."""
    name = "floor"

    def __init__(self, bench, program, unsafe=False):
        self.bench = bench
        self.program = program
        self.opts = ["--unsafe"] if unsafe else []  # probes by file offset in a stripped binary
        self.p = None

    def start(self, tag):
        b = self.bench
        self.out_path = os.path.join(b.tmp, "bpftrace-%s.out" % tag)
        out = open(self.out_path, "w")
        self.p = spawn(["bpftrace"] + self.opts + ["-e", self.program], stdout=out, stderr=subprocess.STDOUT)
        out.close()
        t0 = time.monotonic()
        while True:
            with open(self.out_path) as f:
                text = f.read()
            if re.search(r"^ready$", text, re.M):
                break
            if self.p.poll() is not None:
                raise SystemExit("bpftrace exited %s:\n%s" % (self.p.returncode, text))
            if time.monotonic() - t0 > 60:
                raise SystemExit("bpftrace not ready after 60 s:\n" + text)
            time.sleep(0.02)

    def stop(self):
        self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait()
        with open(self.out_path) as f:
            m = re.search(r"^@hits: (\d+)", f.read(), re.M)
        return {"hits": int(m.group(1)) if m else 0}

    def wrap(self, cmd):
        return cmd


class FloorCmd(Floor):
    """bpftrace -c CMD: the floor of a short command (startup rows)."""

    def start(self, tag):
        self.out_path = os.path.join(self.bench.tmp, "bpftrace-%s.out" % tag)

    def stop(self):
        try:
            with open(self.out_path) as f:
                m = re.search(r"^@hits: (\d+)", f.read(), re.M)
        except OSError:
            m = None
        return {"hits": int(m.group(1)) if m else 0}

    def wrap(self, cmd):
        # bpftrace -c splits its argument at spaces: a script keeps the command's quoting
        script = self.out_path + ".sh"
        with open(script, "w") as f:
            f.write("#!/bin/sh\nexec %s\n" % shlex.join(cmd))
        os.chmod(script, 0o755)
        return ["bpftrace"] + self.opts + ["-o", self.out_path, "-e", self.program.replace('printf("ready\\n");', ""),
                "-c", "/bin/sh " + script]


# ---------------------------------------------------------------------------------------------
# the round driver

def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "s":
        return "%.3fs" % v
    if unit == "ms":
        return "%.3fms" % v
    if unit == "MiB":
        return "%.1fMiB" % v
    return "%.3g" % v


class Bench:
    def __init__(self, args):
        self.args = args
        self.tokentap = os.path.abspath(os.path.join(args.build, "tokentap"))
        self.tmp = _tmp
        self.rows = []
        self.problems = []

    def header(self, title, rounds=None):
        print("# %s: %s, %d rounds, load %s, kernel %s" % (
            title, self.tokentap, rounds or self.args.rounds, load_avg(), os.uname().release), flush=True)
        print("%-40s %12s %12s %7s %11s %10s  %s" % (
            "name", "untraced", "traced", "ratio", "floor_ratio", "target", "result"), flush=True)

    def line(self, name, untraced, traced, ratio, floor_ratio, target, ok, unit="s"):
        res = "-" if ok is None else ("PASS" if ok else "MISS")
        print("%-40s %12s %12s %7s %11s %10s  %s" % (
            name, fmt(untraced, unit), fmt(traced, unit), "-" if ratio is None else "%.3f" % ratio,
            "-" if floor_ratio is None else "%.3f" % floor_ratio, target, res), flush=True)
        self.rows.append((name, untraced, traced, ratio, floor_ratio, target, res))

    def rounds(self, modes, run_once, rounds=None):
        """Runs run_once(mode, tag) -> dict for each mode in each round (rotating order) and
        returns {mode.name: [result dict per round]} (a round's dicts also carry 'stop': what
        the mode's stop() returned)."""
        rounds = rounds or self.args.rounds
        res = {m.name: [] for m in modes}
        for r in range(rounds):
            order = modes[r % len(modes):] + modes[:r % len(modes)]
            for m in order:
                tag = "%s-r%d" % (m.name, r)
                m.start(tag)
                try:
                    out = run_once(m, tag)
                finally:
                    stop = m.stop()
                out["stop"] = stop
                res[m.name].append(out)
                if "hits" in stop:
                    print("#   floor %s: bpftrace counted %d probe hits" % (tag, stop["hits"]), file=sys.stderr)
                time.sleep(0.3)
            print("#   round %d done (load %s)" % (r + 1, load_avg()), file=sys.stderr, flush=True)
        for m in modes:
            self.problems += getattr(m, "problems", [])
        return res

    def report(self, name, res, key, target, limit, unit="s", per=1.0, mode="ratio"):
        """One summary line for res[mode][i][key]. mode "ratio": limit on median(traced/untraced);
        "added": limit on median(traced - untraced) / per; "abs": limit on median(traced)."""
        u = [x[key] for x in res["untraced"]]
        t = [x[key] for x in res["traced"]]
        f = [x[key] for x in res["floor"]] if "floor" in res else None
        print("#   %s: untraced %s | traced %s%s" % (
            name, " ".join("%.3f" % v for v in u), " ".join("%.3f" % v for v in t),
            "" if f is None else " | floor " + " ".join("%.3f" % v for v in f)), flush=True)
        fr = None
        if mode == "added":
            val = statistics.median([(b - a) / per for a, b in zip(u, t)])
            if f:
                fr = statistics.median([(c - a) / per for a, c in zip(u, f)])
            self.line(name, statistics.median(u) / per, statistics.median(t) / per, None, None,
                      target, None if limit is None else val <= limit, unit)
            print("#   %s added per unit: traced %+.4f, floor %s (%s)" % (
                name, val, "-" if fr is None else "%+.4f" % fr, unit), flush=True)
            return val
        ratio = statistics.median([b / a for a, b in zip(u, t)])
        if f:
            fr = statistics.median([c / a for a, c in zip(u, f)])
        if limit is None:
            ok = None
        else:
            ok = (ratio <= limit) if mode == "ratio" else (statistics.median(t) <= limit)
        self.line(name, statistics.median(u), statistics.median(t), ratio, fr, target, ok, unit)
        return ratio

    def daemon_summary(self, res, expect_requests=None, client_pids_key="client_pids"):
        """Prints what the daemon recorded in each traced round; notes problems."""
        for i, x in enumerate(res["traced"]):
            st = x["stop"]
            run = st.get("run") or {}
            cap = run.get("capture", {})
            pids = x.get(client_pids_key, set())
            reqs = [r for r in st.get("records", []) if r.get("type") == "request"]
            mine = [r for r in reqs if r.get("pid") in pids]
            print("#   daemon round %d: ready %.2fs stop %.2fs (+%.2fs detached teardown), %d request records (%d from the clients), "
                  "other_http %s, muted_connections %s, bytes captured %s lost %s muted %s, events lost %s" % (
                      i + 1, st.get("ready_s", 0), st.get("stop_s", 0), st.get("teardown_s", 0), len(reqs), len(mine),
                      run.get("other_http_requests"), cap.get("muted_connections"), cap.get("bytes_captured"),
                      cap.get("bytes_lost"), cap.get("bytes_muted"), cap.get("events_lost")), flush=True)
            if expect_requests is not None and len(mine) != expect_requests:
                self.problems.append("traced round %d: daemon recorded %d requests from the clients, expected %d"
                                     % (i + 1, len(mine), expect_requests))
            if cap.get("events_lost") or cap.get("bytes_lost"):
                self.problems.append("traced round %d: daemon lost %s events / %s bytes" % (
                    i + 1, cap.get("events_lost"), cap.get("bytes_lost")))
            bad = [r for r in mine if not r.get("complete", True) or r.get("usage_source") != "exact"]
            if bad:
                self.problems.append("traced round %d: %d client requests incomplete or estimated (e.g. %s)"
                                     % (i + 1, len(bad), json.dumps(bad[0])[:300]))

    def finish(self):
        for p in self.problems:
            print("# PROBLEM: %s" % p, flush=True)
        return 0

    def perf(self, label, run_traced):
        """One more traced run under perf record -a -g; top symbols by self time."""
        if not self.args.perf:
            return
        data = os.path.join(self.tmp, "perf-%s.data" % label)
        pr = spawn(["perf", "record", "-a", "-g", "-F", "499", "-o", data], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
        time.sleep(1)
        try:
            run_traced()
        finally:
            pr.send_signal(signal.SIGINT)
            pr.wait(60)
        rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "comm,dso,sym",
                              "--stdio", "-g", "none", "--percent-limit", "0.7"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
        print("# perf (%s, all CPUs, self time):" % label)
        n = 0
        for line in rep.splitlines():
            if line.strip() and not line.startswith("#"):
                print("#   " + line.strip())
                n += 1
                if n >= 30:
                    break
        rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "comm",
                              "--stdio", "-g", "none"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
        print("# perf by command:")
        n = 0
        for line in rep.splitlines():
            if line.strip() and not line.startswith("#"):
                print("#   " + line.strip())
                n += 1
                if n >= 12:
                    break


def settle_cpu(pid, quiet=0.3, idle=0.003, limit=10.0):
    """Waits until pid's CPU time grows by less than `idle` s in `quiet` s (the daemon wakes every
    0.1 s when idle); returns its CPU time then."""
    hist = [(time.monotonic(), proc_cpu_threads(pid))]
    t0 = hist[0][0]
    while time.monotonic() - t0 < limit:
        time.sleep(0.05)
        c = proc_cpu_threads(pid)
        if c is None:
            return hist[-1][1]
        now = time.monotonic()
        hist.append((now, c))
        old = [v for t, v in hist if now - t >= quiet]
        if old and c - old[-1] < idle:
            break
    return hist[-1][1]


def run_clients(bench, mode, cmds, env=None, cwd=None, server_pid=None, sample_rss=None, timeout=600):
    """Starts every command at once, waits for all; returns wall, CPU (clients, server, daemon)."""
    daemon_pid = getattr(mode, "pid", None) if isinstance(mode, Daemon) else None
    srv0 = proc_cpu(server_pid) if server_pid else 0.0
    d0 = proc_cpu_threads(daemon_pid) if daemon_pid else 0.0
    t0 = time.monotonic()
    ps = []
    for i, c in enumerate(cmds):
        out = open(os.path.join(bench.tmp, "client-%d.out" % i), "w")
        ps.append(spawn(mode.wrap(c), env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT))
        out.close()
    samples = []
    cpu = 0.0
    failed = []
    pending = dict(enumerate(ps))
    next_sample = 0.0
    blocking = len(ps) == 1 and not sample_rss
    while pending:
        for i, p in list(pending.items()):
            pid, status, ru = os.wait4(p.pid, 0 if blocking else os.WNOHANG)
            if pid:
                p.returncode = os.waitstatus_to_exitcode(status)
                cpu += ru.ru_utime + ru.ru_stime
                if p.returncode != 0:
                    failed.append((i, p.returncode))
                del pending[i]
        now = time.monotonic() - t0
        if sample_rss and daemon_pid and now >= next_sample:
            samples.append((now, proc_status(daemon_pid)))
            next_sample = now + sample_rss
        if now > timeout:
            for p in pending.values():
                os.killpg(p.pid, signal.SIGKILL)
        if pending:
            time.sleep(0.01)
    wall = time.monotonic() - t0
    srv1 = proc_cpu(server_pid) if server_pid else 0.0
    d1 = settle_cpu(daemon_pid) if daemon_pid else 0.0
    if failed:
        i, rc = failed[0]
        with open(os.path.join(bench.tmp, "client-%d.out" % i)) as f:
            tail = f.read()[-1500:]
        raise SystemExit("%s: %d client(s) failed (first: %s exited %s):\n%s" % (
            mode.name, len(failed), cmds[i], rc, tail))
    return {"wall": wall, "cpu_clients": cpu, "cpu_server": (srv1 or 0) - srv0, "cpu_daemon": (d1 or 0) - d0,
            "cpu_total": cpu + ((srv1 or 0) - srv0) + ((d1 or 0) - d0),
            "client_pids": {p.pid for p in ps}, "rss": samples}


def llm_server(bench, **kw):
    from serverctl import LlmServer
    s = LlmServer(os.path.join(bench.tmp, "llm"), **kw)
    s.start()
    _started.append(s.proc)
    return s


def node_floor_targets():
    return [(LIBSSL, SSL_FUNCS), (NODE, SSL_FUNCS)]


# ---------------------------------------------------------------------------------------------
# benches

def bench_tls_bulk(b):
    """Non-LLM bulk HTTPS over loopback to a named host (bulk.test), libssl (curl) and Node."""
    size = int(os.environ.get("BULK_BYTES", str(1 << 30)))
    d = os.path.join(b.tmp, "bulk")
    os.makedirs(d)
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-subj", "/CN=bulk.test", "-addext", "subjectAltName=DNS:bulk.test",
                    "-days", "2", "-keyout", key, "-out", cert], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port = free_port()
    ready = os.path.join(d, "ready")
    srv = spawn([PY, os.path.join(HERE, "bulk_server.py"), "--port", str(port), "--cert", cert, "--key", key,
                 "--ready-file", ready], stdout=open(os.path.join(d, "server.err"), "w"), stderr=subprocess.STDOUT)
    t0 = time.monotonic()
    while not os.path.exists(ready):
        if srv.poll() is not None or time.monotonic() - t0 > 15:
            raise SystemExit("bulk_server did not start")
        time.sleep(0.02)
    host = "bulk.test:%d" % port
    chunk = 16 << 20
    curl_base = [CURL, "-sS", "--fail", "--http1.1", "--cacert", cert, "--resolve", "bulk.test:%d:127.0.0.1" % port]
    label = "%dMiB" % (size >> 20) if size % (1 << 30) else "%dGiB" % (size >> 30)
    keep = "%s_%dx%dMiB_keepalive" % (label, size // chunk, chunk >> 20)
    rows = [
        ("bulk_curl_%s_one_GET" % label, curl_base + ["-o", "/dev/null", "https://%s/bytes/%d" % (host, size)]),
        ("bulk_node_%s_one_GET" % label, [NODE, os.path.join(HERE, "bulk_client.mjs"), "--port", str(port),
                                    "--host", "bulk.test", "--ca", cert, "--bytes", str(size), "--requests", "1"]),
        ("bulk_curl_" + keep,
         curl_base + sum([["-o", "/dev/null", "https://%s/bytes/%d?i=%d" % (host, chunk, i)]
                          for i in range(size // chunk)], [])),
        ("bulk_node_" + keep,
         [NODE, os.path.join(HERE, "bulk_client.mjs"), "--port", str(port), "--host", "bulk.test", "--ca", cert,
          "--bytes", str(chunk), "--requests", str(size // chunk)]),
    ]
    b.header("tls_bulk (%d MiB per row, one client process, server: bench/bulk_server.py on system libssl)"
             % (size >> 20))
    daemon = Daemon(b)
    floor = Floor(b, bpftrace_program(node_floor_targets()))
    modes = [Untraced(), daemon, floor]

    def once(mode, tag):
        out = {}
        pids = set()
        for name, cmd in rows:
            r = run_clients(b, mode, [cmd], server_pid=srv.pid)
            out[name] = r["wall"]
            out[name + ":cpu"] = r["cpu_total"]
            out[name + ":split"] = (r["cpu_clients"], r["cpu_server"], r["cpu_daemon"])
            pids |= r["client_pids"]
        out["client_pids"] = pids
        return out

    # warm-up (page cache, node's code cache)
    once(Untraced(), "warm")
    res = b.rounds(modes, once)
    for name, _ in rows:
        b.report(name, res, name, "<=1.03", 1.03)
        b.report(name + " (cpu)", res, name + ":cpu", "-", None)
        for m in ("untraced", "traced", "floor"):
            print("#   %s %s CPU (s, medians): client %.3f, server %.3f, daemon %.3f" % (
                name, m, *[statistics.median([x[name + ":split"][k] for x in res[m]]) for k in range(3)]))
    b.daemon_summary(res)
    b.perf("tls_bulk", lambda: (daemon.start("perf"), [run_clients(b, daemon, [c], server_pid=srv.pid)
                                                       for _, c in rows], daemon.stop()))
    return b.finish()


def cpu_breakdown(res, n):
    for m in ("untraced", "traced", "floor"):
        print("#   %s CPU per request (ms, medians): clients %.3f, server %.3f, daemon %.3f" % (
            m, *[statistics.median([x[k] * 1000 / n for x in res[m]])
                 for k in ("cpu_clients", "cpu_server", "cpu_daemon")]))


def llm_client_cmds(server, clients, requests, body, stream=True, headers=()):
    cmds = []
    for i in range(clients):
        prog = [PY, os.path.join(CLIENTS, "py_client.py")] if i % 2 == 0 else \
            [NODE, os.path.join(CLIENTS, "node_client.mjs")]
        c = prog + ["--base-url", server.base_url, "--ca", server.ca_path, "--api", "anthropic",
                    "--requests", str(requests), "--body-bytes", str(body), "--timeout", "300"]
        if stream:
            c.append("--stream")
        for h in headers:
            c += ["--header", h]
        cmds.append(c)
    return cmds


def llm_rounds(b, title, clients, per, body, headers=(), py_only=False, rounds=None, warm=True, **run_kw):
    """The test LLM server, `clients` clients of `per` streamed requests of `body` bytes each, run
    in alternating rounds. Returns (results, requests per run, the daemon mode, one run)."""
    srv = llm_server(b)
    cmds = llm_client_cmds(srv, clients, per, body, headers=headers)
    if py_only:
        cmds = [c if c[0] == PY else [PY, os.path.join(CLIENTS, "py_client.py")] + c[2:] for c in cmds]
    b.header(title, rounds)
    daemon = Daemon(b)
    modes = [Untraced(), daemon, Floor(b, bpftrace_program(node_floor_targets()))]

    def once(mode, tag):
        return run_clients(b, mode, cmds, server_pid=srv.proc.pid, **run_kw)

    if warm:
        once(Untraced(), "warm")
    res = b.rounds(modes, once, rounds=rounds)
    return res, clients * per, daemon, once


def bench_streaming(b):
    """Paced streaming LLM workload: 4 concurrent clients (2 Python, 2 Node), 40 requests of 400 KB."""
    clients, per, body = 4, int(os.environ.get("STREAM_REQUESTS", "10")), 400_000
    delay, words = os.environ.get("STREAM_EVENT_DELAY_MS", "20"), os.environ.get("STREAM_WORDS", "100")
    res, n, daemon, once = llm_rounds(
        b, "streaming (%d clients x %d requests of %d KB, SSE, %s ms between events, %s words)"
        % (clients, per, body // 1000, delay, words), clients, per, body,
        headers=("x-test-event-delay-ms:" + delay, "x-test-reply-words:" + words))
    b.report("streaming_%dx%dKB_wall" % (n, body // 1000), res, "wall", "<=1.01", 1.01)
    cpu = [x["cpu_daemon"] * 1000 / n for x in res["traced"]]
    print("#   daemon CPU per request (ms): %s" % " ".join("%.3f" % v for v in cpu))
    b.line("streaming_daemon_cpu_per_request", None, statistics.median(cpu), None, None, "report", None, "ms")
    b.report("streaming_total_cpu_per_request", res, "cpu_total", "report", None, "ms", per=n / 1000,
             mode="added")
    cpu_breakdown(res, n)
    b.daemon_summary(res, expect_requests=n)
    b.perf("streaming", lambda: (daemon.start("perf"), once(daemon, "perf"), daemon.stop()))
    return b.finish()


def bench_instant_stress(b):
    """Instant server: 1,000 requests of 100 KB (2 clients x 500: Python and Node), SSE unpaced."""
    clients, per, body = 2, int(os.environ.get("STRESS_REQUESTS", "500")), 100_000
    res, n, daemon, once = llm_rounds(
        b, "instant_stress (%d clients x %d requests of %d KB, SSE, no pacing)" % (clients, per, body // 1000),
        clients, per, body)
    b.report("instant_%dx%dKB_wall" % (n, body // 1000), res, "wall", "<=1.03", 1.03)
    b.report("instant_added_cpu_per_request", res, "cpu_total", "<=0.1ms", 0.1, "ms", per=n / 1000, mode="added")
    for m in res.values():
        for x in m:
            x["cpu_excl_server"] = x["cpu_clients"] + x["cpu_daemon"]
    b.report("instant_added_cpu_excl_server", res, "cpu_excl_server", "report", None, "ms", per=n / 1000,
             mode="added")
    cpu_breakdown(res, n)
    b.daemon_summary(res, expect_requests=n)
    b.perf("instant", lambda: (daemon.start("perf"), once(daemon, "perf"), daemon.stop()))
    return b.finish()


def bench_concurrent_rss(b):
    """100 concurrent streams, one Python client process each (keep-alive, paced SSE): daemon RSS."""
    clients = int(os.environ.get("RSS_CLIENTS", "100"))
    per, body = 3, int(os.environ.get("RSS_BODY_BYTES", "400000"))
    rss_rounds = int(os.environ.get("RSS_ROUNDS", "3"))
    res, n, daemon, once = llm_rounds(
        b, "concurrent_rss (%d Python clients at once, %d streamed requests of %d KB each, 40 ms between events)"
        % (clients, per, body // 1000), clients, per, body, headers=("x-test-event-delay-ms:40", "x-test-reply-words:80"),
        py_only=True, rounds=rss_rounds, warm=False, sample_rss=0.25)
    b.report("rss_%d_streams_wall" % clients, res, "wall", "-", None)
    steady = {"VmRSS": [], "RssAnon": [], "ring": [], "Pss": []}
    for i, x in enumerate(res["traced"]):
        s = x["rss"]
        if not s:
            continue
        w = x["wall"]
        mid = [v for t, v in s if 0.25 * w <= t <= 0.75 * w] or [v for _, v in s]
        vm = max(v.get("VmRSS", 0) for v in mid)
        an = max(v.get("RssAnon", 0) + v.get("RssShmem", 0) for v in mid)
        rf = max(v.get("RssFile", 0) for v in mid)
        pss = max(v.get("Pss", 0) for v in mid)
        steady["Pss"].append(pss)
        steady["VmRSS"].append(vm)
        steady["RssAnon"].append(an)
        steady["ring"].append(rf)
        print("#   traced round %d: steady (middle half, %d samples) max VmRSS %.1f MiB = RssAnon+Shmem %.1f + "
              "RssFile %.1f (the BPF ring buffer, mapped twice, is file-backed); Pss %.1f; whole-run max VmRSS %.1f" % (
                  i + 1, len(mid), vm, an, rf, pss, max(v.get("VmRSS", 0) for _, v in s)))
    # The daemon is two processes (root side, parser): their VmRSS summed counts the pages they
    # share since the fork twice, and the ring's pages twice more (mapped twice); Pss counts every
    # page once, split among its mappings: the memory the daemon takes.
    b.line("rss_%d_streams_daemon_Pss" % clients, None, statistics.median(steady["Pss"]), None, None, "<64MB",
           statistics.median(steady["Pss"]) < 64 * 1e6 / 2**20, "MiB")
    b.line("rss_%d_streams_daemon_VmRSS_sum" % clients, None, statistics.median(steady["VmRSS"]), None, None, "report",
           None, "MiB")
    b.line("rss_%d_streams_daemon_anon" % clients, None, statistics.median(steady["RssAnon"]), None, None, "report",
           None, "MiB")
    b.daemon_summary(res, expect_requests=n)
    return b.finish()


def bench_startup(b):
    """`tokentap profile -q -- true` and a short Claude Code run, under profile and under the daemon."""
    rounds = max(b.args.rounds, 10)
    b.header("startup (profile -- true: %d rounds; claude: the rounds below)" % rounds)
    prof = Profile(b)

    def once_true(mode, tag):
        p = spawn(mode.wrap(["/bin/true"]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.monotonic()
        rc, _ = wait_rusage(p, 120)
        if rc != 0:
            raise SystemExit("%s: %s exited %s" % (mode.name, mode.wrap(["/bin/true"]), rc))
        return {"wall": time.monotonic() - t0}

    floor_cmd = FloorCmd(b, bpftrace_program([(LIBSSL, SSL_FUNCS)]))
    prof.start("warm")
    once_true(prof, "warm")
    prof.stop()
    res = b.rounds([Untraced(), prof, floor_cmd], once_true, rounds=rounds)
    b.report("profile_true_total", res, "wall", "<=0.15s", 0.15, mode="abs")
    td = [x["stop"].get("teardown_s", 0) for x in res["traced"]]
    print("#   profile's detached probe teardown outlived it by (s): %s" % " ".join("%.2f" % v for v in td))
    slow = [v for v in [x["wall"] for x in res["traced"]] if v > 0.5]
    if slow:
        print("#   %d of %d profile runs took > 0.5 s: in those, profile's own exit released the probes (its "
              "detached teardown child had dropped its references first)" % (len(slow), len(res["traced"])))
    # profile started right after another profile returned, while that one's detached child is
    # still tearing its probes down (as when profile runs in a loop, or beside another tokentap)
    after = []
    for _ in range(5):
        once_true(prof, "first")
        after.append(once_true(prof, "second")["wall"])
        prof.stop()
    print("#   profile_true_during_teardown: %s" % " ".join("%.3f" % v for v in after))
    b.line("profile_true_during_teardown", None, statistics.median(after), None, None, "report", None)
    b.perf("profile_true_x5", lambda: [(once_true(prof, "perf"), prof.stop()) for _ in range(5)])

    from harnesses import HARNESSES
    h = HARNESSES["claude-code"]
    why = h.missing()
    if why:
        print("# claude: skipped: %s" % why)
        return b.finish()
    srv = llm_server(b)
    claude = h.entry_path
    insp = subprocess.run([b.tokentap, "inspect", claude], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True).stdout
    # bpftrace 0.17 takes a number after the path as a file offset (with --unsafe in a stripped
    # binary), and cannot parse the '@' in the path: a symlink names the same inode.
    offs = re.findall(r"^\s+(SSL_\w+)\s+vaddr 0x[0-9a-f]+\s+file offset (0x[0-9a-f]+)", insp, re.M)
    link = os.path.join(b.tmp, "claude.exe")
    os.symlink(claude, link)
    targets = [(LIBSSL, SSL_FUNCS), (link, [o for _, o in offs])] if offs else [(LIBSSL, SSL_FUNCS)]
    if not offs:
        print("# claude: tokentap inspect found no SSL functions; the floor probes libssl only:\n" + insp)
    daemon = Daemon(b)
    k = [0]

    def once_claude(mode, tag):
        k[0] += 1
        run_dir = os.path.join(b.tmp, "claude-%d" % k[0])
        cmd, env, cwd = h.prepare(srv, run_dir)
        p = spawn(mode.wrap(cmd), env=env, cwd=cwd, stdout=open(os.path.join(run_dir, "out"), "w"),
                  stderr=subprocess.STDOUT)
        t0 = time.monotonic()
        rc, _ = wait_rusage(p, h.timeout)
        wall = time.monotonic() - t0
        if rc != 0:
            raise SystemExit("%s: claude exited %s: %s" % (mode.name, rc, open(os.path.join(run_dir, "out")).read()[-2000:]))
        return {"wall": wall, "client_pids": set()}

    # warm: the discovery cache and the page cache
    once_claude(Untraced(), "warm")
    once_claude(prof, "warm")
    prof.stop()
    floor_c = FloorCmd(b, bpftrace_program(targets), unsafe=True)
    res = b.rounds([Untraced(), prof, floor_c], once_claude)
    b.report("claude_profile_added", res, "wall", "<=0.2s", 0.2, mode="added")
    res = b.rounds([Untraced(), daemon, Floor(b, bpftrace_program(targets), unsafe=True)], once_claude)
    b.report("claude_under_daemon_added", res, "wall", "report", None, mode="added")
    for i, x in enumerate(res["traced"]):
        reqs = [r for r in x["stop"].get("records", []) if r.get("type") == "request" and r.get("harness") == "claude-code"]
        print("#   daemon round %d: %d claude-code request records" % (i + 1, len(reqs)))
        if not reqs:
            b.problems.append("daemon round %d recorded no claude-code request" % (i + 1))
    return b.finish()


def bench_exec_burst(b):
    """A make -j8 burst: 2,000 targets of /bin/true; 300 targets each running curl against a local
    HTTPS server (short TLS connections from new processes)."""
    n_true = int(os.environ.get("BURST_TRUE", "2000"))
    n_curl = int(os.environ.get("BURST_CURL", "300"))
    srv = llm_server(b)
    d = os.path.join(b.tmp, "make")
    os.makedirs(d)

    def makefile(path, n, recipe):
        with open(path, "w") as f:
            f.write(".PHONY: all %s\nall: %s\n" % (" ".join("t%d" % i for i in range(n)),
                                                   " ".join("t%d" % i for i in range(n))))
            for i in range(n):
                f.write("t%d:\n\t@%s\n" % (i, recipe))

    makefile(os.path.join(d, "true.mk"), n_true, "/bin/true")
    makefile(os.path.join(d, "sh.mk"), n_true, "sh -c 'exit 0'")
    makefile(os.path.join(d, "curl.mk"), n_curl, "%s -sS -f -o /dev/null --cacert %s %s/health" % (
        CURL, srv.ca_path, srv.base_url))
    rows = [("burst_make_j8_%d_true" % n_true, "true.mk"), ("burst_make_j8_%d_sh_c" % n_true, "sh.mk"),
            ("burst_make_j8_%d_curl_https" % n_curl, "curl.mk")]
    b.header("exec_burst (make -j8)")
    daemon = Daemon(b)
    prog = bpftrace_program([(LIBSSL, SSL_FUNCS)], ["tracepoint:sched:sched_process_exec",
                                                      "tracepoint:sched:sched_process_fork",
                                                      "tracepoint:sched:sched_process_exit"])
    modes = [Untraced(), daemon, Floor(b, prog)]

    def once(mode, tag):
        out = {"client_pids": set()}
        for name, mk in rows:
            r = run_clients(b, mode, [["make", "-s", "-j8", "-f", mk]], cwd=d, server_pid=srv.proc.pid)
            out[name] = r["wall"]
            out[name + ":cpu"] = r["cpu_total"]
        return out

    once(Untraced(), "warm")
    res = b.rounds(modes, once)
    for name, _ in rows:
        b.report(name, res, name, "report", None)
        b.report(name + " (cpu)", res, name + ":cpu", "-", None)
    b.daemon_summary(res)
    for i, x in enumerate(res["traced"]):
        run = x["stop"].get("run") or {}
        held = run.get("capture", {}).get("processes_held")
        print("#   daemon round %d: processes_held %s, processes %s" % (i + 1, held, run.get("processes")))
    b.perf("exec_burst", lambda: (daemon.start("perf"), once(daemon, "perf"), daemon.stop()))
    return b.finish()


BENCHES = {"tls_bulk": bench_tls_bulk, "streaming": bench_streaming, "instant_stress": bench_instant_stress,
           "concurrent_rss": bench_concurrent_rss, "startup": bench_startup, "exec_burst": bench_exec_burst}


def main():
    global _tmp
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bench", choices=sorted(BENCHES))
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", "5")))
    ap.add_argument("--perf", action="store_true", default=os.environ.get("PERF") == "1")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("hostbench: run as root (tokentap and bpftrace load BPF)")
    if not os.access(os.path.join(args.build, "tokentap"), os.X_OK):
        raise SystemExit("hostbench: no tokentap in %s (build first, or pass the build dir)" % args.build)
    _tmp = tempfile.mkdtemp(prefix="tokentap-hostbench.")
    atexit.register(_kill_all)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _on_signal)
    b = Bench(args)
    sys.exit(BENCHES[args.bench](b))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Release watch: every supported harness at its newest npm release, under the harness e2e suite.

For each harness (tests/e2e/harnesses.py) it installs the newest release of its packages
(scripts/install-harnesses.sh with TOKENTAP_HARNESS_LATEST=1, into
/var/cache/tokentap/harnesses-latest; the pinned installs CI uses are left alone), runs that
harness's e2e test classes (tests/e2e/test_harnesses.py) against it under the tokentap built here,
and prints one table: the pinned and newest versions, how tokentap reached its plaintext, what it
identified, and the result. A new release that breaks discovery or identification shows up here,
from a command, before a user finds it.

usage: sudo scripts/release-watch.py [--markdown] [NAME...]      (default: every harness)

Needs root (the tests load BPF) and the registry. Exit status 0 when every harness passed.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
E2E = os.path.join(ROOT, "tests", "e2e")
sys.path.insert(0, E2E)
os.environ["TOKENTAP_HARNESS_LATEST"] = "1"  # before harnesses.py reads it

import harnesses  # noqa: E402
import test_harnesses  # noqa: E402


ALL = dict(harnesses.HARNESSES, **harnesses.EMBEDDED)  # harnesses, and programs embedding one (by key)


def test_classes(name):
    """The e2e test classes that run harness (or embedding program) `name`, in the module's order."""
    return [c for c in vars(test_harnesses).values()
            if isinstance(c, type) and getattr(c, "harness", None) == name]


def install(h):
    """Installs h's newest release; returns None, or why it failed (the installer's last lines)."""
    p = subprocess.run([os.path.join(ROOT, "scripts", "install-harnesses.sh"), h.install],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode == 0:
        return None
    lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
    return "install failed: " + " / ".join(lines[-2:])


def failure_of(output):
    """The first assertion or error message of a unittest run's output, on one line."""
    for pat in (r"^\w*Error: (.*)$", r"^(FAIL|ERROR): (.*)$", r"^(.*skipped.*)$"):
        m = re.search(pat, output, re.M)
        if m:
            return m.group(m.lastindex).strip()[:160]
    return output.strip().splitlines()[-1][:160] if output.strip() else "no output"


def run_test(cls, watch_dir):
    """Runs one test class; returns (passed, why, facts the test saved or {})."""
    env = dict(os.environ, TOKENTAP_WATCH_DIR=watch_dir)
    env.setdefault("TOKENTAP_BIN", os.path.join(ROOT, "build", "tokentap"))
    p = subprocess.run([sys.executable, "-m", "unittest", "test_harnesses." + cls.__name__], cwd=E2E, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    facts = {}
    path = os.path.join(watch_dir, cls.__name__ + ".json")
    if os.path.exists(path):
        with open(path) as f:
            facts = json.load(f)
    return p.returncode == 0, "" if p.returncode == 0 else failure_of(p.stdout), facts


def hook_text(facts):
    """How tokentap reached the harness's plaintext: each TLS library and file its requests came
    through (the records' tls_library and tls_binary), with the method that found it there (the
    run's tls_hooks)."""
    methods = {(t.get("library"), t.get("path")): t.get("method") or "?"
               for t in facts.get("tls_hooks") or [] if t.get("status") == "hooked"}
    out = []
    for lib, path in facts.get("tls_paths") or []:
        if not lib:
            out.append("socket only (estimates)")
        else:
            out.append("%s by %s in %s" % (lib, methods.get((lib, path), "?"), os.path.basename(path) or "?"))
    return "; ".join(out) or "-"


def row(h, cls, passed, why, facts):
    served, seen = facts.get("requests_served"), facts.get("requests_seen")
    counts = "%s/%s" % (seen, served) if facts else "-"
    result = "pass" if passed else "FAIL: " + why
    return [cls.__name__, h.pinned_version, h.version or "?", hook_text(facts),
            ", ".join(facts.get("identified", [])) or "-", counts, result]


HEADER = ["test", "pinned", "newest", "TLS plaintext from", "identified as", "requests seen/served", "result"]


def print_table(rows, markdown):
    if markdown:
        print("| " + " | ".join(HEADER) + " |")
        print("|" + "---|" * len(HEADER))
        for r in rows:
            print("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
        return
    widths = [max(len(r[i]) for r in rows + [HEADER]) for i in range(len(HEADER))]
    for r in [HEADER] + rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown (docs/harnesses.md)")
    ap.add_argument("names", nargs="*", help="harness names (default: all): %s" % " ".join(ALL))
    args = ap.parse_args(argv)
    unknown = [n for n in args.names if n not in ALL]
    if unknown:
        ap.error("unknown harness %s (known: %s)" % (" ".join(unknown), " ".join(ALL)))
    if os.geteuid() != 0:
        sys.exit("release-watch: the harness tests load BPF programs: run it as root (sudo %s)" % sys.argv[0])
    for step in ("install-deps.sh", "build.sh"):
        subprocess.run([os.path.join(ROOT, "scripts", step)], check=True, stdout=subprocess.DEVNULL)
    rows, ok = [], True
    started = time.strftime("%Y-%m-%d")
    with tempfile.TemporaryDirectory(prefix="tokentap-watch-") as watch_dir:
        for name in args.names or list(ALL):
            h = ALL[name]
            print("release-watch: %s ..." % name, file=sys.stderr, flush=True)
            why = install(h)
            for cls in test_classes(name):
                passed, msg, facts = (False, why, {}) if why else run_test(cls, watch_dir)
                ok &= passed
                rows.append(row(h, cls, passed, msg, facts))
    print("Release watch of %s (%s):" % (started, subprocess.run(
        [os.path.join(ROOT, "build", "tokentap"), "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()))
    print_table(rows, args.markdown)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

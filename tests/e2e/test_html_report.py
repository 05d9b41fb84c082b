"""End-to-end: the HTML report (docs/analysis.md, "The HTML report") in Debian's headless Chromium.

A hand-made analysis document (tests/data/analysis/two_sessions.json: 2 sessions, 4 turns, 12
requests, findings of several kinds) goes through the report's renderer (tt_render_html, a test
helper around tt::analysis::render_html); Chromium opens the page from file:// with every host name
unresolvable, runs its script and dumps the DOM. Every chart says in its DOM what it drew: the
<svg data-chart=...> carries data-drawn (points drawn) and each bar or point data-n / data-turn /
data-key, data-series and data-value, so the test reads back the token counts per request, the
anatomy, the turns, the cost per model and per finding, and checks them against the document (and
the bars' heights against their values). Chromium's network log must show no request from the page,
the page's Content Security Policy must pin its own script and style, and the page must report no
script error and no policy violation. A screenshot is kept (its path is printed). Also: an empty
analysis, 5,000 requests (drawn as one path per series, in time), and hostile strings in every text
field (they stay text).

Needs no root and no kernel: only the renderer and `chromium` (scripts/install-deps.sh).
"""

import base64
import hashlib
import html.parser
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
FIXTURE = os.path.join(TESTS, "data", "analysis", "two_sessions.json")
TOKENTAP = os.environ.get("TOKENTAP_BIN") or os.path.join(os.path.dirname(TESTS), "build", "tokentap")
BUILD = os.path.dirname(os.path.abspath(TOKENTAP))
RENDER = os.environ.get("TT_RENDER_HTML") or os.path.join(BUILD, "tests", "tt_render_html")
OUT_DIR = os.environ.get("TT_HTML_REPORT_OUT") or os.path.join(BUILD, "test-output", "html-report")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def usd(v):
    """tokentap's money format (sink::usd): $1.23, $0.0123, $0.000012."""
    if v == 0 or v >= 1:
        return "$%.2f" % v
    return ("$%.6f" if v < 0.0001 else "$%.4f") % v


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []

    def text(self):
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self):
        for c in self.children:
            if isinstance(c, Node):
                yield c
                yield from c.iter()

    def find_all(self, tag=None, **attrs):
        """Descendants with this tag (None: any) and these attributes (name with _ for -; True: present)."""
        want = {k.replace("_", "-"): v for k, v in attrs.items()}
        out = []
        for n in self.iter():
            if tag and n.tag != tag:
                continue
            if all((k in n.attrs) if v is True else n.attrs.get(k) == str(v) for k, v in want.items()):
                out.append(n)
        return out

    def find(self, tag=None, **attrs):
        found = self.find_all(tag, **attrs)
        if len(found) != 1:
            raise AssertionError("expected one <%s %s>, found %d" % (tag, attrs, len(found)))
        return found[0]

    def closest(self, attr):
        n = self.parent
        while n is not None and attr not in n.attrs:
            n = n.parent
        return n


class DomParser(html.parser.HTMLParser):
    """The dumped DOM as a tree of Nodes (Chromium writes end tags for every non-void element)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        if tag not in VOID:
            self.cur = n

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, attrs, self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def parse_dom(text):
    p = DomParser()
    p.feed(text)
    p.close()
    return p.root


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


def page_requests(netlog_path):
    """The URL requests Chromium's network log shows the page itself making (not the browser's own
    background requests, whose initiator is 'not an origin'), other than file: and data: URLs."""
    with open(netlog_path) as f:
        log = json.load(f)
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    out = []
    for e in log.get("events", []):
        if names.get(e["type"]) != "URL_REQUEST_START_JOB":
            continue
        p = e.get("params", {})
        url = p.get("url")
        if not url or url.startswith(("file:", "data:")):
            continue
        if p.get("initiator") != "not an origin" or "file://" in p.get("network_isolation_key", ""):
            out.append(url)
    return out


class HtmlReportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(RENDER):
            raise AssertionError("%s missing: build the tests (the tt_render_html target), or set TT_RENDER_HTML"
                                 % RENDER)
        if not os.access(CHROMIUM, os.X_OK):
            raise AssertionError("chromium is not installed: run scripts/install-deps.sh")
        os.makedirs(OUT_DIR, exist_ok=True)
        cls.tmp = tempfile.mkdtemp(prefix="tt-html-")
        with open(FIXTURE) as f:
            cls.doc = json.load(f)
        cls.html_path = cls.render(cls.doc, "two_sessions")
        cls.dom_text, cls.dump_seconds, cls.netlog = cls.dump(cls.html_path, netlog=True)
        cls.dom = parse_dom(cls.dom_text)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def render(cls, doc, name):
        src = os.path.join(cls.tmp, name + ".json")
        with open(src, "w") as f:
            json.dump(doc, f)
        out = os.path.join(OUT_DIR, name + ".html")
        subprocess.run([RENDER, src, out], check=True, timeout=60)
        return out

    @classmethod
    def chromium(cls, args, timeout=180):
        """Headless Chromium as root (--no-sandbox), a fresh profile, no background networking and every
        host name unresolvable. Returns (stdout, seconds)."""
        profile = tempfile.mkdtemp(prefix="profile-", dir=cls.tmp)
        cmd = [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--user-data-dir=" + profile, "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-extensions", "--disable-default-apps", "--host-resolver-rules=MAP * ~NOTFOUND"] + args
        t0 = time.monotonic()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        took = time.monotonic() - t0
        if p.returncode != 0:
            raise AssertionError("chromium exited %d: %s" % (p.returncode, p.stderr.decode(errors="replace")[-2000:]))
        return p.stdout.decode(), took

    @classmethod
    def dump(cls, path, netlog=False):
        args = ["--dump-dom"]
        log = None
        if netlog:
            log = os.path.join(cls.tmp, os.path.basename(path) + ".netlog.json")
            args.append("--log-net-log=" + log)
        text, took = cls.chromium(args + ["file://" + path])
        with open(path[:-5] + ".dom.html", "w") as f:
            f.write(text)
        print("\n  chromium --dump-dom %s: %.2f s" % (os.path.basename(path), took))
        return text, took, log

    # ---- helpers ----

    def body(self, dom):
        return dom.find("body")

    def assert_clean(self, dom):
        b = self.body(dom)
        self.assertEqual(b.attrs.get("data-ready"), "yes", b.attrs.get("data-errors"))
        self.assertNotIn("data-errors", b.attrs)
        self.assertNotIn("data-csp-violations", b.attrs)

    def chart(self, dom, name, **attrs):
        return dom.find("svg", data_chart=name, **attrs)

    def assert_sizes_follow_values(self, marks, size="height", least=0):
        """Bar sizes (attribute size) in proportion to their values, on one scale (within the rounding
        to 1/100 pixel, and bars of a value above 0 at least `least` long)."""
        top = max(marks, key=lambda m: float(m.attrs["data-value"]))
        k = float(top.attrs[size]) / float(top.attrs["data-value"])
        for m in marks:
            want = float(m.attrs["data-value"]) * k
            if float(m.attrs["data-value"]) > 0:
                want = max(want, least)
            self.assertAlmostEqual(float(m.attrs[size]), want, delta=0.03, msg="bar %s" % m.attrs)

    # ---- the fixture ----

    def test_page_is_self_contained(self):
        with open(self.html_path) as f:
            page = f.read()
        m = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page)
        self.assertIsNotNone(m, "no Content-Security-Policy")
        policy = dict(p.strip().split(" ", 1) for p in m.group(1).split(";"))
        self.assertEqual(policy["default-src"], "'none'")
        scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
        styles = re.findall(r"<style>(.*?)</style>", page, re.S)
        self.assertEqual((len(scripts), len(styles)), (1, 1))

        def pin(text):
            return "'sha256-%s'" % base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        self.assertEqual(policy["script-src"], pin(scripts[0]))
        self.assertEqual(policy["style-src"], pin(styles[0]))
        # nothing refers outside the page
        outside = re.search(r"""(src|href)\s*=|url\(|@import|https?:|//[a-z]""",
                            page.replace("'http://www.w3.org/2000/svg'", ""))  # (the SVG namespace: a name, not a link)
        self.assertIsNone(outside, "the page refers to something outside it")
        # the embedded document is the analysis, unchanged
        data = re.search(r'<script type="application/json" id="tokentap-analysis">(.*?)</script>', page, re.S).group(1)
        self.assertEqual(json.loads(data), self.doc)
        self.assertEqual(page_requests(self.netlog), [])
        print("  page %s: %d bytes, drawn in %s ms" % (self.html_path, len(page),
                                                      self.body(self.dom).attrs.get("data-render-ms")))

    def test_network_log_would_show_a_request(self):
        """The check above can fail: a page with an image from the network shows in the log."""
        probe = os.path.join(self.tmp, "probe.html")
        with open(probe, "w") as f:
            f.write('<!DOCTYPE html><html><body><img src="http://tokentap-probe.invalid/x.png"></body></html>')
        _, _, log = self.dump(probe, netlog=True)
        self.assertEqual(page_requests(log), ["http://tokentap-probe.invalid/x.png"])

    def test_header(self):
        self.assert_clean(self.dom)
        t = self.doc["totals"]
        figures = {n.attrs["data-figure"]: n for n in self.dom.find_all(data_figure=True)}
        self.assertEqual(figures["label"].text(), self.doc["scope"]["label"])
        self.assertEqual(figures["cost_usd"].find("div", **{"class": "v"}).text(), "$1.22")
        self.assertEqual(figures["cost_usd"].find("div", **{"class": "v"}).text(), usd(t["cost_usd"]))
        self.assertEqual(figures["waste_usd"].find("div", **{"class": "v"}).text(), "$0.8251")
        self.assertEqual(figures["requests"].find("div", **{"class": "v"}).text(), "12")
        self.assertEqual(float(figures["prompt_tokens"].attrs["data-value"]), t["prompt_tokens"])
        self.assertEqual([li.text() for li in figures["verdict"].find_all("li")], self.doc["verdict"])
        self.assertIn("2025-11-20 10:00:00 UTC to 2025-11-20 11:00:00 UTC", figures["scope"].text())

    def test_context_chart(self):
        svg = self.chart(self.dom, "context")
        reqs = self.doc["requests"]
        self.assertEqual((svg.attrs["data-drawn"], svg.attrs["data-mode"]), (str(len(reqs)), "bars"))
        bars = [m for m in svg.find_all("rect", data_series=True)]
        got = {(int(m.closest("data-n").attrs["data-n"]), m.attrs["data-series"]): float(m.attrs["data-value"]) for m in bars}
        want = {}
        for r in reqs:
            want[(r["n"], "cache_read")] = r["cache_read_tokens"]
            want[(r["n"], "cache_write")] = r["cache_write_tokens"]
            want[(r["n"], "input")] = r["input_tokens"]
        self.assertEqual(len(bars), len(want))
        self.assertEqual(got, want)
        self.assert_sizes_follow_values(bars)
        points = svg.find_all("circle", data_series="unchanged_prefix")
        self.assertEqual({int(p.attrs["data-n"]): float(p.attrs["data-value"]) for p in points},
                         {r["n"]: r["unchanged_prefix_tokens"] for r in reqs})
        self.assertEqual(len(points), len(reqs))
        # each request's tooltip names it
        for g in svg.find_all("g", data_n=True):
            self.assertTrue(g.find("title").text().startswith("request %s " % g.attrs["data-n"]))

    def test_anatomy_chart(self):
        svg = self.chart(self.dom, "anatomy")
        reqs = self.doc["requests"]
        self.assertEqual(svg.attrs["data-drawn"], str(len(reqs)))
        bars = svg.find_all("rect", data_series=True)
        got = {(int(m.closest("data-n").attrs["data-n"]), m.attrs["data-series"]): float(m.attrs["data-value"]) for m in bars}
        want = {(r["n"], k): v for r in reqs for k, v in r["anatomy"].items()}
        self.assertEqual(len(bars), 5 * len(reqs))
        self.assertEqual(got, want)
        self.assert_sizes_follow_values(bars)
        # stacked: each request's parts add up to its prompt
        for r in reqs:
            self.assertEqual(sum(v for (n, _), v in got.items() if n == r["n"]), r["prompt_tokens"])

    def test_turns_charts(self):
        charts = self.dom.find_all("svg", data_chart="turns")
        self.assertEqual(len(charts), len(self.doc["sessions"]))
        for si, ss in enumerate(self.doc["sessions"]):
            svg = self.chart(self.dom, "turns", data_session=si)
            self.assertEqual(svg.attrs["data-drawn"], str(len(ss["turns"])))
            groups = svg.find_all("g", data_turn=True)
            self.assertEqual(len(groups), len(ss["turns"]))
            for g, u in zip(groups, ss["turns"]):
                self.assertEqual(int(g.attrs["data-turn"]), u["turn"])
                for k in ("main", "subagent", "side"):
                    self.assertEqual(int(g.attrs["data-" + k]), u[k], (si, u["turn"], k))
                self.assertEqual(float(g.find("rect", data_series="prompt").attrs["data-value"]), u["prompt_tokens"])
                self.assertEqual(float(g.find("rect", data_series="output").attrs["data-value"]), u["output_tokens"])
                self.assertEqual(g.find("text", data_series="cost").text(), usd(u["cost_usd"]))
            self.assert_sizes_follow_values(svg.find_all("rect", data_series="prompt"))
            self.assert_sizes_follow_values(svg.find_all("rect", data_series="output"))
        # session 0's first turn: the main conversation, a subagent and a title call
        g = self.chart(self.dom, "turns", data_session=0).find("g", data_turn=1)
        self.assertEqual(g.find("text", data_series="counts").text(), "2 main \u00b7 2 subagent \u00b7 1 side")
        self.assertEqual(g.find("text", data_series="cost").text(), "$0.6778")

    def test_cost_by_model(self):
        svg = self.chart(self.dom, "models")
        self.assertEqual(svg.attrs["data-drawn"], str(len(self.doc["by_model"])))
        rows = {g.attrs["data-key"]: g for g in svg.find_all("g", data_key=True)}
        self.assertEqual(set(rows), {m["provider"] + "/" + m["model"] for m in self.doc["by_model"]})
        for m in self.doc["by_model"]:
            g = rows[m["provider"] + "/" + m["model"]]
            self.assertEqual(float(g.find("rect").attrs["data-value"]), m["cost_usd"])
            self.assertEqual(g.find("text", data_role="value").text(), usd(m["cost_usd"]))
        # dollars as tokentap writes them, from a dollar up, below, and below a hundredth of a cent
        self.assertEqual({k: g.find("text", data_role="value").text() for k, g in rows.items()},
                         {"anthropic/claude-opus-4-1": "$1.11", "openai/gpt-5": "$0.0543",
                          "anthropic/claude-sonnet-4-5": "$0.0511", "anthropic/claude-haiku-4-5": "$0.000080"})
        self.assert_sizes_follow_values(svg.find_all("rect", data_series="models"), "width", least=1)

    def test_cost_by_finding(self):
        svg = self.chart(self.dom, "waste")
        waste = self.doc["waste_by_category"]
        self.assertEqual(svg.attrs["data-drawn"], str(len(waste)))
        rows = {g.attrs["data-key"]: g for g in svg.find_all("g", data_key=True)}
        self.assertEqual({k: float(g.find("rect").attrs["data-value"]) for k, g in rows.items()}, waste)
        self.assertEqual({k: g.find("text", data_role="value").text() for k, g in rows.items()},
                         {k: usd(v) for k, v in waste.items()})
        self.assertEqual(rows["retry"].find("text", data_role="value").text(), "$0.3797")
        self.assertEqual(rows["huge_tool_result"].find("text", data_role="value").text(), "$0.00")

    def test_findings_table(self):
        table = self.dom.find("table", data_table="findings")
        rows = table.find_all("tr", data_kind=True)
        self.assertEqual([(r.attrs["data-kind"], r.attrs["data-reason"]) for r in rows],
                         [(f["kind"], f["reason"]) for f in self.doc["findings"]])
        for r, f in zip(rows, self.doc["findings"]):
            self.assertEqual(r.attrs["data-requests"], ",".join(map(str, f["requests"])))
            self.assertEqual(int(r.attrs["data-tokens"]), f["tokens"])
            cells = [c.text() for c in r.find_all("td")]
            self.assertEqual(cells[3], usd(f["waste_usd"]))
            self.assertEqual(cells[4], f["text"])
        kinds = {r.attrs["data-kind"] for r in rows}
        self.assertTrue({"cache_miss", "cache_write_unread", "retry", "low_value", "unused_tools", "compaction"} <= kinds)
        unused = [r for r in rows if r.attrs["data-kind"] == "unused_tools"][0]
        self.assertEqual(unused.find_all("td")[1].text(), "1, 3, 6\u20138")

    def test_requests_table(self):
        table = self.dom.find("table", data_table="requests")
        self.assertEqual(table.parent.parent.tag, "details")  # collapsed until opened
        rows = table.find_all("tr", data_n=True)
        self.assertEqual([int(r.attrs["data-n"]) for r in rows], [r["n"] for r in self.doc["requests"]])
        cells = [c.text() for c in rows[1].find_all("td")]
        self.assertEqual(cells[:7], ["2", "10:00:02", "claude-code 5b1e7c2a-90d4-4f7e-b3a1-0c6d2f8e4a11", "1", "side",
                                     "claude-haiku-4-5", "200"])
        self.assertEqual(cells[12], "$0.000080")

    def test_screenshot(self):
        shot = os.path.join(OUT_DIR, "two_sessions.png")
        if os.path.exists(shot):
            os.unlink(shot)
        _, took = self.chromium(["--screenshot=" + shot, "--window-size=1400,3000", "--hide-scrollbars",
                                 "file://" + self.html_path])
        self.assertEqual(png_size(shot), (1400, 3000))
        self.assertGreater(os.path.getsize(shot), 50_000)  # drawn, not a blank page
        copy = os.path.join(BUILD, "html-report-screenshot.png")
        shutil.copyfile(shot, copy)
        print("\n  screenshot (%.2f s): %s\n  copied to %s" % (took, shot, copy))

    # ---- other documents ----

    def test_empty_analysis(self):
        doc = {"version": 1,
               "scope": {"kind": "range", "run_id": "", "since_unix_ns": 0, "until_unix_ns": 0, "label": "nothing"},
               "totals": {k: 0 for k in self.doc["totals"]},
               "waste_by_category": {k: 0.0 for k in self.doc["waste_by_category"]},
               "verdict": ["Cost $0.00 for 0 requests."], "findings": [], "by_model": [], "sessions": [], "requests": []}
        dom = parse_dom(self.dump(self.render(doc, "empty"))[0])
        self.assert_clean(dom)
        for name in ("context", "anatomy", "models"):
            svg = self.chart(dom, name)
            self.assertEqual((svg.attrs["data-drawn"], svg.attrs["data-mode"]), ("0", "empty"), name)
        self.assertEqual(dom.find_all("svg", data_chart="turns"), [])
        self.assertEqual(self.chart(dom, "waste").attrs["data-drawn"], "6")
        self.assertEqual(dom.find(data_empty="findings").text(), "No findings.")
        self.assertEqual(dom.find("table", data_table="requests").find_all("tr", data_n=True), [])
        self.assertEqual(dom.find(data_figure="cost_usd").find("div", **{"class": "v"}).text(), "$0.00")

    def test_five_thousand_requests(self):
        n = 5000
        doc = json.loads(json.dumps(self.doc))
        doc["requests"] = []
        ctx = 0
        for i in range(n):
            ctx = 12000 if i % 180 == 0 else ctx + 300 + (i * 37) % 1200
            grow = 300 + (i * 37) % 1200
            miss = i % 97 == 5
            cr = 0 if miss or i % 180 == 0 else ctx - grow
            cw = ctx - cr - 10
            parts = {"system": 3000, "tools": 9000, "history": ctx - 12000, "tool_results": 0, "new_content": 0}
            doc["requests"].append({
                "n": i + 1, "session": i % 2, "turn": 1 + i // 50, "role": "main",
                "start_unix_ns": 1763632800 * 10**9 + i * 4 * 10**9, "provider": "anthropic",
                "model": "claude-sonnet-4-5", "status": 200, "input_tokens": 10, "cache_read_tokens": cr,
                "cache_write_tokens": cw, "output_tokens": 200, "prompt_tokens": ctx, "cost_usd": 0.01, "anatomy": parts,
                "unchanged_prefix_tokens": 0 if i % 180 == 0 else ctx - grow, "findings": ["cache_miss"] if miss else []})
        for ss in doc["sessions"]:
            ss["turns"] = [{"turn": t, "requests": [], "main": 25, "subagent": 0, "side": 0, "prompt_tokens": 1000 * t,
                            "output_tokens": 5000, "cost_usd": 0.25} for t in range(1, 51)]
        path = self.render(doc, "five_thousand")
        text, took, _ = self.dump(path)
        dom = parse_dom(text)
        self.assert_clean(dom)
        ms = int(self.body(dom).attrs["data-render-ms"])
        print("  5,000 requests: %d bytes, drawn in %d ms, chromium %.2f s" % (os.path.getsize(path), ms, took))
        self.assertLess(ms, 5000)
        for name, series in (("context", {"cache_read": "cache_read_tokens", "cache_write": "cache_write_tokens",
                                          "input": "input_tokens"}),
                             ("anatomy", {k: k for k in ("system", "tools", "history", "tool_results", "new_content")})):
            svg = self.chart(dom, name)
            self.assertEqual((svg.attrs["data-drawn"], svg.attrs["data-mode"]), (str(n), "paths"))
            self.assertEqual(svg.find_all(data_n=True), [], "one element per request above the limit")
            paths = {p.attrs["data-series"]: p for p in svg.find_all("path", data_series=True)}
            for s, field in series.items():
                want = sum(r[field] if name == "context" else r["anatomy"][field] for r in doc["requests"])
                self.assertEqual(float(paths[s].attrs["data-sum"]), want, (name, s))
                self.assertEqual(paths[s].attrs["data-points"], str(n))
        line = self.chart(dom, "context").find("path", data_series="unchanged_prefix")
        self.assertEqual(float(line.attrs["data-sum"]), sum(r["unchanged_prefix_tokens"] for r in doc["requests"]))
        # the long requests table waits for the reader to open it
        self.assertEqual(dom.find_all("table", data_table="requests"), [])
        shot = os.path.join(OUT_DIR, "five_thousand.png")
        self.chromium(["--screenshot=" + shot, "--window-size=1400,1400", "--hide-scrollbars", "file://" + path])
        print("  screenshot: %s" % shot)

    def test_hostile_strings_stay_text(self):
        evil = ("</script><script>document.body.setAttribute('data-pwned','1')</script><!-- "
                "<img src=x onerror=\"document.body.setAttribute('data-pwned','2')\"> &amp; \u2028")
        doc = json.loads(json.dumps(self.doc))
        doc["scope"]["label"] = evil
        doc["verdict"] = [evil]
        doc["by_model"][0]["model"] = evil
        doc["requests"][0]["model"] = evil
        doc["sessions"][0]["harness"] = evil
        doc["sessions"][0]["session_id"] = evil
        doc["findings"][0]["text"] = evil
        doc["findings"][0]["kind"] = evil
        src = os.path.join(self.tmp, "hostile.json")
        with open(src, "w") as f:
            json.dump(doc, f)
        out = os.path.join(OUT_DIR, "hostile.html")
        subprocess.run([RENDER, src, out], check=True, timeout=60)
        dom = parse_dom(self.dump(out)[0])
        self.assert_clean(dom)
        b = self.body(dom)
        self.assertNotIn("data-pwned", b.attrs)
        self.assertEqual(dom.find_all("img"), [])
        self.assertEqual(len(dom.find_all("script")), 2)
        shown = evil
        self.assertEqual(dom.find(data_figure="label").text(), shown)
        self.assertEqual(dom.find(data_figure="verdict").find("li").text(), shown)
        self.assertIn(self.doc["by_model"][0]["provider"] + "/" + shown,
                      [g.attrs["data-key"] for g in self.chart(dom, "models").find_all("g", data_key=True)])
        self.assertEqual(dom.find("table", data_table="findings").find_all("tr", data_kind=True)[0].attrs["data-kind"],
                         shown)
        self.assertEqual(self.chart(dom, "context").attrs["data-drawn"], "12")


if __name__ == "__main__":
    unittest.main()

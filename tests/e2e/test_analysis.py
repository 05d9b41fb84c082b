"""End-to-end: where the tokens went (docs/analysis.md) for a scripted agent session.

tests/clients/session_agent.mjs plays a Claude-Code-style agent against the test server named
api.anthropic.com (real TLS on loopback, so requests are Anthropic's and priced): 22 calls in 6
user turns with tool rounds, a subagent, a title call and a context reset, each call's usage
steered with x-test-usage as a provider with prompt caching would report it. On purpose it
shows every finding kind: a stream cut and retried, cached tool rounds, a huge tool result
carried along, an idle longer than the cache lifetime (`--cache-ttl 3`), a subagent without
cache breakpoints, a changed system prompt (its date), two low-value calls, a compaction, a
context reset and tool definitions never called. It prints its own ground truth.

The test profiles it, reads `tokentap report RECORDS --analysis --json` and checks, against
the server's log and that ground truth: every request with exact tokens, the turns, the roles,
each finding kind with exactly its requests and the figures the rules fix (priced with the
rates `tokentap prices` shows), the verdict at the end of the profile report, and that
`tokentap diff` against the same task run with `--tidy` (the agent's faults fixed) shows less
waste. `report` reads the `--out` record file, `diff` the `--json` ones.
"""

import json
import os
import subprocess

from ttutil import CLIENTS, NODE, TOKENTAP, E2ETestCase

CACHE_TTL = "3"
AGENT = os.path.join(CLIENTS, "session_agent.mjs")
TOKENS = ("input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "output_tokens")
RATE_OF = {"input_tokens": "input", "cache_read_tokens": "cache_read", "cache_write_5m_tokens": "cache_write_5m",
           "cache_write_1h_tokens": "cache_write_1h", "output_tokens": "output"}
USD = 1e-9  # money compared to a nano-dollar


class Run:
    """One profiled run of the agent: its records, report, ground truth, the server's log of it
    and the analysis `tokentap report --analysis --json` makes of the records."""

    def __init__(self, test, tidy):
        self.tidy = tidy
        mark = test.server.mark()
        cmd = [NODE, AGENT, "--base-url", test.server.url_for("api.anthropic.com"), "--ca", test.server.ca_path,
               "--resolve", "api.anthropic.com:127.0.0.1", "--cache-ttl", CACHE_TTL] + (["--tidy"] if tidy else [])
        self.out = os.path.join(test.tmp.name, "records-%s.pb" % ("tidy" if tidy else "faulty"))
        self.prof = test.profile(cmd, extra_args=["--cache-ttl", CACHE_TTL, "--out", self.out], timeout=180)
        self.context = "\nagent and tokentap stderr (tail):\n%s\nreport:\n%s" % (self.prof.stderr[-6000:], self.prof.report)
        lines = [line for line in self.prof.stdout.splitlines() if line.startswith("{")]
        test.assertTrue(lines, "the agent printed no ground truth" + self.context)
        self.truth = json.loads(lines[-1])
        self.server = sorted((r for r in test.server.records(mark) if r["provider"] != "none"), key=lambda r: r["seq"])
        r = subprocess.run([TOKENTAP, "report", self.out, "--analysis", "--json", "--cache-ttl", CACHE_TTL],
                           capture_output=True, text=True, timeout=120)
        test.assertEqual(r.returncode, 0, r.stderr)
        self.analysis = json.loads(r.stdout)
        self.records = sorted(self.prof.requests, key=lambda q: q["start_unix_ns"])


class SessionAnalysisTest(E2ETestCase):
    runs = {}

    def run_of(self, tidy=False):
        """The agent's run (each mode once per class: the tests share it, and a failed one)."""
        if tidy not in self.runs:
            try:
                self.runs[tidy] = Run(self, tidy)
            except Exception as e:
                self.runs[tidy] = e
                raise
        if isinstance(self.runs[tidy], Exception):
            self.fail("the %s run failed before: %s" % ("tidy" if tidy else "faulty", str(self.runs[tidy])[:2000]))
        return self.runs[tidy]

    @classmethod
    def tearDownClass(cls):
        cls.runs.clear()
        super().tearDownClass()

    def rates(self, model):
        r = subprocess.run([TOKENTAP, "prices", "--json", "--provider", "anthropic", "--model", model],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        entries = [e for e in map(json.loads, r.stdout.splitlines()) if e["model"] == model]
        self.assertTrue(entries, "no price for anthropic/%s in `tokentap prices`" % model)
        return entries[-1]["rates"]  # the newest: these requests are of today

    # -- what the rules fix, from the records and the ground truth ----------------------------

    def setUp(self):
        self.run = self.run_of()
        self.truth = self.run.truth
        self.gt = {q["n"]: q for q in self.truth["requests"]}
        self.rec = {i + 1: r for i, r in enumerate(self.run.records)}
        self.an = {q["n"]: q for q in self.run.analysis["requests"]}
        self.price = {m: self.rates(m) for m in {q["model"] for q in self.truth["requests"]}}

    @staticmethod
    def prompt(r):
        return r["input_tokens"] + r["cache_read_tokens"] + r["cache_write_tokens"]

    def prompt_cost(self, n):
        r, rates = self.rec[n], self.price[self.gt[n]["model"]]
        return sum(r[f] * rates[RATE_OF[f]] for f in TOKENS if f != "output_tokens") / 1e6

    def share(self, n, part_bytes, whole_bytes):
        """Tokens of `part_bytes` of the request's prompt: its bytes scaled to the prompt's exact tokens."""
        return int(self.prompt(self.rec[n]) * part_bytes / whole_bytes + 0.5) if whole_bytes else 0

    def unchanged(self, n):
        return self.share(n, self.gt[n]["bytes"]["unchanged"], self.gt[n]["bytes"]["total"])

    def previous(self, n):
        conv = self.gt[n]["conversation"]
        return max(m for m in self.gt if m < n and self.gt[m]["conversation"] == conv)

    def findings(self, kind, reason=None):
        fs = [f for f in self.run.analysis["findings"] if f["kind"] == kind and (reason is None or f["reason"] == reason)]
        return fs

    def expected(self, kind, reason=None):
        return sorted(q["n"] for q in self.truth["requests"]
                      if kind in q["shows"] and (reason is None or q["cache_miss"] == reason))

    def assert_finding(self, kind, reason=None, tokens=None, waste=None, token_slack=0, waste_slack=USD, hint=""):
        """The kind (and reason) is found once, on exactly the requests the ground truth says, with
        the tokens and waste given (when given)."""
        want = self.expected(kind, reason)
        fs = self.findings(kind, reason)
        self.assertTrue(want, "the scenario shows no %s %s" % (kind, reason or ""))
        self.assertEqual(len(fs), 1, "%s %s: findings %s%s" % (kind, reason or "", fs, hint))
        f = fs[0]
        self.assertEqual(f["requests"], want, "%s %s: requests%s" % (kind, reason or "", hint))
        if tokens is not None:
            self.assertLessEqual(abs(f["tokens"] - tokens), token_slack, "%s %s: tokens %d, expected %d" % (
                kind, reason or "", f["tokens"], tokens))
        if waste is not None:
            self.assertLessEqual(abs(f["waste_usd"] - waste), waste_slack, "%s %s: waste %.9f, expected %.9f" % (
                kind, reason or "", f["waste_usd"], waste))
        return f

    # -- the tests ---------------------------------------------------------------------------

    def test_every_request_seen_exactly(self):
        """22 requests, each as the server logged it; the cut one incomplete and estimated."""
        run = self.run
        n = len(self.truth["requests"])
        self.assertEqual(n, 22)
        self.assertEqual(len(run.server), n, run.context)
        self.assertEqual(len(run.records), n, run.context)
        self.assertEqual(run.analysis["totals"]["requests"], n)
        for (i, q), s, r in zip(sorted(self.gt.items()), run.server, run.records):
            with self.subTest(request=i):
                self.assertEqual((s["provider"], s["model"], s["aborted"]), ("anthropic", q["model"], q["aborted"]))
                self.assertEqual((r["provider"], r["model"], r["request_bytes"]),
                                 ("anthropic", q["model"], s["request_body_bytes"]))
                asked = {f: q["usage"].get(f, 0) for f in TOKENS}
                self.assertEqual({f: s["usage"][f] for f in TOKENS}, asked, "the server did not report what was asked")
                if q["aborted"]:
                    self.assertFalse(r["complete"])
                    self.assertEqual(r["usage_source"], "estimated")
                    continue
                self.assertTrue(r["complete"], r)
                self.assertEqual(r["usage_source"], "exact")
                self.assertEqual({f: r[f] for f in TOKENS}, asked)
                self.assertEqual(r["cost_source"], "price_table")
                rates = self.price[q["model"]]
                self.assertAlmostEqual(r["cost_usd"], sum(r[f] * rates[RATE_OF[f]] for f in TOKENS) / 1e6, places=12)
                a = self.an[i]
                self.assertEqual(a["prompt_tokens"], q["prompt_tokens"])
                self.assertEqual(sum(a["anatomy"].values()), a["prompt_tokens"], "the anatomy adds up to the prompt")
        totals = run.analysis["totals"]
        self.assertAlmostEqual(totals["cost_usd"], sum(r["cost_usd"] for r in run.records), places=9)
        self.assertEqual(totals["unpriced_requests"], 0)
        by_model = {m["model"]: m for m in run.analysis["by_model"]}
        self.assertEqual(set(by_model), {self.truth["model"], self.truth["title_model"]})
        for model, m in by_model.items():
            mine = [r for r in run.records if r["model"] == model]
            self.assertEqual((m["provider"], m["requests"]), ("anthropic", len(mine)))
            self.assertAlmostEqual(m["cost_usd"], sum(r["cost_usd"] for r in mine), places=9)

    def test_turns_and_roles(self):
        an = self.run.analysis
        self.assertEqual(len(an["sessions"]), 1, an["sessions"])
        session = an["sessions"][0]
        self.assertEqual(session["session_id"], "session-agent-faulty")
        self.assertEqual(session["requests"], 22)
        for n, q in self.gt.items():
            with self.subTest(request=n, conversation=q["conversation"]):
                self.assertEqual((self.an[n]["role"], self.an[n]["turn"], self.an[n]["session"]), (q["role"], q["turn"], 0))
        self.assertEqual(len(session["turns"]), self.truth["turns"])
        for t in session["turns"]:
            members = [n for n, q in sorted(self.gt.items()) if q["turn"] == t["turn"]]
            with self.subTest(turn=t["turn"]):
                self.assertEqual(t["requests"], members)
                roles = [self.gt[n]["role"] for n in members]
                self.assertEqual((t["main"], t["subagent"], t["side"]),
                                 (roles.count("main"), roles.count("subagent"), roles.count("side")))
                self.assertEqual(t["prompt_tokens"], sum(self.prompt(self.rec[n]) for n in members))
                self.assertEqual(t["output_tokens"], sum(self.rec[n]["output_tokens"] for n in members))
                self.assertAlmostEqual(t["cost_usd"], sum(self.rec[n]["cost_usd"] for n in members), places=9)

    def test_unchanged_prefixes(self):
        """Each request's prefix unchanged from its conversation's previous request, from the hash chain."""
        for n in self.gt:
            with self.subTest(request=n):
                self.assertEqual(self.an[n]["unchanged_prefix_tokens"], self.unchanged(n))

    def test_findings_on_each_request(self):
        for n, q in self.gt.items():
            with self.subTest(request=n, what=q["what"]):
                self.assertEqual(sorted(self.an[n]["findings"]), sorted(q["shows"]))
        kinds = {f["kind"] for f in self.run.analysis["findings"]}
        self.assertEqual(kinds, set(self.truth["findings"]), "finding kinds")

    def saving(self, n):
        rates = self.price[self.gt[n]["model"]]
        return (rates["input"] - rates["cache_read"]) / 1e6

    def ttl_hint(self, n):
        """What the analysis takes for the cache's lifetime after request n."""
        ttl = self.rec[n].get("anatomy", {}).get("cache_ttl_seconds", 0)
        return ("\n(request %d's record says cache_ttl_seconds %s: the lifetime after it is that, or --cache-ttl %s "
                "where it is 0; its cache_control names no ttl)" % (n, ttl, CACHE_TTL))

    def test_cache_miss_expired(self):
        [n] = self.expected("cache_miss", "expired")
        missed = self.unchanged(n) - self.rec[n]["cache_read_tokens"]
        self.assert_finding("cache_miss", "expired", tokens=missed, waste=missed * self.saving(n),
                            hint=self.ttl_hint(self.previous(n)))

    def test_cache_miss_no_breakpoints(self):
        ns = self.expected("cache_miss", "no_breakpoints")
        missed = {n: self.unchanged(n) - self.rec[n]["cache_read_tokens"] for n in ns}
        self.assert_finding("cache_miss", "no_breakpoints", tokens=sum(missed.values()),
                            waste=sum(m * self.saving(n) for n, m in missed.items()))

    def test_cache_miss_prefix_changed(self):
        [n] = self.expected("cache_miss", "prefix_changed")
        r = self.rec[n]
        self.assertEqual(r["cache_read_tokens"], 0)  # so the rule's two readings agree on the figure
        missed = self.prompt(self.rec[self.previous(n)]) - r["cache_read_tokens"] - self.unchanged(n)
        self.assert_finding("cache_miss", "prefix_changed", tokens=missed, waste=missed * self.saving(n))

    def test_no_other_cache_miss(self):
        reasons = {f["reason"] for f in self.findings("cache_miss")}
        self.assertEqual(reasons, {"expired", "no_breakpoints", "prefix_changed"})

    def test_cache_write_unread(self):
        ns = self.expected("cache_write_unread")
        written = sum(self.rec[n]["cache_write_tokens"] for n in ns)
        waste = sum(self.rec[n]["cache_write_5m_tokens"] * (self.price[self.gt[n]["model"]]["cache_write_5m"] -
                                                          self.price[self.gt[n]["model"]]["input"]) / 1e6 for n in ns)
        self.assert_finding("cache_write_unread", tokens=written, waste=waste, hint=self.ttl_hint(ns[0]))

    def test_context_reset(self):
        self.assert_finding("context_reset", waste=0)

    def test_compaction(self):
        [n] = self.expected("compaction")
        dropped = self.prompt(self.rec[self.previous(n)]) - self.prompt(self.rec[n])
        self.assert_finding("compaction", tokens=dropped, waste=0)

    def test_retry(self):
        [n] = self.expected("retry")
        first = self.rec[self.previous(n)]
        self.assertFalse(first["complete"])
        self.assertGreater(first["cost_usd"], 0)
        self.assert_finding("retry", waste=first["cost_usd"])

    def test_low_value(self):
        ns = self.expected("low_value")
        self.assert_finding("low_value", tokens=sum(self.prompt(self.rec[n]) for n in ns),
                            waste=sum(self.prompt_cost(n) for n in ns))

    def assert_share(self, kind, part, names=None):
        """A finding whose tokens are a part's share of each of its requests' prompts, priced at their
        prompt rate. The rules do not say in which bytes the share is taken: the part's text over the
        prompt's text (as the anatomy's parts) or its JSON over the prompt's JSON (as the prefix chain)
        both do, but not one over the other. Rounding may differ by a token a request."""
        ns = self.expected(kind)
        want = {}
        for measure, whole in (("", "text"), ("_json", "total")):
            tokens = {n: self.share(n, self.gt[n]["bytes"][part + measure], self.gt[n]["bytes"][whole]) for n in ns}
            waste = sum(t * self.prompt_cost(n) / self.prompt(self.rec[n]) for n, t in tokens.items())
            want[whole] = (sum(tokens.values()), waste)
        f = self.assert_finding(kind)
        ok = [m for m, (t, w) in want.items() if abs(f["tokens"] - t) <= len(ns) and abs(f["waste_usd"] - w) <= len(ns) * 6e-6]
        self.assertTrue(ok, "%s: tokens %d, waste %.9f; expected %d, %.9f (text share) or %d, %.9f (JSON share)" % (
            kind, f["tokens"], f["waste_usd"], *want["text"], *want["total"]))
        if names is not None:
            self.assertEqual(f["names"], names)

    def test_unused_tools(self):
        self.assert_share("unused_tools", "unused_tools", names=self.truth["unused_tools"])

    def test_huge_tool_result(self):
        self.assert_share("huge_tool_result", "huge_result")

    def test_waste_adds_up(self):
        an = self.run.analysis
        by_kind = {}
        for f in an["findings"]:
            by_kind[f["kind"]] = by_kind.get(f["kind"], 0) + f["waste_usd"]
        for kind, usd in an["waste_by_category"].items():
            self.assertAlmostEqual(usd, by_kind.get(kind, 0), places=9, msg=kind)
        # The kinds overlap: the total charges each request at most its own cost (docs/analysis.md).
        charged = sum(min(r["waste_usd"], r["cost_usd"]) for r in an["requests"])
        self.assertAlmostEqual(an["totals"]["waste_usd"], charged, places=9)
        self.assertLessEqual(an["totals"]["waste_usd"], sum(by_kind.values()) + 1e-9)
        # What the findings charge the requests is what they found: a retry's waste moves to
        # the attempt before it, nothing is lost or made up.
        self.assertAlmostEqual(sum(r["waste_usd"] for r in an["requests"]), sum(by_kind.values()), places=9)
        self.assertAlmostEqual(an["sessions"][0]["waste_usd"], an["totals"]["waste_usd"], places=9)
        self.assertGreater(an["totals"]["waste_usd"], 0)
        self.assertLess(an["totals"]["waste_usd"], an["totals"]["cost_usd"])

    def test_profile_report_ends_with_the_verdict(self):
        report = self.run.prof.report
        head = "Where the tokens went (docs/analysis.md):"
        self.assertIn(head, report, report[-3000:])
        tail = report[report.index(head):]
        verdict = self.run.analysis["verdict"]
        self.assertGreaterEqual(len(verdict), 3)
        self.assertTrue(verdict[0].startswith("Cost $"), verdict)
        self.assertTrue(verdict[1].startswith("Avoidable: $"), verdict)
        for line in verdict:
            self.assertIn(line, tail)
        self.assertIn("Avoidable by kind:", tail)
        self.assertIn("22 requests in %d turn(s)" % self.truth["turns"], tail)

    def test_diff_against_the_tidy_run(self):
        """The same task without the agent's faults: less waste, and none of the kinds it fixed."""
        tidy = self.run_of(tidy=True)
        kinds = {f["kind"] for f in tidy.analysis["findings"]}
        self.assertEqual(kinds, set(tidy.truth["findings"]), tidy.context)
        r = subprocess.run([TOKENTAP, "diff", self.run.prof.json_path, tidy.prof.json_path, "--json",
                            "--cache-ttl", CACHE_TTL], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = {row["measure"]: row for row in json.loads(r.stdout)["rows"]}
        waste = rows["avoidable waste"]
        self.assertAlmostEqual(waste["a"], self.run.analysis["totals"]["waste_usd"], places=9)
        self.assertAlmostEqual(waste["b"], tidy.analysis["totals"]["waste_usd"], places=9)
        self.assertLess(waste["b"], waste["a"])
        self.assertLess(rows["cost"]["b"], rows["cost"]["a"])
        for kind in ("cache_miss", "unused_tools", "huge_tool_result", "low_value"):
            self.assertGreater(rows[kind]["a"], 0, kind)
            self.assertEqual(rows[kind]["b"], 0, kind)
        text = subprocess.run([TOKENTAP, "diff", self.run.prof.json_path, tidy.prof.json_path, "--cache-ttl", CACHE_TTL],
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(text.returncode, 0, text.stderr)
        self.assertIn("avoidable waste", text.stdout)


if __name__ == "__main__":
    import unittest
    unittest.main()

"""End-to-end: who bills a request, in which wire format, and what it cost (docs/providers.md).

ProvidersByHostTest: curl (OpenSSL, hooked) calls the test server under each vendor's host name,
resolved to loopback (the test certificate carries the names), over real TLS, with each vendor's
wire format and usage shape; under `tokentap profile`. Every record must name the provider and
wire format the server says it played, with exactly its tokens, and a cost: the provider's own
(OpenRouter), the price table's (checked against `tokentap prices --json`), "unknown_model" for a
model nobody prices, "local" for Ollama; a Claude subscription sign-in priced as its API
equivalent. `tokentap report --by provider` adds up to the same money.

ClaudeCodeBedrockTest / ClaudeCodeVertexTest: the real Claude Code from npm in its Bedrock and
Vertex AI modes (authentication skipped, as its documentation allows) against the test server:
tokens exact against the server's log, named aws.bedrock / gcp.vertex_ai and priced.
"""

import collections
import json
import os
import subprocess
import tempfile
import unittest

from harnesses import installed
from ttutil import TOKENTAP, E2ETestCase

TOKENS = ("input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "output_tokens")
MESSAGES = [{"role": "user", "content": "say hi"}]


def anthropic(model, stream=False):
    return {"model": model, "max_tokens": 64, "messages": MESSAGES, "stream": stream}


def chat(model, stream=False):
    body = {"model": model, "messages": MESSAGES, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


BEDROCK = "/model/%s/%s"
VERTEX = "/v1/projects/p/locations/us-east5/publishers/anthropic/models/%s:%s"
USAGE = "input=1200,cache_read=3000,cache_write_5m=400,cache_write_1h=0,output=60"
USAGE_1H = "input=900,cache_read=0,cache_write_5m=100,cache_write_1h=700,output=40"

# (host, path, request headers, body, provider, wire, cost source, billing)
CASES = [
    ("api.anthropic.com", "/v1/messages", {"x-api-key": "k", "x-test-usage": USAGE_1H},
     anthropic("claude-sonnet-4-5"), "anthropic", "anthropic_messages", "price_table", "metered"),
    # A Claude plan's sign-in (an OAuth token): priced as what the API would have charged.
    ("api.anthropic.com", "/v1/messages", {"authorization": "Bearer sk-ant-oat01-test", "x-test-usage": USAGE},
     anthropic("claude-sonnet-4-5", stream=True), "anthropic", "anthropic_messages", "price_table", "subscription"),
    ("api.openai.com", "/v1/chat/completions", {"authorization": "Bearer sk-test", "x-test-usage": USAGE},
     chat("gpt-4o", stream=True), "openai", "openai_chat", "price_table", "metered"),
    ("generativelanguage.googleapis.com", "/v1beta/models/gemini-2.5-flash:generateContent?key=k",
     {"x-test-usage": "input=500,cache_read=100,output=30"},
     {"contents": [{"role": "user", "parts": [{"text": "say hi"}]}]}, "gcp.gemini", "gemini", "price_table", "metered"),
    ("api.deepseek.com", "/chat/completions", {"authorization": "Bearer k", "x-test-usage": USAGE},
     chat("deepseek-flash", stream=True), "deepseek", "openai_chat", "price_table", "metered"),
    ("api.deepseek.com", "/chat/completions", {"authorization": "Bearer k", "x-test-usage": USAGE},
     chat("deepseek-imaginary-9"), "deepseek", "openai_chat", "unknown_model", "metered"),
    ("openrouter.ai", "/api/v1/chat/completions",
     {"authorization": "Bearer k", "x-test-usage": USAGE, "x-test-cost": "0.0421"},
     chat("anthropic/claude-sonnet-4.5"), "openrouter", "openai_chat", "provider", "metered"),
    ("api.moonshot.ai", "/v1/chat/completions", {"authorization": "Bearer k", "x-test-usage": USAGE},
     chat("kimi-k2.5"), "moonshot", "openai_chat", "price_table", "metered"),
    ("api.z.ai", "/api/anthropic/v1/messages", {"x-api-key": "k", "x-test-usage": USAGE},
     anthropic("glm-4.6"), "zai", "anthropic_messages", "price_table", "metered"),
    ("bedrock-runtime.us-east-1.amazonaws.com",
     BEDROCK % ("us.anthropic.claude-sonnet-4-5-20250929-v1%3A0", "converse"),
     {"authorization": "AWS4-HMAC-SHA256 Credential=AKIA/x", "x-test-usage": USAGE},
     {"messages": [{"role": "user", "content": [{"text": "say hi"}]}]},
     "aws.bedrock", "bedrock_converse", "price_table", "metered"),
    ("bedrock-runtime.us-east-1.amazonaws.com",
     BEDROCK % ("us.anthropic.claude-sonnet-4-5-20250929-v1%3A0", "converse-stream"),
     {"authorization": "AWS4-HMAC-SHA256 Credential=AKIA/x", "x-test-usage": USAGE},
     {"messages": [{"role": "user", "content": [{"text": "say hi"}]}]},
     "aws.bedrock", "bedrock_converse", "price_table", "metered"),
    ("bedrock-runtime.us-east-1.amazonaws.com",
     BEDROCK % ("anthropic.claude-haiku-4-5-20251001-v1%3A0", "invoke-with-response-stream"),
     {"authorization": "AWS4-HMAC-SHA256 Credential=AKIA/x", "x-test-usage": USAGE_1H},
     {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64, "messages": MESSAGES},
     "aws.bedrock", "bedrock_invoke", "price_table", "metered"),
    ("us-east5-aiplatform.googleapis.com", VERTEX % ("claude-sonnet-4-5@20250929", "streamRawPredict"),
     {"authorization": "Bearer ya29.test", "x-test-usage": USAGE},
     {"anthropic_version": "vertex-2023-10-16", "max_tokens": 64, "messages": MESSAGES, "stream": True},
     "gcp.vertex_ai", "anthropic_messages", "price_table", "metered"),
    ("myres.openai.azure.com", "/openai/deployments/prod-chat/chat/completions?api-version=2024-10-21",
     {"api-key": "k", "x-test-usage": USAGE}, {"messages": MESSAGES}, "azure.ai.openai", "openai_chat",
     "price_table", "metered"),
    # Ollama's own API, on loopback: costs nothing.
    (None, "/api/chat", {"x-test-usage": "input=26,output=290"},
     {"model": "llama3.2", "messages": MESSAGES}, "ollama", "ollama", "local", "local"),
]


class ProvidersByHostTest(E2ETestCase):
    def curl(self, host, path, headers, body):
        url = (self.server.url_for(host) if host else self.server.base_url) + path
        cmd = ["curl", "-sS", "--fail-with-body", "--cacert", self.server.ca_path, "-o", "/dev/null",
               "-H", "content-type: application/json", "--data-binary", json.dumps(body)]
        if host:
            cmd += self.server.curl_resolve(host)
        for k, v in headers.items():
            cmd += ["-H", "%s: %s" % (k, v)]
        return subprocess.list2cmdline(cmd + [url])

    def prices(self, provider, model):
        """The price table entry `tokentap prices` shows for this provider and model."""
        r = subprocess.run([TOKENTAP, "prices", "--json", "--provider", provider, "--model", model],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def expected_cost(self, rec):
        provider, model = rec["price_entry"].split("/", 1)
        entries = [e for e in self.prices(provider, model) if e["model"] == model and e["provider"] == provider]
        self.assertTrue(entries, "no price entry %s in `tokentap prices`" % rec["price_entry"])
        rates = entries[-1]["rates"]  # the newest: these requests are of today
        key = {"input_tokens": "input", "cache_read_tokens": "cache_read", "cache_write_5m_tokens": "cache_write_5m",
               "cache_write_1h_tokens": "cache_write_1h", "output_tokens": "output"}
        return sum(rec.get(f, 0) * rates[key[f]] for f in TOKENS) / 1e6

    def test_vendors_by_host_name(self):
        mark = self.server.mark()
        script = " && ".join(self.curl(*c[:4]) for c in CASES)
        prof = self.profile(["/bin/sh", "-c", script])
        srv = [r for r in self.server.records(mark) if r["provider"] != "none"]
        self.assertEqual(len(srv), len(CASES))
        self.assert_same_as_server(prof, srv)
        self.assertEqual(len(prof.requests), len(CASES))

        by_order = sorted(prof.requests, key=lambda r: r["start_unix_ns"])
        for case, rec, s in zip(CASES, by_order, srv):
            host, path, _, _, provider, wire, source, billing = case
            with self.subTest(host=host, path=path):
                self.assertEqual((rec["provider"], rec["wire_format"], rec.get("billing", "")),
                                 (provider, wire, billing))
                self.assertEqual((s["provider"], s["wire"]), (provider, wire), "the server's own view")
                self.assertEqual(rec.get("cost_source"), source)
                if source == "provider":
                    self.assertAlmostEqual(rec["cost_usd"], s["reported_cost_usd"], places=12)
                elif source == "price_table":
                    self.assertGreater(rec["cost_usd"], 0)
                    if provider != "deepseek":  # peak/off-peak by the hour: unit tests have its figures
                        self.assertAlmostEqual(rec["cost_usd"], self.expected_cost(rec), places=12)
                else:
                    self.assertEqual(rec.get("cost_usd", 0), 0)
                    self.assertEqual(rec.get("price_entry", ""), "")

        # Totals: the money, what is left out, and the subscription's share.
        totals = prof.run["totals"]
        self.assertAlmostEqual(totals["cost_usd"], sum(r.get("cost_usd", 0) for r in prof.requests), places=9)
        self.assertEqual(totals["unpriced_requests"], 1)
        sub = [r for r in prof.requests if r.get("billing") == "subscription"]
        self.assertAlmostEqual(totals["subscription_cost_usd"], sum(r["cost_usd"] for r in sub), places=12)
        self.assertIn("request(s) of unknown price", prof.report)
        self.assertIn("API-equivalent", prof.report)

        # `tokentap report` by provider: the same money, from the record file.
        out = os.path.join(os.path.dirname(prof.capture), "records.pb")
        subprocess.run([TOKENTAP, "replay", prof.capture, "--out", out], check=True, capture_output=True, timeout=120)
        r = subprocess.run([TOKENTAP, "report", out, "--by", "provider", "--json"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = {j["key"]: j for j in map(json.loads, r.stdout.splitlines())}
        want = collections.defaultdict(float)
        for rec in prof.requests:
            want[rec["provider"]] += rec.get("cost_usd", 0)
        self.assertEqual(set(rows), set(want))
        for p, usd in want.items():
            self.assertAlmostEqual(rows[p]["cost_usd"], usd, places=8, msg=p)
        self.assertEqual(rows["deepseek"]["unpriced_requests"], 1)


class ClaudeCodeCloudMode:
    """Claude Code in a cloud provider's mode: `env` names the test server's helper for its variables."""
    mode_env = None
    provider = wire = api = None

    def setUp(self):
        self.h = installed(self, "claude-code")

    def test_say_hi(self):
        run_dir = tempfile.mkdtemp(dir=self.tmp.name)
        cmd, env, cwd = self.h.prepare(self.server, run_dir)
        env.pop("ANTHROPIC_BASE_URL", None)
        env.update(getattr(self.server, self.mode_env)(base={}))
        mark = self.server.mark()
        prof = self.profile(cmd, env=env, cwd=cwd, timeout=self.h.timeout + 120, expect_rc=None)
        context = "\ntokentap stderr (tail):\n%s\nreport:\n%s" % (prof.stderr[-3000:], prof.report)
        self.assertEqual(prof.rc, 0, "claude exited %s%s" % (prof.rc, context))
        llm = [r for r in self.server.records(mark) if r["provider"] != "none"]
        self.assertTrue(llm, "no LLM request reached the server%s" % context)
        self.assertEqual({(r["provider"], r["wire"], r["api"]) for r in llm}, {(self.provider, self.wire, self.api)})
        self.assert_same_as_server(prof, llm)
        for r in prof.requests:
            self.assertEqual((r["harness"], r["harness_version"]), (self.h.name, self.h.version))
            self.assertEqual(r["cost_source"], "price_table", "model %s not priced" % r["model"])
            self.assertGreater(r["cost_usd"], 0)
            self.assertTrue(r["price_entry"].startswith(self.provider + "/"), r["price_entry"])


class ClaudeCodeBedrockTest(ClaudeCodeCloudMode, E2ETestCase):
    mode_env = "claude_bedrock_env"
    provider, wire, api = "aws.bedrock", "bedrock_invoke", "invoke_model_stream"


class ClaudeCodeVertexTest(ClaudeCodeCloudMode, E2ETestCase):
    mode_env = "claude_vertex_env"
    provider, wire, api = "gcp.vertex_ai", "anthropic_messages", "messages"


if __name__ == "__main__":
    unittest.main()

"""End-to-end: the real agent harnesses (tests/e2e/harnesses.py), each on a short prompt against
the test LLM server, under `tokentap profile`.  The server's log is the ground truth: every API
request it served must be in tokentap's records with exactly its tokens and body bytes, named
with the harness, its version and a session id.

The harnesses come from scripts/install-harnesses.sh; a missing one FAILS the test (set
TOKENTAP_SKIP_HARNESSES=1 to skip instead).  Run one at a time (the classes are RUN_SERIAL).
"""

import collections
import json
import os
import tempfile
import unittest

from harnesses import API_KEY, SERVER_TOOL_CALLS, installed
from ttutil import E2ETestCase

BILLED_FIELDS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")


def path_only(p):
    return (p or "").split("?", 1)[0]


class HarnessRun:
    """Mixed into one E2ETestCase per harness; `harness` is its key in HARNESSES."""

    harness = None
    transports = None  # if set: the transports (server log) its API requests must have used
    server_options = {"auto_tool_calls": SERVER_TOOL_CALLS}

    def setUp(self):
        self.h = installed(self, self.harness)

    def test_say_hi(self):
        h = self.h
        run_dir = tempfile.mkdtemp(dir=self.tmp.name)
        cmd, env, cwd = h.prepare(self.server, run_dir)
        mark = self.server.mark()
        prof = self.profile(cmd, env=env, cwd=cwd, timeout=h.timeout + 120, expect_rc=None)
        srv = self.server.records(mark)
        self.save_for_watch(prof, srv)
        context = "\ntokentap stderr (tail):\n%s\nreport:\n%s" % (prof.stderr[-3000:], prof.report)
        # The harness ran to its end: tokentap passes its exit code through.
        self.assertEqual(prof.rc, 0, "%s exited %s%s" % (h.name, prof.rc, context))
        self.assertEqual(prof.run["exit_code"], 0)
        llm = [r for r in srv if r["provider"] != "none"]
        self.assertTrue(llm, "%s made no API request to the test server%s" % (h.name, context))
        # WebSocket upgrades are logged apart from the requests they carry (101, or 404 when
        # the server refuses them to make Codex fall back to HTTP/2).
        refused = [r for r in srv if r["status"] != 200 and not (r["api"] == "websocket" and r["provider"] == "none")]
        self.assertEqual(refused, [], "the server refused requests")
        if self.transports:
            self.assertEqual({r["transport"] for r in llm}, set(self.transports), "transports used")
        self.assertEqual({r["tls"] for r in llm}, {"TLSv1.2" if self.server_options.get("tls12") else "TLSv1.3"})
        self.assertIn(h.wire, {r["wire"] for r in llm})
        # A test server on loopback bills nobody: "local", on both sides.
        self.assertEqual({r["provider"] for r in llm}, {"local"})
        self.assertIn(h.api, {r["api"] for r in llm})

        # Every request the server served was seen: count per provider and path ...
        def count(recs):
            return collections.Counter((r["provider"], r.get("wire_format", r.get("wire")), path_only(r["path"]))
                                       for r in recs)
        self.assertEqual(count(prof.requests), count(llm),
                         "API requests per provider/path: tokentap vs the server log%s" % context)
        # ... with exactly the tokens the server sent, in total and per request, and the body bytes.
        billed = [r for r in llm if r["billable"] and r["usage_sent"]]
        for f in BILLED_FIELDS:
            self.assertEqual(sum(r[f] for r in prof.requests), sum(r["usage"][f] for r in billed), f)
        self.assert_same_as_server(prof, llm)

        # Each request names the harness, its version and a session.
        header_ids = {r["headers"].get(h.session_header) for r in llm} if h.session_header else set()
        for r in prof.requests:
            self.assertEqual((r.get("harness"), r.get("harness_version")), (h.name, h.version),
                             "request %s %s (user agent %r)" % (r["api"], r["model"], r.get("user_agent")))
            self.assertTrue(r.get("session_id"), "no session id: %s" % r)
        if h.session_header:
            self.assertNotIn(None, header_ids, "%s sent no %s header" % (h.name, h.session_header))
            self.assertEqual({r["session_id"] for r in prof.requests}, header_ids,
                             "session id should be the harness's %s header" % h.session_header)

        # The fake API key never reaches tokentap's records or report.
        js = os.path.join(os.path.dirname(prof.capture), "out.jsonl")
        with open(js) as f:
            self.assertNotIn(API_KEY, f.read())
        self.assertNotIn(API_KEY, prof.report)

    def save_for_watch(self, prof, srv):
        """Under scripts/release-watch.py (TOKENTAP_WATCH_DIR set): what this run saw, for its
        table; whether the test passed is unittest's to say."""
        out = os.environ.get("TOKENTAP_WATCH_DIR")
        if not out:
            return
        runs = [r for r in prof.records if r["type"] == "run"]
        facts = {
            "test": type(self).__name__, "harness": self.h.name, "expected_version": self.h.version,
            "identified": sorted({"%s %s" % (r.get("harness") or "?", r.get("harness_version") or "?")
                                  for r in prof.requests}),
            "requests_seen": len(prof.requests),
            "requests_served": len([r for r in srv if r["provider"] != "none"]),
            "capture_methods": sorted({r.get("capture_method", "") for r in prof.requests}),
            "tls_libraries": sorted({r.get("tls_library", "") for r in prof.requests}),
            "exit_code": prof.rc,
            "tls_hooks": runs[0].get("tls_hooks", []) if runs else [],
        }
        with open(os.path.join(out, type(self).__name__ + ".json"), "w") as f:
            json.dump(facts, f, indent=1)


# One class per harness (ctest runs each as e2e.harness.<Class>).
for _cls, _name in (("ClaudeCodeTest", "claude-code"), ("OpenCodeTest", "opencode"), ("KiloTest", "kilo"),
                    ("ClineTest", "cline"), ("GeminiCliTest", "gemini-cli"), ("PiTest", "pi"),
                    ("OpenClawTest", "openclaw"), ("QwenCodeTest", "qwen-code"), ("ContinueTest", "continue"),
                    ("DroidTest", "droid"), ("CopilotTest", "copilot-cli")):
    globals()[_cls] = type(_cls, (HarnessRun, E2ETestCase), {"harness": _name, "__module__": __name__})


class CodexTest(HarnessRun, E2ETestCase):
    """Codex over its Responses WebSocket (permessage-deflate): rustls plaintext via aws-lc's AEAD."""
    harness = "codex"
    transports = ("websocket",)


class CodexTls12Test(HarnessRun, E2ETestCase):
    """Codex when the server offers only TLS 1.2 (a TLS-inspecting proxy, say): rustls then seals
    AES-GCM records with EVP_AEAD_CTX_seal_scatter and an explicit nonce."""
    harness = "codex"
    transports = ("websocket",)
    server_options = {"auto_tool_calls": SERVER_TOOL_CALLS, "tls12": True}


class CodexHttp2Test(HarnessRun, E2ETestCase):
    """Codex's fallback when the WebSocket upgrade is refused: POST /v1/responses over HTTP/2."""
    harness = "codex"
    transports = ("h2",)
    server_options = {"auto_tool_calls": SERVER_TOOL_CALLS, "no_websocket": True}


if __name__ == "__main__":
    unittest.main()

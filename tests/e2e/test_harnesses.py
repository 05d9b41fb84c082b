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

from harnesses import AGENT_SDK_APP_NAME, API_KEY, AUGMENT_HOST, SERVER_TOOL_CALLS, installed
from ttutil import E2ETestCase

BILLED_FIELDS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")


def path_only(p):
    return (p or "").split("?", 1)[0]


def save_for_watch(test, prof, srv):
    """Under scripts/release-watch.py (TOKENTAP_WATCH_DIR set): what this run saw, for its table;
    whether the test passed is unittest's to say."""
    out = os.environ.get("TOKENTAP_WATCH_DIR")
    if not out:
        return
    runs = [r for r in prof.records if r["type"] == "run"]
    facts = {
        "test": type(test).__name__, "harness": test.h.name, "expected_version": test.h.version,
        "identified": sorted({"%s %s" % (r.get("harness") or "?", r.get("harness_version") or "?")
                              for r in prof.requests}),
        "requests_seen": len(prof.requests),
        "requests_served": len([r for r in srv if r["provider"] != "none"]),
        "capture_methods": sorted({r.get("capture_method", "") for r in prof.requests}),
        "tls_paths": sorted({(r.get("tls_library", ""), r.get("tls_binary", "")) for r in prof.requests}),
        "exit_code": prof.rc,
        "tls_hooks": runs[0].get("tls_hooks", []) if runs else [],
    }
    with open(os.path.join(out, type(test).__name__ + ".json"), "w") as f:
        json.dump(facts, f, indent=1)


def hook_how(prof, req):
    """How the run's tls_hooks say the request's library was found in its file: "method[, runtime]"."""
    for h in prof.run.get("tls_hooks", []):
        if (h["library"], h["path"], h["status"]) == (req["tls_library"], req["tls_binary"], "hooked"):
            return h["method"] + (", " + h["runtime"] if h.get("runtime") else "")
    return "?"


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
        save_for_watch(self, prof, srv)
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

        # Every request came through a hooked TLS library, and says which file; nothing of the
        # harness went unhooked (no warning: a refusal beside a hooked library is not one).
        for r in prof.requests:
            self.assertEqual(r["capture_method"], "plaintext")
            self.assertTrue(r.get("tls_library") and r.get("tls_binary"), r)
        self.assertNotIn("cannot instrument", prof.stderr)
        # The report names those files, and no other.
        from_line = [ln for ln in prof.report.splitlines() if ln.startswith("TLS plaintext from: ")]
        self.assertEqual(len(from_line), 1, prof.report)
        self.assertEqual(sorted(from_line[0][len("TLS plaintext from: "):].split("; ")),
                         sorted({"%s (%s) in %s" % (r["tls_library"], hook_how(prof, r), r["tls_binary"])
                                 for r in prof.requests}))
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


def last_json_line(text):
    """The last line of a program's output that is a JSON object."""
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise AssertionError("no JSON line in output:\n%s" % text[-2000:])


def profile_printing_json(test, h):
    """Runs harness h under tokentap profile; checks it exited 0 and printed a JSON line.
    Returns (Profiled, that JSON, the server's log lines of the run, context for messages)."""
    run_dir = tempfile.mkdtemp(dir=test.tmp.name)
    cmd, env, cwd = h.prepare(test.server, run_dir)
    mark = test.server.mark()
    prof = test.profile(cmd, env=env, cwd=cwd, timeout=h.timeout + 120, expect_rc=None)
    context = "\ntokentap stderr (tail):\n%s\nreport:\n%s" % (prof.stderr[-3000:], prof.report)
    srv = test.server.records(mark)
    save_for_watch(test, prof, srv)
    test.assertEqual(prof.rc, 0, "%s exited %s%s\nstdout:\n%s" % (h.name, prof.rc, context, prof.stdout[-2000:]))
    return prof, last_json_line(prof.stdout), srv, context


def assert_no_key(test, prof):
    """The fake API key (or sign-in token) never reaches tokentap's records or report."""
    with open(prof.json_path) as f:
        test.assertNotIn(API_KEY, f.read())
    test.assertNotIn(API_KEY, prof.report)


class AgentSdkTest(E2ETestCase):
    """A program built on the Claude Agent SDK (tests/clients/agent_sdk_app.mjs): the SDK runs the
    Claude Code binary of its platform package, which makes the API call. Each request is exact
    against the server's log, names the harness (Claude Code, its version) and the program that
    embeds it (the SDK and its version, the app's own name, its process), with the session id the
    SDK's messages carried."""
    harness = "claude-agent-sdk"  # its key in EMBEDDED

    def setUp(self):
        self.h = installed(self, self.harness)

    def test_query(self):
        h = self.h
        prof, printed, srv, context = profile_printing_json(self, h)
        self.assertEqual(len(printed["session_ids"]), 1, printed)
        llm = [r for r in srv if r["provider"] != "none"]
        self.assertTrue(llm, "no API request reached the server%s" % context)
        self.assert_same_as_server(prof, llm)

        procs = {p["pid"]: p for p in prof.processes}
        app_pid = procs[prof.requests[0]["pid"]]["ppid"]
        for r in prof.requests:
            self.assertEqual((r["harness"], r["harness_version"]), (h.name, h.version))
            self.assertTrue(r["exe"].endswith("/claude-agent-sdk-linux-x64/claude"), r["exe"])
            # The program that embeds it: the app's node process, Claude Code's parent.
            self.assertEqual(r["app"], {"sdk": "claude-agent-sdk", "sdk_version": h.installed_version(),
                                        "name": AGENT_SDK_APP_NAME, "pid": app_pid, "program": h.entry_path,
                                        "package": ""},  # tests/clients has no package.json
                             "app of request %s" % r["pid"])
            self.assertEqual(procs[app_pid]["comm"], "node")
            self.assertEqual(r["session_id"], printed["session_ids"][0], "session id: the SDK's")
            self.assertEqual(r["session_source"], "header:x-claude-code-session-id")
        self.assertEqual({s["headers"]["x-claude-code-session-id"] for s in llm}, set(printed["session_ids"]))
        # Its session names the app too, and the report says so under it.
        sessions = [r for r in prof.records if r["type"] == "session"]
        self.assertEqual([s["app"] for s in sessions], [prof.requests[0]["app"]])
        self.assertIn("\n    run by %s on claude-agent-sdk %s, pid %d %s\n" % (
            AGENT_SDK_APP_NAME, h.installed_version(), app_pid, h.entry_path), prof.report)
        assert_no_key(self, prof)


class AuggieTest(E2ETestCase):
    """Auggie (Augment's CLI) against the test server as its tenant backend (d1.api.augmentcode.com,
    resolved to it inside the Node process). Augment's chat stream carries no token usage: every
    Augment request the server served is in tokentap's records, named augment / auggie, with its
    body bytes exact and its tokens estimated, marked so, equal to the server's own estimate of
    the same text (llmserver augment_estimate: ceil(bytes / 4) of the request's string values and
    of the answer's text)."""
    harness = "auggie"

    def setUp(self):
        self.h = installed(self, self.harness)

    def test_say_hi(self):
        h = self.h
        prof, printed, srv, context = profile_printing_json(self, h)
        self.assertEqual([r for r in srv if r["status"] != 200], [], "the server refused requests")
        augment = [r for r in srv if r["provider"] == "augment"]
        self.assertTrue(augment, "auggie made no chat request%s" % context)
        self.assertEqual({(r["wire"], r["api"], r["sni"]) for r in augment}, {("augment", "chat_stream", AUGMENT_HOST)})
        self.assertEqual([r for r in srv if r["provider"] not in ("augment", "none")], [])

        # Every Augment request, each with its bytes exact and the server's estimate.
        def key(r, est=None):
            if est is None:
                return (r["request_bytes"], r["response_bytes"], r["input_tokens"], r["output_tokens"])
            return (r["request_body_bytes"], r["response_body_bytes"], est["input_tokens"], est["output_tokens"])
        self.assertEqual(sorted(key(r) for r in prof.requests),
                         sorted(key(r, r["estimated_usage"]) for r in augment), "tokentap vs the server%s" % context)
        for r in prof.requests:
            self.assertEqual((r["provider"], r["wire_format"], r["api"], r["host"]),
                             ("augment", "augment", "chat_stream", "%s:%d" % (AUGMENT_HOST, self.server.port)))
            self.assertEqual((r["harness"], r["harness_version"]), (h.name, h.version))
            self.assertEqual(r["usage_source"], "estimated", "Augment's tokens can only be estimated")
            self.assertEqual(r["error"], "response has no usage")
            self.assertTrue(r["complete"], r)
            for f in ("cache_read_tokens", "cache_write_tokens", "reasoning_tokens"):
                self.assertEqual(r[f], 0, f)
            self.assertEqual(r["billing"], "subscription")
            self.assertEqual(r["stop_reason"], "end_turn")
            # Its session: the conversation, the session id auggie printed.
            self.assertEqual((r["session_id"], r["session_source"]), (printed["session_id"], "body:root_conversation_id"))
        self.assertEqual({s["body_ids"]["conversation_id"] for s in augment}, {printed["session_id"]})

        run = prof.run
        self.assertEqual((run["api_requests"], run["estimated_requests"]), (len(augment), len(augment)))
        for f in ("input_tokens", "output_tokens"):
            self.assertEqual(run["totals"][f], sum(r["estimated_usage"][f] for r in augment), f)
        cap = run["capture"]
        self.assertEqual((cap["events_lost"], cap["bytes_lost"], cap["bytes_unparsed"], cap["parse_errors"]),
                         (0, 0, 0, 0), "capture losses: %s" % cap)
        self.assertIn("marked ~", prof.report)
        assert_no_key(self, prof)


if __name__ == "__main__":
    unittest.main()

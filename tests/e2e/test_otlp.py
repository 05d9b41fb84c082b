"""End-to-end: `tokentap profile --otlp-endpoint` (and `replay --otlp-endpoint`) against an OTLP/HTTP
receiver that decodes every payload with the official OpenTelemetry protobuf definitions
(tests/otlp/receiver.mjs; scripts/install-otlp-receiver.sh installs them into the build tree).

Node clients make requests of every provider with known usage (cache reads and writes included)
against the test LLM server. The metrics' token sums and counts per token type and provider must be
exactly the server log's; there must be one span per request with its exact gen_ai.usage.* values;
the buckets must be the conventions'; no byte of any payload may hold prompt text. A collector that
fails must be reported, not ignored.
"""

import collections
import glob
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

from ttutil import CLIENTS, NODE, TESTS, TOKENTAP, E2ETestCase, run_group

OTLP_NODE_DIR = os.environ.get("TOKENTAP_OTLP_NODE_DIR") or os.path.join(os.path.dirname(TESTS), "build", "otlp-node")
RECEIVER = os.path.join(TESTS, "otlp", "receiver.mjs")
ROOT_JS = "node_modules/@opentelemetry/otlp-transformer/build/src/generated/root.js"

TOKEN_BOUNDS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
DURATION_BOUNDS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
# Text the clients send in their prompts (tests/clients/node_client.mjs): never in an export.
PROMPT_TEXTS = [b"say something about tokens", b"lorem ipsum dolor", b"You are a test assistant"]


class Receiver:
    """tests/otlp/receiver.mjs on a free loopback port, writing into its own directory."""

    def __init__(self, workdir, status=200):
        self.dir = tempfile.mkdtemp(dir=workdir, prefix="otlp-")
        self.out = os.path.join(self.dir, "out")
        ready = os.path.join(self.dir, "port")
        self.err = open(os.path.join(self.dir, "receiver.err"), "w+")
        self.proc = subprocess.Popen([NODE, RECEIVER, "--node-dir", OTLP_NODE_DIR, "--out", self.out, "--ready", ready,
                                      "--status", str(status)], stdin=subprocess.DEVNULL, stdout=self.err,
                                     stderr=self.err)
        deadline = time.time() + 30
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.time() > deadline:
                self.err.seek(0)
                raise RuntimeError("OTLP receiver did not start:\n" + self.err.read())
            time.sleep(0.05)
        with open(ready) as f:
            self.url = "http://127.0.0.1:%s" % f.read().strip()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        self.err.close()

    def requests(self, path=None):
        out = []
        for name in sorted(glob.glob(os.path.join(self.out, "*.json"))):
            with open(name) as f:
                r = json.load(f)
            if path in (None, r["path"]):
                out.append(r)
        return out

    def raw_bytes(self):
        data = b""
        for name in sorted(glob.glob(os.path.join(self.out, "*.bin"))):
            with open(name, "rb") as f:
                data += f.read()
        return data


def attrs(kvs):
    """OTLP KeyValue list (as decoded) to a dict of plain values (ints as int)."""
    out = {}
    for kv in kvs:
        v = kv["value"]
        if "intValue" in v:
            out[kv["key"]] = int(v["intValue"])
        elif "arrayValue" in v:
            out[kv["key"]] = [e.get("stringValue") for e in v["arrayValue"].get("values", [])]
        else:
            out[kv["key"]] = next(iter(v.values()))
    return out


def metrics_by_name(request):
    out = {}
    for rm in request["resourceMetrics"]:
        for sm in rm["scopeMetrics"]:
            for m in sm["metrics"]:
                out[m["name"]] = m
    return out


def spans_of(requests):
    return [s for r in requests for rs in r["request"]["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]


def semconv_input(u):
    """gen_ai.usage.input_tokens counts cache reads and writes in (tokentap's input_tokens does not)."""
    return u["input_tokens"] + u["cache_read_tokens"] + u["cache_write_tokens"]


class OtlpTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(os.path.join(OTLP_NODE_DIR, ROOT_JS)):
            raise RuntimeError("the OTLP receiver's definitions are not in %s: run scripts/install-otlp-receiver.sh "
                               "(or set TOKENTAP_OTLP_NODE_DIR)" % OTLP_NODE_DIR)
        super().setUpClass()

    def receiver(self, **kw):
        r = Receiver(self.tmp.name, **kw)
        self.addCleanup(r.stop)
        return r

    def node(self, *args):
        return subprocess.list2cmdline(
            [NODE, os.path.join(CLIENTS, "node_client.mjs"), "--base-url", self.server.base_url, "--ca",
             self.server.ca_path, *args])

    def assert_decoded_whole(self, rcv):
        """Every payload decoded by the official definitions, every byte of it understood."""
        reqs = rcv.requests()
        self.assertTrue(reqs, "the receiver got nothing")
        for r in reqs:
            self.assertNotIn("decode_error", r, r)
            self.assertEqual(r["content_type"], "application/x-protobuf")
            self.assertEqual(r["reencoded_bytes"], r["bytes"], "fields the official definitions do not know: %s" % r)
        raw = rcv.raw_bytes()
        for text in PROMPT_TEXTS:
            self.assertNotIn(text, raw, "prompt text in an OTLP payload")

    def assert_metrics_match(self, rcv, billable, all_llm):
        """The last (cumulative) export's histograms against the server's log."""
        last = rcv.requests("/v1/metrics")[-1]["request"]
        res = attrs(last["resourceMetrics"][0]["resource"]["attributes"])
        self.assertEqual((res["service.name"], res["host.name"]), ("tokentap", socket.gethostname()))
        m = metrics_by_name(last)
        usage, duration = m["gen_ai.client.token.usage"], m["gen_ai.client.operation.duration"]
        self.assertEqual((usage["unit"], duration["unit"]), ("{token}", "s"))
        for metric, bounds in ((usage, TOKEN_BOUNDS), (duration, DURATION_BOUNDS)):
            self.assertEqual(metric["histogram"]["aggregationTemporality"], "AGGREGATION_TEMPORALITY_CUMULATIVE")
            for p in metric["histogram"]["dataPoints"]:
                self.assertEqual(p["explicitBounds"], bounds)
                self.assertEqual(sum(int(c) for c in p["bucketCounts"]), int(p["count"]))
        got = collections.Counter()
        want = collections.Counter()
        for p in usage["histogram"]["dataPoints"]:
            a = attrs(p["attributes"])
            key = (a["gen_ai.provider.name"], a["gen_ai.request.model"], a["gen_ai.token.type"])
            got[key + ("sum",)] += int(p["sum"])
            got[key + ("count",)] += int(p["count"])
            self.assertEqual(a["gen_ai.operation.name"], "generate_content" if key[1].startswith("gemini") else "chat")
        for r in billable:
            for t, n in (("input", semconv_input(r["usage"])), ("output", r["usage"]["output_tokens"])):
                key = (r["provider"], r["model"], t)
                want[key + ("sum",)] += n
                want[key + ("count",)] += 1
        self.assertEqual(got, want)
        self.assertEqual(sum(int(p["count"]) for p in duration["histogram"]["dataPoints"]), len(all_llm))

    def span_usage(self, spans):
        """Each span's provider, model and usage, sorted; -1 where the span has no such attribute."""
        keys = ("gen_ai.provider.name", "gen_ai.request.model", "gen_ai.usage.input_tokens",
                "gen_ai.usage.output_tokens", "gen_ai.usage.cache_read.input_tokens",
                "gen_ai.usage.cache_creation.input_tokens")
        return sorted(tuple(attrs(s["attributes"]).get(k, -1) for k in keys) for s in spans)

    def assert_spans_match(self, rcv, all_llm):
        spans = spans_of(rcv.requests("/v1/traces"))
        want = []
        for r in all_llm:
            u = r["usage"]
            usage = ((semconv_input(u), u["output_tokens"], u["cache_read_tokens"], u["cache_write_tokens"])
                     if r["billable"] else (-1,) * 4)
            want.append((r["provider"], r["model"]) + usage)
        self.assertEqual(self.span_usage(spans), sorted(want))
        ids = {attrs(s["attributes"]).get("gen_ai.response.id") for s in spans}
        self.assertTrue({r["response_id"] for r in all_llm if r["response_id"]} <= ids)
        for s in spans:
            self.assertEqual(s["kind"], "SPAN_KIND_CLIENT")
            self.assertEqual(len(s["traceId"]), 24)  # 16 bytes, base64
            self.assertGreater(int(s["endTimeUnixNano"]), int(s["startTimeUnixNano"]))
        self.assertEqual(len({s["spanId"] for s in spans}), len(spans))
        return spans

    def test_profile_exports_exactly_what_the_server_logged(self):
        rcv = self.receiver()
        script = " && ".join([
            self.node("--api", "anthropic", "--requests", "3", "--stream", "--body-bytes", "3000",
                      "--header", "x-test-usage:cache_write_5m=40,cache_write_1h=2,output=77"),
            self.node("--api", "anthropic-count"),
            self.node("--api", "openai-chat", "--requests", "2", "--stream", "--body-bytes", "9000"),
            self.node("--api", "openai-responses"),
            self.node("--api", "gemini", "--requests", "2", "--body-bytes", "500000"),
        ])
        mark = self.server.mark()
        prof = self.profile(["/bin/sh", "-c", script], extra_args=["--otlp-endpoint", rcv.url])
        srv = [r for r in self.server.records(mark) if r["provider"] != "none"]
        self.assertEqual(len(srv), 9)
        self.assert_same_as_server(prof, srv)
        self.assertNotIn("OTLP", prof.stderr)
        billable = [r for r in srv if r["billable"]]
        self.assertEqual(len(billable), 8)
        self.assertTrue(any(r["usage"]["cache_write_tokens"] and r["usage"]["cache_read_tokens"] for r in billable))
        self.assert_decoded_whole(rcv)
        self.assert_metrics_match(rcv, billable, srv)
        spans = self.assert_spans_match(rcv, srv)
        # Who sent them: tokentap's attribution travels as tokentap.* attributes.
        for s in spans:
            a = attrs(s["attributes"])
            self.assertEqual(a["process.executable.name"], "node")
            self.assertTrue(a["tokentap.session.id"])

        # The capture replayed gives the same export.
        again = self.receiver()
        rc, _, err = run_group([TOKENTAP, "replay", "-q", "--otlp-endpoint", again.url, prof.capture])
        self.assertEqual(rc, 0, err)
        self.assert_decoded_whole(again)
        self.assert_metrics_match(again, billable, srv)
        self.assertEqual(self.span_usage(spans_of(again.requests("/v1/traces"))), self.span_usage(spans))

    def test_a_failing_collector_is_reported(self):
        rcv = self.receiver(status=500)
        mark = self.server.mark()
        prof = self.profile(["/bin/sh", "-c", self.node("--api", "anthropic")],
                            extra_args=["--otlp-endpoint", rcv.url])
        self.assertEqual(len(self.server.records(mark)), 1)
        self.assertEqual(len(prof.requests), 1)  # the other outputs are whole
        self.assertIn("/v1/traces failed after 1 attempt(s): HTTP 500", prof.stderr)
        self.assertIn("1 span(s) not sent", prof.stderr)
        self.assertEqual([r["path"] for r in rcv.requests()], ["/v1/metrics", "/v1/traces"])

    def test_daemon_exports_from_its_spool(self):
        """The daemon's confined parser has no network: the shipper's process exports what the
        spool holds, and the last of it when the daemon stops."""
        rcv = self.receiver()
        d = tempfile.mkdtemp(dir=self.tmp.name)
        err = open(os.path.join(d, "daemon.err"), "w+")
        self.addCleanup(err.close)
        daemon = subprocess.Popen([TOKENTAP, "daemon", "--spool", os.path.join(d, "spool"), "--otlp-endpoint", rcv.url],
                                  stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True)
        self.addCleanup(lambda: daemon.poll() is None and daemon.kill())
        def log():
            with open(err.name) as f:
                return f.read()
        deadline = time.time() + 120
        while "daemon ready" not in log():
            self.assertIsNone(daemon.poll(), log())
            self.assertLess(time.time(), deadline, "daemon not ready")
            time.sleep(0.05)
        mark = self.server.mark()
        script = " && ".join([self.node("--api", "anthropic", "--requests", "3", "--stream", "--interval", "0.2",
                                        "--header", "x-test-usage:cache_write_5m=40,output=77"),
                              self.node("--api", "openai-chat", "--requests", "2", "--interval", "0.2")])
        rc, _, cerr = run_group(["/bin/sh", "-c", script], timeout=120)
        self.assertEqual(rc, 0, cerr)
        srv = [r for r in self.server.records(mark) if r["provider"] != "none"]
        self.assertEqual(len(srv), 5)
        time.sleep(2)  # spooled: fsync'd within a second
        daemon.send_signal(signal.SIGTERM)
        self.assertEqual(daemon.wait(timeout=120), 0, log())
        self.assertIn("OTLP: ", log())
        self.assert_decoded_whole(rcv)
        self.assert_metrics_match(rcv, srv, srv)
        self.assert_spans_match(rcv, srv)

    def test_bad_endpoint_and_isolate_are_refused(self):
        for args in (["--otlp-endpoint", "127.0.0.1:4318"], ["--isolate", "--otlp-endpoint", "http://127.0.0.1:9"]):
            p = subprocess.run([TOKENTAP, "replay", *args, "/nonexistent.ttcap"], capture_output=True, text=True)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("otlp-endpoint", p.stderr)

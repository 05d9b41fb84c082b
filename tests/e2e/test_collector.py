"""End-to-end: daemons ship their spool to `tokentap collector`, which loses and doubles nothing.

Two daemons (each includes only its own cgroup, so each request is one daemon's) ship through a
TCP relay that the test can cut, to one collector (TLS, bearer token). While Node clients in both
cgroups make requests to the test server, the collector is SIGKILLed and restarted, the link is cut
for a while and restored, and a daemon is restarted with records waiting in its spool. At the end
the collector's database holds exactly the requests the test server logged (no duplicate, no gap,
the same tokens), read back with `tokentap report --db`. Once on SQLite, once on PostgreSQL (a real
server, initdb + pg_ctl as nobody in a temporary directory).
"""

import collections
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

from pgserver import PgServer
from test_attribution import CGROOT
from ttutil import TOKENTAP, E2ETestCase

WARMUP_MODEL = "claude-warmup"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Relay:
    """127.0.0.1:port -> 127.0.0.1:target, byte for byte (TLS passes through). cut() drops every
    connection and refuses new ones until restore()."""

    def __init__(self, target):
        self.target, self.port = target, free_port()
        self.conns, self.lock, self.listener = [], threading.Lock(), None
        self.restore()

    def restore(self):
        self.listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        threading.Thread(target=self.accept, args=(self.listener,), daemon=True).start()

    def cut(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread (close alone would not)
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            self.conns = []

    def accept(self, listener):
        while True:
            try:
                a, _ = listener.accept()
            except OSError:
                return
            try:
                b = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                a.close()
                continue
            with self.lock:
                self.conns += [a, b]
            for x, y in ((a, b), (b, a)):
                threading.Thread(target=self.pump, args=(x, y), daemon=True).start()

    @staticmethod
    def pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Proc:
    """A tokentap process in the background, its stderr in a file."""

    def __init__(self, test, name, argv, ready):
        self.test, self.argv, self.ready = test, argv, ready
        self.err_path = os.path.join(test.dir, name + ".err")
        self.p = None

    def start(self):
        before = self.stderr().count(self.ready) if os.path.exists(self.err_path) else 0
        self.err = open(self.err_path, "a+")
        self.p = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self.err, stderr=self.err,
                                  start_new_session=True)
        self.test.addCleanup(lambda p=self.p: p.poll() is None and p.kill())
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.stderr().count(self.ready) > before:
                return self
            if self.p.poll() is not None:
                self.test.fail("%s exited %s:\n%s" % (self.argv[1], self.p.returncode, self.stderr()[-3000:]))
            time.sleep(0.05)
        self.test.fail("%s not ready:\n%s" % (self.argv[1], self.stderr()[-3000:]))

    def stderr(self):
        with open(self.err_path) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM):
        self.p.send_signal(sig)
        rc = self.p.wait(timeout=120)
        self.err.close()
        if sig == signal.SIGTERM:
            self.test.assertEqual(rc, 0, self.stderr()[-3000:])


class CollectorRun:
    """What each backend's test does; db_url() names the database."""

    def setUp(self):
        if not CGROOT:
            self.skipTest("no cgroup v2 mount")
        self.dir = tempfile.mkdtemp(dir=self.tmp.name)
        certs = self.server.cert_dir
        self.ca = os.path.join(certs, "ca.pem")
        self.token = os.path.join(self.dir, "token")
        with open(self.token, "w") as f:
            f.write("tt-%s\n" % uuid.uuid4().hex)
        self.col_port = free_port()
        self.collector = Proc(self, "collector", [
            TOKENTAP, "collector", "--listen", "127.0.0.1:%d" % self.col_port, "--db", self.db_url(),
            "--token-file", self.token, "--tls-cert", os.path.join(certs, "server.pem"),
            "--tls-key", os.path.join(certs, "server.key")], "collector listening").start()
        self.relay = Relay(self.col_port)
        self.addCleanup(self.relay.cut)
        tag = uuid.uuid4().hex[:8]
        self.cgroups = {}
        for name in ("a", "b"):
            self.cgroups[name] = "/tt-col-%s-%s" % (name, tag)
            os.mkdir(CGROOT + self.cgroups[name])
            self.addCleanup(self.remove_cgroup, self.cgroups[name])
        self.daemons = {name: self.daemon(name) for name in ("a", "b")}

    def remove_cgroup(self, path):
        for _ in range(100):
            try:
                os.rmdir(CGROOT + path)
                return
            except OSError:
                time.sleep(0.05)

    def daemon(self, name):
        conf = os.path.join(self.dir, "daemon-%s.toml" % name)
        with open(conf, "w") as f:
            f.write('[include]\ncgroups = ["%s"]\n[daemon]\nsummary_interval = 1\n' % self.cgroups[name])
        return Proc(self, "daemon-" + name, [
            TOKENTAP, "daemon", "--config", conf, "--spool", os.path.join(self.dir, "spool-" + name),
            "--json", os.path.join(self.dir, "daemon-%s.jsonl" % name),
            "--collector", "127.0.0.1:%d" % self.relay.port, "--collector-ca", self.ca,
            "--token-file", self.token], "daemon ready").start()

    def clients(self, name, requests, model="claude-sonnet-4-5", interval="0.05"):
        """A Node client inside cgroup `name`, in the background."""
        script = 'echo $$ > "$0/cgroup.procs" && exec "$@"'
        cmd = ["/bin/sh", "-c", script, CGROOT + self.cgroups[name],
               *self.client("node", "--requests", str(requests), "--interval", interval, "--model", model,
                            "--stream")]
        return subprocess.Popen(cmd, env=self.server.client_env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)

    def wait(self, procs):
        for p in procs:
            _, err = p.communicate(timeout=300)
            self.assertEqual(p.returncode, 0, err.decode()[-2000:])

    def stored_requests(self):
        r = subprocess.run([TOKENTAP, "report", "--db", self.db_url(), "--json"], capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        port = ":%d" % self.server.port
        return [j for j in map(json.loads, r.stdout.splitlines())
                if j.get("host", "").endswith(port) and j.get("model") != WARMUP_MODEL]

    def diagnose(self, since):
        """Which requests the collector lacks, by response id: captured by which daemon, or by none."""
        ids = lambda recs: {r["response_id"] for r in recs}
        lacking = ids(self.server.llm_records(since)) - ids(self.stored_requests())
        logs = "\n%d request(s) not in the collector" % len(lacking)
        for n in sorted(os.listdir(self.dir)):
            if n.startswith("daemon-") and n.endswith(".jsonl"):
                with open(os.path.join(self.dir, n)) as f:
                    mine = ids(j for j in map(json.loads, f) if j["type"] == "request")
                logs += "; %d of them in %s" % (len(lacking & mine), n)
                lacking -= mine
        return logs + "; %d captured by no daemon" % len(lacking)

    def test_nothing_lost_or_doubled(self):
        # Each daemon examines node once, holding its first process at its first connect. Two
        # daemons on one host (not how tokentap is deployed: one per machine) both hold it, and the
        # one that leaves it out lets it go at once: the other may miss its first request, and
        # must still find it alive to examine node. So warm-up clients that live for a second,
        # whose requests are not counted; after them neither daemon holds a node process again.
        self.wait([self.clients(n, 3, WARMUP_MODEL, interval="0.5") for n in ("a", "b")])
        since = self.server.mark()
        running = [self.clients(n, 40) for n in ("a", "b")]
        time.sleep(1)
        self.collector.stop(signal.SIGKILL)  # mid-stream
        time.sleep(1)
        self.collector.start()
        time.sleep(1)
        self.relay.cut()  # the network goes away for a while
        time.sleep(3)
        self.relay.restore()
        self.wait(running)
        # A daemon restarted with records waiting in its spool (the link down meanwhile).
        self.relay.cut()
        self.wait([self.clients("a", 5)])
        time.sleep(1.5)  # spooled (fsync'd every second)
        self.daemons["a"].stop()
        os.rename(os.path.join(self.dir, "daemon-a.jsonl"), os.path.join(self.dir, "daemon-a.first.jsonl"))
        self.daemons["a"].start()
        self.relay.restore()
        self.wait([self.clients(n, 10) for n in ("a", "b")])
        want = collections.Counter(self.server_key(r) for r in self.server.llm_records(since))
        self.assertEqual(sum(want.values()), 2 * 40 + 5 + 2 * 10)
        got = collections.Counter()
        deadline = time.time() + 120
        while time.time() < deadline:
            got = collections.Counter(self.tt_key(r) for r in self.stored_requests())
            if got == want:
                break
            time.sleep(1)
        for d in self.daemons.values():
            d.stop()
        self.collector.stop()
        logs = self.diagnose(since)
        logs += "".join("\n--- %s:\n%s" % (n, p.stderr()[-2500:])
                       for n, p in (("daemon a", self.daemons["a"]), ("daemon b", self.daemons["b"]),
                                    ("collector", self.collector)))
        self.assertEqual(want - got, collections.Counter(), "requests missing from the collector" + logs)
        self.assertEqual(got - want, collections.Counter(), "requests stored twice or never made")
        self.assertIn("already held", self.daemons["a"].stderr())  # its shipper's summary line


class SqliteCollectorTest(CollectorRun, E2ETestCase):
    def db_url(self):
        return "sqlite:" + os.path.join(self.dir, "collector.db")


class PostgresCollectorTest(CollectorRun, E2ETestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pg = PgServer().start()

    @classmethod
    def tearDownClass(cls):
        cls.pg.stop()
        super().tearDownClass()

    def db_url(self):
        if not hasattr(self, "_db"):
            self._db = self.pg.create_database("tt_" + uuid.uuid4().hex[:8])
        return self._db


if __name__ == "__main__":
    unittest.main()


def load_protos(out_dir):
    """records_pb2 and collector_pb2, generated from schemas/ with Debian's protoc."""
    import importlib
    import sys
    schemas = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "schemas")
    subprocess.run(["protoc", "--python_out=" + out_dir, "-I", schemas,
                    os.path.join(schemas, "tokentap/v1/records.proto"),
                    os.path.join(schemas, "tokentap/v1/collector.proto")], check=True)
    sys.path.insert(0, out_dir)
    return (importlib.import_module("tokentap.v1.records_pb2"), importlib.import_module("tokentap.v1.collector_pb2"))


def closed_by_peer(sock, timeout=10):
    """Whether the other end closes (or resets) the connection within timeout."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


class GrpcClient:
    """A collector in a temporary directory, and a Python gRPC client of its Ship call."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        import grpc
        cls.grpc = grpc
        cls.records_pb2, cls.collector_pb2 = load_protos(tempfile.mkdtemp(dir=cls.tmp.name))

    def setUp(self):
        self.dir = tempfile.mkdtemp(dir=self.tmp.name)
        certs = self.server.cert_dir
        self.token = "tt-%s" % uuid.uuid4().hex
        token_file = os.path.join(self.dir, "token")
        with open(token_file, "w") as f:
            f.write("# the team's daemons\n%s\n" % self.token)
        self.db = "sqlite:" + os.path.join(self.dir, "collector.db")
        self.port = free_port()
        self.collector = Proc(self, "collector", [
            TOKENTAP, "collector", "--listen", "127.0.0.1:%d" % self.port, "--db", self.db,
            *self.auth_args(token_file), "--tls-cert", os.path.join(certs, "server.pem"),
            "--tls-key", os.path.join(certs, "server.key"), *self.extra_args()], "collector listening").start()
        self.ship_call = self.client_call()

    def client_call(self, cert=None):
        """The Ship call on a channel of its own; cert: (chain, key) PEM for mutual TLS."""
        with open(os.path.join(self.server.cert_dir, "ca.pem"), "rb") as f:
            ca = f.read()
        creds = self.grpc.ssl_channel_credentials(root_certificates=ca, certificate_chain=cert and cert[0],
                                                  private_key=cert and cert[1])
        channel = self.grpc.secure_channel("127.0.0.1:%d" % self.port, creds,
                                           options=[("grpc.max_send_message_length", 64 << 20)])
        self.addCleanup(channel.close)
        return channel.stream_stream(
            "/tokentap.v1.Collector/Ship", request_serializer=self.collector_pb2.ShipBatch.SerializeToString,
            response_deserializer=self.collector_pb2.ShipAck.FromString)

    def auth_args(self, token_file):
        return ["--token-file", token_file]

    def extra_args(self):
        return []

    def batch(self, number, run_id, seqs, pad=0):
        b = self.collector_pb2.ShipBatch(batch=number, host="test-host")
        for q in seqs:
            r = b.records.add()
            r.seq = q
            r.request.run_id = run_id
            r.request.model = "claude-sonnet-4-5" + "x" * pad
            r.request.input_tokens = 10
            r.request.output_tokens = q
            r.request.host = "api.anthropic.com"
            r.request.provider, r.request.api, r.request.billable = "anthropic", "messages", True
            r.request.status, r.request.complete, r.request.usage_source = 200, True, "exact"
            r.request.start_unix_ns, r.request.end_unix_ns = 1796000000000000000 + q, 1796000001000000000 + q
        return b

    def ship(self, batches, token=None, call=None):
        md = [] if token is None else [("authorization", "Bearer " + token)]
        return list((call or self.ship_call)(iter(batches), metadata=md, timeout=30))

    def refused(self, batches, token, call=None):
        with self.assertRaises(self.grpc.RpcError) as cm:
            self.ship(batches, token, call)
        return cm.exception

    def stored_count(self):
        r = subprocess.run([TOKENTAP, "report", "--db", self.db, "--json"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return len(r.stdout.splitlines())



class CollectorBadInputTest(GrpcClient, E2ETestCase):
    """Each bad input gets a clear refusal or is handled, and none stops a good daemon's batches."""

    def test_a_good_batch_is_acked_once_stored(self):
        acks = self.ship([self.batch(1, "run-good", [1, 2, 3]), self.batch(2, "run-good", [4])], self.token)
        self.assertEqual([(a.batch, a.stored, a.duplicates) for a in acks], [(1, 3, 0), (2, 1, 0)])
        self.assertEqual(self.stored_count(), 4)

    def test_missing_and_wrong_token_are_refused(self):
        e = self.refused([self.batch(1, "run-x", [1])], None)
        self.assertEqual((e.code(), e.details()), (self.grpc.StatusCode.UNAUTHENTICATED, "no token"))
        e = self.refused([self.batch(1, "run-x", [1])], "not-the-token")
        self.assertEqual((e.code(), e.details()), (self.grpc.StatusCode.UNAUTHENTICATED, "wrong token"))
        self.assertEqual(self.stored_count(), 0)

    def test_replayed_old_batch_is_stored_once(self):
        first = self.ship([self.batch(1, "run-replay", [1, 2, 3])], self.token)
        again = self.ship([self.batch(1, "run-replay", [1, 2, 3]), self.batch(2, "run-replay", [3, 4])], self.token)
        self.assertEqual([(a.stored, a.duplicates) for a in first + again], [(3, 0), (0, 3), (1, 1)])
        self.assertEqual(self.stored_count(), 4)

    def test_out_of_order_batch_and_records_without_id(self):
        e = self.refused([self.batch(1, "run-o", [1]), self.batch(5, "run-o", [2])], self.token)
        self.assertEqual(e.code(), self.grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("out of order", e.details())
        acks = self.ship([self.batch(1, "run-o", [0, 3]), self.batch(2, "", [4])], self.token)  # no seq; no run_id
        self.assertEqual([(a.stored, a.duplicates, a.rejected) for a in acks], [(1, 0, 1), (0, 0, 1)])
        self.assertEqual(self.stored_count(), 2)  # seq 1 from the refused stream's first batch, and 3

    def test_oversized_message_is_refused(self):
        e = self.refused([self.batch(1, "run-big", [1], pad=20 << 20)], self.token)
        self.assertEqual(e.code(), self.grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertEqual(self.stored_count(), 0)

    def test_garbage_and_stalled_clients_do_not_stop_the_others(self):
        garbage = socket.create_connection(("127.0.0.1", self.port))
        garbage.sendall(os.urandom(4096))
        stalled = socket.create_connection(("127.0.0.1", self.port))  # connects, says nothing
        half = socket.create_connection(("127.0.0.1", self.port))
        half.sendall(b"\x16\x03\x01\x02\x00")  # half a TLS ClientHello, then silence
        try:
            acks = self.ship([self.batch(1, "run-ok", [1, 2])], self.token)
            self.assertEqual([(a.stored, a.duplicates) for a in acks], [(2, 0)])
            self.assertTrue(closed_by_peer(garbage), "the collector kept a connection that sent garbage")
        finally:
            for s in (garbage, stalled, half):
                s.close()
        self.assertIsNone(self.collector.p.poll(), "the collector died")
        self.assertEqual(self.stored_count(), 2)


class CollectorExportTest(GrpcClient, E2ETestCase):
    """The fleet's totals: /metrics counts each stored request once (a resend is not counted
    again), and --otlp-endpoint exports one span per stored request with its daemon's host as the
    resource's host.name, decoded with the official OpenTelemetry definitions."""

    def extra_args(self):
        from test_otlp import Receiver
        self.receiver = Receiver(self.dir)
        self.addCleanup(self.receiver.stop)
        self.metrics_port = free_port()
        return ["--metrics-listen", "127.0.0.1:%d" % self.metrics_port, "--otlp-endpoint", self.receiver.url]

    def scrape(self):
        import urllib.request
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port, timeout=10) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def test_metrics_and_otlp_count_each_request_once(self):
        from test_otlp import attrs, spans_of
        self.ship([self.batch(1, "run-e", [1, 2, 3])], self.token)
        self.ship([self.batch(1, "run-e", [2, 3, 4])], self.token)  # 2 and 3 again: duplicates
        m = self.scrape()
        self.assertEqual(m['tokentap_collector_records_total{result="stored"}'], 4)
        self.assertEqual(m['tokentap_collector_records_total{result="duplicate"}'], 2)
        out = [v for k, v in m.items() if k.startswith("tokentap_tokens_total{") and 'type="output"' in k]
        self.assertEqual(sum(out), 1 + 2 + 3 + 4)  # output_tokens = seq in these records
        self.collector.stop()  # its last OTLP export
        spans = spans_of(self.receiver.requests("/v1/traces"))
        self.assertEqual(sorted(attrs(s["attributes"])["gen_ai.usage.output_tokens"] for s in spans), [1, 2, 3, 4])
        hosts = {attrs(rs["resource"]["attributes"])["host.name"]
                 for r in self.receiver.requests("/v1/traces") for rs in r["request"]["resourceSpans"]}
        self.assertEqual(hosts, {"test-host"})


class CollectorMutualTlsTest(GrpcClient, E2ETestCase):
    """--tls-client-ca and no tokens: a daemon with a certificate from that CA ships; one without a
    certificate, or with one from another CA, is refused by TLS before any batch."""

    def auth_args(self, token_file):
        return ["--tls-client-ca", os.path.join(self.server.cert_dir, "ca.pem")]

    def client_cert(self, ca_pem, ca_key, name):
        key, csr, pem = (os.path.join(self.dir, name + ext) for ext in (".key", ".csr", ".pem"))
        subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-subj", "/CN=" + name, "-out", csr], check=True, capture_output=True)
        subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key, "-CAcreateserial",
                        "-days", "1", "-out", pem], check=True, capture_output=True)
        with open(pem, "rb") as f, open(key, "rb") as k:
            return f.read(), k.read()

    def test_client_certificate_decides(self):
        certs = self.server.cert_dir
        good = self.client_cert(os.path.join(certs, "ca.pem"), os.path.join(certs, "ca.key"), "daemon-1")
        acks = self.ship([self.batch(1, "run-m", [1, 2])], call=self.client_call(good))
        self.assertEqual([(a.stored, a.duplicates) for a in acks], [(2, 0)])
        # Another CA (self-signed here), and no certificate at all.
        other_key = os.path.join(self.dir, "other-ca.key")
        other_pem = os.path.join(self.dir, "other-ca.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", other_key,
                        "-subj", "/CN=other CA", "-days", "1", "-out", other_pem], check=True, capture_output=True)
        stranger = self.client_cert(other_pem, other_key, "stranger")
        for call in (self.client_call(stranger), self.client_call()):
            e = self.refused([self.batch(1, "run-m", [3])], None, call)
            self.assertEqual(e.code(), self.grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(self.stored_count(), 2)

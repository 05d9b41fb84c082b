"""Helper for tests: run tests/llmserver/llmserver.py on a free port.

    from serverctl import LlmServer
    with LlmServer(workdir) as s:
        ...  # s.port, s.base_url, s.ca_path, s.records(), s.clear_log()

Works with any Python 3; the server itself always runs under /usr/bin/python3
(it needs the Debian python3-h2/-brotli/-zstandard packages).
"""

import json
import os
import socket
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "llmserver.py")
MAKE_CERTS = os.path.join(HERE, "make_certs.sh")
SYSTEM_PYTHON = "/usr/bin/python3"


def make_certs(cert_dir):
    subprocess.run(["bash", MAKE_CERTS, cert_dir], check=True)
    return cert_dir


class LlmServer:
    """Context manager running llmserver.py.

    workdir: directory for certs/ (shared if cert_dir is given), the log, the
    ready file and the server's stderr.  name: file-name prefix, so several
    servers can share a workdir.
    """

    def __init__(self, workdir, cert_dir=None, host="127.0.0.1", port=0, name="llmserver",
                 python=SYSTEM_PYTHON, start_timeout=15.0, auto_tool_calls=None, dump_dir=None,
                 no_websocket=False, tls12=False):
        self.workdir = os.path.abspath(workdir)
        self.cert_dir = os.path.abspath(cert_dir) if cert_dir else os.path.join(self.workdir, "certs")
        self.host = host
        self.requested_port = port
        self.log_path = os.path.join(self.workdir, name + ".log")
        self.ready_path = os.path.join(self.workdir, name + ".ready")
        self.stderr_path = os.path.join(self.workdir, name + ".stderr")
        self.python = python
        self.auto_tool_calls = dict(auto_tool_calls or {})  # tool name -> input object
        self.dump_dir = dump_dir
        self.no_websocket = no_websocket
        self.tls12 = tls12
        self.start_timeout = start_timeout
        self.proc = None
        self.port = None
        self._stderr = None

    # -- lifecycle ---------------------------------------------------------

    def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        make_certs(self.cert_dir)
        for p in (self.ready_path,):
            if os.path.exists(p):
                os.unlink(p)
        open(self.log_path, "a").close()
        self._stderr = open(self.stderr_path, "ab")
        extra = []
        for name, inp in sorted(self.auto_tool_calls.items()):
            extra += ["--auto-tool-call", "%s=%s" % (name, json.dumps(inp))]
        if self.dump_dir:
            extra += ["--dump-bodies", self.dump_dir]
        if self.no_websocket:
            extra.append("--no-websocket")
        if self.tls12:
            extra.append("--tls12")
        self.proc = subprocess.Popen(
            [self.python, SERVER, "--cert-dir", self.cert_dir, "--log", self.log_path,
             "--host", self.host, "--port", str(self.requested_port), "--ready-file", self.ready_path,
             *extra],
            stdin=subprocess.DEVNULL, stdout=self._stderr, stderr=self._stderr)
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("llmserver exited with %s; see %s:\n%s" % (
                    self.proc.returncode, self.stderr_path, self.stderr_text()))
            if os.path.exists(self.ready_path):
                with open(self.ready_path) as f:
                    txt = f.read().strip()
                if txt:
                    self.port = int(txt)
                    break
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("llmserver did not become ready in %.0f s" % self.start_timeout)
            time.sleep(0.02)
        # It writes the ready file after listen(); make sure connects work.
        while True:
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.02)
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- addresses ---------------------------------------------------------

    @property
    def base_url(self):
        return "https://%s:%d" % (self.host, self.port)

    @property
    def ca_path(self):
        return os.path.join(self.cert_dir, "ca.pem")

    def client_env(self, base=None):
        """Environment for real clients/harnesses: trust the test CA and point
        the usual base-URL variables at this server."""
        env = dict(os.environ if base is None else base)
        env.update({
            "NODE_EXTRA_CA_CERTS": self.ca_path,
            "SSL_CERT_FILE": self.ca_path,
            "REQUESTS_CA_BUNDLE": self.ca_path,
            "CURL_CA_BUNDLE": self.ca_path,
            "ANTHROPIC_BASE_URL": self.base_url,
            "OPENAI_BASE_URL": self.base_url + "/v1",
            "GOOGLE_GEMINI_BASE_URL": self.base_url,
        })
        return env

    def url_for(self, host):
        """Base URL under a vendor's host name (in the test certificate): resolve it to this server
        with curl_resolve(host), or connect to 127.0.0.1 with that server_hostname and Host."""
        return "https://%s:%d" % (host, self.port)

    def curl_resolve(self, host):
        """curl arguments that send url_for(host) here."""
        return ["--resolve", "%s:%d:%s" % (host, self.port, self.host)]

    def claude_bedrock_env(self, base=None, region="us-east-1"):
        """client_env() plus Claude Code's Bedrock mode pointed at this server, AWS auth skipped:
        it calls GET /inference-profiles (404) and POST /model/{id}/invoke-with-response-stream."""
        env = self.client_env(base)
        env.update({"CLAUDE_CODE_USE_BEDROCK": "1", "ANTHROPIC_BEDROCK_BASE_URL": self.base_url,
                    "CLAUDE_CODE_SKIP_BEDROCK_AUTH": "1", "AWS_REGION": region})
        return env

    def claude_vertex_env(self, base=None, project="p", region="us-east5"):
        """client_env() plus Claude Code's Vertex AI mode pointed at this server, Google auth
        skipped: it calls POST /v1/projects/P/locations/R/publishers/anthropic/models/M:streamRawPredict."""
        env = self.client_env(base)
        env.update({"CLAUDE_CODE_USE_VERTEX": "1", "ANTHROPIC_VERTEX_BASE_URL": self.base_url + "/v1",
                    "CLAUDE_CODE_SKIP_VERTEX_AUTH": "1", "ANTHROPIC_VERTEX_PROJECT_ID": project,
                    "CLOUD_ML_REGION": region})
        return env

    def ssl_context(self):
        import ssl
        return ssl.create_default_context(cafile=self.ca_path)

    # -- log ---------------------------------------------------------------

    def records(self, since=0):
        """Parsed log lines (dicts), optionally starting at index `since`."""
        out = []
        try:
            with open(self.log_path, encoding="utf-8") as f:
                for line in f:
                    line = line.strip()
                    if line:
                        out.append(json.loads(line))
        except FileNotFoundError:
            pass
        return out[since:]

    def llm_records(self, since=0):
        """Log records of LLM API calls only (no health checks, no 404s)."""
        return [r for r in self.records(since) if r.get("provider") != "none"]

    def mark(self):
        """Index to pass to records(since=...) for 'everything after now'."""
        return len(self.records())

    def clear_log(self):
        """Empty the log (the server appends with O_APPEND, so this is safe)."""
        with open(self.log_path, "w"):
            pass

    def wait_for_records(self, n, since=0, timeout=10.0):
        """Waits until at least n records (from `since`) exist; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            recs = self.records(since)
            if len(recs) >= n or time.monotonic() > deadline:
                return recs
            time.sleep(0.02)

    def stderr_text(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

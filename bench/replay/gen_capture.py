#!/usr/bin/python3
"""Writes a synthetic tokentap capture of LLM API calls with large request bodies.

usage: gen_capture.py OUT.cap EXPECTED.json [--requests N] [--body-kb K] [--seed S]

The capture holds the records tlstap.bpf.c would produce (bpf/tlstap.h layout,
userspace/capture/file/capture_file.h framing) for one agent process talking to
api.anthropic.com and api.openai.com over keep-alive HTTP/1.1 connections:
  - 70% Anthropic Messages (Claude Code headers; a long `messages` history of text,
    tool_use and tool_result blocks, `system`, `tools`; 80% streamed as SSE),
  - 20% OpenAI Chat Completions (streamed, usage in the last chunk),
  - 10% OpenAI Responses (streamed, usage in response.completed).
Each request is one SSL_write cut into 16 KiB chunks; each response is one SSL_read
per SSE event (chunked transfer encoding) or one for a JSON body.

EXPECTED.json gets what tokentap must report for the run: request count, token
totals (tokentap's convention: uncached input; docs/design.md) and body bytes.
Deterministic for a given seed.
"""
import argparse
import json
import random
import struct

MAGIC = b"TOKENTAP-CAP-v1\n"
CHUNK_MAX = 16384
EV_DATA, EV_CLOSE, EV_PROC_INFO, EV_RUN_INFO = 1, 2, 100, 101
DIR_WRITE, DIR_READ = 0, 1
LIB_OPENSSL = 1
PID = 4242
CONNS = 8  # keep-alive connections the agent spreads its calls over

WORDS = ("the function returns a value when the request is complete and the stream "
         "handler flushes its buffer before closing every connection to the server "
         "config parse error retry timeout token cache session user model").split()
CODE_LINES = [
    'def load(path: str) -> dict:\n    with open(path, "rb") as f:\n        return json.load(f)\n',
    '    if (n > max_bytes) {\n        fprintf(stderr, "too big: %zu\\n", n);\n        return -1;\n    }\n',
    'const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" } });\n',
    '\tfor i := range items {\n\t\tif items[i].ID == id {\n\t\t\treturn &items[i], nil\n\t\t}\n\t}\n',
    "# Ünïcode in comments: naïve café — 日本語 テスト 🚀\n",
]


class Capture:
    def __init__(self):
        self.out = bytearray(MAGIC)
        self.ts = 1_000_000_000
        self.seq = 0

    def record(self, rec):
        self.out += struct.pack("<I", len(rec)) + rec

    def header(self, kind, flags=0):
        self.ts += 50_000
        return struct.pack("<IIIIQ", kind, PID, PID, flags, self.ts)

    def info(self, kind, obj):
        self.record(self.header(kind) + json.dumps(obj).encode())

    def call(self, conn, direction, data):
        """One SSL_read/SSL_write call, cut into chunks as BPF does."""
        self.seq += 1
        off = 0
        while True:
            n = min(CHUNK_MAX, len(data) - off)
            hdr = self.header(EV_DATA) + struct.pack(
                "<QQIIIIBBHI", conn, self.seq, len(data), off, n, 0, direction, LIB_OPENSSL, 0, 0)
            assert len(hdr) == 64
            self.record(hdr + data[off:off + n])
            off += n
            if off >= len(data):
                return

    def close(self, conn):
        self.record(self.header(EV_CLOSE) + struct.pack("<Q", conn))


def words(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n))


def code(rng, lines):
    return "".join(rng.choice(CODE_LINES) for _ in range(lines))


def tool_id(rng, prefix):
    return prefix + "".join(rng.choice("abcdefghijkmnopqrstuvwxyzABCDEFGH0123456789") for _ in range(24))


TOOLS = [
    {"name": n, "description": d * 6,
     "input_schema": {"type": "object", "properties": {
         "file_path": {"type": "string", "description": "Absolute path of the file"},
         "command": {"type": "string", "description": "The shell command to run"},
         "limit": {"type": "integer", "minimum": 1, "maximum": 2000}},
         "required": ["file_path"], "additionalProperties": False}}
    for n, d in [("Read", "Reads a file from the local filesystem. "),
                 ("Bash", "Executes a bash command in a persistent shell session. "),
                 ("Edit", "Performs exact string replacements in files. "),
                 ("Grep", "A powerful search tool built on ripgrep. ")]]


def anthropic_history(rng, target):
    msgs, size = [], 0
    while size < target:
        tid = tool_id(rng, "toolu_01")
        text = words(rng, rng.randint(20, 80))
        result = code(rng, rng.randint(20, 60))
        msgs += [
            {"role": "assistant", "content": [
                {"type": "text", "text": text},
                {"type": "tool_use", "id": tid, "name": rng.choice(TOOLS)["name"],
                 "input": {"file_path": "/work/src/%s.py" % rng.choice(WORDS), "limit": 400}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": tid, "content": result,
                 "is_error": False}]},
        ]
        size += len(json.dumps(msgs[-2:], ensure_ascii=False))
    msgs.insert(0, {"role": "user", "content": [{"type": "text", "text": words(rng, 60)}]})
    msgs.append({"role": "user", "content": [{"type": "text", "text": words(rng, 30),
                                              "cache_control": {"type": "ephemeral"}}]})
    return msgs


def anthropic_request(rng, i, target, stream):
    session = "5f0c2a1e-%04x-4b3c-9d2e-%012x" % (i % 3, 7 + i % 3)
    body = {"model": "claude-sonnet-4-5-20250929", "max_tokens": 32000, "stream": stream,
            "system": [{"type": "text", "text": "You are Claude Code. " + words(rng, 300),
                        "cache_control": {"type": "ephemeral"}}],
            "tools": TOOLS, "messages": anthropic_history(rng, target),
            "metadata": {"user_id": "user_%064x_account_%s_session_%s" % (i % 5, session, session)},
            "temperature": 1}
    headers = [("Host", "api.anthropic.com"), ("User-Agent", "claude-cli/2.0.14 (external, cli)"),
               ("x-app", "cli"), ("anthropic-version", "2023-06-01"), ("x-api-key", "sk-ant-secret"),
               ("anthropic-beta", "claude-code-20250219,interleaved-thinking-2025-05-14")]
    return "/v1/messages?beta=true", headers, json.dumps(body, ensure_ascii=False)


def openai_chat_request(rng, i, target):
    msgs, size = [{"role": "system", "content": "You are a coding agent. " + words(rng, 200)}], 0
    while size < target:
        cid = tool_id(rng, "call_")
        result = code(rng, rng.randint(20, 60))
        msgs += [{"role": "assistant", "content": None, "tool_calls": [
                     {"id": cid, "type": "function",
                      "function": {"name": "read_file", "arguments": json.dumps({"path": "/src/a.py"})}}]},
                 {"role": "tool", "tool_call_id": cid, "content": result}]
        size += len(json.dumps(msgs[-2:]))
    msgs.append({"role": "user", "content": words(rng, 40)})
    body = {"model": "gpt-4.1-2025-04-14", "stream": True, "stream_options": {"include_usage": True},
            "messages": msgs, "tools": [{"type": "function", "function": {
                "name": t["name"], "description": t["description"], "parameters": t["input_schema"]}}
                for t in TOOLS]}
    headers = [("Host", "api.openai.com"), ("User-Agent", "OpenAI/JS 5.12.2"),
               ("Authorization", "Bearer sk-secret"), ("x-stainless-lang", "js")]
    return "/v1/chat/completions", headers, json.dumps(body)


def openai_responses_request(rng, i, target):
    items, size = [], 0
    while size < target:
        cid = tool_id(rng, "call_")
        result = code(rng, rng.randint(20, 60))
        items += [{"type": "function_call", "call_id": cid, "name": "shell",
                   "arguments": json.dumps({"command": ["bash", "-lc", "cat src/main.rs"]})},
                  {"type": "function_call_output", "call_id": cid, "output": result}]
        size += len(json.dumps(items[-2:]))
    items.append({"type": "message", "role": "user",
                  "content": [{"type": "input_text", "text": words(rng, 40)}]})
    body = {"model": "gpt-5-codex", "instructions": words(rng, 400), "input": items,
            "tools": [{"type": "function", "name": "shell", "parameters": TOOLS[1]["input_schema"]}],
            "stream": True, "store": False, "prompt_cache_key": "019a-%d" % (i % 4)}
    headers = [("Host", "api.openai.com"), ("User-Agent", "codex_cli_rs/0.46.0 (Debian 12; x86_64)"),
               ("originator", "codex_cli_rs"), ("session_id", "019a-%d" % (i % 4)),
               ("Authorization", "Bearer sk-secret")]
    return "/v1/responses", headers, json.dumps(body)


def http_request(target, headers, body):
    b = body.encode()
    head = "POST %s HTTP/1.1\r\n" % target + "".join("%s: %s\r\n" % h for h in headers)
    head += "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(b)
    return head.encode() + b


def sse(event, obj):
    return ("event: %s\ndata: %s\n\n" % (event, json.dumps(obj, separators=(",", ":")))).encode()


def sse_data(obj):
    return ("data: %s\n\n" % json.dumps(obj, separators=(",", ":"))).encode()


def deltas(rng):
    return [words(rng, rng.randint(2, 8)) + " " for _ in range(rng.randint(10, 40))]


def anthropic_response(rng, i, stream, totals):
    u = {"input": rng.randint(1, 50), "read": rng.randint(10000, 60000),
         "w5": rng.randint(0, 3000), "w1": rng.choice([0, 0, rng.randint(1, 500)]),
         "out": rng.randint(20, 2000)}
    add(totals, input=u["input"], cache_read=u["read"], cache_write=u["w5"] + u["w1"],
        cache_write_5m=u["w5"], cache_write_1h=u["w1"], output=u["out"])
    usage = {"input_tokens": u["input"], "cache_creation_input_tokens": u["w5"] + u["w1"],
             "cache_read_input_tokens": u["read"],
             "cache_creation": {"ephemeral_5m_input_tokens": u["w5"], "ephemeral_1h_input_tokens": u["w1"]},
             "output_tokens": 1, "service_tier": "standard"}
    msg = {"id": "msg_%024d" % i, "type": "message", "role": "assistant",
           "model": "claude-sonnet-4-5-20250929", "content": [], "stop_reason": None, "usage": usage}
    texts = deltas(rng)
    if not stream:
        msg.update(content=[{"type": "text", "text": "".join(texts)}], stop_reason="end_turn",
                   usage=dict(usage, output_tokens=u["out"]))
        return [json.dumps(msg).encode()], "application/json"
    events = [sse("message_start", {"type": "message_start", "message": msg}),
              sse("content_block_start", {"type": "content_block_start", "index": 0,
                                          "content_block": {"type": "text", "text": ""}}),
              sse("ping", {"type": "ping"})]
    events += [sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                           "delta": {"type": "text_delta", "text": t}}) for t in texts]
    events += [sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
               sse("message_delta", {"type": "message_delta",
                                     "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                     "usage": {"output_tokens": u["out"]}}),
               sse("message_stop", {"type": "message_stop"})]
    return events, "text/event-stream"


def openai_chat_response(rng, i, totals):
    prompt, cached = rng.randint(20000, 70000), rng.randint(0, 15000)
    out, reasoning = rng.randint(20, 2000), 0
    add(totals, input=prompt - cached, cache_read=cached, output=out, reasoning=reasoning)
    base = {"id": "chatcmpl-%d" % i, "object": "chat.completion.chunk", "created": 1760000000 + i,
            "model": "gpt-4.1-2025-04-14", "system_fingerprint": "fp_07871e2ad8"}
    events = [sse_data(dict(base, choices=[{"index": 0, "delta": {"content": t}, "finish_reason": None}],
                            usage=None)) for t in deltas(rng)]
    events.append(sse_data(dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}],
                                usage=None)))
    events.append(sse_data(dict(base, choices=[], usage={
        "prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning}})))
    events.append(b"data: [DONE]\n\n")
    return events, "text/event-stream"


def openai_responses_response(rng, i, totals):
    inp, cached = rng.randint(20000, 70000), rng.randint(0, 15000)
    out = rng.randint(100, 3000)
    reasoning = rng.randint(0, out)
    add(totals, input=inp - cached, cache_read=cached, output=out, reasoning=reasoning)
    resp = {"id": "resp_%d" % i, "object": "response", "model": "gpt-5-codex", "status": "in_progress",
            "output": [], "usage": None}
    events = [sse("response.created", {"type": "response.created", "sequence_number": 0, "response": resp})]
    events += [sse("response.output_text.delta", {"type": "response.output_text.delta", "item_id": "msg_1",
                                                  "output_index": 0, "content_index": 0, "delta": t})
               for t in deltas(rng)]
    done = dict(resp, status="completed", usage={
        "input_tokens": inp, "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": out, "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": inp + out})
    events.append(sse("response.completed", {"type": "response.completed", "response": done}))
    return events, "text/event-stream"


def add(totals, **kw):
    for k, v in kw.items():
        totals[k + "_tokens"] = totals.get(k + "_tokens", 0) + v


def send_response(cap, conn, events, ctype):
    """Returns the body bytes tokentap should report (chunked framing removed)."""
    if ctype == "application/json":
        cap.call(conn, DIR_READ, b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                 b"request-id: req_1\r\ncontent-length: %d\r\n\r\n" % len(events[0]) + events[0])
        return len(events[0])
    cap.call(conn, DIR_READ, b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
             b"cache-control: no-cache\r\nrequest-id: req_1\r\ntransfer-encoding: chunked\r\n\r\n")
    for ev in events:
        cap.call(conn, DIR_READ, b"%x\r\n%s\r\n" % (len(ev), ev))
    cap.call(conn, DIR_READ, b"0\r\n\r\n")
    return sum(len(e) for e in events)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("expected")
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--body-kb", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    cap = Capture()
    cap.info(EV_RUN_INFO, {"run_id": "bench", "command": ["claude", "-p", "bench"], "mono_to_unix_ns": 0})
    cap.info(EV_PROC_INFO, {"exe": "/usr/bin/node", "comm": "claude", "ppid": 1})
    totals, req_bytes, resp_bytes = {}, 0, 0
    target = a.body_kb * 1000 - 8000  # system prompt and tools are ~8 KB more
    for i in range(a.requests):
        conn = 0x7f0000001000 + (i % CONNS) * 0x1000
        kind = rng.random()
        if kind < 0.7:
            stream = rng.random() < 0.8
            target_path, headers, body = anthropic_request(rng, i, target, stream)
            events, ctype = anthropic_response(rng, i, stream, totals)
        elif kind < 0.9:
            target_path, headers, body = openai_chat_request(rng, i, target)
            events, ctype = openai_chat_response(rng, i, totals)
        else:
            target_path, headers, body = openai_responses_request(rng, i, target)
            events, ctype = openai_responses_response(rng, i, totals)
        cap.call(conn, DIR_WRITE, http_request(target_path, headers, body))
        req_bytes += len(body.encode())
        resp_bytes += send_response(cap, conn, events, ctype)
    for c in range(min(CONNS, a.requests)):
        cap.close(0x7f0000001000 + c * 0x1000)
    with open(a.out, "wb") as f:
        f.write(cap.out)
    expected = {"api_requests": a.requests, "estimated_requests": 0, "request_bytes": req_bytes,
                "response_bytes": resp_bytes, "totals": totals, "capture_bytes": len(cap.out)}
    with open(a.expected, "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()

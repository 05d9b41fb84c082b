#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, made from the repo's recorded captures and
test data at run time (nothing binary is kept in git): make_seeds.py OUT BUILD.
OUT/<target>/ gets a few dozen small inputs per target, in the framing its
fuzz/<target>_fuzz.cpp reads. BUILD is the sanitizer build dir (its tokentap
binary writes the protobuf record files)."""
import base64
import glob
import gzip
import hashlib
import json
import os
import struct
import subprocess
import sys
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")
SEP = b"\n--tt--\n"
MAGIC = b"TOKENTAP-CAP-v1\n"
MAX_SEED = 48 << 10  # small seeds keep executions fast
WRITE, READ = 0, 1   # tt_direction
EV_DATA, EV_CLOSE, EV_ALIAS = 1, 2, 8
LIB_AWSLC = 4


def put(out, target, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def capture_records(path):
    """The records of a .ttcap file, as bytes."""
    b = read(path)[len(MAGIC):]
    recs = []
    while len(b) >= 4:
        (n,) = struct.unpack_from("<I", b)
        recs.append(b[4:4 + n])
        b = b[4 + n:]
    return recs


def framed(recs):
    return b"".join(struct.pack("<I", len(r)) + r for r in recs)


def step(ctl, payload):
    return bytes([ctl]) + struct.pack("<H", len(payload)) + payload


def gap(direction, n):
    """A capture gap of n bytes (op 2; op 3 counts in 256-byte units)."""
    if n <= 0xFFFF:
        return bytes([direction | 4]) + struct.pack("<H", n)
    return bytes([direction | 6]) + struct.pack("<H", min(n >> 8, 0xFFFF))


def connections(recs):
    """DATA records by connection (rustls contexts folded into their socket)."""
    alias = {}
    for r in recs:
        kind, pid = struct.unpack_from("<II", r)
        if kind == EV_ALIAS and len(r) >= 48:
            ctx, sock = struct.unpack_from("<QQ", r, 24)
            if sock:
                alias[(pid, ctx)] = sock
    conns = {}
    for r in recs:
        kind, pid = struct.unpack_from("<II", r)
        if kind != EV_DATA or len(r) < 64:
            continue
        (conn,) = struct.unpack_from("<Q", r, 24)
        lib = r[57]
        key = (pid, alias.get((pid, conn), conn) if lib == LIB_AWSLC else conn)
        conns.setdefault(key, []).append(r)
    return conns


def context(recs, pid):
    """The records around a connection's data that the pipeline uses: the run's,
    and the process's own (facts, exec/exit, socket fallback, AEAD aliases)."""
    own = (100, 4, 5, 7, 8)
    out = []
    for r in recs:
        kind, p = struct.unpack_from("<II", r)
        if kind in (101, 102) or (p == pid and kind in own and len(out) < 40):
            out.append(r)
    return out


def windows(data, size):
    """Consecutive runs of DATA records of about `size` payload bytes each."""
    cur, n = [], 0
    for r in data:
        cur.append(r)
        n += len(r) - 64
        if n >= size:
            yield cur
            cur, n = [], 0
    if cur:
        yield cur


def steps_of(data):
    out = b""
    for r in data:
        off, n, lost = struct.unpack_from("<III", r, 44)
        if lost:
            out += gap(r[56], lost)
        out += step(r[56] | (2 if off == 0 else 0), r[64:64 + n])
    return out


def capture_seeds(out):
    for path in sorted(glob.glob(os.path.join(DATA, "captures", "*.ttcap"))):
        recs = capture_records(path)
        whole = MAGIC + framed(recs)
        if len(whole) <= MAX_SEED:
            put(out, "capture_file", whole)
            put(out, "capture_file", whole[:-7])  # truncated final record
        for (pid, _), data in connections(recs).items():
            ctx = context(recs, pid)
            # Later windows start mid-connection: joined mid-stream, as the daemon sees it.
            for i, w in enumerate(windows(data, MAX_SEED // 2)):
                put(out, "pipeline", framed(ctx + w))
                put(out, "http_session", (b"\1" if i else b"\0") + steps_of(w))
                if i == 0:
                    put(out, "capture_file", MAGIC + framed(ctx + w))


def http_seeds(out):
    http = os.path.join(DATA, "http")
    request = b"POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\nContent-Length: 2\r\n\r\n{}"
    for path in sorted(glob.glob(os.path.join(http, "*_response.http"))):
        resp = read(path)
        put(out, "http_session", b"\0" + step(WRITE | 2, request) + step(READ | 2, resp))
        put(out, "http_session", b"\2" + step(WRITE | 2, request) + step(READ | 2, resp[:40]) +
            gap(READ, 20) + step(READ, resp[60:]))
    reqs, resps = read(os.path.join(http, "keepalive_requests.http")), read(os.path.join(http, "keepalive_responses.http"))
    put(out, "http_session", b"\0" + step(WRITE | 2, reqs) + step(READ | 2, resps))
    for path in sorted(glob.glob(os.path.join(http, "*_response.http"))):
        body = read(path).split(b"\r\n\r\n", 1)[-1]
        if b"data:" in body:
            put(out, "sse", b"\0" + body)


def content_seeds(out):
    http = os.path.join(DATA, "http")
    reply = read(os.path.join(http, "reply.json"))
    cap = 0x20  # 1 MiB output cap (kCaps[2])
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    put(out, "content_encoding", bytes([0 | cap]) + gzip.compress(reply))
    put(out, "content_encoding", bytes([1 | cap]) + gzip.compress(reply)[:-20])  # cut
    put(out, "content_encoding", bytes([2 | cap]) + zlib.compress(reply))
    put(out, "content_encoding", bytes([2 | cap]) + raw.compress(reply) + raw.flush())
    put(out, "content_encoding", bytes([5 | cap]) + reply)
    put(out, "content_encoding", bytes([9 | cap]) + gzip.compress(gzip.compress(reply)))
    for name, sel in (("reply.json.br", 3), ("reply.json.2frames.zst", 4), ("reply.json.nosize.zst", 4),
                      ("reply.json.gz.br", 6), ("zeros_8m.br", 3)):
        put(out, "content_encoding", bytes([sel | cap]) + read(os.path.join(http, name)))


def ws_frame(payload, opcode=1, fin=True, mask=None, rsv1=False):
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n < 65536:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if mask:
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        head += mask
    return head + payload


def deflate_msg(comp, text):
    return (comp.compress(text) + comp.flush(zlib.Z_SYNC_FLUSH))[:-4]


def websocket_seeds(out):
    create = json.dumps({"type": "response.create", "model": "gpt-5", "input": "hi"}).encode()
    events = [json.dumps({"type": "response.created", "response": {"id": "resp_1"}}).encode(),
              json.dumps({"type": "response.completed", "response": {
                  "id": "resp_1", "model": "gpt-5", "usage": {"input_tokens": 10, "output_tokens": 5,
                                                              "input_tokens_details": {"cached_tokens": 2}}}}).encode()]
    mask = b"\x11\x22\x33\x44"
    client, server = READ, WRITE  # client_dir = 1 (flags bit 1)
    plain = step(client, ws_frame(create, mask=mask)) + b"".join(step(server, ws_frame(e)) for e in events)
    put(out, "websocket", b"\x06\n" + plain)
    frag = (step(client, ws_frame(create[:10], fin=False, mask=mask)) + step(client, ws_frame(b"p", 9, mask=mask)) +
            step(client, ws_frame(create[10:], 0, mask=mask)) + step(server, ws_frame(events[1])) +
            step(server, ws_frame(b"\x03\xe8", 8)))
    put(out, "websocket", b"\x06\n" + frag)
    for ext, wbits, takeover in ((b"permessage-deflate", 15, True),
                                 (b"permessage-deflate; server_no_context_takeover; client_max_window_bits=10", 10,
                                  False)):
        cc = zlib.compressobj(9, zlib.DEFLATED, -wbits)
        sc = zlib.compressobj(9, zlib.DEFLATED, -15)
        steps = step(client, ws_frame(deflate_msg(cc, create), mask=mask, rsv1=True))
        frames = []
        for e in events:
            if not takeover:
                sc = zlib.compressobj(9, zlib.DEFLATED, -15)
            frames.append(ws_frame(deflate_msg(sc, e), rsv1=True))
        put(out, "websocket", b"\x06" + ext + b"\n" + steps + b"".join(step(server, f) for f in frames))
        # A capture gap inside the first answer's payload: framing kept, message lost.
        cut = step(server, frames[0][:8]) + gap(server, 6) + step(server, frames[0][14:]) + step(server, frames[1])
        put(out, "websocket", b"\x07" + ext + b"\n" + steps + cut)
    big = ws_frame(b"x" * 70000)
    put(out, "websocket", b"\x02\n" + b"".join(step(server, big[i:i + 4096]) for i in range(0, len(big), 4096)))


# Provider test data: which request reaches each decoder.
PROVIDER_ROUTES = [
    ("anthropic_count_tokens", "POST /v1/messages/count_tokens", "api.anthropic.com",
     {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}),
    ("anthropic", "POST /v1/messages", "api.anthropic.com",
     {"model": "claude-sonnet-4-5", "stream": True, "max_tokens": 64, "metadata": {"user_id": "u_1"},
      "messages": [{"role": "user", "content": "hi"}]}),
    ("openai_chat", "POST /v1/chat/completions", "api.openai.com",
     {"model": "gpt-4o-mini", "stream": True, "stream_options": {"include_usage": True},
      "messages": [{"role": "user", "content": "hi"}]}),
    ("openai_responses", "POST /v1/responses", "api.openai.com",
     {"model": "gpt-5", "stream": True, "input": "hi", "prompt_cache_key": "k"}),
    ("openai_error", "POST /v1/chat/completions", "api.openai.com", {"model": "gpt-4o", "messages": []}),
    ("gemini_count", "POST /v1beta/models/gemini-2.5-pro:countTokens", "generativelanguage.googleapis.com",
     {"contents": [{"parts": [{"text": "hi"}]}]}),
    ("gemini_stream", "POST /v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
     "generativelanguage.googleapis.com", {"contents": [{"parts": [{"text": "hi"}]}]}),
    ("gemini", "POST /v1beta/models/gemini-2.5-pro:generateContent", "generativelanguage.googleapis.com",
     {"contents": [{"parts": [{"text": "hi"}]}]}),
    ("cloudcode_stream", "POST /v1internal:streamGenerateContent?alt=sse", "cloudcode-pa.googleapis.com",
     {"model": "gemini-2.5-pro", "project": "p", "request": {"contents": [{"parts": [{"text": "hi"}]}]}}),
    ("cloudcode", "POST /v1internal:generateContent", "cloudcode-pa.googleapis.com",
     {"model": "gemini-2.5-pro", "project": "p", "request": {"contents": []}}),
]


def provider_seeds(out):
    for path in sorted(glob.glob(os.path.join(DATA, "provider", "*"))):
        name = os.path.basename(path)
        line, host, body = next((l, h, b) for p, l, h, b in PROVIDER_ROUTES if name.startswith(p))
        sse = name.endswith(".sse")
        ctype = "text/event-stream" if sse else "application/json"
        status = "429" if "error" in name else "200"
        req_head = f"{line}\nHost: {host}\nContent-Type: application/json\nUser-Agent: claude-cli/2.0.0".encode()
        resp_head = f"{status}\nContent-Type: {ctype}\nrequest-id: req_1".encode()
        req_body = json.dumps(body).encode()
        resp = read(path)
        for flags in (3, 3 | 4 | 8 | 16):
            put(out, "provider", bytes([flags]) + SEP.join([req_head, req_body, resp_head, resp]))
        put(out, "request_json", b"\3" + req_body)
        put(out, "request_json", b"\2" + resp)
        if sse:
            put(out, "sse", b"\x05" + resp)


def eventstream_frame(event_type, payload, message_type="event"):
    """One AWS event stream message (Bedrock's framing), as tests/llmserver writes them."""
    def header(name, value):
        return bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(value)) + value.encode()
    headers = header(":message-type", message_type) + header(":event-type", event_type) + \
        header(":content-type", "application/json")
    total = 16 + len(headers) + len(payload)
    prelude = struct.pack(">II", total, len(headers))
    msg = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + payload
    return msg + struct.pack(">I", zlib.crc32(msg))


def cloud_provider_seeds(out):
    """The cloud and vendor formats: Bedrock's event streams and Converse, Ollama's NDJSON, vendors' usage."""
    events = [{"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 5, "output_tokens": 1}}},
              {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}},
              {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}},
              {"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 5, "outputTokenCount": 9}}]
    invoke = b"".join(eventstream_frame("chunk", json.dumps(
        {"bytes": base64.b64encode(json.dumps(e).encode()).decode()}).encode()) for e in events)
    converse = b"".join(eventstream_frame(t, json.dumps(p).encode()) for t, p in (
        ("messageStart", {"role": "assistant"}), ("contentBlockDelta", {"delta": {"text": "hi"}}),
        ("messageStop", {"stopReason": "end_turn"}),
        ("metadata", {"usage": {"inputTokens": 3, "outputTokens": 4, "cacheReadInputTokens": 2}})))
    put(out, "eventstream", invoke)
    put(out, "eventstream", converse)
    put(out, "eventstream", eventstream_frame("throttlingException", b'{"message":"slow down"}', "exception"))
    chat_usage = {"prompt_tokens": 10, "completion_tokens": 2, "prompt_cache_hit_tokens": 6, "cached_tokens": 1,
                  "cost": 0.001, "is_byok": True, "cost_details": {"upstream_inference_cost": 0.01},
                  "prompt_tokens_details": {"cached_tokens": 3, "cache_write_tokens": 4}}
    cases = [
        ("POST /model/us.anthropic.claude-sonnet-4-5-v1%3A0/invoke-with-response-stream",
         "bedrock-runtime.us-east-1.amazonaws.com", {"anthropic_version": "bedrock-2023-05-31", "messages": []},
         invoke),
        ("POST /model/us.amazon.nova-lite-v1%3A0/converse-stream", "bedrock-runtime.us-east-1.amazonaws.com",
         {"messages": []}, converse),
        ("POST /model/m/converse", "bedrock-runtime.us-east-1.amazonaws.com", {"messages": []},
         json.dumps({"output": {}, "stopReason": "end_turn", "usage": {"inputTokens": 1, "outputTokens": 2}}).encode()),
        ("POST /api/chat", "localhost:11434", {"model": "llama3.2", "messages": []},
         b'{"model":"llama3.2","done":false}\n{"done":true,"prompt_eval_count":3,"eval_count":4}\n'),
        ("POST /chat/completions", "api.deepseek.com", {"model": "deepseek-chat", "messages": []},
         json.dumps({"choices": [], "usage": chat_usage}).encode()),
        ("POST /v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-x@1:rawPredict",
         "us-east5-aiplatform.googleapis.com", {"anthropic_version": "vertex-2023-10-16", "messages": []},
         json.dumps({"type": "message", "usage": {"input_tokens": 1, "output_tokens": 2}}).encode()),
    ]
    for line, host, body, resp in cases:
        req_head = f"{line}\nHost: {host}\nContent-Type: application/json\nAuthorization: Bearer sk-ant-oat01-x".encode()
        resp_head = b"200\nContent-Type: application/vnd.amazon.eventstream\nX-Amzn-Bedrock-Input-Token-Count: 7"
        for flags in (3, 3 | 4 | 8 | 16):
            put(out, "provider", bytes([flags]) + SEP.join([req_head, json.dumps(body).encode(), resp_head, resp]))


def anatomy_seeds(out):
    """Request bodies with every part of a prompt (system, tools, history, tool results, new
    content, cache markers) in each wire format, for the anatomy (provider/anatomy.cpp)."""
    marker = {"type": "ephemeral", "ttl": "1h"}
    anthropic = {"model": "claude-sonnet-4-5", "system": [{"type": "text", "text": "S", "cache_control": marker}],
                 "tools": [{"name": "read", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}],
                 "messages": [{"role": "user", "content": "hi \u00e9"},
                              {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "read", "input": {}}]},
                              {"role": "user", "content": [{"cache_control": marker, "type": "tool_result",
                                                            "tool_use_id": "t", "content": "x\n\"y\""},
                                                           {"type": "text", "text": "go on"}]}]}
    chat = {"model": "gpt-4o", "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"},
                                             {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "ls"}}]},
                                             {"role": "tool", "tool_call_id": "c", "content": "a"}],
            "tools": [{"type": "function", "function": {"name": "ls", "parameters": {}}}]}
    responses = {"model": "gpt-5", "instructions": "S", "input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "d"}]},
        {"type": "message", "role": "user", "content": "hi"}, {"type": "reasoning", "summary": []},
        {"type": "function_call", "call_id": "c", "name": "sh", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c", "output": "ok"}],
        "tools": [{"type": "function", "name": "sh"}, {"type": "web_search"}]}
    gemini = {"model": "gemini-2.5-pro", "project": "p", "request": {
        "systemInstruction": {"parts": [{"text": "S"}]},
        "tools": [{"functionDeclarations": [{"name": "read_file"}]}, {"googleSearch": {}}],
        "contents": [{"role": "user", "parts": [{"text": "hi"}]},
                     {"role": "model", "parts": [{"functionCall": {"name": "read_file", "args": {}}}]},
                     {"role": "user", "parts": [{"functionResponse": {"name": "read_file", "response": {"o": "x"}}}]}]}}
    converse = {"system": [{"text": "S"}, {"cachePoint": {"type": "default"}}],
                "toolConfig": {"tools": [{"toolSpec": {"name": "calc"}}, {"cachePoint": {"type": "default"}}]},
                "messages": [{"role": "user", "content": [{"cachePoint": {"type": "default"}}, {"text": "go"}]},
                             {"role": "assistant", "content": [{"toolUse": {"toolUseId": "u", "name": "calc"}}]},
                             {"role": "user", "content": [{"toolResult": {"toolUseId": "u", "content": [{"text": "2"}]}}]}]}
    cases = [("POST /v1/messages", "api.anthropic.com", anthropic, b'{"type":"message","usage":{"input_tokens":9}}'),
             ("POST /v1/chat/completions", "api.openai.com", chat, b'{"choices":[],"usage":{"prompt_tokens":9}}'),
             ("POST /v1/responses", "api.openai.com", responses,
              b'{"object":"response","output":[],"usage":{"input_tokens":9}}'),
             ("POST /v1internal:generateContent", "cloudcode-pa.googleapis.com", gemini,
              b'{"response":{"usageMetadata":{"promptTokenCount":9}}}'),
             ("POST /model/m/converse", "bedrock-runtime.us-east-1.amazonaws.com", converse,
              b'{"output":{},"usage":{"inputTokens":9,"outputTokens":1}}'),
             ("POST /api/generate", "localhost:11434", {"model": "l", "system": "S", "prompt": "hi"},
              b'{"done":true,"prompt_eval_count":9}')]
    for line, host, body, resp in cases:
        req_head = f"{line}\nHost: {host}\nContent-Type: application/json".encode()
        for flags in (3, 3 | 4 | 8):
            put(out, "provider", bytes([flags]) + SEP.join([req_head, json.dumps(body).encode(), b"200", resp]))


def harness_seeds(out):
    for path in sorted(glob.glob(os.path.join(DATA, "harnesses", "*.server.jsonl"))):
        with open(path) as f:
            lines = [json.loads(l) for l in f.readlines()[:3]]
        for rec in lines:
            target = rec["path"] + ("?" + rec["query"] if rec.get("query") else "")
            head = "\n".join([f"{rec['method']} {target}"] + [f"{k}: {v}" for k, v in rec["headers"].items()])
            body = dict(rec.get("body_ids") or {}, model=rec.get("model") or "m")
            procs = b"/usr/bin/node\nnode\n@anthropic-ai/claude-code@2.1.0\nnode\n/usr/lib/node_modules/x/cli.js"
            put(out, "harness", b"\3" + SEP.join([head.encode(), json.dumps(body).encode(), procs]))
            put(out, "request_json", b"\3" + json.dumps(body).encode())


def elf_seeds(out, tmp):
    put(out, "elf", read("/bin/true"))
    src = os.path.join(tmp, "ssl.c")
    with open(src, "w") as f:
        f.write("int SSL_read(){return 1;} int SSL_write(){return 2;} int SSL_read_ex(){return 3;}\n"
                "int SSL_write_ex(){return 4;} void SSL_free(){}\n")
    so = os.path.join(tmp, "libssl.so")
    if subprocess.call(["clang", "-shared", "-nostdlib", "-O1", "-o", so, src]) == 0:
        put(out, "elf", read(so))
        subprocess.call(["strip", so])
        put(out, "elf", read(so))


def record_seeds(out, build, tmp):
    """Protobuf record files: tokentap replay of the small captures."""
    tokentap = os.path.join(build, "tokentap")
    for name in ("python_gemini_gzip", "curl_http2", "ws_responses"):
        dst = os.path.join(tmp, name + ".pb")
        cap = os.path.join(DATA, "captures", name + ".ttcap")
        if subprocess.call([tokentap, "replay", "-q", "--out", dst, cap], stdout=subprocess.DEVNULL) == 0:
            put(out, "records", read(dst))
            put(out, "records", read(dst)[:-9])


def main():
    out, build = sys.argv[1], sys.argv[2]
    tmp = os.path.join(out, ".tmp")
    os.makedirs(tmp, exist_ok=True)
    capture_seeds(out)
    http_seeds(out)
    content_seeds(out)
    websocket_seeds(out)
    provider_seeds(out)
    cloud_provider_seeds(out)
    anatomy_seeds(out)
    harness_seeds(out)
    elf_seeds(out, tmp)
    record_seeds(out, build, tmp)


if __name__ == "__main__":
    main()

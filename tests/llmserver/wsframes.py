"""WebSocket framing (RFC 6455) and permessage-deflate (RFC 7692) over a blocking
socket, for the test LLM server (llmserver.py) and the WebSocket test client
(tests/clients/ws_client.py).  Python standard library and zlib only."""

import base64
import hashlib
import os
import zlib

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WS_CONT, WS_TEXT, WS_BINARY, WS_CLOSE, WS_PING, WS_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
DEFLATE_TAIL = b"\x00\x00\xff\xff"


class ConnectionGone(OSError):
    """The peer closed the TCP/TLS connection in the middle of a frame."""


def ws_accept(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


def parse_ws_extensions(value):
    """Sec-WebSocket-Extensions -> [(name, {param: value or True})], in order."""
    out = []
    for ext in (value or "").split(","):
        parts = [p.strip() for p in ext.split(";")]
        if not parts[0]:
            continue
        params = {}
        for p in parts[1:]:
            k, eq, v = p.partition("=")
            params[k.strip().lower()] = v.strip().strip('"') if eq else True
        out.append((parts[0].lower(), params))
    return out


def ws_mask(payload, mask):
    """XOR with the repeated 4-byte mask (its own inverse)."""
    n = len(payload)
    if not n:
        return b""
    m = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(m, "little")).to_bytes(n, "little")


def ws_frame(opcode, payload, fin=True, rsv1=False, mask=None):
    """One frame, with the shortest length encoding; masked when mask (4 bytes) is given."""
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    m = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head = bytes([b0, m | n])
    elif n < 65536:
        head = bytes([b0, m | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, m | 127]) + n.to_bytes(8, "big")
    if mask:
        return head + mask + ws_mask(payload, mask)
    return head + payload


class WsDeflater:
    """permessage-deflate for one direction: compress() gives a message's payload (raw
    DEFLATE, flushed, without the final 00 00 ff ff), inflate() undoes it.  With context
    takeover the (de)compressor and its window carry over to the next message."""

    def __init__(self, window_bits=15, context_takeover=True):
        self.bits = max(9, min(15, window_bits))  # zlib cannot deflate with an 8-bit window
        self.takeover = context_takeover
        self._c = None
        self._d = None

    def compress(self, data):
        if self._c is None or not self.takeover:
            self._c = zlib.compressobj(6, zlib.DEFLATED, -self.bits)
        out = self._c.compress(data) + self._c.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(DEFLATE_TAIL)
        return out[:-4]

    def inflate(self, data):
        if self._d is None or not self.takeover:
            self._d = zlib.decompressobj(-15)  # a window larger than the sender's is fine
        return self._d.decompress(data + DEFLATE_TAIL)


class WsEndpoint:
    """Messages over a blocking socket, for either side (clients mask what they send).

    read_message() answers pings and skips pongs met on the way, and returns
    (opcode, payload, info) or None once the peer sent Close (answered).  Reads go
    through rfile (a buffered file over the socket), writes through sock.sendall."""

    def __init__(self, sock, rfile, client_side, inflater=None, deflater=None):
        self.sock = sock
        self.rfile = rfile
        self.client_side = client_side
        self.inflater = inflater  # WsDeflater for what we receive, or None
        self.deflater = deflater  # WsDeflater for what we send, or None
        self.pings_received = 0
        self.close_code = None

    def _read(self, n):
        data = self.rfile.read(n)
        if len(data) != n:
            raise ConnectionGone("connection closed inside a frame" if data else "connection closed")
        return data

    def read_frame(self):
        """(fin, rsv1, opcode, payload, masked) of the next frame, unmasked."""
        b0, b1 = self._read(2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(self._read(2), "big")
        elif n == 127:
            n = int.from_bytes(self._read(8), "big")
        mask = self._read(4) if b1 & 0x80 else None
        payload = self._read(n)
        if mask:
            payload = ws_mask(payload, mask)
        return bool(b0 & 0x80), bool(b0 & 0x40), b0 & 0x0F, payload, mask is not None

    def send_frame(self, opcode, payload, fin=True, rsv1=False):
        mask = os.urandom(4) if self.client_side else None
        self.sock.sendall(ws_frame(opcode, payload, fin, rsv1, mask))

    def read_message(self):
        parts, opcode, compressed, frames, wire = [], None, False, 0, 0
        while True:
            fin, rsv1, op, payload, masked = self.read_frame()
            if masked == self.client_side:  # clients mask, servers do not
                raise ValueError("frame masking is wrong for this direction")
            if op == WS_PING:
                self.pings_received += 1
                self.send_frame(WS_PONG, payload)
                continue
            if op == WS_PONG:
                continue
            if op == WS_CLOSE:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                try:
                    self.send_frame(WS_CLOSE, payload[:2])
                except OSError:
                    pass
                return None
            if opcode is None:
                if op == WS_CONT:
                    raise ValueError("continuation frame without a message")
                opcode, compressed = op, rsv1
            elif op != WS_CONT:
                raise ValueError("new message inside a fragmented one")
            frames += 1
            wire += len(payload)
            parts.append(payload)
            if fin:
                break
        data = b"".join(parts)
        if compressed:
            if self.inflater is None:
                raise ValueError("compressed message without permessage-deflate")
            data = self.inflater.inflate(data)
        return opcode, data, {"frames": frames, "wire_bytes": wire, "compressed": compressed}

    def encode_message(self, data, fragment=0, ping=False, opcode=WS_TEXT):
        """The bytes of one message, compressed when negotiated, in frames of at most
        `fragment` payload bytes (0: one frame); ping: a ping frame right before the last
        frame, so between fragments when there are several.  Returns (bytes, info) with
        info {"frames", "wire_bytes"}.  Compresses now: encode messages in sending order."""
        payload = self.deflater.compress(data) if self.deflater else data
        step = fragment if fragment > 0 else max(1, len(payload))
        pieces = [payload[i:i + step] for i in range(0, len(payload), step)] or [b""]
        out = []
        for k, piece in enumerate(pieces):
            last = k == len(pieces) - 1
            mask = os.urandom(4) if self.client_side else None
            if ping and last:
                out.append(ws_frame(WS_PING, b"tt", mask=mask))
            out.append(ws_frame(opcode if k == 0 else WS_CONT, piece, last, k == 0 and self.deflater is not None,
                                mask))
        return b"".join(out), {"frames": len(pieces), "wire_bytes": len(payload)}

    def send_message(self, data, fragment=0, ping=False, opcode=WS_TEXT):
        wire, info = self.encode_message(data, fragment, ping, opcode)
        self.sock.sendall(wire)
        return info

    def close(self, code=1000):
        """Sends Close and waits for the peer's (messages still in flight are dropped)."""
        self.send_frame(WS_CLOSE, code.to_bytes(2, "big"))
        try:
            while True:
                fin, rsv1, op, payload, masked = self.read_frame()
                if op == WS_CLOSE:
                    return
        except OSError:
            return

#!/usr/bin/python3
"""HTTPS bulk server for bench/tls_bulk.sh (system libssl through Python's ssl module).

    /usr/bin/python3 bench/bulk_server.py --port P --cert C --key K [--ready-file F]

GET /bytes/N[?anything] answers N bytes (Content-Length, HTTP/1.1 keep-alive), written 1 MiB at a
time from one buffer; one thread per connection. Not an LLM API: tokentap should count it as other
HTTP and, for a named Host, stop copying the connection's bytes after its first exchange.
"""
import argparse
import http.server
import os
import ssl


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: with Nagle the body's first segment waits for the ACK of the header's, and the
    # client's delayed ACK then stalls each keep-alive request by up to 40 ms.
    disable_nagle_algorithm = True
    buf = memoryview(os.urandom(1 << 20))

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if not path.startswith("/bytes/"):
            self.send_error(404)
            return
        n = int(path[len("/bytes/"):])
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        self.end_headers()
        while n > 0:
            k = min(n, len(self.buf))
            self.wfile.write(self.buf[:k])
            n -= k

    def log_message(self, *a):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--ready-file")
    a = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    ctx.set_alpn_protocols(["http/1.1"])
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    if a.ready_file:
        with open(a.ready_file + ".tmp", "w") as f:
            f.write(str(a.port))
        os.rename(a.ready_file + ".tmp", a.ready_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()

#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A test origin server for the proxy tests (python3's http.server, HTTP/1.1,
keep-alive): python3 http_origin.py PORT [ADDR]; prints "ready".

  GET  /json            {"items": [...]} with Content-Length
  GET  /chunked         the same JSON in several chunks (Transfer-Encoding: chunked)
  GET  /big?n=N         N bytes of a repeating pattern (Content-Length)
  GET  /big-chunked?n=N N bytes of the pattern, chunked in 4 KiB pieces
  GET  /eof?n=N         N bytes, no length: the body ends when the server closes
  GET  /count           how many requests reached the server (any path)
  GET  /anything        "path=/anything method=GET" (Content-Length)
  HEAD /json            the headers of GET /json
  POST /echo            the request body back (Content-Length or chunked;
                        Expect: 100-continue answered by http.server)
  GET  /ws              101 Switching Protocols, then every byte echoed back
"""
import json
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COUNT = 0
LOCK = threading.Lock()
DOC = json.dumps({"items": [{"id": i, "name": "item-%d" % i} for i in range(20)]}).encode()


def pattern(n):
    unit = b"0123456789abcdefghijklmnopqrstuvwxyz\n"
    return (unit * (n // len(unit) + 1))[:n]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def count(self):
        global COUNT
        with LOCK:
            COUNT += 1

    def send_body(self, body, ctype="application/octet-stream"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def arg_n(self):
        q = self.path.partition("?")[2]
        for kv in q.split("&"):
            if kv.startswith("n="):
                return int(kv[2:])
        return 1000

    def chunked(self, body, piece):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(0, len(body), piece):
            part = body[i:i + piece]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def do_HEAD(self):
        self.count()
        self.send_body(DOC, "application/json")

    def do_GET(self):
        self.count()
        path = self.path.partition("?")[0]
        if path == "/json":
            self.send_body(DOC, "application/json")
        elif path == "/chunked":
            self.chunked(DOC, 100)
        elif path == "/big":
            self.send_body(pattern(self.arg_n()))
        elif path == "/big-chunked":
            self.chunked(pattern(self.arg_n()), 4096)
        elif path == "/eof":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(pattern(self.arg_n()))
            self.close_connection = True
        elif path == "/count":
            self.send_body(str(COUNT).encode(), "text/plain")
        elif path == "/ws":
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.end_headers()
            self.wfile.flush()
            while True:
                b = self.rfile.read1(4096)
                if not b:
                    break
                self.wfile.write(b)
                self.wfile.flush()
            self.close_connection = True
        else:
            self.send_body(("path=%s method=GET" % path).encode(), "text/plain")

    def do_POST(self):
        self.count()
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if not size:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_body(body, "application/octet-stream")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def main():
    port = int(sys.argv[1])
    addr = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    if ":" in addr:
        Server.address_family = socketserver.socket.AF_INET6
    srv = Server((addr, port), Handler)
    print("ready", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()

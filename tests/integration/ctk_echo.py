#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""An echo server for the Chaos Toolkit compatibility test (python3's
http.server): python3 ctk_echo.py PORT; prints "ready".

  ANY /echo...      200, application/json: {"method", "path", "query",
                    "headers", "body"} of the request as received
  ANY /status/N     status N, text/plain body "status N", header X-Reply: n
  GET /text         200, text/plain "hello world 42"
  GET /items        200, application/json {"items": [{"id": 1, "ok": true}, ...]}
  GET /jsontext     200, application/json; charset=utf-8 (not exactly
                    application/json: chaostoolkit-lib keeps it as text)
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body, ctype, extra=()):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode() if n else ""
        path, _, query = self.path.partition("?")
        if path.startswith("/echo"):
            self.reply(200, json.dumps({"method": self.command, "path": path, "query": query,
                                        "headers": dict(self.headers), "body": body}),
                       "application/json")
        elif path.startswith("/status/"):
            code = int(path.split("/")[2])
            self.reply(code, "status %d" % code, "text/plain", [("X-Reply", "n")])
        elif path == "/text":
            self.reply(200, "hello world 42", "text/plain")
        elif path == "/items":
            self.reply(200, json.dumps({"items": [{"id": 1, "ok": True}, {"id": 2, "ok": True},
                                                  {"id": 3, "ok": False}]}),
                       "application/json")
        elif path == "/jsontext":
            self.reply(200, '{"a": 1}', "application/json; charset=utf-8")
        else:
            self.reply(404, "not found", "text/plain")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any


srv = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
print("ready", flush=True)
srv.serve_forever()

# SPDX-License-Identifier: MIT
"""A fake duress agent for the package's own tests: an HTTP server on a
unix socket (or on loopback TCP) that answers as docs/api.md says the real
one does, with jobs whose life the test drives, every request recorded,
and any route replaceable by a test's own answer (error paths)."""

import http.server
import json
import os
import socket
import socketserver
import threading
import time
import urllib.parse


def _job(id, kind, what, target, lease=None):
    j = {"id": id, "kind": kind, "target": target,
         "target_dir": target.split(":", 1)[1] if target and target.startswith("cgroup:") else "/x",
         "state": "running", "phase": None, "pid": 4242, "started": "2026-11-27T01:02:03.456Z",
         "ended": None, "exit_code": None, "elapsed_s": 0.0}
    j["title" if kind == "experiment" else "fault"] = what
    if lease:
        j["lease"] = {"seconds": lease, "expires_in_s": lease, "expired": False}
    return j


SUMMARY = {
    "fault": "memory", "target": "/sys/fs/cgroup/app", "for": "5m", "in_force_s": 1.25,
    "revert_ms": 0.4, "reverted": 1, "already_gone": 0, "not_reverted": [], "ended_by": "Terminated",
    "before": {"samples": 1, "seconds": 0.0, "cpu": {}, "memory": {"peak": 25165824, "events": {}},
               "psi": {}},
    "during": {"samples": 2, "seconds": 1.0, "cpu": {"usage_pct_avg": 12.5, "nr_throttled": 3,
                                                    "throttled_usec": 250000},
               "memory": {"peak": 62914560, "events": {"oom_kill": 1, "oom": 1, "max": 17,
                                                      "high": 0}},
               "psi": {"memory": {"some_avg10_peak": 40.5, "full_avg10_peak": 30.25}}},
    "fault_report": {"hog_restarts": 2},
}


class FakeAgent:
    """``FakeAgent(tmp_path)`` listens on tmp_path/agent.sock (``tcp=True``:
    127.0.0.1, a free port); ``.socket`` / ``.url``.  Jobs: a fault is in
    force after ``in_force_after`` GETs; DELETE ends it with
    ``delete_exit`` and ``summary``."""

    def __init__(self, directory, tcp=False, token=None, api=1, version="0.1.0",
                 features=("lease", "sample-now")):
        self.api = api
        self.version = version
        self.features = list(features)
        self.token = token
        self.requests = []
        self.routes = {}  # (method, path) -> fn(handler, query, body) -> (status, body[, ctype])
        self.jobs = {}
        self.in_force_after = 1
        self.fault_gets_to_end = None  # a fault's duration runs out after that many GETs
        self.delete_exit = 8
        self.summary = json.loads(json.dumps(SUMMARY))
        self.exit_before_in_force = None  # (exit_code, outcome, log)
        self.renewals = {}
        self.journal = None  # an experiment's journal when it ends
        self.experiment_exit = 0
        self.experiment_gets_to_end = 2
        self.samples = [{"t": 0.0, "phase": "before", "memory": {"current": 1}},
                         {"t": 1.0, "phase": "during", "memory": {"current": 2}},
                         {"t": 2.0, "phase": "during", "memory": {"current": 3}}]
        self.now_sample = {"t": 5.0, "memory": {"current": 1000, "max": "max",
                                                "events": {"oom_kill": 0}},
                           "cpu": {"usage_pct": 3.5}}
        self.metrics_text = ("# HELP duress_faults_active x\n# TYPE duress_faults_active gauge\n"
                             "duress_faults_active 1\n"
                             'duress_target_memory_current_bytes{target="/sys/fs/cgroup/app"} 26431488\n'
                             'duress_target_memory_max_bytes{target="/sys/fs/cgroup/app"} +Inf\n')
        self._seq = 0
        self._lock = threading.Lock()
        agent = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def address_string(self):
                return "fake"

            def _do(self):
                u = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                agent.requests.append({"method": self.command, "path": u.path, "query": query,
                                       "headers": dict(self.headers), "body": body})
                if agent.token and u.path != "/healthz" and \
                        self.headers.get("Authorization") != "Bearer " + agent.token:
                    return self.send(401, {"error": "a bearer token is required (Authorization: "
                                                    "Bearer TOKEN)", "field": "Authorization",
                                           "status": 401})
                fn = agent.routes.get((self.command, u.path))
                if fn is None:
                    fn = agent.default
                r = fn(self, query, body)
                if r is None:  # the route answered by itself (a stream)
                    return
                self.send(*r)

            do_GET = do_POST = do_DELETE = do_PUT = _do

            def send(self, status, body, ctype="application/json"):
                if isinstance(body, (dict, list)):
                    data = (json.dumps(body) + "\n").encode()
                elif isinstance(body, str):
                    data = body.encode()
                else:
                    data = body or b""
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def stream(self, lines, delay=0.05):
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for line in lines:
                    data = (json.dumps(line) + "\n").encode()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
                    time.sleep(delay)
                self.wfile.write(b"0\r\n\r\n")

        if tcp:
            class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
                daemon_threads = True
                allow_reuse_address = True
            self.server = Server(("127.0.0.1", 0), Handler)
            self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
            self.socket = None
        else:
            class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
                daemon_threads = True
            self.socket = os.path.join(str(directory), "agent.sock")
            self.server = Server(self.socket, Handler)
            self.url = None
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        if self.socket and os.path.exists(self.socket):
            os.unlink(self.socket)

    def calls(self, method=None, path=None):
        return [r for r in self.requests
                if (method is None or r["method"] == method)
                and (path is None or r["path"] == path or
                     (path.endswith("*") and r["path"].startswith(path[:-1])))]

    # ---- the default behaviour: docs/api.md ----

    def _new_id(self, prefix, given):
        with self._lock:
            self._seq += 1
            return given or "%s-%d" % (prefix, self._seq)

    def default(self, h, query, body):
        path = h.path.split("?")[0]
        m = h.command
        if path == "/healthz":
            return 200, "ok\n", "text/plain"
        if path == "/v1/version":
            return 200, {"version": self.version, "api": self.api, "features": self.features}
        if path == "/metrics":
            return 200, self.metrics_text, "text/plain; version=0.0.4"
        if path == "/v1/targets":
            return 200, [{"id": "abc", "cgroup": "/sys/fs/cgroup/app"}]
        if path == "/v1/samples":
            if query.get("now"):
                s = dict(self.now_sample, target=query.get("target"))
                return 200, json.dumps(s) + "\n", "application/x-ndjson"
            if query.get("follow"):
                h.stream(self.samples)
                return None
            text = "".join(json.dumps(s) + "\n" for s in self.samples)
            return 200, text, "application/x-ndjson"
        for kind, base in (("fault", "/v1/faults"), ("experiment", "/v1/experiments")):
            if path == base and m == "POST":
                if kind == "fault":
                    req = json.loads(body)
                    id = self._new_id("flt", req.get("id"))
                    lease = req.get("lease")
                    job = _job(id, kind, req["fault"], req["target"],
                               float(lease.rstrip("s")) if lease else None)
                else:
                    id = self._new_id("exp", query.get("id"))
                    lease = query.get("lease")
                    job = _job(id, kind, "fake experiment", query.get("target") or "",
                               float(lease.rstrip("s")) if lease else None)
                job["_gets"] = 0
                self.jobs[id] = job
                return 201, self._public(job)
            if path == base and m == "GET":
                return 200, [self._public(j) for j in self.jobs.values() if j["kind"] == kind]
            if path.startswith(base + "/"):
                rest = path[len(base) + 1:]
                id, _, sub = rest.partition("/")
                job = self.jobs.get(id)
                if job is None or job["kind"] != kind:
                    return 404, {"error": "'%s': no such job" % id, "field": "id", "status": 404}
                if sub == "lease" and m == "POST":
                    if "lease" not in job:
                        return 409, {"error": "'%s' was started without a lease" % id,
                                     "field": "lease", "status": 409}
                    self.renewals[id] = self.renewals.get(id, 0) + 1
                    return 200, self._public(job)
                if m == "GET":
                    self._advance(job)
                    return 200, self._public(job, full=True)
                if m == "DELETE":
                    if job["state"] != "exited":
                        self._end(job, self.delete_exit if kind == "fault" else 8)
                    return 200, self._public(job, full=True)
        return 404, {"error": "no such resource", "status": 404}

    def _public(self, job, full=False):
        j = {k: v for k, v in job.items() if not k.startswith("_")}
        if not full:
            j.pop("summary", None)
            j.pop("journal", None)
            j.pop("log", None)
        return j

    def _advance(self, job):
        job["_gets"] += 1
        if job["state"] != "running":
            return
        if job["kind"] == "fault":
            if self.exit_before_in_force:
                code, outcome, log = self.exit_before_in_force
                job.update(state="exited", exit_code=code, outcome=outcome, log=log,
                           summary=None)
                return
            if job["_gets"] >= self.in_force_after:
                job["phase"] = "during"
            if self.fault_gets_to_end and job["_gets"] >= self.fault_gets_to_end:
                self._end(job, 0)
                job["summary"]["ended_by"] = "duration"
        else:
            job["phase"] = "during"
            if job["_gets"] >= self.experiment_gets_to_end:
                self._end(job, self.experiment_exit)

    def _end(self, job, code):
        job["state"] = "exited"
        job["exit_code"] = code
        job["outcome"] = {0: "ok", 1: "deviated", 7: "not reverted", 8: "interrupted",
                          9: "aborted"}.get(code, "unknown")
        job["phase"] = "after"
        if "lease" in job:
            job["lease"]["expires_in_s"] = None
        if job["kind"] == "fault":
            s = json.loads(json.dumps(self.summary))
            if code == 7:
                s["not_reverted"] = ["memory.max of /sys/fs/cgroup/app: write '943718400': "
                                     "Device or resource busy"]
            job["summary"] = s
            job["log"] = "duress: memory fault in force on cgroup /app for 300.0s\n"
        else:
            job["journal"] = self.journal or {
                "status": "completed", "deviated": code == 1,
                "steady_states": {"before": {"steady_state_met": True, "probes": []},
                                  "after": {"steady_state_met": code == 0, "probes": [] if code == 0
                                            else [{"activity": {"name": "web answers"},
                                                   "status": "succeeded",
                                                   "tolerance_met": False,
                                                   "exception": ["status 503, expected 200"]}]}},
                "duress": {"verdict": {0: "held", 1: "deviated", 9: "aborted",
                                       8: "interrupted"}.get(code, "held"),
                           "exit_code": code, "target": {"dir": "/sys/fs/cgroup/app"},
                           "revert": {"ms": 0.5, "reverted": 1, "not_reverted": []},
                           "probes": [], "silent_failures": [], "phases": {}}}
            job["log"] = ""


def unused_socket_path(directory):
    """A unix socket file nobody listens on (a server that died)."""
    p = os.path.join(str(directory), "dead.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(p)
    s.close()
    return p

"""Hostile requests for duress serve (tests/integration/test_serve_abuse.sh).

serve_abuse.py SOCKET: send every request of the list below (generated:
auth, routing, headers, bodies: oversized, deeply nested, many keys, bad
UTF-8, huge regexes) to the unix socket SOCKET, each on its own connection,
and print one line per status: "STATUS COUNT", then "sent N".  A request
the server drops without an answer counts as status 0.
"""
import collections
import json
import os
import socket
import sys
import time

path = sys.argv[1]


def send(raw, timeout=20):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(raw)
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        data = b""
    finally:
        s.close()
    try:
        return int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def req(method, target, body=None, headers=()):
    h = [b"%s %s HTTP/1.1" % (method, target), b"Host: duress", b"Connection: close"]
    h += list(headers)
    if body is not None:
        h.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(h) + b"\r\n\r\n" + (body or b"")


reqs = []
# auth: bearer tokens that are wrong in every way (the socket needs none:
# they must change nothing either)
for tok in [b"", b"x", b"Bearer", b"Bearer " + b"a" * 5000, b"Basic Zm9vOmJhcg==",
            b"Bearer \xff\xfe", b"bearer  \t x"] * 4:
    reqs.append(req(b"GET", b"/v1/faults", headers=[b"Authorization: " + tok]))
# routing
for p in [b"/", b"//", b"/v1", b"/v1/", b"/v1/faults/../../etc/passwd", b"/v1/faults/%2e%2e",
          b"/v1/faults/" + b"a" * 33, b"/v1/faults/a/b/c", b"/v1/faults/x/lease/x",
          b"/v1/experiments/%00", b"/v1/targets?x=" + b"y" * 3000, b"/metrics/../healthz",
          b"/" + b"a" * 8000, b"/v1/samples?target=cgroup:/../../etc", b"/v1/samples?job=../x",
          b"/v1/samples?follow=maybe&target=x", b"/healthz?" + b"&" * 2000, b"*"]:
    for m in [b"GET", b"POST", b"DELETE", b"PUT", b"PATCH", b"OPTIONS", b"TRACE"]:
        reqs.append(req(m, p, body=b"{}" if m == b"POST" else None))
# headers: huge, many, broken
reqs.append(req(b"GET", b"/healthz", headers=[b"X-Big: " + b"a" * 200000]))
reqs.append(req(b"GET", b"/healthz", headers=[b"X-%d: y" % i for i in range(5000)]))
reqs.append(b"GET /healthz HTTP/1.1\r\nHost: d\r\nBroken header line\r\n\r\n")
reqs.append(b"GET /healthz HTTP/9.9\r\n\r\n")
reqs.append(b"\x00\x01\x02\x03" * 100)
reqs.append(b"POST /v1/faults HTTP/1.1\r\nHost: d\r\nContent-Length: -1\r\n\r\n")
reqs.append(b"POST /v1/faults HTTP/1.1\r\nHost: d\r\nContent-Length: 99999999999999999999\r\n\r\n")
reqs.append(b"POST /v1/faults HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
reqs.append(b"POST /v1/faults HTTP/1.1\r\nHost: d\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
# bodies of faults: every field wrong
fault = {"fault": "memory", "target": "cgroup:/x", "duration": "1s", "options": {"max": "64M"}}
bad_values = [None, True, 1, -1, 1e308, "", "\u0000", "a" * 5000, [], {}, ["x"] * 1000,
              "../../etc/passwd", "cgroup:/../../etc", "pid:-1", "pid:99999999999",
              "0" * 40 + "1s", "1e999s", "-5s", "nan", "\ud7ff", "1s; rm -rf /"]
for key in ["fault", "target", "duration", "options", "force", "interval", "baseline", "id",
            "lease"]:
    for v in bad_values:
        b = dict(fault)
        b[key] = v
        reqs.append(req(b"POST", b"/v1/faults", json.dumps(b).encode(),
                        [b"Content-Type: application/json"]))
for opt in ["max", "high", "hog", "swap-max", "nosuch"]:
    for v in bad_values[:10]:
        b = dict(fault)
        b["options"] = {opt: v}
        reqs.append(req(b"POST", b"/v1/faults", json.dumps(b).encode()))
# bodies: oversized, nested, many keys, bad UTF-8, not JSON
reqs.append(req(b"POST", b"/v1/faults", b"{" * 2 + b" " * (1 << 20)))
reqs.append(req(b"POST", b"/v1/faults", b"[" * 100000 + b"]" * 100000))
reqs.append(req(b"POST", b"/v1/faults", b'{"a":' * 50000 + b"1" + b"}" * 50000))
reqs.append(req(b"POST", b"/v1/faults", json.dumps({"k%d" % i: i for i in range(60000)}).encode()))
reqs.append(req(b"POST", b"/v1/faults", b'{"fault":"\xff\xfe\xc3"}'))
reqs.append(req(b"POST", b"/v1/faults", b'{"fault":"memory","fault":"cpu"}'))
reqs.append(req(b"POST", b"/v1/faults", b"\xef\xbb\xbf{}"))
reqs.append(req(b"POST", b"/v1/faults", b"not json at all"))
# experiments: YAML and JSON manifests that are hostile
exp = "title: t\ndescription: d\nmethod:\n  - type: probe\n    name: p\n    provider: {type: http, url: 'http://127.0.0.1:1/'}\n"
for body in [
        b"[" * 100000,
        b"a: " + b"[" * 60000,
        b"- &a [" + b"*a, " * 50000 + b"]",
        b"a: &a ['x','x','x','x','x','x','x','x','x']\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        b"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        b"e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
        "".join("k%d: 1\n" % i for i in range(6000)).encode(),
        (exp + "configuration:\n  s: {type: env, key: HOME}\n").encode(),
        (exp.replace("url: 'http://127.0.0.1:1/'", "url: 'http://127.0.0.1:1/', regex: 'x{0,32767}'")).encode(),
        (exp.replace("url: 'http://127.0.0.1:1/'", "url: 'http://127.0.0.1:1/', regex: '" + "(a*)*" * 300 + "'")).encode(),
        (exp.replace("type: http, url: 'http://127.0.0.1:1/'", "type: process, path: /bin/sh")).encode(),
        # (a target in duress's own format: Chaos Toolkit's ignores unknown keys)
        b"name: n\ndescription: d\nhypothesis: {title: h}\ntarget: cgroup:/../../../etc\n"
        b"method:\n  - {type: action, name: a, provider: cpu, workers: 1, duration: 1s}\n",
        b"title: \xff\xfe\ndescription: d\n",
        b"{\"title\": \"t\", \"description\": \"" + b"\xc3" * 1000 + b"\"}",
        b"\x00" * 1000,
        b"%YAML 9.9\n---\na: b\n",
        b"!!python/object:os.system 'id'\n",
]:
    for q in [b"", b"?id=%2e%2e", b"?target=cgroup:/../x", b"?lease=999h", b"?id=" + b"a" * 40]:
        reqs.append(req(b"POST", b"/v1/experiments" + q, body))
# once, 60,000 unknown keys (each one a diagnostic)
reqs.append(req(b"POST", b"/v1/experiments", "".join("k%d: 1\n" % i for i in range(60000)).encode()))
# leases and deletes of jobs that do not exist
for i in range(20):
    reqs.append(req(b"POST", b"/v1/faults/nosuch%d/lease" % i))
    reqs.append(req(b"DELETE", b"/v1/experiments/nosuch%d" % i))

counts = collections.Counter()
slow = os.environ.get("ABUSE_SLOW")
for r in reqs:
    t = time.time()
    st = send(r)
    counts[st] += 1
    if slow and time.time() - t > 0.5:
        print("slow %.1fs %d %r" % (time.time() - t, st, r[:120]), file=sys.stderr)
for k in sorted(counts):
    print(k, counts[k])
print("sent", len(reqs), flush=True)

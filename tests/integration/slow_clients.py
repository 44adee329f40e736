"""Slow clients for duress serve (tests/integration/test_serve_guard.sh).

slow_clients.py SOCKET N SECONDS: open N connections to the unix socket
SOCKET, each sending a request head one byte every 2 s (slowloris), for
SECONDS; then print how many the server closed, one line: "closed K of N".
"""
import socket
import sys
import time

path, n, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
head = b"GET /healthz HTTP/1.1\r\nHost: d\r\n" + b"X-Slow: " + b"a" * 4096
conns = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(path)
    except BlockingIOError:
        pass
    except OSError:
        s.close()
        continue
    conns.append([s, 0, False])
end = time.time() + secs
while time.time() < end:
    for c in conns:
        if c[2]:
            continue
        try:
            if c[1] < len(head):
                c[0].send(head[c[1]:c[1] + 1])
                c[1] += 1
            # a closed connection reads as EOF (b"") or an error
            try:
                if c[0].recv(4096) == b"":
                    c[2] = True
            except BlockingIOError:
                pass
        except OSError:
            c[2] = True
    time.sleep(2)
print("closed %d of %d" % (sum(1 for c in conns if c[2]), len(conns)), flush=True)

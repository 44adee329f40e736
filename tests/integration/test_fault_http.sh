# needs: no kernel
# The http fault through its explicit proxy (--listen/--upstream: no target,
# no redirect, loopback only) in front of a real server (python3's
# http.server, tests/integration/http_origin.py), with real clients (curl,
# ab, wrk, python3's http.client and raw sockets):
#   - 10% 503 over 5000 requests: 10 +/- 1.5%;
#   - --delay 200ms adds 200 ms (trimmed mean over 20 requests);
#   - --rate-limit 20/s lets 20 +/- 2 a second through for 10 s (the rest 429
#     with Retry-After), or holds them (--rate-limit-queue);
#   - truncated, corrupt, replaced, wrong-type, malformed-JSON bodies and
#     resets reach the client as asked, on Content-Length, chunked and
#     until-EOF bodies;
#   - with no fault matching: keep-alive, chunked, pipelined requests,
#     Expect: 100-continue, HEAD and a WebSocket upgrade pass unchanged;
#     a 100 MiB download keeps the proxy's memory flat;
#   - several rules at once (--rule), matchers on method, path and header;
#   - bad input: exit 2 naming the option, exit 4 for an upstream that does
#     not answer or a port in use; nothing left running;
#   - kill -9 of the agent: the proxy is gone within 1 s, the port free.
# timeout: 600
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
STATE=$WORK/state
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP=$(free_port)
PX=$(free_port)
ORIGIN=http://127.0.0.1:$UP
PROXY=http://127.0.0.1:$PX

origin_up() { curl -fs -o /dev/null "$ORIGIN/count"; }
proxy_up() { curl -s -o /dev/null "$PROXY/count"; }
bg_start SERVER 20 origin_up "$WORK/origin.out" "$WORK/origin.err" \
	"$PY" "$TOP/tests/integration/http_origin.py" "$UP" || fail "origin server started"
_pids+=("$SERVER")

# start the fault in the background: ARGS... (its pid in $AGENT)
start() {
	: > "$WORK/agent.err"
	bg_start AGENT 20 proxy_up "$WORK/agent.out" "$WORK/agent.err" \
		"$DURESS" inject http --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$UP" \
		--for 120s -q --state-dir "$STATE" --summary "$WORK/summary.json" "$@"
}
stop() {
	bg_stop AGENT INT
	[ "$BG_RC" = 8 ] || echo "  agent ended with $BG_RC: $(tail -n 3 "$WORK/agent.err")"
}

# ---- percentages: 10% 503 over 5000 requests ----
start --abort 503 --percent 10
# (200, or the 503 it injects into one request in ten: curl -f failed then)
check "the proxy answers" bash -c 'case $(curl -s -o /dev/null -w "%{http_code}" "$1/anything") in 200 | 503) ;; *) exit 1 ;; esac' _ "$PROXY"
ab -q -n 5000 -c 8 "$PROXY/anything" > "$WORK/ab.txt" 2>&1
total=$(awk '/^Complete requests:/ {print $3}' "$WORK/ab.txt")
non2xx=$(awk '/^Non-2xx responses:/ {print $3}' "$WORK/ab.txt")
pct=$(awk -v a="${non2xx:-0}" -v b="${total:-0}" 'BEGIN { if (b) printf "%.2f", 100 * a / b; else print -1 }')
check "ab: 5000 requests complete ($total)" [ "${total:-0}" = 5000 ]
check "10% answered 503: $pct% of 5000 (10 +/- 1.5)" in_range "$pct" 8.5 11.5
stop
# (two more requests than ab's: the readiness check and the one above)
check "the summary counts them: http.injected.abort = $non2xx (+ at most 2)" \
	jq -e --argjson n "${non2xx:-0}" '.fault_report.http.injected.abort - $n | . >= 0 and . <= 2' "$WORK/summary.json"
check "... and http.requests = 5000 (+ at most 2)" \
	jq -e '.fault_report.http.requests >= 5000 and .fault_report.http.requests <= 5002' "$WORK/summary.json"
check "the agent reports 'ended by' a signal, everything reverted" \
	jq -e '.reverted == 1 and (.not_reverted | length) == 0' "$WORK/summary.json"

# ---- delay: +200 ms (trimmed mean) ----
# times TAG: 20 request times (ms) through the proxy, one per line
times() { for _ in $(seq 20); do curl -s -o /dev/null -w '%{time_total}\n' "$PROXY${2:-/anything}"; done |
	awk '{printf "%.1f\n", $1 * 1000}' | sort -n > "$WORK/$1.txt"; }
trimmed() { awk '{v[NR]=$1} END {s=0; n=0; for (i=3; i<=NR-2; i++) {s+=v[i]; n++} printf "%.1f", s/n}' "$1"; }
start --abort 500 --path /never
times base
stop
start --delay 200ms --path /anything
times delayed
times other /count
stop
added=$(awk -v a="$(trimmed "$WORK/delayed.txt")" -v b="$(trimmed "$WORK/base.txt")" 'BEGIN {printf "%.1f", a - b}')
check "--delay 200ms adds ${added} ms (trimmed mean of 20; 180-350)" in_range "$added" 180 350
other=$(awk -v a="$(trimmed "$WORK/other.txt")" -v b="$(trimmed "$WORK/base.txt")" 'BEGIN {printf "%.1f", a - b}')
check "a path the rule does not match is not delayed (${other} ms added)" in_range "$other" -100 100
check "latency_added_ms p50 about 200" \
	jq -e '.fault_report.http.latency_added_ms.p50 >= 190 and .fault_report.http.latency_added_ms.p50 <= 210 and .fault_report.http.injected.delay == 20' "$WORK/summary.json"

# ---- rate limit: 20/s for 10 s ----
# (16 connections: enough free ones to take every token even when the
# server is slow to answer those let through)
start --rate-limit 20/s
# counted by the server (requests that reached it), over wrk's 10 s
before=$(curl -s "$ORIGIN/count")
wrk -t2 -c16 -d10s "$PROXY/anything" > "$WORK/wrk.txt" 2>&1
after=$(curl -s "$ORIGIN/count")
secs=$(awk '/requests in/ {sub(/s,?$/, "", $4); print $4}' "$WORK/wrk.txt")
limited=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$WORK/wrk.txt")
rate=$(awk -v a="${after:-0}" -v b="${before:-0}" -v s="${secs:-1}" 'BEGIN {printf "%.1f", (a - b - 1) / s}')
check "--rate-limit 20/s: $rate a second reached the server over ${secs}s (20 +/- 2; $limited answered 429)" \
	in_range "$rate" 18 22
curl -s -D "$WORK/h429.txt" -o /dev/null "$PROXY/a" "$PROXY/b" "$PROXY/c"
check "the excess gets 429 with Retry-After" \
	bash -c 'grep -q "^HTTP/1.1 429" "$1" && grep -qi "^Retry-After: [0-9]" "$1"' _ "$WORK/h429.txt"
stop
start --rate-limit 20/s --rate-limit-queue
wrk -t1 -c4 -d4s --latency "$PROXY/anything" > "$WORK/wrkq.txt" 2>&1
qreqs=$(awk '/requests in/ {print $1}' "$WORK/wrkq.txt")
qsecs=$(awk '/requests in/ {sub(/s,?$/, "", $4); print $4}' "$WORK/wrkq.txt")
qrate=$(awk -v r="${qreqs:-0}" -v s="${qsecs:-1}" 'BEGIN {printf "%.1f", r / s}')
check "--rate-limit-queue: none refused" bash -c '! grep -q "Non-2xx" "$1"' _ "$WORK/wrkq.txt"
check "--rate-limit-queue: held to $qrate a second (20 +/- 2)" in_range "$qrate" 18 22
stop

# ---- bodies ----
# fetch URL: body in $WORK/body, "CODE SIZE CURL_EXIT" in $got
fetch() { got=$(curl -s -o "$WORK/body" -w '%{http_code} %{size_download}' "$1"; echo " $?"); }
curl -s -o "$WORK/json.orig" "$ORIGIN/json"
jsize=$(stat -c %s "$WORK/json.orig")
start --truncate-body 50%
fetch "$PROXY/json"
check "--truncate-body 50%, Content-Length body: half ($got of $jsize), then closed (curl 18)" \
	[ "$got" = "200 $((jsize / 2)) 18" ]
fetch "$PROXY/chunked"
check "--truncate-body 50%, chunked body: half, without its last chunk (curl 18): $got" \
	[ "$got" = "200 $((jsize / 2)) 18" ]
check "the half is the start of the real body" cmp -n $((jsize / 2)) "$WORK/body" "$WORK/json.orig"
stop
start --truncate-body 100 --path /big
fetch "$PROXY/big?n=5000"
check "--truncate-body 100: 100 bytes of 5000, then closed: $got" [ "$got" = "200 100 18" ]
stop
start --corrupt-body
for u in json chunked; do
	fetch "$PROXY/$u"
	check "--corrupt-body ($u): same length, received whole (curl 0): $got" [ "$got" = "200 $jsize 0" ]
	check "--corrupt-body ($u): the bytes differ from the server's" bash -c '! cmp -s "$1" "$2"' _ "$WORK/body" "$WORK/json.orig"
done
stop
start --malformed-json --content-type text/html
for u in json chunked; do
	curl -s -D "$WORK/hdr" -o "$WORK/body" "$PROXY/$u"
	check "--malformed-json ($u): the body does not parse as JSON" \
		bash -c '! "$1" -c "import json,sys; json.load(open(sys.argv[1]))" "$2" 2>/dev/null' _ "$PY" "$WORK/body"
	check "--malformed-json ($u): framed as a whole (Content-Length $(stat -c %s "$WORK/body"))" \
		grep -qi "^Content-Length: $(stat -c %s "$WORK/body")" "$WORK/hdr"
	check "--content-type text/html ($u): the wrong type" grep -qi '^Content-Type: text/html' "$WORK/hdr"
done
stop
printf '<html>not the API</html>\n' > "$WORK/replacement"
start --replace-body "$WORK/replacement" --method GET
curl -s -o "$WORK/body" "$PROXY/json"
check "--replace-body: the file's content, whole" cmp "$WORK/body" "$WORK/replacement"
check "--method GET: a POST is not touched" \
	bash -c '[ "$(curl -s -X POST --data-binary abc "$1/echo")" = abc ]' _ "$PROXY"
stop
start --reset --path /big
fetch "$PROXY/big?n=200000"
check "--reset: the client sees a reset mid-body (curl 56: $got)" \
	bash -c '[ "${1##* }" = 56 ] && [ "$(echo "$1" | cut -d" " -f2)" -le 100000 ]' _ "$got"
"$PY" - "$PX" > "$WORK/reset.txt" 2>&1 <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /big?n=200000 HTTP/1.1\r\nHost: x\r\n\r\n")
try:
    while s.recv(65536):
        pass
    print("eof")
except ConnectionResetError:
    print("ECONNRESET")
EOF
check "--reset: a socket client gets ECONNRESET" grep -qx ECONNRESET "$WORK/reset.txt"
stop

# ---- several rules, matchers ----
start --rule 'path=/api/*,method=GET,abort=502' --rule 'header=X-Canary:1,abort=504' \
	--rule 'path=/slow,delay=300ms'
codes=$(for u in "/api/x" "/other"; do curl -s -o /dev/null -w '%{http_code} ' "$PROXY$u"; done
	curl -s -o /dev/null -w '%{http_code} ' -X POST -d x "$PROXY/api/x"
	curl -s -o /dev/null -w '%{http_code} ' -H 'X-Canary: 1' "$PROXY/other"
	curl -s -o /dev/null -w '%{http_code}' -H 'X-Canary: 2' "$PROXY/other")
check "rules: GET /api/* 502, others 200, POST /api 200, X-Canary: 1 504, X-Canary: 2 200 ($codes)" \
	[ "$codes" = "502 200 200 504 200" ]
t=$(curl -s -o /dev/null -w '%{time_total}' "$PROXY/slow")
check "rule 3 delays /slow (${t}s)" awk -v t="$t" 'BEGIN {exit !(t >= 0.3 && t < 3)}'
stop

# ---- no fault matching: everything passes unchanged ----
start --abort 500 --path /never-matches
curl -sv -o /dev/null -o /dev/null -o /dev/null "$PROXY/json" "$PROXY/chunked" "$PROXY/anything" 2> "$WORK/ka.txt"
check "keep-alive: three requests on one connection" grep -q 'Re-using existing connection' "$WORK/ka.txt"
for u in json chunked "big?n=300000" "big-chunked?n=300000" "eof?n=70000"; do
	check "GET /$u: the body as the server sends it" \
		bash -c 'cmp <(curl -s "$1/$3") <(curl -s "$2/$3")' _ "$ORIGIN" "$PROXY" "$u"
done
check "HEAD: the headers, no body" bash -c 'curl -sI "$1/json" | grep -q "^Content-Length: "' _ "$PROXY"
head -c 200000 /dev/urandom > "$WORK/post.bin"
check "POST with Expect: 100-continue: echoed whole" \
	bash -c 'cmp <(curl -s -H "Expect: 100-continue" --data-binary @"$2" "$1/echo") "$2"' _ "$PROXY" "$WORK/post.bin"
check "POST with a chunked body: echoed whole" \
	bash -c 'cmp <(curl -s -H "Transfer-Encoding: chunked" --data-binary @"$2" "$1/echo") "$2"' _ "$PROXY" "$WORK/post.bin"
# pipelining: five requests in one write, the same answers as direct
cat > "$WORK/pipe.py" <<'EOF'
import socket, sys
def response(f):
    status = f.readline().split()[1]
    headers = {}
    while True:
        line = f.readline().rstrip(b"\r\n")
        if not line:
            break
        k, _, v = line.partition(b":")
        headers[k.strip().lower()] = v.strip()
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = b""
        while True:
            n = int(f.readline().split(b";")[0], 16)
            if not n:
                f.readline()
                return status, body
            body += f.read(n)
            f.readline()
    return status, f.read(int(headers[b"content-length"]))
def run(port):
    s = socket.create_connection(("127.0.0.1", port))
    paths = ["/json", "/chunked", "/anything", "/big?n=70000", "/big-chunked?n=9000"]
    s.sendall(b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p.encode() for p in paths))
    f = s.makefile("rb")
    return [response(f) for p in paths]
a, b = run(int(sys.argv[1])), run(int(sys.argv[2]))
print("same" if a == b and len(a) == 5 else "differ")
EOF
check "pipelining: five requests in one write, the same five answers as direct" \
	bash -c '[ "$("$1" "$2" "$3" "$4")" = same ]' _ "$PY" "$WORK/pipe.py" "$UP" "$PX"
cat > "$WORK/ws.py" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(4096)
s.sendall(b"\x81\x05hello, websocket")
got = b""
while len(got) < 18:
    got += s.recv(4096)
print("echoed" if buf.startswith(b"HTTP/1.1 101") and got == b"\x81\x05hello, websocket" else repr(buf + got))
EOF
check "WebSocket upgrade: 101, then bytes both ways untouched" \
	bash -c '[ "$("$1" "$2" "$3")" = echoed ]' _ "$PY" "$WORK/ws.py" "$PX"
# a large download: the proxy's memory stays flat
truncate -s 100M "$WORK/www-big"
mkdir -p "$WORK/www" && mv "$WORK/www-big" "$WORK/www/big"
FS=$(free_port)
files_up() { curl -fs -o /dev/null "http://127.0.0.1:$FS/"; }
bg_start FILES 20 files_up "$WORK/files.out" "$WORK/files.err" \
	"$PY" -m http.server "$FS" --bind 127.0.0.1 --directory "$WORK/www" || fail "file server started"
_pids+=("$FILES")
stop
bg_start AGENT 20 proxy_up "$WORK/agent.out" "$WORK/agent.err" \
	"$DURESS" inject http --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$FS" --abort 500 \
	--path /never --for 120s -q --state-dir "$STATE"
n=$(curl -s "$PROXY/big" | wc -c)
hp=$(helper_pid duress-http)
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$hp/status" 2>/dev/null)
check "a 100 MiB body passes whole ($n bytes)" [ "$n" = 104857600 ]
check "and the proxy's peak memory stays flat (VmHWM ${hwm:-?} KiB < 20 MiB)" [ "${hwm:-999999}" -lt 20480 ]
bg_stop FILES
stop

# ---- bad input ----
expect_exit "--abort 299 (unknown status): exit 2" 2 \
	"$DURESS" inject http --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$UP" --abort 299 --for 1s --state-dir "$STATE"
check "... naming --abort" grep -q -- '--abort 299: not a known HTTP status' "$WORK/stderr"
expect_exit "--percent 101: exit 2" 2 \
	"$DURESS" inject http --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$UP" --abort 503 --percent 101 --for 1s --state-dir "$STATE"
check "... naming --percent" grep -q -- '--percent' "$WORK/stderr"
expect_exit "--rule with a bad value: exit 2" 2 \
	"$DURESS" inject http --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$UP" --rule 'abort=503,percent=200' --for 1s --state-dir "$STATE"
check "... naming the rule and the option" grep -q -- '--rule 1: percent' "$WORK/stderr"
DEAD=$(free_port)
expect_exit "an upstream where nothing listens: exit 4" 4 \
	"$DURESS" inject http --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$DEAD" --abort 503 --for 1s --state-dir "$STATE"
check "... naming --upstream" grep -q -- "--upstream 127.0.0.1:$DEAD: nothing answers there" "$WORK/stderr"
expect_exit "--listen on a port in use: exit 4" 4 \
	"$DURESS" inject http --listen "127.0.0.1:$UP" --upstream "127.0.0.1:$UP" --abort 503 --for 1s --state-dir "$STATE"
check "... naming --listen" grep -q -- "--listen: bind on 127.0.0.1:$UP" "$WORK/stderr"
check "nothing left running after the refusals" not_running duress-http
check "no journal left" bash -c '[ -z "$(ls "$1/journal" 2>/dev/null)" ]' _ "$STATE"

# ---- kill -9 of the agent: the proxy goes with it ----
start --abort 503
hp=$(helper_pid duress-http)
check "the proxy runs as its own process (duress-http, pid ${hp:-none})" [ -n "$hp" ]
kill -9 "$AGENT"
wait "$AGENT" 2>/dev/null
AGENT=
# gone: no such process, or a zombie nobody has reaped yet (its parent died)
gone() { ! [ -e "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
check "kill -9 of the agent: the proxy is gone within 1 s" wait_until 1 gone "$hp"
check "and its port is free again" wait_until 1 bash -c '! curl -s -o /dev/null "$1/count"' _ "$PROXY"
sleep 0.5
check "the guardian left no journal" bash -c '[ -z "$(ls "$1/journal" 2>/dev/null)" ]' _ "$STATE"

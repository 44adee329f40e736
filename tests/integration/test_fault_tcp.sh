# needs: no kernel
# The tcp fault through its explicit proxy (--listen/--upstream, loopback
# only) in front of a real server (tests/integration/http_origin.py) and,
# for TLS, openssl s_server, with real clients (curl, python3 sockets):
#   - --reset: the client sees ECONNRESET; --percent 50 resets about half;
#     --reset-after lets the connection work, then resets it;
#   - --timeout: accepted, never answered, nothing reaches the server: the
#     client times out;
#   - --latency / --latency-up, --bandwidth, --limit-data, --slow-close do
#     what they say, measured by the client;
#   - the connections not picked pass untouched (spliced), TLS included;
#   - bad input: exit 2 naming the option.
# timeout: 300
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
STATE=$WORK/state
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP=$(free_port)
PX=$(free_port)
ORIGIN=http://127.0.0.1:$UP
PROXY=http://127.0.0.1:$PX
origin_up() { curl -fs -o /dev/null "$ORIGIN/count"; }
proxy_listening() { ss -Hltn "sport = :$PX" | grep -q LISTEN; }

bg_start SERVER 20 origin_up "$WORK/origin.out" "$WORK/origin.err" \
	"$PY" "$TOP/tests/integration/http_origin.py" "$UP" || fail "origin server started"
_pids+=("$SERVER")

start() { # [--upstream ADDR:PORT] ARGS...
	local up=127.0.0.1:$UP
	if [ "$1" = --upstream ]; then up=$2; shift 2; fi
	: > "$WORK/agent.err"
	bg_start AGENT 20 proxy_listening "$WORK/agent.out" "$WORK/agent.err" \
		"$DURESS" inject tcp --listen "127.0.0.1:$PX" --upstream "$up" \
		--for 120s -q --state-dir "$STATE" --summary "$WORK/summary.json" "$@"
}
stop() {
	bg_stop AGENT INT
	[ "$BG_RC" = 8 ] || echo "  agent ended with $BG_RC: $(tail -n 3 "$WORK/agent.err")"
}
served() { curl -s "$ORIGIN/count"; }

# a python client: connect, send a request, read everything; prints
# "reset", "eof BYTES" or "timeout"
cat > "$WORK/client.py" <<'EOF'
import socket, sys, time
port, path, wait = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 0
n = 0
try:
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
    if wait:
        n += len(s.recv(65536))
        time.sleep(wait)
        s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
    while True:
        b = s.recv(65536)
        if not b:
            print("eof", n)
            break
        n += len(b)
except (ConnectionResetError, BrokenPipeError):
    print("reset", n)
except socket.timeout:
    print("timeout", n)
EOF
client() { "$PY" "$WORK/client.py" "$PX" "$@"; }

# ---- resets ----
# a reset: curl sees it as a failed connect (7: the RST came while it was
# connecting to a port that listens) or "Connection reset by peer" (56)
reset_seen() { curl -sS -o /dev/null --max-time 5 "$1" 2> "$WORK/curl.err"; local rc=$?
	[ "$rc" = 7 ] || { [ "$rc" = 56 ] && grep -q 'reset by peer' "$WORK/curl.err"; }; }
start --reset
check "--reset: curl sees the reset" reset_seen "$PROXY/json"
check "--reset: a socket client gets ECONNRESET" bash -c '[ "$("$@" | cut -d" " -f1)" = reset ]' _ "$PY" "$WORK/client.py" "$PX" /json
stop
check "the summary counts the resets" jq -e '.fault_report.tcp.injected.reset >= 2' "$WORK/summary.json"
start --reset --percent 50
resets=0
for _ in $(seq 200); do
	reset_seen "$PROXY/anything" && resets=$((resets + 1))
done
check "--reset --percent 50: $resets of 200 connections reset (100 +/- 25)" in_range "$resets" 75 125
stop
start --reset --reset-after 700ms
out=$(client /anything 1)
check "--reset-after 700ms: the first answer comes, then the reset ($out)" \
	bash -c '[ "${1%% *}" = reset ] && [ "${1##* }" -gt 0 ]' _ "$out"
stop

# ---- timeout ----
before=$(served)
start --timeout
timed curl -s -o /dev/null --max-time 2 "$PROXY/anything"
check "--timeout: curl times out (exit 28 after ${took}s)" [ "$rc" = 28 ]
check "--timeout: nothing reached the server" [ "$(served)" = "$((before + 1))" ]
stop
check "the summary counts the black-holed connection" jq -e '.fault_report.tcp.injected.timeout >= 1' "$WORK/summary.json"

# ---- latency, bandwidth, limits ----
base=$(curl -s -o /dev/null -w '%{time_total}' "$PROXY/anything" 2>/dev/null || echo 0)
start --latency 300ms
t=$(curl -s -o /dev/null -w '%{time_total}' "$PROXY/anything")
check "--latency 300ms: the answer comes after ${t}s (0.3-3.0)" awk -v t="$t" 'BEGIN {exit !(t >= 0.3 && t < 3.0)}'
stop
start --latency-up 300ms --latency 200ms
t=$(curl -s -o /dev/null -w '%{time_total}' "$PROXY/anything")
check "--latency-up 300ms --latency 200ms: ${t}s (0.5-3.0)" awk -v t="$t" 'BEGIN {exit !(t >= 0.5 && t < 3.0)}'
stop
start --bandwidth 200KB/s
t=$(curl -s -o "$WORK/bw" -w '%{time_total}' "$PROXY/big?n=400000")
check "--bandwidth 200KB/s: 400 kB in ${t}s (1.6-6.0)" awk -v t="$t" 'BEGIN {exit !(t >= 1.6 && t < 6.0)}'
check "... and whole" [ "$(stat -c %s "$WORK/bw")" = 400000 ]
stop
start --limit-data 1000
got=$(curl -s -o /dev/null -w '%{size_download}' "$PROXY/big?n=100000"; echo " $?")
check "--limit-data 1000: 1000 bytes (head included), then closed (curl 18): $got" \
	[ "$got" = "$(( 1000 - $(curl -s -D - -o /dev/null "$ORIGIN/big?n=100000" | wc -c) )) 18" ]
stop
start --slow-close 1s
t=$(curl -s -o /dev/null -w '%{time_total}' "$PROXY/eof?n=100")
check "--slow-close 1s: the server's close reaches the client after ${t}s (1.0-4.0)" \
	awk -v t="$t" 'BEGIN {exit !(t >= 1.0 && t < 4.0)}'
stop

# ---- untouched when not picked: spliced, TLS too ----
start --reset --percent 0
for u in json "big?n=3000000" "big-chunked?n=300000"; do
	check "--percent 0: GET /$u passes whole" bash -c 'cmp <(curl -s "$1/$3") <(curl -s "$2/$3")' _ "$ORIGIN" "$PROXY" "$u"
done
stop
if command -v openssl > /dev/null; then
	TLS=$(free_port)
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
		-days 1 -subj /CN=localhost > /dev/null 2>&1
	tls_up() { ss -Hltn "sport = :$TLS" | grep -q LISTEN; }
	bg_start TLSD 20 tls_up "$WORK/tls.out" "$WORK/tls.err" \
		openssl s_server -accept "$TLS" -cert "$WORK/cert.pem" -key "$WORK/key.pem" -www -quiet
	_pids+=("$TLSD")
	start --upstream "127.0.0.1:$TLS" --latency 200ms
	t=$(curl -sk -o "$WORK/tls.html" -w '%{time_total}' "https://127.0.0.1:$PX/")
	check "TLS through the tcp fault: the handshake and page pass, delayed (${t}s >= 0.4)" \
		bash -c 'grep -q "s_server" "$1" && awk -v t="$2" "BEGIN {exit !(t >= 0.4)}"' _ "$WORK/tls.html" "$t"
	stop
	bg_stop TLSD KILL
else
	skip "TLS through the tcp fault" "no openssl"
fi

# ---- bad input ----
expect_exit "nothing to do: exit 2" 2 \
	"$DURESS" inject tcp --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$UP" --for 1s --state-dir "$STATE"
check "... saying what to give" grep -q 'nothing to do' "$WORK/stderr"
expect_exit "--timeout with --latency: exit 2" 2 \
	"$DURESS" inject tcp --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$UP" --timeout --latency 1s --for 1s --state-dir "$STATE"
check "... naming --latency" grep -q -- '--latency' "$WORK/stderr"
expect_exit "--bandwidth fast: exit 2" 2 \
	"$DURESS" inject tcp --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$UP" --bandwidth fast --for 1s --state-dir "$STATE"
check "... naming --bandwidth" grep -q -- '--bandwidth' "$WORK/stderr"
check "nothing left running" not_running duress-tcp

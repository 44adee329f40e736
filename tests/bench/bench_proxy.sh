# The proxies of the http and tcp faults with no fault matching, side by
# side with HAProxy (Debian's) as a plain proxy, single-threaded like ours
# (nbthread 1), in front of the same nginx, under the same wrk load, in one
# run: requests a second, p50 and p99 latency, for a small response (100
# bytes) and a large one (1 MiB; 256 KiB in the VM); then the memory of each
# with 1,000 idle keep-alive connections.
# Needs no cgroup v2 (explicit proxies on loopback): runs in the VM under
# `make bench`, or directly: BUILD=build bash tests/bench/bench_proxy.sh
build=${BUILD:-build}
duress=$(cd "$(dirname "$build/duress")" && pwd)/duress
top=$(cd "$(dirname "$0")/../.." && pwd)
D=$(mktemp -d /tmp/duress-bench-proxy.XXXXXX)
PY=/usr/bin/python3
DUR=${BENCH_PROXY_SECONDS:-10}
# under software emulation (the test VM) fewer connections and a smaller
# large body, so that wrk's 2 s timeout measures the proxies, not the VM
if [ -n "${DURESS_VM:-}" ]; then
	CONNS=${BENCH_PROXY_CONNS:-10}
	BIG=${BENCH_PROXY_BIG:-262144}
else
	CONNS=${BENCH_PROXY_CONNS:-50}
	BIG=${BENCH_PROXY_BIG:-1048576}
fi
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$D"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n 8192
for t in nginx haproxy wrk; do
	command -v $t > /dev/null || { echo "  $t missing (make deps)"; exit 1; }
done
port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up() { for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$1/small" && return 0; sleep 0.05; done; return 1; }
O=$(port) DH=$(port) DT=$(port) HH=$(port) HT=$(port)

# the origin: nginx, one worker, keep-alive, no logs
mkdir -p "$D/www" "$D/nginx"
chmod 755 "$D" # nginx's worker (www-data) reads the files
head -c 100 /dev/zero | tr '\0' x > "$D/www/small"
head -c "$BIG" /dev/urandom > "$D/www/big"
chmod 644 "$D/www/"*
cat > "$D/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $D/nginx.pid;
error_log $D/nginx-error.log;
events { worker_connections 8192; }
http {
	access_log off;
	keepalive_requests 1000000;
	client_body_temp_path $D/nginx;
	proxy_temp_path $D/nginx;
	fastcgi_temp_path $D/nginx;
	uwsgi_temp_path $D/nginx;
	scgi_temp_path $D/nginx;
	server { listen 127.0.0.1:$O; root $D/www; }
}
EOF
nginx -c "$D/nginx.conf" -p "$D" > /dev/null 2>&1 &
pids+=($!)
# HAProxy: the same two roles, one thread
cat > "$D/haproxy.cfg" <<EOF
global
	nbthread 1
	maxconn 3000
defaults
	timeout connect 10s
	timeout client 60s
	timeout server 60s
	option http-keep-alive
frontend http_in
	mode http
	bind 127.0.0.1:$HH
	default_backend http_out
backend http_out
	mode http
	server s 127.0.0.1:$O
listen tcp_in
	mode tcp
	bind 127.0.0.1:$HT
	server s 127.0.0.1:$O
EOF
haproxy -f "$D/haproxy.cfg" -db > "$D/haproxy.log" 2>&1 &
pids+=($!)
up "$O" || { echo "  nginx did not start: $(tail -n 3 "$D/nginx-error.log")"; exit 1; }
# duress: the http fault with a rule that matches nothing, the tcp fault
# with --percent 0 (every connection passed, spliced)
"$duress" inject http --listen "127.0.0.1:$DH" --upstream "127.0.0.1:$O" --abort 500 \
	--path /never-matches --for 1h -q --state-dir "$D/state" > "$D/dh.out" 2>&1 &
pids+=($!)
"$duress" inject tcp --listen "127.0.0.1:$DT" --upstream "127.0.0.1:$O" --reset --percent 0 \
	--for 1h -q --state-dir "$D/state" > "$D/dt.out" 2>&1 &
pids+=($!)
for p in $HH $HT $DH $DT; do up "$p" || { echo "  a proxy on $p did not start"; cat "$D"/*.out "$D/haproxy.log"; exit 1; }; done

# wrk PORT PATH: "req/s p50_ms p99_ms MB/s timeouts"
bench() {
	wrk -t1 -c"$CONNS" -d"${DUR}s" --latency "http://127.0.0.1:$1$2" 2>&1 | awk '
		function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
		/Requests\/sec:/ { rps = $2 }
		/Transfer\/sec:/ { t = $2; if (t ~ /GB/) m = t * 1024; else if (t ~ /MB/) m = t + 0; else if (t ~ /KB/) m = t / 1024; else m = t / 1048576 }
		/^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) }
		/Socket errors/ { to = $NF }
		END { printf "%.0f %.2f %.2f %.1f %d\n", rps, p50, p99, m, to }'
}
# ROUNDS rounds, the rows taking turns in each (a loaded machine drifts:
# side by side means interleaved); the median of each column per row
ROUNDS=${BENCH_PROXY_ROUNDS:-3}
rows=("direct (nginx):$O" "haproxy, mode http:$HH" "duress http fault:$DH" \
	"haproxy, mode tcp:$HT" "duress tcp fault:$DT")
echo "wrk -t1 -c$CONNS -d${DUR}s, $ROUNDS rounds (medians), nginx behind each, no fault matching; /big is $BIG bytes:"
printf '  %-28s %9s %10s %10s %9s\n' "" "req/s" "p50 ms" "p99 ms" "MB/s"
for path in /small /big; do
	for r in $(seq "$ROUNDS"); do
		for i in "${!rows[@]}"; do
			bench "${rows[$i]##*:}" "$path" >> "$D/res.$i.${path#/}"
		done
	done
	for i in "${!rows[@]}"; do
		med() { cut -d' ' -f"$1" "$D/res.$i.${path#/}" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
		printf '  %-28s %9s %10s %10s %9s%s\n' "${rows[$i]%%:*} $path" "$(med 1)" "$(med 2)" "$(med 3)" \
			"$(med 4)" "$(awk '{t+=$5} END {if (t) printf "  (%d timeouts)", t}' "$D/res.$i.${path#/}")"
	done
done

# memory with 1,000 idle keep-alive connections
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
hold() { # PORT: open 1000 keep-alive connections, one request each, hold them
	"$PY" - "$1" <<'EOF' &
import socket, sys, time
conns = []
for i in range(1000):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got or len(got.split(b"\r\n\r\n", 1)[1]) < 100:
        got += s.recv(4096)
    conns.append(s)
print("held", flush=True)
time.sleep(30)
EOF
}
dh=$(pgrep -x duress-http | head -n 1)
hp=$(pgrep -x haproxy | tail -n 1)
echo "memory (VmRSS) with 1,000 idle keep-alive connections:"
for row in "duress http fault:$DH:$dh" "haproxy, mode http:$HH:$hp"; do
	IFS=: read -r name p pid <<< "$row"
	before=$(rss "$pid")
	hold "$p" > "$D/hold.out" 2>&1
	h=$!
	for _ in $(seq 600); do grep -q held "$D/hold.out" && break; sleep 0.1; done
	during=$(rss "$pid")
	printf '  %-30s %s KiB idle, %s KiB with 1000 connections (%s)\n' "$name" "$before" "$during" \
		"$(grep -q held "$D/hold.out" && echo held || echo "not all opened: $(tail -n 1 "$D/hold.out")")"
	kill "$h" 2>/dev/null
	wait "$h" 2>/dev/null
	sleep 1
done
exit 0

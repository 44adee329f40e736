# Shared by the proxy benches that put a database behind duress's proxies:
# a free port, HAProxy as the reference hop (the peer that does the same
# job with bytes never looked into) and the table's rows.  Sourced, not run.

# bench_port: a free TCP port on loopback
bench_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# bench_haproxy_tcp DIR LISTEN_PORT UPSTREAM_PORT: HAProxy in tcp mode, one
# thread (single-threaded like duress's proxy), in the background; its pid
# in $bench_haproxy_pid
bench_haproxy_tcp() {
	cat > "$1/haproxy.cfg" <<EOT
global
	nbthread 1
	maxconn 1000
defaults
	mode tcp
	timeout connect 10s
	timeout client 1h
	timeout server 1h
listen db
	bind 127.0.0.1:$2
	server s 127.0.0.1:$3
EOT
	haproxy -f "$1/haproxy.cfg" -db > "$1/haproxy.log" 2>&1 &
	bench_haproxy_pid=$!
}

# bench_haproxy_stop: ends it (SIGINT would only make it stop listening)
bench_haproxy_stop() {
	[ -n "${bench_haproxy_pid:-}" ] && kill -TERM "$bench_haproxy_pid" 2>/dev/null && wait "$bench_haproxy_pid" 2>/dev/null
	bench_haproxy_pid=
}

# bench_means CLIENTS ARGS...: the mean rate of each way to the server
# (the ports in the array WAYS, direct first), ROUNDS rounds alternating
# between them so drifting load hits all alike; one rate is the bench's
# `tps CLIENTS PORT ARGS...`
bench_means() {
	local c=$1 i r
	shift
	local sums=()
	for i in "${!WAYS[@]}"; do sums[i]=0; done
	for r in $(seq "$ROUNDS"); do
		for i in "${!WAYS[@]}"; do sums[i]=$((sums[i] + $(tps "$c" "${WAYS[i]}" "$@"))); done
	done
	for i in "${!WAYS[@]}"; do echo -n "$((sums[i] / ROUNDS)) "; done
}

# bench_header WIDTH NAME...: the table's head, one column per way to the
# server after the direct one
bench_header() {
	local w=$1 c; shift
	printf "  %-${w}s %9s %5s" workload direct ""
	for c in "$@"; do printf " %9s %5s" "$c" ratio; done
	echo
}

# bench_row WIDTH NAME DIRECT OTHER...: a row, every way's rate with its
# ratio to the direct one (the first)
bench_row() {
	local w=$1 name=$2 d=$3 v; shift 3
	printf "  %-${w}s %9d %5s" "$name" "$d" ""
	for v in "$@"; do awk -v a="$d" -v b="$v" 'BEGIN { printf " %9d %5.2f", b, a ? b / a : 0 }'; done
	echo
}

# bench_us_row WIDTH NAME DIRECT_TPS OTHER_TPS...: one client's round trip:
# microseconds a transaction directly, and what each hop adds to it
bench_us_row() {
	local w=$1 name=$2 d=$3 v; shift 3
	awk -v n="$name" -v w="$w" -v a="$d" 'BEGIN { printf "  %-" w "s %6.0f us   ", n, a ? 1e6 / a : 0 }'
	for v in "$@"; do awk -v a="$d" -v b="$v" 'BEGIN { printf " %+9.0f us   ", (a && b) ? 1e6 / b - 1e6 / a : 0 }'; done
	echo
}

# bench_load: the load average over the last minute, a word on how quiet
# the machine was (the hop is a third process to schedule: a busy host
# costs it more than the direct way)
bench_load() { cut -d' ' -f1 /proc/loadavg; }

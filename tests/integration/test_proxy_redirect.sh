# The http, tcp and dns faults, transparent: what needs the kernel (protocol
# logic is test_fault_http/test_fault_tcp, on the host).  A target in a
# cgroup and network namespace of its own (net_lib.sh: veth to the test's
# namespace) runs python3's http.server on port 8080; the test's namespace
# has a "dependency" server on port 9090 at two addresses.
#   - inbound: connections to the target's port 8080 (IPv4 and IPv6) go
#     through the proxy, its own local connections do not; --reset on tcp;
#   - outbound: only connections to --to are redirected (IPv4 and IPv6);
#   - the nftables table is duress's own, and gone after the fault: traffic
#     direct again;
#   - bad input: a target without a network namespace of its own, one
#     without a process, a port nothing listens on: exit 4 naming why,
#     nothing changed (no table, no proxy);
#   - dns: dig and getent hosts in the target get NXDOMAIN / the spoofed
#     address for matching names through a udp dport 53 redirect, real
#     answers for others (IPv4 and IPv6), the upstream from the target's
#     resolv.conf, the counters in the samples;
#   - kill -9 of the agent while each fault is in force (and at random
#     moments): within 1 s no table, no proxy, traffic direct.
# timeout: 900
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/net_lib.sh"

PY=/usr/bin/python3
export DURESS_STATE_DIR=$WORK/state

net_target proxy || fail "target with its own network namespace" "setup failed"
tns ip -6 route add default dev vt0 2>/dev/null

# the target's server on 8080 (IPv4 and IPv6), in its cgroup and namespace
spawn "$TDIR" nsenter -t "$TPID" -n "$PY" "$TOP/tests/integration/http_origin.py" 8080 ::
SRV=$SPAWNED
target_up() { curl -fs -o /dev/null --max-time 2 http://10.9.0.2:8080/count; }
check "the target's server answers (python3 http.server in its namespace)" wait_until 60 target_up
# the dependency, in the test's namespace, on every address
"$PY" "$TOP/tests/integration/http_origin.py" 9090 :: > "$WORK/dep.out" 2>&1 &
DEP=$!
_pids+=("$DEP")
dep_up() { curl -fs -o /dev/null --max-time 2 http://10.9.0.1:9090/count; }
check "the dependency answers" wait_until 60 dep_up

tables() { tns nft list tables 2>/dev/null | grep -c ' duress_' ; }
no_table() { [ "$(tables)" = 0 ]; }
has_table() { [ "$(tables)" = 1 ]; }
no_proxy() { [ -z "$(proxy_pids)" ]; }
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
tcode() { tns curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
clean() { no_table && no_proxy; }
direct_in() { [ "$(code http://10.9.0.2:8080/anything)" = 200 ]; }
direct_out() { [ "$(tcode http://10.9.0.1:9090/anything)" = 200 ]; }
direct() { direct_in && direct_out; }

# start FAULT ARGS...: the fault on the target in the background; returns
# once its table is in the target's namespace
start() {
	: > "$WORK/agent.err"
	bg_start AGENT 60 has_table "$WORK/agent.out" "$WORK/agent.err" \
		"$DURESS" inject "$1" -t "pid:$TPID" --baseline 0 -q --summary "$WORK/summary.json" \
		--for 300s "${@:2}"
}
stop() { bg_stop AGENT INT; }

host_before=$(nft list tables 2>/dev/null)

# ---- inbound ----
check "before: the target's server answers 200" [ "$(code http://10.9.0.2:8080/anything)" = 200 ]
start http --port 8080 --abort 503 || fail "http inbound applied" "$(tail -n 3 "$WORK/agent.err")"
check "the table is duress's own, a nat prerouting chain redirecting tcp dport 8080" \
	bash -c 'nsenter -t "$1" -n nft list ruleset | grep -A8 "table inet duress_http_" |
		grep -q "tcp dport 8080 redirect to :"' _ "$TPID"
check "inbound: a client outside gets the proxy's 503 (IPv4)" [ "$(code http://10.9.0.2:8080/anything)" = 503 ]
check "inbound: and over IPv6" [ "$(code -g 'http://[fd09::2]:8080/anything')" = 503 ]
check "inbound: the target's own local connections are not redirected" \
	[ "$(tcode http://127.0.0.1:8080/anything)" = 200 ]
check "the proxy runs inside the target's namespace" \
	bash -c '[ "$(readlink /proc/$(pgrep -x duress-http | head -n1)/ns/net)" = "$(readlink /proc/$1/ns/net)" ]' _ "$TPID"
stop
check "after: no table left" no_table
check "after: no proxy left" no_proxy
check "after: traffic goes straight to the server again (200)" [ "$(code http://10.9.0.2:8080/anything)" = 200 ]
check "the summary counts the requests the proxy answered" \
	jq -e '.fault_report.http.injected.abort >= 2 and .fault_report.mode == "transparent"' "$WORK/summary.json"

start tcp --port 8080 --reset || fail "tcp inbound applied" "$(tail -n 3 "$WORK/agent.err")"
curl -sS -o /dev/null --max-time 5 http://10.9.0.2:8080/anything 2> "$WORK/curl.err"
rc=$?
# the RST reaches curl at connect (7), while it sends the request (55) or
# while it waits for the answer (56), as the scheduler has it; one that
# came right after the handshake makes curl's getpeername() fail with
# ENOTCONN (55, "Transport endpoint is not connected": seen once in the VM)
check "tcp --reset inbound: the client's connection is reset (curl $rc)" \
	bash -c '[ "$1" = 7 ] || { [[ $1 = 5[56] ]] && grep -qE "reset by peer|Broken pipe|Transport endpoint is not connected" "$2"; }' _ "$rc" "$WORK/curl.err" ||
	sed "s/^/    curl: /" "$WORK/curl.err"
stop
check "after tcp: no table, no proxy" clean
check "after tcp: 200 again" direct_in

# ---- outbound: only --to ----
start http --port 9090 --direction outbound --to 10.9.0.1/32 --to fd09::1/128 --abort 502 ||
	fail "http outbound applied" "$(tail -n 3 "$WORK/agent.err")"
check "outbound: to --to 10.9.0.1 the proxy answers 502" [ "$(tcode http://10.9.0.1:9090/anything)" = 502 ]
check "outbound: to 10.9.0.11 (not in --to) the dependency answers 200" \
	[ "$(tcode http://10.9.0.11:9090/anything)" = 200 ]
check "outbound: IPv6 --to fd09::1: 502" [ "$(tcode -g 'http://[fd09::1]:9090/anything')" = 502 ]
check "outbound: IPv6 fd09::11 (not in --to): 200" [ "$(tcode -g 'http://[fd09::11]:9090/anything')" = 200 ]
check "outbound: another port is not redirected" [ "$(tcode http://10.9.0.2:8080/anything)" = 200 ]
stop
check "after outbound: no table, no proxy" clean
check "after outbound: the dependency answers 200 again" direct_out

# ---- dns: the target's queries through the redirect ----
# the test's DNS server (dnsmasq, from a hosts file) on 10.9.0.1 and
# fd09::1; a process of the target in its network namespace and a mount
# namespace of its own whose /etc/resolv.conf names that server
printf '10.1.2.3 real.test\n2001:db8::3 real.test\n10.1.2.4 other.test\n' > "$WORK/dnshosts"
printf 'nameserver 10.9.0.1\noptions timeout:1 attempts:1\n' > "$WORK/resolv.conf"
dnsmasq --keep-in-foreground --conf-file=/dev/null --port=53 --listen-address=10.9.0.1 \
	--listen-address=fd09::1 --bind-interfaces --no-resolv --no-hosts --addn-hosts="$WORK/dnshosts" \
	--pid-file= --log-facility=- --user=root > "$WORK/dnsmasq.out" 2>&1 &
_pids+=("$!")
spawn "$TDIR" nsenter -t "$TPID" -n unshare -m sh -c \
	'mount --bind "$0" /etc/resolv.conf && exec sleep 3600' "$WORK/resolv.conf"
DPID=$SPAWNED
dt() { nsenter -t "$DPID" -n -m "$@"; }
dstatus() { dt dig +tries=1 +time=2 "$@" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p'; }
real_answer() { [ "$(dt dig +short +tries=1 +time=2 real.test)" = 10.1.2.3 ]; }
check "the target resolves real.test through the test's server (dig)" wait_until 20 real_answer
check "... and getent (ahostsv4)" bash -c 'nsenter -t "$1" -n -m getent ahostsv4 real.test | grep -q "^10.1.2.3 "' _ "$DPID"
: > "$WORK/agent.err"
# no --upstream: the target's resolv.conf names it
bg_start AGENT 60 has_table "$WORK/agent.out" "$WORK/agent.err" \
	"$DURESS" inject dns -t "pid:$DPID" --baseline 0 -q --summary "$WORK/summary.json" --for 300s \
	--error nxdomain --domain real.test --samples "$WORK/dns.jsonl" --interval 200ms ||
	fail "dns applied" "$(tail -n 3 "$WORK/agent.err")"
check "the table is duress's own, a nat output chain redirecting udp dport 53" \
	bash -c 'nsenter -t "$1" -n nft list ruleset | grep -A8 "table inet duress_dns_" |
		grep -q "udp dport 53 .*redirect to :"' _ "$TPID"
check "dns --error nxdomain: dig in the target gets NXDOMAIN (from 10.9.0.1, as it asked)" \
	[ "$(dstatus real.test)" = NXDOMAIN ]
check "... over IPv6 too (dig @fd09::1 AAAA)" [ "$(dstatus @fd09::1 real.test AAAA)" = NXDOMAIN ]
check "... getent hosts finds nothing" bash -c '! nsenter -t "$1" -n -m getent hosts real.test' _ "$DPID"
check "... other names their real answers (getent hosts other.test)" \
	bash -c 'nsenter -t "$1" -n -m getent hosts other.test | grep -q "^10.1.2.4 "' _ "$DPID"
check "... over IPv6 too (dig @fd09::1 other.test)" \
	[ "$(dt dig +short +tries=1 +time=2 @fd09::1 other.test)" = 10.1.2.4 ]
check "the samples carry dns.queries and dns.injected.nxdomain" \
	wait_until 5 jq -se 'map(select(.dns.injected.nxdomain >= 2 and .dns.queries >= 3)) | length > 0' "$WORK/dns.jsonl"
stop
check "the upstream came from the target's resolv.conf (10.9.0.1:53)" \
	jq -e '.fault_report.upstream == "10.9.0.1:53" and .fault_report.dns.injected.nxdomain >= 2' "$WORK/summary.json"
check "after dns: no table, no responder" clean
check "after dns: real answers again" real_answer
: > "$WORK/agent.err"
bg_start AGENT 60 has_table "$WORK/agent.out" "$WORK/agent.err" \
	"$DURESS" inject dns -t "pid:$DPID" --baseline 0 -q --for 300s --spoof 192.0.2.7 --domain '*.test' ||
	fail "dns --spoof applied" "$(tail -n 3 "$WORK/agent.err")"
check "dns --spoof: getent hosts in the target gets the spoofed address" \
	bash -c 'nsenter -t "$1" -n -m getent ahostsv4 real.test | grep -q "^192.0.2.7 "' _ "$DPID"
stop
check "after dns --spoof: no table, no responder" clean

# ---- bad input: refused, nothing changed ----
nstate() { tns nft list ruleset 2>/dev/null; proxy_pids; }
before=$(nstate)
expect_exit "a port nothing listens on (inbound): exit 4" 4 \
	"$DURESS" inject http -t "pid:$TPID" --port 8081 --abort 503 --for 5s --baseline 0 -q
check "... naming --port" grep -q -- '--port 8081: nothing listens' "$WORK/stderr"
empty=$(new_cgroup proxy-empty)
expect_exit "a target without a process: exit 4" 4 \
	"$DURESS" inject http -t "cgroup:$empty" --port 8080 --abort 503 --for 5s --baseline 0 -q
check "... saying it has no network namespace" grep -q 'no process, hence no network namespace' "$WORK/stderr"
shared=$(new_cgroup proxy-shared)
spawn "$shared" sleep 600
expect_exit "a target sharing the agent's network namespace: exit 4" 4 \
	"$DURESS" inject http -t "cgroup:$shared" --port 8080 --abort 503 --for 5s --baseline 0 -q
check "... saying so, and how to do it instead" \
	bash -c 'grep -q "no network namespace of its own" "$1" && grep -q -- "--listen" "$1"' _ "$WORK/stderr"
expect_exit "--to on an inbound redirect: exit 2" 2 \
	"$DURESS" inject http -t "pid:$TPID" --port 8080 --to 10.0.0.0/8 --abort 503 --for 5s
check "nothing changed by the refusals (no table, no proxy)" [ "$(nstate)" = "$before" ]
check "the test's own namespace has no table of ours" [ "$(nft list tables 2>/dev/null)" = "$host_before" ]
check "dry run: the plan names the table and changes nothing" \
	bash -c '"$1" inject http -t "pid:$2" --port 8080 --abort 503 --for 5s --dry-run > "$3" &&
		grep -q "nftables table inet duress_http_" "$3" && [ "$(nsenter -t "$2" -n nft list tables | grep -c duress_)" = 0 ]' \
	_ "$DURESS" "$TPID" "$WORK/dry.txt"

# ---- kill -9 of the agent ----
# after_kill DESC: within 1 s no table and no proxy, then traffic direct
after_kill() {
	local desc=$1
	check "$desc: within 1 s no table left" wait_until 1 no_table
	check "$desc: within 1 s no proxy left" wait_until 1 no_proxy
	check "$desc: traffic direct again (200 in and out)" direct
}
for cfg in "http --port 8080 --abort 503" "http --port 9090 --direction outbound --delay 1s" \
	"tcp --port 8080 --latency 100ms" "tcp --port 9090 --direction outbound --to 10.9.0.1 --timeout" \
	"dns --upstream 10.9.0.1 --error servfail"; do
	# shellcheck disable=SC2086
	start $cfg || { fail "kill -9 during $cfg: applied" "$(tail -n 3 "$WORK/agent.err")"; continue; }
	kill -9 "$AGENT"
	wait "$AGENT" 2>/dev/null
	AGENT=
	after_kill "kill -9 during '$cfg'"
done
check "after kill -9 during dns: the target's queries answered directly" real_answer
# at random moments: while starting, applying, in force
left=0
for i in $(seq 4); do
	"$DURESS" inject http -t "pid:$TPID" --port 8080 --abort 503 --for 60s --baseline 0 -q \
		> /dev/null 2>&1 &
	a=$!
	sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.05 + (r % 300) / 100 }')"
	kill -9 "$a"
	wait "$a" 2>/dev/null
	if ! wait_until 1 clean; then
		left=$((left + 1))
		echo "  run $i: left behind: $(tns nft list tables) $(pgrep -x duress-http)"
		sleep 3
	fi
done
check "kill -9 at 4 random moments: nothing left 1 s later ($left runs did)" [ "$left" = 0 ]
check "and traffic direct" direct
check "the journal directory is empty" wait_until 3 bash -c '[ -z "$(ls "$1/journal" 2>/dev/null)" ]' _ "$DURESS_STATE_DIR"

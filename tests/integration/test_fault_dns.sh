# needs: no kernel
# The dns fault through its explicit responder (--listen/--upstream: no
# target, no redirect, loopback only) in front of a real DNS server
# (dnsmasq, answering from a hosts file), with a real client (dig):
#   - NXDOMAIN, SERVFAIL, REFUSED and spoofed A/AAAA answers for the
#     matching names (exact, *.suffix, a regex, any case), real answers for
#     others;
#   - 30% of 1000 queries answered NXDOMAIN: 30 +/- 5%, as the summary counts;
#   - --delay 300ms: the median query time grows by at least 300 ms, a name
#     the rule does not match by far less;
#   - --drop: dig gets no reply;
#   - the counters in the summary (in the samples: test_proxy_redirect, which
#     has a target);
#   - bad input: exit 2 naming the option, exit 4 for an upstream that
#     does not answer or a port in use; nothing left running;
#   - kill -9 of the agent: the responder is gone within 1 s, its port free.
# timeout: 300
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
STATE=$WORK/state
command -v dig > /dev/null || { fail "dig (bind9-dnsutils) installed" "make deps"; exit 1; }
command -v dnsmasq > /dev/null || { fail "dnsmasq (dnsmasq-base) installed" "make deps"; exit 1; }
free_udp() { "$PY" -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP=$(free_udp)
PX=$(free_udp)

cat > "$WORK/hosts" << 'EOF'
10.1.2.3 real.test
2001:db8::3 real.test
10.1.2.4 other.test
10.1.2.5 a.sub.test
10.1.2.6 sub.test
10.1.2.7 slow.test
EOF
# q NAME [dig options...]: ask the responder
q() { local n=$1; shift; dig @127.0.0.1 -p "$PX" +tries=1 +time=2 "$@" "$n"; }
# status NAME [TYPE]: the answer's rcode (NOERROR, NXDOMAIN, ...)
status() { q "$1" "${2:-A}" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p'; }
upstream_up() { dig @127.0.0.1 -p "$UP" +tries=1 +time=1 +short real.test | grep -qx 10.1.2.3; }
bg_start DNSMASQ 20 upstream_up "$WORK/dnsmasq.out" "$WORK/dnsmasq.err" \
	dnsmasq --keep-in-foreground --conf-file=/dev/null --port="$UP" --listen-address=127.0.0.1 \
	--bind-interfaces --no-resolv --no-hosts --addn-hosts="$WORK/hosts" --pid-file= \
	--log-facility=- --user=root || { fail "dnsmasq started" "$(tail -n 3 "$WORK/dnsmasq.err")"; exit 1; }
_pids+=("$DNSMASQ")

responder_up() { q other.test +short | grep -qx 10.1.2.4; }
# start ARGS...: the fault in the background (its pid in $AGENT)
start() {
	: > "$WORK/agent.err"
	bg_start AGENT 20 responder_up "$WORK/agent.out" "$WORK/agent.err" \
		"$DURESS" inject dns --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$UP" \
		--for 120s -q --state-dir "$STATE" --summary "$WORK/summary.json" "$@"
}
stop() {
	bg_stop AGENT INT
	[ "$BG_RC" = 8 ] || echo "  agent ended with $BG_RC: $(tail -n 3 "$WORK/agent.err")"
}

# ---- error answers, names ----
start --error nxdomain --domain real.test --domain '*.sub.test'
check "--error nxdomain: dig gets NXDOMAIN for the exact name" [ "$(status real.test)" = NXDOMAIN ]
check "... for AAAA too" [ "$(status real.test AAAA)" = NXDOMAIN ]
check "... for a name below *.sub.test, in any case" [ "$(status A.SUB.Test)" = NXDOMAIN ]
check "... but sub.test itself gets its real answer" [ "$(q sub.test +short)" = 10.1.2.6 ]
check "a name no pattern matches gets its real answer" [ "$(q other.test +short)" = 10.1.2.4 ]
check "the forwarded answer is the server's, unchanged (aa flag, same id)" \
	bash -c 'dig @127.0.0.1 -p "$1" +tries=1 +time=2 other.test | grep -q "flags: qr aa rd"' _ "$PX"
stop
check "the summary counts them: 3 nxdomain, the rest forwarded" \
	jq -e '.fault_report.dns.injected.nxdomain == 3 and .fault_report.dns.matched == 3 and .fault_report.dns.forwarded >= 4 and .fault_report.dns.answers == .fault_report.dns.forwarded' "$WORK/summary.json"
check "everything reverted" jq -e '.reverted >= 1 and (.not_reverted | length) == 0' "$WORK/summary.json"

start --error refused --domain-regex '^(real|a[.]sub)[.]test$'
check "--domain-regex: a name the expression matches gets REFUSED (any case)" [ "$(status A.sub.TEST)" = REFUSED ]
check "... one it does not match (anchored) its real answer" [ "$(q sub.test +short)" = 10.1.2.6 ]
stop

start --error servfail --domain real.test
check "--error servfail: dig gets SERVFAIL" [ "$(status real.test)" = SERVFAIL ]
check "... other names their real answers" [ "$(q other.test +short)" = 10.1.2.4 ]
stop
start --error refused --domain real.test
check "--error refused: dig gets REFUSED" [ "$(status real.test)" = REFUSED ]
stop

# ---- spoofed addresses ----
start --spoof 192.0.2.7 --spoof 2001:db8::7 --domain real.test --ttl 42
check "--spoof: A answered with the spoofed address" [ "$(q real.test +short)" = 192.0.2.7 ]
check "... AAAA with the IPv6 one" [ "$(q real.test AAAA +short)" = 2001:db8::7 ]
check "... with the TTL asked (42)" bash -c 'dig @127.0.0.1 -p "$1" +tries=1 +time=2 +noall +answer real.test | grep -Eq "^real\.test\.[[:space:]]+42[[:space:]]+IN[[:space:]]+A[[:space:]]+192\.0\.2\.7"' _ "$PX"
check "... other names their real answers" [ "$(q other.test +short)" = 10.1.2.4 ]
stop
check "the summary counts 3 spoofed" jq -e '.fault_report.dns.injected.spoof == 3' "$WORK/summary.json"
start --spoof 192.0.2.7 --domain real.test
check "--spoof with no IPv6 address: AAAA gets NOERROR, no records" \
	bash -c 'out=$(dig @127.0.0.1 -p "$1" +tries=1 +time=2 real.test AAAA); grep -q "status: NOERROR" <<< "$out" && grep -q "ANSWER: 0," <<< "$out"' _ "$PX"
stop

# ---- what is not a query: forwarded, counted, survived ----
start --error nxdomain --domain real.test
"$PY" - "$PX" << 'EOF'
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n in (0, 1, 11, 12, 13, 30, 100, 512, 1500, 4096, 5000):
    for _ in range(5):
        s.sendto(os.urandom(n), ("127.0.0.1", int(sys.argv[1])))
# a header that announces a question, then a label running off the end
s.sendto(bytes([1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63]) + b"a" * 20, ("127.0.0.1", int(sys.argv[1])))
EOF
check "after 56 random and malformed datagrams the responder still answers: NXDOMAIN" [ "$(status real.test)" = NXDOMAIN ]
check "... and real answers" [ "$(q other.test +short)" = 10.1.2.4 ]
stop
check "the summary counts them as unparsed (56), the responder never restarted" \
	jq -e '.fault_report.dns.unparsed == 56 and .fault_report.proxy_restarts == 0' "$WORK/summary.json"

# ---- a percentage: 30% of 1000 ----
for i in $(seq 1000); do echo "real.test"; done > "$WORK/batch"
start --error nxdomain --percent 30 --domain real.test
dig @127.0.0.1 -p "$PX" +tries=1 +time=2 -f "$WORK/batch" > "$WORK/batch.out" 2>&1
nx=$(grep -c 'status: NXDOMAIN' "$WORK/batch.out")
ok=$(grep -c 'status: NOERROR' "$WORK/batch.out")
pct=$(awk -v a="$nx" 'BEGIN {printf "%.1f", 100 * a / 1000}')
check "1000 queries all answered ($nx NXDOMAIN + $ok NOERROR)" [ "$((nx + ok))" = 1000 ]
check "--percent 30: $nx of 1000 NXDOMAIN = $pct% (30 +/- 5)" in_range "$pct" 25 35
stop
check "the summary counts the same $nx" jq -e --argjson n "$nx" '.fault_report.dns.injected.nxdomain == $n and .fault_report.dns.matched == 1000' "$WORK/summary.json"

# ---- delay: medians of dig's query times ----
# qtimes TAG NAME: 15 query times (ms), sorted, into $WORK/TAG
qtimes() { for _ in $(seq 15); do q "$2" +tries=1 +time=5 | sed -n 's/^;; Query time: \([0-9]*\) msec/\1/p'; done | sort -n > "$WORK/$1"; }
median() { sed -n 8p "$1"; }
start --error nxdomain --domain never.test
qtimes base slow.test
stop
start --delay 300ms --domain slow.test
qtimes delayed slow.test
qtimes other other.test
stop
b=$(median "$WORK/base"); d=$(median "$WORK/delayed"); o=$(median "$WORK/other")
check "15 answers each (base $(wc -l < "$WORK/base"), delayed $(wc -l < "$WORK/delayed"), other $(wc -l < "$WORK/other"))" \
	bash -c '[ "$(cat "$1/base" "$1/delayed" "$1/other" | wc -l)" = 45 ]' _ "$WORK"
check "--delay 300ms: median $d ms against $b ms: at least 300 ms added" [ "$((d - b))" -ge 299 ]
check "a name the rule does not match is not delayed (median $o ms, under half the delayed one)" [ "$((o * 2))" -lt "$d" ]
check "the summary: 15 delayed, 4500 ms added" \
	jq -e '.fault_report.dns.injected.delay == 15 and .fault_report.dns.delay_added_ms == 4500' "$WORK/summary.json"

start --delay 300ms --error servfail --domain slow.test
check "--delay with --error: SERVFAIL, late" bash -c 'out=$(dig @127.0.0.1 -p "$1" +tries=1 +time=5 slow.test); grep -q "status: SERVFAIL" <<< "$out" && [ "$(sed -n "s/^;; Query time: \([0-9]*\) msec/\1/p" <<< "$out")" -ge 300 ]' _ "$PX"
stop

# ---- drop ----
start --drop --domain real.test
q real.test +time=1 > /dev/null 2>&1
rc=$?
check "--drop: dig gets no reply (exit 9, got $rc)" [ "$rc" = 9 ]
check "... other names their real answers" [ "$(q other.test +short)" = 10.1.2.4 ]
stop
check "the summary counts 1 dropped" jq -e '.fault_report.dns.injected.drop == 1' "$WORK/summary.json"

# ---- bad input ----
run() { "$DURESS" inject dns --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$UP" --for 1s --state-dir "$STATE" "$@"; }
expect_exit "--error bogus: exit 2" 2 run --error bogus
check "... naming --error" grep -q -- '--error' "$WORK/stderr"
expect_exit "--percent 101: exit 2" 2 run --error nxdomain --percent 101
check "... naming --percent" grep -q -- '--percent' "$WORK/stderr"
expect_exit "--spoof not-an-ip: exit 2" 2 run --spoof not-an-ip
check "... naming --spoof" grep -q -- "--spoof 'not-an-ip': not an IPv4 or IPv6 address" "$WORK/stderr"
expect_exit "--domain 'a.*.test': exit 2" 2 run --error nxdomain --domain 'a.*.test'
check "... naming --domain" grep -q -- "--domain 'a.\*.test'" "$WORK/stderr"
expect_exit "--domain-regex '(': exit 2" 2 run --error nxdomain --domain-regex '('
check "... naming --domain-regex" grep -q -- '--domain-regex' "$WORK/stderr"
expect_exit "--error with --drop: exit 2" 2 run --error nxdomain --drop
check "... saying they exclude each other" grep -q -- 'exclude each other' "$WORK/stderr"
expect_exit "nothing to do: exit 2" 2 run --domain real.test
check "... naming the options" grep -q -- 'nothing to do' "$WORK/stderr"
expect_exit "--listen without --upstream: exit 2" 2 \
	"$DURESS" inject dns --listen "127.0.0.1:$PX" --error nxdomain --for 1s --state-dir "$STATE"
check "... naming --upstream" grep -q -- '--upstream' "$WORK/stderr"
DEAD=$(free_udp)
expect_exit "an upstream where no DNS server answers: exit 4" 4 \
	"$DURESS" inject dns --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$DEAD" --error nxdomain --for 1s --state-dir "$STATE"
check "... naming --upstream" grep -q -- "--upstream 127.0.0.1:$DEAD: no DNS server answers there" "$WORK/stderr"
expect_exit "--listen on a port in use (dnsmasq's): exit 4" 4 \
	"$DURESS" inject dns --listen "127.0.0.1:$UP" --upstream "127.0.0.1:$UP" --error nxdomain --for 1s --state-dir "$STATE"
check "... naming --listen" grep -q -- "--listen: udp bind on 127.0.0.1:$UP" "$WORK/stderr"
check "nothing left running after the refusals" not_running duress-dns
check "no journal left" bash -c '[ -z "$(ls "$1/journal" 2>/dev/null)" ]' _ "$STATE"

# ---- kill -9 of the agent: the responder goes with it ----
start --error nxdomain
# (the port may answer before the forked responder has taken its name)
wait_until 5 pgrep -x duress-dns
hp=$(pgrep -x duress-dns | head -n 1)
check "the responder runs as its own process (duress-dns, pid ${hp:-none})" [ -n "$hp" ]
kill -9 "$AGENT"
wait "$AGENT" 2>/dev/null
AGENT=
gone() { ! [ -e "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
check "kill -9 of the agent: the responder is gone within 1 s" wait_until 1 gone "$hp"
port_free() { "$PY" -c 'import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1])))' "$PX"; }
check "and its port is free again" wait_until 1 port_free
check "the guardian left no journal" wait_until 2 bash -c '[ -z "$(ls "$1/journal" 2>/dev/null)" ]' _ "$STATE"

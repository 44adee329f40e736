# network --partition --reject: the partition refuses instead of dropping
# (an nftables table of ours in the target's namespace): a TCP connection to
# the peer is refused at once, a ping gets "port unreachable", the other
# peer on the same link is untouched; the table goes on SIGTERM and with a
# SIGKILLed agent (its socket owned the table).  Bad input changes nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/net_lib.sh"

if ! net_target netreject; then
	fail "network fixture (netns, veth, addresses)" "could not build it"
	exit 0
fi
t0=$(target_state)

# a TCP server on both peer addresses (the test's namespace listens on all)
WEB=
web_up() { curl -fs -o /dev/null http://10.9.0.1:8089/; }
bg_start WEB 20 web_up "$WORK/web.out" "$WORK/web.err" \
	"$HELPERS/httpd" 8089 || fail "web server on the peers" "not up"
_pids+=("$WEB")

# connect HOST: "ok", "refused" or "timeout" (a TCP connect from the target)
connect() {
	local out
	out=$(tns timeout 5 bash -c "exec 3<>/dev/tcp/$1/8089" 2>&1)
	case $? in
	0) echo ok ;;
	124) echo timeout ;;
	*) case $out in *refused*) echo refused ;; *) echo "other: $out" ;; esac ;;
	esac
}
tables() { tns nft list tables 2>/dev/null | grep -c 'duress_network_' ; }
has_table() { [ "$(tables)" -ge 1 ]; }

check "before: the target connects to 10.9.0.1" [ "$(connect 10.9.0.1)" = ok ]

# ---- dry run and bad input ----
"$DURESS" inject network -t "pid:$TPID" --partition --reject --to 10.9.0.1 --for 5s --dry-run \
	> "$WORK/dry.txt" 2>&1
check "dry run exits 0" [ $? = 0 ]
check "dry run names the table and what it refuses" \
	grep -q 'table inet duress_network_.*traffic with 10.9.0.1/32 refused, both ways: TCP with a reset' "$WORK/dry.txt"
check "dry run says how it reverts" grep -q 'revert: delete table inet duress_network_' "$WORK/dry.txt"
expect_exit "--reject without --partition: exit 2" 2 \
	"$DURESS" inject network -t "pid:$TPID" --reject --to 10.9.0.1 --for 5s -q
check "... naming --reject and --partition" grep -q -- '--reject changes how --partition cuts' "$WORK/stderr"
expect_exit "--partition --reject --port 80: exit 2" 2 \
	"$DURESS" inject network -t "pid:$TPID" --partition --reject --port 80 --to 10.9.0.1 --for 5s -q
check "... naming --port" grep -q -- 'drop --port' "$WORK/stderr"
check "dry run and bad input: no table" [ "$(tables)" = 0 ]
check "dry run and bad input: target as it was" [ "$(target_state)" = "$t0" ]

# ---- in force ----
: > "$WORK/agent.out"; : > "$WORK/agent.err"
if bg_start AGENT 15 has_table "$WORK/agent.out" "$WORK/agent.err" \
	"$DURESS" inject network -t "pid:$TPID" --baseline 0 -q --partition --reject --to 10.9.0.1 \
	--for 60s --summary "$WORK/summary.json"; then
	c1=$(connect 10.9.0.1)
	c2=$(connect 10.9.0.11)
	p1=$(tns ping -c 2 -i 0.2 -W 2 10.9.0.1 2>&1)
	p3=$(ping -c 2 -i 0.2 -W 2 -I 10.9.0.1 10.9.0.2 2>&1)
	stop_agent TERM
	echo "  reject: connect to 10.9.0.1: $c1, to 10.9.0.11: $c2"
	check "TCP to 10.9.0.1 is refused at once (a reset), not timed out (got $c1)" [ "$c1" = refused ]
	check "the other peer 10.9.0.11 still connects (got $c2)" [ "$c2" = ok ]
	check "ping to 10.9.0.1 gets an ICMP unreachable" grep -qi 'unreachable' <<< "$p1"
	check "ping from 10.9.0.1 into the target gets no reply" bash -c '! grep -q " 0% packet loss" <<< "$1"' _ "$p3"
	check "SIGTERM: exit 8 (got $RC)" [ "$RC" = 8 ]
	check "the summary names the table" \
		jq -e '.fault_report.reject == true and (.fault_report.nft_table | startswith("duress_network_"))' "$WORK/summary.json"
	check "after: no table left" [ "$(tables)" = 0 ]
	check "after: the target connects to 10.9.0.1 again" [ "$(connect 10.9.0.1)" = ok ]
	check "after: target as it was" [ "$(target_state)" = "$t0" ]
else
	fail "reject table in force" "$(tail -n 3 "$WORK/agent.err")"
	stop_agent KILL
fi

# ---- kill -9 of the agent: the table goes with its owner socket ----
STATE=$WORK/state
if bg_start AGENT 15 has_table "$WORK/agent.out" "$WORK/agent.err" \
	"$DURESS" inject network -t "pid:$TPID" --baseline 0 -q --partition --reject --to 10.9.0.1 \
	--for 60s --state-dir "$STATE"; then
	stop_agent KILL
	no_table() { [ "$(tables)" = 0 ]; }
	check "kill -9: the table is gone within 1 s" wait_until 1 no_table
	check "kill -9: connections to 10.9.0.1 work again" [ "$(connect 10.9.0.1)" = ok ]
	check "kill -9: the guardian left no journal" wait_until 5 bash -c '[ -z "$(ls "$1/journal" 2>/dev/null)" ]' _ "$STATE"
else
	fail "reject table in force (kill -9 run)" "$(tail -n 3 "$WORK/agent.err")"
	stop_agent KILL
fi
bg_stop WEB KILL
true

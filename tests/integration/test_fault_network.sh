# network: netem over netlink on a target in its own network namespace,
# measured across a veth pair: delay, loss, per-destination shaping (IPv4
# and IPv6), ingress delay (one-way, into the target), a rate limit, the
# presets; dry run and bad input change nothing; the agent's own namespace
# is never touched.  Save/restore and the guards: test_fault_network_restore.sh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/net_lib.sh"

if ! net_target net; then
	fail "network fixture (netns, veth, addresses)" "could not build it"
	exit 0
fi
host0=$(host_state)
t0=$(target_state)

# ---- dry run and bad input: exit codes, messages, nothing changed ----
"$DURESS" inject network -t "pid:$TPID" --delay 100ms --to 10.9.0.1 --for 5s --dry-run > "$WORK/dry.txt" 2>&1
check "dry run exits 0" [ $? = 0 ]
check "dry run names prio, netem and the filter" grep -q 'prio d5a0: .*netem d5a1: on band 2: delay 100ms' "$WORK/dry.txt"
check "dry run lists the u32 filter" grep -q 'u32 filter at d5a0: sending to d5a0:2 (netem): dst 10.9.0.1/32' "$WORK/dry.txt"
check "dry run says how it reverts" grep -q 'revert: vt0 root qdisc back to the kernel' "$WORK/dry.txt"
check "dry run: lo is not shaped unless named" bash -c "! grep -q '^  lo ' '$WORK/dry.txt'"
"$DURESS" inject network -t "pid:$TPID" --loss 1% --device lo --for 5s --dry-run > "$WORK/drylo.txt" 2>&1
check "dry run: lo when named with --device" grep -q '^  lo egress: replace the root qdisc' "$WORK/drylo.txt"

bad() { # DESC OPTION ARGS...
	local desc=$1 opt=$2; shift 2
	expect_exit "bad input: $desc -> exit 2" 2 "$DURESS" inject network -t "pid:$TPID" --for 5s --baseline 0 -q "$@"
	check "bad input: $desc: the message names $opt" grep -q -- "$opt" "$WORK/stderr"
}
bad "unknown device" --device --delay 10ms --device nosuch0
bad "loss 120%" --loss --loss 120%
bad "reorder without delay" --reorder --reorder 10%
bad "malformed CIDR" --to --delay 10ms --to 10.9.0/24
bad "CIDR prefix too long" --to --delay 10ms --to fd09::1/129
bad "rate without a unit" --rate --rate 100
bad "port 0" --port --delay 10ms --port 0
bad "jitter without delay" --jitter --jitter 5ms
bad "icmp with a port" --port --loss 5% --protocol icmp --port 53
check "dry run and bad input changed nothing in the target" [ "$(target_state)" = "$t0" ]

# ---- delay 100ms ----
base=$(tns ping -c 20 -i 0.05 -q 10.9.0.1 | ping_avg)
over=$(netem_overhead)
echo "  baseline RTT over the veth: $base ms; netem's own cost here (tc, 1ms): +$over ms"
check "baseline ping works, well under the delay to come ($base ms)" in_range "$base" 0 50
check "the target is as it was after the tc baseline" [ "$(target_state)" = "$t0" ]
if inject_bg --delay 100ms --for 30s; then
	hostd=$(host_state)
	read -r avg tmean med iqr min max <<< "$(rtts -c 40 -i 0.05 10.9.0.1)"
	tstate=$(tns tc qdisc show dev vt0)
	stop_agent TERM
	net=$(subf "$tmean" "$over")
	echo "  delay 100ms: ping avg $avg ms, trimmed mean $tmean (median $med, min $min, max $max); less netem's cost: $net ms"
	check "delay 100ms: ping average (trimmed) $tmean ms less netem's cost $over = $net ms, within 95 .. 110" in_range "$net" 95 110
	check "delay 100ms: median round trip $med ms within 99 .. 110" in_range "$med" 99 110
	check "delay 100ms: no round trip under 100 ms (min $min)" in_range "$min" 99.5 1000
	check "delay 100ms: netem d5a0: was the root of vt0" grep -q 'netem d5a0: root' <<< "$tstate"
	check "the agent's own namespace untouched while in force" [ "$hostd" = "$host0" ]
	check "SIGTERM: exit 8 (interrupted; got $RC)" [ "$RC" = 8 ]
	check "delay 100ms: everything back afterwards" [ "$(target_state)" = "$t0" ]
else
	fail "delay 100ms applied" "no qdisc d5a0: in the target"
	stop_agent KILL
fi

# ---- jitter with a law: the spread (interquartile range) shows it ----
# Side by side with the same law set by tc itself, in the same run: an
# emulated machine on a loaded host stalls and widens every spread, so the
# reference says what this machine makes of that law right now.
ref_med=-1 ref_iqr=-1
if tns tc qdisc add dev vt0 root netem delay 50ms 10ms distribution normal; then
	read -r _ _ ref_med ref_iqr _ _ <<< "$(rtts -c 80 -i 0.05 10.9.0.1)"
	tns tc qdisc del dev vt0 root
fi
if inject_bg --delay 50ms --jitter 10ms --distribution normal --for 30s; then
	read -r avg tmean med iqr min max <<< "$(rtts -c 80 -i 0.05 10.9.0.1)"
	stop_agent INT
	echo "  delay 50ms jitter 10ms normal: avg $avg ms, median $med, interquartile range $iqr (a normal law: 13.5; tc's own here: median $ref_med, range $ref_iqr)"
	check "jitter: median $med ms at least 45 and within 6 ms of tc's ($ref_med)" \
		bash -c "awk -v m=$med -v r=$ref_med 'BEGIN { exit !(m >= 45 && m - r >= -6 && m - r <= 6) }'"
	check "jitter: interquartile range $iqr ms within 8 .. 22, or within 40% of tc's ($ref_iqr)" \
		bash -c "awk -v q=$iqr -v r=$ref_iqr 'BEGIN { exit !(q >= 8 && (q <= 22 || (r > 0 && q <= r * 1.4))) }'"
	check "SIGINT: exit 8 (interrupted; got $RC)" [ "$RC" = 8 ]
else
	fail "jitter applied" "no qdisc"
	stop_agent KILL
fi

# ---- loss 20% over 200 packets ----
if inject_bg --loss 20% --for 30s; then
	loss=$(tns ping -c 200 -i 0.01 -q 10.9.0.1 | ping_loss)
	stop_agent
	echo "  loss 20%: $loss% of 200 pings lost"
	check "loss 20%: $loss% lost within 10 .. 30" in_range "$loss" 10 30
else
	fail "loss applied" "no qdisc"
	stop_agent KILL
fi

# ---- duplication and reordering show in ping ----
if inject_bg --duplicate 50% --for 30s; then
	dups=$(tns ping -c 40 -i 0.05 -q 10.9.0.1 | awk '/duplicates/ { for (i = 1; i <= NF; i++) if ($i ~ /^\+[0-9]+$/) print substr($i, 2) }')
	stop_agent
	echo "  duplicate 50%: ${dups:-0} duplicate replies to 40 pings"
	check "duplicate 50%: ${dups:-0} duplicates of 40 within 8 .. 32" in_range "${dups:-0}" 8 32
else
	fail "duplicate applied" "no qdisc"
	stop_agent KILL
fi
if inject_bg --delay 50ms --reorder 50% --for 30s; then
	read -r avg tmean med iqr min max <<< "$(rtts -c 40 -i 0.05 10.9.0.1)"
	fast=$(tns ping -c 40 -i 0.05 10.9.0.1 | awk '/time=/ { for (i = 1; i <= NF; i++) if ($i ~ /^time=/) { sub("time=", "", $i); if ($i + 0 < 25) n++ } } END { print n + 0 }')
	stop_agent
	echo "  delay 50ms reorder 50%: $fast of 40 replies skipped the delay; median $med ms, max $max ms"
	check "reorder 50%: some packets skip the delay ($fast of 40, 8 .. 32)" in_range "$fast" 8 32
	check "reorder 50%: the others wait it out (max $max ms)" in_range "$max" 49 1000
else
	fail "reorder applied" "no qdisc"
	stop_agent KILL
fi

# ---- --to one address: delayed; another on the same link: not (IPv4, IPv6) ----
if inject_bg --delay 100ms --to 10.9.0.1 --to fd09::1 --for 30s; then
	read -r _ a _ <<< "$(rtts -c 20 -i 0.05 10.9.0.1)"
	read -r _ b _ <<< "$(rtts -c 20 -i 0.05 10.9.0.11)"
	read -r _ a6 _ <<< "$(rtts -6 -c 20 -i 0.05 fd09::1)"
	read -r _ b6 _ <<< "$(rtts -6 -c 20 -i 0.05 fd09::11)"
	stop_agent
	echo "  --to 10.9.0.1 fd09::1 (trimmed mean RTTs): 10.9.0.1 $a ms, 10.9.0.11 $b ms, fd09::1 $a6 ms, fd09::11 $b6 ms"
	check "--to IPv4: 10.9.0.1 delayed ($a ms)" in_range "$(subf "$a" "$over")" 95 110
	check "--to IPv4: 10.9.0.11 on the same link not delayed ($b ms)" in_range "$b" 0 "$(addf 10 "$base")"
	check "--to IPv6: fd09::1 delayed ($a6 ms)" in_range "$(subf "$a6" "$over")" 95 110
	check "--to IPv6: fd09::11 on the same link not delayed ($b6 ms)" in_range "$b6" 0 "$(addf 10 "$base")"
	check "--to: everything back afterwards" [ "$(target_state)" = "$t0" ]
else
	fail "--to applied" "no qdisc"
	stop_agent KILL
fi

# ---- ingress: one-way delay of traffic into the target, not out of it ----
if inject_bg --delay 100ms --direction ingress --for 60s; then
	tns "$NH" owd-recv 5001 40 20 > "$WORK/in.txt" &
	r=$!
	wait_ready "$WORK/in.txt"
	"$NH" owd-send 10.9.0.2 5001 40 50
	wait $r
	"$NH" owd-recv 5001 20 20 > "$WORK/out.txt" &
	r=$!
	wait_ready "$WORK/out.txt"
	tns "$NH" owd-send 10.9.0.1 5001 20 50
	wait $r
	root=$(tns tc qdisc show dev vt0)
	links=$(tns ip -br link)
	stop_agent
	in=$(kv tmean_ms "$WORK/in.txt"); out=$(kv tmean_ms "$WORK/out.txt")
	echo "  ingress delay 100ms: one-way into the target: $(cat "$WORK/in.txt" | tail -n 1); out of it: $(tail -n 1 "$WORK/out.txt")"
	check "ingress: traffic into the target delayed (trimmed mean $in ms one way, less netem's cost $over)" in_range "$(subf "$in" "$over")" 95 110
	check "ingress: no datagram in under 100 ms ($(kv min_ms "$WORK/in.txt") ms)" in_range "$(kv min_ms "$WORK/in.txt")" 99.5 1000
	check "ingress: traffic out of the target not delayed ($out ms)" in_range "$out" 0 "$(addf 10 "$base")"
	check "ingress: all 40 datagrams arrived" [ "$(kv received "$WORK/in.txt")" = 40 ]
	check "ingress: the root qdisc of vt0 left alone" grep -q 'noqueue 0: root' <<< "$root"
	check "ingress: an ifb device while in force" grep -q '^drs' <<< "$links"
	check "ingress: ifb and ingress qdisc gone afterwards" [ "$(target_state)" = "$t0" ]
else
	fail "ingress applied" "no qdisc"
	stop_agent KILL
fi

# ---- rate 1mbit: a bulk TCP transfer out of the target ----
if inject_bg --rate 1mbit --for 60s; then
	"$NH" sink 5002 8 > "$WORK/sink.txt" &
	r=$!
	wait_ready "$WORK/sink.txt"
	tns "$NH" source 10.9.0.1 5002 10
	wait $r
	stop_agent
	rate=$(kv rate_bps "$WORK/sink.txt")
	echo "  rate 1mbit: bulk transfer at $rate bit/s"
	check "rate 1mbit: bulk transfer at $rate bit/s within 0.8 .. 1.1 Mbit/s" in_range "$rate" 800000 1100000
else
	fail "rate applied" "no qdisc"
	stop_agent KILL
fi

# ---- presets ----
if inject_bg --partition --to 10.9.0.1 --for 60s; then
	l1=$(tns ping -c 10 -i 0.05 -W 1 -q 10.9.0.1 | ping_loss)
	l2=$(tns ping -c 10 -i 0.05 -q 10.9.0.11 | ping_loss)
	l3=$(ping -c 10 -i 0.05 -W 1 -q -I 10.9.0.1 10.9.0.2 | ping_loss)
	stop_agent
	echo "  partition from 10.9.0.1: loss $l1% to it, $l3% from it, $l2% to 10.9.0.11"
	check "partition: 100% loss to 10.9.0.1 ($l1%)" [ "$l1" = 100 ]
	check "partition: 100% loss from 10.9.0.1 into the target ($l3%)" [ "$l3" = 100 ]
	check "partition: 10.9.0.11 still reachable ($l2% loss)" [ "$l2" = 0 ]
	check "partition: everything back afterwards" [ "$(target_state)" = "$t0" ]
else
	fail "partition applied" "no qdisc"
	stop_agent KILL
fi
if inject_bg --dns-outage --for 60s; then
	"$NH" owd-recv 53 10 6 > "$WORK/dns.txt" &
	r1=$!
	"$NH" owd-recv 54 10 6 > "$WORK/other.txt" &
	r2=$!
	wait_ready "$WORK/dns.txt"; wait_ready "$WORK/other.txt"
	tns "$NH" owd-send 10.9.0.1 53 10 20
	tns "$NH" owd-send 10.9.0.1 54 10 20
	wait $r1 $r2
	stop_agent
	echo "  dns outage: $(kv received "$WORK/dns.txt") of 10 datagrams to port 53, $(kv received "$WORK/other.txt") of 10 to port 54"
	check "dns outage: nothing reaches port 53" [ "$(kv received "$WORK/dns.txt")" = 0 ]
	check "dns outage: port 54 unaffected" [ "$(kv received "$WORK/other.txt")" = 10 ]
else
	fail "dns outage applied" "no qdisc"
	stop_agent KILL
fi

# ---- summary of a normal end, and the agent's namespace ----
# traffic for the agent's whole life (its start-up time varies under load)
tns ping -i 0.2 -q 10.9.0.1 > /dev/null 2>&1 &
PINGER=$!
"$DURESS" inject network -t "pid:$TPID" --baseline 1s --for 2s --loss 50% -q --summary "$WORK/sum.json" > /dev/null 2>&1 &
AGENT=$!
wait_agent
kill $PINGER 2>/dev/null; wait $PINGER 2>/dev/null
check "normal end: exit 0 (got $RC)" [ "$RC" = 0 ]
check "summary: one step reverted, none failed" jq -e '.reverted == 1 and (.not_reverted | length) == 0' "$WORK/sum.json"
check "summary: netem packets and drops of vt0" jq -e '.fault_report.interfaces.vt0.egress_netem.packets > 0 and .fault_report.interfaces.vt0.egress_netem.drops > 0' "$WORK/sum.json"
check "summary: vt0 packets before and during" jq -e '.fault_report.interfaces.vt0.before.tx_packets >= 0 and .fault_report.interfaces.vt0.during.tx_packets > 0' "$WORK/sum.json"
check "normal end: everything back" [ "$(target_state)" = "$t0" ]
check "the agent's own namespace never changed" [ "$(host_state)" = "$host0" ]

# Fixture of the network fault's tests (sourced after lib.sh): a target
# process in a network namespace of its own, in a cgroup of its own, tied
# to the test's namespace by a veth pair:
#
#   test's namespace (the VM's)           target's namespace
#   $VH  10.9.0.1/24  10.9.0.11/24   <->  vt0  10.9.0.2/24
#        fd09::1/64   fd09::11/64              fd09::2/64
#
# Two peers on one link, so that "--to one address" can be checked against
# another on the same link.
NH=${NETHELPER:-$HELPERS/nethelper}
VH=dvh$$
TPID=
AGENT=

_net_cleanup() {
	[ -n "$AGENT" ] && kill -9 "$AGENT" 2>/dev/null
	ip link del "$VH" 2>/dev/null
	_cleanup
}
trap _net_cleanup EXIT

tns() { nsenter -t "$TPID" -n "$@"; }

# net_target NAME: sets TPID and TDIR
net_target() {
	TDIR=$(new_cgroup "$1") || return 1
	spawn "$TDIR" unshare -n sh -c 'echo ready; exec sleep 3600'
	wait_ready "$WORK/spawn.$$.out" || return 1
	TPID=$(head -n 1 "$TDIR/cgroup.procs")
	ip link add "$VH" type veth peer name vt0 netns "$TPID" || return 1
	ip addr add 10.9.0.1/24 dev "$VH" && ip addr add 10.9.0.11/24 dev "$VH" &&
		ip -6 addr add fd09::1/64 dev "$VH" nodad && ip -6 addr add fd09::11/64 dev "$VH" nodad &&
		ip link set "$VH" up || return 1
	tns ip link set lo up && tns ip addr add 10.9.0.2/24 dev vt0 &&
		tns ip -6 addr add fd09::2/64 dev vt0 nodad && tns ip link set vt0 up || return 1
	# neighbours resolved before anything is measured
	tns ping -c 1 -W 2 10.9.0.1 > /dev/null && tns ping -c 1 -W 2 10.9.0.11 > /dev/null &&
		tns ping -6 -c 1 -W 2 fd09::1 > /dev/null && tns ping -6 -c 1 -W 2 fd09::11 > /dev/null
}

# inject_bg ARGS...: duress inject network on the target in the background
# (pid in AGENT, output in $WORK/agent.out/.err); returns once a qdisc of
# ours (handle d5a0:) is in the target's namespace, 1 if it never shows.
ours_in_ns() { tns tc qdisc show | grep -q ' d5a0: '; }
inject_bg() {
	: > "$WORK/agent.out"
	: > "$WORK/agent.err"
	bg_start AGENT 15 ours_in_ns "$WORK/agent.out" "$WORK/agent.err" \
		"$DURESS" inject network -t "pid:$TPID" --baseline 0 -q "$@"
}

# stop_agent [SIGNAL]: signal the agent (TERM by default), wait, sets RC
stop_agent() { bg_stop AGENT "${1:-TERM}"; RC=$BG_RC; }

# wait_agent: wait for the agent to end by itself, sets RC
wait_agent() {
	wait "$AGENT"
	RC=$?
	AGENT=
}

# ping output -> average RTT (ms) / packet loss (%)
ping_avg() { awk -F/ '/^rtt/ { print $5; found = 1 } END { if (!found) print -1 }'; }
ping_loss() { awk '/packet loss/ { for (i = 1; i <= NF; i++) if ($i ~ /%$/) { sub("%", "", $i); print $i } }'; }

# kv KEY FILE: value of KEY=VALUE in the helper's output
kv() { tr ' ' '\n' < "$2" | awk -F= -v k="$1" '$1 == k { print $2 }' | tail -n 1; }

# the target's whole tc state and links, counters left out
target_state() {
	local d
	tns tc -d qdisc show
	for d in $(tns ip -o link show | awk -F': ' '{ print $2 }' | sed 's/@.*//'); do
		tns tc filter show dev "$d" 2>/dev/null
		tns tc filter show dev "$d" ingress 2>/dev/null
	done
	tns ip -br link | awk '{ print $1, $3 }' | sed 's/@[^ ]*//'
}
# the test's own namespace (the agent's): must never change
host_state() {
	tc -d qdisc show
	ip -br link | awk '{ print $1 }'
}

addf() { awk -v a="$1" -v b="$2" 'BEGIN { print a + b }'; }

# rtts PING-ARGS...: ping from the target; prints "avg tmean median iqr
# min max" of the round trips in ms (-1 when none came back).  tmean leaves
# out the lowest and highest 10%: an emulated machine (the test VM, on a
# loaded host) stalls now and then, and a single 200 ms stall moves a plain
# mean of 40 pings by 2.5 ms.
rtts() {
	tns ping "$@" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^time=/) { sub("time=", "", $i); print $i } }' |
		sort -n | awk '{ v[NR] = $1; s += $1 }
		END {
			if (!NR) { print "-1 -1 -1 -1 -1 -1"; exit }
			cut = int(NR / 10)
			for (i = cut + 1; i <= NR - cut; i++) t += v[i]
			q1 = int(NR * 0.25) + 1
			q3 = int(NR * 0.75) + 1
			if (q3 > NR) q3 = NR
			printf "%.2f %.2f %.2f %.2f %.2f %.2f\n", s / NR, t / (NR - 2 * cut),
				v[int((NR + 1) / 2)], v[q3] - v[q1], v[1], v[NR]
		}'
}

# What netem itself costs on this machine (trimmed mean of the RTT with
# tc's own netem at 1 ms, less 1 ms): software emulation delivers netem's
# timers late.  Measured with tc, so that duress's code is not part of the
# correction.
netem_overhead() {
	local avg tmean
	tns tc qdisc add dev vt0 root netem delay 1ms || { echo 0; return; }
	read -r avg tmean _ <<< "$(rtts -c 40 -i 0.05 10.9.0.1)"
	tns tc qdisc del dev vt0 root
	awk -v a="$tmean" 'BEGIN { o = a - 1; print (o > 0 ? o : 0) }'
}
subf() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", a - b }'; }

# run_and_compare DESC HOW ARGS...: with the target's state as it is now,
# run the fault (HOW: "end" lets --for run out, TERM/INT signal it while in
# force, KILL is kill -9 with the guardian left to revert) and compare.
run_and_compare() {
	local desc=$1 how=$2 before after want=8
	shift 2
	before=$(target_state)
	if [ "$how" = end ]; then
		if ! inject_bg "$@" --for 8s; then
			fail "$desc: applied" "no qdisc of ours"; stop_agent KILL; return
		fi
		during=$(target_state)
		wait_agent
		want=0
	else
		if ! inject_bg "$@" --for 60s; then
			fail "$desc: applied" "no qdisc of ours"; stop_agent KILL; return
		fi
		during=$(target_state)
		stop_agent "$how"
		[ "$how" = KILL ] && want=137
	fi
	check "$desc: exit $want (got $RC)" [ "$RC" = "$want" ]
	check "$desc: shaped while in force" [ "$during" != "$before" ]
	if [ "$how" = KILL ]; then
		# the guardian reverts within a second of the agent's death
		for _ in $(seq 30); do [ "$(target_state)" = "$before" ] && break; sleep 0.1; done
	fi
	after=$(target_state)
	if [ "$after" = "$before" ]; then
		pass "$desc: the target's qdiscs, filters and links are back exactly"
	else
		fail "$desc: the target's qdiscs, filters and links are back exactly" \
			"$(diff <(echo "$before") <(echo "$after") | tr '\n' ' ')"
	fi
}

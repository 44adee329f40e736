# network: an ingress hook with filters of its own keeps them; trees duress
# cannot restore exactly are refused untouched; the self-lockout guard
# (the agent's own namespace, SSH).  See also test_fault_network_restore.sh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/net_lib.sh"

if ! net_target netgd; then
	fail "network fixture (netns, veth, addresses)" "could not build it"
	exit 0
fi
host0=$(host_state)

# ---- an ingress hook with a filter of its own: ours go beside it ----
tns tc qdisc add dev vt0 clsact
tns tc filter add dev vt0 ingress pref 10 protocol ip u32 match ip src 10.9.0.99/32 action drop
run_and_compare "clsact with a filter, ingress, SIGTERM" TERM --delay 20ms --direction ingress --to 10.9.0.1
check "clsact: the owner's filter stayed while ours ran" grep -q 'pref 10 u32' <<< "$during"
check "clsact: ours were beside it (priority 54688)" grep -q 'pref 54688 u32' <<< "$during"
tns tc qdisc del dev vt0 clsact

# ---- trees that cannot be put back exactly are refused, untouched ----
refused() { # DESC CODE SETUP...
	local desc=$1 code=$2 before
	before=$(target_state)
	expect_exit "$desc: refused (exit $code)" "$code" "$DURESS" inject network -t "pid:$TPID" --for 2s --baseline 0 -q --delay 10ms
	echo "    $(cat "$WORK/stderr")"
	check "$desc: the message names vt0" grep -q 'vt0' "$WORK/stderr"
	check "$desc: nothing changed" [ "$(target_state)" = "$before" ]
}
tns tc qdisc add dev vt0 root handle 1: htb default 10
tns tc class add dev vt0 parent 1: classid 1:10 htb rate 10mbit
refused "htb with classes" 4
tns tc qdisc del dev vt0 root
tns tc qdisc add dev vt0 root handle 1: prio
tns tc filter add dev vt0 parent 1: protocol ip u32 match ip dst 10.9.0.1/32 flowid 1:1
refused "prio with a filter" 4
tns tc qdisc del dev vt0 root
tns tc qdisc add dev vt0 root netem delay 1ms
refused "someone else's netem" 4
tns tc qdisc del dev vt0 root
tns tc qdisc add dev vt0 root handle d5a0: netem delay 1ms
refused "a qdisc left by a run that did not revert" 6
tns tc qdisc del dev vt0 root

# ---- the self-lockout guard: the agent's own namespace ----
hdir=$(new_cgroup nethost)
spawn "$hdir" sh -c 'echo ready; exec sleep 3600'
wait_ready "$WORK/spawn.$$.out"
hpid=$(head -n 1 "$hdir/cgroup.procs")
expect_exit "own namespace, all traffic: refused (exit 6)" 6 "$DURESS" inject network -t "pid:$hpid" --for 2s --baseline 0 -q --delay 10ms
check "own namespace: the message says why and names --force" grep -q "agent's own network namespace.*--force" "$WORK/stderr"
expect_exit "own namespace, --port 22: refused (exit 6)" 6 "$DURESS" inject network -t "pid:$hpid" --for 2s --baseline 0 -q --delay 10ms --port 20-30
check "own namespace, --port 22: the message names SSH" grep -q "SSH" "$WORK/stderr"
expect_exit "own namespace, narrow (--to) and --force: allowed" 0 "$DURESS" inject network -t "pid:$hpid" --for 1s --baseline 0 -q --delay 1ms --to 10.9.0.2 --device "$VH" --force
check "own namespace after the forced run: as before" [ "$(host_state)" = "$host0" ]
check "the agent's own namespace never changed otherwise" [ "$(host_state)" = "$host0" ]

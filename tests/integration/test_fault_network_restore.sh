# network: what the target had is put back exactly -- the kernel's default,
# fq_codel, tbf -- after a normal end, SIGTERM, SIGINT, and kill -9 of the
# agent (its guardian reverts).  The rest: test_fault_network_guard.sh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/net_lib.sh"

if ! net_target netrs; then
	fail "network fixture (netns, veth, addresses)" "could not build it"
	exit 0
fi
host0=$(host_state)

# ---- the kernel's default (noqueue on a veth) ----
run_and_compare "default root, unfiltered, normal end" end --delay 10ms
run_and_compare "default root, both directions, SIGINT" INT --delay 10ms --direction both

# ---- fq_codel with settings of its own ----
tns tc qdisc replace dev vt0 root fq_codel limit 2000 target 7ms interval 90ms quantum 1000 ecn
echo "  before: $(tns tc -d qdisc show dev vt0)"
run_and_compare "fq_codel, unfiltered, normal end" end --delay 10ms
run_and_compare "fq_codel, filtered (--to), SIGTERM" TERM --delay 10ms --to 10.9.0.1
check "fq_codel, filtered: the rest of the traffic kept a copy of fq_codel (d5a2:)" \
	grep -q 'qdisc fq_codel d5a2: .*parent d5a0:1.*target 7ms interval 90ms' <<< "$during"
run_and_compare "fq_codel, both directions with a port, SIGINT" INT --loss 5% --port 5000-5100 --direction both
if "$DURESS" recover --help > /dev/null 2>&1; then
	run_and_compare "fq_codel, kill -9 of the agent (guardian reverts)" KILL --delay 10ms --to 10.9.0.1 --direction both
else
	skip "fq_codel, kill -9 of the agent" "this build has no guardian (issue 6)"
fi

# ---- tbf of its own ----
tns tc qdisc replace dev vt0 root tbf rate 5mbit burst 32k latency 40ms
echo "  before: $(tns tc -d qdisc show dev vt0)"
run_and_compare "tbf, unfiltered with a rate, normal end" end --rate 2mbit --delay 5ms
run_and_compare "tbf, filtered (--protocol icmp), SIGTERM" TERM --loss 50% --protocol icmp
check "tbf, filtered: the rest of the traffic kept a copy of the tbf (d5a2:)" \
	grep -q 'qdisc tbf d5a2: .*parent d5a0:1.*rate 5Mbit' <<< "$during"
run_and_compare "tbf, partition, SIGINT" INT --partition --to fd09::1
if "$DURESS" recover --help > /dev/null 2>&1; then
	run_and_compare "tbf, kill -9 of the agent (guardian reverts)" KILL --delay 10ms
fi

check "the agent's own namespace never changed" [ "$(host_state)" = "$host0" ]

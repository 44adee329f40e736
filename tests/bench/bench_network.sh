# Network fault: apply/revert time of a filtered netem rule, duress (netlink)
# against tc (what peer tools run), side by side; and accuracy: configured
# against measured RTT (ping) at 10/50/200 ms and loss at 1/5/20%.
build=${BUILD:-build}
duress=$build/duress
cg=/sys/fs/cgroup/duress-bench-net-$$
vh=dbh$$
mkdir $cg || exit 1
sh -c "echo \$\$ > $cg/cgroup.procs; exec unshare -n sleep 3600" &
disown
# wait until the process is in the cgroup AND has its own netns (the VM can
# be slow under load: a fixed sleep raced here)
pid=
for _ in $(seq 100); do
	pid=$(head -n 1 $cg/cgroup.procs)
	[ -n "$pid" ] && [ "$(readlink /proc/$pid/ns/net)" != "$(readlink /proc/self/ns/net)" ] && break
	sleep 0.1
done
cleanup() { ip link del $vh 2>/dev/null; echo 1 > $cg/cgroup.kill; sleep 0.3; rmdir $cg; }
trap cleanup EXIT
ip link add $vh type veth peer name vt0 netns $pid
ip addr add 10.9.0.1/24 dev $vh; ip link set $vh up
nsenter -t $pid -n sh -c 'ip link set lo up; ip addr add 10.9.0.2/24 dev vt0; ip link set vt0 up'
nsenter -t $pid -n ping -c 1 -W 2 10.9.0.1 > /dev/null

$build/tests/bench/bench_network $pid vt0 30

# stop the agent (SIGTERM): it must revert and exit 8 (interrupted)
stop() {
	kill -TERM "$1"
	wait "$1"
	local rc=$?
	[ $rc = 8 ] || echo "  (the agent exited $rc, not 8)"
}
applied() {
	for _ in $(seq 150); do nsenter -t $pid -n tc qdisc show dev vt0 | grep -q ' d5a0: ' && return 0; sleep 0.1; done
	return 1
}
echo "accuracy (ping from the target over the veth; the VM's emulation adds its own latency):"
printf '  %-12s %s\n' "no fault" "$(nsenter -t $pid -n ping -c 50 -i 0.05 -q 10.9.0.1 | tail -n 1)"
for d in 10 50 200; do
	$duress inject network -t pid:$pid --baseline 0 -q --for 120s --delay ${d}ms > /dev/null 2>&1 &
	a=$!
	applied && printf '  %-12s %s\n' "delay ${d}ms" "$(nsenter -t $pid -n ping -c 50 -i 0.05 -q 10.9.0.1 | tail -n 1)"
	stop $a
done
for l in 1 5 20; do
	$duress inject network -t pid:$pid --baseline 0 -q --for 120s --loss ${l}% > /dev/null 2>&1 &
	a=$!
	applied && printf '  %-12s %s\n' "loss ${l}%" "$(nsenter -t $pid -n ping -c 2000 -i 0.002 -q 10.9.0.1 | grep 'packet loss')"
	stop $a
done
exit 0

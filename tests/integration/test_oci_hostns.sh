# timeout: 600
# The agent in a container of its own (the sidecar image: own cgroup and
# mount namespaces, only CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_NET_ADMIN and
# CAP_KILL) but in the host's PID namespace, as a DaemonSet runs it: with
# DURESS_CGROUPNS=host it joins the host's cgroup namespace and sees the
# host's tree, so faults that start workers inside the target work (CPU
# burners, a memory hog), which the kernel refuses from the container's own
# cgroup namespace (checked first: exit 4).  Everything is reverted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/oci_lib.sh"

MiB=1048576
oci_parent ocih
A=ocih-a$$ D=ocih-d$$
HOSTUSR='[{"destination":"/usr","type":"bind","source":"/usr","options":["rbind","ro"]}]'
CAPS4='["CAP_SYS_ADMIN","CAP_SYS_PTRACE","CAP_NET_ADMIN","CAP_KILL"]'
# no "pid" entry: the host's PID namespace (hostPID)
DNS='[{"type":"mount"},{"type":"cgroup"},{"type":"ipc"},{"type":"uts"},{"type":"network"}]'

hostns_cleanup() {
	local id
	for id in "$D-1" "$D-2" "$D-3" "$A"; do
		crun kill "$id" KILL 2>/dev/null; crun delete -f "$id" 2>/dev/null
	done
	_cleanup
}
trap hostns_cleanup EXIT

# ---- the target: a crun container with its own everything ----
mkdir -p "$WORK/a"
oci_rootfs_hostusr "$WORK/a/rootfs"
oci_config '["sleep","100000"]' "$pname/a" "$NS_ALL" '' "$HOSTUSR" > "$WORK/a/config.json"
crun run -d --bundle "$WORK/a" "$A" < /dev/null > "$WORK/a.log" 2>&1
APID=$(crun state "$A" 2>/dev/null | jq .pid)
if ! check "crun starts the target container $A" grep -qx "0::$pname/a" "/proc/${APID:-0}/cgroup"; then
	exit 0
fi
cpu0=$(cat "$parent/a/cpu.max")

# ---- the agent's container, from the image's root filesystem ----
mkdir -p "$WORK/d"
DURESS_BIN=$DURESS "$TOP/scripts/image-rootfs" "$WORK/d/rootfs" > /dev/null
# agent ENV_JSON ARGS_JSON: its config.json (cgroup $pname/d)
agent_config() {
	oci_config "$2" "$pname/d" "$DNS" "$CAPS4" | jq --argjson env "$1" '.process.env += $env' > "$WORK/d/config.json"
}

# Without DURESS_CGROUPNS the target lies outside the agent's cgroup
# namespace: limits work through a view, workers cannot be moved in.
agent_config '[]' '["/usr/bin/duress","inject","cpu","-t","pid:'"$APID"'","--workers","1","--for","3s","--baseline","0","-q"]'
crun run --bundle "$WORK/d" "$D-1" < /dev/null > "$WORK/d1.out" 2> "$WORK/d1.err"
rc=$?
check "own cgroup namespace: a workers fault is refused as unsupported (exit $rc, want 4)" [ $rc = 4 ]

# With DURESS_CGROUPNS=host: CPU workers inside the target
agent_config '["DURESS_CGROUPNS=host"]' '["/usr/bin/duress","inject","cpu","-t","pid:'"$APID"'","--workers","1","--load","50","--for","8s","--baseline","0","-q"]'
u0=$(awk '/^usage_usec/ { print $2 }' "$parent/a/cpu.stat")
crun run --bundle "$WORK/d" "$D-2" < /dev/null > "$WORK/d2.out" 2> "$WORK/d2.err" &
agent=$!
wdir=
for _ in $(seq 150); do
	wdir=$(find "$parent/a" -mindepth 1 -maxdepth 1 -type d -name 'duress-cpu-*' | head -n 1)
	# (cgroup files have no size: read them)
	[ -n "$wdir" ] && grep -q . "$wdir/cgroup.procs" 2>/dev/null && break
	sleep 0.1
done
check "DURESS_CGROUPNS=host: the workers' cgroup is inside the target ($wdir)" [ -n "$wdir" ]
check "  ... with a worker process in it" grep -q . "${wdir:-/nonexistent}/cgroup.procs"
sleep 3
u1=$(awk '/^usage_usec/ { print $2 }' "$parent/a/cpu.stat")
wait $agent
rc=$?
used=$(( (u1 - u0) / 1000 ))
echo "  the target's cpu.stat grew by ${used} ms while the workers ran; agent: $(head -c 300 "$WORK/d2.err")"
check "DURESS_CGROUPNS=host: inject cpu --workers exits 0 (got $rc)" [ $rc = 0 ]
check "the CPU the workers burned was charged to the target (${used} ms > 500)" [ "$used" -gt 500 ]
check "no workers cgroup left in the target" bash -c "[ -z \"\$(find '$parent/a' -mindepth 1 -type d)\" ]"
check "no worker process left" bash -c "! pgrep -x duress-cpu"
check "cpu.max untouched ('$cpu0')" [ "$(cat "$parent/a/cpu.max")" = "$cpu0" ]

# A memory hog inside the target
agent_config '["DURESS_CGROUPNS=host"]' '["/usr/bin/duress","inject","memory","-t","pid:'"$APID"'","--hog","40M","--for","6s","--baseline","0","-q"]'
crun run --bundle "$WORK/d" "$D-3" < /dev/null > "$WORK/d3.out" 2> "$WORK/d3.err" &
agent=$!
peak=0
for _ in $(seq 60); do
	cur=$(cat "$parent/a/memory.current")
	[ "$cur" -gt "$peak" ] && peak=$cur
	[ "$peak" -gt $((38 * MiB)) ] && break
	sleep 0.1
done
wait $agent
rc=$?
check "DURESS_CGROUPNS=host: inject memory --hog exits 0 (got $rc: $(head -c 200 "$WORK/d3.err"))" [ $rc = 0 ]
check "the target's memory.current reached the hog's 40M (peak $((peak / MiB)) MiB)" [ "$peak" -gt $((38 * MiB)) ]
check "the hog is gone: memory.current back below 16 MiB ($(( $(cat "$parent/a/memory.current") / MiB )) MiB)" \
	[ "$(cat "$parent/a/memory.current")" -lt $((16 * MiB)) ]
check "no hog cgroup left in the target" bash -c "[ -z \"\$(find '$parent/a' -mindepth 1 -type d)\" ]"
check "no mount of the agent's leaked to the host" bash -c "! grep -q ' /sys/fs/cgroup cgroup2 .*ocih' /proc/self/mountinfo"

# A path that is not a namespace: exit 4 naming the variable
agent_config '["DURESS_CGROUPNS=/nonexistent"]' '["/usr/bin/duress","targets"]'
crun run --bundle "$WORK/d" "$D-1" < /dev/null > "$WORK/d4.out" 2> "$WORK/d4.err"
rc=$?
check "DURESS_CGROUPNS=/nonexistent: exit 4 naming the variable (got $rc: $(head -c 200 "$WORK/d4.err"))" \
	bash -c "[ $rc = 4 ] && grep -q DURESS_CGROUPNS '$WORK/d4.err'"

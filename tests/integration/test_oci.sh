# timeout: 1200
# Containers started directly by an OCI runtime (crun, runc), with their own
# cgroup (cgroupfs manager, cgroupsPath) and pid, mount, network, cgroup, ipc
# and uts namespaces: `container:ID` and `pid:N` find them, faults apply
# (memory.max with an OOM kill, cpu.max, netem delay measured by ping in
# the container's netns) and are reverted.  Then the agent runs ITSELF in
# a second container made from the sidecar image (scripts/image-rootfs ->
# umoci -> unpacked bundle): sharing the first one's PID namespace, in its
# own cgroup and mount namespaces, with only CAP_SYS_ADMIN, CAP_SYS_PTRACE,
# CAP_NET_ADMIN and CAP_KILL; it targets the first container by pid and by
# id, the host sees the fault on the kernel, and it is reverted, also after
# the sidecar agent is SIGKILLed (the guardian replays through the view).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/oci_lib.sh"

MiB=1048576
oci_parent oci
A=ocia$$ B=ocib$$ S=duress-sidecar-$$
VH=voh$$
HOSTUSR='[{"destination":"/usr","type":"bind","source":"/usr","options":["rbind","ro"]},
	{"destination":"/h","type":"bind","source":"'"$HELPERS"'","options":["rbind","ro"]}]'

oci_cleanup() {
	local id
	for id in "$S" "$S-2" "$S-3" "$S-4" "$A"; do
		crun kill "$id" KILL 2>/dev/null; crun delete -f "$id" 2>/dev/null
	done
	runc kill "$B" KILL 2>/dev/null; runc delete -f "$B" 2>/dev/null
	ip link del "$VH" 2>/dev/null
	_cleanup
}
trap oci_cleanup EXIT

# ---- container A (crun): sleep as init, and a 96 MiB holder ----
mkdir -p "$WORK/a"
oci_rootfs_hostusr "$WORK/a/rootfs"
mkdir -p "$WORK/a/rootfs/h"
# The init (oomScoreAdj -1000) must survive the OOM kill; the holder
# raises its own score so that it is the one the kernel picks.
oci_config '["sh","-c","sh -c '"'"'echo 1000 > /proc/self/oom_score_adj; exec /h/memhold 96'"'"' & exec sleep 100000"]' \
	"$pname/a" "$NS_ALL" '' "$HOSTUSR" | jq '.process.oomScoreAdj = -1000' > "$WORK/a/config.json"
crun run -d --bundle "$WORK/a" "$A" < /dev/null > "$WORK/a.log" 2>&1
check "crun starts container $A" [ "$(crun state "$A" | jq -r .status)" = running ]
APID=$(crun state "$A" | jq .pid)
check "its init's cgroup is the cgroupsPath ($(cat /proc/"$APID"/cgroup))" \
	grep -qx "0::$pname/a" "/proc/$APID/cgroup"
check "it has its own pid, net and cgroup namespaces" bash -c \
	"[ \$(readlink /proc/$APID/ns/pid) != \$(readlink /proc/self/ns/pid) ] &&
	 [ \$(readlink /proc/$APID/ns/net) != \$(readlink /proc/self/ns/net) ] &&
	 [ \$(readlink /proc/$APID/ns/cgroup) != \$(readlink /proc/self/ns/cgroup) ]"
# A veth into its network namespace
ip link add "$VH" type veth peer name eth0 netns "$APID"
ip addr add 10.78.0.1/24 dev "$VH"; ip link set "$VH" up
nsenter -t "$APID" -n sh -c 'ip link set lo up; ip addr add 10.78.0.2/24 dev eth0; ip link set eth0 up'
for _ in $(seq 100); do
	[ "$(cat "$parent/a/memory.current")" -gt $((80 * MiB)) ] && break; sleep 0.1
done
echo 943718400 > "$parent/a/memory.max" # a non-default original: 900M

# ---- container B (runc), for runc's state format and ambiguity ----
mkdir -p "$WORK/b"
oci_rootfs_hostusr "$WORK/b/rootfs"
oci_config '["sleep","100000"]' "$pname/b" "$NS_ALL" '' \
	'[{"destination":"/usr","type":"bind","source":"/usr","options":["rbind","ro"]}]' > "$WORK/b/config.json"
runc run -d --bundle "$WORK/b" "$B" < /dev/null > "$WORK/b.log" 2>&1
check "runc starts container $B" [ "$(runc state "$B" | jq -r .status)" = running ]

# ---- finding them ----
"$DURESS" targets > "$WORK/targets.txt"
cat "$WORK/targets.txt"
check "targets lists the crun container with its cgroup" grep -q "^$A *crun .* $pname/a\$" "$WORK/targets.txt"
check "targets lists the runc container" grep -q "^$B *runc .* $pname/b\$" "$WORK/targets.txt"
"$DURESS" targets --format json > "$WORK/targets.json"
check "targets JSON: $A measured (memory > 80 MiB, pids >= 2)" jq -e --arg id "$A" \
	'.[] | select(.id == $id) | .runtime == "crun" and .memory_current > 83886080 and .pids >= 2' "$WORK/targets.json"
expect_exit "container:$A (exact name) samples" 0 "$DURESS" sample -t "container:$A" --duration 1s --format jsonl -o "$WORK/s.jsonl"
check "  ... its memory (the 96 MiB holder)" jq -e -s '.[-1].memory.current > 83886080' "$WORK/s.jsonl"
expect_exit "container:ocib (unique prefix) finds the runc one" 0 "$DURESS" sample -t "container:ocib" --duration 1s --format jsonl -o "$WORK/sb.jsonl"
check "  ... its pids (1: sleep)" jq -e -s '.[-1].pids.current == 1' "$WORK/sb.jsonl"
expect_exit "container:oci (ambiguous) -> 3" 3 "$DURESS" sample -t container:oci --duration 1s
check "  ... the message lists both" bash -c "grep -q '$A (crun' '$WORK/stderr' && grep -q '$B (runc' '$WORK/stderr'"
expect_exit "container:nosuch -> 3" 3 "$DURESS" sample -t container:nosuch --duration 1s

# ---- memory.max via container:ID: OOM kill seen, value back ----
oom0=$(awk '$1 == "oom_kill" { print $2 }' "$parent/a/memory.events")
expect_exit "memory --max 64M on container:$A: exit 0" 0 \
	"$DURESS" inject memory -t "container:$A" --for 3s --max 64M --interval 500ms --baseline 500ms -q \
	--samples "$WORK/mem.jsonl"
oom1=$(awk '$1 == "oom_kill" { print $2 }' "$parent/a/memory.events")
check "memory.max was 64M while in force" \
	jq -e -s '[.[] | select(.phase == "during") | .memory.max] | length > 0 and all(. == 67108864)' "$WORK/mem.jsonl"
check "an OOM kill in the container ($oom0 -> $oom1)" [ "$oom1" -gt "$oom0" ]
check "memory.max back to 900M" [ "$(cat "$parent/a/memory.max")" = 943718400 ]
check "no workers cgroup left" bash -c "[ -z \"\$(find '$parent/a' -mindepth 1 -type d)\" ]"
check "the container still runs" [ "$(crun state "$A" | jq -r .status)" = running ]

# ---- cpu.max via pid:N ----
cpu0=$(cat "$parent/a/cpu.max")
"$DURESS" inject cpu -t "pid:$APID" --for 4s --quota 0.2 --baseline 0 -q > "$WORK/cpu.out" 2>&1 &
agent=$!
during=
for _ in $(seq 60); do during=$(cat "$parent/a/cpu.max"); [ "$during" != "$cpu0" ] && break; sleep 0.1; done
wait $agent
rc=$?
check "cpu --quota 0.2 on pid:$APID: exit 0 (got $rc: $(tail -n 2 "$WORK/cpu.out" | tr '\n' ' '))" [ $rc = 0 ]
check "cpu.max was '20000 100000' while in force (saw '$during')" [ "$during" = "20000 100000" ]
check "cpu.max back to '$cpu0'" [ "$(cat "$parent/a/cpu.max")" = "$cpu0" ]

# ---- netem delay via container:ID, measured by ping in its netns ----
# The lowest round trip of each series: a loaded, emulated machine stalls
# now and then (a mean of 5 pings once read 72 ms with no fault in force),
# but no ping comes back sooner than the delay netem holds it for.
rtt() { nsenter -t "$APID" -n ping -c "$1" -i 0.2 -q 10.78.0.1 | awk -F'[/ ]' '/^rtt/ { print $7 }'; }
base=$(rtt 5)
check "baseline ping from the container answers ($base ms at the least)" in_range "${base:--1}" 0 95
"$DURESS" inject network -t "container:$A" --delay 100ms --for 12s --baseline 0 -q > "$WORK/net.out" 2>&1 &
agent=$!
for _ in $(seq 100); do nsenter -t "$APID" -n tc qdisc show dev eth0 | grep -q netem && break; sleep 0.1; done
slow=$(rtt 10)
wait $agent
rc=$?
after=$(rtt 5)
echo "  least RTT from inside the container: $base ms -> $slow ms under --delay 100ms -> $after ms after"
check "network fault: exit 0 ($rc)" [ $rc = 0 ]
check "ping in the container's netns held by the delay: none back under 100 ms ($slow ms)" in_range "${slow:--1}" 99.5 400
check "delay gone after the revert: a ping back under 95 ms ($after ms)" in_range "${after:--1}" 0 95
check "no netem left on the container's eth0" bash -c "! nsenter -t $APID -n tc qdisc show dev eth0 | grep -q netem"
check "the host's side was not touched" bash -c "! tc qdisc show dev $VH | grep -q netem"

# ---- the sidecar: the agent in a container of the image ----
rootfs=$WORK/image-rootfs
DURESS_BIN=$DURESS "$TOP/scripts/image-rootfs" "$rootfs" > /dev/null
check "image-rootfs: the binary and only libraries" bash -c \
	"[ -x '$rootfs/usr/bin/duress' ] && [ -z \"\$(find '$rootfs' -type f ! -path '*/lib*' ! -path '*/etc/*' ! -name duress)\" ] && [ ! -e '$rootfs/bin/sh' ]"
umoci init --layout "$WORK/img" && umoci new --image "$WORK/img:t" &&
	umoci insert --image "$WORK/img:t" "$rootfs" / > /dev/null &&
	umoci config --image "$WORK/img:t" --config.entrypoint /usr/bin/duress > /dev/null &&
	umoci unpack --image "$WORK/img:t" "$WORK/s" > /dev/null
check "umoci builds the image and unpacks a bundle from it" [ -x "$WORK/s/rootfs/usr/bin/duress" ]
check "  ... whose entrypoint is duress" jq -e '.process.args[0] == "/usr/bin/duress"' "$WORK/s/config.json"

CAPS4='["CAP_SYS_ADMIN","CAP_SYS_PTRACE","CAP_NET_ADMIN","CAP_KILL"]'
SNS='[{"type":"pid","path":"/proc/'"$APID"'/ns/pid"},{"type":"mount"},{"type":"cgroup"},{"type":"ipc"},{"type":"uts"},{"type":"network"}]'
CRUNSTATE='[{"destination":"/run/crun","type":"bind","source":"/run/crun","options":["rbind","ro"]}]'
# sidecar ID ARGS_JSON: run the agent in the foreground; its output in $WORK/ID.out/.err
sidecar_config() {
	oci_config "$1" "$pname/sidecar" "$SNS" "$CAPS4" "$CRUNSTATE" |
		jq '.root.path = "rootfs" | .process.noNewPrivileges = true' > "$WORK/s/config.json"
}

sidecar_config '["/usr/bin/duress","targets"]'
crun run --bundle "$WORK/s" "$S" < /dev/null > "$WORK/side-targets.out" 2> "$WORK/side-targets.err"
rc=$?
cat "$WORK/side-targets.out"
check "sidecar: duress targets runs (exit $rc: $(head -c 200 "$WORK/side-targets.err"))" [ $rc = 0 ]
check "sidecar: lists $A with its cgroup outside the agent's namespace" grep -q "^$A *crun .* /\.\./a\$" "$WORK/side-targets.out"

# memory.max by pid:1 (A's init is PID 1 of the shared PID namespace)
sidecar_config '["/usr/bin/duress","inject","memory","-t","pid:1","--max","48M","--for","12s","--baseline","0"]'
crun run --bundle "$WORK/s" "$S-2" < /dev/null > "$WORK/side-mem.out" 2> "$WORK/side-mem.err" &
side=$!
during=
for _ in $(seq 150); do during=$(cat "$parent/a/memory.max"); [ "$during" != 943718400 ] && break; sleep 0.1; done
spid=$(crun state "$S-2" 2>/dev/null | jq -r .pid)
if [ -n "$spid" ] && [ "$spid" != null ]; then
	check "sidecar agent: own cgroup namespace ($(cat /proc/"$spid"/cgroup))" bash -c \
		"[ \$(readlink /proc/$spid/ns/cgroup) != \$(readlink /proc/$APID/ns/cgroup) ] && grep -qx '0::$pname/sidecar' /proc/$spid/cgroup"
	check "sidecar agent: only the four capabilities (CapEff $(awk '/^CapEff/ { print $2 }' /proc/"$spid"/status))" \
		grep -q '^CapEff:.*0000000000281020$' "/proc/$spid/status"
fi
wait $side
rc=$?
cat "$WORK/side-mem.err" | head -5
check "sidecar: inject memory -t pid:1 exits 0 (got $rc)" [ $rc = 0 ]
check "sidecar: the host's kernel saw memory.max 48M on $pname/a (saw $during)" [ "$during" = $((48 * MiB)) ]
check "sidecar: memory.max back to 900M" [ "$(cat "$parent/a/memory.max")" = 943718400 ]
check "sidecar: the target was reached through the view" grep -q "pid 1 (cgroup /\.\./a)" "$WORK/side-mem.err"
check "sidecar: no view mount left on the host" bash -c "! grep -q cgns /proc/self/mounts"

# cpu.max by container id, through the runtime's state (the pid in it is
# the host's; the agent finds the process by its start time)
sidecar_config '["/usr/bin/duress","inject","cpu","-t","container:'"$A"'","--quota","0.3","--for","5s","--baseline","0","-q"]'
crun run --bundle "$WORK/s" "$S-3" < /dev/null > "$WORK/side-cpu.out" 2> "$WORK/side-cpu.err" &
side=$!
during=
for _ in $(seq 150); do during=$(cat "$parent/a/cpu.max"); [ "$during" != "$cpu0" ] && break; sleep 0.1; done
wait $side
rc=$?
check "sidecar: inject cpu -t container:$A exits 0 (got $rc: $(head -c 300 "$WORK/side-cpu.err"))" [ $rc = 0 ]
check "sidecar: the host saw cpu.max '30000 100000' (saw '$during')" [ "$during" = "30000 100000" ]
check "sidecar: cpu.max back to '$cpu0'" [ "$(cat "$parent/a/cpu.max")" = "$cpu0" ]

# A documented limit: with nsdelegate, workers forked in the agent's cgroup
# cannot be moved into a cgroup outside its namespace.  The fault must fail
# cleanly: a message, a non-zero exit, nothing left in the target.
sidecar_config '["/usr/bin/duress","inject","cpu","-t","pid:1","--workers","1","--for","3s","--baseline","0","-q"]'
crun run --bundle "$WORK/s" "$S-3" < /dev/null > "$WORK/side-workers.out" 2> "$WORK/side-workers.err"
rc=$?
echo "  sidecar workers fault: exit $rc: $(grep -m1 'outside' "$WORK/side-workers.err")"
check "sidecar: a workers fault fails as unsupported (exit $rc, want 4), saying why" bash -c \
	"[ $rc = 4 ] && grep -q 'outside the agent.s cgroup namespace' '$WORK/side-workers.err'"
check "sidecar: no workers cgroup left in the target" bash -c "[ -z \"\$(find '$parent/a' -mindepth 1 -type d)\" ]"
check "sidecar: cpu.max untouched ('$cpu0')" [ "$(cat "$parent/a/cpu.max")" = "$cpu0" ]
check "sidecar: no worker process left" bash -c "! pgrep -x duress-cpu"

# The sidecar agent is SIGKILLed mid-fault.  Its guardian lives in the same
# container, and the runtime kills what is left in the container's cgroup
# when its process exits, so the journal must outlive the container: the
# state directory is a host directory (an emptyDir in a pod).  A new
# sidecar's `duress recover` replays it, mounting the view again itself.
mkdir -p "$WORK/state"
STATE='[{"destination":"/run/crun","type":"bind","source":"/run/crun","options":["rbind","ro"]},
	{"destination":"/run/duress","type":"bind","source":"'"$WORK/state"'","options":["rbind","rw"]}]'
sidecar_state_config() {
	oci_config "$1" "$pname/sidecar" "$SNS" "$CAPS4" "$STATE" > "$WORK/s/config.json"
}
# DURESS_OCI_KILL_RUNS=N repeats this case N times (default 1), to hunt its
# races (docs/testing.md).
kill_case() {
	local tag=$1
	sidecar_state_config '["/usr/bin/duress","inject","memory","-t","pid:1","--max","40M","--for","60s","--baseline","0","-q"]'
	crun run --bundle "$WORK/s" "$S-4" < /dev/null > "$WORK/side-kill.out" 2> "$WORK/side-kill.err" &
	side=$!
	during=
	for _ in $(seq 150); do during=$(cat "$parent/a/memory.max"); [ "$during" != 943718400 ] && break; sleep 0.1; done
	check "sidecar (kill)$tag: memory.max 40M in force (saw $during)" [ "$during" = $((40 * MiB)) ]
	journals=$(ls "$WORK/state/journal" 2>/dev/null | tr '\n' ' ')
	check "sidecar (kill)$tag: its journal is in the state directory ($journals)" [ -n "$journals" ]
	check "sidecar (kill)$tag: it records the view path" bash -c "grep -q 'cgns/1-' '$WORK/state/journal/'*.undo"
	spid=$(crun state "$S-4" 2>/dev/null | jq -r .pid)
	kill -9 "$spid"
	wait $side 2>/dev/null
	back=
	for _ in $(seq 50); do back=$(cat "$parent/a/memory.max"); [ "$back" = 943718400 ] && break; sleep 0.1; done
	echo "  after SIGKILL of the sidecar agent (its container gone): memory.max $back"
	sidecar_state_config '["/usr/bin/duress","recover"]'
	crun run --bundle "$WORK/s" "$S" < /dev/null > "$WORK/side-recover.out" 2> "$WORK/side-recover.err"
	rc=$?
	cat "$WORK/side-recover.out" "$WORK/side-recover.err" | head -5
	check "sidecar recover$tag: exit 0 (got $rc)" [ $rc = 0 ]
	check "sidecar recover$tag: memory.max back to 900M (now $(cat "$parent/a/memory.max"))" [ "$(cat "$parent/a/memory.max")" = 943718400 ]
	check "sidecar recover$tag: no journal left" bash -c "[ -z \"\$(ls '$WORK/state/journal' 2>/dev/null)\" ]"
	check "sidecar recover$tag: the view directory was removed" bash -c "[ -z \"\$(ls '$WORK/state/cgns' 2>/dev/null)\" ]"
}
runs=${DURESS_OCI_KILL_RUNS:-1}
for run in $(seq "$runs"); do
	if [ "$runs" = 1 ]; then kill_case ""; else kill_case " [run $run/$runs]"; fi
	# a run that left something must not fail the next ones
	echo 943718400 > "$parent/a/memory.max"
	rm -rf "$WORK/state/journal"/* 2>/dev/null
	for v in "$WORK/state/cgns"/*; do [ -d "$v" ] && { umount -l "$v" 2>/dev/null; rmdir "$v"; }; done
done
check "the first container ran through it all" [ "$(crun state "$A" | jq -r .status)" = running ]

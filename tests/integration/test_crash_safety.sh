# Nothing left behind: the agent is killed with SIGKILL at random moments
# while faults of every kind are in force (also several at once); within
# 1 s the guardian must have put every cgroup file, qdisc, link, worker,
# fill, nftables table and proxy back.  Then: agent and guardian killed together + duress recover;
# two agents on one target and resource; a vanished target; a torn journal;
# a second Ctrl-C while reverting.
# timeout: 1500
. "$(dirname "$0")/lib.sh"

STATE=$WORK/state
export DURESS_STATE_DIR=$STATE
RUNS=${DURESS_CRASH_RUNS:-50}

# The target: a cgroup with a process in its own network namespace that
# has a veth pair (so network faults have interfaces to shape).
dir=$(new_cgroup crash)
spawn "$dir" unshare -n sh -c 'ip link set lo up; ip link add v0 type veth peer name v1;
	ip addr add 10.77.0.1/24 dev v0; ip addr add 10.77.0.2/24 dev v1; ip link set v0 up; ip link set v1 up;
	tc qdisc replace dev v0 root fq_codel; echo ready; exec sleep 100000'
wait_ready "$WORK/spawn.$$.out" || fail "target process started" "no ready line"
tpid=$(head -n 1 "$dir/cgroup.procs")
# non-default originals, so "back to the original" is not "back to a default"
echo "900M" > "$dir/memory.max"; echo "800M" > "$dir/memory.high"
echo "300000 100000" > "$dir/cpu.max"; echo 42 > "$dir/cpu.weight"
dev=$(cat /sys/block/vda/dev 2>/dev/null)
[ -n "$dev" ] && echo "$dev riops=5000" > "$dir/io.max"

# few processes: under emulation each one costs tens of milliseconds
snapshot() {
	# every writable interface file of the target (the settings), by content
	find "$dir" -maxdepth 1 -type f -perm -u+w ! -name cgroup.procs ! -name cgroup.threads \
		! -name cgroup.kill ! -name '*.pressure' ! -name memory.reclaim -print0 |
		sort -z | xargs -0 grep -H '' 2>/dev/null | sed "s|^$dir/||"
	echo "children: $(find "$dir" -mindepth 1 -type d | sort | tr '\n' ' ')"
	echo "procs: $(sort "$dir/cgroup.procs" | tr '\n' ' ')"
	echo "states: $(for p in $(cat "$dir/cgroup.procs"); do awk '{print $3}' "/proc/$p/stat"; done | sort | tr '\n' ' ')"
	echo "qdiscs: $(nsenter -t "$tpid" -n tc qdisc show | sed 's/ refcnt [0-9]*//' | sort | tr '\n' '|')"
	echo "links: $(nsenter -t "$tpid" -n ip -o link show | awk '{print $2}' | sort | tr '\n' ' ')"
	echo "host qdiscs: $(tc qdisc show | sed 's/ refcnt [0-9]*//' | sort | tr '\n' '|')"
	echo "host links: $(ip -o link show | awk '{print $2}' | sort | tr '\n' ' ')"
	echo "var/tmp avail MiB: $(( $(stat -f -c '%a * %S' /var/tmp) / 1048576 ))"
	echo "sandboxes: $(ls -d $CG/duress-sandbox-* 2>/dev/null | tr '\n' ' ')"
	echo "agents: $(pgrep -f 'duress (inject|__guardian)' | tr '\n' ' ')"
	echo "proxies: $(proxy_pids | tr '\n' ' ')"
	echo "nft tables: $(nsenter -t "$tpid" -n nft list tables 2>/dev/null | tr '\n' ' ')"
	echo "host nft tables: $(nft list tables 2>/dev/null | tr '\n' ' ')"
	echo "journals: $(ls "$STATE/journal" 2>/dev/null | tr '\n' ' ')"
}
snapshot > "$WORK/before.txt"

# every fault kind, with options that change files, start workers, fill,
# shape; "A + B" runs two agents at once on different resources
configs=(
	"freeze"
	"freeze --cycle 200ms/200ms"
	"memory --max 200M --high 150M --hog 48M"
	"memory --hog 30% --ramp 2s"
	"cpu --workers 1 --load 60 --quota 0.5 --weight 50"
	"cpu --workers 1 --placement beside"
	"io --device $dev --wbps 2M --riops 300 --workers 1 --mode write"
	"disk-fill --path /var/tmp --leave 200M"
	"network --delay 50ms --loss 5"
	"network --delay 20ms --direction both --to 10.77.0.2/32"
	"network --rate 1mbit --device v0"
	"memory --max 300M --hog 32M + cpu --workers 1 --load 40"
	"freeze + network --loss 10"
	"io --device $dev --rbps 4M + disk-fill --path /var/tmp --leave 300M + memory --high 400M"
	"http --port 9999 --direction outbound --abort 503"
	"tcp --port 9998 --direction outbound --to 10.77.0.2 --latency 50ms + network --loss 5"
	"stop --process all"
	"stop --process sleep + cpu --workers 1 --load 40"
	"dns --upstream 10.77.0.2 --error servfail --percent 50"
	"dns --upstream 10.77.0.2 --delay 100ms + network --loss 5"
)

start_agent() { # FAULT ARGS...: in the background, PID appended to agents
	"$DURESS" inject "$@" -t "cgroup:$dir" --for 60s --baseline 0 -q --no-recover \
		> /dev/null 2>> "$WORK/agents.err" &
	agents+=($!)
}

left=0 runs=0 kinds_seen=""
t_start=$(date +%s)
for i in $(seq "$RUNS"); do
	cfg=${configs[$((RANDOM % ${#configs[@]}))]}
	agents=()
	IFS='+' read -ra parts <<< "$cfg"
	for p in "${parts[@]}"; do
		# shellcheck disable=SC2086
		start_agent $p
		kinds_seen="$kinds_seen $(echo $p | cut -d' ' -f1)"
	done
	# a random moment: while starting, applying, or in force
	sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.05 + (r % 250) / 100 }')"
	kill -9 "${agents[@]}" 2>/dev/null
	wait "${agents[@]}" 2>/dev/null
	sleep 1
	snapshot > "$WORK/after.txt"
	runs=$((runs + 1))
	if diff -q "$WORK/before.txt" "$WORK/after.txt" > /dev/null; then
		echo "  run $i ($cfg): clean after 1 s [$(( $(date +%s) - t_start ))s]"
	else
		# allow the guardian a moment more before calling it a leak
		sleep 2
		snapshot > "$WORK/after2.txt"
		if diff "$WORK/before.txt" "$WORK/after2.txt" > "$WORK/diff.txt"; then
			echo "  run $i ($cfg): back only after 3 s:"
			diff "$WORK/before.txt" "$WORK/after.txt" | sed 's/^/      /' | head -8
		else
			echo "  run $i ($cfg): LEFT BEHIND:"
			sed 's/^/      /' "$WORK/diff.txt" | head -12
		fi
		left=$((left + 1))
		# restore the baseline by hand so the next runs stay meaningful
		"$DURESS" recover > /dev/null 2>&1
		pkill -9 -f 'duress (inject|__guardian)' 2>/dev/null
		sleep 1
	fi
done
echo "  $runs kill -9 runs over:$(echo $kinds_seen | tr ' ' '\n' | sort | uniq -c | tr '\n' ' ' | tr -s ' ')"
echo "  runs that left anything behind after 1 s: $left"
check "at least 50 kill -9 runs ($runs)" [ "$runs" -ge 50 ]
check "every fault kind was killed at least once" bash -c "for k in freeze memory cpu io disk-fill network; do echo '$kinds_seen' | grep -qw \"\$k\" || exit 1; done"
check "no run left anything behind 1 s after kill -9 ($left of $runs did)" [ "$left" = 0 ]

# stop: the agent killed while the target's process is in state T; the
# guardian resumes it (SIGCONT) within 1 s
agents=() # (not the last random run's: --while must follow this agent)
start_agent stop --process all
wait_until 10 --while "${agents[0]}" grep -q ' T ' "/proc/$tpid/stat"
check "stop: the target's process in state T under the agent" grep -q ' T ' "/proc/$tpid/stat"
kill -9 "${agents[@]}"; wait "${agents[@]}" 2>/dev/null
sleep 1
check "stop: running again 1 s after kill -9 of the agent" bash -c "! grep -q ' T ' /proc/$tpid/stat"
snapshot > "$WORK/after.txt"
check "stop: everything back after kill -9" diff "$WORK/before.txt" "$WORK/after.txt"

# agent and guardian killed together: duress recover restores everything
agents=()
start_agent memory --max 100M --hog 24M
start_agent network --delay 30ms
sleep 2.5
pkill -9 -f 'duress __guardian'
kill -9 "${agents[@]}"; wait "${agents[@]}" 2>/dev/null
sleep 0.5
check "with the guardian dead, the faults stay (memory.max is 100M)" grep -q '^104857600$' "$dir/memory.max"
"$DURESS" recover --dry-run > "$WORK/dry.txt"
check "recover --dry-run lists the memory.max step" grep -q 'memory.max' "$WORK/dry.txt"
check "recover --dry-run changes nothing" grep -q '^104857600$' "$dir/memory.max"
"$DURESS" recover > "$WORK/rec.txt"
check "recover exits 0" [ $? = 0 ]
snapshot > "$WORK/after.txt"
check "after recover everything is back" diff "$WORK/before.txt" "$WORK/after.txt"
"$DURESS" recover > "$WORK/rec2.txt"
check "a second recover finds nothing" grep -q '0 journal(s)' "$WORK/rec2.txt"

# an agent start recovers leftovers by itself (unless --no-recover)
start_agent freeze
sleep 2; pkill -9 -f 'duress __guardian'; kill -9 "${agents[@]}"; wait "${agents[@]}" 2>/dev/null
check "frozen by the killed pair" grep -q '^1$' "$dir/cgroup.freeze"
"$DURESS" inject cpu -t "cgroup:$dir" --weight 77 --for 1s --baseline 0 -q > /dev/null 2> "$WORK/start.err"
check "the next agent start thawed it" grep -q '^0$' "$dir/cgroup.freeze"
check "and said what it reverted" grep -q 'recovered 1 journal' "$WORK/start.err"

# two agents, same target and resource: the second is refused, the first unaffected
start_agent memory --max 500M
sleep 2
expect_exit "second memory fault on the same target refused (6)" 6 \
	"$DURESS" inject memory -t "cgroup:$dir" --max 400M --for 5s --baseline 0 -q
check "refusal names the holder" grep -q 'already in force' "$WORK/stderr"
check "the first is unaffected (memory.max 500M)" grep -q '^524288000$' "$dir/memory.max"
"$DURESS" inject cpu -t "cgroup:$dir" --weight 60 --for 1s --baseline 0 -q > /dev/null 2>&1
check "a different resource combines (cpu next to memory: exit 0)" [ $? = 0 ]
kill -TERM "${agents[@]}"; wait "${agents[@]}" 2>/dev/null
check "memory.max back after the first agent ends" grep -q '^943718400$' "$dir/memory.max"

# a second Ctrl-C while reverting does not abandon the revert
"$DURESS" inject memory -t "cgroup:$dir" --max 200M --hog 32M --for 60s --baseline 0 -q > /dev/null 2>&1 &
a=$!
sleep 2.5
kill -INT $a; kill -INT $a; kill -INT $a
wait $a; rc=$?
check "SIGINT x3: exit 8 (got $rc)" [ $rc = 8 ]
snapshot > "$WORK/after.txt"
check "SIGINT x3: everything back" diff "$WORK/before.txt" "$WORK/after.txt"

# torn last record: recover reverts every complete record
mkdir -p "$STATE/journal"
j=$STATE/journal/999999.undo
line() { local b="$1"; printf '%08x %s\n' "$(printf '%s' "$b" | gzip -c | tail -c 8 | od -An -tu4 -N4 | tr -d ' ')" "$b"; }
echo 7 > "$dir/cpu.weight"; echo "250M" > "$dir/memory.max"
{
	line "0 BEGIN pid=999999 start=1 cmd=test"
	line "1 ADD 0 cgroup-write cpu $dir cpu.weight 42"
	line "2 ADD 1 cgroup-write memory $dir memory.max 943718400"
	printf '%s' "0badc0de 3 ADD 2 cgroup-write cpu $dir cpu.max 1000%20100000"
} > "$j"
"$DURESS" recover > "$WORK/torn.txt"
check "torn journal: recover exits 0" [ $? = 0 ]
check "torn journal: says the last record was torn" grep -q 'torn' "$WORK/torn.txt"
check "torn journal: complete records reverted (cpu.weight 42)" grep -q '^42$' "$dir/cpu.weight"
check "torn journal: complete records reverted (memory.max)" grep -q '^943718400$' "$dir/memory.max"
check "torn journal: the torn record was not applied (cpu.max)" grep -q '^300000 100000$' "$dir/cpu.max"
check "torn journal removed" [ ! -e "$j" ]

# the target vanishes mid-fault: clean exit, empty journal
vdir=$(new_cgroup vanish)
spawn "$vdir" "$HELPERS/spin"
"$DURESS" inject cpu -t "cgroup:$vdir" --workers 1 --quota 0.5 --for 60s --baseline 0 -q > /dev/null 2> "$WORK/van.err" &
a=$!
# in force first (a slow start must not turn this into "vanished before")
wait_until 60 --while $a grep -qx '50000 100000' "$vdir/cpu.max"
sleep 1
check "the target cgroup could be removed mid-fault" remove_cgroup "$vdir"
wait $a; rc=$?
check "vanished target: exit 0 (got $rc)" [ $rc = 0 ]
check "vanished target: says so" grep -q 'vanished' "$WORK/van.err"
if ! check "vanished target: no error cascade (no failure lines on stderr)" \
	bash -c "! grep -iE 'cannot|failed|error|NOT REVERTED|No such' '$WORK/van.err'"; then
	sed 's/^/      /' "$WORK/van.err"
fi
check "vanished target: journal folder empty" bash -c "[ -z \"\$(ls '$STATE/journal')\" ]"

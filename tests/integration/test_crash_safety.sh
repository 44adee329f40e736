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

# The snapshot runs after every kill: under emulation each process it
# starts costs tens of milliseconds (hundreds on a loaded host: loading a
# binary and its libraries over the VM's 9p root), so it starts seven
# (tc, nft and stat here, nsenter, sh, tc and nft in the target's
# network namespace) and reads everything else with bash builtins: the
# cgroup files, /proc/*/net/dev for the links, /proc/PID/stat, the
# command lines and names of all processes (no pgrep, no ps).  One line
# per item, each line naming what it shows.
shopt -s nullglob globstar extglob
# the writable interface files of the target (the settings); the names of
# all its files are in the snapshot too, so a file that comes or goes shows
mapfile -t wfiles < <(find "$dir" -maxdepth 1 -type f -perm -u+w ! -name cgroup.procs ! -name cgroup.threads \
	! -name cgroup.kill ! -name '*.pressure' ! -name memory.reclaim -printf '%f\n' | sort)
# sleep without starting a process: a read that times out on a FIFO that
# this shell holds open for writing too (so it never sees the end)
mkfifo "$WORK/nap"
exec {nap}<> "$WORK/nap"
nap() { read -r -t "$1" -u "$nap" _; }
# now_ms: the milliseconds of the clock in $now (no $(...): each is a fork)
now_ms() { now=$(( ${EPOCHREALTIME/./} / 1000 )); }
# poll SECONDS PID COMMAND...: wait_until (lib.sh) without a sleep process
# per try: COMMAND every 50 ms until it succeeds, 1 after SECONDS or once
# PID is gone (after one last try)
poll() {
	local end=$((SECONDS + $1)) pid=$2
	shift 2
	until "$@" > /dev/null 2>&1; do
		if ! kill -0 "$pid" 2> /dev/null; then
			"$@" > /dev/null 2>&1
			return
		fi
		[ $SECONDS -ge $end ] && return 1
		nap 0.05
	done
	return 0 # (an until loop's status is its body's last: nap's timeout)
}
# is FILE VALUE: the file's first line is VALUE (read without grep)
is() {
	local v=
	read -r v 2> /dev/null < "$1"
	[ "$v" = "$2" ]
}
# stopped PID: the process is in state T
stopped() {
	local s=
	read -r s 2> /dev/null < "/proc/$1/stat"
	s=${s##*) }
	[ "${s%% *}" = T ]
}
# section NAME: the seconds since the target was set up, in the log
now_ms; t_test=$now
section() { now_ms; echo "  [$(( (now - t_test) / 1000 )) s] $1"; }
# sorted LINES...: the lines sorted (insertion sort: a few dozen at most)
sorted() {
	local -a a=() ; local l i
	for l in "$@"; do
		i=${#a[@]}
		while [ "$i" -gt 0 ] && [[ ${a[i - 1]} > $l ]]; do a[i]=${a[i - 1]}; i=$((i - 1)); done
		a[i]=$l
	done
	[ ${#a[@]} = 0 ] || printf '%s\n' "${a[@]}"
}
# net_dev FILE: in $devs, the interface names in a /proc/PID/net/dev
net_dev() {
	local l n=0 names=()
	while IFS= read -r l; do
		n=$((n + 1)); [ $n -le 2 ] && continue
		l=${l%%:*}; names+=("${l##+( )}")
	done < "$1"
	devs="${names[*]}"
}
snapshot() {
	local f c p l sec st a b
	local -a pids=() hq=() nq=() names=() av=()
	for f in "${wfiles[@]}"; do
		c=
		IFS= read -r -d '' c 2> /dev/null < "$dir/$f"
		c=${c%$'\n'}
		echo "file $f: ${c//$'\n'/ | }"
	done
	names=("$dir"/*)
	echo "file names: ${names[*]##*/}"
	names=("$dir"/**/)
	echo "children: ${names[*]#"$dir"}"
	while IFS= read -r p; do pids[p]=1; done < "$dir/cgroup.procs"
	for p in "${!pids[@]}"; do
		st=
		IFS= read -r st < "/proc/$p/stat"
		st=${st##*) }
		echo "proc $p state ${st%% *}"
	done
	net_dev "/proc/$tpid/net/dev"
	echo "links: $devs"
	net_dev /proc/self/net/dev
	echo "host links: $devs"
	names=("$CG"/duress-sandbox-*)
	echo "sandboxes: ${names[*]}"
	names=("$STATE"/journal/*)
	echo "journals: ${names[*]##*/}"
	{
		echo "@host-qdisc"; tc qdisc show
		echo "@host-nft"; nft list tables 2> /dev/null
		echo "@var-tmp"; stat -f -c '%a %S' /var/tmp
		nsenter -t "$tpid" -n sh -c 'echo @qdisc; tc qdisc show; echo @nft; exec nft list tables 2> /dev/null'
	} > "$WORK/snap.raw"
	while IFS= read -r l; do
		case $l in
		@*) sec=${l#@}; continue ;;
		esac
		case $sec in
		host-qdisc) hq+=("${l/ refcnt +([0-9])/}") ;;
		qdisc) nq+=("${l/ refcnt +([0-9])/}") ;;
		host-nft) echo "host nft: $l" ;;
		nft) echo "nft: $l" ;;
		var-tmp) read -r a b <<< "$l"; echo "var/tmp avail MiB: $((a * b / 1048576))" ;;
		esac
	done < "$WORK/snap.raw"
	# leftover agents, their workers and guardians (what pgrep -f
	# 'duress (inject|__guardian)' finds), the fault helpers (proxies) not
	# yet ended (lib.sh)
	for p in /proc/[0-9]*; do
		av=() c=
		mapfile -d '' -n 2 -t av 2> /dev/null < "$p/cmdline"
		[[ ${av[0]-} == *duress && ${av[1]-} =~ ^(inject|__guardian)$ ]] && echo "agent: ${p#/proc/} ${av[*]}"
		IFS= read -r c 2> /dev/null < "$p/comm"
		case $c in
		duress-http | duress-tcp | duress-dns | duress-postgres | duress-mysql | duress-conns)
			ended "${p#/proc/}" || echo "proxy: ${p#/proc/} $c" ;;
		esac
	done
	sorted "${hq[@]/#/host qdisc: }"
	sorted "${nq[@]/#/qdisc: }"
}
# same FILE FILE: the two snapshots are equal (without starting cmp)
same() {
	local a="" b=""
	IFS= read -r -d '' a < "$1"; IFS= read -r -d '' b < "$2"
	[ "$a" = "$b" ]
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

# clean_within_1s: after a kill, is everything back (the snapshot equal to
# the one before) within 1 s?  Polls without starting processes until the
# journals are gone (each guardian removes its journal as its last step),
# then takes snapshots until one is equal or one that started after the
# second is not (so the last starts at most one snapshot's time after the
# second; the single snapshot this test took before started at the second
# and read its last lines seconds later under emulation).  Once no agent,
# guardian, worker or helper is left, which the snapshot shows, nothing
# changes the target any more.  $back_ms: when it was back (or the last
# snapshot's start); $snaps: how many snapshots it took; what the first
# of several still showed is in $WORK/first.diff.
clean_within_1s() {
	local t0 jl
	now_ms; t0=$now snaps=0
	while :; do
		jl=("$STATE"/journal/*)
		[ ${#jl[@]} = 0 ] && break
		now_ms; [ $((now - t0)) -ge 1000 ] && break
		nap 0.02
	done
	while :; do
		now_ms; back_ms=$((now - t0))
		snapshot > "$WORK/after.txt"
		snaps=$((snaps + 1))
		same "$WORK/before.txt" "$WORK/after.txt" && return 0
		[ $snaps = 1 ] && diff "$WORK/before.txt" "$WORK/after.txt" > "$WORK/first.diff"
		[ "$back_ms" -ge 1000 ] && return 1
		nap 0.05
	done
}

# Each run's timings are printed (not a bound: to see where its time
# goes), their means at the end.  The configurations are taken in a
# shuffled order, round and round: 50 runs try each of 20 at least twice.
mapfile -t order < <(seq 0 $((${#configs[@]} - 1)))
for ((n = ${#order[@]} - 1; n > 0; n--)); do
	r=$((RANDOM % (n + 1))); x=${order[n]}; order[n]=${order[r]}; order[r]=$x
done
left=0 runs=0 kinds_seen=""
now_ms; t_start=$now
tsum_start=0 tsum_wait=0 tsum_back=0 tsum_snap=0 nsnaps=0
for i in $(seq "$RUNS"); do
	cfg=${configs[${order[(i - 1) % ${#order[@]}]}]}
	agents=()
	IFS='+' read -ra parts <<< "$cfg"
	now_ms; t0=$now
	for p in "${parts[@]}"; do
		# shellcheck disable=SC2086
		start_agent $p
		read -r k _ <<< "$p"
		kinds_seen="$kinds_seen $k"
	done
	now_ms; t1=$now
	# a random moment: while starting, applying, or in force (0.05 to 2.54 s)
	r=$((5 + RANDOM % 250))
	nap "$((r / 100)).$((r / 10 % 10))$((r % 10))"
	kill -9 "${agents[@]}" 2>/dev/null
	wait "${agents[@]}" 2>/dev/null
	now_ms; t2=$now
	clean_within_1s; ok=$?
	now_ms; t3=$now
	runs=$((runs + 1))
	tsum_start=$((tsum_start + t1 - t0)) tsum_wait=$((tsum_wait + t2 - t1)) tsum_back=$((tsum_back + back_ms))
	tsum_snap=$((tsum_snap + t3 - t2 - back_ms)) nsnaps=$((nsnaps + snaps))
	if [ $ok = 0 ]; then
		echo "  run $i ($cfg): clean after $back_ms ms (agents started in $((t1 - t0)) ms, killed" \
			"$((t2 - t1)) ms later, $snaps snapshot(s) in $((t3 - t2 - back_ms)) ms) [$(( (t3 - t_start) / 1000 ))s]"
		# not yet back at the first snapshot: what it showed
		[ "$snaps" -gt 1 ] && grep '^[<>]' "$WORK/first.diff" | head -6 | sed 's/^/      first snapshot: /'
	else
		# allow the guardian a moment more before calling it a leak
		nap 2
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
echo "  timings (ms, mean of $runs runs): starting the agents $((tsum_start / runs)), to the kill $((tsum_wait / runs))," \
	"kill to back $((tsum_back / runs)), the snapshots $((tsum_snap / runs)) ($nsnaps in all); the whole loop $(( (t3 - t_start) / 1000 )) s"
echo "  $runs kill -9 runs over:$(echo $kinds_seen | tr ' ' '\n' | sort | uniq -c | tr '\n' ' ' | tr -s ' ')"
echo "  runs that left anything behind after 1 s: $left"
check "at least 50 kill -9 runs ($runs)" [ "$runs" -ge 50 ]
all_kinds=$(for c in "${configs[@]}"; do IFS='+' read -ra parts <<< "$c"; for p in "${parts[@]}"; do read -r k _ <<< "$p"; echo "$k"; done; done | sort -u)
check "every fault kind was killed at least once ($(echo $all_kinds))" bash -c "for k in $(echo $all_kinds); do echo '$kinds_seen' | grep -qw \"\$k\" || exit 1; done"
check "no run left anything behind 1 s after kill -9 ($left of $runs did)" [ "$left" = 0 ]

# stop: the agent killed while the target's process is in state T; the
# guardian resumes it (SIGCONT) within 1 s
section "stop: kill -9 while the target is stopped"
agents=() # (not the last random run's: --while must follow this agent)
start_agent stop --process all
poll 10 "${agents[0]}" stopped "$tpid"
check "stop: the target's process in state T under the agent" stopped "$tpid"
kill -9 "${agents[@]}"; wait "${agents[@]}" 2>/dev/null
clean_within_1s
running_again() { ! stopped "$tpid"; }
check "stop: running again after kill -9 of the agent" running_again
check "stop: everything back within 1 s of kill -9 (at $back_ms ms)" diff "$WORK/before.txt" "$WORK/after.txt"

# agent and guardian killed together: duress recover restores everything
section "agent and guardian killed together"
agents=()
start_agent memory --max 100M --hog 24M
start_agent network --delay 30ms
# both in force (the hog in its child cgroup, netem in the namespace)
in_force() {
	is "$dir/memory.max" 104857600 && compgen -G "$dir/duress-memory-*" &&
		nsenter -t "$tpid" -n tc qdisc show | grep -q netem
}
check "memory and network faults in force" poll 60 "${agents[1]}" in_force
pkill -9 -f 'duress __guardian'
kill -9 "${agents[@]}"; wait "${agents[@]}" 2>/dev/null
no_guardian() { ! pgrep -f 'duress __guardian'; }
check "the guardians are gone" wait_until 10 no_guardian
check "with the guardian dead, the faults stay (memory.max is 100M)" is "$dir/memory.max" 104857600
"$DURESS" recover --dry-run > "$WORK/dry.txt"
check "recover --dry-run lists the memory.max step" grep -q 'memory.max' "$WORK/dry.txt"
check "recover --dry-run changes nothing" is "$dir/memory.max" 104857600
"$DURESS" recover > "$WORK/rec.txt"
check "recover exits 0" [ $? = 0 ]
snapshot > "$WORK/after.txt"
check "after recover everything is back" diff "$WORK/before.txt" "$WORK/after.txt"
"$DURESS" recover > "$WORK/rec2.txt"
check "a second recover finds nothing" grep -q '0 journal(s)' "$WORK/rec2.txt"

# an agent start recovers leftovers by itself (unless --no-recover)
section "an agent start recovers"
agents=()
start_agent freeze
poll 60 "${agents[0]}" is "$dir/cgroup.freeze" 1
pkill -9 -f 'duress __guardian'; kill -9 "${agents[@]}"; wait "${agents[@]}" 2>/dev/null
check "frozen by the killed pair" is "$dir/cgroup.freeze" 1
"$DURESS" inject cpu -t "cgroup:$dir" --weight 77 --for 1s --baseline 0 -q > /dev/null 2> "$WORK/start.err"
check "the next agent start thawed it" is "$dir/cgroup.freeze" 0
check "and said what it reverted" grep -q 'recovered 1 journal' "$WORK/start.err"

# two agents, same target and resource: the second is refused, the first unaffected
section "two agents"
agents=()
start_agent memory --max 500M
poll 60 "${agents[0]}" is "$dir/memory.max" 524288000
expect_exit "second memory fault on the same target refused (6)" 6 \
	"$DURESS" inject memory -t "cgroup:$dir" --max 400M --for 5s --baseline 0 -q
check "refusal names the holder" grep -q 'already in force' "$WORK/stderr"
check "the first is unaffected (memory.max 500M)" is "$dir/memory.max" 524288000
"$DURESS" inject cpu -t "cgroup:$dir" --weight 60 --for 1s --baseline 0 -q > /dev/null 2>&1
check "a different resource combines (cpu next to memory: exit 0)" [ $? = 0 ]
kill -TERM "${agents[@]}"; wait "${agents[@]}" 2>/dev/null
check "memory.max back after the first agent ends" is "$dir/memory.max" 943718400

# a second Ctrl-C while reverting does not abandon the revert
section "a second Ctrl-C"
"$DURESS" inject memory -t "cgroup:$dir" --max 200M --hog 32M --for 60s --baseline 0 -q > /dev/null 2>&1 &
a=$!
# in force, the hog too (its revert is the slow part)
hog_in_force() {
	local h
	is "$dir/memory.max" 209715200 || return 1
	for h in "$dir"/duress-memory-*/cgroup.procs; do
		read -r _ < "$h" && return 0
	done
	return 1
}
check "SIGINT x3: the fault in force first" poll 60 $a hog_in_force
kill -INT $a; kill -INT $a; kill -INT $a
wait $a; rc=$?
check "SIGINT x3: exit 8 (got $rc)" [ $rc = 8 ]
snapshot > "$WORK/after.txt"
check "SIGINT x3: everything back" diff "$WORK/before.txt" "$WORK/after.txt"

# torn last record: recover reverts every complete record
section "a torn journal"
mkdir -p "$STATE/journal"
j=$STATE/journal/999999.undo
# crc32 STRING: in $crc, the CRC-32 (zlib's, as the journal's) of the string
crc32() {
	local s=$1 i k b
	crc=$((0xFFFFFFFF))
	for ((i = 0; i < ${#s}; i++)); do
		printf -v b '%d' "'${s:i:1}"
		crc=$((crc ^ b))
		for ((k = 0; k < 8; k++)); do crc=$(((crc >> 1) ^ (0xEDB88320 & -(crc & 1)))); done
	done
	crc=$((crc ^ 0xFFFFFFFF))
}
line() { crc32 "$1"; printf '%08x %s\n' "$crc" "$1"; }
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
check "torn journal: complete records reverted (cpu.weight 42)" is "$dir/cpu.weight" 42
check "torn journal: complete records reverted (memory.max)" is "$dir/memory.max" 943718400
check "torn journal: the torn record was not applied (cpu.max)" is "$dir/cpu.max" "300000 100000"
check "torn journal removed" [ ! -e "$j" ]

# the target vanishes mid-fault: clean exit, empty journal
section "a vanished target"
vdir=$(new_cgroup vanish)
spawn "$vdir" "$HELPERS/spin"
"$DURESS" inject cpu -t "cgroup:$vdir" --workers 1 --quota 0.5 --for 60s --baseline 0 -q > /dev/null 2> "$WORK/van.err" &
a=$!
# in force first (a slow start must not turn this into "vanished before")
poll 60 $a is "$vdir/cpu.max" "50000 100000"
nap 1
section "a vanished target: in force"
check "the target cgroup could be removed mid-fault" remove_cgroup "$vdir"
section "a vanished target: removed"
wait $a; rc=$?
section "a vanished target: the agent ended"
check "vanished target: exit 0 (got $rc)" [ $rc = 0 ]
check "vanished target: says so" grep -q 'vanished' "$WORK/van.err"
if ! check "vanished target: no error cascade (no failure lines on stderr)" \
	bash -c "! grep -iE 'cannot|failed|error|NOT REVERTED|No such' '$WORK/van.err'"; then
	sed 's/^/      /' "$WORK/van.err"
fi
check "vanished target: journal folder empty" bash -c "[ -z \"\$(ls '$STATE/journal')\" ]"

# the target removed here, with bash builtins (lib.sh's EXIT trap, which
# would otherwise, polls with a grep and a sleep process per try), timed
section "end of the checks: removing the target"
unpopulated() {
	local k v
	while read -r k v; do
		[ "$k" = populated ] && { [ "$v" = 0 ]; return; }
	done < "$1/cgroup.events"
	return 1
}
echo 1 > "$dir/cgroup.kill"
poll 20 $$ unpopulated "$dir" && rmdir "$dir"
section "the target removed"

# The cpu fault: workers at a duty cycle inside the target, a noisy
# neighbour beside it, cpu.max and cpu.weight lowered; every touched file
# back to its original (non-default) value and no worker or cgroup left.
. "$(dirname "$0")/lib.sh"

ORIG_MAX="300000 100000"
ORIG_WEIGHT=42

# target NAME: a cgroup with non-default cpu.max and cpu.weight and an
# idle process (so the workers' cgroup sits beside a process of its own)
target() {
	local d
	d=$(new_cgroup "$1") || return 1
	echo "$ORIG_MAX" > "$d/cpu.max"
	echo "$ORIG_WEIGHT" > "$d/cpu.weight"
	echo "$d"
}

# during_avg FILE: mean cpu.usage_pct of the samples taken while the fault
# was in force, without the first two (the first spans the apply)
during_avg() {
	jq -s '[.[] | select(.phase == "during") | .cpu.usage_pct] | .[2:] | add / length * 100 | round / 100' "$1"
}

restored() {
	local d=$1 what=$2
	check "$what: cpu.max back to '$ORIG_MAX' (is '$(cat "$d/cpu.max")')" [ "$(cat "$d/cpu.max")" = "$ORIG_MAX" ]
	check "$what: cpu.weight back to $ORIG_WEIGHT (is $(cat "$d/cpu.weight"))" [ "$(cat "$d/cpu.weight")" = "$ORIG_WEIGHT" ]
}

no_leftovers() {
	local what=$1 left procs
	left=$(find $CG -maxdepth 3 -type d -name 'duress-cpu-*' 2>/dev/null | tr '\n' ' ')
	check "$what: no workers cgroup left ($left)" [ -z "$left" ]
	procs=$(pgrep -x duress-cpu | tr '\n' ' ')
	check "$what: no worker process left ($procs)" [ -z "$procs" ]
}

# wait_for GLOB: up to 20 s for a path to appear; prints it
exists() { local p; for p in $1; do [ -e "$p" ] && return 0; done; return 1; }
wait_for() {
	local p
	wait_until 20 exists "$1" || return 1
	for p in $1; do [ -e "$p" ] && { echo "$p"; return 0; }; done
}

# ---- --load 50 with one worker, inside an idle target ----
dir=$(target load)
spawn "$dir" sleep 1000
"$DURESS" inject cpu -t "cgroup:$dir" --for 8s --baseline 1s --workers 1 --load 50 -q \
	--samples "$WORK/load.jsonl" --summary "$WORK/load.json" > "$WORK/load.out" 2>&1 &
agent=$!
wdir=$(wait_for "$dir/duress-cpu-*")
check "load: workers cgroup made inside the target" [ -n "$wdir" ]
sleep 1
wpids=$(cat "$wdir/cgroup.procs" 2>/dev/null | tr '\n' ' ')
check "load: one worker process in it ($wpids)" [ "$(echo $wpids | wc -w)" = 1 ]
check "load: the worker is named duress-cpu" [ "$(cat /proc/${wpids%% *}/comm 2>/dev/null)" = duress-cpu ]
check "load: the target's own process stays where it was" grep -qx "$SPAWNED" "$dir/cgroup.procs"
wait $agent
rc=$?
check "load: exit 0 (got $rc; $(tail -n 3 "$WORK/load.out" | tr '\n' ' '))" [ $rc = 0 ]
avg=$(during_avg "$WORK/load.jsonl")
echo "  --load 50, 1 worker: ${avg}% of one CPU"
check "load: --load 50 with 1 worker reads 40-60% of one CPU (got $avg)" in_range "$avg" 40 60
check "load: summary reports 1 worker at 50%" jq -e '.fault_report.cpu_workers == 1 and .fault_report.cpu_worker_load_pct == 50' "$WORK/load.json"
restored "$dir" load
no_leftovers load

# ---- --quota 0.2 holds a spinning target at 15-25% ----
dir=$(target quota)
spawn "$dir" "$HELPERS/spin"
wait_ready "$WORK/spawn.$$.out" || fail "quota: spin helper started" "no ready line"
"$DURESS" inject cpu -t "cgroup:$dir" --for 8s --baseline 2s --quota 0.2 -q \
	--samples "$WORK/quota.jsonl" > "$WORK/quota.out" 2>&1 &
agent=$!
sleep 6
now=$(cat "$dir/cpu.max")
check "quota: cpu.max is '20000 100000' while in force (is '$now')" [ "$now" = "20000 100000" ]
check "quota: no workers for --quota alone" bash -c "! ls -d $dir/duress-cpu-* 2>/dev/null"
wait $agent
rc=$?
check "quota: exit 0 (got $rc; $(tail -n 3 "$WORK/quota.out" | tr '\n' ' '))" [ $rc = 0 ]
before=$(jq -s '[.[] | select(.phase == "before") | .cpu.usage_pct // empty] | add / length | round' "$WORK/quota.jsonl")
avg=$(during_avg "$WORK/quota.jsonl")
echo "  spinning target: ${before}% before, ${avg}% under --quota 0.2"
check "quota: the target spun at >= 60% before (got $before)" in_range "$before" 60 1000
check "quota: --quota 0.2 holds it at 15-25% (got $avg)" in_range "$avg" 15 25
check "quota: throttling counted while in force" jq -e -s '[.[] | select(.phase == "during")] | .[-1].cpu.nr_throttled > .[0].cpu.nr_throttled' "$WORK/quota.jsonl"
restored "$dir" quota
no_leftovers quota

# ---- --quota and --weight with workers inside: they eat the target's quota ----
dir=$(target weight)
spawn "$dir" sleep 1000
"$DURESS" inject cpu -t "cgroup:$dir" --for 7s --baseline 1s --quota 0.5 --weight 500 --workers 2 -q \
	--samples "$WORK/weight.jsonl" > "$WORK/weight.out" 2>&1 &
agent=$!
wait_for "$dir/duress-cpu-*" > /dev/null
sleep 2
check "weight: cpu.weight is 500 while in force (is $(cat "$dir/cpu.weight"))" [ "$(cat "$dir/cpu.weight")" = 500 ]
check "weight: cpu.max is '50000 100000' while in force" [ "$(cat "$dir/cpu.max")" = "50000 100000" ]
wait $agent
rc=$?
check "weight: exit 0 (got $rc; $(tail -n 3 "$WORK/weight.out" | tr '\n' ' '))" [ $rc = 0 ]
avg=$(during_avg "$WORK/weight.jsonl")
echo "  2 workers at 100% under --quota 0.5: ${avg}%"
# the quota is the ceiling; the floor is loose because a VM on a busy host
# may get less than half a CPU's worth now and then
check "weight: 2 workers under --quota 0.5 read 25-55% (got $avg)" in_range "$avg" 25 55
restored "$dir" weight
no_leftovers weight

# ---- beside: a noisy neighbour on the target's CPUs, not in its cpu.stat ----
dir=$(target beside)
spawn "$dir" sleep 1000
echo 1 > "$dir/cpuset.cpus"
"$DURESS" inject cpu -t "cgroup:$dir" --for 12s --baseline 1s --placement beside -q \
	--samples "$WORK/beside.jsonl" --summary "$WORK/beside.json" > "$WORK/beside.out" 2>&1 &
agent=$!
ndir=$(wait_for "$CG/duress-cpu-$agent")
check "beside: neighbour cgroup made under the target's parent ($ndir)" [ "$ndir" = "$CG/duress-cpu-$agent" ]
check "beside: nothing made inside the target" bash -c "! ls -d $dir/duress-cpu-* 2>/dev/null"
u0=$(awk '/^usage_usec/ {print $2}' "$ndir/cpu.stat")
sleep 2
u1=$(awk '/^usage_usec/ {print $2}' "$ndir/cpu.stat")
npids=$(cat "$ndir/cgroup.procs" 2>/dev/null | tr '\n' ' ')
check "beside: one worker by default, the target's cpuset has 1 CPU ($npids)" [ "$(echo $npids | wc -w)" = 1 ]
aff=$(taskset -pc "${npids%% *}" 2>/dev/null | sed 's/.*: //')
check "beside: the worker is pinned to the target's CPU 1 (affinity '$aff')" [ "$aff" = 1 ]
burned=$(( (${u1:-0} - ${u0:-0}) / 1000 ))
echo "  neighbour burned $burned ms of CPU in 2 s"
check "beside: the neighbour burns (>= 0.8 s of CPU in 2 s, got $burned ms)" test -n "$u0" -a -n "$u1" -a "$burned" -ge 800
wait $agent
rc=$?
check "beside: exit 0 (got $rc; $(tail -n 3 "$WORK/beside.out" | tr '\n' ' '))" [ $rc = 0 ]
avg=$(during_avg "$WORK/beside.jsonl")
echo "  idle target beside the neighbour: ${avg}% of one CPU"
check "beside: the target's own usage stays near 0 (< 3%, got $avg)" in_range "$avg" 0 3
check "beside: summary says beside, CPUs 1" jq -e '.fault_report.cpu_placement == "beside" and .fault_report.cpu_worker_cpus == "1"' "$WORK/beside.json"
check "beside: the target's cpuset.cpus untouched" [ "$(cat "$dir/cpuset.cpus")" = 1 ]
restored "$dir" beside
no_leftovers beside

# ---- default: workers at 100% on every CPU the target may use ----
dir=$(target default)
spawn "$dir" sleep 1000
echo "max 100000" > "$dir/cpu.max"
"$DURESS" inject cpu -t "cgroup:$dir" --for 6s --baseline 1s -q \
	--samples "$WORK/default.jsonl" --summary "$WORK/default.json" > "$WORK/default.out" 2>&1
rc=$?
check "default: exit 0 (got $rc)" [ $rc = 0 ]
ncpu=$(awk -F- '{ print ($2 == "" ? 1 : $2 - $1 + 1) }' "$dir/cpuset.cpus.effective")
check "default: one worker per CPU of the target ($ncpu)" jq -e ".fault_report.cpu_workers == $ncpu and .fault_report.cpu_worker_load_pct == 100" "$WORK/default.json"
avg=$(during_avg "$WORK/default.jsonl")
echo "  default on $ncpu CPUs: ${avg}% of one CPU"
# the host may lend the VM less than all of its CPUs: at least one CPU's worth
check "default: the target burns 80-$((ncpu * 100 + 15))% of one CPU (got $avg)" in_range "$avg" 80 $((ncpu * 100 + 15))
check "default: cpu.max untouched" [ "$(cat "$dir/cpu.max")" = "max 100000" ]
no_leftovers default

# ---- a killed worker is restarted; SIGTERM reverts everything ----
dir=$(target term)
spawn "$dir" sleep 1000
"$DURESS" inject cpu -t "cgroup:$dir" --for 60s --baseline 0 --quota 0.5 --weight 500 --workers 2 --load 30 -q \
	--summary "$WORK/term.json" > "$WORK/term.out" 2>&1 &
agent=$!
wdir=$(wait_for "$dir/duress-cpu-*")
sleep 1
victim=$(head -n 1 "$wdir/cgroup.procs")
kill -9 "$victim"
for _ in $(seq 50); do [ "$(wc -l < "$wdir/cgroup.procs")" = 2 ] && ! grep -qx "$victim" "$wdir/cgroup.procs" && break; sleep 0.1; done
check "term: the killed worker was replaced ($(cat "$wdir/cgroup.procs" | tr '\n' ' '))" \
	bash -c "[ \$(wc -l < '$wdir/cgroup.procs') = 2 ] && ! grep -qx '$victim' '$wdir/cgroup.procs'"
kill -TERM $agent
wait $agent
rc=$?
check "term: SIGTERM exits 8 (interrupted, reverted; got $rc)" [ $rc = 8 ]
check "term: summary counts the restart" jq -e '.fault_report.cpu_worker_restarts >= 1' "$WORK/term.json"
restored "$dir" term
no_leftovers term

# ---- bad options: usage error naming the option, nothing changed ----
dir=$(target bad)
for bad in "--workers 0" "--load 120" "--quota -1" "--quota 0" "--weight 0" "--weight 10001" "--placement nearby" "--load 0"; do
	opt=${bad%% *}
	# shellcheck disable=SC2086
	expect_exit "bad: $bad -> 2" 2 "$DURESS" inject cpu -t "cgroup:$dir" --for 5s $bad
	check "bad: $bad: message names $opt" grep -q -- "$opt" "$WORK/stderr"
done
expect_exit "bad: missing --for -> 2" 2 "$DURESS" inject cpu -t "cgroup:$dir" --load 50
check "bad: message names --for" grep -q -- "--for" "$WORK/stderr"
restored "$dir" bad
no_leftovers bad

# ---- --dry-run: the plan, and nothing touched ----
expect_exit "dry-run: exit 0" 0 "$DURESS" inject cpu -t "cgroup:$dir" --for 5s --quota 0.2 --weight 7 --workers 2 --load 40 --dry-run
check "dry-run: plans cpu.max '20000 100000' (now '$ORIG_MAX')" grep -q "write '20000 100000' to $dir/cpu.max (now '$ORIG_MAX')" "$WORK/stdout"
check "dry-run: plans cpu.weight 7 (now $ORIG_WEIGHT)" grep -q "write '7' to $dir/cpu.weight (now '$ORIG_WEIGHT')" "$WORK/stdout"
check "dry-run: plans 2 workers at 40%" grep -q "start 2 worker processes 'duress-cpu' busy 40% of one CPU" "$WORK/stdout"
restored "$dir" dry-run
no_leftovers dry-run

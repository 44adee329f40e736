# The memory fault on a real kernel: memory.max enforced (OOM kill counted,
# the hog killed rather than the workload), memory.high throttles without a
# kill, --hog PCT of the target's limit resides, --ramp grows, swap.max, bad
# options and --dry-run change nothing, SIGTERM reverts.  Every touched file
# must come back to its ORIGINAL (non-default) value, and no hog process or
# workers cgroup may be left.
. "$(dirname "$0")/lib.sh"

MiB=1048576
COMMON=(--interval 500ms --baseline 500ms -q)

# snapshot DIR: the files the fault may touch, and the cgroups below DIR
snapshot() {
	local f
	for f in memory.max memory.high memory.swap.max; do
		echo "$f=$(cat "$1/$f" 2>/dev/null)"
	done
	(cd "$1" && find . -mindepth 1 -type d | sort)
}

# no_leftovers DESC DIR: no hog process anywhere, no workers cgroup in DIR
no_leftovers() {
	local hogs dirs
	hogs=$(pgrep -x duress-memhog | tr '\n' ' ')
	dirs=$(find "$2" -mindepth 1 -maxdepth 1 -type d -name 'duress-memory-*' | tr '\n' ' ')
	check "$1: no hog process left (${hogs:-none})" [ -z "$hogs" ]
	check "$1: no workers cgroup left (${dirs:-none})" [ -z "$dirs" ]
}

# during JSONL EXPR: jq over the samples taken while the fault was in force
during() { jq -s "[.[] | select(.phase == \"during\")] | $2" "$1"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

# ---- memory.max 64M on a target holding 200 MiB: OOM kill, limit restored
dir=$(new_cgroup memmax)
echo 943718400 > "$dir/memory.max" # a non-default original: 900M
spawn "$dir" "$HELPERS/memhold" 200
holder=$SPAWNED
wait_ready "$WORK/spawn.$$.out" || fail "memhold 200 MiB started" "no ready line"
before=$(snapshot "$dir")
expect_exit "--max 64M on a 200 MiB holder: exit 0" 0 \
	"$DURESS" inject memory -t "cgroup:$dir" --for 3s --max 64M "${COMMON[@]}" \
	--samples "$WORK/max.jsonl" --summary "$WORK/max.json"
check "warning at plan time: --max below current usage" grep -q "below what .* uses now" "$WORK/stderr"
check "memory.max was 64M while in force" \
	jq -e -s '[.[] | select(.phase == "during") | .memory.max] | length > 0 and all(. == 67108864)' "$WORK/max.jsonl"
kills=$(jq '.during.memory.events.oom_kill' "$WORK/max.json")
check "OOM kill counted in the summary (oom_kill $kills)" [ "${kills:-0}" -ge 1 ]
check "oom_kill rises in the samples" \
	jq -e -s '([.[] | select(.phase == "during") | .memory.events.oom_kill] | max) > ([.[] | select(.phase == "before") | .memory.events.oom_kill] | max)' "$WORK/max.jsonl"
check "the 200 MiB holder was OOM-killed" bash -c "! kill -0 $holder 2>/dev/null"
check "memory.max back to its original 943718400 (got $(cat "$dir/memory.max"))" \
	[ "$(cat "$dir/memory.max")" = 943718400 ]
check "every touched file back, nothing added" [ "$(snapshot "$dir")" = "$before" ]
no_leftovers "--max" "$dir"

# ---- memory.max 64M with a 200 MiB hog: the hog dies and restarts, the workload lives
dir=$(new_cgroup memhog)
echo 943718400 > "$dir/memory.max"
echo 734003200 > "$dir/memory.high" # 700M
spawn "$dir" sleep 300
workload=$SPAWNED
before=$(snapshot "$dir")
expect_exit "--max 64M --hog 200M: exit 0" 0 \
	"$DURESS" inject memory -t "cgroup:$dir" --for 5s --max 64M --hog 200M "${COMMON[@]}" \
	--samples "$WORK/hog.jsonl" --summary "$WORK/hog.json"
hk=$(jq '.fault_report.hog_kills' "$WORK/hog.json")
hr=$(jq '.fault_report.hog_restarts' "$WORK/hog.json")
# OOM kills from before the fault to after the revert: the last hog kill may
# come after the last "during" sample
ok=$(jq -s '([.[] | select(.phase == "after")][-1].memory.events.oom_kill) - ([.[] | select(.phase == "before")][-1].memory.events.oom_kill)' "$WORK/hog.jsonl")
peak=$(jq '.fault_report.hog_resident_peak_bytes' "$WORK/hog.json")
echo "  hog kills $hk, restarts $hr, target oom_kill $ok, hog peak $(mib "$peak") MiB"
check "hog killed and restarted (kills $hk >= 2, restarts $hr >= 1)" \
	bash -c "[ ${hk:-0} -ge 2 ] && [ ${hr:-0} -ge 1 ]"
check "target counts the OOM kills (oom_kill $ok >= hog kills $hk)" [ "${ok:-0}" -ge "${hk:-1}" ]
check "hog resident peak under the 64 MiB cap and above 16 MiB ($(mib "$peak") MiB)" \
	in_range "$peak" $((16 * MiB)) $((64 * MiB))
check "the OOM killer took the hog, not the workload (oom_score_adj 1000)" kill -0 "$workload"
check "memory.max and memory.high back to their originals" \
	[ "$(cat "$dir/memory.max") $(cat "$dir/memory.high")" = "943718400 734003200" ]
check "every touched file back, nothing added" [ "$(snapshot "$dir")" = "$before" ]
no_leftovers "--hog under --max" "$dir"

expect_exit "--hog-once: exit 0" 0 \
	"$DURESS" inject memory -t "cgroup:$dir" --for 3s --max 64M --hog 200M --hog-once \
	"${COMMON[@]}" --summary "$WORK/once.json"
check "--hog-once: killed once, never restarted" \
	jq -e '.fault_report.hog_kills == 1 and .fault_report.hog_restarts == 0' "$WORK/once.json"
check "--hog-once: every touched file back" [ "$(snapshot "$dir")" = "$before" ]
no_leftovers "--hog-once" "$dir"

# ---- memory.high: high events rise, throttled, no kill
expect_exit "--high 64M --hog 150M: exit 0" 0 \
	"$DURESS" inject memory -t "cgroup:$dir" --for 5s --high 64M --hog 150M "${COMMON[@]}" \
	--samples "$WORK/high.jsonl" --summary "$WORK/high.json"
high=$(jq '.during.memory.events.high' "$WORK/high.json")
peak=$(jq '.fault_report.hog_resident_peak_bytes' "$WORK/high.json")
echo "  high events $high, hog resident peak $(mib "$peak") MiB"
check "memory.high was 64M while in force" \
	jq -e -s '[.[] | select(.phase == "during") | .memory.high] | all(. == 67108864)' "$WORK/high.jsonl"
check "high events rise ($high)" [ "${high:-0}" -ge 1 ]
check "no OOM kill under memory.high, before the revert or after" \
	jq -e -s '([.[] | select(.phase == "after")][-1].memory.events.oom_kill) == ([.[] | select(.phase == "before")][-1].memory.events.oom_kill)' "$WORK/high.jsonl"
check "no hog kill under memory.high" jq -e '.fault_report.hog_kills == 0' "$WORK/high.json"
check "hog throttled below its 150 MiB ($(mib "$peak") MiB)" in_range "$peak" 1 $((140 * MiB))
check "memory.high back to its original 734003200 (got $(cat "$dir/memory.high"))" \
	[ "$(cat "$dir/memory.high")" = 734003200 ]
check "every touched file back, nothing added" [ "$(snapshot "$dir")" = "$before" ]
check "the workload survived every run" kill -0 "$workload"
no_leftovers "--high" "$dir"

# ---- --hog 50% of a 256M target resides at ~128 MiB
dir=$(new_cgroup mempct)
echo 268435456 > "$dir/memory.max"
spawn "$dir" sleep 300
before=$(snapshot "$dir")
expect_exit "--hog 50% of a 256M target: exit 0" 0 \
	"$DURESS" inject memory -t "cgroup:$dir" --for 5s --hog 50% "${COMMON[@]}" \
	--samples "$WORK/pct.jsonl" --summary "$WORK/pct.json"
check "plan names the base: 256 MiB, memory.max of the target" \
	grep -q "percentages are of 256 MiB: memory.max of $dir" "$WORK/stderr"
cur=$(during "$WORK/pct.jsonl" '.[-1].memory.current')
echo "  memory.current at the end of the fault: $(mib "$cur") MiB"
check "memory.current 110-150 MiB while the hog holds 50% ($(mib "$cur") MiB)" \
	in_range "$cur" $((110 * MiB)) $((150 * MiB))
check "hog made exactly 128 MiB resident" \
	jq -e '.fault_report.hog_resident_peak_bytes == 134217728 and .fault_report.hog_bytes == 134217728' "$WORK/pct.json"
check "hog memory locked (stays resident)" jq -e '.fault_report.hog_locked == true' "$WORK/pct.json"
after=$(jq -s '[.[] | select(.phase == "after")][-1].memory.current' "$WORK/pct.jsonl")
check "memory freed after the revert ($(mib "$after") MiB < 20)" in_range "$after" 0 $((20 * MiB))
check "every touched file back, nothing added" [ "$(snapshot "$dir")" = "$before" ]
no_leftovers "--hog 50%" "$dir"

# ---- --ramp: the hog grows linearly
expect_exit "--hog 128M --ramp 4s: exit 0" 0 \
	"$DURESS" inject memory -t "cgroup:$dir" --for 6s --hog 128M --ramp 4s "${COMMON[@]}" \
	--samples "$WORK/ramp.jsonl"
# the sample about 2 s into the fault (half the ramp), and the last one
t0=$(during "$WORK/ramp.jsonl" '.[0].t')
mid=$(during "$WORK/ramp.jsonl" "[.[] | select(.t >= $t0 + 1.8)][0].memory.current")
end=$(during "$WORK/ramp.jsonl" '.[-1].memory.current')
echo "  ramp: $(mib "$mid") MiB half-way, $(mib "$end") MiB at the end"
check "half-way through the ramp: 20-100 MiB ($(mib "$mid") MiB)" in_range "$mid" $((20 * MiB)) $((100 * MiB))
check "end of the ramp: 110-150 MiB ($(mib "$end") MiB)" in_range "$end" $((110 * MiB)) $((150 * MiB))
check "memory.current never falls while ramping" \
	jq -e -s '[.[] | select(.phase == "during") | .memory.current] | . as $c | all(range(1; length); $c[.] + 4194304 >= $c[. - 1])' "$WORK/ramp.jsonl"
check "every touched file back, nothing added" [ "$(snapshot "$dir")" = "$before" ]
no_leftovers "--ramp" "$dir"

# ---- --swap-max
echo 104857600 > "$dir/memory.swap.max"
before=$(snapshot "$dir")
expect_exit "--swap-max 0: exit 0" 0 \
	"$DURESS" inject memory -t "cgroup:$dir" --for 1s --swap-max 0 "${COMMON[@]}" \
	--samples "$WORK/swap.jsonl"
check "memory.swap.max was 0 while in force" \
	jq -e -s '[.[] | select(.phase == "during") | .memory.swap_max] | length > 0 and all(. == 0)' "$WORK/swap.jsonl"
check "memory.swap.max back to its original 104857600 (got $(cat "$dir/memory.swap.max"))" \
	[ "$(cat "$dir/memory.swap.max")" = 104857600 ]
check "every touched file back, nothing added" [ "$(snapshot "$dir")" = "$before" ]

# ---- bad options: usage error naming the option, nothing changed
dir=$(new_cgroup membad)
echo 943718400 > "$dir/memory.max"
echo 734003200 > "$dir/memory.high"
spawn "$dir" sleep 300
before=$(snapshot "$dir")
bad() {
	local desc=$1 needle=$2; shift 2
	expect_exit "$desc: usage error (exit 2)" 2 "$DURESS" inject memory -t "cgroup:$dir" "$@"
	check "$desc: message names $needle" grep -q -- "$needle" "$WORK/stderr"
	check "$desc: nothing changed" [ "$(snapshot "$dir")" = "$before" ]
}
bad "negative --max" "--max" --for 2s --max -5M
bad "--hog over 100%" "--hog" --for 2s --hog 150%
bad "--high over 100%" "--high" --for 2s --high 101%
bad "missing --for" "--for" --max 64M
bad "no action option" "--max, --high, --swap-max, --hog" --for 2s
bad "--ramp without --hog" "--ramp" --for 2s --max 64M --ramp 5s
bad "--swap-max as a percentage" "--swap-max" --for 2s --swap-max 10%
bad "--high not below --max" "--high" --for 2s --max 64M --high 100M
bad "--max under one page" "--max" --for 2s --max 0.0001%
no_leftovers "bad options" "$dir"

# ---- --dry-run prints the plan and changes nothing
expect_exit "--dry-run: exit 0" 0 \
	"$DURESS" inject memory -t "cgroup:$dir" --for 2s --max 64M --hog 100M --dry-run
check "--dry-run shows what goes where" grep -q "write 67108864 (64 MiB) to $dir/memory.max (now '943718400'" "$WORK/stdout"
check "--dry-run shows the hog" grep -q "memory hog .* 104857600 (100 MiB)" "$WORK/stdout"
check "--dry-run changed nothing" [ "$(snapshot "$dir")" = "$before" ]
no_leftovers "--dry-run" "$dir"

# ---- no memory controller on the target: a clear "unsupported"
mkdir "$dir/nomem"
expect_exit "--max on a cgroup without the memory controller: exit 4" 4 \
	"$DURESS" inject memory -t "cgroup:$dir/nomem" --for 1s --max 64M
check "names the missing controller" grep -q "memory controller is not enabled" "$WORK/stderr"
rmdir "$dir/nomem"

# ---- SIGTERM in the middle: exit 8, everything reverted
"$DURESS" inject memory -t "cgroup:$dir" --for 60s --max 500M --hog 100M "${COMMON[@]}" \
	> "$WORK/term.out" 2> "$WORK/term.err" &
agent=$!
for _ in $(seq 200); do pgrep -x duress-memhog > /dev/null && break; sleep 0.1; done
check "hog running before SIGTERM" pgrep -x duress-memhog
check "memory.max is 500M while in force" [ "$(cat "$dir/memory.max")" = 524288000 ]
kill -TERM $agent
wait $agent
rc=$?
check "SIGTERM: exit 8 (interrupted, reverted; got $rc)" [ $rc = 8 ]
check "SIGTERM: every touched file back, nothing added" [ "$(snapshot "$dir")" = "$before" ]
no_leftovers "SIGTERM" "$dir"

# ---- kill -9 of the agent: the hog dies with it, the guardian reverts the rest
export DURESS_STATE_DIR=$WORK/state
"$DURESS" inject memory -t "cgroup:$dir" --for 60s --max 500M --hog 100M "${COMMON[@]}" \
	> "$WORK/kill.out" 2> "$WORK/kill.err" &
agent=$!
for _ in $(seq 200); do pgrep -x duress-memhog > /dev/null && break; sleep 0.1; done
check "hog running before kill -9" pgrep -x duress-memhog
kill -9 $agent
wait $agent 2> /dev/null
for _ in $(seq 100); do [ "$(snapshot "$dir")" = "$before" ] && ! pgrep -x duress-memhog > /dev/null && break; sleep 0.1; done
check "kill -9: every touched file back, nothing added, within 10 s" [ "$(snapshot "$dir")" = "$before" ]
no_leftovers "kill -9" "$dir"

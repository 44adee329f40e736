# freeze: the target stops (no CPU), thaws on revert to its original state;
# the inject machinery: dry run, guard rails, usage errors, signals.
. "$(dirname "$0")/lib.sh"

dir=$(new_cgroup freeze)
spawn "$dir" "$HELPERS/spin"
wait_ready "$WORK/spawn.$$.out" || fail "spin helper started" "no ready line"

# dry run: prints the plan, changes nothing
"$DURESS" inject freeze -t "cgroup:$dir" --for 5s --dry-run > "$WORK/dry.txt"
check "dry run exits 0" [ $? = 0 ]
check "dry run names the file and value" grep -q "write '1' to $dir/cgroup.freeze (now '0')" "$WORK/dry.txt"
check "dry run changed nothing" grep -q '^0$' "$dir/cgroup.freeze"

# frozen throughout: the spinner's CPU drops to ~0 during, ~100 before
"$DURESS" inject freeze -t "cgroup:$dir" --for 3s --baseline 2s --samples "$WORK/s.jsonl" \
	--summary "$WORK/sum.json" > "$WORK/out.txt" 2> "$WORK/err.txt"
check "freeze run exits 0" [ $? = 0 ]
during=$(jq -s '[.[] | select(.phase == "during") | .cpu.usage_pct // empty] | .[1:] | add / length' "$WORK/s.jsonl")
before=$(jq -s '[.[] | select(.phase == "before") | .cpu.usage_pct // empty] | add / length' "$WORK/s.jsonl")
echo "  spinner CPU: before ${before}%, frozen ${during}%"
check "spinner runs before (got $before%)" in_range "$before" 70 130
check "frozen target uses no CPU (got $during%)" in_range "$during" 0 3
check "thawed afterwards: cgroup.freeze back to 0" grep -q '^0$' "$dir/cgroup.freeze"
check "thawed afterwards: cgroup.events frozen 0" grep -q '^frozen 0$' "$dir/cgroup.events"
check "summary JSON names the fault and the revert" jq -e '.fault == "freeze" and .reverted == 1 and (.not_reverted | length) == 0' "$WORK/sum.json"
check "summary has before/during phases" jq -e '.before.samples >= 2 and .during.samples >= 3' "$WORK/sum.json"
check "samples file has before, during and after" jq -e -s '[.[].phase] | index("before") and index("during") and index("after")' "$WORK/s.jsonl"
sleep 1
check "spinner runs again after the thaw" bash -c "grep -q '^usage_usec' '$dir/cpu.stat'"
u1=$(awk '/^usage_usec/ {print $2}' "$dir/cpu.stat"); sleep 1; u2=$(awk '/^usage_usec/ {print $2}' "$dir/cpu.stat")
check "spinner burns CPU after revert ($(( (u2 - u1) / 10000 ))%)" [ $((u2 - u1)) -gt 500000 ]

# an original value that is not the default comes back exactly: a target
# that was already frozen stays frozen after the fault
echo 1 > "$dir/cgroup.freeze"
"$DURESS" inject freeze -t "cgroup:$dir" --for 1s --baseline 0 -q > /dev/null 2>&1
check "already-frozen target is frozen again afterwards (original '1')" grep -q '^1$' "$dir/cgroup.freeze"
echo 0 > "$dir/cgroup.freeze"

# cycling: frozen 500ms / running 500ms -> roughly half the CPU
"$DURESS" inject freeze -t "cgroup:$dir" --for 4s --cycle 500ms/500ms --baseline 0 --samples "$WORK/c.jsonl" -q > "$WORK/c.out" 2>&1
check "cycle run exits 0" [ $? = 0 ]
cyc=$(jq -s '[.[] | select(.phase == "during") | .cpu.usage_pct // empty] | add / length' "$WORK/c.jsonl")
echo "  spinner CPU while cycling 500ms/500ms: ${cyc}%"
check "cycling halves the CPU (got $cyc%)" in_range "$cyc" 25 75
check "cycle: thawed afterwards" grep -q '^0$' "$dir/cgroup.freeze"

# SIGTERM mid-fault: reverted, exit 8 (interrupted)
"$DURESS" inject freeze -t "cgroup:$dir" --for 60s --baseline 0 -q > /dev/null 2>&1 &
agent=$!
for _ in $(seq 100); do grep -q '^1$' "$dir/cgroup.freeze" && break; sleep 0.1; done
check "frozen while the agent runs" grep -q '^1$' "$dir/cgroup.freeze"
kill -TERM $agent; wait $agent; rc=$?
check "SIGTERM: exit 8 (interrupted; got $rc)" [ $rc = 8 ]
check "SIGTERM: thawed" grep -q '^0$' "$dir/cgroup.freeze"

# usage errors change nothing
expect_exit "missing --for -> 2" 2 "$DURESS" inject freeze -t "cgroup:$dir"
check "message names --for" grep -q -- '--for' "$WORK/stderr"
expect_exit "bad --cycle -> 2" 2 "$DURESS" inject freeze -t "cgroup:$dir" --for 1s --cycle 2s
check "message names --cycle" grep -q -- '--cycle' "$WORK/stderr"
expect_exit "unknown fault -> 2" 2 "$DURESS" inject frobnicate --for 1s
expect_exit "option of another fault -> 2" 2 "$DURESS" inject freeze -t "cgroup:$dir" --for 1s --max 64M
check "nothing frozen by the failed runs" grep -q '^0$' "$dir/cgroup.freeze"

# guard rails: root cgroup and the agent's own ancestors are refused
expect_exit "root cgroup refused -> 6" 6 "$DURESS" inject freeze -t cgroup:/ --for 1s
check "refusal says --force" grep -q -- '--force' "$WORK/stderr"
own=$(sed -n 's/^0:://p' /proc/self/cgroup)
if [ "$own" != / ]; then
	expect_exit "own cgroup refused -> 6" 6 "$DURESS" inject freeze -t "cgroup:$own" --for 1s
else
	mkdir -p "$CG/duress-it-self-$$" && _cgroups+=("$CG/duress-it-self-$$")
	expect_exit "own cgroup refused -> 6" 6 sh -c "echo \$\$ > $CG/duress-it-self-$$/cgroup.procs; exec $DURESS inject freeze -t cgroup:/duress-it-self-$$ --for 1s"
fi

# the sandbox (no target) can be frozen and is removed afterwards
"$DURESS" inject freeze --for 2s --baseline 1s -q > /dev/null 2>&1
check "sandbox freeze exits 0" [ $? = 0 ]
check "no sandbox left" bash -c "! ls -d $CG/duress-sandbox-* 2>/dev/null"

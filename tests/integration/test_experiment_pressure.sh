# experiments: a PSI abort trigger fires.  A memory fault throttles the
# target (memory.high far below what a hog wants), the kernel's memory
# pressure trigger on the target reports the stall, the run aborts (exit 9)
# long before the fault's duration, says why in the journal, and the
# original memory.high is back.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/experiment_schema.sh"

dir=$(new_cgroup exp-psi)
echo 900M > "$dir/memory.high"
spawn "$dir" sh -c 'echo ready; exec sleep 3600'
wait_ready "$WORK/spawn.$$.out" || fail "target process started" "no ready line"

cat > "$WORK/psi.yaml" <<'YAML'
name: memory pressure aborts
method:
  - type: action
    name: squeeze
    provider: memory
    high: 48M
    hog: 160M
    duration: 60s
baseline: 1s
recovery_timeout: 5s
abort:
  pressure:
    - resource: memory
      stall: 100ms
      window: 1s
YAML
expect_exit "validate: the pressure experiment is valid" 0 "$DURESS" validate "$WORK/psi.yaml"
timed "$DURESS" run "$WORK/psi.yaml" -t "cgroup:$dir" --journal "$WORK/j.json" > "$WORK/run.out" 2> "$WORK/run.err"
echo "  run: exit $rc in ${took}s; $(grep -m1 -i abort "$WORK/run.err")"
check "run: exit 9 (aborted; got $rc)" [ $rc = 9 ]
check "run: ended long before the fault's 60s (took ${took}s)" in_range "$took" 0 45
check "journal validates against the documented schema" jq -e "$SCHEMA" "$WORK/j.json"
check "journal: aborted by the pressure trigger, which names memory" \
	jq -e '.status == "aborted" and .duress.abort.kind == "pressure" and (.duress.abort.reason | test("memory"))' "$WORK/j.json"
at=$(jq '.duress.abort.at_s' "$WORK/j.json")
applied=$(jq '[.run[] | select(.output.fault == "memory")][0].output.applied_at_s' "$WORK/j.json")
echo "  fault applied at ${applied}s, pressure abort at ${at}s"
check "the trigger fired within 20s of the fault (got $at - $applied)" \
	awk -v a="$at" -v b="$applied" 'BEGIN { exit !(a - b >= 0 && a - b < 20) }'
check "journal: the revert undid the fault" \
	jq -e '.duress.revert.reverted >= 1 and (.duress.revert.not_reverted | length) == 0' "$WORK/j.json"
check "memory.high is back to 900M (got $(cat "$dir/memory.high"))" [ "$(cat "$dir/memory.high")" = 943718400 ]
check "no hog cgroup left in the target" bash -c "! ls -d '$dir'/duress-* 2>/dev/null | grep -q ."

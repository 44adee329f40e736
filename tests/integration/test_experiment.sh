# experiments: an http probe against a server in the target passes before,
# fails under a 100% loss partition (abort within one probe interval),
# passes after, with the recovery time in the journal; a Chaos Toolkit
# experiment with http and process probes runs unchanged; malformed
# manifests give line/column errors and touch nothing.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/experiment_schema.sh"

# ---- the target: an HTTP server in a network namespace of its own
dir=$(new_cgroup exp-http)
spawn "$dir" unshare -n sh -c 'ip link set lo up && exec "$0" 8080' "$HELPERS/httpd"
wait_ready "$WORK/spawn.$$.out" || fail "http server started in its own netns" "no ready line: $(cat "$WORK/spawn.$$.out")"
srv=$SPAWNED

cat > "$WORK/partition.yaml" <<'YAML'
name: http under a partition
steady_state:
  title: the service answers
  probes:
    - name: health
      type: http
      url: http://127.0.0.1:8080/health
      netns: target
      timeout: 500ms
      status: 200
      json_pointer: /status
      json_value: ok
method:
  - type: action
    name: cut the target off
    provider: network
    device: lo
    partition: true
    duration: 20s
probe_interval: 1s
baseline: 1s
recovery_timeout: 15s
abort:
  probe_failures: 1
YAML
expect_exit "validate: the partition experiment is valid" 0 "$DURESS" validate "$WORK/partition.yaml"
timed "$DURESS" run "$WORK/partition.yaml" -t "cgroup:$dir" --journal "$WORK/j.json" --junit "$WORK/j.xml" \
	--samples "$WORK/s.jsonl" > "$WORK/run.out" 2> "$WORK/run.err"
echo "  partition run: exit $rc in ${took}s; $(grep -m1 ABORT "$WORK/run.err")"
check "partition run: exit 9 (aborted; got $rc)" [ $rc = 9 ]
check "partition run: ended long before the fault's 20s (took ${took}s)" in_range "$took" 0 19
check "journal validates against the documented schema" jq -e "$SCHEMA" "$WORK/j.json"
check "journal: status aborted, not deviated" jq -e '.status == "aborted" and .deviated == false' "$WORK/j.json"
check "journal: http probe passed before" jq -e '.steady_states.before.steady_state_met == true and .steady_states.before.probes[0].output.status == 200' "$WORK/j.json"
check "journal: abort by the probe" jq -e '.duress.abort.kind == "probe" and (.duress.abort.reason | test("health"))' "$WORK/j.json"
at=$(jq '.duress.abort.at_s' "$WORK/j.json")
applied=$(jq '[.run[] | select(.output.fault == "network")][0].output.applied_at_s' "$WORK/j.json")
echo "  fault applied at ${applied}s, abort at ${at}s into the method (probe interval 1s, probe timeout 0.5s)"
delay=$(awk -v a="$at" -v b="$applied" 'BEGIN { printf "%.2f", a - b }')
check "abort fired within one probe interval (1s) plus the probe's timeout (0.5s) of the partition (got ${delay}s)" \
	in_range "$delay" 0 2.5
check "journal: the probe failed during the method" jq -e '.duress.probes[0].failures >= 1 and .duress.probes[0].error_rate > 0' "$WORK/j.json"
check "journal: http probe passed after" jq -e '.steady_states.after.steady_state_met == true' "$WORK/j.json"
rec=$(jq '.duress.recovery.probes_s' "$WORK/j.json")
echo "  recovery time (probes hold again after the revert): ${rec}s"
check "journal: recovery time recorded (got $rec)" jq -e '.duress.recovery.probes_s | type == "number" and . >= 0 and . < 15' "$WORK/j.json"
check "journal: the revert undid the partition" jq -e '.duress.revert.reverted >= 1 and (.duress.revert.not_reverted | length) == 0' "$WORK/j.json"
check "no netem qdisc left in the target's namespace" bash -c "! nsenter -t $srv -n tc qdisc show dev lo | grep -q netem"
check "the server answers after the run" nsenter -t "$srv" -n curl -sf -m 2 http://127.0.0.1:8080/
check "JUnit: a testsuite with the probe before and after and a failure for the abort" \
	bash -c "grep -q '<testsuite name=\"http under a partition\"' '$WORK/j.xml' && grep -q 'classname=\"steady state after\" name=\"health\"' '$WORK/j.xml' && grep -q 'classname=\"abort\"' '$WORK/j.xml'"
check "samples carry before, during and after phases" jq -e -s '[.[].phase] | index("before") and index("during") and index("after")' "$WORK/s.jsonl"

# ---- a Chaos Toolkit experiment, as CTK users write it, runs unchanged
dir2=$(new_cgroup exp-ctk)
spawn "$dir2" "$HELPERS/httpd" 18081
wait_ready "$WORK/spawn.$$.out" || fail "host-netns http server started" "no ready line"
cat > "$WORK/ctk.json" <<'JSON'
{
  "version": "1.0.0",
  "title": "The service answers and the disk is writable",
  "description": "A plain Chaos Toolkit experiment: http and process probes",
  "tags": ["ctk"],
  "configuration": {
    "base_url": "http://127.0.0.1:18081",
    "scratch": {"type": "env", "key": "DURESS_TEST_SCRATCH", "default": "/tmp"}
  },
  "steady-state-hypothesis": {
    "title": "Service healthy",
    "probes": [
      {
        "type": "probe",
        "name": "service-is-up",
        "tolerance": 200,
        "provider": {"type": "http", "url": "${base_url}/health", "timeout": 3}
      },
      {
        "type": "probe",
        "name": "scratch-writable",
        "tolerance": 0,
        "provider": {"type": "process", "path": "/usr/bin/test", "arguments": "-w ${scratch}"}
      }
    ]
  },
  "method": [
    {
      "type": "action",
      "name": "wait-a-bit",
      "provider": {"type": "process", "path": "/bin/sleep", "arguments": ["1"]},
      "pauses": {"after": 1}
    },
    {
      "type": "probe",
      "name": "fetch-health",
      "provider": {"type": "http", "url": "${base_url}/health", "method": "GET"}
    }
  ],
  "rollbacks": [
    {
      "type": "action",
      "name": "say-done",
      "provider": {"type": "process", "path": "/bin/echo", "arguments": "done"}
    }
  ]
}
JSON
expect_exit "CTK experiment: validate exits 0" 0 "$DURESS" validate "$WORK/ctk.json"
check "CTK experiment: validate names the Chaos Toolkit format" grep -q 'valid Chaos Toolkit experiment' "$WORK/stdout"
"$DURESS" run "$WORK/ctk.json" -t "cgroup:$dir2" --journal "$WORK/ctk-j.json" > "$WORK/ctk.out" 2> "$WORK/ctk.err"
rc=$?
check "CTK experiment runs: exit 0 (got $rc; $(tail -n 3 "$WORK/ctk.err" | tr '\n' ' '))" [ $rc = 0 ]
check "CTK journal validates against the schema" jq -e "$SCHEMA" "$WORK/ctk-j.json"
check "CTK journal: completed, hypothesis met before and after" jq -e '.status == "completed" and .deviated == false and .steady_states.before.steady_state_met and .steady_states.after.steady_state_met' "$WORK/ctk-j.json"
check "CTK journal: both probes ran with their outputs" jq -e '[.steady_states.before.probes[] | .tolerance_met] == [true, true] and .steady_states.before.probes[0].output.status == 200 and .steady_states.before.probes[1].output.status == 0' "$WORK/ctk-j.json"
check "CTK journal: the method's action and probe succeeded" jq -e '[.run[] | .status] == ["succeeded", "succeeded"] and .run[1].output.status == 200' "$WORK/ctk-j.json"
check "CTK journal: the rollback ran" jq -e '.rollbacks[0].status == "succeeded" and (.rollbacks[0].output.stdout | test("done"))' "$WORK/ctk-j.json"
# as chaostoolkit-lib records it: the experiment as written (no configuration
# or secret value in the journal), the probe's call with the value
check "CTK journal: the recorded experiment keeps \${base_url} as written" jq -e '.experiment["steady-state-hypothesis"].probes[0].provider.url == "${base_url}/health"' "$WORK/ctk-j.json"
kill -STOP "$SPAWNED"
"$DURESS" run "$WORK/ctk.json" -t "cgroup:$dir2" --journal "$WORK/ctk-j2.json" > /dev/null 2>&1
rc=$?
kill -CONT "$SPAWNED"
check "CTK experiment with the server stopped: exit 1, not steady before (got $rc)" [ $rc = 1 ]
check "CTK journal: failed, not deviated, method not run" jq -e '.status == "failed" and .deviated == false and (.run | length) == 0' "$WORK/ctk-j2.json"

# ---- python providers: reported by validate, not run
cat > "$WORK/py.json" <<'JSON'
{"title": "t", "description": "d",
 "method": [{"type": "action", "name": "kill-pod",
             "provider": {"type": "python", "module": "chaosk8s.pod.actions", "func": "terminate_pods"}}]}
JSON
expect_exit "python provider: exit 4 (cannot run here)" 4 "$DURESS" validate "$WORK/py.json"
check "python provider: validate names it with its position" grep -q 'py.json:3:35: provider: python (chaosk8s.pod.actions.terminate_pods) cannot run' "$WORK/stderr"

# ---- malformed manifests: line/column errors, nothing touched
bad() { # NAME EXPECTED-LINE-PREFIX, manifest on stdin
	cat > "$WORK/$1.yaml"
	expect_exit "malformed ($1): run exits 10" 10 "$DURESS" run "$WORK/$1.yaml" -t "cgroup:$dir"
	check "malformed ($1): '$2'" grep -qF "$WORK/$1.yaml:$2" "$WORK/stderr"
}
bad syntax "3:1: syntax:" <<'YAML'
name: x
method: [
YAML
bad unknown-key "2:1: methd: unknown key in the experiment" <<'YAML'
name: x
methd: []
YAML
bad bad-option "6:10: max: '-64M': must not be negative" <<'YAML'
name: x
method:
  - type: action
    name: m
    provider: memory
    max: -64M
    duration: 1s
YAML
bad out-of-range "6:11: loss: '150'" <<'YAML'
name: x
method:
  - type: action
    name: n
    provider: network
    loss: 150
    device: lo
    duration: 1s
YAML
bad provider "5:15: provider: 'nosuch': unknown provider" <<'YAML'
name: x
method:
  - type: action
    name: n
    provider: nosuch
YAML
bad missing-duration "4:5: duration: required" <<'YAML'
name: x
duration: 0
method:
  - type: action
    name: f
    provider: freeze
YAML
check "malformed runs: target never frozen" grep -q '^0$' "$dir/cgroup.freeze"
check "malformed runs: no qdisc added" bash -c "! nsenter -t $srv -n tc qdisc show dev lo | grep -q netem"

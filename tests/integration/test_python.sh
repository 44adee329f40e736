# The Python package against a real agent on the kernel (docs/python.md):
# `duress serve` on a socket, an HTTP server and a memory holder in a
# cgroup with a network namespace of its own, and real pytest sessions
# (Debian's python3-pytest) with the plugin:
# - the example module of docs/python.md, as the page has it (markers,
#   the fixture's fault blocks, an experiment marker), and tests that fail
#   inside a memory and a network fault block, in one session: the example
#   passes, the others fail by their own errors, memory.max and the
#   target's qdiscs are back, every job exited 8, the JUnit file holds each
#   fault's properties;
# - SIGINT to pytest while a fault is in force: exit 2, everything back at
#   once; SIGKILL: the fault's lease (the default, 10s) reverts it, long
#   before its duration (10m);
# - chaosduress called as Chaos Toolkit's python provider calls it
#   (python/tests/ctkcall.py): an experiment that holds (a fault in force in
#   the background, its status, stopped, a foreground freeze) and one that
#   deviates (a memory hog OOM-killed under the cap).
# timeout: 600
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/net_lib.sh"

PY=${DURESS_PYTHON:-/usr/bin/python3}
SERVER= PYTEST_PID=
STATE=$WORK/state
SOCK=$WORK/run/duress.sock
_py_cleanup() {
	[ -n "$PYTEST_PID" ] && kill -9 "$PYTEST_PID" 2>/dev/null
	[ -n "$SERVER" ] && kill -TERM "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
	_net_cleanup
}
trap _py_cleanup EXIT
serve_asan

export PYTHONPATH=$TOP/python/src:$TOP/python/tests PYTHONDONTWRITEBYTECODE=1
PYTEST=("$PY" -m pytest -p duress.pytest_plugin -p no:cacheprovider --duress-socket "$SOCK")

if ! "$PY" -c 'import pytest' 2> /dev/null; then
	fail "python3-pytest for $PY" "not installed (make deps)"
	exit 0
fi
serve_up() { curl -s --max-time 2 --unix-socket "$SOCK" http://d/healthz; }
mem_is() { [ "$(cat "$TDIR/memory.max")" = "$1" ]; }
jobs_all() { curl -s --unix-socket "$SOCK" http://d/v1/faults; }
# props FILE: a JUnit file's test cases as lines "test<TAB>name<TAB>value"
# (each property) and "test<TAB>@outcome<TAB>failed" (a failure or error)
# in FILE.props (pytest writes the XML on one line: split at its tags);
# prop FILE TEST NAME: one value (exported for check's bash -c)
props() {
	grep -oE '<testcase [^>]* name="[^"]*"|<failure|<error|<property name="[^"]*" value="[^"]*"' "$1" |
		awk '/^<testcase/ { sub(/.* name="/, ""); sub(/"$/, ""); t = $0; next }
			/^<failure|^<error/ { print t "\t@outcome\tfailed"; next }
			{ n = $0; sub(/^<property name="/, "", n); sub(/".*/, "", n)
			  v = $0; sub(/.* value="/, "", v); sub(/"$/, "", v)
			  gsub(/&quot;/, "\"", v); gsub(/&lt;/, "<", v); gsub(/&gt;/, ">", v); gsub(/&amp;/, "\\&", v)
			  print t "\t" n "\t" v }' > "$1.props"
}
prop() { awk -F'\t' -v t="$2" -v n="$3" '$1 == t && $2 == n { print $3 }' "$1.props"; }
export -f prop
# doc_file NAME: a file of docs/python.md (the code block after "<!-- file: NAME -->")
doc_file() {
	awk -v f="$1" '$0 == "<!-- file: " f " -->" { want = 1; next }
		want && /^```/ { if (inside) exit; inside = 1; next }
		inside { print }' "$TOP/docs/python.md"
}

# ---- the target: an HTTP server and 24 MiB held, in a cgroup and netns ----
if ! net_target pyweb; then
	fail "target (cgroup, netns, veth)" "could not build it"
	exit 0
fi
echo 943718400 > "$TDIR/memory.max" # a non-default original: 900M
spawn "$TDIR" nsenter -t "$TPID" -n "$HELPERS/httpd" 8080
wait_ready "$WORK/spawn.$$.out" || fail "httpd started in the target" "no ready line"
spawn "$TDIR" "$HELPERS/memhold" 24
wait_ready "$WORK/spawn.$$.out" || fail "memhold 24 MiB started in the target" "no ready line"
check "the service answers at http://10.9.0.2:8080/" curl -sf --max-time 5 http://10.9.0.2:8080/
t0=$(target_state)

if ! bg_start SERVER 15 serve_up "$WORK/serve.log" "$WORK/serve.log" \
	"$SERVE" serve --listen "unix:$SOCK" --state-dir "$STATE"; then
	fail "serve started on $SOCK" "no answer"
	exit 0
fi

# ---- 1. the example of docs/python.md, as the page has it, and tests that
# fail inside fault blocks: one pytest session (each start of python3
# costs seconds under emulation) ----
mkdir -p "$WORK/example/experiments"
doc_file test_service_resilience.py > "$WORK/example/test_service_resilience.py"
doc_file experiments/web-memory.yaml > "$WORK/example/experiments/web-memory.yaml"
check "docs/python.md holds the example module and its experiment" \
	bash -c "grep -q 'def test_' '$WORK/example/test_service_resilience.py' && grep -q '^method:' '$WORK/example/experiments/web-memory.yaml'"
cat > "$WORK/example/test_leftovers.py" << 'EOF'
import os
import subprocess

TDIR = os.environ["TDIR"]


def test_fails_in_a_memory_fault(duress):
    with duress.fault("memory", max="48M"):
        with open(TDIR + "/memory.max") as f:
            assert f.read().strip() == "50331648"
        assert False, "the code under test failed"


def test_raises_in_a_network_fault(duress):
    with duress.fault("network", delay="50ms", loss="10%"):
        out = subprocess.run(["nsenter", "-t", os.environ["TPID"], "-n", "tc", "qdisc", "show",
                              "dev", "vt0"], capture_output=True, text=True).stdout
        assert "netem" in out and "delay 50ms" in out, out
        raise RuntimeError("the code under test raised")
EOF
( cd "$WORK/example" && SERVICE_URL=http://10.9.0.2:8080 DURESS_TARGET="cgroup:$TDIR" TDIR=$TDIR \
	TPID=$TPID timeout 300 "${PYTEST[@]}" test_service_resilience.py test_leftovers.py \
	--junitxml junit.xml -rA -v > out.txt 2>&1 )
rc=$?
J=$WORK/example/junit.xml
props "$J"
O=$WORK/example/out.txt
echo "  (${SECONDS}s in)"
check "the session: exit 1, 5 passed and 2 failed ($(tail -n 1 "$O"))" \
	bash -c "[ $rc = 1 ] && tail -n 1 '$O' | grep -q '2 failed, 5 passed'" || sed 's/^/    /' "$O" | tail -n 40
check "  the example module's 5 tests passed, the 2 others failed by their own errors" \
	bash -c "[ \"\$(cut -f 1,2 '$J.props' | grep '@outcome' | cut -f 1 | sort | tr '\n' ' ')\" = 'test_fails_in_a_memory_fault test_raises_in_a_network_fault ' ] &&
		grep -q 'the code under test failed' '$O' && grep -q 'RuntimeError: the code under test raised' '$O'"
check "  JUnit: the network marker's netem delay ($(prop "$J" test_answers_within_the_client_budget_with_300ms_more_latency duress.network.netem))" \
	bash -c "prop '$J' test_answers_within_the_client_budget_with_300ms_more_latency duress.network.netem | grep -q 300ms"
check "  JUnit: the memory block's OOM kills (0) and peak ($(prop "$J" test_keeps_serving_with_its_memory_capped duress.memory.memory_peak_bytes) bytes)" \
	bash -c "[ \"\$(prop '$J' test_keeps_serving_with_its_memory_capped duress.memory.oom_kills)\" = 0 ] &&
		[ \"\$(prop '$J' test_keeps_serving_with_its_memory_capped duress.memory.memory_peak_bytes)\" -ge 20000000 ]"
check "  JUnit: the freeze was reverted (1 step)" \
	bash -c "[ \"\$(prop '$J' test_a_frozen_service_times_out_and_recovers duress.freeze.reverted)\" -ge 1 ]"
check "  JUnit: the experiment held" \
	bash -c "[ \"\$(prop '$J' test_the_memory_experiment_holds duress.experiment.verdict)\" = held ]"
check "  JUnit of the failed memory test: outcome interrupted, 0 not reverted" \
	bash -c "[ \"\$(prop '$J' test_fails_in_a_memory_fault duress.memory.outcome)\" = interrupted ] &&
		[ \"\$(prop '$J' test_fails_in_a_memory_fault duress.memory.not_reverted)\" = 0 ]"
check "  JUnit of the failed network test: its netem ($(prop "$J" test_raises_in_a_network_fault duress.network.netem))" \
	bash -c "prop '$J' test_raises_in_a_network_fault duress.network.netem | grep -q 'delay 50ms'"
check "  the failure report shows what the fault did" grep -q "Captured duress call" "$O"
check "  the terminal summary: 5 faults and 1 experiment, all reverted" \
	grep -q "5 fault(s) and 1 experiment(s) from the agent at unix:$SOCK; all reverted" "$O"
check "  afterwards memory.max is 900M again" mem_is 943718400
check "  and the target's qdiscs and links as before" [ "$(target_state)" = "$t0" ]
check "  every fault of the agent exited 8: stopped by its block or test, reverted" \
	bash -c "curl -s --unix-socket '$SOCK' http://d/v1/faults | jq -e 'length == 5 and all(.[]; .state == \"exited\" and .exit_code == 8)'"

# ---- 3. SIGINT and SIGKILL to pytest while a fault is in force ----
mkdir -p "$WORK/sig"
cat > "$WORK/sig/test_hangs.py" << 'EOF'
import os
import time


def test_hangs_in_a_fault(duress):
    with duress.fault("memory", max="40M", duration="10m"):
        open(os.environ["READY"], "w").close()
        time.sleep(300)
EOF
# hang SIGNAL [PYTEST-ARGS...]: pytest in the background until the fault
# is in force, then the signal; RC its exit status, FID the fault
hang() {
	local sig=$1
	shift
	rm -f "$WORK/sig/ready"
	( cd "$WORK/sig" && READY=$WORK/sig/ready DURESS_TARGET="cgroup:$TDIR" \
		exec env --default-signal=INT "${PYTEST[@]}" test_hangs.py "$@" > out.txt 2>&1 ) &
	PYTEST_PID=$!
	if ! wait_until 120 --while "$PYTEST_PID" [ -e "$WORK/sig/ready" ]; then
		fail "pytest got its fault in force ($sig)" "$(grep -E '^E ' "$WORK/sig/out.txt" | head -n 5)"
		tail -n 5 "$WORK/serve.log" | sed 's/^/    /'
		return 1
	fi
	FID=$(jobs_all | jq -r '[.[] | select(.state == "running")][-1].id')
	check "  in force before the $sig: memory.max 40M ($FID)" mem_is 41943040
	kill "-$sig" "$PYTEST_PID"
	T_SIG=$(date +%s.%N)
	wait "$PYTEST_PID"
	RC=$?
	PYTEST_PID=
}
if hang INT; then
	check "SIGINT to pytest: exit 2 (interrupted) ($RC)" [ "$RC" = 2 ]
	check "  memory.max back to 900M when pytest exited" mem_is 943718400
	check "  the fault was stopped (exit 8), not left to its 10m" \
		bash -c "curl -s --unix-socket '$SOCK' http://d/v1/faults/$FID | jq -e '.state == \"exited\" and .exit_code == 8 and .lease.expired == false'"
fi
if hang KILL; then
	check "SIGKILL to pytest: killed ($RC)" [ "$RC" = 137 ]
	if wait_until 60 mem_is 943718400; then
		pass "  memory.max back to 900M $(awk -v a="$T_SIG" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s after the kill (the default lease, 10s; duration 10m)"
	else
		fail "  memory.max back after the kill" "still $(cat "$TDIR/memory.max") after 60 s"
	fi
	check "  by the lease: the agent stopped the fault when renewals stopped" \
		bash -c "curl -s --unix-socket '$SOCK' http://d/v1/faults/$FID | jq -e '.lease.expired == true and .exit_code == 8'"
	check "  and its log says so" grep -q "$FID: its lease (10s) was not renewed" "$WORK/serve.log"
fi

echo "  (${SECONDS}s in)"

# ---- 4. chaosduress, called as Chaos Toolkit's python provider calls it ----
cat > "$WORK/ctk.py" << 'EOF'
import json
import os
import sys

import ctkcall


def python(kind, name, func, module, **arguments):
    return {"type": kind, "name": name,
            "provider": {"type": "python", "module": "chaosduress." + module, "func": func,
                         "arguments": arguments}}


no_oom = python("probe", "no OOM kill", "metric", "probes",
                check="increase(memory.events.oom_kill) == 0")
no_oom["tolerance"] = True
limit = python("probe", "memory.max as configured", "sample", "probes", key="memory.max")
limit["tolerance"] = {"type": "range", "range": [943718400, 943718400]}
conf = {"duress_socket": {"type": "env", "key": "DURESS_SOCKET"},
        "duress_target": {"type": "env", "key": "DURESS_TARGET"}}
held = {
    "title": "memory capped, then frozen", "description": "chaosduress", "configuration": conf,
    "steady-state-hypothesis": {"title": "no OOM kill, limits as set", "probes": [no_oom, limit]},
    "method": [
        python("action", "cap memory", "inject_fault", "actions", fault="memory", id="ctk-mem",
               duration="5m", options={"max": "64M"}, wait=False),
        python("probe", "memory.max now", "sample", "probes", key="memory.max"),
        python("probe", "status", "fault_status", "probes", id="ctk-mem"),
        python("action", "uncap", "stop_fault", "actions", id="ctk-mem"),
        python("action", "freeze 1s", "inject_fault", "actions", fault="freeze", duration="1s"),
    ],
}
deviates = {
    "title": "a hog under a cap", "description": "chaosduress", "configuration": conf,
    "steady-state-hypothesis": {"title": "no OOM kill", "probes": [no_oom]},
    "method": [python("action", "hog over the cap", "inject_fault", "actions", fault="memory",
                      duration="3s", options={"max": "40M", "hog": "48M", "hog-once": True})],
}
out = {}
for name, x in (("held", held), ("deviates", deviates)):
    verdict, records = ctkcall.run_experiment(x)
    out[name] = {"verdict": verdict, "records": records}
json.dump(out, sys.stdout, default=str)
EOF
DURESS_SOCKET=$SOCK DURESS_TARGET="cgroup:$TDIR" timeout 300 "$PY" "$WORK/ctk.py" > "$WORK/ctk.json" 2> "$WORK/ctk.err"
rc=$?
check "chaosduress experiments ran (exit $rc)" [ "$rc" = 0 ] || tail -n 20 "$WORK/ctk.err" | sed 's/^/    /'
C=$WORK/ctk.json
check "  held: the verdict ($(jq -r .held.verdict "$C" 2> /dev/null))" jq -e '.held.verdict == "held"' "$C"
check "  every activity succeeded" jq -e '[.held.records[] | select(.[2] == "failed" or .[2] == "out of tolerance")] | length == 0' "$C"
check "  sample saw memory.max 64M while inject_fault's fault was in force" \
	jq -e '.held.records[] | select(.[1] == "memory.max now") | .[3] == 67108864' "$C"
check "  fault_status: running" jq -e '.held.records[] | select(.[1] == "status") | .[3] == "running"' "$C"
check "  stop_fault: reverted (exit 8)" \
	jq -e '.held.records[] | select(.[1] == "uncap") | .[3].exit_code == 8 and .[3].summary.not_reverted == []' "$C"
check "  inject_fault (wait): the freeze ran its 1s and was reverted" \
	jq -e '.held.records[] | select(.[1] == "freeze 1s") | .[3].summary.ended_by == "duration" and .[3].exit_code == 0' "$C"
check "  the steady state after: memory.max back to 900M by then" \
	jq -e '[.held.records[] | select(.[0] == "after")] | length == 2' "$C"
check "  deviates: the hog OOM-killed under the cap breaks the hypothesis ($(jq -r .deviates.verdict "$C" 2> /dev/null))" \
	jq -e '.deviates.verdict == "deviated"' "$C"
check "  the probe after saw it" jq -e '.deviates.records[-1] | .[0] == "after" and .[2] == "out of tolerance"' "$C"
check "afterwards: memory.max 900M, the target's qdiscs as before" \
	bash -c "[ \"\$(cat '$TDIR/memory.max')\" = 943718400 ]" && check "  qdiscs" [ "$(target_state)" = "$t0" ]
check "no fault of the agent still running" bash -c "curl -s --unix-socket '$SOCK' http://d/v1/faults | jq -e 'all(.[]; .state == \"exited\")'"
bg_stop SERVER TERM
check "the server exits 0 ($BG_RC)" [ "$BG_RC" = 0 ]
echo "  (${SECONDS}s in all)"
sanitizer_clean

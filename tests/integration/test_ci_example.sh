# docs/ci.md, proven: the job's steps (a service started in its own cgroup,
# `duress validate`, `duress run manifests/ci/web-under-pressure.yaml -t
# cgroup:ci-web --journal journal.json --junit junit.xml`) against python3's
# http.server.  The hypothesis holds (exit 0, the build passes), deviates
# when the hog outgrows the memory cap (exit 1, the build fails), and is not
# met before the method when the service is down (exit 1).  Every fault is
# reverted each time.
# timeout: 900
. "$(dirname "$0")/lib.sh"

EXP=$TOP/manifests/ci/web-under-pressure.yaml
DOC=$TOP/docs/ci.md
RUN_LINE='duress run manifests/ci/web-under-pressure.yaml -t cgroup:ci-web --journal journal.json --junit junit.xml'
check "docs/ci.md runs exactly the command this test runs" grep -qF "$RUN_LINE" "$DOC"
check "docs/ci.md starts the service the way this test does" \
	grep -qF "echo \$\$ > /sys/fs/cgroup/ci-web/cgroup.procs && exec python3 -m http.server 8000 --bind 127.0.0.1" "$DOC"

# the job's "start the service" step (docs/ci.md), with the cgroup removed by
# the EXIT trap; the test's cgroup name is unique, the doc's is ci-web
cg=$(new_cgroup ci-web)
start_service() {
	spawn "$cg" python3 -m http.server 8000 --bind 127.0.0.1 --directory "$WORK"
	SERVICE=$SPAWNED
	for _ in $(seq 100); do
		curl -fsS -o /dev/null http://127.0.0.1:8000/ 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}
echo hello > "$WORK/index.html"
check "the service starts in its cgroup and answers" start_service
check "the service's process is in the cgroup" grep -qx "$SERVICE" "$cg/cgroup.procs"

check "duress validate accepts the CI experiment" "$DURESS" validate "$EXP"

# run ENV...: the job's run step in $WORK/NAME/, exit status in $rc
run_job() {
	local name=$1; shift
	mkdir -p "$WORK/$name"
	( cd "$WORK/$name" && env "$@" "$DURESS" run "$EXP" -t "cgroup:${cg#"$CG"/}" -q \
		--journal journal.json --junit junit.xml > out.txt 2> err.txt )
	rc=$?
	echo "  ($name: exit $rc; $(tail -n 3 "$WORK/$name/err.txt" | tr '\n' ' '))"
}
restored() { [ "$(cat "$cg/cpu.max")" = "max 100000" ] && [ "$(cat "$cg/memory.max")" = max ]; }
no_children() { [ -z "$(find "$cg" -mindepth 1 -type d)" ]; }

t0=$(date +%s)
run_job held
check "held: exit 0, the build passes ($(($(date +%s) - t0)) s)" test "$rc" = 0
check "held: journal status completed, not deviated" \
	jq -e '.status == "completed" and .deviated == false' "$WORK/held/journal.json"
check "held: the cpu and memory faults were in force (journal)" \
	jq -e '[.. | strings | select(test("cpu.max|memory.max"))] | length > 0' "$WORK/held/journal.json"
# the steady state before and after passed in JUnit too; other test cases
# may fail without failing the build: silent failures (CPU throttled,
# pressure) and the records of probes during the squeeze (docs/ci.md)
check "held: JUnit: every steady-state probe before and after passed" bash -c \
	'grep -c "classname=\"steady state \(before\|after\)\"" "$1" | grep -qx 6 &&
	 ! grep -A1 "classname=\"steady state \(before\|after\)\"" "$1" | grep -q "<failure"' _ "$WORK/held/junit.xml"
check "held: cpu.max and memory.max restored, no worker cgroup left" bash -c "$(declare -f restored no_children); cg=$cg; restored && no_children"
check "held: the service still answers" curl -fsS -o /dev/null http://127.0.0.1:8000/

t0=$(date +%s)
# the hog runs in the service's cgroup: give it CPU to grow within the time
run_job deviated HOG=300M MEMORY_MAX=96M CPU_QUOTA=2 FAULT_TIME=10s
check "deviated (hog 300M under a 96M cap): exit 1, the build fails ($(($(date +%s) - t0)) s)" test "$rc" = 1
check "deviated: journal says deviated, the OOM probe failed after" \
	jq -e '.deviated == true and .steady_states.after.steady_state_met == false' "$WORK/deviated/journal.json"
check "deviated: the OOM kill is in memory.events" bash -c 'awk "/^oom_kill /{exit !(\$2 > 0)}" "$1/memory.events"' _ "$cg"
check "deviated: JUnit reports the OOM probe after the faults as failed" bash -c \
	'grep -A1 "classname=\"steady state after\" name=\"no OOM kill" "$1" | grep -q "<failure"' _ "$WORK/deviated/junit.xml"
check "deviated: limits restored, no worker cgroup left" bash -c "$(declare -f restored no_children); cg=$cg; restored && no_children"
check "deviated: the hog was the victim, the service still answers" curl -fsS -o /dev/null http://127.0.0.1:8000/

kill "$SERVICE"
for _ in $(seq 50); do grep -q . "$cg/cgroup.procs" || break; sleep 0.1; done
run_job down
check "service down: exit 1, the build fails" test "$rc" = 1
check "service down: steady state not met before, the method did not run" \
	jq -e '.steady_states.before.steady_state_met == false and (.run | length) == 0' "$WORK/down/journal.json"
check "service down: nothing changed" bash -c "$(declare -f restored no_children); cg=$cg; restored && no_children"

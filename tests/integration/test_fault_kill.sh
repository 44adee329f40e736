# kill and stop: the signal reaches the selected processes only (by name,
# pattern, main, port), --every/--count rounds counted by a process that
# traps the signal, the restart time of a target brought back by a shell
# supervisor (and a target left empty is no failure), in the summary, the
# samples and an experiment's journal; stop: state T while in force,
# running again after; bad input: exit 2 naming the option, nothing done.
. "$(dirname "$0")/lib.sh"

state() { awk '{print $3}' "/proc/$1/stat" 2>/dev/null; } # R, S, T, ... ("" gone)
alive() { [ -n "$(state "$1")" ] && [ "$(state "$1")" != Z ]; }
stopped() { [ "$(state "$1")" = T ]; }
running() { alive "$1" && ! stopped "$1"; }

# ---- selection: three named processes in one cgroup
dir=$(new_cgroup kill-sel)
spawn "$dir" bash -c 'exec -a alpha sleep 1000'; alpha=$SPAWNED
spawn "$dir" bash -c 'exec -a beta-1 sleep 1000'; beta1=$SPAWNED
spawn "$dir" bash -c 'exec -a beta-2 sleep 1000'; beta2=$SPAWNED

"$DURESS" inject kill -t "cgroup:$dir" --process '/^beta-/' --for 1s --dry-run > "$WORK/dry.txt" 2>&1
check "dry run exits 0" [ $? = 0 ]
check "dry run names the matching processes" grep -q "SIGTERM .*$beta1 (sleep), $beta2 (sleep)" "$WORK/dry.txt"
check "dry run signalled nothing" running "$beta1"

"$DURESS" inject kill -t "cgroup:$dir" --process '/^beta-/' --signal KILL --for 1s --baseline 0 -q \
	--summary "$WORK/sel.json" > "$WORK/sel.out" 2>&1
check "kill /^beta-/ exits 0" [ $? = 0 ]
check "beta-1 killed" wait_until 5 bash -c "! kill -0 $beta1"
check "beta-2 killed" wait_until 5 bash -c "! kill -0 $beta2"
check "alpha (not selected) still runs" running "$alpha"
check "summary: 2 signalled with KILL, 2 exited, 1 round" \
	jq -e '.fault == "kill" and .fault_report.signal == "KILL" and .fault_report.signalled == 2 and .fault_report.exited == 2 and .fault_report.rounds == 1' "$WORK/sel.json"

# by name (comm or the command's basename): none is named beta any more
expect_exit "no process matches -> 3" 3 "$DURESS" inject kill -t "cgroup:$dir" --process beta-1 --for 1s --baseline 0 -q
check "message names the selection" grep -q "no process of .* matches beta-1" "$WORK/stderr"
check "alpha untouched by the refused run" running "$alpha"

# ---- --every/--count: a process that counts the USR1 it receives
dir2=$(new_cgroup kill-every)
spawn "$dir2" python3 -c 'import signal, sys, time
def got(s, f):
	with open(sys.argv[1], "a") as log:
		log.write("usr1\n")
signal.signal(signal.SIGUSR1, got)
print("ready", flush=True)
while True:
	time.sleep(10)' "$WORK/usr1.log"
counter=$SPAWNED
wait_ready "$WORK/spawn.$$.out" || fail "counter started" "no ready line"
: > "$WORK/usr1.log"
"$DURESS" inject kill -t "cgroup:$dir2" --signal USR1 --every 300ms --count 3 --for 5s --baseline 0 -q \
	--summary "$WORK/every.json" > "$WORK/every.out" 2>&1
check "--every 300ms --count 3 exits 0" [ $? = 0 ]
check "the main process received USR1 three times" wait_until 5 bash -c "[ \$(wc -l < $WORK/usr1.log) = 3 ]"
echo "  USR1 received: $(wc -l < "$WORK/usr1.log") times"
check "it traps USR1: still runs" running "$counter"
check "summary: 3 rounds, 3 signalled, none exited, no restart" \
	jq -e '.fault_report.rounds == 3 and .fault_report.signalled == 3 and .fault_report.exited == 0 and .fault_report.restart_time == null' "$WORK/every.json" ||
	jq -c .fault_report "$WORK/every.json"

# ---- --port: the listener only
dir3=$(new_cgroup kill-port)
spawn "$dir3" python3 -c 'import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 18093)); s.listen(); print("ready", flush=True); time.sleep(1000)'
listener=$SPAWNED
wait_ready "$WORK/spawn.$$.out" || fail "listener started" "no ready line"
spawn "$dir3" sleep 1000; other=$SPAWNED
"$DURESS" inject kill -t "cgroup:$dir3" --port 18093 --for 1s --baseline 0 -q > /dev/null 2>&1
check "--port 18093 exits 0" [ $? = 0 ]
check "the listener on 18093 is killed" wait_until 5 bash -c "! kill -0 $listener"
check "the other process still runs" running "$other"

# ---- restart: a supervisor (outside the cgroup) brings the target back
# 300 ms after its process ends; and the last process killed is no failure
dir4=$(new_cgroup kill-restart)
(
	while [ ! -e "$WORK/sup.stop" ]; do
		sh -c 'echo $$ > "$0/cgroup.procs" && exec sleep 1000' "$dir4"
		sleep 0.3
	done
) > /dev/null 2>&1 &
sup=$!
disown -h $sup 2>/dev/null
_pids+=("$sup")
wait_until 10 grep -q . "$dir4/cgroup.procs" || fail "supervised process started" "cgroup empty"
first=$(head -n 1 "$dir4/cgroup.procs")
"$DURESS" inject kill -t "cgroup:$dir4" --for 5s --baseline 1s --samples "$WORK/r.jsonl" \
	--summary "$WORK/r.json" > "$WORK/r.out" 2> "$WORK/r.err"
rc=$?
check "kill of a supervised target exits 0 (got $rc)" [ $rc = 0 ] || head -c 300 "$WORK/r.err"
rt=$(jq '.fault_report.restart_time' "$WORK/r.json")
echo "  restart time with a 300 ms supervisor delay: ${rt}s"
check "restart time recorded, not before the supervisor's 300 ms (got $rt)" \
	jq -e '.fault_report.restarts == 1 and .fault_report.restart_time >= 0.29' "$WORK/r.json"
check "a new process runs in the target" bash -c "grep -q . $dir4/cgroup.procs && ! grep -qx $first $dir4/cgroup.procs"
check "the samples carry the restart time" jq -e -s '[.[] | select(.phase == "during") | .kill.restart_time // empty] | length >= 1' "$WORK/r.jsonl"
check "inject prints restart_time" grep -q "restart_time" "$WORK/r.out"

# an experiment: the journal has the restart time and the time until a
# process probe (is the target's sleep running?) passes again
cat > "$WORK/kill.yaml" <<YAML
name: kill the supervised process
steady_state:
  title: a sleep runs in the target
  probes:
    - name: running
      type: process
      path: /bin/grep
      arguments: ["-q", ".", "$dir4/cgroup.procs"]
method:
  - type: action
    name: kill it
    provider: kill
    signal: KILL
    duration: 5s
probe_interval: 100ms
baseline: 1s
recovery_timeout: 5s
YAML
expect_exit "validate: the kill experiment is valid" 0 "$DURESS" validate "$WORK/kill.yaml"
"$DURESS" run "$WORK/kill.yaml" -t "cgroup:$dir4" --journal "$WORK/j.json" > "$WORK/run.out" 2> "$WORK/run.err"
rc=$?
check "kill experiment exits 0 (got $rc)" [ $rc = 0 ] || tail -c 300 "$WORK/run.err"
check "journal: the fault record has restart_time" \
	jq -e '.run[] | select(.output.fault == "kill") | .output.fault_report.restart_time >= 0.29' "$WORK/j.json"
pa=$(jq '.run[] | select(.output.fault == "kill") | .output.probes_pass_again_s' "$WORK/j.json")
echo "  probes pass again after ${pa}s"
check "journal: time until the probes pass again (got $pa)" \
	jq -e '.run[] | select(.output.fault == "kill") | .output.probes_pass_again_s | type == "number" and . > 0' "$WORK/j.json"
touch "$WORK/sup.stop"

# no supervisor: the target stays empty; the run still ends with 0
dir5=$(new_cgroup kill-empty)
spawn "$dir5" sleep 1000; lone=$SPAWNED
"$DURESS" inject kill -t "cgroup:$dir5" --for 2s --baseline 0 -q --summary "$WORK/e.json" > /dev/null 2> "$WORK/e.err"
rc=$?
check "an emptied target is no failure: exit 0 (got $rc)" [ $rc = 0 ] || head -c 300 "$WORK/e.err"
check "its process is gone, no restart" jq -e '.fault_report.exited == 1 and .fault_report.restart_time == null and .in_force_s >= 1.9' "$WORK/e.json"

# the sandbox (no target): main is its workload; the run ends cleanly and
# the sandbox is removed
"$DURESS" inject kill --for 1s --baseline 0 -q --summary "$WORK/sb.json" > /dev/null 2> "$WORK/sb.err"
rc=$?
check "kill in the sandbox: exit 0 (got $rc)" [ $rc = 0 ] || head -c 300 "$WORK/sb.err"
check "kill in the sandbox: its workload got SIGTERM and exited" jq -e '.fault_report.signalled == 1 and .fault_report.exited == 1' "$WORK/sb.json"
check "no sandbox left" bash -c "! ls -d $CG/duress-sandbox-* 2>/dev/null"

# ---- stop: state T while in force, running again after
"$DURESS" inject stop -t "cgroup:$dir" --process alpha --for 10s --baseline 0 -q \
	--summary "$WORK/stop.json" > /dev/null 2> "$WORK/stop.err" &
agent=$!
spawn "$dir" bash -c 'exec -a gamma sleep 1000'; gamma=$SPAWNED
check "stop: alpha in state T while in force" wait_until 10 stopped "$alpha"
check "stop: gamma (not selected) runs" running "$gamma"
kill -TERM $agent; wait $agent; rc=$?
check "stop: SIGTERM -> exit 8 (got $rc)" [ $rc = 8 ]
check "stop: alpha runs again after" running "$alpha"
"$DURESS" inject stop -t "cgroup:$dir" --process all --for 1s --baseline 0 -q --summary "$WORK/stop.json" > /dev/null 2>&1
check "stop --process all: exit 0" [ $? = 0 ]
check "stop: 2 stopped" jq -e '.fault_report.stopped == 2 and .reverted == 2' "$WORK/stop.json"
check "stop: both run again" bash -c "$(declare -f state alive stopped running); running $alpha && running $gamma"

# ---- bad input: exit 2 naming the option, nothing signalled or stopped
expect_exit "--signal FOO -> 2" 2 "$DURESS" inject kill -t "cgroup:$dir" --signal FOO --for 1s
check "message names --signal" grep -q -- '--signal' "$WORK/stderr"
expect_exit "--signal STOP -> 2" 2 "$DURESS" inject kill -t "cgroup:$dir" --signal STOP --for 1s
check "message points to the stop fault" grep -q 'stop fault' "$WORK/stderr"
expect_exit "--count without --every -> 2" 2 "$DURESS" inject kill -t "cgroup:$dir" --count 3 --for 1s
check "message names --count" grep -q -- '--count' "$WORK/stderr"
expect_exit "--process /(/ -> 2" 2 "$DURESS" inject kill -t "cgroup:$dir" --process '/(/' --for 1s
check "message names --process" grep -q -- '--process' "$WORK/stderr"
expect_exit "--port 0 -> 2" 2 "$DURESS" inject stop -t "cgroup:$dir" --port 0 --for 1s
check "message names --port" grep -q -- '--port' "$WORK/stderr"
expect_exit "stop --signal -> 2" 2 "$DURESS" inject stop -t "cgroup:$dir" --signal KILL --for 1s
check "nothing signalled or stopped by the refused runs" bash -c "$(declare -f state alive stopped running); running $alpha && running $gamma"

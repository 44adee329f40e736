# pid:N resolves to the process's cgroup; network counters come from its
# network namespace; a vanished target ends the run cleanly.
. "$(dirname "$0")/lib.sh"

dir=$(new_cgroup pid)
# a process in its own netns, talking to itself over loopback
spawn "$dir" unshare -n sh -c 'ip link set lo up; echo ready; exec ping -i 0.2 -q 127.0.0.1'
wait_ready "$WORK/spawn.$$.out" || fail "pinger started" "no ready line"
sleep 0.3
pid=$(head -n 1 "$dir/cgroup.procs")
"$DURESS" sample -t "pid:$pid" --interval 1s --duration 3s --format jsonl -o "$WORK/s.jsonl"
check "pid target samples (exit 0)" [ $? = 0 ]
check "pids.current counts the process" jq -e -s '.[-1].pids.current == 1' "$WORK/s.jsonl"
rx1=$(head -n 1 "$WORK/s.jsonl" | jq '.net.interfaces.lo.rx_packets')
rx2=$(tail -n 1 "$WORK/s.jsonl" | jq '.net.interfaces.lo.rx_packets')
echo "  lo rx_packets in the target's netns: $rx1 -> $rx2"
check "loopback packets of the target's netns rise ($rx1 -> $rx2)" [ "$rx2" -gt "$rx1" ]
check "lo is not counted in the totals" jq -e -s '.[-1].net.rx_bytes == 0' "$WORK/s.jsonl"

# the target vanishes mid-run: clean end, exit 0, message
"$DURESS" sample -t "cgroup:$dir" --interval 200ms --duration 30s --format jsonl -o "$WORK/v.jsonl" 2> "$WORK/v.err" &
agent=$!
sleep 2
echo 1 > "$dir/cgroup.kill"
for _ in $(seq 50); do grep -q 'populated 0' "$dir/cgroup.events" && break; sleep 0.1; done
rmdir "$dir"
wait $agent
rc=$?
check "vanished target: exit 0 (got $rc)" [ $rc = 0 ]
check "vanished target: message says so" grep -q 'vanished' "$WORK/v.err"
check "vanished target: samples until then are complete JSON" jq -e -s 'length >= 3' "$WORK/v.jsonl"

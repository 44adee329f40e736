# A process holding 100 MiB shows memory.current within 10% of that.
. "$(dirname "$0")/lib.sh"

dir=$(new_cgroup mem)
spawn "$dir" "$HELPERS/memhold" 100
wait_ready "$WORK/spawn.$$.out" || fail "memhold helper started" "no ready line"
"$DURESS" sample -t "cgroup:$dir" --interval 500ms --duration 1s --format jsonl -o "$WORK/s.jsonl"
check "sample exits 0" [ $? = 0 ]
cur=$(tail -n 1 "$WORK/s.jsonl" | jq '.memory.current')
mib=$(awk -v b="$cur" 'BEGIN { printf "%.1f", b / 1048576 }')
echo "  100 MiB holder: memory.current = $mib MiB"
check "memory.current within 10% of 100 MiB (got $mib MiB)" in_range "$mib" 90 110
anon=$(tail -n 1 "$WORK/s.jsonl" | jq '.memory.stat.anon')
check "memory.stat.anon holds the 100 MiB (got $anon)" in_range "$anon" $((95 * 1048576)) $((110 * 1048576))
check "memory.max unlimited reads as \"max\"" jq -e '.memory.max == "max"' <(tail -n 1 "$WORK/s.jsonl")
check "memory.events present and zero" jq -e '.memory.events.oom_kill == 0 and .memory.events.max == 0' <(tail -n 1 "$WORK/s.jsonl")
check "pids.current is 1" jq -e '.pids.current == 1' <(tail -n 1 "$WORK/s.jsonl")
check "PSI present for cpu, memory, io" jq -e '.psi.cpu.some_avg10 >= 0 and .psi.memory.full_total >= 0 and .psi.io.some_total >= 0' <(tail -n 1 "$WORK/s.jsonl")

# A busy loop in a cgroup samples as 85-115% of one CPU.
. "$(dirname "$0")/lib.sh"

dir=$(new_cgroup cpu)
spawn "$dir" "$HELPERS/spin"
out=$WORK/spawn.$$.out
wait_ready "$out" || fail "spin helper started" "no ready line"
"$DURESS" sample -t "cgroup:$dir" --interval 1s --duration 6s --format jsonl -o "$WORK/s.jsonl"
rc=$?
check "sample exits 0" [ $rc = 0 ]
n=$(wc -l < "$WORK/s.jsonl")
check "6-8 samples in 6s at 1s ($n)" in_range "$n" 6 8
first_has=$(head -n 1 "$WORK/s.jsonl" | jq '.cpu | has("usage_pct")')
check "first sample has no CPU rate yet" [ "$first_has" = false ]
avg=$(jq_avg "$WORK/s.jsonl" '.cpu.usage_pct')
echo "  busy loop: ${avg}% of one CPU"
check "busy loop reads 85-115% of one CPU (got $avg)" in_range "$avg" 85 115
# relative path form of the same cgroup, and the throttling fields exist
"$DURESS" sample -t "cgroup:${dir#$CG}" --duration 1s --format jsonl -o "$WORK/r.jsonl"
check "cgroup path relative to the mount" jq -e '.cpu.nr_throttled >= 0 and .cpu.throttled_usec >= 0' "$WORK/r.jsonl"
check "ts is RFC 3339 UTC" jq -e '.ts | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$")' "$WORK/r.jsonl"

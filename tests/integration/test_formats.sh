# CSV and table formats; the sampling cadence is fixed (no drift).
. "$(dirname "$0")/lib.sh"

dir=$(new_cgroup fmt)
spawn "$dir" "$HELPERS/memhold" 8
wait_ready "$WORK/spawn.$$.out"
"$DURESS" sample -t "cgroup:$dir" --interval 250ms --duration 3s --format csv -o "$WORK/s.csv"
check "csv exits 0" [ $? = 0 ]
head -n 1 "$WORK/s.csv" | tr ',' '\n' > "$WORK/cols"
check "csv header has dotted columns" grep -qx 'memory.events.oom_kill' "$WORK/cols"
check "csv header starts with t,ts" bash -c "head -n 1 '$WORK/s.csv' | grep -q '^t,ts,'"
rows=$(($(wc -l < "$WORK/s.csv") - 1))
check "csv: 12-14 rows in 3s at 250ms ($rows)" in_range "$rows" 12 14
ncols=$(wc -l < "$WORK/cols")
check "csv: every row has the header's columns" awk -F, -v n="$ncols" 'NR > 1 && NF != n { exit 1 }' "$WORK/s.csv"
"$DURESS" sample -t "cgroup:$dir" --interval 100ms --duration 5s --format jsonl -o "$WORK/c.jsonl"
last=$(tail -n 1 "$WORK/c.jsonl" | jq '.t')
check "50 samples at 100ms take 4.9 +- 0.3 s, no drift (last t=$last)" in_range "$last" 4.6 5.2
"$DURESS" sample -t "cgroup:$dir" --interval 200ms --duration 1s --format table > "$WORK/table.txt"
check "table exits 0" [ $? = 0 ]
check "table redraws in place (ANSI home+clear)" grep -q $'\033\\[H' "$WORK/table.txt"
check "table shows memory" grep -qi 'mem' "$WORK/table.txt"

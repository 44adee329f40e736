# With no target the agent makes a sandbox with a built-in workload, samples
# it, and removes every trace at exit (end of --duration, SIGTERM, SIGINT).
. "$(dirname "$0")/lib.sh"

"$DURESS" sample --interval 1s --duration 4s --format jsonl -o "$WORK/s.jsonl"
check "sandbox run exits 0" [ $? = 0 ]
check "sandbox workload uses CPU (5-60% of one CPU)" in_range "$(jq_avg "$WORK/s.jsonl" '.cpu.usage_pct')" 5 60
check "sandbox workload holds memory (>= 30 MiB)" jq -e -s '.[-1].memory.current >= 31457280' "$WORK/s.jsonl"
check "sandbox workload writes to disk" jq -e -s '.[-1].io.wbytes > 0' "$WORK/s.jsonl"
check "sandbox workload talks over loopback in its own netns" jq -e -s '.[-1].net.interfaces.lo.rx_bytes > .[0].net.interfaces.lo.rx_bytes' "$WORK/s.jsonl"
check "sandbox removed after the run" bash -c "! ls -d $CG/duress-sandbox-* 2>/dev/null"

for sig in TERM INT; do
	"$DURESS" sample --interval 500ms --format jsonl -o "$WORK/$sig.jsonl" 2> "$WORK/$sig.err" &
	agent=$!
	for _ in $(seq 100); do [ -s "$WORK/$sig.jsonl" ] && break; sleep 0.1; done
	sb=$(ls -d $CG/duress-sandbox-* 2>/dev/null | head -n 1)
	check "sandbox exists while sampling ($sig)" [ -n "$sb" ]
	wpids=$(cat "$sb/cgroup.procs" 2>/dev/null | tr '\n' ' ')
	kill -$sig $agent
	wait $agent
	rc=$?
	check "SIG$sig: exit 0 (got $rc)" [ $rc = 0 ]
	check "SIG$sig: sandbox cgroup removed" [ ! -e "$sb" ]
	alive=0
	for p in $wpids; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
	check "SIG$sig: no workload process left ($alive alive)" [ $alive = 0 ]
done

# Every example experiment in manifests/ also runs, unchanged, against a
# target the test creates (-t): an HTTP server in a network namespace of
# its own; afterwards every file the faults touched is back.  The database
# examples (db-*.yaml) need a database on their port, which this target has
# not: they must be refused before anything changes (exit 4 naming the
# port); test_db_manifests.sh runs the PostgreSQL ones against PostgreSQL.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/experiment_schema.sh"

dir=$(new_cgroup exp-target)
spawn "$dir" unshare -n sh -c 'ip link set lo up && exec "$0" 8080' "$HELPERS/httpd"
wait_ready "$WORK/spawn.$$.out" || fail "workload started" "no ready line"
srv=$SPAWNED
mem_max=$(cat "$dir/memory.max"); cpu_max=$(cat "$dir/cpu.max"); io_max=$(cat "$dir/io.max" 2>/dev/null)

for m in "$TOP"/manifests/*.yaml; do
	n=$(basename "$m" .yaml)
	"$DURESS" run "$m" -t "cgroup:$dir" -q --journal "$WORK/$n.json" > "$WORK/$n.out" 2> "$WORK/$n.err"
	rc=$?
	case $n in db-*)
		check "$n on a target with no database: refused, exit 4 naming the port (exit $rc: $(grep -m1 'duress:' "$WORK/$n.err"))" \
			bash -c "[ $rc = 4 ] && grep -q -e '--port' '$WORK/$n.err'"
		check "$n: the target's limits untouched, no nftables table in its namespace" bash -c \
			"[ \"\$(cat '$dir/memory.max') \$(cat '$dir/cpu.max')\" = '$mem_max $cpu_max' ] && ! nsenter -t $srv -n nft list tables | grep -q duress_"
		continue ;;
	esac
	echo "  $n on $dir: exit $rc: $(jq -c '{verdict: .duress.verdict, recovery: .duress.recovery.probes_s, silent: [.duress.silent_failures[].kind]}' "$WORK/$n.json" 2>/dev/null)"
	if [ $rc = 4 ]; then
		skip "$n on a created target" "unsupported here (exit 4): $(grep -m1 'duress:' "$WORK/$n.err")"
		continue
	fi
	check "$n on a created target: held or deviated (exit $rc; $(tail -n 2 "$WORK/$n.err" | tr '\n' ' '))" bash -c "[ $rc = 0 ] || [ $rc = 1 ]"
	check "$n on a created target: journal validates" jq -e "$SCHEMA and .duress.target.kind == \"cgroup\"" "$WORK/$n.json"
	check "$n: nothing left unreverted" jq -e '(.duress.revert.not_reverted | length) == 0' "$WORK/$n.json"
done
check "memory.max back to '$mem_max'" grep -qx "$mem_max" "$dir/memory.max"
check "cpu.max back to '$cpu_max'" grep -qx "$cpu_max" "$dir/cpu.max"
check "io.max back to its original lines" bash -c "[ \"\$(cat $dir/io.max 2>/dev/null)\" = '$io_max' ]"
check "no qdisc left on the target's lo" bash -c "! nsenter -t $srv -n tc qdisc show dev lo | grep -qE 'netem|prio'"
check "no worker cgroups left" bash -c "! ls -d $dir/duress-* 2>/dev/null"
check "the workload survived" kill -0 "$srv"

# Every example experiment in manifests/ runs against the sandbox with no
# edits: a verdict (held 0 or deviated 1), everything reverted, a journal
# that validates against the documented schema, JUnit XML, no sandbox left.
# The database examples (db-*.yaml: PostgreSQL, and db-mysql-*.yaml:
# MariaDB) need a database in a target (-t; the sandbox has none): they are
# only validated here; test_db_manifests.sh runs the PostgreSQL ones
# against PostgreSQL 15 in a target, with an application, and
# test_db_redirect_mysql.sh the MariaDB one.
# timeout: 600
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/experiment_schema.sh"

for m in "$TOP"/manifests/*.yaml; do
	n=$(basename "$m" .yaml)
	expect_exit "$n: validate exits 0" 0 "$DURESS" validate "$m"
	case $n in db-*) continue ;; esac
	start=$(date +%s)
	"$DURESS" run "$m" -q --journal "$WORK/$n.json" --junit "$WORK/$n.xml" > "$WORK/$n.out" 2> "$WORK/$n.err"
	rc=$?
	echo "  $n: exit $rc in $(( $(date +%s) - start ))s: $(jq -c '{verdict: .duress.verdict, recovery: .duress.recovery.probes_s, pressure: .duress.recovery.pressure_s, silent: [.duress.silent_failures[].kind]}' "$WORK/$n.json" 2>/dev/null)"
	if [ $rc = 4 ]; then
		# "cannot run here" is not a failure, and not a pass either (docs/testing.md)
		skip "$n: runs against the sandbox" "unsupported here (exit 4): $(grep -m1 'duress:' "$WORK/$n.err")"
		continue
	fi
	check "$n: runs to a verdict, held or deviated (exit $rc; $(tail -n 2 "$WORK/$n.err" | tr '\n' ' '))" bash -c "[ $rc = 0 ] || [ $rc = 1 ]"
	check "$n: journal validates against the schema" jq -e "$SCHEMA" "$WORK/$n.json"
	check "$n: journal exit code and verdict match the exit status" jq -e --argjson rc $rc '.duress.exit_code == $rc and ((.duress.verdict == "held") == ($rc == 0))' "$WORK/$n.json"
	check "$n: every fault applied and reverted" jq -e '(.duress.faults | length) >= 1 and .duress.revert.reverted >= 1 and (.duress.revert.not_reverted | length) == 0' "$WORK/$n.json"
	check "$n: JUnit XML has a test suite" grep -q '<testsuite name=' "$WORK/$n.xml"
	check "$n: no sandbox left" bash -c "! ls -d $CG/duress-sandbox-* 2>/dev/null"
done

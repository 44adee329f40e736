# The PostgreSQL example experiments, manifests/db-*.yaml, run for real:
# `duress run -t pid:` against PostgreSQL 15 in a target's cgroup and
# network namespace (net_lib.sh: a veth to the test's namespace; the
# server started once for all of them), with an application in the test's
# namespace (pg_client.py, psycopg2, to 10.9.0.2) doing what each
# hypothesis is about while the fault is in force:
#   - db-deadlocks: the retry loop sees 40P01 on first attempts, completes
#     every transaction, each committed once; the journal counts as many
#     injected errors as the client retried;
#   - db-corrupted-results: a SELECT of a known table returns rows that
#     differ from it, parsed without error; a client on the target's own
#     loopback meanwhile reads the table unchanged (an inbound redirect
#     takes connections that come in, not the target's own: what the
#     examples' probe relies on);
#   - db-migration-failure: a 5-step migration fails at the third with
#     55P03, the server's schema has the first two;
#   - db-pool-exhaustion: the application is refused ("too many
#     clients") while the holder holds max_connections (20), connects
#     again afterwards.
# Each must end "held" (exit 0): its steady-state probe is PostgreSQL
# itself answering on the target's loopback (or the workload's processes),
# which the fault leaves alone, while the application's view (checked
# here) is what the fault changes.  Then: the journal validates against
# the schema, everything reverted, no nftables table, proxy or holder left.
# The manifests run from a copy with `duration:` and `hold:` cut to 10 and
# 8 s (the workload runs within them, started once the fault is in force:
# about 1 s for the longest, the 100 transactions of db-deadlocks, in the
# VM; the test's cost is mostly these durations, 20 and 15 s before),
# and the probe's `timeout:` (5 s) raised to 30 s: in the VM, on
# a loaded host, psql's first start in the target's namespace was seen to
# take more than 5 s (its libraries read over 9p); nothing else changes.
# The MariaDB example (manifests/db-mysql-deadlocks.yaml) runs in
# test_db_redirect_mysql.sh, where MariaDB is.
# timeout: 480
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/net_lib.sh"
. "$(dirname "$0")/experiment_schema.sh"

PGBIN=/usr/lib/postgresql/15/bin
CLIENT=$TOP/tests/integration/pg_client.py
export DURESS_STATE_DIR=$WORK/state
if [ ! -x "$PGBIN/postgres" ] || ! id postgres > /dev/null 2>&1; then
	skip "PostgreSQL 15" "not installed (make deps: postgresql)"
	exit 0
fi
if ! python3 -c 'import psycopg2' 2> /dev/null; then
	skip "psycopg2" "not installed (make deps: python3-psycopg2)"
	exit 0
fi
net_target db || fail "target with its own network namespace" "setup failed"
PGDIR=$WORK/pg
mkdir "$PGDIR" && chmod 711 "$WORK" && chown postgres "$PGDIR"
runuser -u postgres -- "$PGBIN/initdb" -D "$PGDIR/data" -A trust -U postgres --no-sync > "$WORK/initdb.log" 2>&1 ||
	fail "initdb" "$(tail -n 3 "$WORK/initdb.log")"
echo "host all all 0.0.0.0/0 trust" >> "$PGDIR/data/pg_hba.conf"
spawn "$TDIR" nsenter -t "$TPID" -n runuser -u postgres -- "$PGBIN/postgres" -D "$PGDIR/data" -p 5432 \
	-k "$PGDIR" -c listen_addresses='*' -c max_connections=20 -c fsync=off
psqlx() { psql -h 10.9.0.2 -p 5432 -U postgres -X -At --set=connect_timeout=3 "$@"; }
db_up() { psqlx -c 'SELECT 1'; }
check "PostgreSQL answers in the target's namespace (from outside)" wait_until 60 db_up
export PG_CLIENT_HOST=10.9.0.2
app() { python3 "$CLIENT" "$1" 5432 "${@:2}"; }
psqlx -q -c 'CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)' \
	-c 'INSERT INTO accounts SELECT i, 0 FROM generate_series(1, 10) i' \
	-c 'CREATE TABLE items (id int PRIMARY KEY, name text, qty int, price numeric(10,2), active bool)' \
	-c "INSERT INTO items SELECT i, 'item-' || i, i * 3, i * 1.25, i % 2 = 0 FROM generate_series(1, 200) i" ||
	fail "the application's tables" "psql failed"
app rows > "$WORK/rows.want"

timed tns psql -h 127.0.0.1 -U postgres -XAtc 'SELECT 1' > /dev/null
echo "  psql in the target's namespace, on its loopback: exit $rc in $took s"
has_table() { [ "$(tns nft list tables 2>/dev/null | grep -c ' duress_')" = 1 ]; }
no_table() { [ "$(tns nft list tables 2>/dev/null | grep -c ' duress_')" = 0 ]; }
clean() { no_table && not_running duress-postgres duress-conns; }
holding() { pgrep -x duress-conns; }
eq() { [ "$1" = "$2" ]; }
ge() { [ "${1:-0}" -ge "$2" ] 2> /dev/null; }
# the fault's report in the journal
report() { jq -c '[.run[].output.fault_report // empty][0]' "$WORK/$1.json"; }

# start NAME READY: run manifests/NAME.yaml (shortened) on the target in the
# background; returns once READY succeeds (the fault is in force)
start() {
	local n=$1 ready=$2
	sed -e 's/^\([[:space:]]*duration:\) .*/\1 10s/' -e 's/^\([[:space:]]*hold:\) .*/\1 8s/' \
		-e 's/^\([[:space:]]*timeout:\) .*/\1 30s/' \
		"$TOP/manifests/$n.yaml" > "$WORK/$n.yaml"
	: > "$WORK/$n.err"
	bg_start AGENT 60 "$ready" "$WORK/$n.out" "$WORK/$n.err" \
		"$DURESS" run "$WORK/$n.yaml" -t "pid:$TPID" -q --journal "$WORK/$n.json" && return 0
	# why not: the run's end, its steady state before
	bg_stop AGENT INT
	echo "  $n: exit $BG_RC: $(tail -n 5 "$WORK/$n.err" | tr '\n' ' ')"
	jq -c '{before: .steady_states.before, run: [.run[] | {status, exception}]}' "$WORK/$n.json" 2>&1 | head -c 1500
	return 1
}
# finish NAME: wait for the run; the common checks
finish() {
	local n=$1 rc
	wait "$AGENT"
	rc=$?
	AGENT=
	echo "  $n: exit $rc; report $(report "$n")"
	check "$n: held (exit $rc): the steady state (PostgreSQL itself) is untouched ($(tail -n 2 "$WORK/$n.err" | tr '\n' ' '))" \
		[ "$rc" = 0 ]
	check "$n: journal validates against the schema" jq -e "$SCHEMA" "$WORK/$n.json"
	check "$n: journal says held, exit 0" jq -e '.duress.verdict == "held" and .duress.exit_code == 0' "$WORK/$n.json"
	check "$n: every fault applied and reverted" \
		jq -e '(.duress.faults | length) == 1 and .duress.revert.reverted >= 1 and (.duress.revert.not_reverted | length) == 0' "$WORK/$n.json"
	check "$n: no nftables table, proxy or holder left" clean
}

# ---- deadlocks: the retry loop hides them ----
if start db-deadlocks has_table; then
	app deadlock 100 > "$WORK/dl.json"
	echo "  application: $(cat "$WORK/dl.json")"
	finish db-deadlocks
	check "db-deadlocks: the application saw 40P01 on first attempts and retried" \
		jq -e '.deadlock_first >= 1 and .retries >= .deadlock_first' "$WORK/dl.json"
	check "db-deadlocks: every transaction completed, each committed once" \
		jq -e '.completed == 100 and .total == 100 and .other_errors == []' "$WORK/dl.json"
	check "db-deadlocks: the journal counts the errors the client retried" \
		eq "$(report db-deadlocks | jq .postgres.injected.error)" "$(jq .retries "$WORK/dl.json")"
else
	fail "db-deadlocks: in force" "$(tail -n 3 "$WORK/db-deadlocks.err")"
fi

# ---- corrupted results: plausible but wrong rows ----
loop_rows() { tns psql -h 127.0.0.1 -U postgres -XAtc 'SELECT * FROM items ORDER BY id'; }
loop_rows > "$WORK/loop.want"
if start db-corrupted-results has_table; then
	app rows > "$WORK/rows.got"
	loop_rows > "$WORK/loop.got"
	finish db-corrupted-results
	differ=$(jq -n --slurpfile a "$WORK/rows.want" --slurpfile b "$WORK/rows.got" \
		'[range(0; $a[0].rows | length) as $i | select($a[0].rows[$i] != $b[0].rows[$i])] | length')
	echo "  application: ${differ:-?} of 200 rows differ"
	check "db-corrupted-results: the application parsed 200 rows, some of them wrong (${differ:-none})" \
		bash -c '[ "$(jq ".rows | length" "$1")" = 200 ] && [ "${2:-0}" -ge 1 ]' _ "$WORK/rows.got" "${differ:-0}"
	check "db-corrupted-results: the journal counts at least those rows corrupted" \
		ge "$(report db-corrupted-results | jq .postgres.rows_corrupted)" "${differ:-1}"
	check "db-corrupted-results: the target's own loopback client read the table unchanged (not redirected)" \
		cmp -s "$WORK/loop.want" "$WORK/loop.got"
else
	fail "db-corrupted-results: in force" "$(tail -n 3 "$WORK/db-corrupted-results.err")"
fi

# ---- migration failure: fails midway ----
if start db-migration-failure has_table; then
	app migrate > "$WORK/mig.json"
	echo "  application: $(cat "$WORK/mig.json")"
	finish db-migration-failure
	check "db-migration-failure: the migration failed at its third step with 55P03" \
		jq -e '.applied == 2 and .failed_at == 3 and .pgcode == "55P03"' "$WORK/mig.json"
	check "db-migration-failure: the server's schema has the first two steps only" \
		[ "$(psqlx -c "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns WHERE table_name = 'mig_a'")/$(psqlx -c "SELECT count(*) FROM pg_indexes WHERE indexname = 'mig_a_b'")" = "b,id/0" ]
	check "db-migration-failure: the journal counts the failed schema change" \
		eq "$(report db-migration-failure | jq .postgres.injected.fail_ddl)" 1
else
	fail "db-migration-failure: in force" "$(tail -n 3 "$WORK/db-migration-failure.err")"
fi

# ---- pool exhaustion: refused, then back ----
refused() { app connect > "$WORK/conn.json"; grep -q 'too many clients' "$WORK/conn.json"; }
if start db-pool-exhaustion holding; then
	check "db-pool-exhaustion: the application is refused: too many clients" wait_until 20 refused
	finish db-pool-exhaustion
	check "db-pool-exhaustion: the holder held max_connections (20)" \
		eq "$(report db-pool-exhaustion | jq .connections.held)" 20
	check "db-pool-exhaustion: the application connects again after" \
		eq "$(app connect | jq -r .result)" ok
else
	fail "db-pool-exhaustion: in force" "$(tail -n 3 "$WORK/db-pool-exhaustion.err")"
fi

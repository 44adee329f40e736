# needs: no kernel
# The postgres fault through its explicit proxy (--listen/--upstream: no
# target, no redirect, loopback only) and the connections fault from the
# agent's namespace, in front of a real PostgreSQL 15 (Debian's, an
# unprivileged cluster made by the test in its own directory on a loopback
# port, max_connections 30), with real clients (python3-psycopg2 in
# tests/integration/pg_client.py, psql, pgbench):
#   - --deadlock 20 on UPDATEs in transactions: psycopg2 sees 40P01 in
#     20 +/- 3% of 1000 transactions, its retry loop completes all of them
#     (the table's total proves each committed once); pgbench's extended
#     and prepared protocols retry theirs too;
#   - --corrupt-rows 100: rows that differ from the table's and parse;
#   - --fail-ddl --after 2: a migration of 5 fails at the third (55P03),
#     the server's schema shows the first two;
#   - --delay 200ms holds matching statements at least 200 ms, others not;
#   - --too-many-connections, --admin-shutdown, --drop-connection: what
#     psql and psycopg2 see; SSL required: refused, SSL preferred: plain;
#   - connections --until-refused: the holder gets max_connections, the
#     application's next connection gets "too many clients", and connects
#     again once the fault ends; kill -9 of the agent frees them;
#   - bad input: exit 2 naming the option, exit 4 where no database
#     answers; nothing left running;
#   - the manifests (manifests/db-*.yaml) pass `duress validate`.
# timeout: 300
. "$(dirname "$0")/lib.sh"
KIND=postgres
. "$(dirname "$0")/db_lib.sh"

CLIENT=$TOP/tests/integration/pg_client.py
STATE=$WORK/state
if [ ! -x "$PGBIN/postgres" ] || ! "$PY" -c 'import psycopg2' 2> /dev/null || ! command -v pgbench > /dev/null; then
	skip "PostgreSQL 15, pgbench and psycopg2" "not installed (make deps: postgresql, postgresql-contrib, python3-psycopg2)"
	exit 0
fi
DB=$(free_port)
PX=$(free_port)

# ---- an unprivileged cluster of our own ----
pg_cluster || { fail "initdb" "$(tail -n 3 "$WORK/initdb.log")"; exit 1; }
pg_start data "$DB" 127.0.0.1 30 || { fail "PostgreSQL started" "$(tail -n 5 "$PGDIR/data.log")"; exit 1; }
Q=-c
direct() { psql -h 127.0.0.1 -p "$DB" -U postgres -X -q -At "$@"; }
via() { psql -h 127.0.0.1 -p "$PX" -U postgres -X -q -At "$@"; }
direct -c "CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL);
	INSERT INTO accounts SELECT g, 0 FROM generate_series(1, 10) g;
	CREATE TABLE items (id int PRIMARY KEY, name text, qty int, price numeric(10,2), active bool);
	INSERT INTO items SELECT g, 'item-' || g, g * 7, g * 1.25, g % 2 = 0 FROM generate_series(1, 20) g;" ||
	{ fail "tables made"; exit 1; }

# the proxy is up when a query goes through (fault_start), or is refused
proxy_up() { psql -h 127.0.0.1 -p "$PX" -U postgres -X -Atc 'SELECT 1' > /dev/null 2>&1; }
proxy_refuses() { [[ $(psql -h 127.0.0.1 -p "$PX" -U postgres -X -Atc 'SELECT 1' 2>&1) == *'too many clients'* ]]; }

# ---- deadlocks: 20% of the UPDATEs in transactions, 1000 transactions ----
deadlock_checks psycopg2 40P01
# the extended protocol (Parse/Bind/Execute/Sync) and prepared statements
printf 'BEGIN;\nUPDATE accounts SET balance = balance + 1 WHERE id = :id;\nEND;\n' > "$WORK/tx.sql"
for mode in extended prepared; do
	pgbench -h 127.0.0.1 -p "$PX" -U postgres -n -M "$mode" -f "$WORK/tx.sql" -D id=1 -t 100 -c 2 \
		--max-tries=100 postgres > "$WORK/pgbench.$mode" 2>&1
	check "pgbench -M $mode: 200 of 200 transactions, $(awk '/retried:/ {print $5}' "$WORK/pgbench.$mode") retried on 40P01" \
		bash -c 'grep -q "actually processed: 200/200" "$1" && grep -q "failed transactions: 0 " "$1" &&
			awk "/retried:/ {exit !(\$5 > 0)}" "$1"' _ "$WORK/pgbench.$mode"
done
fault_stop
deadlock_counted

# ---- corrupted rows ----
"$PY" "$CLIENT" rows "$DB" > "$WORK/rows.direct"
fault_start --corrupt-rows 100 --match 'from items'
"$PY" "$CLIENT" rows "$PX" > "$WORK/rows.proxy"
ok=$?
fault_stop
check "--corrupt-rows 100: psycopg2 parses the result (exit $ok), 20 rows, same column types" \
	jq -e -n --slurpfile a "$WORK/rows.direct" --slurpfile b "$WORK/rows.proxy" \
	'($b[0].rows | length) == 20 and $a[0].types == $b[0].types'
ndiff=$(rows_differ "$WORK/rows.direct" "$WORK/rows.proxy")
check "... every row differs from the table's ($ndiff of 20)" [ "$ndiff" = 20 ]
check "... the counters say so" jq -e '.fault_report.postgres.rows_corrupted == 20' "$WORK/summary.json"
table_unchanged

# ---- a migration that fails at its third statement ----
fault_start --fail-ddl --after 2
"$PY" "$CLIENT" migrate "$PX" > "$WORK/mig.json"
via -c 'SELECT 1' > /dev/null
fault_stop
check "--fail-ddl --after 2: the migration fails at the third ($(jq -c . "$WORK/mig.json"))" \
	jq -e '.applied == 2 and .failed_at == 3 and .pgcode == "55P03"' "$WORK/mig.json"
check "the schema shows the first two applied" \
	[ "$(direct -c "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns WHERE table_name = 'mig_a'")" = "b,id" ]
check "... and not the rest" \
	[ "$(direct -c "SELECT count(*) FROM pg_class WHERE relname IN ('mig_a_b', 'mig_c')")" = 0 ]

# ---- delay: matching statements held 200 ms, others not ----
delay_checks pg_backend_pid 'SELECT pg_backend_pid()'

# ---- refused connections, administrator shutdown, dropped connections, TLS ----
READY=proxy_refuses fault_start --too-many-connections 100
"$PY" "$CLIENT" connect "$PX" > "$WORK/tm.json"
fault_stop
check "--too-many-connections: psycopg2 gets 53300 at connect ($(jq -r .error "$WORK/tm.json" | head -n 1))" \
	jq -e '.result == "error" and (.error | test("too many clients"))' "$WORK/tm.json"
fault_start --admin-shutdown 100 --match 'pg_backend_pid'
via -c 'SELECT pg_backend_pid()' > /dev/null 2> "$WORK/as.err"
check "--admin-shutdown: psql sees FATAL 57P01 and the connection closed" \
	grep -q 'FATAL:  terminating connection due to administrator command' "$WORK/as.err"
check "... other statements are untouched" [ "$(via -c 'SELECT 41 + 1')" = 42 ]
fault_stop
fault_start --drop-connection 100 --match '^update' --in-transaction
via -c 'BEGIN' -c 'UPDATE accounts SET balance = balance WHERE id = 1' -c 'COMMIT' > /dev/null 2> "$WORK/drop.err"
check "--drop-connection: the connection closes mid-transaction" \
	grep -q 'server closed the connection unexpectedly' "$WORK/drop.err"
check "TLS required: refused (the proxy answers SSLRequest 'N')" \
	bash -c '! psql "sslmode=require host=127.0.0.1 port=$1 user=postgres" -Atc "SELECT 1" 2>&1 | grep -q "^1$"' _ "$PX"
check "TLS preferred: goes on in plain text" \
	bash -c 'psql "sslmode=prefer host=127.0.0.1 port=$1 user=postgres" -Atc "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()" | grep -qx f' _ "$PX"
fault_stop

# ---- connection-pool exhaustion ----
conns_start CONN --port "$DB" --until-refused --for 120s --state-dir "$STATE" --summary "$WORK/csum.json"
check "the holder runs as its own process (duress-conns)" bash -c 'proxy_pids() { pgrep -x duress-conns; }; [ -n "$(proxy_pids)" ]'
"$PY" "$CLIENT" connect "$DB" > "$WORK/app.json"
check "the application's next connection gets 'too many clients' ($(jq -r .error "$WORK/app.json" | tail -n 1))" \
	jq -e '.result == "error" and (.error | test("too many clients"))' "$WORK/app.json"
bg_stop CONN INT
held=$(jq '.fault_report.connections.held' "$WORK/csum.json")
check "--until-refused held $held connections (max_connections 30), then the server refused" \
	jq -e '.fault_report.connections.held == 30 and .fault_report.connections.refused == 1' "$WORK/csum.json"
check "after the fault the application connects again" \
	wait_until 5 bash -c '"$1" "$2" connect "$3" | jq -e ".result == \"ok\""' _ "$PY" "$CLIENT" "$DB"
check "the server shows none of the holder's connections" \
	wait_until 5 bash -c '[ "$(psql -h 127.0.0.1 -p "$1" -U postgres -XAtc "SELECT count(*) FROM pg_stat_activity WHERE application_name = '"'duress-connections'"'")" = 0 ]' _ "$DB"
# kill -9 of the agent: the guardian ends the holder, the server frees them
conns_start CONN --port "$DB" --count 5 --for 120s --state-dir "$STATE"
hp=$(helper_pid duress-conns)
bg_stop CONN KILL
check "kill -9 of the agent: the holder (pid ${hp:-none}) is gone within 1 s" wait_until 1 gone "${hp:-0}"
check "... and the server frees its 5 connections" \
	wait_until 5 bash -c '[ "$(psql -h 127.0.0.1 -p "$1" -U postgres -XAtc "SELECT count(*) FROM pg_stat_activity WHERE application_name = '"'duress-connections'"'")" = 0 ]' _ "$DB"

# ---- bad input ----
expect_exit "--error 00000 (not an error SQLSTATE): exit 2" 2 \
	"$DURESS" inject postgres --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$DB" --error 00000 --for 1s --state-dir "$STATE"
check "... naming --error" grep -q -- "--error '00000': not a PostgreSQL error SQLSTATE" "$WORK/stderr"
refuses_bad_match
expect_exit "--deadlock 101: exit 2" 2 \
	"$DURESS" inject postgres --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$DB" --deadlock 101 --for 1s --state-dir "$STATE"
check "... naming --deadlock" grep -q -- "--deadlock" "$WORK/stderr"
refuses_dead_upstream
expect_exit "connections on a port where no database answers: exit 4" 4 \
	"$DURESS" inject connections --port "$DEAD" --count 3 --for 1s --state-dir "$STATE"
check "... naming --port" grep -q -- "--port: nothing answers on 127.0.0.1:$DEAD" "$WORK/stderr"
expect_exit "connections with neither --count nor --until-refused: exit 2" 2 \
	"$DURESS" inject connections --port "$DB" --for 1s --state-dir "$STATE"
check "... naming both" grep -q -- "--count N or --until-refused" "$WORK/stderr"
nothing_left

# ---- the manifests ----
validate_manifests "$TOP"/manifests/db-*.yaml
sed 's/deadlock: 10$/deadlock: 200/' "$TOP/manifests/db-deadlocks.yaml" > "$WORK/bad.yaml"
expect_exit "duress validate refuses deadlock: 200" 10 "$DURESS" validate "$WORK/bad.yaml"
check "... naming it" grep -q deadlock "$WORK/stderr"

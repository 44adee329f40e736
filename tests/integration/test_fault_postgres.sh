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

PY=/usr/bin/python3
PGBIN=/usr/lib/postgresql/15/bin
CLIENT=$TOP/tests/integration/pg_client.py
STATE=$WORK/state
if [ ! -x "$PGBIN/postgres" ] || ! "$PY" -c 'import psycopg2' 2> /dev/null || ! command -v pgbench > /dev/null; then
	skip "PostgreSQL 15, pgbench and psycopg2" "not installed (make deps: postgresql, postgresql-contrib, python3-psycopg2)"
	exit 0
fi
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
DB=$(free_port)
PX=$(free_port)

# ---- an unprivileged cluster of our own ----
PGDIR=$WORK/pg
mkdir "$PGDIR"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" = 0 ]; then chmod 711 "$WORK" && chown postgres "$PGDIR"; fi
pg_stop() { as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate stop > /dev/null 2>&1; }
trap 'pg_stop; _cleanup' EXIT
as_pg "$PGBIN/initdb" -D "$PGDIR/data" -A trust -U postgres --no-sync > "$WORK/initdb.log" 2>&1 ||
	{ fail "initdb" "$(tail -n 3 "$WORK/initdb.log")"; exit 1; }
as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w -t 30 start \
	-o "-p $DB -k $PGDIR -c listen_addresses=127.0.0.1 -c max_connections=30 -c fsync=off" > /dev/null ||
	{ fail "PostgreSQL started" "$(tail -n 5 "$PGDIR/log")"; exit 1; }
direct() { psql -h 127.0.0.1 -p "$DB" -U postgres -X -q -At "$@"; }
via() { psql -h 127.0.0.1 -p "$PX" -U postgres -X -q -At "$@"; }
direct -c "CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL);
	INSERT INTO accounts SELECT g, 0 FROM generate_series(1, 10) g;
	CREATE TABLE items (id int PRIMARY KEY, name text, qty int, price numeric(10,2), active bool);
	INSERT INTO items SELECT g, 'item-' || g, g * 7, g * 1.25, g % 2 = 0 FROM generate_series(1, 20) g;" ||
	{ fail "tables made"; exit 1; }

# start the fault in the background: ARGS... (its pid in $AGENT); it is up
# when the proxy answers ($READY: a query goes through, or is refused)
proxy_up() { psql -h 127.0.0.1 -p "$PX" -U postgres -X -Atc 'SELECT 1' > /dev/null 2>&1; }
proxy_refuses() { [[ $(psql -h 127.0.0.1 -p "$PX" -U postgres -X -Atc 'SELECT 1' 2>&1) == *'too many clients'* ]]; }
READY=proxy_up
start() {
	: > "$WORK/agent.err"
	bg_start AGENT 20 "$READY" "$WORK/agent.out" "$WORK/agent.err" \
		"$DURESS" inject postgres --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$DB" \
		--for 120s -q --state-dir "$STATE" --summary "$WORK/summary.json" "$@"
}
stop() {
	bg_stop AGENT INT
	[ "$BG_RC" = 8 ] || echo "  agent ended with $BG_RC: $(tail -n 3 "$WORK/agent.err")"
}

# ---- deadlocks: 20% of the UPDATEs in transactions, 1000 transactions ----
# (a fixed seed: one client, one statement at a time, so the same draws
# every run; the rate itself is the generator's)
start --deadlock 20 --match '^[[:space:]]*update' --in-transaction --seed 42
"$PY" "$CLIENT" deadlock "$PX" 1000 > "$WORK/dl.json"
pct=$(jq '.deadlock_first / .transactions * 10000 | round / 100' "$WORK/dl.json")
check "psycopg2 sees 40P01 in $pct% of 1000 transactions (20 +/- 3)" in_range "$pct" 17 23
check "its retry loop completes all 1000 ($(jq -c '{completed, retries, other_errors}' "$WORK/dl.json"))" \
	jq -e '.completed == 1000 and (.other_errors | length) == 0' "$WORK/dl.json"
check "each committed exactly once: the accounts' total is 1000 ($(direct -c 'SELECT sum(balance) FROM accounts'))" \
	[ "$(direct -c 'SELECT sum(balance) FROM accounts')" = 1000 ]
check "... checked through the proxy too" [ "$(via -c 'SELECT sum(balance) FROM accounts')" = 1000 ]
# the extended protocol (Parse/Bind/Execute/Sync) and prepared statements
printf 'BEGIN;\nUPDATE accounts SET balance = balance + 1 WHERE id = :id;\nEND;\n' > "$WORK/tx.sql"
for mode in extended prepared; do
	pgbench -h 127.0.0.1 -p "$PX" -U postgres -n -M "$mode" -f "$WORK/tx.sql" -D id=1 -t 100 -c 2 \
		--max-tries=100 postgres > "$WORK/pgbench.$mode" 2>&1
	check "pgbench -M $mode: 200 of 200 transactions, $(awk '/retried:/ {print $5}' "$WORK/pgbench.$mode") retried on 40P01" \
		bash -c 'grep -q "actually processed: 200/200" "$1" && grep -q "failed transactions: 0 " "$1" &&
			awk "/retried:/ {exit !(\$5 > 0)}" "$1"' _ "$WORK/pgbench.$mode"
done
stop
retries=$(jq .retries "$WORK/dl.json")
check "the summary counts them: postgres.injected.error >= $retries" \
	jq -e --argjson n "$retries" '.fault_report.postgres.injected.error >= $n' "$WORK/summary.json"
check "... and everything reverted" jq -e '.reverted == 1 and (.not_reverted | length) == 0' "$WORK/summary.json"

# ---- corrupted rows ----
"$PY" "$CLIENT" rows "$DB" > "$WORK/rows.direct"
start --corrupt-rows 100 --match 'from items'
"$PY" "$CLIENT" rows "$PX" > "$WORK/rows.proxy"
ok=$?
stop
check "--corrupt-rows 100: psycopg2 parses the result (exit $ok), 20 rows, same column types" \
	jq -e -n --slurpfile a "$WORK/rows.direct" --slurpfile b "$WORK/rows.proxy" \
	'($b[0].rows | length) == 20 and $a[0].types == $b[0].types'
ndiff=$(jq -n --slurpfile a "$WORK/rows.direct" --slurpfile b "$WORK/rows.proxy" \
	'[range(20) as $i | select($a[0].rows[$i] != $b[0].rows[$i])] | length')
check "... every row differs from the table's ($ndiff of 20)" [ "$ndiff" = 20 ]
check "... the counters say so" jq -e '.fault_report.postgres.rows_corrupted == 20' "$WORK/summary.json"
check "the table itself is unchanged" cmp -s <("$PY" "$CLIENT" rows "$DB" | jq -c .rows) <(jq -c .rows "$WORK/rows.direct")

# ---- a migration that fails at its third statement ----
start --fail-ddl --after 2
"$PY" "$CLIENT" migrate "$PX" > "$WORK/mig.json"
via -c 'SELECT 1' > /dev/null
stop
check "--fail-ddl --after 2: the migration fails at the third ($(jq -c . "$WORK/mig.json"))" \
	jq -e '.applied == 2 and .failed_at == 3 and .pgcode == "55P03"' "$WORK/mig.json"
check "the schema shows the first two applied" \
	[ "$(direct -c "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns WHERE table_name = 'mig_a'")" = "b,id" ]
check "... and not the rest" \
	[ "$(direct -c "SELECT count(*) FROM pg_class WHERE relname IN ('mig_a_b', 'mig_c')")" = 0 ]

# ---- delay: matching statements held 200 ms, others not ----
start --delay 200ms --match 'pg_backend_pid'
"$PY" "$CLIENT" time "$PX" 10 'SELECT pg_backend_pid()' > "$WORK/delayed.json"
"$PY" "$CLIENT" time "$PX" 10 'SELECT 1' > "$WORK/plain.json"
stop
added=$(jq -n --slurpfile d "$WORK/delayed.json" --slurpfile p "$WORK/plain.json" \
	'($d[0].ms | sort | .[5]) - ($p[0].ms | sort | .[5]) | . * 10 | round / 10')
check "--delay 200ms: every matching statement took >= 200 ms (median +$added ms)" \
	jq -e '.ms | min >= 200' "$WORK/delayed.json"
check "... and only those: postgres.matched = 10" jq -e '.fault_report.postgres.matched == 10' "$WORK/summary.json"
check "... postgres.injected.delay = 10" jq -e '.fault_report.postgres.injected.delay == 10' "$WORK/summary.json"

# ---- refused connections, administrator shutdown, dropped connections, TLS ----
READY=proxy_refuses start --too-many-connections 100
"$PY" "$CLIENT" connect "$PX" > "$WORK/tm.json"
stop
check "--too-many-connections: psycopg2 gets 53300 at connect ($(jq -r .error "$WORK/tm.json" | head -n 1))" \
	jq -e '.result == "error" and (.error | test("too many clients"))' "$WORK/tm.json"
start --admin-shutdown 100 --match 'pg_backend_pid'
via -c 'SELECT pg_backend_pid()' > /dev/null 2> "$WORK/as.err"
check "--admin-shutdown: psql sees FATAL 57P01 and the connection closed" \
	grep -q 'FATAL:  terminating connection due to administrator command' "$WORK/as.err"
check "... other statements are untouched" [ "$(via -c 'SELECT 41 + 1')" = 42 ]
stop
start --drop-connection 100 --match '^update' --in-transaction
via -c 'BEGIN' -c 'UPDATE accounts SET balance = balance WHERE id = 1' -c 'COMMIT' > /dev/null 2> "$WORK/drop.err"
check "--drop-connection: the connection closes mid-transaction" \
	grep -q 'server closed the connection unexpectedly' "$WORK/drop.err"
check "TLS required: refused (the proxy answers SSLRequest 'N')" \
	bash -c '! psql "sslmode=require host=127.0.0.1 port=$1 user=postgres" -Atc "SELECT 1" 2>&1 | grep -q "^1$"' _ "$PX"
check "TLS preferred: goes on in plain text" \
	bash -c 'psql "sslmode=prefer host=127.0.0.1 port=$1 user=postgres" -Atc "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()" | grep -qx f' _ "$PX"
stop

# ---- connection-pool exhaustion ----
: > "$WORK/conn.err"
holding() { grep -q 'fault in force' "$WORK/conn.err"; }
bg_start CONN 60 holding "$WORK/conn.out" "$WORK/conn.err" \
	"$DURESS" inject connections --port "$DB" --until-refused --for 120s \
	--state-dir "$STATE" --summary "$WORK/csum.json"
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
: > "$WORK/conn.err"
bg_start CONN 60 holding "$WORK/conn.out" "$WORK/conn.err" \
	"$DURESS" inject connections --port "$DB" --count 5 --for 120s --state-dir "$STATE"
hp=$(helper_pid duress-conns)
kill -9 "$CONN"
wait "$CONN" 2> /dev/null
CONN=
gone() { ! [ -e "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
check "kill -9 of the agent: the holder (pid ${hp:-none}) is gone within 1 s" wait_until 1 gone "${hp:-0}"
check "... and the server frees its 5 connections" \
	wait_until 5 bash -c '[ "$(psql -h 127.0.0.1 -p "$1" -U postgres -XAtc "SELECT count(*) FROM pg_stat_activity WHERE application_name = '"'duress-connections'"'")" = 0 ]' _ "$DB"

# ---- bad input ----
expect_exit "--error 00000 (not an error SQLSTATE): exit 2" 2 \
	"$DURESS" inject postgres --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$DB" --error 00000 --for 1s --state-dir "$STATE"
check "... naming --error" grep -q -- "--error '00000': not a PostgreSQL error SQLSTATE" "$WORK/stderr"
expect_exit "--match '(' (a malformed regex): exit 2" 2 \
	"$DURESS" inject postgres --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$DB" --deadlock 5 --match '(' --for 1s --state-dir "$STATE"
check "... naming --match" grep -q -- "--match" "$WORK/stderr"
expect_exit "--deadlock 101: exit 2" 2 \
	"$DURESS" inject postgres --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$DB" --deadlock 101 --for 1s --state-dir "$STATE"
check "... naming --deadlock" grep -q -- "--deadlock" "$WORK/stderr"
DEAD=$(free_port)
expect_exit "a postgres upstream where no database answers: exit 4" 4 \
	"$DURESS" inject postgres --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$DEAD" --deadlock 5 --for 1s --state-dir "$STATE"
check "... naming --upstream" grep -q -- "--upstream 127.0.0.1:$DEAD: nothing answers there" "$WORK/stderr"
expect_exit "connections on a port where no database answers: exit 4" 4 \
	"$DURESS" inject connections --port "$DEAD" --count 3 --for 1s --state-dir "$STATE"
check "... naming --port" grep -q -- "--port: nothing answers on 127.0.0.1:$DEAD" "$WORK/stderr"
expect_exit "connections with neither --count nor --until-refused: exit 2" 2 \
	"$DURESS" inject connections --port "$DB" --for 1s --state-dir "$STATE"
check "... naming both" grep -q -- "--count N or --until-refused" "$WORK/stderr"
check "nothing left running after the refusals" not_running duress-postgres duress-conns
check "no journal left" bash -c '[ -z "$(ls "$1/journal" 2>/dev/null)" ]' _ "$STATE"

# ---- the manifests ----
for m in "$TOP"/manifests/db-*.yaml; do
	check "duress validate $(basename "$m")" "$DURESS" validate "$m"
done
sed 's/deadlock: 10$/deadlock: 200/' "$TOP/manifests/db-deadlocks.yaml" > "$WORK/bad.yaml"
expect_exit "duress validate refuses deadlock: 200" 10 "$DURESS" validate "$WORK/bad.yaml"
check "... naming it" grep -q deadlock "$WORK/stderr"

# needs: no kernel
# The mysql fault through its explicit proxy (--listen/--upstream: no
# target, no redirect, loopback only) and the connections fault with
# --protocol mysql, in front of a real MariaDB (Debian's, a server the test
# makes in its own directory with mariadb-install-db, its own socket and
# loopback port, max_connections 20: whatever daemon the package may have
# started is not used), with real clients (python3-pymysql in
# tests/integration/my_client.py, the mariadb command-line client):
#   - --deadlock 20 on UPDATEs in transactions: pymysql sees 1213 in
#     20 +/- 3% of 1000 transactions, its retry loop completes all of them
#     (the table's total proves each committed once);
#   - --corrupt-rows 100: rows that differ from the table's and parse, in
#     the text protocol (pymysql) and the binary one (COM_STMT_PREPARE and
#     COM_STMT_EXECUTE spoken over pymysql's connection by my_client.py);
#     several result sets of one COM_QUERY (mariadb client) stay in step;
#   - a prepared statement matched on its text (--error 1062);
#   - --fail-ddl --after 2: a migration of 5 fails at the third (1205),
#     the server's schema shows the first two;
#   - --delay 200ms holds matching statements at least 200 ms, others not;
#   - --too-many-connections (1040 at connect), --admin-shutdown (1053 and
#     closed), --drop-connection, --query-canceled (1317): what pymysql and
#     the mariadb client see; unmatched statements and LOAD DATA LOCAL
#     INFILE pass; a client asking for TLS gets TLS, passed through;
#   - connections --protocol mysql --until-refused: the application's next
#     connection gets 1040 and connects again once the fault ends; kill -9
#     of the agent ends the holder and the proxy;
#   - bad input: exit 2 naming the option, exit 4 where no database
#     answers; nothing left running;
#   - the manifests manifests/db-mysql-*.yaml pass `duress validate`.
# timeout: 300
. "$(dirname "$0")/lib.sh"
KIND=mysql
. "$(dirname "$0")/db_lib.sh"

CLIENT=$TOP/tests/integration/my_client.py
STATE=$WORK/state
if ! command -v mariadbd > /dev/null || ! command -v mariadb-install-db > /dev/null ||
	! command -v mariadb > /dev/null || ! "$PY" -c 'import pymysql' 2> /dev/null; then
	skip "MariaDB and pymysql" "not installed (make deps: mariadb-server, mariadb-client, python3-pymysql)"
	exit 0
fi
DB=$(free_port)
PX=$(free_port)

# ---- a server of our own ----
my_install || { fail "mariadb-install-db" "$(tail -n 3 "$WORK/install.log")"; exit 1; }
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=duress-test -days 1 \
	-keyout "$MY/key.pem" -out "$MY/cert.pem" > /dev/null 2>&1
my_start "$DB" 20 --innodb-flush-log-at-trx-commit=0 --local-infile=1 \
	--ssl-cert="$MY/cert.pem" --ssl-key="$MY/key.pem" ||
	{ fail "MariaDB started" "$(tail -n 5 "$MY/err.log")"; exit 1; }
Q=-e
direct() { mariadb --no-defaults -h 127.0.0.1 -P "$DB" -u root -N -B t "$@"; }
# (the mariadb client asks for TLS when the server offers it: then the
# proxy only passes bytes; --skip-ssl keeps it in plain text)
via() { mariadb --no-defaults -h 127.0.0.1 -P "$PX" -u root -N -B --skip-ssl t "$@"; }
mariadb --no-defaults -h 127.0.0.1 -P "$DB" -u root -e "CREATE DATABASE t; USE t;
	CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL) ENGINE=InnoDB;
	INSERT INTO accounts SELECT seq, 0 FROM seq_1_to_10;
	CREATE TABLE items (id int PRIMARY KEY, name varchar(20), qty int, price decimal(10,2),
		w double, b bigint, n int NULL);
	INSERT INTO items SELECT seq, concat('item-', seq), seq * 7, seq * 1.25, seq / 3,
		seq * 1000000, if(seq % 2, NULL, seq) FROM seq_1_to_20;" ||
	{ fail "tables made"; exit 1; }

# the proxy is up when a query goes through (fault_start), or is refused
proxy_up() { via -e 'SELECT 1' > /dev/null 2>&1; }
proxy_refuses() { [[ $(via -e 'SELECT 1' 2>&1) == *'1040'* ]]; }

# ---- deadlocks: 20% of the UPDATEs in transactions, 1000 transactions ----
deadlock_checks pymysql 1213
fault_stop
deadlock_counted

# ---- corrupted rows: text and binary protocol ----
"$PY" "$CLIENT" rows "$DB" > "$WORK/rows.direct"
"$PY" "$CLIENT" binrows "$DB" > "$WORK/bin.direct"
check "the binary protocol client reads what the text one does (direct)" \
	jq -e -n --slurpfile a "$WORK/rows.direct" --slurpfile b "$WORK/bin.direct" \
	'($a[0].rows | map(map(if . == null then . else (tonumber? // .) end))) == ($b[0].rows | map(map(if . == null then . else (tonumber? // .) end)))'
fault_start --corrupt-rows 100 --match 'from items'
"$PY" "$CLIENT" rows "$PX" > "$WORK/rows.proxy"
ok=$?
"$PY" "$CLIENT" binrows "$PX" > "$WORK/bin.proxy"
okb=$?
"$PY" "$CLIENT" multi "$PX" > "$WORK/multi.json"
fault_stop
for proto in rows bin; do
	check "--corrupt-rows 100 ($proto): parsed (exit $ok/$okb), 20 rows, same column types" \
		jq -e -n --slurpfile a "$WORK/$proto.direct" --slurpfile b "$WORK/$proto.proxy" \
		'($b[0].rows | length) == 20 and $a[0].types == $b[0].types'
	ndiff=$(rows_differ "$WORK/$proto.direct" "$WORK/$proto.proxy")
	check "... every row differs from the table's ($ndiff of 20)" [ "$ndiff" = 20 ]
	check "... NULLs stay NULL" jq -e -n --slurpfile a "$WORK/$proto.direct" --slurpfile b "$WORK/$proto.proxy" \
		'[range(20) as $i | range(7) as $j | ($a[0].rows[$i][$j] == null) == ($b[0].rows[$i][$j] == null)] | all'
done
check "... the counters say so (43 rows corrupted: 20 text, 20 binary, 3 of the multi-statement)" \
	jq -e '.fault_report.mysql.rows_corrupted == 43' "$WORK/summary.json"
check "three result sets and an OK in one COM_QUERY (multi-statement): each corrupted, the connection in step after ($(jq -c . "$WORK/multi.json"))" \
	jq -e '(.sets | length) == 3 and .sets[0] != ["1"] and .sets[1] != ["42"] and .sets[2] != ["item-2"] and .after == 42' "$WORK/multi.json"
table_unchanged

# ---- a prepared statement matched on its text; unmatched ones untouched ----
fault_start --error 1062 --match 'from items'
"$PY" "$CLIENT" binrows "$PX" > "$WORK/bin.err"
check "--error 1062: the prepared statement's COM_STMT_EXECUTE gets 1062 ($(jq -c . "$WORK/bin.err"))" \
	jq -e '.error == 1062' "$WORK/bin.err"
check "unmatched statements pass untouched" [ "$(via -e 'SELECT sum(balance) FROM accounts')" = 1000 ]
printf '1\tone\n2\ttwo\n' > "$WORK/infile.tsv"
via --local-infile=1 -e "CREATE TEMPORARY TABLE li (id int, s varchar(9));
	LOAD DATA LOCAL INFILE '$WORK/infile.tsv' INTO TABLE li; SELECT group_concat(s ORDER BY id) FROM li" > "$WORK/li.out" 2>&1
check "LOAD DATA LOCAL INFILE passes through the proxy ($(cat "$WORK/li.out"))" [ "$(cat "$WORK/li.out")" = "one,two" ]
via --ssl -e "SHOW STATUS LIKE 'Ssl_cipher'; SELECT id FROM items WHERE id = 3" > "$WORK/tls.out" 2>&1
check "a client asking for TLS gets it, passed through untouched ($(tr '\n\t' '  ' < "$WORK/tls.out"))" \
	bash -c 'grep -q "^Ssl_cipher[[:space:]]\+[A-Z]" "$1" && grep -qx 3 "$1"' _ "$WORK/tls.out"
fault_stop

# ---- a migration that fails at its third statement ----
fault_start --fail-ddl --after 2
"$PY" "$CLIENT" migrate "$PX" > "$WORK/mig.json"
fault_stop
check "--fail-ddl --after 2: the migration fails at the third ($(jq -c . "$WORK/mig.json"))" \
	jq -e '.applied == 2 and .failed_at == 3 and .errno == 1205' "$WORK/mig.json"
check "the schema shows the first two applied" \
	[ "$(direct -e "SELECT group_concat(column_name ORDER BY column_name) FROM information_schema.columns WHERE table_schema = 't' AND table_name = 'mig_a'")" = "b,id" ]
check "... and not the rest" \
	[ "$(direct -e "SELECT count(*) FROM information_schema.statistics WHERE table_schema = 't' AND index_name = 'mig_a_b'")$(direct -e "SELECT count(*) FROM information_schema.tables WHERE table_schema = 't' AND table_name = 'mig_c'")" = 00 ]

# ---- delay: matching statements held 200 ms, others not ----
delay_checks connection_id 'SELECT connection_id()'

# ---- refused connections, shutdown, dropped connections, cancels ----
READY=proxy_refuses fault_start --too-many-connections 100
"$PY" "$CLIENT" connect "$PX" > "$WORK/tm.json"
via -e 'SELECT 1' > /dev/null 2> "$WORK/tm.err"
fault_stop
check "--too-many-connections: pymysql gets 1040 at connect ($(jq -c . "$WORK/tm.json"))" \
	jq -e '.result == "error" and .errno == 1040' "$WORK/tm.json"
check "... the mariadb client too ($(tail -n 1 "$WORK/tm.err"))" grep -q '1040.*Too many connections' "$WORK/tm.err"
fault_start --admin-shutdown 100 --match 'connection_id'
via -e 'SELECT 41 + 1; SELECT connection_id(); SELECT 43' > "$WORK/as.out" 2> "$WORK/as.err"
check "--admin-shutdown: the mariadb client sees 1053 and stops there" \
	bash -c 'grep -q "ERROR 1053 (08S01).*Server shutdown in progress" "$1" && [ "$(cat "$2")" = 42 ]' _ "$WORK/as.err" "$WORK/as.out"
fault_stop
fault_start --drop-connection 100 --match '^update' --in-transaction
via -e 'BEGIN; UPDATE accounts SET balance = balance WHERE id = 1; COMMIT' > /dev/null 2> "$WORK/drop.err"
check "--drop-connection: the connection closes mid-transaction ($(tail -n 1 "$WORK/drop.err"))" \
	grep -q 'ERROR 2013.*Lost connection' "$WORK/drop.err"
via -e 'UPDATE accounts SET balance = balance WHERE id = 1' 2> "$WORK/auto.err"
check "--in-transaction: an UPDATE with autocommit on is untouched" [ ! -s "$WORK/auto.err" ]
via -e 'SET autocommit = 0; UPDATE accounts SET balance = balance WHERE id = 1' 2> "$WORK/ac0.err"
check "... with autocommit off it is in a transaction: dropped" grep -q 'ERROR 2013.*Lost connection' "$WORK/ac0.err"
fault_stop
fault_start --query-canceled 100 --match 'sleep'
via -e 'SELECT sleep(0)' > /dev/null 2> "$WORK/qc.err"
check "--query-canceled: 1317 ($(tail -n 1 "$WORK/qc.err"))" \
	grep -q 'ERROR 1317 (70100).*Query execution was interrupted' "$WORK/qc.err"
# kill -9 of the agent: the guardian ends the proxy
hp=$(helper_pid duress-mysql)
bg_stop AGENT KILL
check "kill -9 of the agent: the proxy (pid ${hp:-none}) is gone" wait_until 5 gone "${hp:-0}"
check "... the server is reached directly as before" [ "$(direct -e 'SELECT 41 + 1')" = 42 ]
"$DURESS" recover --state-dir "$STATE" > /dev/null 2>&1

# ---- connection-pool exhaustion ----
conns_start CONN --protocol mysql --port "$DB" --until-refused --for 120s \
	--state-dir "$STATE" --summary "$WORK/csum.json"
"$PY" "$CLIENT" connect "$DB" > "$WORK/app.json"
check "the application's next connection gets 1040 ($(jq -c . "$WORK/app.json"))" \
	jq -e '.result == "error" and .errno == 1040' "$WORK/app.json"
bg_stop CONN INT
held=$(jq '.fault_report.connections.held' "$WORK/csum.json")
check "--until-refused held $held connections (max_connections 20, one more for SUPER), then the server refused" \
	jq -e '.fault_report.connections.held >= 20 and .fault_report.connections.refused == 1' "$WORK/csum.json"
check "after the fault the application connects again" \
	wait_until 5 bash -c '"$1" "$2" connect "$3" | jq -e ".result == \"ok\""' _ "$PY" "$CLIENT" "$DB"
conns_start CONN --protocol mysql --port "$DB" --count 5 --for 120s --state-dir "$STATE"
held_now() { [ "$(direct -e "SELECT count(*) FROM information_schema.processlist WHERE user = 'root'")" = "$1" ]; }
check "--count 5: the server counts 5 more connections" wait_until 5 held_now 6
hp=$(helper_pid duress-conns)
bg_stop CONN KILL
check "kill -9 of the agent: the holder (pid ${hp:-none}) is gone" wait_until 5 gone "${hp:-0}"
check "... and the server frees its 5 connections" wait_until 5 held_now 1
"$DURESS" recover --state-dir "$STATE" > /dev/null 2>&1

# ---- bad input ----
expect_exit "--error 2013 (a client error number): exit 2" 2 \
	"$DURESS" inject mysql --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$DB" --error 2013 --for 1s --state-dir "$STATE"
check "... naming --error" grep -q -- "--error '2013': not a MySQL server error number" "$WORK/stderr"
expect_exit "--serialization-failure: exit 2" 2 \
	"$DURESS" inject mysql --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$DB" --serialization-failure 5 --for 1s --state-dir "$STATE"
check "... saying why" grep -q -- "--serialization-failure: MySQL has no serialization failure error" "$WORK/stderr"
refuses_bad_match
refuses_dead_upstream
expect_exit "connections --protocol mysql with --password: exit 2" 2 \
	"$DURESS" inject connections --protocol mysql --port "$DB" --count 1 --password x --for 1s --state-dir "$STATE"
check "... naming --password" grep -q -- "--password" "$WORK/stderr"
nothing_left

# ---- the manifests ----
validate_manifests "$TOP"/manifests/db-mysql-*.yaml

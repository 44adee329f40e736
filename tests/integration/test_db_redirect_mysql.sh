# The mysql and connections faults where the kernel matters (protocol
# logic is test_fault_mysql, on the host): MariaDB runs in a target's
# cgroup and network namespace (net_lib.sh: veth to the test's namespace),
# the mariadb client outside, as a user without SUPER.
#   - mysql, transparent inbound on 3306: the client outside sees the
#     injected 1213, statements that do not match pass; the table is
#     duress's own and gone afterwards; kill -9 of the agent: the table gone
#     within 1 s, the proxy process too;
#   - connections -t --protocol mysql --until-refused: the holder runs in
#     the target's namespace, the client outside gets 1040, then connects
#     again once the fault ends;
#   - the example experiment manifests/db-mysql-deadlocks.yaml with -t, as
#     test_db_manifests.sh runs the PostgreSQL ones: an application outside
#     (my_client.py, pymysql) meets 1213 and retries to completion.
# timeout: 300
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/net_lib.sh"
. "$(dirname "$0")/experiment_schema.sh"
KIND=mysql
. "$(dirname "$0")/db_lib.sh"

export DURESS_STATE_DIR=$WORK/state
if ! command -v mariadbd > /dev/null || ! command -v mariadb-install-db > /dev/null; then
	skip "MariaDB" "not installed (make deps: mariadb-server, mariadb-client)"
	exit 0
fi
net_target db || fail "target with its own network namespace" "setup failed"
my_install || fail "mariadb-install-db" "$(tail -n 3 "$WORK/install.log")"
my_start_in_target 3306 20
local_sql() { mariadb --no-defaults --socket="$MY/sock" -u root -N -B "$@"; }
check "MariaDB answers in the target's namespace (socket)" wait_until 60 local_sql -e 'SELECT 1'
local_sql -e "CREATE USER 'app'@'%'; GRANT SELECT, PROCESS ON *.* TO 'app'@'%'"
myx() { mariadb --no-defaults -h 10.9.0.2 -P 3306 -u app --skip-ssl --connect-timeout=3 -N -B "$@"; }
sql() { myx -e "$1"; }
db_up() { myx -e 'SELECT 1'; }
check "... and from outside, as app" wait_until 10 db_up

# ---- mysql, transparent inbound ----
inject_t --port 3306 --deadlock 100 --match 'connection_id' || fail "mysql inbound applied" "$(tail -n 3 "$WORK/agent.err")"
myx -e 'SELECT connection_id()' > /dev/null 2> "$WORK/dl.err"
check "inbound: the client outside sees 1213 ($(tail -n 1 "$WORK/dl.err"))" \
	grep -q 'ERROR 1213 (40001).*Deadlock found' "$WORK/dl.err"
inbound_rest 3306 'SELECT connection_id() > 0' 1
inject_t --port 3306 --deadlock 100 --match 'connection_id' || fail "mysql applied again"
hp=$(pgrep -x duress-mysql | head -n 1)
bg_stop AGENT KILL
check "kill -9 during mysql: the table gone within 1 s" wait_until 1 no_table
check "... and the proxy (pid ${hp:-none}) ended within 1 s too" wait_until 1 ended "${hp:-0}"
check "... straight to the server" wait_until 2 bash -c '[ "$(mariadb --no-defaults -h 10.9.0.2 -u app --skip-ssl -N -B -e "SELECT connection_id() > 0")" = 1 ]'

# ---- connections from the target's namespace ----
conns_start AGENT -t "pid:$TPID" --protocol mysql --port 3306 --until-refused \
	--baseline 0 --summary "$WORK/csum.json" --for 300s || fail "connections applied" "$(tail -n 3 "$WORK/conn.err")"
holder_in_target
myx -e 'SELECT 1' > /dev/null 2> "$WORK/refused.err"
check "a client outside is refused: 1040 ($(tail -n 1 "$WORK/refused.err"))" grep -q '1040.*Too many connections' "$WORK/refused.err"
bg_stop AGENT INT
check "the holder held max_connections (20, and one for SUPER)" jq -e '.fault_report.connections.held >= 20' "$WORK/csum.json"
holder_gone

# ---- the example experiment, manifests/db-mysql-deadlocks.yaml ----
# From a copy with duration 10 s (the 100 transactions take about 1 s)
# and the probe's timeout 30 s (the mariadb client's first start in the VM
# reads its libraries over 9p).  It must
# hold: its probe is MariaDB on the target's own loopback, which an inbound
# redirect does not take; the application outside meets the 1213s.
local_sql -e "CREATE DATABASE t; USE t; CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL) ENGINE=InnoDB;
	INSERT INTO accounts SELECT seq, 0 FROM seq_1_to_10; CREATE USER 'rw'@'%'; GRANT ALL ON t.* TO 'rw'@'%'" ||
	fail "the application's table and user" "mariadb failed"
sed -e 's/^\([[:space:]]*duration:\) .*/\1 10s/' -e 's/^\([[:space:]]*timeout:\) .*/\1 30s/' \
	"$TOP/manifests/db-mysql-deadlocks.yaml" > "$WORK/dm.yaml"
: > "$WORK/dm.err"
if bg_start AGENT 60 has_table "$WORK/dm.out" "$WORK/dm.err" \
	"$DURESS" run "$WORK/dm.yaml" -t "pid:$TPID" -q --journal "$WORK/dm.json"; then
	MY_CLIENT_HOST=10.9.0.2 MY_CLIENT_USER=rw python3 "$TOP/tests/integration/my_client.py" deadlock 3306 100 \
		> "$WORK/dm-app.json"
	echo "  application: $(cat "$WORK/dm-app.json")"
	wait "$AGENT"
	rc=$?
	AGENT=
	check "db-mysql-deadlocks: held (exit $rc: $(tail -n 2 "$WORK/dm.err" | tr '\n' ' '))" [ "$rc" = 0 ]
	check "db-mysql-deadlocks: journal validates against the schema" jq -e "$SCHEMA" "$WORK/dm.json"
	check "db-mysql-deadlocks: every fault applied and reverted" \
		jq -e '(.duress.faults | length) == 1 and .duress.revert.reverted >= 1 and (.duress.revert.not_reverted | length) == 0' "$WORK/dm.json"
	check "db-mysql-deadlocks: the application met 1213 and retried, all 100 committed once" \
		jq -e '.deadlock_first >= 1 and .completed == 100 and .total == 100 and .other_errors == []' "$WORK/dm-app.json"
	check "db-mysql-deadlocks: the journal counts the errors the client retried" \
		[ "$(jq -c '[.run[].output.fault_report // empty][0].mysql.injected.error' "$WORK/dm.json")" = "$(jq .retries "$WORK/dm-app.json")" ]
	check "db-mysql-deadlocks: no table, no proxy left" clean
else
	fail "db-mysql-deadlocks: in force" "$(tail -n 3 "$WORK/dm.err")"
fi

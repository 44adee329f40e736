# The mysql fault's proxy with no statement matching, side by side with a
# direct connection, HAProxy in tcp mode (the peer's hop, one thread) and
# the tcp fault's proxy (duress's hop, bytes not looked into), in front of
# the same MariaDB (Debian's, a server of our own on loopback), under the
# same sysbench load, in one run:
# - transactions a second of oltp_point_select (one query a transaction:
#   the hop's cost per round trip) and oltp_read_only (14 queries, ranges of
#   100 rows), with prepared statements (the binary protocol) and without
#   (text), the redo log not flushed at commit (all CPU: the hop's worst case);
# - one client's point select: what each hop adds, in us;
# - oltp_write_only with durable commits (innodb_flush_log_at_trx_commit=1,
#   MariaDB's default): what an application that commits pays.
# Rounds alternate between the ways so drifting load hits all alike.
# Needs no cgroup v2 (explicit proxy on loopback): runs in the VM under
# `make bench`, or directly: BUILD=build bash tests/bench/bench_mysql.sh
. "$(dirname "$0")/hoplib.sh"
build=${BUILD:-build}
duress=$(cd "$(dirname "$build/duress")" && pwd)/duress
SECS=${BENCH_MY_SECONDS:-5}
ROUNDS=${BENCH_MY_ROUNDS:-3}
CLIENTS=${BENCH_MY_CLIENTS:-4}
command -v mariadbd > /dev/null && command -v sysbench > /dev/null && command -v haproxy > /dev/null ||
	{ echo "  MariaDB / sysbench / haproxy missing (make deps)"; exit 1; }
D=$(mktemp -d /tmp/duress-bench-my.XXXXXX)
agent= tagent= db= bench_haproxy_pid=
db_stop() { [ -n "$db" ] && kill -9 "$db" 2>/dev/null && wait "$db" 2>/dev/null; db=; }
cleanup() {
	for a in $agent $tagent; do kill -INT "$a" 2>/dev/null && wait "$a" 2>/dev/null; done
	bench_haproxy_stop
	db_stop
	rm -rf "$D"
}
trap cleanup EXIT
DB=$(bench_port) PX=$(bench_port) TX=$(bench_port) HX=$(bench_port)
asuser=()
[ "$(id -u)" = 0 ] && asuser=(--user=root)
mariadb-install-db --no-defaults --datadir="$D/data" "${asuser[@]}" --skip-test-db \
	--auth-root-authentication-method=normal > /dev/null 2>&1 || { echo "  mariadb-install-db failed"; exit 1; }
up() { mariadb --no-defaults -h 127.0.0.1 -P "$1" -u root --skip-ssl -e 'SELECT 1' > /dev/null 2>&1; }
# db_start FLUSH: the server, its redo log flushed at every commit (1) or not (0)
db_start() {
	mariadbd --no-defaults --datadir="$D/data" "${asuser[@]}" --socket="$D/sock" --port="$DB" \
		--bind-address=127.0.0.1 --skip-networking=0 --skip-log-bin --skip-name-resolve \
		--innodb-buffer-pool-size=64M --innodb-flush-log-at-trx-commit="$1" --log-error="$D/err.log" > /dev/null 2>&1 &
	db=$!
	for _ in $(seq 600); do up "$DB" && break; sleep 0.05; done
	up "$DB" || { echo "  MariaDB did not start"; exit 1; }
}
db_start 0
mariadb --no-defaults -h 127.0.0.1 -P "$DB" -u root -e 'CREATE DATABASE sbtest'
sb() {
	local p=$1; shift
	sysbench "$@" --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$p" --mysql-user=root \
		--mysql-db=sbtest --tables=1 --table-size=10000
}
sb "$DB" oltp_read_only prepare > /dev/null 2>&1 || { echo "  sysbench prepare failed"; exit 1; }
"$duress" inject mysql --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$DB" --for 1h -q \
	--state-dir "$D/state" --deadlock 1 --match 'never matches this' > "$D/agent.out" 2>&1 &
agent=$!
"$duress" inject tcp --listen "127.0.0.1:$TX" --upstream "127.0.0.1:$DB" --for 1h -q \
	--state-dir "$D/state" --reset --percent 0 > "$D/tagent.out" 2>&1 &
tagent=$!
bench_haproxy_tcp "$D" "$HX" "$DB"
for p in "$HX" "$TX" "$PX"; do for _ in $(seq 200); do up "$p" && break; sleep 0.05; done; done
WAYS=("$DB" "$HX" "$TX" "$PX")
# tps THREADS PORT WORKLOAD PSMODE: sysbench's transactions a second
tps() {
	sb "$2" "$3" run --threads="$1" --time="$SECS" --db-ps-mode="$4" 2>/dev/null |
		awk '/transactions:/ {gsub(/\(/, "", $3); printf "%.0f", $3}'
}
echo "  sysbench, $CLIENTS threads, ${SECS}s x $ROUNDS rounds each, alternating; tps (mean of rounds); load average $(bench_load)"
bench_header 30 haproxy tcp mysql
for w in "oltp_point_select auto" "oltp_point_select disable" "oltp_read_only auto" "oltp_read_only disable"; do
	set -- $w
	# shellcheck disable=SC2046
	bench_row 30 "$1 $([ "$2" = auto ] && echo prepared || echo text)" $(bench_means "$CLIENTS" "$1" "$2")
done
echo "  one thread, point select prepared: a transaction directly, and what each hop adds"
printf "  %-30s %9s      %9s      %9s      %9s\n" "" direct haproxy tcp mysql
# shellcheck disable=SC2046
bench_us_row 30 "round trip" $(bench_means 1 oltp_point_select auto)
db_stop
db_start 1
echo "  durable commits (innodb_flush_log_at_trx_commit=1), $CLIENTS threads"
# shellcheck disable=SC2046
bench_row 30 "oltp_write_only prepared, durable" $(bench_means "$CLIENTS" oltp_write_only auto)
echo "  load average at the end $(bench_load)"

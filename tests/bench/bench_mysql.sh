# The mysql fault's proxy with no statement matching, side by side with a
# direct connection and the tcp fault's proxy (the same hop, bytes not
# looked into), in front of the same MariaDB (Debian's, a server of our own
# on loopback), under the same sysbench load, in one run: transactions a
# second of oltp_point_select (one query per transaction: the proxy's
# per-packet cost) and oltp_read_only (14 queries, ranges of 100 rows), with
# prepared statements (the binary protocol) and without (text).  Rounds
# alternate direct/proxies so drifting load hits all alike.
# Needs no cgroup v2 (explicit proxy on loopback): runs in the VM under
# `make bench`, or directly: BUILD=build bash tests/bench/bench_mysql.sh
build=${BUILD:-build}
duress=$(cd "$(dirname "$build/duress")" && pwd)/duress
PY=/usr/bin/python3
SECS=${BENCH_MY_SECONDS:-5}
ROUNDS=${BENCH_MY_ROUNDS:-3}
CLIENTS=${BENCH_MY_CLIENTS:-4}
command -v mariadbd > /dev/null && command -v sysbench > /dev/null ||
	{ echo "  MariaDB / sysbench missing (make deps)"; exit 1; }
D=$(mktemp -d /tmp/duress-bench-my.XXXXXX)
agent= tagent= db=
cleanup() {
	for a in $agent $tagent; do kill -INT "$a" 2>/dev/null && wait "$a" 2>/dev/null; done
	[ -n "$db" ] && kill -9 "$db" 2>/dev/null && wait "$db" 2>/dev/null
	rm -rf "$D"
}
trap cleanup EXIT
port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
DB=$(port) PX=$(port) TX=$(port)
asuser=()
[ "$(id -u)" = 0 ] && asuser=(--user=root)
mariadb-install-db --no-defaults --datadir="$D/data" "${asuser[@]}" --skip-test-db \
	--auth-root-authentication-method=normal > /dev/null 2>&1 || { echo "  mariadb-install-db failed"; exit 1; }
mariadbd --no-defaults --datadir="$D/data" "${asuser[@]}" --socket="$D/sock" --port="$DB" \
	--bind-address=127.0.0.1 --skip-networking=0 --skip-log-bin --skip-name-resolve \
	--innodb-buffer-pool-size=64M --innodb-flush-log-at-trx-commit=0 --log-error="$D/err.log" > /dev/null 2>&1 &
db=$!
up() { mariadb --no-defaults -h 127.0.0.1 -P "$1" -u root --skip-ssl -e 'SELECT 1' > /dev/null 2>&1; }
for _ in $(seq 600); do up "$DB" && break; sleep 0.05; done
up "$DB" || { echo "  MariaDB did not start"; exit 1; }
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
for p in "$TX" "$PX"; do for _ in $(seq 200); do up "$p" && break; sleep 0.05; done; done
# tps PORT WORKLOAD PSMODE: sysbench's transactions a second
tps() {
	sb "$1" "$2" run --threads="$CLIENTS" --time="$SECS" --db-ps-mode="$3" 2>/dev/null |
		awk '/transactions:/ {gsub(/\(/, "", $3); printf "%.0f", $3}'
}
echo "  sysbench, $CLIENTS threads, ${SECS}s x $ROUNDS rounds each, alternating; tps (mean of rounds)"
printf "  %-28s %8s %8s %8s %8s %8s\n" workload direct tcp ratio mysql ratio
for w in "oltp_point_select auto" "oltp_point_select disable" "oltp_read_only auto" "oltp_read_only disable"; do
	set -- $w
	sd=0 sp=0 st=0
	for _ in $(seq "$ROUNDS"); do
		sd=$((sd + $(tps "$DB" "$1" "$2"))) st=$((st + $(tps "$TX" "$1" "$2"))) sp=$((sp + $(tps "$PX" "$1" "$2")))
	done
	name="$1 $([ "$2" = auto ] && echo prepared || echo text)"
	awk -v n="$name" -v a="$((sd / ROUNDS))" -v t="$((st / ROUNDS))" -v b="$((sp / ROUNDS))" \
		'BEGIN { printf "  %-28s %8d %8d %8.2f %8d %8.2f\n", n, a, t, a ? t / a : 0, b, a ? b / a : 0 }'
done

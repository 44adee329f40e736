# The postgres fault's proxy with no statement matching, side by side with
# a direct connection, HAProxy in tcp mode (the peer's hop, one thread) and
# the tcp fault's proxy (duress's hop, bytes not looked into), in front of
# the same PostgreSQL 15 (Debian's, a cluster of our own on loopback),
# under the same pgbench load, in one run:
# - transactions a second of pgbench's select-only script (-S, one query a
#   transaction: the hop's cost per round trip) and its TPC-B-like script
#   (five statements in a transaction), simple and extended protocol, with
#   fsync off (all CPU: the hop's worst case);
# - one client's select-only round trip: what each hop adds, in us;
# - a statement with work in it (the sum over a range of 10,000 accounts,
#   about 1.5 ms of the server's CPU): where a fixed cost per round
#   trip shrinks to a tenth;
# - durable commits (fsync and synchronous_commit on, PostgreSQL's
#   defaults) of pgbench's simple-update script (-N: an account updated, read
#   back, a history row inserted; no hot teller or branch row, so no lock
#   queue to lengthen): what an application that commits pays.
# Rounds alternate between the ways so drifting load hits all alike.
# Needs no cgroup v2 (explicit proxy on loopback): runs in the VM under
# `make bench`, or directly: BUILD=build bash tests/bench/bench_postgres.sh
. "$(dirname "$0")/hoplib.sh"
build=${BUILD:-build}
duress=$(cd "$(dirname "$build/duress")" && pwd)/duress
PGBIN=/usr/lib/postgresql/15/bin
SECS=${BENCH_PG_SECONDS:-5}
ROUNDS=${BENCH_PG_ROUNDS:-3}
CLIENTS=${BENCH_PG_CLIENTS:-4}
[ -x "$PGBIN/postgres" ] && command -v pgbench > /dev/null && command -v haproxy > /dev/null ||
	{ echo "  PostgreSQL 15 / pgbench / haproxy missing (make deps)"; exit 1; }
D=$(mktemp -d /tmp/duress-bench-pg.XXXXXX)
agent= tagent= bench_haproxy_pid=
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
	for a in $agent $tagent; do kill -INT "$a" 2>/dev/null && wait "$a" 2>/dev/null; done
	bench_haproxy_stop
	as_pg "$PGBIN/pg_ctl" -D "$D/pg/data" -m immediate stop > /dev/null 2>&1
	rm -rf "$D"
}
trap cleanup EXIT
DB=$(bench_port) PX=$(bench_port) TX=$(bench_port) HX=$(bench_port)
mkdir "$D/pg"
[ "$(id -u)" = 0 ] && chmod 711 "$D" && chown postgres "$D/pg"
as_pg "$PGBIN/initdb" -D "$D/pg/data" -A trust -U postgres --no-sync > /dev/null 2>&1 || { echo "  initdb failed"; exit 1; }
# pg_start on|off: the cluster, with durable commits or without
pg_start() {
	as_pg "$PGBIN/pg_ctl" -D "$D/pg/data" -l "$D/pg/log" -w -t 30 start -o "-p $DB -k $D/pg \
		-c listen_addresses=127.0.0.1 -c fsync=$1 -c synchronous_commit=$1" > /dev/null ||
		{ echo "  PostgreSQL did not start"; exit 1; }
}
pg_start off
pgbench -h 127.0.0.1 -p "$DB" -U postgres -i -s 2 -q postgres > /dev/null 2>&1
"$duress" inject postgres --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$DB" --for 1h -q \
	--state-dir "$D/state" --deadlock 1 --match 'never matches this' > "$D/agent.out" 2>&1 &
agent=$!
# the same hop without looking into the bytes: the tcp fault on no connection
"$duress" inject tcp --listen "127.0.0.1:$TX" --upstream "127.0.0.1:$DB" --for 1h -q \
	--state-dir "$D/state" --reset --percent 0 > "$D/tagent.out" 2>&1 &
tagent=$!
bench_haproxy_tcp "$D" "$HX" "$DB"
for p in "$HX" "$TX" "$PX"; do
	for _ in $(seq 200); do psql -h 127.0.0.1 -p "$p" -U postgres -XAtc 'SELECT 1' > /dev/null 2>&1 && break; sleep 0.05; done
done
WAYS=("$DB" "$HX" "$TX" "$PX")
# tps CLIENTS PORT ARGS...: pgbench's transactions a second
tps() {
	local c=$1 p=$2; shift 2
	pgbench -h 127.0.0.1 -p "$p" -U postgres -n -c "$c" -j "$((c < 2 ? c : 2))" -T "$SECS" "$@" postgres 2>/dev/null |
		awk '/^tps/ {printf "%.0f", $3}'
}
echo "  pgbench, $CLIENTS clients, ${SECS}s x $ROUNDS rounds each, alternating; tps (mean of rounds); load average $(bench_load)"
bench_header 26 haproxy tcp postgres
for w in "-S -M simple" "-S -M extended" "-M simple" "-M extended"; do
	name=$([[ $w == -S* ]] && echo "select-only" || echo "tpcb-like")" ${w##*-M }"
	# shellcheck disable=SC2086,SC2046
	bench_row 26 "$name" $(bench_means "$CLIENTS" $w)
done
echo "  one client, select-only simple: a transaction directly, and what each hop adds"
printf "  %-26s %9s      %9s      %9s      %9s\n" "" direct haproxy tcp postgres
# shellcheck disable=SC2046
bench_us_row 26 "round trip" $(bench_means 1 -S -M simple)
printf '\\set a random(1, 190000)\nSELECT sum(abalance) FROM pgbench_accounts WHERE aid BETWEEN :a AND :a + 9999;\n' > "$D/range.sql"
echo "  a statement with work in it (a sum over 10,000 rows), $CLIENTS clients"
# shellcheck disable=SC2046
bench_row 26 "range sum" $(bench_means "$CLIENTS" -f "$D/range.sql" -M simple)
as_pg "$PGBIN/pg_ctl" -D "$D/pg/data" -m fast -w stop > /dev/null
pg_start on
for p in "${WAYS[@]}"; do
	for _ in $(seq 200); do psql -h 127.0.0.1 -p "$p" -U postgres -XAtc 'SELECT 1' > /dev/null 2>&1 && break; sleep 0.05; done
done
echo "  durable commits (fsync, synchronous_commit on), $CLIENTS clients"
# shellcheck disable=SC2046
bench_row 26 "simple-update, durable" $(bench_means "$CLIENTS" -N -M simple)
echo "  load average at the end $(bench_load)"

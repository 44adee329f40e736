# The postgres fault's proxy with no statement matching, side by side with
# a direct connection and the tcp fault's proxy (the same hop, bytes not
# looked into), in front of the same PostgreSQL 15 (Debian's, a
# cluster of our own on loopback), under the same pgbench load, in one run:
# transactions a second of pgbench's select-only script (-S, one query per
# transaction: the proxy's per-message cost) and its TPC-B-like script (five
# statements in a transaction), with the simple and the extended protocol.
# Rounds alternate direct/proxy so drifting load hits both alike.
# Needs no cgroup v2 (explicit proxy on loopback): runs in the VM under
# `make bench`, or directly: BUILD=build bash tests/bench/bench_postgres.sh
build=${BUILD:-build}
duress=$(cd "$(dirname "$build/duress")" && pwd)/duress
PGBIN=/usr/lib/postgresql/15/bin
PY=/usr/bin/python3
SECS=${BENCH_PG_SECONDS:-5}
ROUNDS=${BENCH_PG_ROUNDS:-3}
CLIENTS=${BENCH_PG_CLIENTS:-4}
[ -x "$PGBIN/postgres" ] && command -v pgbench > /dev/null || { echo "  PostgreSQL 15 / pgbench missing (make deps)"; exit 1; }
D=$(mktemp -d /tmp/duress-bench-pg.XXXXXX)
agent= tagent=
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
	for a in $agent $tagent; do kill -INT "$a" 2>/dev/null && wait "$a" 2>/dev/null; done
	as_pg "$PGBIN/pg_ctl" -D "$D/pg/data" -m immediate stop > /dev/null 2>&1
	rm -rf "$D"
}
trap cleanup EXIT
port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
DB=$(port) PX=$(port) TX=$(port)
mkdir "$D/pg"
[ "$(id -u)" = 0 ] && chmod 711 "$D" && chown postgres "$D/pg"
as_pg "$PGBIN/initdb" -D "$D/pg/data" -A trust -U postgres --no-sync > /dev/null 2>&1 || { echo "  initdb failed"; exit 1; }
as_pg "$PGBIN/pg_ctl" -D "$D/pg/data" -l "$D/pg/log" -w -t 30 start \
	-o "-p $DB -k $D/pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off" > /dev/null ||
	{ echo "  PostgreSQL did not start"; exit 1; }
pgbench -h 127.0.0.1 -p "$DB" -U postgres -i -s 2 -q postgres > /dev/null 2>&1
"$duress" inject postgres --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$DB" --for 1h -q \
	--state-dir "$D/state" --deadlock 1 --match 'never matches this' > "$D/agent.out" 2>&1 &
agent=$!
# the same hop without looking into the bytes: the tcp fault on no connection
"$duress" inject tcp --listen "127.0.0.1:$TX" --upstream "127.0.0.1:$DB" --for 1h -q \
	--state-dir "$D/state" --reset --percent 0 > "$D/tagent.out" 2>&1 &
tagent=$!
for _ in $(seq 200); do psql -h 127.0.0.1 -p "$TX" -U postgres -XAtc 'SELECT 1' > /dev/null 2>&1 && break; sleep 0.05; done
for _ in $(seq 200); do psql -h 127.0.0.1 -p "$PX" -U postgres -XAtc 'SELECT 1' > /dev/null 2>&1 && break; sleep 0.05; done
# tps PORT ARGS...: pgbench's transactions a second
tps() {
	local p=$1; shift
	pgbench -h 127.0.0.1 -p "$p" -U postgres -n -c "$CLIENTS" -j 2 -T "$SECS" "$@" postgres 2>/dev/null |
		awk '/^tps/ {printf "%.0f", $3}'
}
echo "  pgbench, $CLIENTS clients, ${SECS}s x $ROUNDS rounds each, alternating; tps (mean of rounds)"
printf "  %-24s %8s %8s %8s %12s %8s\n" workload direct tcp ratio postgres ratio
for w in "-S -M simple" "-S -M extended" "-M simple" "-M extended"; do
	sd=0 sp=0 st=0
	for _ in $(seq "$ROUNDS"); do
		# shellcheck disable=SC2086
		sd=$((sd + $(tps "$DB" $w))) st=$((st + $(tps "$TX" $w))) sp=$((sp + $(tps "$PX" $w)))
	done
	name=$([[ $w == -S* ]] && echo "select-only" || echo "tpcb-like")" ${w##*-M }"
	awk -v n="$name" -v a="$((sd / ROUNDS))" -v t="$((st / ROUNDS))" -v b="$((sp / ROUNDS))" \
		'BEGIN { printf "  %-24s %8d %8d %8.2f %12d %8.2f\n", n, a, t, a ? t / a : 0, b, a ? b / a : 0 }'
done

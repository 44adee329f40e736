# kill -9 of the agent during the database faults, as a series: PostgreSQL
# 15 and MariaDB run in a target's cgroup and network namespace (the
# integration tests' fixture: lib.sh, net_lib.sh), and for each of the
# postgres and mysql faults (transparent, inbound) and the connections
# fault (holding 5 of PostgreSQL's connections) the agent is SIGKILLed
# once its fault is in force, BENCH_KILL_RUNS times (20).  Measured from
# the kill: the helper process ended (lib.sh's `ended`, polled every 20
# ms), and by watchers started before it (killwatch.py, polling every 10
# ms) duress's nftables table gone from the target's namespace and the
# server back to its own state (a new client's statement answered by the
# server, not the fault; for connections, the server counting no held
# connection).  The pass/fail checks (within 1 s) are
# test_db_redirect*.sh's; this is the series.  has_table is db_lib.sh's.
# Needs cgroup v2 and nftables: runs in the VM under `make bench`.
RESULTS=$(mktemp -d /tmp/duress-bench-kill.XXXXXX)
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/integration/lib.sh"
. "$TOP/tests/integration/net_lib.sh"
. "$TOP/tests/integration/db_lib.sh"
RUNS=${BENCH_KILL_RUNS:-20}
export DURESS_STATE_DIR=$WORK/state
[ -x "$PGBIN/postgres" ] && command -v mariadbd > /dev/null ||
	{ echo "  PostgreSQL 15 / MariaDB missing (make deps)"; exit 1; }
trap '_db_cleanup; rm -rf "$RESULTS"' EXIT
net_target killdb > /dev/null || { echo "  target with its own network namespace: setup failed"; exit 1; }
pg_cluster || { echo "  initdb failed"; exit 1; }
echo "host all all 0.0.0.0/0 trust" >> "$PGDIR/data/pg_hba.conf"
pg_start_in_target 5432 20
my_install || { echo "  mariadb-install-db failed"; exit 1; }
my_start_in_target 3306 20
psqlx() { psql -h 10.9.0.2 -p 5432 -U postgres -X -At --set=connect_timeout=3 "$@"; }
pg_up() { [ "$(psqlx -c 'SELECT 1')" = 1 ]; }
local_sql() { mariadb --no-defaults --socket="$MY/sock" -u root -N -B "$@"; }
wait_until 60 pg_up && wait_until 60 local_sql -e 'SELECT 1' || { echo "  the servers did not start"; exit 1; }
local_sql -e "CREATE USER 'app'@'%'; GRANT SELECT ON *.* TO 'app'@'%'"
my_up() { [ "$(mariadb --no-defaults -h 10.9.0.2 -P 3306 -u app --skip-ssl --connect-timeout=3 -N -B -e 'SELECT 1')" = 1 ]; }
wait_until 10 my_up || { echo "  MariaDB does not answer from outside"; exit 1; }
holding() { grep -q 'fault in force' "$WORK/agent.err"; }

# since T0 COMMAND...: seconds from T0 (an $EPOCHREALTIME) until COMMAND
# succeeds, polled every 20 ms; 9.99 if not within 10 s
since() {
	local t0=$1 end=$(( ${1/./} + 10000000 )); shift
	until "$@" > /dev/null 2>&1; do
		[ "${EPOCHREALTIME/./}" -ge "$end" ] && { echo 9.99; return; }
		sleep 0.02
	done
	awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f\n", b - a }'
}
# stats FILE: "mean median max" of the numbers in FILE
stats() { sort -n "$1" | awk '{ s += $1; v[NR] = $1 } END { printf "%6.3f %6.3f %6.3f", s / NR, v[int((NR + 1) / 2)], v[NR] }'; }

# watcher N ARGS...: killwatch.py ARGS in the background, fed the kill's
# time on descriptor 6+N, answering in $WORK/w.N; returns once it is ready
watcher() {
	local n=$1; shift
	rm -f "$WORK/w.$n" "$WORK/f.$n"
	mkfifo "$WORK/f.$n"
	"$@" < "$WORK/f.$n" > "$WORK/w.$n" 2>&1 &
	eval "exec $((6 + n))> \"\$WORK/f.\$n\""
	wait_until 30 grep -q ready "$WORK/w.$n"
}
KW=$TOP/tests/bench/killwatch.py

# series NAME HELPER READY BACK FAULT ARGS...: RUNS kills, the three times
# (BACK: killwatch.py's arguments after its kind; no table for a fault
# that makes none: connections)
series() {
	local name=$1 helper=$2 ready=$3 back=$4 hp t0 i tables; shift 4
	: > "$WORK/p"; : > "$WORK/t"; : > "$WORK/b"
	for i in $(seq "$RUNS"); do
		: > "$WORK/agent.err"
		bg_start AGENT 60 "$ready" "$WORK/agent.out" "$WORK/agent.err" \
			"$DURESS" inject "$@" -t "pid:$TPID" --baseline 0 --for 300s ||
			{ echo "  $name: run $i did not start"; return 1; }
		hp=$(helper_pid "$helper")
		# shellcheck disable=SC2086
		watcher 1 tns /usr/bin/python3 "$KW" table && watcher 2 /usr/bin/python3 "$KW" $back ||
			{ echo "  $name: the watchers did not start: $(cat "$WORK"/w.*)"; return 1; }
		t0=$EPOCHREALTIME
		kill -9 "$AGENT"
		echo "$t0" >&7; echo "$t0" >&8
		exec 7>&- 8>&-
		since "$t0" ended "${hp:-0}" >> "$WORK/p"
		wait "$AGENT" 2> /dev/null; AGENT=
		wait_until 15 bash -c '[ "$(wc -l < "$1/w.1")" -ge 2 ] && [ "$(wc -l < "$1/w.2")" -ge 2 ]' _ "$WORK"
		tail -n 1 "$WORK/w.1" >> "$WORK/t"
		tail -n 1 "$WORK/w.2" >> "$WORK/b"
		# the guardian's revert done before the next run
		wait_until 10 bash -c '! pgrep -f "duress __guardian" > /dev/null'
	done
	tables=$(stats "$WORK/t")
	[ "$1" = connections ] && tables=$(printf "%20s" "(none made)")
	printf "  %-34s %s   %s   %s\n" "$name" "$(stats "$WORK/p")" "$tables" "$(stats "$WORK/b")"
}
echo "  kill -9 of the agent, $RUNS runs each: seconds from the kill (mean, median, max)"
printf "  %-34s %-20s   %-20s   %s\n" fault "helper ended" "no nftables table" "server back"
# the faults fail SELECT 1: "back" is a new connection whose SELECT 1 the
# server answers
series "postgres (transparent, inbound)" duress-postgres has_table "pg 10.9.0.2 5432" \
	postgres -q --port 5432 --deadlock 100 --match 'SELECT 1'
series "mysql (transparent, inbound)" duress-mysql has_table "my 10.9.0.2 3306 app" \
	mysql -q --port 3306 --deadlock 100 --match 'SELECT 1'
series "connections (5 held, postgres)" duress-conns holding "pgfree 10.9.0.2 5432" \
	connections --port 5432 --count 5

# What the database tests share (test_fault_postgres.sh, test_fault_mysql.sh
# on the host; test_db_redirect.sh, test_db_redirect_mysql.sh in the VM;
# sourced after lib.sh, and after net_lib.sh where there is a target):
# a server of the test's own, PostgreSQL 15 (a cluster in $PGDIR) or
# MariaDB (a data directory in $MY), started on a loopback or outside
# address or inside the target's cgroup and network namespace, waited for,
# and stopped at exit; the faults started against it; the checks the two
# databases share.  $KIND is the fault (postgres or mysql), set before.
PY=/usr/bin/python3
PGBIN=/usr/lib/postgresql/15/bin
PGDIR=$WORK/pg
MY=$WORK/my
_db_pg=()
_db_pids=()

# free_port: a TCP port nothing listens on now
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# gone PID: no such process, or a zombie
gone() { ! [ -e "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

# the servers started outside a target's cgroup are stopped here, before
# lib.sh's (or net_lib.sh's) cleanup
_db_next=_cleanup
declare -F _net_cleanup > /dev/null && _db_next=_net_cleanup
_db_cleanup() {
	local d p
	for d in "${_db_pg[@]}"; do pg_stop "$d" > /dev/null 2>&1; done
	for p in "${_db_pids[@]}"; do kill -9 "$p" 2> /dev/null && wait "$p" 2> /dev/null; done
	"$_db_next"
}
trap _db_cleanup EXIT

# ---- PostgreSQL 15 ----
# as_pg COMMAND...: as the user postgres when the test runs as root
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# pg_cluster: a cluster in $PGDIR/data (trust, superuser postgres), $PGDIR
# the postgres user's when the test runs as root; initdb's output in
# $WORK/initdb.log
pg_cluster() {
	mkdir "$PGDIR" || return 1
	if [ "$(id -u)" = 0 ]; then chmod 711 "$WORK" && chown postgres "$PGDIR" || return 1; fi
	as_pg "$PGBIN/initdb" -D "$PGDIR/data" -A trust -U postgres --no-sync > "$WORK/initdb.log" 2>&1
}

# pg_start DATA PORT ADDRESSES MAX_CONNECTIONS: the cluster $PGDIR/DATA
# started by pg_ctl (its log $PGDIR/DATA.log) in the test's namespace,
# waited for until it takes connections; stopped at exit
pg_start() {
	_db_pg+=("$1")
	as_pg "$PGBIN/pg_ctl" -D "$PGDIR/$1" -l "$PGDIR/$1.log" -w -t 60 -s start \
		-o "-p $2 -k $PGDIR -c listen_addresses=$3 -c max_connections=$4 -c fsync=off"
}

# pg_stop DATA: the cluster $PGDIR/DATA stopped (immediate)
pg_stop() { as_pg "$PGBIN/pg_ctl" -D "$PGDIR/$1" -s -m immediate stop; }

# pg_start_in_target PORT MAX_CONNECTIONS: $PGDIR/data in the target's
# cgroup and network namespace (net_lib.sh: $TDIR, $TPID), on all its
# addresses; it ends with the target's cgroup.  Not waited for.
pg_start_in_target() {
	spawn "$TDIR" nsenter -t "$TPID" -n runuser -u postgres -- "$PGBIN/postgres" -D "$PGDIR/data" \
		-p "$1" -k "$PGDIR" -c listen_addresses='*' -c max_connections="$2" -c fsync=off
}

# ---- MariaDB ----
_my_user=()
[ "$(id -u)" = 0 ] && _my_user=(--user=root)
# my_install: a data directory in $MY/data (root logs in without a
# password, no test database); the output in $WORK/install.log
my_install() {
	mkdir -p "$MY" &&
		mariadb-install-db --no-defaults --datadir="$MY/data" "${_my_user[@]}" --skip-test-db \
			--auth-root-authentication-method=normal > "$WORK/install.log" 2>&1
}

# _my_cmd PORT MAX_CONNECTIONS [OPTION...]: mariadbd's command line for
# $MY/data (its socket $MY/sock, its errors in $MY/err.log) in the array MYD
_my_cmd() {
	local port=$1 max=$2
	shift 2
	MYD=(mariadbd --no-defaults --datadir="$MY/data" "${_my_user[@]}" --socket="$MY/sock" --port="$port"
		--skip-networking=0 --skip-name-resolve --skip-log-bin --max-connections="$max"
		--innodb-buffer-pool-size=16M --log-error="$MY/err.log" "$@")
}

# my_start PORT MAX_CONNECTIONS [OPTION...]: mariadbd on 127.0.0.1 in the
# background (its pid in $MYPID; killed at exit), waited for up to 30 s
# until root gets an answer
my_start() {
	_my_cmd "$@" --bind-address=127.0.0.1 --pid-file="$MY/pid"
	"${MYD[@]}" > /dev/null 2>&1 &
	MYPID=$!
	_db_pids+=("$MYPID")
	wait_until 30 --while "$MYPID" mariadb --no-defaults -h 127.0.0.1 -P "$1" -u root -e 'SELECT 1'
}

# my_start_in_target PORT MAX_CONNECTIONS: in the target's cgroup and
# network namespace, on all its addresses; it ends with the target's
# cgroup.  Not waited for.
my_start_in_target() {
	_my_cmd "$1" "$2"
	spawn "$TDIR" nsenter -t "$TPID" -n "${MYD[@]}"
}

# ---- the faults ----
# fault_start ARGS...: duress inject $KIND as an explicit proxy,
# 127.0.0.1:$PX in front of the server on 127.0.0.1:$DB, in the background
# (its pid in $AGENT, its summary $WORK/summary.json); it is up once $READY
# succeeds (the test's proxy_up, a query goes through, unless it says
# otherwise: READY=proxy_refuses fault_start ...)
READY=proxy_up
fault_start() {
	: > "$WORK/agent.err"
	bg_start AGENT 20 "$READY" "$WORK/agent.out" "$WORK/agent.err" \
		"$DURESS" inject "$KIND" --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$DB" \
		--for 120s -q --state-dir "$STATE" --summary "$WORK/summary.json" "$@"
}
# fault_stop: SIGINT, as a user ends it: exit 8 (ended early)
fault_stop() {
	bg_stop AGENT INT
	[ "$BG_RC" = 8 ] || echo "  agent ended with $BG_RC: $(tail -n 3 "$WORK/agent.err")"
}

# conns_start VAR ARGS...: duress inject connections ARGS in the background
# (its pid in $VAR, its errors in $WORK/conn.err); 0 once it holds them
holding() { grep -q 'fault in force' "$WORK/conn.err"; }
conns_start() {
	local var=$1
	shift
	: > "$WORK/conn.err"
	bg_start "$var" 60 holding "$WORK/conn.out" "$WORK/conn.err" "$DURESS" inject connections "$@"
}

# ---- checks both databases share (host: the explicit proxy) ----
# The test defines direct and via (its command-line client straight to the
# server, and through the proxy) and sets Q to the client's option that
# runs one statement (psql -c, mariadb -e); CLIENT is its Python client
# (pg_client.py, my_client.py).

# deadlock_checks CLIENT_LIB ERROR: --deadlock 20 on UPDATEs in
# transactions, a fixed seed (one client, one statement at a time: the same
# draws every run; the rate itself is the generator's); the client's 1000
# transactions meet ERROR in 20 +/- 3% of them, its retry loop completes
# all, each committed once.  The fault is left running: fault_stop, then
# deadlock_counted.
deadlock_checks() {
	local pct
	fault_start --deadlock 20 --match '^[[:space:]]*update' --in-transaction --seed 42
	"$PY" "$CLIENT" deadlock "$PX" 1000 > "$WORK/dl.json"
	pct=$(jq '.deadlock_first / .transactions * 10000 | round / 100' "$WORK/dl.json")
	check "$1 sees $2 in $pct% of 1000 transactions (20 +/- 3)" in_range "$pct" 17 23
	check "its retry loop completes all 1000 ($(jq -c '{completed, retries, other_errors}' "$WORK/dl.json"))" \
		jq -e '.completed == 1000 and (.other_errors | length) == 0' "$WORK/dl.json"
	check "each committed exactly once: the accounts' total is 1000 ($(direct "$Q" 'SELECT sum(balance) FROM accounts'))" \
		[ "$(direct "$Q" 'SELECT sum(balance) FROM accounts')" = 1000 ]
	check "... checked through the proxy too" [ "$(via "$Q" 'SELECT sum(balance) FROM accounts')" = 1000 ]
}
# deadlock_counted: the summary counts the errors the client retried
deadlock_counted() {
	local retries
	retries=$(jq .retries "$WORK/dl.json")
	check "the summary counts them: $KIND.injected.error >= $retries" \
		jq -e --argjson n "$retries" ".fault_report.$KIND.injected.error >= \$n" "$WORK/summary.json"
	check "... and everything reverted" jq -e '.reverted == 1 and (.not_reverted | length) == 0' "$WORK/summary.json"
}

# rows_differ A B: in how many of the 20 rows the client's JSON files A and
# B differ
rows_differ() {
	jq -n --slurpfile a "$1" --slurpfile b "$2" \
		'[range(20) as $i | select($a[0].rows[$i] != $b[0].rows[$i])] | length'
}
# table_unchanged: the rows the server has are those of $WORK/rows.direct
table_unchanged() {
	check "the table itself is unchanged" cmp -s <("$PY" "$CLIENT" rows "$DB" | jq -c .rows) <(jq -c .rows "$WORK/rows.direct")
}

# delay_checks MATCH SQL: --delay 200ms --match MATCH holds SQL at least
# 200 ms, and only it
delay_checks() {
	local added
	fault_start --delay 200ms --match "$1"
	"$PY" "$CLIENT" time "$PX" 10 "$2" > "$WORK/delayed.json"
	"$PY" "$CLIENT" time "$PX" 10 'SELECT 1' > "$WORK/plain.json"
	fault_stop
	added=$(jq -n --slurpfile d "$WORK/delayed.json" --slurpfile p "$WORK/plain.json" \
		'($d[0].ms | sort | .[5]) - ($p[0].ms | sort | .[5]) | . * 10 | round / 10')
	check "--delay 200ms: every matching statement took >= 200 ms (median +$added ms)" \
		jq -e '.ms | min >= 200' "$WORK/delayed.json"
	check "... and only those: $KIND.matched = 10" jq -e ".fault_report.$KIND.matched == 10" "$WORK/summary.json"
	check "... $KIND.injected.delay = 10" jq -e ".fault_report.$KIND.injected.delay == 10" "$WORK/summary.json"
}

# refuses_bad_match: a malformed --match, exit 2 naming it
refuses_bad_match() {
	expect_exit "--match '(' (a malformed regex): exit 2" 2 \
		"$DURESS" inject "$KIND" --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$DB" --deadlock 5 --match '(' --for 1s --state-dir "$STATE"
	check "... naming --match" grep -q -- "--match" "$WORK/stderr"
}
# refuses_dead_upstream: an upstream where no database answers (port
# $DEAD), exit 4 naming it
refuses_dead_upstream() {
	DEAD=$(free_port)
	expect_exit "a $KIND upstream where no database answers: exit 4" 4 \
		"$DURESS" inject "$KIND" --listen "127.0.0.1:$PX" --upstream "127.0.0.1:$DEAD" --deadlock 5 --for 1s --state-dir "$STATE"
	check "... naming --upstream" grep -q -- "--upstream 127.0.0.1:$DEAD: nothing answers there" "$WORK/stderr"
}
# nothing_left: after the refusals, no proxy, no holder, no journal
nothing_left() {
	check "nothing left running after the refusals" not_running "duress-$KIND" duress-conns
	check "no journal left" bash -c '[ -z "$(ls "$1/journal" 2>/dev/null)" ]' _ "$STATE"
}

# validate_manifests FILE...: each passes duress validate
validate_manifests() {
	local m
	for m in "$@"; do
		check "duress validate $(basename "$m")" "$DURESS" validate "$m"
	done
}

# ---- checks both databases share (VM: the server in a target) ----
# The test defines sql (its command-line client from outside, one
# statement, to the target's address) and db_up.
tables() { tns nft list tables 2>/dev/null | grep -c ' duress_' ; }
no_table() { [ "$(tables)" = 0 ]; }
has_table() { [ "$(tables)" = 1 ]; }
clean() { no_table && not_running "duress-$KIND" duress-conns; }

# inject_t ARGS...: duress inject $KIND on the target, transparent, in the
# background (its pid in $AGENT, its summary $WORK/summary.json); 0 once
# its table is in the target's namespace
inject_t() {
	: > "$WORK/agent.err"
	bg_start AGENT 60 has_table "$WORK/agent.out" "$WORK/agent.err" \
		"$DURESS" inject "$KIND" -t "pid:$TPID" --baseline 0 -q \
		--summary "$WORK/summary.json" --for 300s "$@"
}

# inbound_rest PORT SQL ANSWER: with the fault (inject_t --port PORT) in
# force: unmatched statements pass, the target's table redirects PORT; then
# it is stopped: no table, no proxy, SQL straight to the server gets ANSWER,
# and the summary counts the error, transparent
inbound_rest() {
	check "inbound: other statements pass" [ "$(sql 'SELECT 41 + 1')" = 42 ]
	check "the table redirects tcp dport $1" \
		bash -c 'nsenter -t "$1" -n nft list ruleset | grep -A8 "table inet duress_${2}_" | grep -q "tcp dport $3 redirect to :"' _ "$TPID" "$KIND" "$1"
	bg_stop AGENT INT
	check "after: no table, no proxy" clean
	check "after: straight to the server again" [ "$(sql "$2")" = "$3" ]
	check "the summary counts it, transparent" \
		jq -e ".fault_report.$KIND.injected.error >= 1 and .fault_report.mode == \"transparent\"" "$WORK/summary.json"
}

# holder_in_target: the connections fault's holder (its pid in $hp) runs
# in the target's network namespace
holder_in_target() {
	hp=$(pgrep -x duress-conns | head -n 1)
	check "the holder runs in the target's namespace" \
		bash -c '[ "$(readlink /proc/$2/ns/net)" = "$(readlink /proc/$1/ns/net)" ]' _ "$TPID" "${hp:-0}"
}
# holder_gone: after the connections fault, the client connects again and
# no holder is left
holder_gone() {
	check "after: the client connects again" wait_until 5 db_up
	check "after: no holder" clean
}

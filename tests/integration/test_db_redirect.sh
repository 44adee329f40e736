# The postgres and connections faults where the kernel matters (protocol
# logic is test_fault_postgres, on the host): PostgreSQL 15 runs in a
# target's cgroup and network namespace (net_lib.sh: veth to the test's
# namespace); psql is the client, outside.
#   - postgres, transparent inbound on 5432: the client outside sees the
#     injected 40P01, statements that do not match pass; the table is
#     duress's own and gone afterwards;
#   - connections -t: the holder runs in the target's namespace, holds
#     max_connections, the client outside is refused, then connects again;
#   - kill -9 of the agent during each: within 1 s no table, the server
#     frees the connections, and the proxy and the holder processes have
#     ended (lib.sh's `ended`: gone, a zombie, or in the kernel's exit
#     with their descriptors released), the time printed.  They were seen
#     still there after 1 s: not alive, but in their exit, releasing over
#     this VM's 9p root the 46 files they map (the binary and its
#     libraries), whose last reference they hold once the agent is dead
#     (kernel stacks in p9_client_clunk; measured: test_db_redirect's
#     commit message);
#   - postgres outbound: PostgreSQL outside the target (a second cluster
#     in the test's namespace), psql inside the target's namespace sees
#     the injected 40P01 for --to's address only.
# timeout: 400
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/net_lib.sh"
KIND=postgres
. "$(dirname "$0")/db_lib.sh"

export DURESS_STATE_DIR=$WORK/state
if [ ! -x "$PGBIN/postgres" ] || ! id postgres > /dev/null 2>&1; then
	skip "PostgreSQL 15" "not installed (make deps: postgresql)"
	exit 0
fi
net_target db || fail "target with its own network namespace" "setup failed"
pg_cluster || fail "initdb" "$(tail -n 3 "$WORK/initdb.log")"
echo "host all all 0.0.0.0/0 trust" >> "$PGDIR/data/pg_hba.conf"
# a second cluster, outside the target (for outbound): a copy made before
# either runs (cheaper than a second initdb)
cp -a "$PGDIR/data" "$PGDIR/out"
pg_start_in_target 5432 20
psqlx() { psql -h 10.9.0.2 -p 5432 -U postgres -X -At --set=connect_timeout=3 "$@"; }
sql() { psqlx -c "$1"; }
db_up() { psqlx -c 'SELECT 1'; }
check "PostgreSQL answers in the target's namespace (from outside)" wait_until 60 db_up

# killed_agent NAME FAULT WHAT: kill -9 of the agent during FAULT; its
# helper process NAME (the WHAT) ends (lib.sh's ended) within 1 s, the time
# it took printed
killed_agent() {
	local hp t0 end rc=0 took
	hp=$(pgrep -x "$1" | head -n 1)
	t0=$EPOCHREALTIME
	bg_stop AGENT KILL
	end=$(( ${t0/./} + 1000000 ))
	until ended "${hp:-0}"; do
		[ "${EPOCHREALTIME/./}" -ge "$end" ] && { rc=1; break; }
		sleep 0.02
	done
	took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
	check "kill -9 during $2: the $3 (pid ${hp:-none}) ended within 1 s (took ${took} s)" [ $rc = 0 ]
}

# ---- postgres, transparent inbound ----
inject_t --port 5432 --deadlock 100 --match 'pg_backend_pid' || fail "postgres inbound applied" "$(tail -n 3 "$WORK/agent.err")"
psqlx -c 'SELECT pg_backend_pid()' > /dev/null 2> "$WORK/dl.err"
check "inbound: psql outside sees 'deadlock detected' raised by the server" grep -q 'ERROR:  deadlock detected' "$WORK/dl.err"
inbound_rest 5432 'SELECT pg_backend_pid() > 0' t
inject_t --port 5432 --deadlock 100 --match 'pg_backend_pid' || fail "postgres applied again"
killed_agent duress-postgres postgres proxy
check "... the table gone within 1 s" wait_until 1 no_table
check "... straight to the server" wait_until 2 bash -c '[ "$(psql -h 10.9.0.2 -U postgres -XAtc "SELECT pg_backend_pid() > 0")" = t ]'

# ---- connections from the target's namespace ----
conns_start AGENT -t "pid:$TPID" --port 5432 --until-refused --baseline 0 \
	--summary "$WORK/csum.json" --for 300s || fail "connections applied" "$(tail -n 3 "$WORK/conn.err")"
holder_in_target
psqlx -c 'SELECT 1' > /dev/null 2> "$WORK/refused.err"
check "a client outside is refused: too many clients" grep -q 'too many clients' "$WORK/refused.err"
bg_stop AGENT INT
check "the holder held max_connections (20)" jq -e '.fault_report.connections.held == 20' "$WORK/csum.json"
holder_gone
conns_start AGENT -t "pid:$TPID" --port 5432 --until-refused --baseline 0 --for 300s ||
	fail "connections applied again"
killed_agent duress-conns connections holder
check "... the server takes clients again within 1 s" wait_until 1 db_up

# ---- postgres outbound: the client in the target, the database outside ----
# The copy runs in the test's namespace, on 10.9.0.1 and 10.9.0.11 port
# 5433; psql inside the target's namespace is the application.
# (outside the target's cgroup: stopped at exit by db_lib.sh)
pg_start out 5433 10.9.0.1,10.9.0.11 10 || fail "PostgreSQL outside the target" "$(tail -n 3 "$PGDIR/out.log")"
inside() { tns psql -h "$1" -p 5433 -U postgres -X -At --set=connect_timeout=3 -c "$2"; }
check "outbound: PostgreSQL outside answers the target's client" wait_until 60 inside 10.9.0.1 'SELECT 1'
: > "$WORK/agent.err"
bg_start AGENT 60 has_table "$WORK/agent.out" "$WORK/agent.err" \
	"$DURESS" inject postgres -t "pid:$TPID" --port 5433 --direction outbound --to 10.9.0.1/32 \
	--baseline 0 -q --summary "$WORK/osum.json" --for 300s --deadlock 100 --match pg_backend_pid ||
	fail "postgres outbound applied" "$(tail -n 3 "$WORK/agent.err")"
inside 10.9.0.1 'SELECT pg_backend_pid()' > /dev/null 2> "$WORK/odl.err"
check "outbound: psql in the target sees 'deadlock detected' from the server outside" \
	grep -q 'ERROR:  deadlock detected' "$WORK/odl.err"
check "outbound: other statements pass" [ "$(inside 10.9.0.1 'SELECT 41 + 1')" = 42 ]
check "outbound: to 10.9.0.11 (not in --to) straight to the server" \
	[ "$(inside 10.9.0.11 'SELECT pg_backend_pid() > 0')" = t ]
check "outbound: the table redirects tcp dport 5433 going out (nat output)" \
	bash -c 'nsenter -t "$1" -n nft list ruleset | grep -A8 "table inet duress_postgres_" | grep -q "tcp dport 5433 .*redirect to :"' _ "$TPID"
bg_stop AGENT INT
check "outbound: after, no table, no proxy" clean
check "outbound: after, straight to the server" [ "$(inside 10.9.0.1 'SELECT pg_backend_pid() > 0')" = t ]
check "outbound: the summary counts it, outbound" \
	jq -e '.fault_report.postgres.injected.error >= 1 and .fault_report.direction == "outbound"' "$WORK/osum.json"
check "outbound: the server outside stops" pg_stop out

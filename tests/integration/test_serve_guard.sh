# needs: no kernel
# duress serve's guard rails against its own clients (issue 12), on the
# host: no cgroup v2 target is needed (jobs on targets are refused or end
# at once as unsupported, which is all these checks need).
#   - an early DELETE, before the job has set up its signal handling, is
#     an interrupted job, never a "revert failure" in /metrics;
#   - "force": true (lifting the guard rails) is refused (403, field force)
#     unless the operator started the server with --allow-force;
#   - a token file holding a known placeholder (the one the example sidecar
#     used to ship) or less than 32 bytes of entropy: exit 2, nothing
#     listens; 32 random bytes are taken;
#   - requests a web page can make are refused: an Origin (403), a
#     cross-site Sec-Fetch-Site (403), a text/plain body (415), a foreign
#     Host on a loopback listener (421, DNS rebinding);
#   - slow clients (slowloris): 200 connections sending their head a byte
#     every 2 s for 16 s take no slot from /healthz, which answers every
#     time it is asked meanwhile; they are closed (the oldest waiting for a
#     head once 32 wait, and every one 10 s after it began); a lone slow
#     client is closed too;
#   - job directories do not fill the state directory: 100 experiments of
#     900 KB each (their manifests are kept in their directories) leave at
#     most the cap (64 MiB) and one job's directory under STATE/serve;
# timeout: 300
. "$(dirname "$0")/lib.sh"

SERVER=
STATE=$WORK/state
SOCK=$WORK/run/duress.sock
_guard_cleanup() {
	[ -n "$SERVER" ] && kill -TERM "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
	_cleanup
}
trap _guard_cleanup EXIT
serve_asan

serve_up() { curl -s --max-time 2 --unix-socket "$SOCK" http://d/healthz; }
start_serve() {
	: > "$WORK/serve.log"
	bg_start SERVER 15 serve_up "$WORK/serve.log" "$WORK/serve.log" \
		"$SERVE" serve --state-dir "$STATE" --listen "unix:$SOCK" "$@"
}
stop_serve() { bg_stop SERVER "${1:-TERM}"; SRC=$BG_RC; }
# api METHOD PATH [CURL-ARGS...]: CODE = HTTP status, the body in $WORK/body
api() {
	local m=$1 p=$2; shift 2
	CODE=$(curl -s --max-time 30 -o "$WORK/body" -w '%{http_code}' --unix-socket "$SOCK" -X "$m" "$@" "http://duress$p")
}
is() {
	local code=$1; shift
	[ "$CODE" = "$code" ] || return 1
	[ $# = 0 ] || jq -e "$@" "$WORK/body"
}
metric() { curl -s --unix-socket "$SOCK" http://d/metrics | awk -v n="$1" '$1 == n { print $2 }'; }

# an experiment of probes only: on this host its job starts and ends by
# itself within a fraction of a second (no cgroup v2: exit 4)
cat > "$WORK/probes.yaml" << 'EOF'
title: probes only
description: a job that starts
method:
  - type: probe
    name: nothing listens there
    provider: {type: http, url: "http://127.0.0.1:1/", timeout: 1}
EOF

# ---- item 13: tokens ----
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
tcp_up() { curl -s --max-time 2 "http://127.0.0.1:$PORT/healthz"; }
token_refused() {
	printf '%s\n' "$2" > "$WORK/token"; chmod 600 "$WORK/token"
	expect_exit "token $1: exit 2" 2 timeout 10 "$SERVE" serve --listen "127.0.0.1:$PORT" \
		--token-file "$WORK/token" --state-dir "$STATE"
	check "  the message says why ($3)" grep -q "$3" "$WORK/stderr"
}
token_refused "of the example sidecar (change-me-to-a-long-random-string)" \
	change-me-to-a-long-random-string placeholder
token_refused "of 24 random bytes (192 bits)" "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" bits
token_refused "of one repeated pair" "$(printf 'ab%.0s' $(seq 64))" bits
check "nothing listens on $PORT after the refusals" bash -c "! curl -s --max-time 2 http://127.0.0.1:$PORT/healthz"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/token"
if bg_start SERVER 15 tcp_up "$WORK/serve.log" "$WORK/serve.log" \
	"$SERVE" serve --listen "127.0.0.1:$PORT" --token-file "$WORK/token" --state-dir "$STATE"; then
	pass "a token of 32 random bytes is taken"
	check "  and required" [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v1/faults")" = 401 ]
	check "  and accepted" [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$WORK/token")" "http://127.0.0.1:$PORT/v1/faults")" = 200 ]
	# ---- item 3: what a web page can send ----
	auth=(-H "Authorization: Bearer $(cat "$WORK/token")")
	code() { curl -s -o "$WORK/body" -w '%{http_code}' "${auth[@]}" "$@"; }
	body='{"fault":"memory","target":"cgroup:/x","duration":"1s","options":{"max":"64M"}}'
	check "a POST with an Origin (a web page): 403" \
		[ "$(code -H 'Origin: https://evil.example' -H 'Content-Type: text/plain' -d "$body" "http://127.0.0.1:$PORT/v1/faults")" = 403 ]
	check "a GET with Sec-Fetch-Site: cross-site: 403" \
		[ "$(code -H 'Sec-Fetch-Site: cross-site' "http://127.0.0.1:$PORT/v1/faults")" = 403 ]
	check "a text/plain POST: 415" \
		[ "$(code -H 'Content-Type: text/plain' -d "$body" "http://127.0.0.1:$PORT/v1/faults")" = 415 ]
	check "a form POST (what curl -d sends): 415" \
		[ "$(code -d "$body" "http://127.0.0.1:$PORT/v1/faults")" = 415 ]
	check "  the answer names the header and the types taken" \
		jq -e '.field == "Content-Type" and (.error | test("application/x-www-form-urlencoded.*application/json.*YAML"))' "$WORK/body"
	check "  curl --json is taken (no 415: $(code --json "$body" "http://127.0.0.1:$PORT/v1/faults"))" \
		[ "$(code --json "$body" "http://127.0.0.1:$PORT/v1/faults")" != 415 ]
	check "a foreign Host on the loopback listener (DNS rebinding): 421" \
		[ "$(code -H 'Host: evil.example:'"$PORT" "http://127.0.0.1:$PORT/v1/faults")" = 421 ]
	check "  Host: localhost is served" \
		[ "$(code -H "Host: localhost:$PORT" "http://127.0.0.1:$PORT/v1/faults")" = 200 ]
	check "  and no job was started by any of them" jq -e 'length == 0' "$WORK/body"
	stop_serve
else
	fail "a token of 32 random bytes is taken"
fi

start_serve || { fail "duress serve started"; exit 0; }

# ---- item 12: a DELETE right after the POST ----
# before the job's agent reads its signals from a signalfd, SIGTERM used to
# kill it with the default action: a job "killed by a signal", counted in
# duress_revert_failures_total although it had changed nothing
early_deletes() {
	local i killed=0
	for i in $(seq 30); do
		# one client, one connection: the DELETE follows the POST's answer
		# at once (the id chosen by the client)
		curl -s --max-time 30 --unix-socket "$SOCK" -X POST -H 'Content-Type: application/yaml' --data-binary @"$WORK/probes.yaml" \
			-o /dev/null "http://d/v1/experiments?id=early-$i" --next \
			-s --max-time 30 --unix-socket "$SOCK" -X DELETE -o "$WORK/body" \
			"http://d/v1/experiments/early-$i"
		jq -e '.outcome == "killed"' "$WORK/body" > /dev/null && killed=$((killed + 1))
	done
	echo "$killed"
}
killed=$(early_deletes)
check "30 early DELETEs: no job killed by the signal ($killed killed)" [ "$killed" = 0 ]
fails=$(metric duress_revert_failures_total)
check "30 early DELETEs: duress_revert_failures_total stays 0 ($fails)" [ "$fails" = 0 ]

# ---- item 6: slow clients ----
python3 "$TOP/tests/integration/slow_clients.py" "$SOCK" 200 16 > "$WORK/slow.out" 2>&1 &
SLOW=$!
health_ok=0 health_fail=0 worst=0
for i in $(seq 24); do
	sleep 0.5
	t=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 5 --unix-socket "$SOCK" http://d/healthz)
	if [ "${t%% *}" = 200 ]; then health_ok=$((health_ok + 1)); else health_fail=$((health_fail + 1)); fi
	worst=$(awk -v a="$worst" -v b="${t#* }" 'BEGIN { print (b > a) ? b : a }')
done
wait "$SLOW"
echo "  /healthz under 200 slow clients: $health_ok answered, $health_fail not, slowest ${worst}s"
check "/healthz answered all 24 times under 200 slow clients ($health_ok)" [ "$health_ok" = 24 ]
check "the slow clients were closed ($(cat "$WORK/slow.out"))" grep -qx 'closed 200 of 200' "$WORK/slow.out"
python3 "$TOP/tests/integration/slow_clients.py" "$SOCK" 1 16 > "$WORK/slow.out" 2>&1
check "a lone slow client is closed at its head's deadline ($(cat "$WORK/slow.out"))" \
	grep -qx 'closed 1 of 1' "$WORK/slow.out"

# ---- item 7: the bytes kept under STATE/serve are capped ----
{
	cat "$WORK/probes.yaml"
	printf 'tags: ["%s"]\n' "$(head -c 900000 /dev/zero | tr '\0' x)"
} > "$WORK/big.yaml"
big_posts() {
	local i
	for i in $(seq 100); do
		curl -s --max-time 30 --unix-socket "$SOCK" -X POST -H 'Content-Type: application/yaml' --data-binary @"$WORK/big.yaml" \
			-o "$WORK/body" -w '%{http_code}\n' "http://d/v1/experiments"
	done | sort | uniq -c | tr '\n' ' '
}
codes=$(big_posts)
check "100 experiments of 900 KB started ($codes)" grep -qx ' *100 201 *' <<< "$codes"
all_ended() { [ "$(curl -s --unix-socket "$SOCK" http://d/v1/experiments | jq '[.[] | select(.state != "exited")] | length')" = 0 ]; }
wait_until 60 all_ended
kb=$(du -sk "$STATE/serve" | cut -f1)
check "STATE/serve holds at most 64 MiB and one job after them ($kb KiB)" [ "$kb" -le $((65 * 1024 + 1024)) ]
check "  and the jobs the API lists are those whose directories are there" \
	[ "$(curl -s --unix-socket "$SOCK" http://d/v1/experiments | jq length)" = "$(ls "$STATE/serve" | wc -l)" ]

# ---- item 15: force is the operator's choice ----
FORCED='{"fault":"memory","target":"cgroup:/","duration":"1s","force":true,"options":{"max":"64M"}}'
api POST /v1/faults -H 'Content-Type: application/json' -d "$FORCED"
check "force: true without --allow-force: 403 naming force" \
	is 403 '.field == "force" and (.error | test("--allow-force"))'
api GET /v1/faults
check "force: true without --allow-force: no job" is 200 'length == 0'

stop_serve
check "the server stops with 0 ($SRC)" [ "$SRC" = 0 ]

start_serve --allow-force || { fail "duress serve --allow-force started"; exit 0; }
api POST /v1/faults -H 'Content-Type: application/json' -d "$FORCED"
check "force: true with --allow-force: past the force check ($CODE: $(jq -r .error "$WORK/body"))" \
	[ "$(jq -r .field "$WORK/body")" != force ]
stop_serve
check "no sanitizer or libmicrohttpd error in the servers' and jobs' output" \
	bash -c "! cat '$WORK/serve.log' '$STATE'/serve/*/log 2>/dev/null | grep -E 'AddressSanitizer|LeakSanitizer|runtime error|internal error'"
sanitizer_clean

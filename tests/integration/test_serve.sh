# duress serve: the HTTP API on a real kernel.  Over the unix socket (mode
# 0600, parent 0700): a memory experiment and a network fault (netem delay)
# started by POST, in force on the kernel (memory.max, the qdisc, ping),
# /metrics showing the target's memory.current and the active faults,
# DELETE reverting early (memory.max and the qdiscs back, checked on the
# kernel), bad bodies 400/413/422 with nothing started; over TCP with a
# bearer token: 401 without it and nothing happens, the Chaos Toolkit
# experiment of manifests/api driving the API through `duress run`; a
# stale socket taken over; SIGTERM to the server reverting every job and
# leaving nothing behind.
# timeout: 900
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/net_lib.sh"

SERVER=
STATE=$WORK/state
SOCK=$WORK/run/duress/duress.sock
PORT=39517
TOKEN=
_serve_cleanup() {
	[ -n "$SERVER" ] && kill -TERM "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
	_net_cleanup
}
trap _serve_cleanup EXIT
serve_asan

# start_serve ARGS...: start the server, wait up to 15 s for /healthz
serve_up() {
	{ [ -S "$SOCK" ] && curl -s --max-time 2 --unix-socket "$SOCK" http://d/healthz; } ||
		curl -s --max-time 2 "http://127.0.0.1:$PORT/healthz"
}
start_serve() {
	bg_start SERVER 15 serve_up "$WORK/serve.log" "$WORK/serve.log" \
		"$SERVE" serve --state-dir "$STATE" "$@"
}
stop_serve() { bg_stop SERVER "${1:-TERM}"; SRC=$BG_RC; }

# api METHOD PATH [CURL-ARGS...]: over the unix socket; CODE = HTTP status,
# the body in $WORK/body
# (a POST body is JSON or YAML, and says so: YAML holds JSON)
CT=(-H 'Content-Type: application/yaml')
api() {
	local m=$1 p=$2; shift 2
	CODE=$(curl -s --max-time 90 -o "$WORK/body" -w '%{http_code}' --unix-socket "$SOCK" -X "$m" "${CT[@]}" "$@" "http://duress$p")
}
# tcp METHOD PATH [CURL-ARGS...]: over TCP, headers in $WORK/headers
tcp() {
	local m=$1 p=$2; shift 2
	CODE=$(curl -s --max-time 90 -D "$WORK/headers" -o "$WORK/body" -w '%{http_code}' -X "$m" "${CT[@]}" "$@" "http://127.0.0.1:$PORT$p")
}
# is CODE [JQ-EXPR]: the last answer had status CODE (and its body holds EXPR)
is() {
	local code=$1; shift
	[ "$CODE" = "$code" ] || return 1
	[ $# = 0 ] || jq -e "$@" "$WORK/body"
}
# has_line LINE / has_text TEXT: in the /metrics text $m
has_line() { grep -qxF "$1" <<< "$m"; }
has_text() { grep -qF "$1" <<< "$m"; }
families_ok() {
	[ "$(grep -c '^# HELP ' <<< "$m")" = "$(grep -c '^# TYPE ' <<< "$m")" ] &&
		[ -z "$(grep '^# TYPE ' <<< "$m" | sort | uniq -d)" ]
}
now() { date +%s.%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }
metric() { curl -s --unix-socket "$SOCK" http://duress/metrics | grep -F "$1"; }
qdisc_ours() { tns tc qdisc show dev vt0 | grep -q ' d5a0: '; }
mem_is() { [ "$(cat "$1/memory.max")" = "$2" ]; }
# the agent's jobs and guardians (argv[0] is the agent's path; this
# pattern does not match pgrep's or bash's own command line)
agent_procs() { pgrep -af "^($DURESS|$SERVE|duress) (inject|run|__guardian)"; }
no_agent_procs() { ! agent_procs; }
njobs() { curl -s --unix-socket "$SOCK" http://duress/v1/faults | jq length; }
nexps() { curl -s --unix-socket "$SOCK" http://duress/v1/experiments | jq length; }

# ---- fixtures: a memory target, a network target ----
mdir=$(new_cgroup servemem)
echo 943718400 > "$mdir/memory.max" # a non-default original: 900M
spawn "$mdir" "$HELPERS/memhold" 24
wait_ready "$WORK/spawn.$$.out" || fail "memhold 24 MiB started" "no ready line"
if ! net_target servenet; then
	fail "network fixture (netns, veth, addresses)" "could not build it"
	exit 0
fi
t0=$(target_state)
host0=$(host_state)

# ---- startup refusals: usage errors, nothing listens ----
expect_exit "TCP on a non-loopback address without a token: exit 2" 2 \
	"$SERVE" serve --listen "10.9.0.1:$PORT" --state-dir "$STATE"
check "  the message says a token is needed" grep -q "needs --token-file" "$WORK/stderr"
expect_exit "TCP on loopback without a token or --insecure-loopback: exit 2" 2 \
	"$SERVE" serve --listen "127.0.0.1:$PORT" --state-dir "$STATE"
expect_exit "--insecure-loopback on a non-loopback address: exit 2" 2 \
	"$SERVE" serve --listen "10.9.0.1:$PORT" --insecure-loopback --state-dir "$STATE"
echo "0123456789abcdef0123456789abcdef" > "$WORK/short.token"; chmod 600 "$WORK/short.token"
expect_exit "a token of less than 32 bytes of entropy: exit 2" 2 \
	"$SERVE" serve --listen "10.9.0.1:$PORT" --token-file "$WORK/short.token" --state-dir "$STATE"
check "nothing listens on $PORT after the refusals" bash -c "! curl -s --max-time 2 http://127.0.0.1:$PORT/healthz"

# ---- the unix socket ----
if ! start_serve --listen "unix:$SOCK"; then
	fail "serve started on $SOCK" "no answer"
	exit 0
fi
check "socket mode 0600 ($(stat -c %a "$SOCK"))" [ "$(stat -c %a "$SOCK")" = 600 ]
check "socket parent directory made 0700 ($(stat -c %a "$(dirname "$SOCK")"))" [ "$(stat -c %a "$(dirname "$SOCK")")" = 700 ]
api GET /healthz
check "GET /healthz: 200 ok" is 200

# ---- bad requests: the right status, the field named, nothing started ----
n0=$(njobs); x0=$(nexps)
api GET /nope
check "unknown route: 404 ($CODE)" [ "$CODE" = 404 ]
api PUT /v1/faults
check "wrong method: 405 ($CODE)" [ "$CODE" = 405 ]
head -c 2000000 /dev/zero | tr '\0' x > "$WORK/big"
api POST /v1/faults --data-binary @"$WORK/big"
check "2 MB body: 413 ($CODE)" [ "$CODE" = 413 ]
api POST /v1/experiments -H 'Transfer-Encoding: chunked' --data-binary @"$WORK/big"
check "2 MB chunked body (no length): 413 ($CODE)" [ "$CODE" = 413 ]
api POST /v1/faults --data '{"fault": "memory", "target": '
check "malformed JSON: 400 ($CODE)" is 400 '.field == "body"'
api POST /v1/faults --data "{\"fault\":\"memory\",\"target\":\"cgroup:$mdir\",\"duration\":\"30s\",\"options\":{\"max\":\"64Q\"}}"
check "bad option value: 422 naming options.max ($CODE: $(jq -r .error "$WORK/body"))" \
	is 422 '.field == "options.max"'
api POST /v1/faults --data "{\"fault\":\"memory\",\"target\":\"cgroup:$mdir\",\"duration\":\"30s\"}"
check "the fault's validate hook: 422 ($CODE: $(jq -r .error "$WORK/body"))" \
	is 422 '.error | test("at least one of")'
api POST /v1/faults --data "{\"fault\":\"network\",\"target\":\"pid:$TPID\",\"duration\":\"30s\",\"options\":{\"delay\":\"10ms\",\"device\":\"nosuch0\"}}"
check "network: unknown device (the fault's plan): 422 ($CODE: $(jq -r .error "$WORK/body"))" \
	is 422 '.error | test("nosuch0")'
api POST /v1/faults --data '{"fault":"memory","target":"cgroup:/duress-no-such-cgroup","duration":"30s","options":{"max":"64M"}}'
check "unknown target: 422 naming target ($CODE)" is 422 '.field == "target"'
api POST /v1/experiments --data-binary $'name: [unclosed\n'
check "malformed YAML manifest: 400 with its line ($CODE)" is 400 '.problems[0].line >= 1'
api POST /v1/experiments --data-binary $'name: x\nmethod:\n  - type: action\n    name: m\n    provider: memory\n    max: 64Q\n    duration: 5s\n'
check "invalid manifest (fault option): 422 naming the line ($CODE: $(jq -c '.problems[0]' "$WORK/body"))" \
	is 422 '.problems[0].line == 6'
touch "$WORK/ran-by-api"; rm -f "$WORK/ran-by-api"
api POST /v1/experiments --data-binary "$(printf 'name: x\nsteady_state:\n  probes:\n    - name: sh\n      type: process\n      path: /usr/bin/touch\n      arguments: [%s]\nmethod:\n  - type: pause\n    name: p\n    duration: 1s\n' "$WORK/ran-by-api")"
check "a process probe without --allow-commands: 422 naming it ($CODE: $(jq -r .error "$WORK/body"))" \
	is 422 '.field == "steady_state" and (.error | test("--allow-commands"))'
api POST /v1/experiments --data-binary $'{"title": "t", "description": "d", "method": [{"type": "action", "name": "p", "provider": {"type": "process", "path": "/bin/true"}}]}'
check "a CTK process action without --allow-commands: 422 naming the method ($CODE: $(jq -r .error "$WORK/body"))" \
	is 422 '.field == "method" and (.error | test("--allow-commands"))'
api POST /v1/experiments --data-binary $'{"title": "t", "description": "d", "configuration": {"k": {"type": "env", "key": "HOME", "default": "/"}},\n "method": [{"type": "probe", "name": "h", "provider": {"type": "http", "url": "http://127.0.0.1:1${k}", "timeout": 1}}]}'
check "CTK {type: env} configuration without --allow-commands: 422 naming it ($CODE: $(jq -c '.problems[0].message' "$WORK/body"))" \
	is 422 '[.problems[].message | select(test("configuration.k") and test("--allow-commands"))] | length == 1'
check "  ... and the environment was not read (no value of HOME in the answer)" \
	bash -c "! grep -qF '\"$HOME' '$WORK/body' && ! grep -q 'http://127.0.0.1:1/' '$WORK/body'"
sleep 1
check "the refused process probe never ran" [ ! -e "$WORK/ran-by-api" ]
check "bad requests started nothing (jobs $n0 -> $(njobs), experiments $x0 -> $(nexps))" \
	[ "$(njobs)/$(nexps)" = "$n0/$x0" ]
check "bad requests changed nothing: memory.max still 900M" mem_is "$mdir" 943718400
check "bad requests changed nothing: the target's qdiscs" [ "$(target_state)" = "$t0" ]

# ---- a memory experiment through the API ----
cat > "$WORK/exp.yaml" << EOF
name: API memory experiment
target: cgroup:$mdir
steady_state:
  probes:
    - name: workload alive
      type: metric
      check: pids.current >= 1
method:
  - type: action
    name: cap memory
    provider: memory
    max: 64M
    duration: 120s
baseline: 1s
recovery_timeout: 2s
EOF
api POST "/v1/experiments?id=..%2Fescape" --data-binary @"$WORK/exp.yaml"
check "an experiment id with '/' or '.': 422 naming id ($CODE)" is 422 '.field == "id"'
check "  nothing started, no directory outside the jobs' ($(nexps) experiments)" \
	bash -c "[ ! -e '$STATE/escape' ] && [ \"\$(cat '$mdir/memory.max')\" = 943718400 ]"
check "  no experiment listed" [ "$(nexps)" = 0 ]
t_post=$(now)
api POST /v1/experiments --data-binary @"$WORK/exp.yaml"
xid=$(jq -r .id "$WORK/body")
check "POST /v1/experiments: 201 with an id ($CODE, $xid)" is 201 '.id | length > 0'
if wait_until 30 mem_is "$mdir" 67108864; then
	t_force=$(now)
	pass "experiment: memory.max 64M in force on the kernel, $(ms "$t_post" "$t_force") ms after the POST (baseline 1s included)"
else
	fail "experiment: memory.max 64M in force" "$(cat "$mdir/memory.max")"
fi
api GET "/v1/experiments/$xid"
check "GET the experiment: running ($(jq -c '{state, phase, exit_code}' "$WORK/body"))" \
	jq -e '.state == "running" and .exit_code == null and .kind == "experiment"' "$WORK/body"
n1=$(njobs)
api POST /v1/faults --data "{\"fault\":\"memory\",\"target\":\"cgroup:$mdir\",\"duration\":\"30s\",\"options\":{\"max\":\"32M\"}}"
check "a second memory fault on the experiment's target: 409 naming the experiment ($CODE: $(jq -r .error "$WORK/body"))" \
	is 409 ".field == \"target\" and (.error | test(\"$xid\"))"
check "  nothing started: no new job, memory.max still 64M" bash -c "[ $(njobs) = $n1 ] && [ \"\$(cat '$mdir/memory.max')\" = 67108864 ]"

# ---- a network fault through the API ----
t_post=$(now)
api POST /v1/faults --data "{\"fault\":\"network\",\"target\":\"pid:$TPID\",\"duration\":\"120s\",\"options\":{\"delay\":\"100ms\",\"device\":\"vt0\"}}"
fid=$(jq -r .id "$WORK/body")
check "POST /v1/faults network: 201 with an id ($CODE, $fid)" is 201 '.id | length > 0'
if wait_until 30 qdisc_ours; then
	t_force=$(now)
	pass "network: our qdisc d5a0: on vt0, $(ms "$t_post" "$t_force") ms after the POST"
	read -r avg tmean med _ <<< "$(rtts -c 10 -i 0.1 10.9.0.1)"
	check "network: ping through the delay: median $med ms within 99 .. 400" in_range "$med" 99 400
else
	fail "network: qdisc in force" "$(tns tc qdisc show dev vt0)"
fi
check "network: the agent's own namespace untouched" [ "$(host_state)" = "$host0" ]

# ---- /metrics, /v1/samples, listings ----
wait_until 10 metric "duress_target_memory_current_bytes{target=\"$mdir\"}"
m=$(curl -s --unix-socket "$SOCK" http://duress/metrics)
cur=$(grep -F "duress_target_memory_current_bytes{target=\"$mdir\"}" <<< "$m" | awk '{ print $2 }')
check "/metrics: memory.current of the experiment's target ($cur bytes, memhold holds 24 MiB)" \
	in_range "${cur:-0}" 20000000 67108864
check "/metrics: memory.max 64M of the target" has_line "duress_target_memory_max_bytes{target=\"$mdir\"} 67108864"
check "/metrics: the network fault active" has_line "duress_fault_active{id=\"$fid\",kind=\"fault\",fault=\"network\",target=\"$TDIR\"} 1"
check "/metrics: the experiment active" has_text "duress_fault_active{id=\"$xid\",kind=\"experiment\""
check "/metrics: faults_active 1" has_line "duress_faults_active 1"
check "/metrics: experiments_active 1" has_line "duress_experiments_active 1"
check "/metrics: network bytes of the network target" has_text "duress_target_network_bytes_total{target=\"$TDIR\",direction=\"transmit\"}"
check "/metrics: every family has # HELP and # TYPE once" families_ok
check "/metrics: the sampling cost is reported" grep -qE '^duress_sample_cost_seconds [0-9.e+-]+$' <<< "$m"
cost=$(grep -E '^duress_sample_cost_seconds ' <<< "$m" | awk '{ print $2 }')
echo "  sampling both targets once took $cost s"
api GET "/v1/samples?target=cgroup:$mdir"
check "GET /v1/samples?target=: JSON Lines of the target ($(wc -l < "$WORK/body") samples)" \
	jq -e -s 'length >= 1 and (.[-1].memory.max == 67108864)' "$WORK/body"
api GET "/v1/samples?job=$fid"
check "GET /v1/samples?job=: the job's own samples, with phases" jq -e -s 'map(.phase) | index("during") != null' "$WORK/body"
curl -sN --max-time 5 --unix-socket "$SOCK" "http://duress/v1/samples?target=cgroup:$mdir&follow=1&last=1" > "$WORK/follow.jsonl"
check "GET /v1/samples?follow=1: new samples streamed as they are taken ($(wc -l < "$WORK/follow.jsonl") in 5 s)" \
	jq -e -s 'length >= 3 and ([.[].t] | . == sort and (unique | length) == length)' "$WORK/follow.jsonl"
curl -sN --max-time 5 --unix-socket "$SOCK" "http://duress/v1/samples?job=$xid&follow=1&last=2" > "$WORK/follow-job.jsonl"
check "GET /v1/samples?job=&follow=1&last=2: the job's own samples, then new ones as it writes them ($(wc -l < "$WORK/follow-job.jsonl") in 5 s)" \
	jq -e -s 'length >= 3 and all(.[]; .phase != null) and ([.[].t] | . == sort and (unique | length) == length)' "$WORK/follow-job.jsonl"
curl -sN --max-time 120 --unix-socket "$SOCK" "http://duress/v1/samples?target=pid:$TPID&follow=1&last=1" > "$WORK/follow2.jsonl" &
FOLLOWER=$!
curl -sN --max-time 120 --unix-socket "$SOCK" "http://duress/v1/samples?job=$fid&follow=1" > "$WORK/follow3.jsonl" &
FOLLOWER3=$!
api GET /v1/faults
check "GET /v1/faults lists the network fault running" jq -e --arg id "$fid" 'map(select(.id == $id and .state == "running")) | length == 1' "$WORK/body"
api GET /v1/targets
check "GET /v1/targets: JSON like duress targets --format json ($CODE)" is 200 'type == "array"'
# the listing runs in a child read by the event loop: requests that come
# meanwhile share it, and the rest of the API keeps answering
lists=()
for k in 1 2 3; do
	curl -s --max-time 60 -o "$WORK/targets.$k" -w '%{http_code}' --unix-socket "$SOCK" http://duress/v1/targets > "$WORK/targets.$k.code" &
	lists+=($!)
done
hz=$(curl -s --max-time 60 -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" http://duress/healthz)
wait "${lists[@]}" # not the follow streams, which end with their jobs
check "three GET /v1/targets at once: all 200 with a list, /healthz answered meanwhile ($hz)" bash -c \
	'[ "$1" = 200 ] && for k in 1 2 3; do [ "$(cat "$2/targets.$k.code")" = 200 ] && jq -e "type == \"array\"" "$2/targets.$k" > /dev/null || exit 1; done' _ "$hz" "$WORK"

# ---- DELETE reverts early ----
t_del=$(now)
api DELETE "/v1/faults/$fid"
t_done=$(now)
check "DELETE the network fault: 200 once it exited ($CODE, $(jq -c '{state, exit_code, outcome}' "$WORK/body"))" \
	is 200 '.state == "exited" and .exit_code == 8'
check "network: everything back on the kernel when DELETE answered ($(ms "$t_del" "$t_done") ms)" [ "$(target_state)" = "$t0" ]
check "network: the summary says reverted" jq -e '.summary.not_reverted == [] and .summary.reverted >= 1' "$WORK/body"
follower_gone() { ! kill -0 "$FOLLOWER" 2>/dev/null; }
if wait_until 15 follower_gone; then
	wait "$FOLLOWER"
	frc=$?
	check "the follow stream of the network target ended with its job (curl exit $frc, $(wc -l < "$WORK/follow2.jsonl") samples)" [ "$frc" = 0 ]
else
	fail "the follow stream ended with its job" "still streaming 15 s after the DELETE"
	kill "$FOLLOWER" 2>/dev/null
fi
follower3_gone() { ! kill -0 "$FOLLOWER3" 2>/dev/null; }
if wait_until 15 follower3_gone; then
	wait "$FOLLOWER3"
	frc=$?
	api GET "/v1/samples?job=$fid"
	check "the job= follow stream ended with its job (curl exit $frc) and holds every sample of its file ($(wc -l < "$WORK/follow3.jsonl") lines)" \
		bash -c '[ "$1" = 0 ] && cmp -s "$2" "$3"' _ "$frc" "$WORK/follow3.jsonl" "$WORK/body"
else
	fail "the job= follow stream ended with its job" "still streaming 15 s after the DELETE"
	kill "$FOLLOWER3" 2>/dev/null
fi
t_del=$(now)
api DELETE "/v1/experiments/$xid"
t_done=$(now)
check "DELETE the experiment: 200 ($CODE, $(jq -c '{state, exit_code, outcome}' "$WORK/body"))" \
	is 200 '.state == "exited"'
check "experiment: memory.max back to 900M when DELETE answered ($(ms "$t_del" "$t_done") ms)" mem_is "$mdir" 943718400
check "experiment: its journal is in the answer" jq -e '.journal.duress != null' "$WORK/body"
api DELETE "/v1/faults/$fid"
check "DELETE again: 200, still exited" [ "$CODE" = 200 ]
api GET /v1/faults/no-such-id
check "GET an unknown id: 404 ($CODE)" [ "$CODE" = 404 ]
m=$(curl -s --unix-socket "$SOCK" http://duress/metrics)
check "/metrics after: no fault active" has_line "duress_faults_active 0"
check "/metrics after: 2 reverts ok" has_line "duress_reverts_ok_total 2"
check "/metrics after: no revert failure" has_line "duress_revert_failures_total 0"

# ---- SIGTERM to the server reverts every job ----
api POST /v1/faults --data "{\"fault\":\"memory\",\"target\":\"cgroup:$mdir\",\"duration\":\"120s\",\"options\":{\"max\":\"80M\"}}"
check "another memory fault: 201" [ "$CODE" = 201 ]
api POST /v1/faults --data "{\"fault\":\"network\",\"target\":\"pid:$TPID\",\"duration\":\"120s\",\"options\":{\"loss\":\"10%\",\"device\":\"vt0\"}}"
wait_until 30 mem_is "$mdir" 83886080 && wait_until 30 qdisc_ours
check "memory 80M in force before the SIGTERM" mem_is "$mdir" 83886080
check "network loss in force before the SIGTERM" qdisc_ours
t_term=$(now)
stop_serve TERM
t_done=$(now)
check "serve SIGTERM: exit 0 ($SRC) after $(ms "$t_term" "$t_done") ms" [ "$SRC" = 0 ]
check "serve SIGTERM: memory.max back to 900M" mem_is "$mdir" 943718400
check "serve SIGTERM: the target's qdiscs back" [ "$(target_state)" = "$t0" ]
check "serve SIGTERM: no agent process left ($(agent_procs | tr '\n' ' '))" no_agent_procs
check "serve SIGTERM: the socket file removed" [ ! -e "$SOCK" ]
check "serve SIGTERM: no undo journal left ($(ls "$STATE/journal" 2>/dev/null | tr '\n' ' '))" bash -c "! ls '$STATE/journal' 2>/dev/null | grep -q ."

# ---- a stale socket (a killed server) is taken over; jobs die with it ----
start_serve --listen "unix:$SOCK" || fail "serve restarted" "no answer"
api POST /v1/faults --data "{\"fault\":\"memory\",\"target\":\"cgroup:$mdir\",\"duration\":\"120s\",\"options\":{\"max\":\"72M\"}}"
wait_until 30 mem_is "$mdir" 75497472
stop_serve KILL
check "serve SIGKILL: the socket file stays behind" [ -S "$SOCK" ]
check "serve SIGKILL: its job reverts by itself (parent death signal)" wait_until 20 mem_is "$mdir" 943718400
start_serve --listen "unix:$SOCK"
check "a new server takes over the stale socket" grep -q "removing the stale socket" "$WORK/serve.log"
check "  and answers" curl -s --unix-socket "$SOCK" http://d/healthz
expect_exit "a second server on a live socket: refused, exit 6" 6 "$SERVE" serve --listen "unix:$SOCK" --state-dir "$STATE"
stop_serve TERM

# ---- an agent and its guardian both killed (a container killed whole):
# the next server reverts what they left before it takes requests ----
"$DURESS" inject memory -t "cgroup:$mdir" --max 88M --for 120s --baseline 0 -q --state-dir "$STATE" > /dev/null 2>&1 &
ag=$!
wait_until 30 mem_is "$mdir" 92274688
guard=$(pgrep -f "__guardian $ag " | head -n 1)
kill -KILL "${guard:-0}" "$ag" 2>/dev/null
wait "$ag" 2>/dev/null
check "agent and guardian killed: memory.max stays 88M (guardian $guard)" \
	bash -c "[ -n '$guard' ] && [ \"\$(cat '$mdir/memory.max')\" = 92274688 ]"
start_serve --listen "unix:$SOCK"
check "a new server reverted the dead agent's journal before answering (memory.max $(cat "$mdir/memory.max"))" mem_is "$mdir" 943718400
check "  and said so" grep -q "duress serve: recovered 1 journal" "$WORK/serve.log"
stop_serve TERM

# ---- TCP with a bearer token ----
TOKEN=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$TOKEN" > "$WORK/token"
chmod 644 "$WORK/token"
expect_exit "a token file others can read: exit 2" 2 \
	"$SERVE" serve --listen "127.0.0.1:$PORT" --token-file "$WORK/token" --state-dir "$STATE"
chmod 600 "$WORK/token"
SOCK=$WORK/no-socket
if start_serve --listen "127.0.0.1:$PORT" --token-file "$WORK/token"; then
	tcp GET /metrics
	check "TCP without a token: 401 ($CODE)" [ "$CODE" = 401 ]
	check "  with WWW-Authenticate: Bearer" grep -qi '^WWW-Authenticate: Bearer' "$WORK/headers"
	tcp POST /v1/faults --data "{\"fault\":\"memory\",\"target\":\"cgroup:$mdir\",\"duration\":\"30s\",\"options\":{\"max\":\"64M\"}}"
	check "TCP POST a fault without a token: 401 ($CODE)" [ "$CODE" = 401 ]
	tcp POST /v1/faults -H "Authorization: Bearer ${TOKEN}x" --data "{\"fault\":\"memory\",\"target\":\"cgroup:$mdir\",\"duration\":\"30s\",\"options\":{\"max\":\"64M\"}}"
	check "TCP POST with a wrong token: 401 ($CODE)" [ "$CODE" = 401 ]
	sleep 1
	check "  nothing happened: memory.max still 900M" mem_is "$mdir" 943718400
	tcp GET /v1/faults -H "Authorization: Bearer $TOKEN"
	check "  nothing happened: no job ($(cat "$WORK/body"))" is 200 'length == 0'
	check "  no agent child started" no_agent_procs
	tcp GET /healthz
	check "TCP /healthz needs no token (liveness probes): 200 ($CODE)" [ "$CODE" = 200 ]

	# the Chaos Toolkit experiment of manifests/api, run by duress itself
	t_run=$(now)
	DURESS_URL="http://127.0.0.1:$PORT" DURESS_TOKEN=$TOKEN DURESS_TARGET="cgroup:$mdir" \
		"$DURESS" run "$TOP/manifests/api/ctk-drive-duress.json" -t "cgroup:$mdir" -q \
		--state-dir "$WORK/runstate" --journal "$WORK/ctk.json" > "$WORK/ctk.out" 2> "$WORK/ctk.err"
	rc=$?
	echo "  CTK experiment over the API: exit $rc in $(ms "$t_run" "$(now)") ms"
	check "CTK http-provider experiment: exit 0 (hypothesis held, fault in force, DELETE 200)" [ "$rc" = 0 ] ||
		{ sed 's/^/    /' "$WORK/ctk.err" | tail -20; }
	check "  the journal shows every method activity succeeded" \
		jq -e '[.run[] | select(.status != "succeeded")] | length == 0' "$WORK/ctk.json"
	check "  memory.max back to 900M afterwards" mem_is "$mdir" 943718400
	tcp GET /v1/faults/ctk-memory -H "Authorization: Bearer $TOKEN"
	check "  the fault ctk-memory ran and was DELETEd (exit 8)" jq -e '.exit_code == 8' "$WORK/body"
	stop_serve TERM
	check "TCP server: SIGTERM exit 0" [ "$SRC" = 0 ]
else
	fail "serve on 127.0.0.1:$PORT" "did not start"
fi
check "at the end: the target's qdiscs as before" [ "$(target_state)" = "$t0" ]
check "at the end: memory.max as before" mem_is "$mdir" 943718400
check "no sanitizer or libmicrohttpd error in the servers' and jobs' output" \
	bash -c "! cat '$WORK/serve.log' '$STATE'/serve/*/log | grep -E 'AddressSanitizer|LeakSanitizer|runtime error|Application reported internal error'"
sanitizer_clean

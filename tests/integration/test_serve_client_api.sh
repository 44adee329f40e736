# duress serve: what the API offers its clients (the Python client,
# docs/python.md) beyond jobs: GET /v1/version (the agent's release from
# VERSION, the API version, its features; behind the token over TCP);
# leases: a fault and an experiment started with one stay in force while
# renewed, and are reverted on the kernel (memory.max back) once their
# client stops renewing, long before their own duration; renewals of
# unknown or unleased jobs refused; a sample of any target taken now
# (memory.max and memory.current as the kernel has them, the CPU rate when
# a job samples the target too).
# timeout: 300
. "$(dirname "$0")/lib.sh"

SERVER= RENEWER=
STATE=$WORK/state
SOCK=$WORK/run/duress.sock
PORT=39521
_api_cleanup() {
	[ -n "$RENEWER" ] && kill "$RENEWER" 2>/dev/null
	[ -n "$SERVER" ] && kill -TERM "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
	_cleanup
}
trap _api_cleanup EXIT
serve_asan

serve_up() { curl -s --max-time 2 --unix-socket "$SOCK" http://d/healthz; }
tcp_up() { curl -s --max-time 2 "http://127.0.0.1:$PORT/healthz"; }
# api METHOD PATH [CURL-ARGS...]: CODE = HTTP status, the body in $WORK/body
api() {
	local m=$1 p=$2; shift 2
	# (a POST body is JSON or YAML, and says so: YAML holds JSON)
	CODE=$(curl -s --max-time 90 -o "$WORK/body" -w '%{http_code}' --unix-socket "$SOCK" -X "$m" -H 'Content-Type: application/yaml' "$@" "http://duress$p")
}
is() {
	local code=$1; shift
	[ "$CODE" = "$code" ] || return 1
	[ $# = 0 ] || jq -e "$@" "$WORK/body"
}

mem_is() { [ "$(cat "$1/memory.max")" = "$2" ]; }
job_is() { api GET "$1" && jq -e "$2" "$WORK/body"; }
# show KIND ID: the job's state and the end of its log, for a failure
show() {
	curl -s --unix-socket "$SOCK" "http://d/v1/$1/$2" | jq -r '"    \(.state) \(.exit_code) \(.lease)", (.log // "" | split("\n") | .[:4][] | "    " + .)'
	sed 's/^/    renewed: /' "$WORK/renew.log" | cut -c1-200 | tail -n 4
}
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# renew KIND ID: a client that renews the job's lease every 0.5 s until
# stopped (pid in RENEWER); each answer in $WORK/renew.log.  One curl a
# round and nothing else: under emulation on a busy host a round takes
# seconds, which the lease (10 s) must cover.
renew() {
	: > "$WORK/renew.log"
	while :; do
		curl -s --max-time 5 -X POST --unix-socket "$SOCK" "http://d/v1/$1/$2/lease" >> "$WORK/renew.log"
		echo >> "$WORK/renew.log"
		sleep 0.5
	done &
	RENEWER=$!
}
unrenew() { kill "$RENEWER"; wait "$RENEWER" 2>/dev/null; RENEWER=; }

mdir=$(new_cgroup apimem)
echo 943718400 > "$mdir/memory.max" # a non-default original: 900M
spawn "$mdir" "$HELPERS/memhold" 8
wait_ready "$WORK/spawn.$$.out" || fail "memhold 8 MiB started" "no ready line"

if ! bg_start SERVER 15 serve_up "$WORK/serve.log" "$WORK/serve.log" \
	"$SERVE" serve --listen "unix:$SOCK" --state-dir "$STATE"; then
	fail "serve started on $SOCK" "no answer"
	exit 0
fi

# ---- GET /v1/version ----
release=$(cat "$TOP/VERSION")
api GET /v1/version
check "GET /v1/version: 200, the release of VERSION ($release) and API 1 ($(cat "$WORK/body"))" \
	is 200 --arg v "$release" '.version == $v and .api == 1 and (.features | type == "array")'
check "  the same release as duress version ($("$DURESS" version))" [ "$("$DURESS" version)" = "duress $release" ]
api POST /v1/version
check "POST /v1/version: 405 ($CODE)" is 405
check "  lists the lease and sample-now features" bash -c "curl -s --unix-socket '$SOCK' http://d/v1/version | jq -e '.features | index(\"lease\") and index(\"sample-now\")'"

# ---- one sample of any target, now ----
api GET "/v1/samples?target=cgroup:$mdir&now=1"
check "GET /v1/samples?target=&now=1 of a target under no job: 200, one line ($(wc -l < "$WORK/body"))" \
	bash -c "[ $CODE = 200 ] && [ \$(wc -l < '$WORK/body') = 1 ]"
check "  the kernel's memory.max (900M) and memory.current (memhold's 8 MiB) of $mdir" \
	jq -e --arg d "$mdir" '.target == $d and .memory.max == 943718400 and .memory.current >= 8388608' "$WORK/body"
check "  no CPU rate (no previous sample)" jq -e '.cpu.usage_pct == null and .cpu.usage_usec > 0' "$WORK/body"
api GET "/v1/samples?target=pid:$(head -n 1 "$mdir/cgroup.procs")&now=1"
check "  by pid: the same cgroup" jq -e --arg d "$mdir" '.target == $d' "$WORK/body"
api GET "/v1/samples?target=cgroup:/duress-no-such-cgroup&now=1"
check "  an unknown target: 422 naming target ($CODE)" is 422 '.field == "target"'
api GET "/v1/samples?target=cgroup:$mdir&now=1&follow=1"
check "  now with follow: 422 naming now ($CODE)" is 422 '.field == "now"'

# ---- leases ----
fault() { echo "{\"fault\":\"memory\",\"target\":\"cgroup:$mdir\",\"duration\":\"120s\",\"options\":{\"max\":\"$1\"}$2}"; }
api POST /v1/faults --data "$(fault 64M ',"lease":"500ms"')"
check "a lease under 1s: 422 naming lease ($CODE: $(jq -r .error "$WORK/body"))" is 422 '.field == "lease"'
api POST /v1/faults --data "$(fault 64M ',"lease":"10s"')"
fid=$(jq -r .id "$WORK/body")
renew faults "$fid"
check "POST a fault with a 10s lease (duration 120s): 201 ($CODE, $fid)" is 201 '.lease.seconds == 10 and .lease.expired == false'
check "  renewed every 0.5 s: memory.max 64M in force" wait_until 30 mem_is "$mdir" 67108864 || show faults "$fid"
# renewed for 5 s more: it stays
held=1
for _ in $(seq 25); do
	mem_is "$mdir" 67108864 || held=0
	sleep 0.2
done
unrenew
t_last=$(now)
n=$(grep -c . "$WORK/renew.log")
check "  renewed $n times, each answered running with about 10 s left again" \
	jq -e -s 'length >= 2 and all(.[]; .state == "running" and .lease.expires_in_s > 8)' "$WORK/renew.log"
check "  the fault stayed in force for the 5 s watched (memory.max 64M)" [ "$held" = 1 ]
api GET "/v1/samples?target=cgroup:$mdir&now=1"
check "  a sample now of the fault's target: memory.max 64M, and a CPU rate (the job's samples give the previous one)" \
	jq -e '.memory.max == 67108864 and .cpu.usage_pct != null' "$WORK/body"
if wait_until 40 mem_is "$mdir" 943718400; then
	t_back=$(now)
	pass "renewals stopped: memory.max back to 900M $(secs "$t_last" "$t_back") s after the last one (lease 10s, duration 120s)"
	check "  that is once the lease ran out: its 10 s, the server's 1 s round, the revert (5 .. 30 s, emulated)" \
		in_range "$(secs "$t_last" "$t_back")" 5 30
else
	fail "renewals stopped: memory.max back" "still $(cat "$mdir/memory.max") after 40 s"
fi
check "  the job exited 8 (interrupted: reverted), lease expired" \
	wait_until 20 job_is "/v1/faults/$fid" '.state == "exited" and .exit_code == 8 and .lease.expired == true and .summary.not_reverted == []'
check "  the server's log names the lease" grep -q "$fid: its lease (10s) was not renewed" "$WORK/serve.log"
api POST "/v1/faults/$fid/lease"
check "renewing an ended job: 200, still exited ($CODE)" is 200 '.state == "exited"'
api POST /v1/faults --data "$(fault 48M '')"
nid=$(jq -r .id "$WORK/body")
wait_until 30 mem_is "$mdir" 50331648
api POST "/v1/faults/$nid/lease"
check "renewing a job started without a lease: 409 naming lease ($CODE)" is 409 '.field == "lease"'
check "  and it has no lease key" job_is "/v1/faults/$nid" '.lease == null and .state == "running"'
api DELETE "/v1/faults/$nid"
check "  DELETE reverts it as before (memory.max back)" mem_is "$mdir" 943718400
api POST /v1/faults/no-such-job/lease
check "renewing an unknown id: 404 ($CODE)" is 404
api GET "/v1/faults/$fid/lease"
check "GET on a lease: 405 ($CODE)" is 405

cat > "$WORK/exp.yaml" << EOF
name: leased experiment
target: cgroup:$mdir
method:
  - type: action
    name: cap memory
    provider: memory
    max: 56M
    duration: 120s
baseline: 0s
recovery_timeout: 1s
EOF
api POST "/v1/experiments?lease=1x" --data-binary @"$WORK/exp.yaml"
check "an experiment with a bad ?lease=: 422 naming lease ($CODE)" is 422 '.field == "lease"'
api POST "/v1/experiments?lease=10s" --data-binary @"$WORK/exp.yaml"
xid=$(jq -r .id "$WORK/body")
renew experiments "$xid"
check "POST an experiment with ?lease=10s: 201 ($CODE, $xid)" is 201 '.lease.seconds == 10'
check "  renewed: memory.max 56M in force" wait_until 30 mem_is "$mdir" 58720256 || show experiments "$xid"
unrenew
check "  renewals stopped: memory.max back to 900M within 40 s" wait_until 40 mem_is "$mdir" 943718400
check "  the experiment exited, lease expired" \
	wait_until 20 job_is "/v1/experiments/$xid" '.state == "exited" and .lease.expired == true'
bg_stop SERVER TERM
check "the server exits 0 after the leases ($BG_RC)" [ "$BG_RC" = 0 ]

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/token"
chmod 600 "$WORK/token"
if bg_start SERVER 15 tcp_up "$WORK/serve.log" "$WORK/serve.log" \
	"$SERVE" serve --listen "127.0.0.1:$PORT" --token-file "$WORK/token" --state-dir "$STATE"; then
	CODE=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v1/version")
	check "TCP: /v1/version needs the token: 401 without ($CODE)" [ "$CODE" = 401 ]
	CODE=$(curl -s -o "$WORK/body" -w '%{http_code}' -H "Authorization: Bearer $(cat "$WORK/token")" \
		"http://127.0.0.1:$PORT/v1/version")
	check "TCP: 200 with it" is 200 '.api == 1'
	bg_stop SERVER TERM
else
	fail "serve on 127.0.0.1:$PORT" "did not start"
fi
sanitizer_clean

# duress serve: what the API offers its clients (the Python client,
# docs/python.md) beyond jobs: GET /v1/version (the agent's release from
# VERSION, the API version, its features; behind the token over TCP).
# timeout: 300
. "$(dirname "$0")/lib.sh"

SERVER=
STATE=$WORK/state
SOCK=$WORK/run/duress.sock
PORT=39521
_api_cleanup() {
	[ -n "$SERVER" ] && kill -TERM "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
	_cleanup
}
trap _api_cleanup EXIT

serve_up() { curl -s --max-time 2 --unix-socket "$SOCK" http://d/healthz; }
tcp_up() { curl -s --max-time 2 "http://127.0.0.1:$PORT/healthz"; }
# api METHOD PATH [CURL-ARGS...]: CODE = HTTP status, the body in $WORK/body
api() {
	local m=$1 p=$2; shift 2
	CODE=$(curl -s --max-time 90 -o "$WORK/body" -w '%{http_code}' --unix-socket "$SOCK" -X "$m" "$@" "http://duress$p")
}
is() {
	local code=$1; shift
	[ "$CODE" = "$code" ] || return 1
	[ $# = 0 ] || jq -e "$@" "$WORK/body"
}

if ! bg_start SERVER 15 serve_up "$WORK/serve.log" "$WORK/serve.log" \
	"$DURESS" serve --listen "unix:$SOCK" --state-dir "$STATE"; then
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
bg_stop SERVER TERM

head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/token"
chmod 600 "$WORK/token"
if bg_start SERVER 15 tcp_up "$WORK/serve.log" "$WORK/serve.log" \
	"$DURESS" serve --listen "127.0.0.1:$PORT" --token-file "$WORK/token" --state-dir "$STATE"; then
	CODE=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v1/version")
	check "TCP: /v1/version needs the token: 401 without ($CODE)" [ "$CODE" = 401 ]
	CODE=$(curl -s -o "$WORK/body" -w '%{http_code}' -H "Authorization: Bearer $(cat "$WORK/token")" \
		"http://127.0.0.1:$PORT/v1/version")
	check "TCP: 200 with it" is 200 '.api == 1'
	bg_stop SERVER TERM
else
	fail "serve on 127.0.0.1:$PORT" "did not start"
fi

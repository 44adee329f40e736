# needs: no kernel
# duress serve under hostile clients (issue 12's abuse suite), on the host:
# 500+ generated requests (tests/integration/serve_abuse.py: auth, routing,
# headers, bodies oversized, deeply nested, with many keys, bad UTF-8,
# huge regular expressions, hostile manifests) against a server started
# here; then: it still answers, nothing was started, no answer was a 5xx,
# and its descriptors and the bytes under its state directory are back to
# where they were (no leak).
# timeout: 600
. "$(dirname "$0")/lib.sh"

SERVER=
STATE=$WORK/state
SOCK=$WORK/run/duress.sock
_abuse_cleanup() {
	[ -n "$SERVER" ] && kill -TERM "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
	_cleanup
}
trap _abuse_cleanup EXIT
serve_asan

serve_up() { curl -s --max-time 2 --unix-socket "$SOCK" http://d/healthz; }
nfds() { ls "/proc/$SERVER/fd" | wc -l; }
state_bytes() { find "$STATE" -type f -printf '%s\n' | awk '{ n += $1 } END { print n + 0 }'; }
njobs() { curl -s --unix-socket "$SOCK" "http://d/v1/$1" | jq length; }

bg_start SERVER 15 serve_up "$WORK/serve.log" "$WORK/serve.log" \
	"$SERVE" serve --state-dir "$STATE" --listen "unix:$SOCK" || { fail "duress serve started"; exit 0; }
fd0=$(nfds)
bytes0=$(state_bytes)

python3 "$TOP/tests/integration/serve_abuse.py" "$SOCK" > "$WORK/abuse.out" 2> "$WORK/abuse.err"
sent=$(awk '$1 == "sent" { print $2 }' "$WORK/abuse.out")
echo "  statuses: $(grep -v sent "$WORK/abuse.out" | tr '\n' ' ')"
check "at least 500 hostile requests sent (${sent:-0})" [ "${sent:-0}" -ge 500 ]
check "the server is alive" kill -0 "$SERVER"
check "/healthz still answers" serve_up
# (505 is libmicrohttpd's answer to HTTP/9.9; 500 and 503 would be ours)
check "no answer was a 500 or a 503" awk '$1 == 500 || $1 == 503 { bad = 1 } END { exit bad }' "$WORK/abuse.out"
check "no fault was started" [ "$(njobs faults)" = 0 ]
check "no experiment was started" [ "$(njobs experiments)" = 0 ]
fds_back() { [ "$(nfds)" -le "$fd0" ]; }
wait_until 20 fds_back
check "its descriptors are back to $fd0 ($(nfds))" fds_back
bytes_back() { [ "$(state_bytes)" = "$bytes0" ]; }
wait_until 20 bytes_back
check "the bytes under its state directory are back to $bytes0 ($(state_bytes))" bytes_back
bg_stop SERVER TERM
check "it stops with 0 ($BG_RC)" [ "$BG_RC" = 0 ]
# (after its exit: the ASan build reports leaks then)
check "no sanitizer or libmicrohttpd error in its output" \
	bash -c "! grep -E 'AddressSanitizer|LeakSanitizer|runtime error|internal error' '$WORK/serve.log'"
sanitizer_clean

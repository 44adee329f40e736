# needs: no kernel
# duress serve's probe latency metric, duress_probe_duration_seconds (a
# histogram), on the host: an experiment job of http probes only (no target,
# no cgroup v2 needed) against a local server that counts the requests it
# gets and answers /slow after 300 ms.  /metrics then has, for the job's id
# and experiment, one histogram per probe: its _count is the number of
# requests the server saw for that probe, its buckets are cumulative with
# +Inf equal to _count, the slow probe's observations are all above 0.25 s
# and its mean at least 0.3 s, a probe name with a quote is escaped, and of
# the experiment's ten probes only the first eight are series (bounded
# cardinality).  The histogram stays once the job has ended.
. "$(dirname "$0")/lib.sh"

STATE=$WORK/state
SOCK=$WORK/run/duress.sock
mkdir -p "$WORK/run"
SERVER= ORIGIN=
_probes_cleanup() {
	[ -n "$SERVER" ] && kill -TERM "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
	[ -n "$ORIGIN" ] && kill "$ORIGIN" 2>/dev/null && wait "$ORIGIN" 2>/dev/null
	_cleanup
}
trap _probes_cleanup EXIT
serve_asan

# the origin: GET /slow after 300 ms, anything else at once; every request
# path appended to $WORK/requests
cat > "$WORK/origin.py" << 'EOF'
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class H(BaseHTTPRequestHandler):
    def do_GET(self):
        with open(sys.argv[2], "a") as f:
            f.write(self.path + "\n")
        if self.path == "/slow":
            time.sleep(0.3)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass

s = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
EOF
: > "$WORK/requests"
python3 "$WORK/origin.py" x "$WORK/requests" > "$WORK/origin.port" 2> "$WORK/origin.err" &
ORIGIN=$!
wait_until 10 test -s "$WORK/origin.port" || { fail "the origin server started" "$(cat "$WORK/origin.err")"; exit 0; }
PORT=$(cat "$WORK/origin.port")

serve_up() { curl -s --max-time 2 --unix-socket "$SOCK" http://d/healthz; }
bg_start SERVER 15 serve_up "$WORK/serve.log" "$WORK/serve.log" \
	"$SERVE" serve --state-dir "$STATE" --listen "unix:$SOCK" --allow-probe-net 127.0.0.0/8 ||
	{ fail "duress serve started"; exit 0; }

{
	cat << EOF
name: probe latency
probe_interval: 200ms
recovery_timeout: 1s
steady_state:
  probes:
    - name: fast
      type: http
      url: http://127.0.0.1:$PORT/fast
    - name: 'slow "q"'
      type: http
      url: http://127.0.0.1:$PORT/slow
EOF
	for i in 3 4 5 6 7 8 9 10; do
		printf '    - name: p%s\n      type: http\n      url: http://127.0.0.1:%s/p%s\n' "$i" "$PORT" "$i"
	done
	cat << EOF
method:
  - type: pause
    name: wait
    duration: 1500ms
EOF
} > "$WORK/x.yaml"

CODE=$(curl -s --max-time 30 -o "$WORK/body" -w '%{http_code}' --unix-socket "$SOCK" -X POST \
	-H 'Content-Type: application/yaml' --data-binary @"$WORK/x.yaml" "http://d/v1/experiments?id=lat-1")
check "the experiment job is accepted (201; $(head -c 300 $WORK/body))" [ "$CODE" = 201 ]
ended() { curl -s --unix-socket "$SOCK" http://d/v1/experiments/lat-1 | jq -e '.state == "exited"'; }
check "the job ends" wait_until 60 ended
curl -s --unix-socket "$SOCK" http://d/v1/experiments/lat-1 > "$WORK/job"
check "it held (exit 0: $(jq -c '{exit_code, outcome}' "$WORK/job"))" jq -e '.exit_code == 0' "$WORK/job"
curl -s --unix-socket "$SOCK" http://d/metrics > "$WORK/metrics"
mkdir -p "$RESULTS/artefacts" && cp "$WORK/metrics" "$RESULTS/artefacts/serve-probes.metrics"

L_FAST='id="lat-1",experiment="probe latency",probe="fast"'
L_SLOW='id="lat-1",experiment="probe latency",probe="slow \"q\""'
# val SERIES: the value of one exact series line
# (through the environment: awk -v would undo the label's escapes)
val() { S="$1" awk 'index($0, ENVIRON["S"] " ") == 1 { print $NF }' "$WORK/metrics"; }
n_fast=$(grep -cx /fast "$WORK/requests")
n_slow=$(grep -cx /slow "$WORK/requests")
check "the histogram is declared once" \
	bash -c '[ "$(grep -c "^# TYPE duress_probe_duration_seconds histogram$" "$1")" = 1 ]' _ "$WORK/metrics"
check "fast: _count is the requests the server saw for it ($n_fast)" \
	[ "$(val "duress_probe_duration_seconds_count{$L_FAST}")" = "$n_fast" ]
check "fast: runs before, during and after the method (at least 5)" [ "$n_fast" -ge 5 ]
check "slow \"q\": the name escaped, _count the server's ($n_slow)" \
	[ "$(val "duress_probe_duration_seconds_count{$L_SLOW}")" = "$n_slow" ]
check "slow: +Inf is _count" \
	[ "$(val "duress_probe_duration_seconds_bucket{$L_SLOW,le=\"+Inf\"}")" = "$n_slow" ]
check "slow: none at or under 0.25 s (the server waits 0.3 s)" \
	[ "$(val "duress_probe_duration_seconds_bucket{$L_SLOW,le=\"0.25\"}")" = 0 ]
check "slow: the mean (_sum / _count) is at least 0.3 s" \
	awk -v s="$(val "duress_probe_duration_seconds_sum{$L_SLOW}")" -v n="$n_slow" 'BEGIN { exit !(n > 0 && s / n >= 0.3) }'
check "every probe's buckets are cumulative, ending in _count" python3 -c '
import re, sys
b, c = {}, {}
for l in open(sys.argv[1]):
    m = re.match(r"duress_probe_duration_seconds_(bucket|count)\{(.*?)(?:,le=\"([^\"]+)\")?\} (\S+)$", l)
    if m:
        (b.setdefault(m[2], []) if m[1] == "bucket" else c.setdefault(m[2], [])).append(float(m[4]))
sys.exit(not b or any(v != sorted(v) or v[-1] != c[k][0] for k, v in b.items()))' "$WORK/metrics"
check "ten probes, eight series for the job (bounded)" \
	bash -c '[ "$(grep "^duress_probe_duration_seconds_count{id=\"lat-1\"" "$1" | wc -l)" = 8 ]' _ "$WORK/metrics"
check "no sanitizer error in the server's or the job's output" \
	bash -c '! grep -rqE "AddressSanitizer|runtime error|LeakSanitizer" "$1/serve.log" "$2"' _ "$WORK" "$STATE/serve"
bg_stop SERVER TERM
sanitizer_clean

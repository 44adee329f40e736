# timeout: 240
# duress report on real runs: a memory cap whose hog gets OOM-killed, a CPU
# quota with a worker, and a network delay with an http probe, overlapping;
# the page is checked against the samples (the series, the limit lines and
# the OOM markers where the samples put them), and as Markdown (journal,
# samples, page kept in RESULTS/artefacts; test_report_render.sh screenshots
# such a run with Chromium on the host); an aborted run and a probe-only run
# render too; bad input is named; GET /v1/experiments/ID/report.
. "$(dirname "$0")/lib.sh"
serve_asan

ART=$RESULTS/artefacts
mkdir -p "$ART"

dir=$(new_cgroup report)
spawn "$dir" unshare -n sh -c 'ip link set lo up && exec "$0" 8080' "$HELPERS/httpd"
wait_ready "$WORK/spawn.$$.out" || fail "http server started in its own netns" "no ready line: $(cat "$WORK/spawn.$$.out")"

cat > "$WORK/exp.yaml" <<'YAML'
name: memory, cpu and network under duress
steady_state:
  title: the service answers
  probes:
    - name: health
      type: http
      url: http://127.0.0.1:8080/health
      netns: target
      timeout: 2s
      status: 200
method:
  - type: action
    name: cap memory, hog beyond it
    provider: memory
    max: 32M
    swap-max: 0
    hog: 96M
    duration: 5s
    background: true
  - type: action
    name: half a CPU, one worker
    provider: cpu
    quota: 0.5
    workers: 1
    duration: 3s
    background: true
    pauses:
      before: 2s
  - type: action
    name: delay lo
    provider: network
    device: lo
    delay: 100ms
    duration: 3s
probe_interval: 500ms
sample_interval: 250ms
baseline: 1s
recovery_timeout: 3s
YAML
"$DURESS" run "$WORK/exp.yaml" -t "cgroup:$dir" --journal "$WORK/j.json" --samples "$WORK/s.jsonl" \
	> "$WORK/run.out" 2> "$WORK/run.err"
rc=$?
check "the run held (exit 0; got $rc: $(tail -n 3 "$WORK/run.err" | tr '\n' ' '))" [ $rc = 0 ]
check "journal: the hog was OOM-killed" jq -e '[.duress.kernel_events[] | select(.kind == "oom_kill")] | length == 1' "$WORK/j.json"
check "journal: duress.timeline puts the method and the revert on the samples' clock" \
	jq -e '.duress.timeline | .method_start_s > 0 and .revert_at_s > .method_start_s and .end_s >= .revert_at_s' "$WORK/j.json"
check "journal: every probe run wholly under the 100ms delay took at least 100ms" \
	jq -e '([.run[] | select(.output.fault == "network")][0].output) as $n | [.duress.probes[0].timeline[]
		| select(.t - .latency_ms / 1000 >= $n.applied_at_s and .t <= $n.applied_at_s + $n.in_force_s)
		| .latency_ms] | length > 0 and min >= 100' "$WORK/j.json"

expect_exit "report: exit 0" 0 "$DURESS" report "$WORK/j.json" --samples "$WORK/s.jsonl" -o "$WORK/report.html"
cp "$WORK/report.html" "$WORK/s.jsonl" "$WORK/j.json" "$ART/" 2>/dev/null
out=$(python3 "$TOP/tests/integration/report_check.py" "$WORK/report.html" "$WORK/s.jsonl" \
	self-contained series:memory.current series:cpu.usage_pct series:cpu.throttled_pct \
	series:probe:health series:psi.memory.some_avg10 limit:memory.max:memory.max \
	cpu-limit oom windows:fault:3 windows:steady:2 2>&1)
check "report: self-contained; memory, cpu, probe series; memory.max and cpu.max where the samples say; one OOM marker per sample that saw a kill; 3 fault windows${out:+: $out}" [ -z "$out" ]
check "report: the verdict in words at the top" grep -q 'id="verdict" data-verdict="held"><h1>HELD' "$WORK/report.html"

expect_exit "report --format markdown: exit 0" 0 "$DURESS" report "$WORK/j.json" --samples "$WORK/s.jsonl" --format markdown
cp "$WORK/stdout" "$ART/report.md"
check "markdown: the verdict, the three faults and the probe, no HTML" bash -c \
	'grep -q "^\*\*HELD\*\*: " "$1" && [ "$(grep -c "| fault |" "$1")" = 3 ] && grep -q "^| health | 0/1 |" "$1" && ! grep -q "<" "$1"' _ "$WORK/stdout"

# ---- an aborted run (its wall-clock limit hits while the fault is on)
cat > "$WORK/abort.yaml" <<'YAML'
name: aborted
method:
  - type: action
    name: cap memory
    provider: memory
    max: 64M
    duration: 10s
baseline: 500ms
sample_interval: 250ms
abort:
  max_duration: 2s
YAML
"$DURESS" run "$WORK/abort.yaml" -t "cgroup:$dir" --journal "$WORK/a.json" --samples "$WORK/a.jsonl" > /dev/null 2>&1
check "aborted run: exit 9" [ $? = 9 ]
expect_exit "aborted run: report exit 0" 0 "$DURESS" report "$WORK/a.json" --samples "$WORK/a.jsonl" -o "$WORK/a.html"
check "aborted run: verdict ABORTED with the reason, the abort line on the timeline" bash -c \
	'grep -q "<h1>ABORTED" "$1" && grep -q "abort.max_duration" "$1" && grep -q "<line class=\"abort\"" "$1"' _ "$WORK/a.html"
out=$(python3 "$TOP/tests/integration/report_check.py" "$WORK/a.html" "$WORK/a.jsonl" limit:memory.max:memory.max windows:fault:1 2>&1)
check "aborted run: memory.max drawn where the samples have it${out:+: $out}" [ -z "$out" ]

# ---- a probe-only run (no fault)
cat > "$WORK/probe.yaml" <<'YAML'
name: probes only
steady_state:
  title: the service answers
  probes:
    - name: health
      type: http
      url: http://127.0.0.1:8080/health
      netns: target
      status: 200
method:
  - type: pause
    name: wait
    duration: 1s
probe_interval: 250ms
baseline: 500ms
YAML
"$DURESS" run "$WORK/probe.yaml" -t "cgroup:$dir" --journal "$WORK/p.json" > /dev/null 2>&1
check "probe-only run: exit 0" [ $? = 0 ]
expect_exit "probe-only run: report (no samples) exit 0" 0 "$DURESS" report "$WORK/p.json" -o "$WORK/p.html"
check "probe-only run: HELD, the probe's latency chart, no fault window" bash -c \
	'grep -q "<h1>HELD" "$1" && grep -q "data-series=\"probe:health\"" "$1" && ! grep -q "data-kind=\"fault\"" "$1"' _ "$WORK/p.html"

# ---- bad input: named, nothing left behind
echo '{"t": 1}' > "$WORK/bad.jsonl"; echo 'nonsense' >> "$WORK/bad.jsonl"; echo '{"t": 2}' >> "$WORK/bad.jsonl"
expect_exit "a samples file with a bad line: exit 2" 2 "$DURESS" report "$WORK/j.json" --samples "$WORK/bad.jsonl" -o "$WORK/bad.html"
check "... naming FILE:LINE, and no output left" bash -c 'grep -q "bad.jsonl:2: not a sample" "$1" && ! [ -e "$2" ] && ! [ -e "$2.tmp" ]' _ "$WORK/stderr" "$WORK/bad.html"
expect_exit "the samples file as the journal: exit 2" 2 "$DURESS" report "$WORK/s.jsonl"

# ---- the same report from the API of `duress serve`
STATE=$WORK/state SOCK=$WORK/state/duress.sock
mkdir -p "$STATE"
serve_up() { curl -s --max-time 2 --unix-socket "$SOCK" http://d/healthz; }
if bg_start SERVER 15 serve_up "$WORK/serve.log" "$WORK/serve.log" \
	"$SERVE" serve --state-dir "$STATE" --listen "unix:$SOCK" --allow-probe-net 127.0.0.0/8; then
	api() { curl -s --max-time 30 -o "$WORK/body" -w '%{http_code}' --unix-socket "$SOCK" "$@"; }
	code=$(api -H 'Content-Type: application/yaml' --data-binary @"$WORK/probe.yaml" "http://d/v1/experiments?target=cgroup:$dir")
	xid=$(jq -r .id "$WORK/body")
	check "serve: experiment posted (201, $xid)" [ "$code" = 201 ]
	code=$(api "http://d/v1/experiments/$xid/report")
	check "serve: its report while it runs: 409 ($code)" [ "$code" = 409 ]
	wait_until 30 bash -c "curl -s --unix-socket '$SOCK' http://d/v1/experiments/$xid | jq -e '.state == \"exited\"'"
	code=$(api -D "$WORK/headers" "http://d/v1/experiments/$xid/report")
	check "serve: GET /v1/experiments/$xid/report once ended: 200, text/html, the verdict and the probe ($code)" bash -c \
		'[ "$1" = 200 ] && grep -qi "^content-type: text/html" "$2" && grep -q "<h1>HELD" "$3" && grep -q "data-series=\"probe:health\"" "$3"' \
		_ "$code" "$WORK/headers" "$WORK/body"
	code=$(api "http://d/v1/experiments/$xid/report?format=markdown")
	check "serve: ?format=markdown: 200 and Markdown ($code)" bash -c '[ "$1" = 200 ] && grep -q "^\*\*HELD\*\*" "$2"' _ "$code" "$WORK/body"
	code=$(api "http://d/v1/experiments/$xid/report?format=pdf")
	check "serve: ?format=pdf: 400 ($code)" [ "$code" = 400 ]
	code=$(api "http://d/v1/experiments/nosuch/report")
	check "serve: an unknown id: 404 ($code)" [ "$code" = 404 ]
	bg_stop SERVER
else
	fail "serve started" "$(tail -n 5 "$WORK/serve.log")"
fi
sanitizer_clean

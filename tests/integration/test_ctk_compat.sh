# needs: no kernel
# Chaos Toolkit experiments behave as chaostoolkit-lib runs them.  Each
# construct is a probe-only experiment (no target, no cgroup v2, any host)
# run against a local echo server (tests/integration/ctk_echo.py), and each
# check says what chaostoolkit-lib does, as read in its source:
#   chaoslib/provider/process.py  path = shutil.which(expanduser(path)); a
#     string of arguments is one shell line "PATH ARGUMENTS"; a list is the
#     argv, a map is flattened into key, value; None and "" dropped; no
#     default timeout, TimeoutExpired raises ActivityFailed; output
#     {status, stdout, stderr}
#   chaoslib/provider/http.py  method upper-cased; GET arguments are params
#     (the query string); other methods json= only with Content-Type exactly
#     application/json, else data= (form-encoded); a 4xx/5xx is only a
#     warning: the activity succeeded with {status, headers, body}; the body
#     is parsed JSON only when Content-Type is exactly application/json
#   chaoslib/hypothesis.py within_tolerance  int: status ==; list: status
#     in; bool and str: the whole output == (never for a map); regex/range/
#     jsonpath after value.get(target); jsonpath count and expect;
#     a probe tolerance: met unless it raises
#   chaoslib/activity.py  a raised activity: status failed, exception, and
#     in the hypothesis tolerance_met false; refs through the cache of the
#     method and the hypothesis
# The journals are checked against tests/integration/ctk_journal.schema.json
# (written from the Chaos Toolkit journal reference) with python3-jsonschema.
# timeout: 120
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
SCHEMA=$TOP/tests/integration/ctk_journal.schema.json
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
up() { curl -fs -o /dev/null "$URL/text"; }
bg_start SERVER 20 up "$WORK/srv.out" "$WORK/srv.err" "$PY" "$TOP/tests/integration/ctk_echo.py" \
	"$PORT" || fail "echo server started"
_pids+=("$SERVER")

# exp NAME: write $WORK/NAME.yaml from stdin (a title and description added)
exp() { { printf 'title: %s\ndescription: d\n' "$1"; cat; } > "$WORK/$1.yaml"; }
# run NAME: duress run it (probes only); exit status in $rc, journal in $WORK/NAME.json
run() {
	(cd "$WORK" && "$DURESS" run "$1.yaml" -q --journal "$1.json" > "$1.out" 2> "$1.err")
	rc=$?
}
# jv NAME JQ: the journal's value, compact
jv() { jq -c "$2" "$WORK/$1.json"; }
schema_ok() {
	"$PY" -c 'import json, sys, jsonschema
jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))' "$SCHEMA" "$1"
}

# ---- process providers ----
mkdir -p "$WORK/home/bin"
printf '#!/bin/sh\necho "mine $*"\n' > "$WORK/home/bin/myprog"
chmod +x "$WORK/home/bin/myprog"
exp proc <<EOF
steady-state-hypothesis:
  title: s
  probes:
    - type: probe
      name: pipe
      tolerance: {type: regex, target: stdout, pattern: "^HELLO WORLD\$"}
      provider: {type: process, path: echo, arguments: "hello world | tr a-z A-Z; echo err >&2"}
    - type: probe
      name: list
      tolerance: {type: regex, target: stdout, pattern: "^a\\\\|3\\\\|True\\\\|\$"}
      provider: {type: process, path: printf, arguments: ['%s|', a, '', null, 3, true]}
    - type: probe
      name: map
      tolerance: {type: regex, target: stdout, pattern: "^--x 1 --y\$"}
      provider: {type: process, path: echo, arguments: {--x: 1, --y: ''}}
    - type: probe
      name: home
      tolerance: 0
      provider: {type: process, path: ~/bin/myprog, arguments: [z]}
    - type: probe
      name: exit3
      tolerance: 3
      provider: {type: process, path: sh, arguments: "-c 'exit 3'"}
method: []
EOF
HOME=$WORK/home run proc
check "process: every construct as chaostoolkit-lib runs it (exit $rc)" [ "$rc" = 0 ] ||
	head -c 600 "$WORK/proc.err"
check "process: a string runs as one shell line (pipe, redirect): stdout HELLO WORLD, stderr err" \
	[ "$(jv proc '.steady_states.before.probes[0].output | [.stdout, .stderr]')" = '["HELLO WORLD\n","err\n"]' ]
check "process: the journal keeps the string arguments whole" \
	[ "$(jv proc '.steady_states.before.probes[0].activity.provider.arguments')" = '"hello world | tr a-z A-Z; echo err >&2"' ]
check "process: a list is the argv, '' and null dropped, str() of each (a|3|True|)" \
	[ "$(jv proc '.steady_states.before.probes[1].output.stdout')" = '"a|3|True|"' ]
check "process: a map flattened, the empty value dropped (--x 1 --y)" \
	[ "$(jv proc '.steady_states.before.probes[2].output.stdout')" = '"--x 1 --y\n"' ]
check "process: ~ expanded (shutil.which(expanduser(path)))" \
	[ "$(jv proc '.steady_states.before.probes[3].output.stdout')" = '"mine z\n"' ]
check "process: an integer tolerance is the exit status (3)" \
	[ "$(jv proc '.steady_states.before.probes[4] | [.status, .tolerance_met, .output.status]')" = '["succeeded",true,3]' ]
check "process journal: valid against the Chaos Toolkit journal schema" schema_ok "$WORK/proc.json"

exp timeout <<EOF
steady-state-hypothesis:
  title: s
  probes:
    - type: probe
      name: slow
      tolerance: 0
      provider: {type: process, path: sleep, arguments: ["5"], timeout: 0.3}
method: []
EOF
run timeout
check "process timeout: ActivityFailed, so the steady state is not met (exit 1, got $rc)" [ "$rc" = 1 ]
check "process timeout: status failed, tolerance_met false, an exception" \
	[ "$(jv timeout '.steady_states.before.probes[0] | [.status, .tolerance_met, (.exception | length > 0)]')" = '["failed",false,true]' ]
check "timeout journal: valid against the schema" schema_ok "$WORK/timeout.json"

# ---- http providers ----
exp http <<EOF
steady-state-hypothesis:
  title: s
  probes:
    - type: probe
      name: status
      tolerance: 200
      provider: {type: http, url: "$URL/text", expected_status: 201}
    - type: probe
      name: list
      tolerance: [200, 204]
      provider: {type: http, url: "$URL/text"}
    - type: probe
      name: regex-body
      tolerance: {type: regex, target: body, pattern: "world \\\\d+"}
      provider: {type: http, url: "$URL/text"}
    - type: probe
      name: range-status
      tolerance: {type: range, target: status, range: [200, 299]}
      provider: {type: http, url: "$URL/text"}
    - type: probe
      name: jsonpath
      tolerance: {type: jsonpath, target: body, path: "\$.items[*].id", expect: [1, 2, 3]}
      provider: {type: http, url: "$URL/items"}
    - type: probe
      name: jsonpath-count
      tolerance: {type: jsonpath, target: body, path: "\$.items[?(@.ok = true)]", count: 2}
      provider: {type: http, url: "$URL/items"}
    - type: probe
      name: probe-tolerance
      tolerance:
        type: probe
        name: check
        provider: {type: process, path: "true"}
      provider: {type: http, url: "$URL/text"}
method:
  - type: action
    name: get-args
    provider: {type: http, url: "$URL/echo?x=1", method: get, arguments: {q: "a b&c", n: [1, 2], z: null}}
  - type: action
    name: post-form
    provider: {type: http, url: "$URL/echo", method: post, arguments: {a: 1, b: x}}
  - type: action
    name: put-json
    provider: {type: http, url: "$URL/echo", method: put, headers: {Content-Type: application/json}, arguments: {a: 1}}
  - type: action
    name: five-oh-three
    provider: {type: http, url: "$URL/status/503", max_retries: 1}
  - type: probe
    name: not-json
    provider: {type: http, url: "$URL/jsontext"}
  - ref: status
EOF
run http
check "http: every construct as chaostoolkit-lib runs it (exit $rc)" [ "$rc" = 0 ] ||
	head -c 600 "$WORK/http.err"
check "http: tolerances int, list, regex/range with target, jsonpath expect and count, probe: all met" \
	[ "$(jv http '[.steady_states.before.probes[].tolerance_met] | all')" = true ]
check "http: GET arguments are the query string (requests' params)" \
	[ "$(jv http '.run[0].output.body | [.method, .query]')" = '["GET","x=1&q=a+b%26c&n=1&n=2"]' ]
check "http: POST form-encoded without Content-Type application/json" \
	[ "$(jv http '.run[1].output.body | [.method, .body, .headers["Content-Type"]]')" = '["POST","a=1&b=x","application/x-www-form-urlencoded"]' ]
check "http: PUT JSON with Content-Type application/json" \
	[ "$(jv http '.run[2].output.body | [.method, (.body | fromjson)]')" = '["PUT",{"a":1}]' ]
check "http: a 503 action succeeded, the status and headers in its output" \
	[ "$(jv http '.run[3] | [.status, .output.status, .output.headers["X-Reply"], .output.body]')" = '["succeeded",503,"n","status 503"]' ]
check "http: a body not exactly application/json stays text" \
	[ "$(jv http '.run[4].output.body')" = '"{\"a\": 1}"' ]
check "http: a ref runs the hypothesis' probe (recorded as that activity)" \
	[ "$(jv http '.run[5] | [.activity.name, .output.status]')" = '["status",200]' ]
check "http: the journal keeps tolerances as written" \
	[ "$(jv http '.steady_states.before.probes[4].activity.tolerance')" = '{"type":"jsonpath","target":"body","path":"$.items[*].id","expect":[1,2,3]}' ]
check "http journal: valid against the Chaos Toolkit journal schema" schema_ok "$WORK/http.json"

# a probe tolerance runs in the hypothesis only: chaostoolkit-lib checks no
# tolerance in the method (map arguments: it adds `value` to them, which
# `sh -c` ignores)
exp tolprobe <<EOF
steady-state-hypothesis:
  title: s
  probes:
    - type: probe
      name: hyp
      tolerance: {type: probe, name: mark-hyp, provider: {type: process, path: sh, arguments: {-c: "touch $WORK/hyp.mark"}}}
      provider: {type: http, url: "$URL/text"}
method:
  - type: probe
    name: meth
    tolerance: {type: probe, name: mark-meth, provider: {type: process, path: sh, arguments: {-c: "touch $WORK/meth.mark"}}}
    provider: {type: http, url: "$URL/text"}
EOF
run tolprobe
check "probe tolerance: run in the hypothesis (before and after), never in the method (exit $rc)" \
	[ "$rc/$(ls "$WORK" | grep -c '^hyp.mark$')/$(ls "$WORK" | grep -c '^meth.mark$')" = 0/1/0 ]

# tolerances that are not met, as within_tolerance says
for t in 'tolerance: 201' 'tolerance: true' 'tolerance: "hello world 42"' \
	 'tolerance: {type: regex, target: body, pattern: "^nope"}' \
	 'tolerance: {type: jsonpath, target: body, path: "$.items[*]", count: 2}' \
	 'tolerance: {type: range, target: body, range: [0, 10]}'; do
	exp notmet <<EOF
steady-state-hypothesis:
  title: s
  probes:
    - type: probe
      name: p
      $t
      provider: {type: http, url: "$URL/$(case $t in *items*) echo items;; *) echo text;; esac)"}
method: []
EOF
	run notmet
	check "not met ($t): exit 1, status succeeded, tolerance_met false" \
		[ "$rc/$(jv notmet '.steady_states.before.probes[0] | [.status, .tolerance_met]')" = '1/["succeeded",false]' ]
done

# ---- configuration and secrets (chaoslib/__init__.py substitute, secret.py) ----
# ${name} from the configuration, then any secrets scope (inline or env);
# only where substitute() is called (http url, headers, arguments; not the
# title); an unknown name stays as written (Template.safe_substitute)
cat > "$WORK/subst.yaml" <<EOF
title: "t \${base}"
description: d
configuration:
  base: "$URL"
secrets:
  auth:
    token: {type: env, key: DURESS_CTK_TOKEN}
  plain:
    word: s3cret
method:
  - type: action
    name: with-secrets
    provider:
      type: http
      url: "\${base}/echo"
      headers: {Authorization: "Bearer \${token}"}
      arguments: {w: "\${word}", u: "\${undefined}"}
      secrets: [auth, plain]
EOF
DURESS_CTK_TOKEN=tok-123 run subst
check "secrets: the run works (exit $rc)" [ "$rc" = 0 ] || head -c 600 "$WORK/subst.err"
check "secrets: configuration, env and inline secrets reach the request; an unknown \${name} stays" \
	[ "$(jv subst '.run[0].output.body | [.path, .headers.Authorization, .query]')" = '["/echo","Bearer tok-123","w=s3cret&u=%24%7Bundefined%7D"]' ]
check "secrets: the title is not substituted" grep -qF "experiment 't \${base}'" "$WORK/subst.err"
check "secrets: the journal's activity is as written (no secret value in it but the echo)" \
	[ "$(jv subst '.run[0].activity.provider.headers.Authorization')/$(grep -c 'tok-123' "$WORK/subst.json")" = '"Bearer ${token}"/1' ]
run subst
check "secrets: an env secret whose variable is unset makes the experiment invalid (exit 10, got $rc)" \
	[ "$rc" = 10 ]

# ---- python providers: unsupported, one message, exit 4 ----
exp py <<EOF
steady-state-hypothesis:
  title: s
  probes:
    - type: probe
      name: py
      tolerance: true
      provider: {type: python, module: chaosk8s.probes, func: all_pods_healthy}
method:
  - ref: py
EOF
echo '{"kept": true}' > "$WORK/py.json"
echo '<kept/>' > "$WORK/py.xml"
(cd "$WORK" && "$DURESS" run py.yaml --journal py.json --junit py.xml > /dev/null 2> py.err)
rc=$?
check "python: exit 4 (unsupported), got $rc" [ "$rc" = 4 ]
check "python: one message, naming the provider ($(tr '\n' '|' < "$WORK/py.err"))" \
	[ "$(grep -c 'python (chaosk8s.probes.all_pods_healthy)' "$WORK/py.err")/$(grep -c '^py.yaml:' "$WORK/py.err")" = 1/1 ]
check "an early stop leaves the existing --journal and --junit as they were" \
	[ "$(cat "$WORK/py.json" "$WORK/py.xml")" = "$(printf '{"kept": true}\n<kept/>')" ]
check "no temporary file left beside them" [ "$(ls "$WORK" | grep -c '^py\.\(json\|xml\)\.')" = 0 ]

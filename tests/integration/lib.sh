# Shared helpers of the integration tests (sourced).  Each check reports one
# line with pass/fail/skip; every cgroup and process a test makes is removed
# by the EXIT trap, whatever happens.
set -uo pipefail
TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
RESULTS=${RESULTS:-/var/tmp/duress-results}
DURESS=${DURESS:-$TOP/${BUILD:-build}/duress}
HELPERS=$TOP/${BUILD:-build}/tests/helpers
CG=/sys/fs/cgroup
T=$(basename "$0" .sh)
WORK=$(mktemp -d /tmp/duress-it.XXXXXX)
mkdir -p "$RESULTS"

_cgroups=()
_pids=()

# record LINE: one result line; a result that cannot be written (say the
# results folder's disk is full) ends the test loudly rather than vanish
record() {
	echo "$1" >> "$RESULTS/results.txt" && return 0
	echo "  cannot write to $RESULTS/results.txt: $1" >&2
	exit 97
}
pass() { record "PASS $T: $1"; echo "  ok    $1"; }
# jq -e on an empty input prints nothing and exits 0: a check on a file that
# a failed command left empty passed without looking at anything (it hid a
# client that never connected).  Here jq -e with a regular file as its last
# argument fails when that file is empty (not with -s or -n, where empty
# input is an input: [] or none).  Exported: checks run it under bash -c.
jq() {
	local a e=false other=false last=${!#}
	for a in "$@"; do
		case $a in
		--exit-status) e=true ;;
		--slurp | --null-input) other=true ;;
		--*) ;;
		-*)
			[[ $a == -*e* ]] && e=true
			[[ $a == -*[sn]* ]] && other=true
			;;
		esac
	done
	if $e && ! $other && [ $# -gt 1 ] && [ -f "$last" ] && [ ! -s "$last" ]; then
		echo "jq: $last is empty: nothing to check" >&2
		return 1
	fi
	command jq "$@"
}
export -f jq

fail() { record "FAIL $T: $1 -- ${2:-}"; echo "  FAIL  $1 -- ${2:-}"; }
skip() { record "SKIP $T: $1 -- $2"; echo "  skip  $1 -- $2"; }

# check DESCRIPTION COMMAND...: pass if the command succeeds (its standard
# output, e.g. jq's verdict, is not shown)
check() {
	local desc=$1; shift
	if "$@" > /dev/null; then pass "$desc"; else fail "$desc" "failed: $*"; return 1; fi
}

# expect_exit DESCRIPTION CODE COMMAND...: pass if the command exits CODE;
# its stderr is kept in $WORK/stderr for message checks
expect_exit() {
	local desc=$1 code=$2; shift 2
	"$@" > "$WORK/stdout" 2> "$WORK/stderr"
	local rc=$?
	if [ "$rc" = "$code" ]; then
		pass "$desc"
	else
		fail "$desc" "exit $rc, wanted $code; stderr: $(head -c 300 "$WORK/stderr")"
	fi
}

# timed COMMAND...: run COMMAND; its exit status in $rc, its seconds (two
# decimals) in $took
timed() {
	local start
	start=$(date +%s.%N)
	"$@"
	rc=$?
	took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
}

# in_range VALUE LO HI (floats)
in_range() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'; }

# new_cgroup NAME: makes $CG/duress-it-NAME-<pid>, prints its path.  It
# is called as $(new_cgroup ...), in a subshell: the path is kept for the
# EXIT trap in a file, not in a variable that the subshell would lose.
new_cgroup() {
	local dir=$CG/duress-it-$1-$$
	mkdir "$dir" || return 1
	echo "$dir" >> "$WORK/.cgroups"
	echo "$dir"
}

# spawn DIR COMMAND...: start COMMAND inside cgroup DIR (joins before exec);
# sets SPAWNED to its pid
spawn() {
	local dir=$1; shift
	sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$dir" "$@" > "$WORK/spawn.$$.out" 2>&1 &
	disown -h $! 2>/dev/null
	SPAWNED=$!
	_pids+=("$SPAWNED")
	# in the cgroup before the caller goes on: an agent started right
	# after would otherwise find the target empty
	wait_until 10 --while "$SPAWNED" grep -qx "$SPAWNED" "$dir/cgroup.procs"
}

# wait_until SECONDS [--while PID] COMMAND...: run COMMAND (quietly) every
# 50 ms until it succeeds; 1 once SECONDS have passed or, with --while,
# as soon as process PID is gone (after one last try)
wait_until() {
	local end=$((SECONDS + $1)) alive=
	shift
	if [ "$1" = --while ]; then alive=$2; shift 2; fi
	until "$@" > /dev/null 2>&1; do
		if [ -n "$alive" ] && ! kill -0 "$alive" 2>/dev/null; then
			"$@" > /dev/null 2>&1
			return
		fi
		[ $SECONDS -ge $end ] && return 1
		sleep 0.05
	done
}

# bg_start VAR SECONDS READY OUT ERR COMMAND...: start COMMAND in the
# background (standard output appended to OUT, errors to ERR), its pid in
# $VAR; wait up to SECONDS for the command READY to succeed while it
# runs; 1, with the end of ERR shown, if it does not
bg_start() {
	local var=$1 secs=$2 ready=$3 out=$4 err=$5
	shift 5
	"$@" >> "$out" 2>> "$err" &
	printf -v "$var" %s $!
	wait_until "$secs" --while "${!var}" "$ready" && return 0
	echo "  $(basename "$1"): $(tail -n 5 "$err")"
	return 1
}

# bg_stop VAR [SIGNAL]: signal the process in $VAR (TERM by default) and
# wait for it; its exit status in $BG_RC, $VAR emptied
bg_stop() {
	kill -"${2:-TERM}" "${!1}" 2>/dev/null
	wait "${!1}" 2>/dev/null
	BG_RC=$?
	printf -v "$1" %s ""
}

# wait_ready FILE: wait up to 20 s for a helper's "ready" line
wait_ready() { wait_until 20 grep -q ready "$1"; }

# remove_cgroup DIR: what a container runtime does when a container exits:
# kill everything in it (children too), wait until empty, remove it
# depth-first, retrying for up to 10 s; returns 1 if it is still there
remove_cgroup() {
	local d=$1 i
	for i in $(seq 100); do
		[ -d "$d" ] || return 0
		echo 1 > "$d/cgroup.kill" 2>/dev/null
		grep -q 'populated 0' "$d/cgroup.events" 2>/dev/null &&
			find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
		[ -d "$d" ] || return 0
		sleep 0.1
	done
	return 1
}

_cleanup() {
	local p d
	for p in "${_pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	[ -f "$WORK/.cgroups" ] && mapfile -t -O "${#_cgroups[@]}" _cgroups < "$WORK/.cgroups"
	for d in "${_cgroups[@]}"; do
		[ -d "$d" ] || continue
		echo 1 > "$d/cgroup.kill" 2>/dev/null
		for _ in $(seq 50); do grep -q 'populated 0' "$d/cgroup.events" 2>/dev/null && break; sleep 0.05; done
		find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$WORK"
}
trap _cleanup EXIT

# jq over JSON Lines, skipping the first sample (no CPU rate yet)
# The pids of the agent's live proxy helpers (comm duress-http,
# duress-tcp, ...; not those that ended, below).  pgrep matches at most 15
# characters of a name, and a longer pattern matches nothing at all: one
# short name at a time.
proxy_pids() {
	local n p
	for n in duress-http duress-tcp duress-dns duress-postgres duress-mysql duress-conns; do
		for p in $(pgrep -x "$n"); do
			ended "$p" || echo "$p"
		done
	done
	return 0
}

# helper_pid NAME: the pid of the fault helper process NAME (duress-http,
# ...), waiting up to 5 s for it: its port may answer before the forked
# helper has taken its name.  Prints nothing if none came.
helper_pid() {
	wait_until 5 pgrep -x "$1" && pgrep -x "$1" | head -n 1
}

# ended PID: the process is gone, a zombie, or dying with nothing left to
# act with: in the kernel's exit (PF_EXITING, 0x4 in the flags of
# /proc/PID/stat) with its descriptors released.  A helper whose agent was
# SIGKILLed is reparented to PID 1, which on some hosts (a container's
# init) never reaps it.  And the last step of an exit, releasing the files
# the process maps (the binary, its 45 libraries), takes long where they
# are on a network filesystem: on the test VM's 9p root each is a round
# trip to the host (p9_client_clunk), and a helper that outlives its agent
# holds the last reference to them all: measured up to 1.5 s on a loaded
# host, its sockets closed at the start of it (test_db_redirect.sh).
ended() {
	local pid=$1 stat f
	read -r stat 2> /dev/null < "/proc/$pid/stat" || return 0
	read -ra f <<< "${stat##*) }"
	[ "${f[0]}" = Z ] && return 0
	(( f[6] & 4 )) || return 1
	[ -z "$(ls -A "/proc/$pid/fd" 2> /dev/null)" ]
}

# running NAME: is a live process (not ended, above) named NAME there?
running() {
	local p
	for p in $(pgrep -x "$1"); do
		ended "$p" || return 0
	done
	return 1
}
# not_running NAME...: none of them is running
not_running() {
	local n
	for n in "$@"; do running "$n" && return 1; done
	return 0
}

jq_avg() { jq -s "[.[1:][] | $2] | add / length * 100 | round / 100" "$1"; }

# serve_asan: the API tests run `duress serve` from the ASan+UBSan build
# (build-asan/duress, `make asan`; `make check` builds it before the
# integration tests; the VM sees it through the shared root), and so do
# the child agents it starts (it runs its own binary).  $SERVE is that
# binary.  Any report ends the process that made it (halt_on_error) and
# is written under $SAN_LOG, never only to a log nobody reads:
# sanitizer_clean, at the end, checks that nothing was written there.
serve_asan() {
	SERVE=$TOP/build-asan/duress
	SAN_LOG=$WORK/sanitizer
	mkdir -p "$SAN_LOG"
	if [ ! -x "$SERVE" ]; then
		fail "the server under test is the ASan build" "no $SERVE: run 'make asan' (make check does)"
		SERVE=$DURESS
		return 1
	fi
	export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:exitcode=99:detect_leaks=1:log_path=$SAN_LOG/asan"
	export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=99:log_path=$SAN_LOG/ubsan"
	export LSAN_OPTIONS="log_path=$SAN_LOG/lsan"
}
# sanitizer_clean: after the server stopped (LeakSanitizer reports at exit)
sanitizer_clean() {
	local f
	f=$(find "$SAN_LOG" -type f -size +0 2> /dev/null | head -n 3)
	if [ -z "$f" ]; then
		pass "no ASan/UBSan/LSan report from the server or its agents"
	else
		fail "no ASan/UBSan/LSan report from the server or its agents" \
			"$(for x in $f; do echo "== $x"; grep -m 8 -E 'ERROR|runtime error|#[0-9] ' "$x"; done | head -c 3000)"
		cp $f "$RESULTS/" 2> /dev/null
	fi
}

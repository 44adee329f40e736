# What the live view tests share (test_live_view.sh, test_live_view_run.sh;
# sourced after lib.sh): a fake cgroup tree, $FCG with the target
# $FCG/app, for DURESS_CGROUP_ROOT (its files plain files this test
# writes: it runs on a host without cgroup v2), and a tmux server of the
# test's own with one session, $S, whose screen the checks read.  Stops
# the test (a failure) where tmux is missing.
command -v tmux > /dev/null || { fail "tmux installed" "make deps installs it (DEPS_TEST)"; exit 0; }
ART=$RESULTS/artefacts
mkdir -p "$ART"
FCG=$WORK/cg
mkdir -p "$FCG/app"
echo "cpu memory io pids" > "$FCG/cgroup.controllers"
printf 'usage_usec 1000\nuser_usec 500\nsystem_usec 500\nnr_periods 10\nnr_throttled 2\nthrottled_usec 300\n' > "$FCG/app/cpu.stat"
# the fake files are plain files: a value written back must be as long as
# the one it replaces (cgroupfs replaces, a plain file is overwritten)
echo "50000 100000" > "$FCG/app/cpu.max"
echo 16777216 > "$FCG/app/memory.current"
echo 67108864 > "$FCG/app/memory.max"
echo max > "$FCG/app/memory.high"
printf 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n' > "$FCG/app/memory.events"
: > "$FCG/app/cgroup.procs"
# setmem BYTES: memory.current replaced whole (rename), never seen half-written
setmem() { echo "$1" > "$FCG/app/.mem" && mv "$FCG/app/.mem" "$FCG/app/memory.current"; }

export TMUX_TMPDIR=$WORK   # a tmux server of our own
S=duress-$T-$$
trap 'tmux kill-server 2>/dev/null; _cleanup' EXIT
screen() { tmux capture-pane -p -t "$S"; }
scrolled() { tmux display-message -p -t "$S" '#{history_size}'; }   # lines scrolled off the screen
# widest LIMIT FILE: no line of FILE wider than LIMIT characters (UTF-8)
widest() { python3 -c 'import sys; sys.exit(max((len(l.rstrip("\n")) for l in open(sys.argv[2], encoding="utf-8")), default=0) > int(sys.argv[1]))' "$@"; }

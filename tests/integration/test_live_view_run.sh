# needs: no kernel
# The live view of `duress run` on a terminal, under tmux, against a fake
# cgroup tree (DURESS_CGROUP_ROOT: the memory and cpu faults write its
# files, so this runs on a host without cgroup v2).  Everything the agent
# writes to the terminal is kept (tmux pipe-pane), so every frame can be
# read back: the phases come in order, a memory cap and a cpu quota are in
# force at once with their countdowns, a probe that fails after the
# rollback shows as FAIL and recovery; the screen redraws in place (one
# frame on screen, nothing scrolled into tmux's history); a 50-column window
# drops the history and cuts every line; TERM=dumb prints plain scrolling
# lines; NO_COLOR has no colour; not a terminal: no view at all.  A frame
# with both faults in force is kept as an artefact (live-run-80x24.txt,
# the README's).
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/live_lib.sh"

# The probe holds until the rollback touches $WORK/down, then fails for
# about 2 s (recovery); each run takes 0.2-0.3 s so that the steady-state
# rounds are frames of their own.
cat > "$WORK/x.yaml" << EOF
name: live view
baseline: 1500ms
sample_interval: 200ms
probe_interval: 400ms
recovery_timeout: 10s
steady_state:
  probes:
    - name: api
      type: process
      path: /bin/sh
      arguments: ["-c", "sleep 0.2\$((RANDOM % 9)); test ! -e $WORK/down || test \$(( \$(date +%s) - \$(stat -c %Y $WORK/down) )) -ge 2"]
method:
  - type: action
    name: cap
    provider: memory
    max: 32M
    duration: 3s
    background: true
  - type: action
    name: quota
    provider: cpu
    quota: 0.2
    duration: 2s
rollback:
  - type: pause
    name: settle
    duration: 1s
  - type: process
    name: mark
    path: /usr/bin/touch
    arguments: ["$WORK/down"]
EOF
sed -e 's/^baseline: .*/baseline: 500ms/' -e '/^rollback:/,$d' -e 's/duration: 3s/duration: 1500ms/' \
	"$WORK/x.yaml" > "$WORK/short.yaml"

# live SIZE EXPERIMENT ENV...: duress run in a tmux session of SIZE
# (COLSxROWS), everything it writes kept in $WORK/pty; it starts once the
# pipe is in place
live() {
	local size=$1 x=$2; shift 2
	tmux kill-session -t "$S" 2> /dev/null
	rm -f "$WORK/go" "$WORK/pty" "$WORK/down" "$WORK/rc"
	tmux new-session -d -s "$S" -x "${size%x*}" -y "${size#*x}" \
		"while [ ! -e $WORK/go ]; do sleep 0.05; done; env $* DURESS_CGROUP_ROOT=$FCG $DURESS run $x -t cgroup:$FCG/app --state-dir $WORK/state; echo \$? > $WORK/rc; sleep 60"
	tmux pipe-pane -o -t "$S" "cat >> $WORK/pty"
	touch "$WORK/go"
}
finished() { wait_until 60 test -s "$WORK/rc"; }
# frames: every frame written, one per paragraph, escapes dropped
frames() { python3 -c '
import re, sys
data = open(sys.argv[1], encoding="utf-8", errors="replace").read()
for f in data.split("\x1b[H")[1:]:
    print(re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", f.split("\x1b[J")[0]).replace("\r", ""))
' "$WORK/pty"; }

live 80x24 "$WORK/x.yaml" TERM=xterm-256color LANG=C.UTF-8 NO_COLOR=
check "80x24: both faults in force at once, with their countdowns" \
	wait_until 30 bash -c "[ \$(tmux capture-pane -p -t $S | grep -c 'IN FORCE .*s left') = 2 ]"
screen > "$WORK/both"
# memory climbing towards the cap while it is in force (data, not a wait)
for m in 18 20 22 24 26 28 29 30; do
	setmem $((m * 1048576))
	sleep 0.1
done
check "80x24: the memory cap shows as a background action, the cpu quota beside it" \
	bash -c 'grep -q "^ACTIONS  memory .cap. *IN FORCE .*s left  background" "$1" && grep -q "^         cpu .quota. *IN FORCE .*s left" "$1"' _ "$WORK/both"
check "80x24: the target's memory against the cap the fault set (16 MiB of max 32 MiB)" \
	grep -q "^  memory .*16 MiB of max 32 MiB" "$WORK/both"
check "80x24: the probe's last result, latency and history" \
	grep -Eq "^PROBES   api +ok +[0-9.]+ ms  [▁▂▃▄▅▆▇█]+ +0 of [0-9]+ failed" "$WORK/both"
check "the run ends with its verdict (held)" finished
check "it exited 0 (held)" grep -qx 0 "$WORK/rc"
screen > "$WORK/end"
check "80x24: redrawn in place: one title line on screen, none scrolled into history ($(scrolled) lines)" \
	bash -c '[ "$(grep -c "^duress  .live view. on cgroup" "$1")" = 1 ] && [ "$2" = 0 ]' _ "$WORK/end" "$(scrolled)"
check "80x24: the outcome is printed under the last frame" \
	bash -c 'grep -q "(done)" "$1" && grep -q "^experiment: held" "$1"' _ "$WORK/end"
check "80x24: no line wider than 80 columns" widest 80 "$WORK/end"
frames > "$WORK/frames"
# the README's picture: the last frame with both faults in force
python3 -c '
import sys
frames = open(sys.argv[1], encoding="utf-8").read().split("\nduress  ")
both = [f for f in frames if f.count("IN FORCE") == 2]
sys.stdout.write(("" if both[-1].startswith("duress  ") else "duress  ") + both[-1].rstrip("\n") + "\n")
' "$WORK/frames" > "$ART/live-run-80x24.txt"
check "the last frame with both faults in force, memory climbing to the cap, is kept (artefacts/live-run-80x24.txt)" \
	grep -Eq "^  memory ▄+.*[▆▇█].* (2[0-9]|30) MiB of max 32 MiB" "$ART/live-run-80x24.txt"
check "80x24: frames were written ($(grep -c '^PHASE' "$WORK/frames"))" \
	bash -c '[ "$(grep -c "^PHASE" "$1")" -ge 20 ]' _ "$WORK/frames"
grep -o '\[[A-Z]*\]' "$WORK/frames" | uniq | tr -d '[]' | tr '\n' ' ' > "$WORK/order"
check "the phases in order: $(cat "$WORK/order")" \
	grep -qx "BASELINE BEFORE METHOD ROLLBACK RECOVERY AFTER " "$WORK/order"
check "every frame fits 23 lines of 80 columns" python3 -c '
import sys
frames = open(sys.argv[1], encoding="utf-8").read().split("\nduress  ")
sys.exit(any(len(f.rstrip("\n").split("\n")) > 23 or max(len(l) for l in f.split("\n")) > 80 for f in frames))' "$WORK/frames"
check "recovering: the probe fails after the rollback, FAIL with its count" \
	bash -c 'grep -A8 "\[RECOVERY\]" "$1" | grep -Eq "^PROBES   api +FAIL .* [1-9][0-9]* of [0-9]+ failed"' _ "$WORK/frames"
check "recovering: the countdown to recovery_timeout in the title" \
	grep -q "recovering [0-9.]*s left" "$WORK/frames"
check "the last progress line: the steady state after" grep -q "^EVENT    \[ *[0-9.]*s\] steady state after: met" "$WORK/frames"
check "colour: an action in force is yellow" grep -q $'\e\\[33mIN FORCE' "$WORK/pty"
check "no sanitizer error in what it wrote" bash -c '! grep -qE "AddressSanitizer|runtime error|LeakSanitizer" "$1"' _ "$WORK/pty"

echo 16777216 > "$FCG/app/memory.current"
live 80x24 "$WORK/short.yaml" TERM=xterm-256color LANG=C.UTF-8 NO_COLOR=1
finished
check "NO_COLOR=1: the same view without a colour escape" \
	bash -c 'grep -q "IN FORCE" "$1" && ! grep -q $'"'"'\e\[3[0-9]m'"'"' "$1"' _ "$WORK/pty"

live 50x24 "$WORK/short.yaml" TERM=xterm-256color LANG=C.UTF-8
check "50 columns: the run ends" finished
frames > "$WORK/frames50"
check "50 columns: no history block in any frame" bash -c '! grep -q "^HISTORY" "$1" && grep -q "^PHASE" "$1"' _ "$WORK/frames50"
check "50 columns: no line wider than 50" widest 50 "$WORK/frames50"
check "50 columns: redrawn in place ($(scrolled) lines scrolled)" bash -c '[ "$1" = 0 ]' _ "$(scrolled)"

live 80x24 "$WORK/short.yaml" TERM=dumb LANG=C
check "TERM=dumb: the run ends" finished
check "TERM=dumb: no escape sequence" bash -c '! grep -q $'"'"'\e'"'"' "$1"' _ "$WORK/pty"
check "TERM=dumb: one plain line per sample, with the run's phase" \
	bash -c '[ "$(grep -c "^ *[0-9.]*s method cpu .* mem 16 MiB max 32 MiB" "$1")" -ge 3 ]' _ "$WORK/pty"
check "TERM=dumb: the progress lines, scrolling" grep -q "duress: \[ *[0-9.]*s\] steady state before: met" "$WORK/pty"

expect_exit "not a terminal: the run as before (exit 0)" 0 \
	env DURESS_CGROUP_ROOT="$FCG" TERM=xterm "$DURESS" run "$WORK/short.yaml" -t "cgroup:$FCG/app" --state-dir "$WORK/state"
check "not a terminal: no escape in its output, the verdict and the progress lines" \
	bash -c '! grep -q $'"'"'\e'"'"' "$1" "$2" && grep -q "^experiment: held" "$1" && grep -q "steady state after: met" "$2"' _ "$WORK/stdout" "$WORK/stderr"

# the README shows what the tests made: every image it names is a committed
# PNG (docs/img/report.png by test_report_render, docs/img/live.png by
# test_live_view), and its frame of `duress run` has the layout of the one
# kept above (the same sections, in the same order)
check "README: every image it shows exists and is a PNG ($(grep -o '](docs/img/[^)]*)' "$TOP/README.md" | tr -d '()]' | tr '\n' ' '))" python3 -c '
import re, sys
top = sys.argv[1]
imgs = re.findall(r"!\[[^]]*\]\(([^)]+)\)", open(top + "/README.md").read())
sys.exit(not imgs or any(open(top + "/" + i, "rb").read(8) != b"\x89PNG\r\n\x1a\n" for i in imgs))' "$TOP"
awk '/^```$/ { if (inb) exit; if (seen) inb = 1; next } /duress run. does too/ { seen = 1 } inb' "$TOP/README.md" > "$WORK/readme-frame"
check "README: its frame of duress run has the sections of the test's, in order" \
	bash -c '[ -s "$1" ] && diff <(grep -oE "^(duress |PHASE|ACTIONS|PROBES|EVENT|TARGET|HISTORY|  cpu|  memory|  io|  psi|  net)" "$1" | uniq) <(grep -oE "^(duress |PHASE|ACTIONS|PROBES|EVENT|TARGET|HISTORY|  cpu|  memory|  io|  psi|  net)" "$2" | uniq)' _ "$WORK/readme-frame" "$ART/live-run-80x24.txt"

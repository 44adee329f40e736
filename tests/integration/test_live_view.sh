# needs: no kernel
# The live view of `duress sample` on a terminal, under tmux (new-session,
# capture-pane) against a fake cgroup tree (DURESS_CGROUP_ROOT) whose
# memory.current this test changes: the screen redraws in place (one title,
# nothing scrolled into tmux's history), the history sparklines grow, memory
# at 92% of memory.max turns red unless NO_COLOR; a 50-column window cuts
# every line to 50 columns and drops the history; TERM=dumb prints one plain
# line per sample, no escape.  The 80x24 screen is kept as an artefact, and
# as a PNG (docs/img/live.png).
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/live_lib.sh"

# live SIZE ENV...: duress sample in a tmux session of SIZE (COLSxROWS)
live() {
	local size=$1; shift
	tmux kill-session -t "$S" 2> /dev/null
	tmux new-session -d -s "$S" -x "${size%x*}" -y "${size#*x}" \
		"env $* DURESS_CGROUP_ROOT=$FCG $DURESS sample -t cgroup:$FCG/app --interval 100ms; sleep 30"
}
screen_esc() { tmux capture-pane -p -e -t "$S"; }

live 80x24 TERM=xterm-256color LANG=C.UTF-8 NO_COLOR=
check "80x24: the live view is up with its history block" wait_until 10 bash -c "tmux capture-pane -p -t $S | grep -q '^HISTORY'"
setmem 62000000
check "80x24: the new memory.current shows (59.1 MiB of max 64 MiB)" \
	wait_until 10 bash -c "tmux capture-pane -p -t $S | grep -q 'memory .*59.1 MiB of max 64 MiB'"
wait_until 10 bash -c "[ \$(tmux capture-pane -p -t $S | grep '^  memory' | grep -o '█' | wc -l) -ge 10 ]"
screen > "$WORK/s80"
cp "$WORK/s80" "$ART/live-80x24.txt"
check "80x24: redrawn in place: one title line on screen, none scrolled into history ($(scrolled) lines)" \
	bash -c '[ "$(grep -c "^duress  cgroup" "$1")" = 1 ] && [ "$2" = 0 ]' _ "$WORK/s80" "$(scrolled)"
check "80x24: the first line is the title, the view fits 24 rows" bash -c 'head -n 1 "$1" | grep -q "^duress  cgroup" && [ "$(wc -l < "$1")" -le 24 ]' _ "$WORK/s80"
check "80x24: the memory sparkline grew as memory.current did (low blocks, then full ones)" \
	bash -c 'grep "^  memory" "$1" | grep -q "▂.*█"' _ "$WORK/s80"
check "80x24: memory at 92% of memory.max is red" bash -c "tmux capture-pane -p -e -t $S | grep '^  memory' | grep -q $'\e\\\\[31m'"
check "80x24: no line wider than 80 columns" widest 80 "$WORK/s80"

live 80x24 TERM=xterm-256color LANG=C.UTF-8 NO_COLOR=1
wait_until 10 bash -c "tmux capture-pane -p -t $S | grep -q '^HISTORY'"
check "NO_COLOR=1: the same view without a colour escape" bash -c "! tmux capture-pane -p -e -t $S | grep -q $'\e\\\\[3[0-9]m'"

live 50x24 TERM=xterm-256color LANG=C.UTF-8
wait_until 10 bash -c "tmux capture-pane -p -t $S | grep -q '^MEMORY'"
screen > "$WORK/s50"
check "50 columns: every line cut to 50 columns, no history block" \
	bash -c '! grep -q "^HISTORY" "$1" && grep -q "^MEMORY   current 59.1 MiB" "$1"' _ "$WORK/s50"
check "50 columns: no line wider than 50" widest 50 "$WORK/s50"

live 80x24 TERM=dumb LANG=C
check "TERM=dumb: one plain line per sample, scrolling" wait_until 10 bash -c "[ \$(tmux capture-pane -p -S - -t $S | grep -c ' cpu .* mem 59.1 MiB max 64 MiB') -ge 5 ]"
check "TERM=dumb: no escape sequence in what it printed" bash -c "! tmux capture-pane -p -e -S - -t $S | grep -q $'\e'"

live 80x24 TERM=xterm LANG=C
wait_until 10 bash -c "tmux capture-pane -p -t $S | grep -q '^  memory'"
check "a non-UTF-8 locale: ASCII sparklines" bash -c "tmux capture-pane -p -t $S | grep '^  memory' | grep -q '#'"

# the 80x24 screen as a picture (the README's docs/img/live.png): the
# captured cells and colours in a <pre>, rendered by headless Chromium
setmem 8388608
live 80x24 TERM=xterm-256color LANG=C.UTF-8 NO_COLOR=
wait_until 10 bash -c "tmux capture-pane -p -t $S | grep -q '^  memory'"
# memory climbing to the cap, a step every two samples (data, not a wait)
for m in $(seq 8 3 62); do setmem $((m * 1048576)); sleep 0.2; done
wait_until 10 bash -c "tmux capture-pane -p -t $S | grep -q 'memory .*62 MiB of max 64 MiB'"
tmux capture-pane -p -e -t "$S" | python3 -c '
import html, re, sys
out = []
for line in sys.stdin.read().split("\n")[:24]:
    parts, red = re.split(r"(\x1b\[[0-9;]*m)", line), False
    s = ""
    for p in parts:
        if p.startswith("\x1b["):
            code = p[2:-1]
            if code in ("31", "33"):
                s += "<span style=\"color:%s\">" % ("#ff5555" if code == "31" else "#f1fa8c"); red = True
            elif red:
                s += "</span>"; red = False
        else:
            s += html.escape(p)
    out.append(s + ("</span>" if red else ""))
print("<!DOCTYPE html><meta charset=utf-8><body style=\"margin:0;background:#1e1e1e\"><pre style=\"margin:8px;color:#ddd;font:14px/1.25 DejaVu Sans Mono,monospace\">" + "\n".join(out) + "</pre>")
' > "$WORK/live.html"
if command -v chromium > /dev/null; then
	rm -f "$ART/live.png"
	env HOME="$WORK" DBUS_SESSION_BUS_ADDRESS=disabled: timeout 120 chromium --headless --no-sandbox \
		--disable-gpu --no-zygote --single-process --enable-features=NetworkServiceInProcess \
		--disable-dev-shm-usage --no-first-run --disable-extensions --hide-scrollbars \
		--user-data-dir="$WORK/chromium" --window-size=700,460 \
		--screenshot="$ART/live.png" "file://$WORK/live.html" > "$WORK/chromium.log" 2>&1
	check "chromium: a PNG of the live view (artefacts/live.png)" \
		bash -c '[ "$(head -c 8 "$1" | od -An -tx1 | tr -d " ")" = 89504e470d0a1a0a ]' _ "$ART/live.png"
else
	fail "chromium installed" "make deps installs it (DEPS_TEST)"
fi

# needs: no kernel
# duress report of a real run kept as a fixture (tests/integration/fixtures/
# report/: the journal and samples test_report.sh's experiment wrote in the
# VM: a 32M memory cap whose hog was OOM-killed, half a CPU, 100 ms of delay
# under an http probe), rendered by headless Chromium here (the VM's
# emulated CPUs start Chromium too slowly): the page checked against the
# samples, the PNG kept in RESULTS/artefacts/report.png (the README's
# docs/img/report.png is one).
. "$(dirname "$0")/lib.sh"

FX=$TOP/tests/integration/fixtures/report
ART=$RESULTS/artefacts
mkdir -p "$ART"

expect_exit "report of the kept run: exit 0" 0 "$DURESS" report "$FX/journal.json" --samples "$FX/samples.jsonl" -o "$WORK/report.html"
out=$(python3 "$TOP/tests/integration/report_check.py" "$WORK/report.html" "$FX/samples.jsonl" \
	self-contained series:memory.current series:cpu.usage_pct series:probe:health \
	limit:memory.max:memory.max cpu-limit oom windows:fault:3 2>&1)
check "report: self-contained, the series, memory.max and cpu.max where the samples say, the OOM markers${out:+: $out}" [ -z "$out" ]
# the checker does catch a marker out of place
sed 's/class="oom" data-t="\([0-9.]*\)" data-kills="\([0-9]*\)" cx="\([0-9]*\)/class="oom" data-t="\1" data-kills="\2" cx="1\3/' \
	"$WORK/report.html" > "$WORK/moved.html"
check "report_check.py rejects a page whose OOM marker is moved" bash -c '! python3 "$1" "$2" "$3" oom > /dev/null' _ \
	"$TOP/tests/integration/report_check.py" "$WORK/moved.html" "$FX/samples.jsonl"

if ! command -v chromium > /dev/null; then
	fail "chromium installed" "make deps installs it (DEPS_TEST)"
	exit 0
fi
rm -f "$ART/report.png"
timed env HOME="$WORK" DBUS_SESSION_BUS_ADDRESS=disabled: timeout 120 chromium --headless --no-sandbox \
	--disable-gpu --no-zygote --single-process --enable-features=NetworkServiceInProcess \
	--disable-dev-shm-usage --no-first-run --disable-extensions --hide-scrollbars \
	--user-data-dir="$WORK/chromium" --window-size=960,2300 \
	--screenshot="$ART/report.png" "file://$WORK/report.html" > "$WORK/chromium.log" 2>&1
echo "  chromium: exit $rc in ${took}s"
[ -s "$ART/report.png" ] || tail -n 15 "$WORK/chromium.log" | cut -c1-300
check "chromium: a PNG screenshot of the report ($(stat -c %s "$ART/report.png" 2>/dev/null) bytes, in artefacts/report.png)" \
	bash -c '[ "$(head -c 8 "$1" | od -An -tx1 | tr -d " ")" = 89504e470d0a1a0a ] && [ "$(stat -c %s "$1")" -gt 20000 ]' _ "$ART/report.png"

# needs: no kernel
# make install / uninstall (PREFIX, DESTDIR): the tree, the unit's paths,
# the installed man page and completion work, uninstall leaves nothing;
# the systemd unit passes `systemd-analyze verify` without a warning (and a
# misspelled key in a copy does not).
. "$(dirname "$0")/lib.sh"

mk() { make -s -C "$TOP" BUILD="${BUILD:-build}" "$@"; }

D=$WORK/destdir
check "make install PREFIX=/usr DESTDIR=... succeeds" mk install PREFIX=/usr DESTDIR="$D"
missing=()
for f in usr/bin/duress usr/share/man/man1/duress.1 usr/share/bash-completion/completions/duress \
	usr/lib/systemd/system/duress.service usr/share/doc/duress/README.md \
	usr/share/doc/duress/examples/memory-limitation.yaml usr/share/doc/duress/examples/systemd/duress.service \
	usr/share/doc/duress/examples/k8s/sidecar.yaml usr/share/doc/duress/examples/k8s/daemonset.yaml \
	usr/share/doc/duress/examples/ci/web-under-pressure.yaml; do
	[ -f "$D/$f" ] || missing+=("$f")
done
check "the tree has the binary, man page, completion, unit, docs and examples" \
	bash -c '[ $# = 0 ] || { printf "missing: %s\n" "$@" >&2; exit 1; }' _ "${missing[@]}"
check "the binary is executable and runs" "$D/usr/bin/duress" version
check "nothing is installed outside PREFIX" bash -c '[ -z "$(ls -A "$1" | grep -vx usr)" ]' _ "$D"
unit=$D/usr/lib/systemd/system/duress.service
check "unit: ExecStart runs PREFIX/bin/duress serve on the unix socket" \
	grep -qx 'ExecStart=/usr/bin/duress serve --listen unix:/run/duress/duress.sock' "$unit"
check "unit: ExecStartPre runs PREFIX/bin/duress recover" grep -qx 'ExecStartPre=/usr/bin/duress recover' "$unit"
check "unit: no path outside PREFIX left in an Exec line" \
	bash -c '! grep -E "^Exec" "$1" | grep -v "=/usr/bin/duress "' _ "$unit"
check "unit: mode 0644" test "$(stat -c %a "$unit")" = 644
check "the installed man page renders" bash -c 'MANWIDTH=80 man -l "$1" 2>/dev/null | grep -q "^EXIT STATUS"' _ \
	"$D/usr/share/man/man1/duress.1"
check "the installed completion completes commands" bash -c '
	. "$1"; COMP_LINE="$2 in"; COMP_POINT=${#COMP_LINE}; COMP_WORDS=("$2" in); COMP_CWORD=1
	_duress; [ "${COMPREPLY[*]}" = inject ]' _ "$D/usr/share/bash-completion/completions/duress" "$D/usr/bin/duress"

check "make uninstall removes it all" mk uninstall PREFIX=/usr DESTDIR="$D"
check "no file is left after uninstall" bash -c '[ -z "$(find "$1" -type f)" ] || { find "$1" -type f >&2; exit 1; }' _ "$D"

# a real prefix (no DESTDIR), so systemd-analyze finds the ExecStart binary
# and, through MANPATH, the man page the unit's Documentation= names
P=$WORK/prefix
check "make install PREFIX=$P SYSTEMDUNITDIR=$P/units" mk install PREFIX="$P" SYSTEMDUNITDIR="$P/units"
check "unit: ExecStart follows PREFIX ($P)" grep -qx "ExecStart=$P/bin/duress serve --listen unix:/run/duress/duress.sock" "$P/units/duress.service"
verify() { MANPATH=$P/share/man SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$1" 2>&1; }
out=$(verify "$P/units/duress.service"); rc=$?
check "systemd-analyze verify: exit 0, no warning" bash -c '[ "$1" = 0 ] && [ -z "$2" ] || { echo "exit $1: $2" >&2; exit 1; }' _ "$rc" "$out"
sed 's/^RestrictRealtime=yes/RestrictRealtme=yes/' "$P/units/duress.service" > "$WORK/bad.service"
check "systemd-analyze verify flags a misspelled key in a copy" \
	bash -c 'grep -q "Unknown key .RestrictRealtme" <<<"$1"' _ "$(verify "$WORK/bad.service")"
sed "s|^ExecStart=$P/bin/duress|ExecStart=$P/bin/nosuch|" "$P/units/duress.service" > "$WORK/bad2.service"
check "systemd-analyze verify flags an ExecStart binary that is not there" \
	bash -c '[ -n "$1" ]' _ "$(verify "$WORK/bad2.service")"
check "make uninstall PREFIX=$P" mk uninstall PREFIX="$P" SYSTEMDUNITDIR="$P/units"
check "nothing left in $P" bash -c '[ -z "$(find "$1" -type f)" ]' _ "$P"

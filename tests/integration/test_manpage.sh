# needs: no kernel
# The man page docs/duress.1: lints clean with groff, man and mandoc (each
# shown to complain about a broken copy, so a silent linter cannot pass),
# and names every command, fault, option, exit code and environment
# variable the binary has (from `duress __complete`, exitcode.h, getenv).
. "$(dirname "$0")/lib.sh"

MAN=$TOP/docs/duress.1
# lint FILE: every warning of the three linters on stdout (empty = clean)
lint() {
	groff -man -ww -z "$1" 2>&1
	LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$1" 2>&1 >/dev/null
	mandoc -T lint -W style "$1" 2>&1
}
check "groff -man -ww, man --warnings, mandoc -T lint -W style: no warnings" \
	bash -c '[ -z "$1" ] || { echo "$1" >&2; exit 1; }' _ "$(lint "$MAN")"

# the linters do complain: an unknown macro, a bad escape, an overlong line
sed -e 's/^\.SH FILES$/.SH FILES\n.XQ bogus/' -e 's/^The default state directory\.$/The default \\qstate directory./' \
	-e '0,/^\.PP$/s//.PP\nA line of text that is far too long for the style checker, longer than eighty bytes./' \
	"$MAN" > "$WORK/broken.1"
check "groff warns about a broken copy" bash -c '[ -n "$(groff -man -ww -z "$1" 2>&1)" ]' _ "$WORK/broken.1"
check "mandoc warns about a broken copy" bash -c '[ -n "$(mandoc -T lint -W style "$1" 2>&1)" ]' _ "$WORK/broken.1"
check "man --warnings warns about a broken copy" \
	bash -c '[ -n "$(man --warnings -l "$1" 2>&1 >/dev/null)" ]' _ "$WORK/broken.1"

# rendered text, to look for names (roff escapes resolved)
MANWIDTH=200 man -l "$MAN" 2>/dev/null | col -b > "$WORK/man.txt"
check "man renders it ($(wc -l < "$WORK/man.txt") lines)" test "$(wc -l < "$WORK/man.txt")" -gt 300

missing=()
for c in $("$DURESS" __complete commands) serve help; do
	grep -qE "^   duress $c( |$)" "$WORK/man.txt" || missing+=("command $c")
	if [ "$c" != help ] && [ "$c" != version ]; then
		# serve's options come from its table once it has one; until then, the issue's
		opts=$("$DURESS" __complete options "$c" 2>/dev/null | cut -f1) ||
			opts="--listen --token-file --insecure-loopback"
		for o in $opts; do
			[ "$o" = --help ] && continue
			grep -qE -- "(^|[ [])$o( |,|]|$)" "$WORK/man.txt" || missing+=("$c $o")
		done
	fi
done
for f in $("$DURESS" __complete faults); do
	grep -qE "^   $f$" "$WORK/man.txt" || missing+=("fault section $f")
	# the fault's own options (not the common ones), each described in
	# the fault's section: from its heading to the next
	section=$(sed -n -E "/^   $f\$/,/^   [a-z-]+\$/p" "$WORK/man.txt")
	for o in $(comm -13 <("$DURESS" __complete options inject | cut -f1 | sort) \
		<("$DURESS" __complete options inject "$f" | cut -f1 | sort)); do
		grep -qE -- "^ +$o( |$)" <<<"$section" || missing+=("$f $o")
	done
done
check "every command, fault and option of the binary is in the man page" \
	bash -c '[ $# = 0 ] || { printf "missing: %s\n" "$@" >&2; exit 1; }' _ "${missing[@]}"

codes=$(sed -n 's/.*DURESS_EXIT_[A-Z_]* = \([0-9]*\),.*/\1/p' "$TOP/include/duress/core/exitcode.h")
check "every exit code of exitcode.h ($(echo $codes | tr -d "\n")) has an entry under EXIT STATUS" \
	bash -c 'for c in $1; do sed -n "/^EXIT STATUS/,/^ENVIRONMENT/p" "$2" | grep -qE "^       $c( |$)" || exit 1; done' \
	_ "$codes" "$WORK/man.txt"
vars=$(grep -rhoE 'getenv\("DURESS_[A-Z_]*"\)' "$TOP/agent" | sed 's/getenv("\(.*\)")/\1/' | sort -u)
check "every DURESS_* variable the agent reads ($(echo $vars)) is under ENVIRONMENT" \
	bash -c 'for v in $1; do sed -n "/^ENVIRONMENT/,/^FILES/p" "$2" | grep -qw "$v" || exit 1; done' \
	_ "$vars" "$WORK/man.txt"

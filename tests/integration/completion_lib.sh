# The completion tests' driver (sourced after lib.sh): the completion
# script sourced into this bash, and bash's way of calling it.
# shellcheck source=/dev/null
. "$TOP/scripts/completion/duress.bash"

# comp LINE: complete at the end of LINE as bash would; the candidates,
# sorted, one a line, on stdout
comp() {
	COMP_LINE=$1
	COMP_POINT=${#1}
	read -r -a COMP_WORDS <<<"$1"
	[[ $1 == *" " ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_duress 2>/dev/null
	printf '%s\n' "${COMPREPLY[@]}" | sort -u | sed '/^$/d'
}
# same, but only COMP_WORDS/COMP_CWORD (as a caller without COMP_LINE)
comp_words() {
	unset COMP_LINE COMP_POINT
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_duress 2>/dev/null
	printf '%s\n' "${COMPREPLY[@]}" | sort -u | sed '/^$/d'
}
# help_opts ARGS...: the --options a help text describes (its indented
# option lines: "  -t, --target SPEC ..." or "  --for DUR ..."), sorted
help_opts() {
	"$DURESS" "$@" --help 2>&1 |
		sed -n 's/^ \{1,\}\(-[a-zA-Z], \)\{0,1\}\(--[a-z][a-z0-9-]*\).*/\2/p' | sort -u
}
same() { diff <(echo "$1") <(echo "$2") > "$WORK/diff" || { cat "$WORK/diff" >&2; return 1; }; }

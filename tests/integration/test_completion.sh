# Bash completion (scripts/completion/duress.bash): sourced into this bash,
# driven the way bash drives it (COMP_LINE, COMP_POINT, COMP_WORDS,
# COMP_CWORD), its COMPREPLY compared with what the binary's --help says
# (an independent source: the help texts are hand-written), so an option
# added to a table but not to the help, or the other way round, fails here.
# Targets: a fake docker container cgroup with a process in it.
. "$(dirname "$0")/lib.sh"

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

# use the binary under test, by path, as a user typing its path would
D=$DURESS

# commands: the completion vs. the "Commands:" section of duress --help
want=$( ("$D" --help | sed -n '/^Commands:/,/^$/p' | awk 'NF > 1 { print $1 }'; printf '%s\n' help --help --version) | sort -u)
got=$(comp "$D ")
check "commands complete as duress --help lists them ($(echo "$got" | wc -l) words)" same "$got" "$want"
check "a command prefix completes: 'in' -> inject" same "$(comp "$D in")" "inject"

# faults: vs. the "Faults:" section of duress inject --help
want=$("$D" inject --help | sed -n '/^Faults:/,/^$/p' | awk 'NF > 1 { print $1 }' | sort -u)
got=$(comp "$D inject ")
check "faults complete after inject as inject --help lists them ($(echo "$got" | wc -l))" same "$got" "$want"

# each fault's options vs. its --help (common options + the fault's table)
for f in $want; do
	got=$(comp "$D inject $f --")
	check "inject $f: options complete as its --help names them ($(echo "$got" | wc -l))" \
		same "$got" "$( (help_opts inject "$f"; echo --help) | sort -u)"
done

# each command's options vs. its --help (recover's help omits --help);
# every command the binary lists but inject (above), validate (below) and
# version, so a new command is compared as soon as it is in main.c's table
for c in $("$D" __complete commands); do
	case $c in inject | validate | version) continue ;; esac
	got=$(comp "$D $c --")
	check "$c: options complete as its --help names them ($(echo "$got" | wc -l))" \
		same "$got" "$( (help_opts "$c"; echo --help) | sort -u)"
done
check "validate: only --help" same "$(comp "$D validate --")" "--help"

# every command the binary lists has an option table (serve too, once merged)
for c in $("$D" __complete commands); do
	[ "$c" = version ] && continue
	check "__complete options $c: the command has an option table" "$D" __complete options "$c"
done
expect_exit "__complete options for an unknown fault is a usage error" 2 "$D" __complete options inject nosuch

# enumerated values, as --opt VALUE and as --opt=VALUE (bash keeps "--opt=")
check "network --protocol VALUE: tcp udp icmp" same "$(comp "$D inject network --protocol ")" "$(printf 'icmp\ntcp\nudp')"
check "network --direction=in: ingress (after the '=')" same "$(comp "$D inject network --direction=in")" "ingress"
check "sample --format: jsonl csv table" same "$(comp "$D sample --format ")" "$(printf 'csv\njsonl\ntable')"
check "targets -f: table json" same "$(comp "$D targets -f ")" "$(printf 'json\ntable')"
check "network --device: the interfaces" same "$(comp "$D inject network --device l")" "lo"
check "a flag takes no value: after --dry-run come options" \
	bash -c '[ -n "$1" ] && ! grep -qv "^--" <<<"$1"' _ "$(comp "$D inject freeze --dry-run --")"
check "COMP_WORDS without COMP_LINE works too" same "$(comp_words "$D" inject freeze --cy)" "--cycle"

# targets: prefixes, a container's id and its pid, cgroup directories
id=feedbeef0123456789abcdef0123456789abcdef0123456789abcdef01234567
slice=$(new_cgroup completion)
mkdir "$slice/docker-$id.scope"
spawn "$slice/docker-$id.scope" sleep 600
for _ in $(seq 50); do grep -q . "$slice/docker-$id.scope/cgroup.procs" && break; sleep 0.1; done
check "-t: the three target prefixes" \
	bash -c 'for p in cgroup: pid: container:; do grep -qx "$p" <<<"$1" || exit 1; done' _ "$(comp "$D sample -t ")"
# bash splits "container:feed" at ':' and keeps "container:", so the reply is the rest
check "-t container:feed completes the container's full id (after the ':')" \
	same "$(comp "$D inject cpu -t container:feed")" "$id"
check "--target=container:feed completes the id too" \
	same "$(comp "$D run x.yaml --target=container:feed")" "$id"
check "-t pid: offers the container's process ($SPAWNED)" \
	bash -c 'grep -qx "$1" <<<"$2"' _ "$SPAWNED" "$(comp "$D sample -t pid:")"
rel=${slice#"$CG"/}
check "-t cgroup:${rel%-*}: completes the cgroup directory" \
	bash -c 'grep -qx "$1/" <<<"$2"' _ "${rel#cgroup:}" "$(comp "$D sample -t cgroup:${rel%-*}")"
check "-t cgroup:$rel/d: completes the container's cgroup below it" \
	same "$(comp "$D sample -t cgroup:$rel/d")" "$rel/docker-$id.scope/"

# experiment files for run and validate; other files not
mkdir "$WORK/exp" && touch "$WORK/exp/a.yaml" "$WORK/exp/b.json" "$WORK/exp/notes.txt"
(
	cd "$WORK/exp" || exit 1
	check "run: experiment files (.yaml .json), not others" same "$(comp "$D run ")" "$(printf 'a.yaml\nb.json')"
	check "validate: experiment files after another" same "$(comp "$D validate a.yaml ")" "$(printf 'a.yaml\nb.json')"
	check "run: no second experiment" same "$(comp "$D run a.yaml ")" ""
	check "run --journal: any file" same "$(comp "$D run a.yaml --journal n")" "notes.txt"
)

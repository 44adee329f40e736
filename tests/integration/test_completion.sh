# needs: no kernel
# Bash completion (scripts/completion/duress.bash): sourced into this bash,
# driven the way bash drives it (COMP_LINE, COMP_POINT, COMP_WORDS,
# COMP_CWORD), its COMPREPLY compared with what the binary's --help says
# (an independent source: the help texts are hand-written), so an option
# added to a table but not to the help, or the other way round, fails here.
# Needs no cgroup v2 kernel (it runs on the host, at native speed: a
# hundred runs of the binary took minutes under emulation); the targets'
# completion, which does, is test_completion_targets.sh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/completion_lib.sh"

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

# experiment files for run and validate; other files not
mkdir "$WORK/exp" && touch "$WORK/exp/a.yaml" "$WORK/exp/b.json" "$WORK/exp/notes.txt"
(
	cd "$WORK/exp" || exit 1
	check "run: experiment files (.yaml .json), not others" same "$(comp "$D run ")" "$(printf 'a.yaml\nb.json')"
	check "validate: experiment files after another" same "$(comp "$D validate a.yaml ")" "$(printf 'a.yaml\nb.json')"
	check "run: no second experiment" same "$(comp "$D run a.yaml ")" ""
	check "run --journal: any file" same "$(comp "$D run a.yaml --journal n")" "notes.txt"
)

# bash completion for duress(1)                          -*- shell-script -*-
#
# Installed by `make install` as share/bash-completion/completions/duress.
# It carries no list of commands, faults or options: it asks the binary being
# completed (`duress __complete ...`, agent/cmd/cmd_complete.c), which prints them
# from the tables its parsers use, so a new option completes without an edit
# here.  Completes: commands; the fault after `inject`; each command's and
# fault's options (`--opt VALUE` and `--opt=VALUE`); enumerated values;
# targets for -t/--target: cgroup:, pid:, container: with the containers and
# their pids that `duress targets` finds and the cgroup directories under the
# cgroup2 mount; experiment files for run/validate; files and directories
# for file options; interfaces for network --device.

# _duress_words: the words of the line up to the cursor, split at blanks
# only (bash also splits at ':' and '=', which would cut `container:ID`).
# Sets _duress_w (array) and _duress_cur.
_duress_words()
{
	local line
	if [[ -n ${COMP_LINE-} ]]; then
		line=${COMP_LINE:0:${COMP_POINT:-${#COMP_LINE}}}
		read -r -a _duress_w <<<"$line"
		[[ $line == *[[:blank:]] || ${#_duress_w[@]} -eq 0 ]] && _duress_w+=("")
	else
		_duress_w=("${COMP_WORDS[@]:0:COMP_CWORD+1}")
	fi
	_duress_cur=${_duress_w[${#_duress_w[@]} - 1]}
}

# _duress_reply CANDIDATE...: the candidates that start with the current
# word, minus the part bash keeps (up to the last ':' or '=' that is in
# COMP_WORDBREAKS), into COMPREPLY.
_duress_reply()
{
	local c trim="" wb=${COMP_WORDBREAKS-:=} cur=$_duress_cur
	if [[ $wb == *:* && $wb == *=* ]]; then
		[[ $cur == *[:=]* ]] && trim=${cur%"${cur##*[:=]}"}
	elif [[ $wb == *:* ]]; then
		[[ $cur == *:* ]] && trim=${cur%"${cur##*:}"}
	elif [[ $wb == *=* ]]; then
		[[ $cur == *=* ]] && trim=${cur%"${cur##*=}"}
	fi
	for c in "$@"; do
		[[ $c == "$cur"* ]] && COMPREPLY+=("${c#"$trim"}")
	done
}

# _duress_files PREFIX WORD [dir|exp]: file (or directory, or experiment
# file) names starting with WORD, each with PREFIX in front
_duress_files()
{
	local prefix=$1 word=$2 what=${3:-} f
	local -a out=()
	while IFS= read -r f; do
		if [[ -d $f ]]; then
			out+=("$prefix$f/")
		elif [[ $what == "" ]] ||
			{ [[ $what == exp ]] && [[ $f == *.yaml || $f == *.yml || $f == *.json ]]; }; then
			out+=("$prefix$f")
		fi
	done < <(compgen -f -- "$word")
	compopt -o nospace 2>/dev/null
	_duress_reply "${out[@]}"
}

# _duress_value BIN KIND PREFIX WORD: complete an option's value
_duress_value()
{
	local bin=$1 kind=$2 prefix=$3 word=$4 root d
	local -a out=()
	case $kind in
	choice:*)
		IFS=, read -r -a out <<<"${kind#choice:}"
		_duress_reply "${out[@]/#/$prefix}"
		;;
	target)
		if [[ $word == cgroup:* ]]; then
			root=$("$bin" __complete cgroup-root 2>/dev/null)
			[[ -n $root ]] || return
			while IFS= read -r d; do
				out+=("${prefix}cgroup:${d#"$root"/}/")
			done < <(compgen -d -- "$root/${word#cgroup:}")
			compopt -o nospace 2>/dev/null
			_duress_reply "${out[@]}"
		else
			mapfile -t out < <("$bin" __complete targets 2>/dev/null)
			[[ $word == *:* ]] || compopt -o nospace 2>/dev/null
			_duress_reply "${out[@]/#/$prefix}" "${prefix}cgroup:" "${prefix}pid:" \
				"${prefix}container:"
		fi
		;;
	file) _duress_files "$prefix" "$word" ;;
	dir) _duress_files "$prefix" "$word" dir ;;
	iface)
		for d in /sys/class/net/*; do out+=("$prefix${d##*/}"); done
		_duress_reply "${out[@]}"
		;;
	esac
}

_duress()
{
	local bin cmd fault="" table i w kind opt word
	local -a _duress_w opts=()
	local -A kinds=()
	local _duress_cur
	COMPREPLY=()
	_duress_words
	bin=${_duress_w[0]}
	[[ $bin == */* || -z $bin ]] || bin=$(type -P "$bin")
	[[ -x $bin ]] || bin=duress
	local n=${#_duress_w[@]} cur=$_duress_cur

	if ((n == 2)); then
		_duress_reply $("$bin" __complete commands 2>/dev/null) help --help --version
		return
	fi
	cmd=${_duress_w[1]}
	if [[ $cmd == inject ]]; then
		if ((n == 3)); then
			_duress_reply $("$bin" __complete faults 2>/dev/null)
			return
		fi
		fault=${_duress_w[2]}
	fi

	# the command's (and fault's) options: "--NAME<TAB>KIND" lines
	if ! table=$("$bin" __complete options "$cmd" $fault 2>/dev/null); then
		# a command without a table (should not happen: the tests check
		# every command has one): take the --options its --help names
		table=$("$bin" "$cmd" --help 2>&1 |
			sed -n 's/^ *\(-[a-zA-Z], \)\{0,1\}\(--[a-z][a-z0-9-]*\)\( [A-Z][^ ]*\)\{0,1\}.*/\2\t\3/p' |
			sed 's/\t$/\t-/; s/\t .*/\tvalue/')
	fi
	while IFS=$'\t' read -r opt kind; do
		[[ -n $opt ]] || continue
		opts+=("$opt")
		kinds[$opt]=$kind
	done <<<"$table"
	# the short options (getopt strings of agent/cmd_*.c)
	[[ -n ${kinds[--target]-} ]] && kinds[-t]=target
	[[ -n ${kinds[--output]-} ]] && kinds[-o]=${kinds[--output]}
	[[ -n ${kinds[--format]-} ]] && kinds[-f]=${kinds[--format]}
	[[ $cmd == sample ]] && kinds[-i]=value && kinds[-d]=value

	# the value of an option: `--opt VALUE` or `--opt=VALUE`
	if [[ $cur == --*=* ]]; then
		opt=${cur%%=*}
		kind=${kinds[$opt]-}
		[[ -n $kind && $kind != - ]] && _duress_value "$bin" "$kind" "$opt=" "${cur#*=}"
		return
	fi
	w=${_duress_w[n - 2]}
	kind=${kinds[$w]-}
	if [[ $w == -* && -n $kind && $kind != - ]]; then
		_duress_value "$bin" "$kind" "" "$cur"
		return
	fi

	if [[ $cur == -* ]]; then
		_duress_reply "${opts[@]}"
		return
	fi
	# positional arguments: experiment files (run: one; validate: any)
	if [[ $cmd == validate ]]; then
		_duress_files "" "$cur" exp
	elif [[ $cmd == run ]]; then
		word=0
		for ((i = 2; i < n - 1; i++)); do
			w=${_duress_w[i]}
			if [[ $w == -* ]]; then
				kind=${kinds[$w]-}
				[[ $w != *=* && -n $kind && $kind != - ]] && ((i++))
			else
				word=1
			fi
		done
		((word)) || _duress_files "" "$cur" exp
	fi
}
complete -F _duress duress

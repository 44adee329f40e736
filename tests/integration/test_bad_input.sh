# Bad targets and options give the documented exit codes and messages,
# and leave nothing behind.
. "$(dirname "$0")/lib.sh"

before=$(ls -d $CG/duress-sandbox-* 2>/dev/null | wc -l)
expect_exit "missing cgroup -> 3 (target not found)" 3 "$DURESS" sample -t cgroup:/no/such/cgroup --duration 1s
check "message names the path" grep -q '/no/such/cgroup' "$WORK/stderr"
expect_exit "dead pid -> 3" 3 "$DURESS" sample -t pid:4000000 --duration 1s
check "message names the pid" grep -q '4000000' "$WORK/stderr"
expect_exit "unknown container -> 3" 3 "$DURESS" sample -t container:abcdef123 --duration 1s
check "message names the prefix" grep -q 'abcdef123' "$WORK/stderr"
mkdir -p "$WORK/plain"
expect_exit "a directory that is not a cgroup -> 3" 3 "$DURESS" sample -t "cgroup:$WORK/plain" --duration 1s
expect_exit "unknown target form -> 2 (usage)" 2 "$DURESS" sample -t foo:bar --duration 1s
check "usage message lists the forms" grep -q 'cgroup:' "$WORK/stderr"
expect_exit "container id with a bad character -> 2" 2 "$DURESS" sample -t container:a/b --duration 1s
expect_exit "pid:0 -> 2" 2 "$DURESS" sample -t pid:0 --duration 1s
expect_exit "interval too short -> 2" 2 "$DURESS" sample -t cgroup:/ --interval 1ms
check "message names --interval" grep -q -- '--interval' "$WORK/stderr"
expect_exit "bad duration -> 2" 2 "$DURESS" sample -t cgroup:/ --duration 5parsecs
check "message names --duration" grep -q -- '--duration' "$WORK/stderr"
expect_exit "unknown format -> 2" 2 "$DURESS" sample -t cgroup:/ --format xml
expect_exit "unknown option -> 2" 2 "$DURESS" sample --bogus
expect_exit "unknown command -> 2" 2 "$DURESS" frobnicate
expect_exit "unwritable output -> 2" 2 "$DURESS" sample -t cgroup:/ --duration 1s -o /proc/no/such/file
# not root: a sandbox cannot be made (environment unsupported)
expect_exit "sandbox as non-root -> 4 (unsupported)" 4 setpriv --reuid 65534 --regid 65534 --clear-groups "$DURESS" sample --duration 1s
check "message says root is needed" grep -q 'root' "$WORK/stderr"
# a cgroup2 root without the controllers: the hint names what is missing
mkdir -p "$WORK/fakecg" && echo "hugetlb" > "$WORK/fakecg/cgroup.controllers" && : > "$WORK/fakecg/cgroup.procs"
expect_exit "cgroup v2 without controllers -> 4" 4 env DURESS_CGROUP_ROOT="$WORK/fakecg" "$DURESS" sample --duration 1s
check "hint names the missing controllers" grep -q 'lacks the cpu memory io pids' "$WORK/stderr"
after=$(ls -d $CG/duress-sandbox-* 2>/dev/null | wc -l)
check "no sandbox left behind by failed runs" [ "$before" = "$after" ]
expect_exit "help -> 0" 0 "$DURESS" sample --help
check "help names the options" grep -q -- '--interval' "$WORK/stdout"

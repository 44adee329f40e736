# The agent built with ASan+UBSan (build-asan/, `make asan`) on the real
# kernel: a sandbox sample and a freeze fault must run without a report.
. "$(dirname "$0")/lib.sh"

asan=$TOP/build-asan/duress
if [ ! -x "$asan" ]; then
	fail "ASan build present" "no $asan: run 'make asan' (make check does)"
	exit 0
fi
export ASAN_OPTIONS=abort_on_error=0:exitcode=99:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:exitcode=99:print_stacktrace=1
"$asan" sample --interval 500ms --duration 3s --format jsonl -o "$WORK/s.jsonl" 2> "$WORK/a.err"
rc=$?
check "ASan sandbox sample: exit 0, no report (rc $rc)" [ $rc = 0 ]
check "ASan sandbox sample: no sanitizer output" bash -c "! grep -qE 'AddressSanitizer|runtime error|LeakSanitizer' '$WORK/a.err'"
check "ASan sandbox sample wrote samples" jq -e -s 'length >= 6' "$WORK/s.jsonl"
dir=$(new_cgroup asan)
spawn "$dir" "$HELPERS/spin"
wait_ready "$WORK/spawn.$$.out"
"$asan" inject freeze -t "cgroup:$dir" --for 2s --baseline 1s --samples "$WORK/f.jsonl" --summary "$WORK/f.json" -q > "$WORK/f.out" 2> "$WORK/f.err"
rc=$?
check "ASan freeze inject: exit 0 (rc $rc)" [ $rc = 0 ]
check "ASan freeze inject: no sanitizer output" bash -c "! grep -qE 'AddressSanitizer|runtime error|LeakSanitizer' '$WORK/f.err'"
check "ASan freeze inject: thawed" grep -q '^0$' "$dir/cgroup.freeze"
"$asan" targets --format json > /dev/null 2> "$WORK/t.err"
check "ASan targets: exit 0, no report" bash -c "[ $? = 0 ] && ! grep -qE 'Sanitizer|runtime error' '$WORK/t.err'"

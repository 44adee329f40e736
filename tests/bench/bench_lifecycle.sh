# Start-up and shutdown as a user sees them: `duress inject` started ->
# fault in force on the kernel; SIGTERM -> original value back; SIGTERM ->
# agent exited.  Polled from outside every 100 us (bench_lifecycle.c),
# 10 rounds per fault, on a cgroup with a sleeping process.
build=${BUILD:-build}
duress=$(realpath $build/duress)
b=$build/tests/bench/bench_lifecycle
cg=/sys/fs/cgroup/duress-bench-life-$$
mkdir $cg || exit 1
echo 900M > $cg/memory.max
sh -c "echo \$\$ > $cg/cgroup.procs; exec sleep 3600" &
disown
for _ in $(seq 100); do [ -s $cg/cgroup.procs ] && break; sleep 0.1; done
cleanup() { echo 1 > $cg/cgroup.kill; sleep 0.3; rmdir $cg/* 2>/dev/null; rmdir $cg; }
trap cleanup EXIT
common=(-t cgroup:$cg --for 60s --baseline 0 -q)
rc=0
# what exec'ing the binary alone costs here (dynamic loading of its
# libraries dominates under the VM's 9p root and emulation)
t=()
for _ in $(seq 10); do
	t0=$(date +%s%N); $duress version > /dev/null; t1=$(date +%s%N)
	t+=($(( (t1 - t0) / 1000 )))
done
printf '%-28s %7.1f ms (median of 10)\n' "exec of 'duress version'" \
	"$(printf '%s\n' "${t[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] / 1000 }')"
$b "memory --max 100M" $cg/memory.max 10 $duress inject memory "${common[@]}" --max 100M || rc=1
$b "cpu --quota 0.5" $cg/cpu.max 10 $duress inject cpu "${common[@]}" --quota 0.5 || rc=1
$b "freeze" $cg/cgroup.freeze 10 $duress inject freeze "${common[@]}" || rc=1
dev=$(findmnt -n -o SOURCE --target /var/tmp)
if [ -b "$dev" ]; then
	$b "io --wbps 1M" $cg/io.max 10 $duress inject io "${common[@]}" --wbps 1M --device "$dev" || rc=1
else
	echo "io: /var/tmp is not on a block device here (no --disk): not measured"
fi
exit $rc

# Cost of sampling (the agent's own CPU and RSS): 1 target at 10 Hz and
# 100 cgroups at 1 Hz, 20 s each, through the code of `duress sample`.
build=${BUILD:-build}
b=$build/tests/bench/bench_sample
$b 1 10 20
$b 100 1 20
# the real command, whole process (startup, timerfd loop, formatter)
dir=/sys/fs/cgroup/duress-bench-cmd-$$
mkdir $dir && sh -c "echo \$\$ > $dir/cgroup.procs; exec sleep 60" &
sleep 0.5
/usr/bin/time -f "duress sample 1 target at 10 Hz for 20 s: cpu_pct=%P max_rss_kib=%M" \
	$build/duress sample -t cgroup:$dir --interval 100ms --duration 20s --format jsonl -o /dev/null
echo 1 > $dir/cgroup.kill; sleep 0.3; rmdir $dir

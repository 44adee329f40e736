# disk-fill on an ext4 the test makes (a loop device): --leave 16M leaves
# 14-18 MiB free (statfs f_bavail), --percent and --size hit their marks, and
# all the space is back after the run, after SIGTERM and after kill -9 of
# the agent; a tmpfs fill is charged to the target; the agent's own
# filesystem is guarded; bad options change nothing.
. "$(dirname "$0")/lib.sh"

MiB=1048576
img=/var/tmp/duress-it-fill-$$.img
mnt=/tmp/duress-it-fill-mnt.$$
tmnt=/tmp/duress-it-fill-tmpfs.$$
loopdev=

fill_cleanup() {
	_cleanup
	mountpoint -q "$tmnt" && umount "$tmnt"
	rmdir "$tmnt" 2> /dev/null
	mountpoint -q "$mnt" && umount "$mnt"
	rmdir "$mnt" 2> /dev/null
	[ -n "$loopdev" ] && losetup -d "$loopdev" 2> /dev/null
	rm -f "$img"
}
trap fill_cleanup EXIT

if ! truncate -s 256M "$img" || ! mkfs.ext4 -q -F "$img" > /dev/null 2>&1 ||
	! loopdev=$(losetup -f --show "$img") || ! mkdir -p "$mnt" || ! mount "$loopdev" "$mnt"; then
	fail "make a 256 MiB ext4 on a loop device" "truncate/mkfs.ext4/losetup/mount failed"
	exit 0
fi

avail() { echo $(( $(stat -f -c '%a * %S' "$1") )); }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
avail0=$(avail "$mnt")
ls0=$(ls -A "$mnt" | tr '\n' ' ')
echo "  ext4 on $loopdev: $(mib "$avail0") MiB free to unprivileged users"

dir=$(new_cgroup fill)
spawn "$dir" sleep 1000

space_back() {
	local tag=$1 a i
	for i in $(seq 50); do a=$(avail "$mnt"); [ "$a" -ge $((avail0 - 65536)) ] && break; sleep 0.1; done
	check "$tag: all the space is back ($(mib "$a") of $(mib "$avail0") MiB)" [ "$a" -ge $((avail0 - 65536)) ]
	check "$tag: no fill file left in the filesystem" [ "$(ls -A "$mnt" | tr '\n' ' ')" = "$ls0" ]
	check "$tag: no duress-fill worker left" bash -c "! pgrep -x duress-fill"
	check "$tag: no workers cgroup left" bash -c "! ls -d $dir/duress-disk-fill-* 2>/dev/null"
}
# wait_fill MAX_BYTES: until f_bavail drops to MAX_BYTES or below (20 s)
wait_fill() {
	local i
	for i in $(seq 200); do [ "$(avail "$mnt")" -le "$1" ] && return 0; sleep 0.1; done
	return 1
}

# ---- bad options: usage errors naming the option, nothing filled
bad() {
	local desc=$1 code=$2 needle=$3; shift 3
	expect_exit "$desc -> $code" "$code" "$DURESS" inject disk-fill -t "cgroup:$dir" "$@"
	check "$desc: message names '$needle'" grep -q -- "$needle" "$WORK/stderr"
}
bad "negative --size" 2 "--size: '-1M': must not be negative" --for 1s --path "$mnt" --size -1M
bad "--percent over 100" 2 "--percent" --for 1s --path "$mnt" --percent 101
bad "--size and --leave" 2 "--size and --leave: give only one" --for 1s --path "$mnt" --size 1M --leave 2M
bad "--percent and --leave" 2 "--percent and --leave" --for 1s --path "$mnt" --percent 50 --leave 2M
bad "none of --size/--percent/--leave" 2 "give one of --size" --for 1s --path "$mnt"
bad "missing --for" 2 "--for" --path "$mnt" --leave 16M
bad "--path that does not exist" 2 "--path: /duress-nope" --for 1s --path /duress-nope --leave 16M
bad "--leave more than is free" 2 "--leave .*nothing to fill" --for 1s --path "$mnt" --leave 1G
bad "--size more than is free" 2 "--size 1 GiB: .*--leave 0" --for 1s --path "$mnt" --size 1G
bad "--percent below what is in use" 2 "--percent 0: .*already" --for 1s --path "$mnt" --percent 0
check "bad options filled nothing" [ "$(avail "$mnt")" = "$avail0" ]
check "bad options left no workers cgroup" bash -c "! ls -d $dir/duress-disk-fill-* 2>/dev/null"

# ---- dry run
expect_exit "dry run exits 0" 0 "$DURESS" inject disk-fill -t "cgroup:$dir" --for 5s --path "$mnt" --leave 16M --dry-run
check "dry run names the filesystem and the goal" grep -q "fill $mnt (ext4, .*leave 16 MiB free" "$WORK/stdout"
check "dry run mentions the root reserve" grep -q "reserved for it" "$WORK/stdout"
check "dry run filled nothing" [ "$(avail "$mnt")" = "$avail0" ]

# ---- --leave 16M: 14-18 MiB left while in force, all back afterwards
"$DURESS" inject disk-fill -t "cgroup:$dir" --for 5s --baseline 0 --path "$mnt" --leave 16M \
	--summary "$WORK/leave.json" -q > "$WORK/leave.out" 2> "$WORK/leave.err" &
agent=$!
wait_fill $((18 * MiB))
left=$(avail "$mnt")
echo "  --leave 16M: $(mib "$left") MiB free while in force (df: $(df -B1M --output=avail "$mnt" | tail -n 1 | tr -d ' ') MiB)"
check "--leave 16M leaves 14-18 MiB (got $(mib "$left"))" in_range "$left" $((14 * MiB)) $((18 * MiB))
wait $agent; rc=$?
check "--leave run exits 0 (got $rc)" [ $rc = 0 ]
check "summary: fallocate, worker cgroup reverted" jq -e '.fault_report.fill_method == "fallocate" and .reverted == 1 and (.not_reverted | length) == 0' "$WORK/leave.json"
fs=$(jq '.fault_report.fill_seconds' "$WORK/leave.json")
echo "  fill of $(mib "$(jq '.fault_report.fill_bytes' "$WORK/leave.json")") MiB took ${fs}s"
space_back "--leave run"

# ---- --percent 90: df shows 90%
"$DURESS" inject disk-fill -t "cgroup:$dir" --for 4s --baseline 0 --path "$mnt" --percent 90 -q > /dev/null 2>&1 &
agent=$!
wait_fill $((avail0 / 2))
sleep 0.5
pct=$(df --output=pcent "$mnt" | tail -n 1 | tr -dc 0-9)
check "--percent 90: df shows 89-90% (got $pct%)" in_range "$pct" 89 90
wait $agent
check "--percent run exits 0" [ $? = 0 ]
space_back "--percent run"

# ---- --size 32M
"$DURESS" inject disk-fill -t "cgroup:$dir" --for 4s --baseline 0 --path "$mnt" --size 32M -q > /dev/null 2>&1 &
agent=$!
wait_fill $((avail0 - 31 * MiB))
used=$((avail0 - $(avail "$mnt")))
check "--size 32M takes 32-33 MiB (got $(mib "$used"))" in_range "$used" $((32 * MiB)) $((33 * MiB))
wait $agent
space_back "--size run"

# ---- SIGTERM mid-fill: exit 8, space back
"$DURESS" inject disk-fill -t "cgroup:$dir" --for 60s --baseline 0 --path "$mnt" --leave 16M -q > /dev/null 2>&1 &
agent=$!
wait_fill $((18 * MiB))
check "filled before SIGTERM" [ "$(avail "$mnt")" -le $((18 * MiB)) ]
kill -TERM $agent; wait $agent; rc=$?
check "SIGTERM: exit 8 (got $rc)" [ $rc = 8 ]
space_back "SIGTERM"

# ---- kill -9 of the agent: the worker dies with it (PDEATHSIG), the space
# returns within seconds, and the guardian removes the workers cgroup
"$DURESS" inject disk-fill -t "cgroup:$dir" --for 60s --baseline 0 --path "$mnt" --leave 16M -q > /dev/null 2>&1 &
agent=$!
wait_fill $((18 * MiB))
worker=$(pgrep -x duress-fill | head -n 1)
check "filled before kill -9 (worker ${worker:-none})" bash -c "[ -n '$worker' ] && [ $(avail "$mnt") -le $((18 * MiB)) ]"
kill -9 $agent
wait $agent 2> /dev/null
t0=$(date +%s.%N)
for _ in $(seq 100); do [ "$(avail "$mnt")" -ge $((avail0 - 65536)) ] && break; sleep 0.05; done
t1=$(date +%s.%N)
back=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
echo "  kill -9: space back in ${back}s"
check "kill -9: the space is back within 5 s (${back}s)" in_range "$back" 0 5
check "kill -9: the worker is gone" bash -c "! kill -0 ${worker:-999999} 2>/dev/null"
for _ in $(seq 100); do ls -d "$dir"/duress-disk-fill-* > /dev/null 2>&1 || break; sleep 0.1; done
space_back "kill -9"

# ---- tmpfs: the fill is memory, charged to the target
mkdir -p "$tmnt" && mount -t tmpfs -o size=128M duress-it-fill "$tmnt"
mem0=$(cat "$dir/memory.current")
"$DURESS" inject disk-fill -t "cgroup:$dir" --for 4s --baseline 0 --path "$tmnt" --size 48M -q > "$WORK/tmpfs.out" 2> "$WORK/tmpfs.err" &
agent=$!
for _ in $(seq 200); do [ $(( $(stat -f -c '%a * %S' "$tmnt") )) -le $((81 * MiB)) ] && break; sleep 0.1; done
mem=$(cat "$dir/memory.current")
echo "  tmpfs fill of 48M: target memory.current $(mib "$mem0") -> $(mib "$mem") MiB"
check "tmpfs: the 48 MiB fill is charged to the target (memory.current +$(mib $((mem - mem0))) MiB)" in_range $((mem - mem0)) $((46 * MiB)) $((60 * MiB))
wait $agent
check "tmpfs run exits 0" [ $? = 0 ]
check "tmpfs: the plan says the fill is memory" grep -q "tmpfs: the fill is memory, charged to the target" "$WORK/tmpfs.err"
sleep 0.5
check "tmpfs: space back" [ $(( $(stat -f -c '%a * %S' "$tmnt") )) -ge $((127 * MiB)) ]
check "tmpfs: memory back in the target ($(mib "$(cat "$dir/memory.current")") MiB)" [ "$(cat "$dir/memory.current")" -lt $((mem0 + 8 * MiB)) ]
umount "$tmnt"

# ---- guard: the filesystem that holds the agent's working directory keeps 1%
expect_exit "--leave 1M on the agent's own filesystem -> 6 (refused)" 6 \
	sh -c "cd '$mnt' && exec '$DURESS' inject disk-fill -t 'cgroup:$dir' --for 1s --path '$mnt' --leave 1M"
check "refusal says why and --force" grep -q "agent's working directory.*less than 1%.*--force" "$WORK/stderr"
check "refused run filled nothing" [ "$(avail "$mnt")" = "$avail0" ]
expect_exit "... and with --force it runs" 0 \
	sh -c "cd '$mnt' && exec '$DURESS' inject disk-fill -t 'cgroup:$dir' --for 1s --baseline 0 -q --force --path '$mnt' --leave 1M"
space_back "--force run"
